/* Unit tests for quic/udp_sock, on real loopback sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "quic/udp_sock.h"

#define WAIT_MS 2000 /* loopback delivers at once; this only bounds a bug */

struct pair {
  int family;
  struct udp_sock a, b;
  struct udp_rx_batch rx;
};

static socklen_t make_addr(struct sockaddr_storage *ss, int family,
                           const char *ip, uint16_t port) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return sizeof(*sin);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return sizeof(*sin6);
  }
}

static uint16_t port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int same_ip(const struct sockaddr_storage *ss, const char *ip) {
  uint8_t want[16];

  if (ss->ss_family == AF_INET) {
    inet_pton(AF_INET, ip, want);
    return memcmp(&((const struct sockaddr_in *)ss)->sin_addr, want, 4) == 0;
  }
  inet_pton(AF_INET6, ip, want);
  return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, want, 16) == 0;
}

/* Receives until |want| bytes have arrived (or WAIT_MS passes), counting
 * datagrams and appending their payloads to |out|. Segments of a GRO batch
 * are counted as the datagrams they were. */
static size_t recv_all(struct pair *p, size_t want, uint8_t *out, size_t *lens,
                       size_t *nlens, size_t *gro_seg) {
  size_t got = 0;
  struct pollfd pfd = {.fd = p->b.fd, .events = POLLIN};

  *nlens = 0;
  *gro_seg = 0;
  while (got < want) {
    int n, i;

    n = udp_sock_recv(&p->b, &p->rx);
    if (n == JVPN_ERR_AGAIN) {
      if (poll(&pfd, 1, WAIT_MS) <= 0)
        break;
      continue;
    }
    assert_true(n > 0);
    for (i = 0; i < n; i++) {
      const struct udp_rx_msg *m = &p->rx.msg[i];
      size_t off, seg = m->seg_size ? m->seg_size : m->len;

      assert_true(got + m->len <= want);
      memcpy(out + got, m->data, m->len);
      got += m->len;
      if (m->seg_size)
        *gro_seg = m->seg_size;
      for (off = 0; off < m->len; off += seg)
        lens[(*nlens)++] = m->len - off < seg ? m->len - off : seg;
    }
  }
  return got;
}

static int open_pair(struct pair *p, int family, const char *ip) {
  struct sockaddr_storage ss;
  socklen_t len = make_addr(&ss, family, ip, 0);

  memset(p, 0, sizeof(*p));
  p->family = family;
  if (udp_sock_open(&p->a, (struct sockaddr *)&ss, len) < 0)
    return -1;
  if (udp_sock_open(&p->b, (struct sockaddr *)&ss, len) < 0) {
    udp_sock_close(&p->a);
    return -1;
  }
  assert_int_equal(udp_rx_batch_init(&p->rx), 0);
  return 0;
}

static void close_pair(struct pair *p) {
  udp_sock_close(&p->a);
  udp_sock_close(&p->b);
  udp_rx_batch_free(&p->rx);
}

static void check_open(struct pair *p, const char *ip) {
  assert_true(p->a.fd >= 0);
  assert_int_equal(p->a.family, p->family);
  assert_int_not_equal(port_of(&p->a.local), 0);
  assert_true(same_ip(&p->a.local, ip));
  assert_int_equal(p->a.ecn_last, -1);
  assert_int_equal(p->a.tx_errors, 0);
}

static void check_empty(struct pair *p) {
  assert_int_equal(udp_sock_recv(&p->b, &p->rx), JVPN_ERR_AGAIN);
}

/* Several datagrams in one recvmmsg, with addresses and ECN as sent. */
static void check_batch(struct pair *p, const char *ip) {
  uint8_t msg[5][100], out[500];
  size_t lens[16], n, gro, i;

  for (i = 0; i < 5; i++) {
    memset(msg[i], (int)('a' + i), sizeof(msg[i]));
    /* Differing sizes keep GRO from merging them into one batch. */
    assert_int_equal(udp_sock_send(&p->a, (struct sockaddr *)&p->b.local,
                                   p->b.local_len, NULL, 0, msg[i], 20 + i, 0,
                                   0),
                     0);
  }
  assert_int_equal(recv_all(p, 20 + 21 + 22 + 23 + 24, out, lens, &n, &gro),
                   110);
  assert_int_equal(n, 5);
  for (i = 0; i < 5; i++)
    assert_int_equal(lens[i], 20 + i);
  assert_int_equal(out[0], 'a');
  assert_int_equal(out[109], 'e');

  /* The last batch's metadata. */
  assert_int_equal(p->rx.msg[0].peer.ss_family, p->family);
  assert_int_equal(port_of(&p->rx.msg[0].peer), port_of(&p->a.local));
  assert_true(same_ip(&p->rx.msg[0].peer, ip));
  assert_int_equal(p->rx.msg[0].local.ss_family, p->family);
  assert_int_equal(port_of(&p->rx.msg[0].local), port_of(&p->b.local));
  assert_true(same_ip(&p->rx.msg[0].local, ip));
  assert_int_equal(p->rx.msg[0].ecn, 0);
  check_empty(p);
}

static void check_ecn(struct pair *p) {
  uint8_t buf[64], out[64];
  size_t lens[4], n, gro;
  int ecn;

  memset(buf, 0x5a, sizeof(buf));
  for (ecn = 2; ecn >= 0; ecn--) {
    assert_int_equal(udp_sock_send(&p->a, (struct sockaddr *)&p->b.local,
                                   p->b.local_len, NULL, 0, buf, sizeof(buf), 0,
                                   (uint8_t)ecn),
                     0);
    assert_int_equal(p->a.ecn_last, ecn);
    assert_int_equal(recv_all(p, sizeof(buf), out, lens, &n, &gro),
                     sizeof(buf));
    assert_int_equal(p->rx.msg[0].ecn, ecn);
  }
  /* ECT(1) and CE too: all four codepoints survive. */
  for (ecn = 1; ecn <= 3; ecn += 2) {
    assert_int_equal(udp_sock_send(&p->a, (struct sockaddr *)&p->b.local,
                                   p->b.local_len, NULL, 0, buf, sizeof(buf), 0,
                                   (uint8_t)ecn),
                     0);
    assert_int_equal(recv_all(p, sizeof(buf), out, lens, &n, &gro),
                     sizeof(buf));
    assert_int_equal(p->rx.msg[0].ecn, ecn);
  }
}

/* 3500 bytes in 1000-byte segments: either four datagrams or a GRO batch
 * of 1000-byte segments, with the bytes in order. */
static void check_gso(struct pair *p) {
  uint8_t buf[3500], out[3500];
  size_t lens[8], n, gro, i;

  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t)(i * 13 + i / 256);
  assert_int_equal(udp_sock_send(&p->a, (struct sockaddr *)&p->b.local,
                                 p->b.local_len, NULL, 0, buf, sizeof(buf),
                                 1000, 1),
                   0);
  assert_int_equal(recv_all(p, sizeof(buf), out, lens, &n, &gro), sizeof(buf));
  assert_memory_equal(out, buf, sizeof(buf));
  assert_int_equal(n, 4);
  assert_int_equal(lens[0], 1000);
  assert_int_equal(lens[1], 1000);
  assert_int_equal(lens[2], 1000);
  assert_int_equal(lens[3], 500);
  assert_true(gro == 0 || gro == 1000);
  /* Each segment carries the ECN bits of the send. */
  assert_int_equal(p->rx.msg[0].ecn, 1);
  check_empty(p);

  /* One by one, as after a GSO failure, gives the same datagrams. */
  p->a.gso = 0;
  assert_int_equal(udp_sock_send(&p->a, (struct sockaddr *)&p->b.local,
                                 p->b.local_len, NULL, 0, buf, sizeof(buf),
                                 1000, 0),
                   0);
  assert_int_equal(recv_all(p, sizeof(buf), out, lens, &n, &gro), sizeof(buf));
  assert_memory_equal(out, buf, sizeof(buf));
  assert_int_equal(n, 4);
  assert_int_equal(lens[3], 500);
  assert_int_equal(p->a.tx_errors, 0);
  check_empty(p);
}

/* A wildcard-bound socket learns which of its addresses a datagram was
 * sent to (|alt|, not the one the kernel would choose), answers from it
 * when named as |local|, and the receiver sees it as the peer. */
static void check_pktinfo(int family, const char *any, const char *ip,
                          const char *alt) {
  struct sockaddr_storage ss, dst, src;
  socklen_t len = make_addr(&ss, family, any, 0), dlen, slen;
  struct udp_sock w;
  struct pair p;
  uint8_t buf[32] = {1, 2, 3}, out[32];
  size_t lens[2], n, gro;

  assert_int_equal(open_pair(&p, family, ip), 0);
  assert_int_equal(udp_sock_open(&w, (struct sockaddr *)&ss, len), 0);
  dlen = make_addr(&dst, family, alt, port_of(&w.local));
  slen = make_addr(&src, family, alt, port_of(&w.local));

  /* The wildcard socket learns the local address of what it receives. */
  assert_int_equal(udp_sock_send(&p.a, (struct sockaddr *)&dst, dlen, NULL, 0,
                                 buf, sizeof(buf), 0, 0),
                   0);
  {
    struct pollfd pfd = {.fd = w.fd, .events = POLLIN};
    struct udp_rx_batch rx;

    assert_int_equal(udp_rx_batch_init(&rx), 0);
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
    assert_int_equal(udp_sock_recv(&w, &rx), 1);
    assert_true(same_ip(&rx.msg[0].local, alt));
    assert_true(same_ip(&rx.msg[0].peer, ip));
    assert_int_equal(port_of(&rx.msg[0].local), port_of(&w.local));
    assert_int_equal(rx.msg[0].local_len, dlen);
    udp_rx_batch_free(&rx);
  }

  assert_int_equal(udp_sock_send(&w, (struct sockaddr *)&p.b.local,
                                 p.b.local_len, (struct sockaddr *)&src, slen,
                                 buf, sizeof(buf), 0, 0),
                   0);
  assert_int_equal(recv_all(&p, sizeof(buf), out, lens, &n, &gro), sizeof(buf));
  assert_true(same_ip(&p.rx.msg[0].peer, alt));
  assert_int_equal(port_of(&p.rx.msg[0].peer), port_of(&w.local));
  assert_memory_equal(out, buf, sizeof(buf));
  udp_sock_close(&w);
  close_pair(&p);
}

static void run_family(int family, const char *ip) {
  struct pair p;

  assert_int_equal(open_pair(&p, family, ip), 0);
  check_open(&p, ip);
  check_empty(&p);
  check_batch(&p, ip);
  check_ecn(&p);
  check_gso(&p);
  close_pair(&p);
}

static void test_v4(void **state) {
  (void)state;
  run_family(AF_INET, "127.0.0.1");
  /* All of 127/8 is local; a reply from 127.0.0.2 needs pktinfo. */
  check_pktinfo(AF_INET, "0.0.0.0", "127.0.0.1", "127.0.0.2");
}

static int have_v6_loopback(void) {
  struct sockaddr_storage ss;
  socklen_t len = make_addr(&ss, AF_INET6, "::1", 0);
  int fd = socket(AF_INET6, SOCK_DGRAM, 0), ok;

  if (fd < 0)
    return 0;
  ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
  close(fd);
  return ok;
}

static void test_v6(void **state) {
  (void)state;
  if (!have_v6_loopback()) {
    fprintf(stderr, "::1 unavailable; IPv6 part skipped\n");
    skip();
  }
  run_family(AF_INET6, "::1");
  check_pktinfo(AF_INET6, "::", "::1", "::1");
}

static void test_v6only(void **state) {
  struct sockaddr_storage ss;
  socklen_t len;
  struct udp_sock s;
  int v = 0;
  socklen_t vl = sizeof(v);

  (void)state;
  if (!have_v6_loopback())
    skip();
  len = make_addr(&ss, AF_INET6, "::", 0);
  assert_int_equal(udp_sock_open(&s, (struct sockaddr *)&ss, len), 0);
  assert_int_equal(getsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl), 0);
  assert_int_equal(v, 1);
  udp_sock_close(&s);
  udp_sock_close(&s); /* closing twice is harmless */
}

/* The runt filter (D52): datagrams shorter than 21 bytes never reach the
 * socket; the rest arrive whole, in order. */
static void check_drop_short(int family, const char *ip) {
  static const size_t sizes[] = {1, 20, 21, 0, 1, 29, 1200};
  uint8_t data[1200], out[2400];
  size_t lens[16], nlens, seg, i;
  struct pair p;

  assert_int_equal(open_pair(&p, family, ip), 0);
  assert_int_equal(udp_sock_drop_short(&p.b, 21), 0);
  memset(data, 0x5a, sizeof(data));
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    assert_int_equal(udp_sock_send(&p.a, (struct sockaddr *)&p.b.local,
                                   p.b.local_len, NULL, 0, data, sizes[i], 0,
                                   0),
                     0);
  assert_int_equal(recv_all(&p, 21 + 29 + 1200, out, lens, &nlens, &seg),
                   21 + 29 + 1200);
  assert_int_equal(nlens, 3);
  assert_int_equal(lens[0], 21);
  assert_int_equal(lens[1], 29);
  assert_int_equal(lens[2], 1200);
  /* Nothing else waits: the runts were not queued behind them. */
  assert_int_equal(udp_sock_recv(&p.b, &p.rx), JVPN_ERR_AGAIN);
  close_pair(&p);
}

static void test_drop_short(void **state) {
  (void)state;
  check_drop_short(AF_INET, "127.0.0.1");
  if (have_v6_loopback())
    check_drop_short(AF_INET6, "::1");
}

static void test_bad_addr(void **state) {
  struct sockaddr_storage ss;
  struct udp_sock s;

  (void)state;
  make_addr(&ss, AF_INET, "127.0.0.1", 0);
  assert_int_equal(udp_sock_open(&s, (struct sockaddr *)&ss, 4),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(s.fd, -1);
  ss.ss_family = AF_UNIX;
  assert_int_equal(
      udp_sock_open(&s, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)),
      JVPN_ERR_SYSTEM);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v4),
      cmocka_unit_test(test_v6),
      cmocka_unit_test(test_v6only),
      cmocka_unit_test(test_drop_short),
      cmocka_unit_test(test_bad_addr),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
