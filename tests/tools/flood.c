/* tests/tools/flood: the attacker of tests/netns/flood.sh and
 * scripts/bench-flood.sh. It sends QUIC-looking packets at a fixed rate to
 * a server, each from a spoofed source address in a given prefix and a
 * random source port, so that every packet looks like a new client:
 *
 *   flood --to ADDR --port P --src-prefix PREFIX/LEN --rate PPS
 *         --duration S [--count N] [--short] [--size N] [--batch N]
 *         [--seed N]
 *
 * Default: QUIC v1 long-header Initials without a token, random DCID
 * (8..20 bytes) and SCID (0..20 bytes), padded to --size (default 1200, the
 * least a client's first datagram may carry) with random bytes. They pass
 * a server's first-packet checks and fail only at decryption, as a cheap
 * attacker's do. --short: 1-RTT short-header packets with random 16-byte
 * DCIDs that match no connection (a server answers them with stateless
 * resets).
 *
 * The packets go out through a raw socket with our own IPv4 or IPv6 and
 * UDP headers (checksums included), so the source is whatever we write:
 * the test routes the prefix to the attacker's namespace, so the router's
 * reverse-path check passes and the server's answers come back there to
 * be dropped. ADDR and PREFIX must be of the same family. Sends are
 * batched with sendmmsg at absolute deadlines (CLOCK_MONOTONIC), so the
 * rate holds over the run whatever a wake-up's lateness; a sender that
 * cannot keep up sends as fast as it can and reports the rate it reached.
 *
 * At the end (the duration or the count reached, or SIGINT/SIGTERM) one
 * line goes to stdout:
 *
 *   flood: mode=initial family=4 sent=N errors=N seconds=S pps=R target=P
 *
 * Needs root (CAP_NET_RAW); only libc is used. Exit 0 after a run (send
 * errors are counted, not fatal), 1 when the socket cannot be opened, 2
 * on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/tool_util.h"
#include "tun/inet_csum.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36 /* Linux 4.5+; older headers lack the name */
#endif

#define FLOOD_MAX_RATE 1000000  /* packets per second */
#define FLOOD_MAX_DURATION 3600 /* seconds */
#define FLOOD_MAX_BATCH 256     /* packets per sendmmsg */
#define FLOOD_MIN_INITIAL 1200  /* bytes: RFC 9000 14.1 */
#define FLOOD_MIN_SHORT 40      /* bytes: enough to earn a stateless reset */
#define FLOOD_BATCH_HZ 1000     /* default: a batch per millisecond */
/* Behind schedule by more than this, the schedule restarts from now rather
 * than sending the missed packets in one burst. */
#define FLOOD_MAX_LAG_NS 100000000u
#define IP4_HDR_LEN 20
#define IP6_HDR_LEN 40
#define UDP_HDR_LEN 8
#define IP_MAX_PACKET 1500 /* bytes: the lab's links */
#define QUIC_V1 0x00000001u

enum flood_mode { FLOOD_INITIAL, FLOOD_SHORT };

struct flood_opts {
  int family;         /* AF_INET or AF_INET6 */
  uint8_t dst[16];    /* server address */
  uint16_t port;      /* server port */
  uint8_t prefix[16]; /* spoofed sources: this prefix ... */
  unsigned plen;      /* ... of this length */
  enum flood_mode mode;
  long rate; /* packets per second */
  uint64_t duration_ns;
  uint64_t count; /* at most this many packets */
  long size;      /* bytes of UDP payload */
  long batch;     /* packets per sendmmsg */
  uint64_t seed;
};

struct flood_batch {
  uint8_t pkt[FLOOD_MAX_BATCH][IP_MAX_PACKET];
  struct iovec iov[FLOOD_MAX_BATCH];
  struct mmsghdr msg[FLOOD_MAX_BATCH];
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* --- randomness: SplitMix64, fast and good enough for packet noise ------ */

static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void rng_fill(uint8_t *p, size_t len) {
  while (len > 0) {
    uint64_t r = rng_next();
    size_t n = len < sizeof(r) ? len : sizeof(r);

    memcpy(p, &r, n);
    p += n;
    len -= n;
  }
}

/* A number in [lo, hi]. */
static unsigned rng_range(unsigned lo, unsigned hi) {
  return lo + (unsigned)(rng_next() % (hi - lo + 1));
}

/* --- wire helpers ------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v) {
  put_u16(p, (uint16_t)(v >> 16));
  put_u16(p + 2, (uint16_t)v);
}

/* --- one packet ---------------------------------------------------------- */

/* A token-less QUIC v1 Initial of |len| bytes: header fields that pass a
 * server's first-packet parser, then random bytes where the protected
 * packet number and payload would be. */
static void write_initial(uint8_t *p, size_t len) {
  size_t off = 0, rest;
  unsigned dlen = rng_range(8, 20), slen = rng_range(0, 20);

  /* Long header, fixed bit, type Initial; the low bits are protected. */
  p[off++] = (uint8_t)(0xc0 | (rng_next() & 0x0f));
  put_u32(p + off, QUIC_V1);
  off += 4;
  p[off++] = (uint8_t)dlen;
  rng_fill(p + off, dlen);
  off += dlen;
  p[off++] = (uint8_t)slen;
  rng_fill(p + off, slen);
  off += slen;
  p[off++] = 0; /* token length */
  /* Length (a 2-byte varint): the packet fills the datagram. */
  rest = len - off - 2;
  put_u16(p + off, (uint16_t)(0x4000 | rest));
  off += 2;
  rng_fill(p + off, rest);
}

/* A 1-RTT packet for a connection that does not exist: a short header has
 * no DCID length, so the server reads its own CID length (16 bytes for
 * jvpn-quic) of random bytes as the DCID. */
static void write_short(uint8_t *p, size_t len) {
  rng_fill(p, len);
  p[0] = (uint8_t)(0x40 | (p[0] & 0x3f)); /* short header, fixed bit */
}

/* A random address of the prefix into |out|. */
static void spoof_source(const struct flood_opts *o, uint8_t *out) {
  size_t alen = o->family == AF_INET ? 4 : 16, i;

  rng_fill(out, alen);
  for (i = 0; i < alen; i++) {
    unsigned bits = o->plen > i * 8 ? o->plen - (unsigned)i * 8 : 0;
    uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);

    out[i] = (uint8_t)((o->prefix[i] & mask) | (out[i] & ~mask));
  }
}

/* The UDP header at |udp| (payload after it), checksummed over the
 * pseudo-header of |src| and the destination. IPv4's (RFC 768) and IPv6's
 * (RFC 8200 8.1) differ in layout only: both add the two addresses, the
 * protocol number and the UDP length to the sum. */
static void write_udp(const struct flood_opts *o, uint8_t *udp,
                      const uint8_t *src) {
  size_t alen = o->family == AF_INET ? 4 : 16;
  uint16_t ulen = (uint16_t)(UDP_HDR_LEN + o->size), c;
  uint32_t sum;

  put_u16(udp, (uint16_t)rng_range(1024, 65535));
  put_u16(udp + 2, o->port);
  put_u16(udp + 4, ulen);
  put_u16(udp + 6, 0);
  sum = inet_csum_add(0, src, alen);
  sum = inet_csum_add(sum, o->dst, alen);
  sum += IPPROTO_UDP + (uint32_t)ulen;
  sum = inet_csum_add(sum, udp, (size_t)ulen);
  c = inet_csum_fold(sum);
  /* 0 means "no checksum" on the wire (and is invalid over IPv6). */
  put_u16(udp + 6, c == 0 ? 0xffff : c);
}

static void write_ip4(const struct flood_opts *o, uint8_t *ip,
                      const uint8_t *src, size_t total) {
  memset(ip, 0, IP4_HDR_LEN);
  ip[0] = 0x45; /* version 4, 5 words */
  put_u16(ip + 2, (uint16_t)total);
  put_u16(ip + 4, (uint16_t)rng_next());
  put_u16(ip + 6, 0x4000); /* don't fragment */
  ip[8] = 64;              /* TTL */
  ip[9] = IPPROTO_UDP;
  memcpy(ip + 12, src, 4);
  memcpy(ip + 16, o->dst, 4);
  put_u16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, IP4_HDR_LEN)));
}

static void write_ip6(const struct flood_opts *o, uint8_t *ip,
                      const uint8_t *src, size_t payload) {
  put_u32(ip, 0x60000000u | (uint32_t)(rng_next() & 0xfffff)); /* flow */
  put_u16(ip + 4, (uint16_t)payload);
  ip[6] = IPPROTO_UDP;
  ip[7] = 64; /* hop limit */
  memcpy(ip + 8, src, 16);
  memcpy(ip + 24, o->dst, 16);
}

/* One whole IP packet into |p|; its length. */
static size_t write_packet(const struct flood_opts *o, uint8_t *p) {
  size_t iph = o->family == AF_INET ? IP4_HDR_LEN : IP6_HDR_LEN;
  size_t total = iph + UDP_HDR_LEN + (size_t)o->size;
  uint8_t src[16];

  spoof_source(o, src);
  if (o->mode == FLOOD_INITIAL)
    write_initial(p + iph + UDP_HDR_LEN, (size_t)o->size);
  else
    write_short(p + iph + UDP_HDR_LEN, (size_t)o->size);
  write_udp(o, p + iph, src);
  if (o->family == AF_INET)
    write_ip4(o, p, src, total);
  else
    write_ip6(o, p, src, total - IP6_HDR_LEN);
  return total;
}

/* --- the run ------------------------------------------------------------- */

/* Fills the next |n| packets of |b| and sends them; how many went out. */
static int send_batch(int fd, const struct flood_opts *o,
                      const struct sockaddr *dst, socklen_t dlen,
                      struct flood_batch *b, int n, int *last_errno) {
  int i, sent = 0, rv;

  for (i = 0; i < n; i++) {
    b->iov[i].iov_base = b->pkt[i];
    b->iov[i].iov_len = write_packet(o, b->pkt[i]);
    memset(&b->msg[i], 0, sizeof(b->msg[i]));
    b->msg[i].msg_hdr.msg_name = (void *)dst;
    b->msg[i].msg_hdr.msg_namelen = dlen;
    b->msg[i].msg_hdr.msg_iov = &b->iov[i];
    b->msg[i].msg_hdr.msg_iovlen = 1;
  }
  /* sendmmsg stops at a message that fails (a full queue, say) and reports
   * what went before it: the rest is tried again, and counted as errors
   * once its first message fails outright. */
  while (sent < n) {
    rv = sendmmsg(fd, b->msg + sent, (unsigned)(n - sent), 0);
    if (rv <= 0) {
      *last_errno = errno;
      if (rv < 0 && errno == EINTR && !stop_flag)
        continue;
      break;
    }
    sent += rv;
  }
  return sent;
}

/* The destination as the raw socket's sendmmsg wants it: the kernel routes
 * by it; the port must be 0 (the headers carry the real one). */
static socklen_t raw_dest(const struct flood_opts *o,
                          struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (o->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, o->dst, 4);
    return sizeof(*sin);
  }
  {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, o->dst, 16);
    return sizeof(*sin6);
  }
}

/* A raw socket whose packets carry our own IP header; -1 on failure. */
static int open_raw(int family) {
  int fd = socket(family, SOCK_RAW, IPPROTO_RAW), on = 1;

  if (fd < 0) {
    perror("flood: raw socket (needs root)");
    return -1;
  }
  if (setsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
                 family == AF_INET ? IP_HDRINCL : IPV6_HDRINCL, &on,
                 sizeof(on)) != 0) {
    perror("flood: IP_HDRINCL");
    close(fd);
    return -1;
  }
  return fd;
}

struct flood_result {
  uint64_t sent, errors;
  uint64_t elapsed_ns;
  int last_errno;
};

/* Sends batch after batch, each at its absolute deadline, until the
 * duration, the count or a signal ends the run. */
static void run(int fd, const struct flood_opts *o, struct flood_batch *b,
                struct flood_result *r) {
  struct sockaddr_storage dst;
  socklen_t dlen = raw_dest(o, &dst);
  uint64_t start = tool_now_ns(), end = start + o->duration_ns;
  uint64_t base = start, base_sent = 0, now;

  memset(r, 0, sizeof(*r));
  while (!stop_flag && r->sent + r->errors < o->count) {
    uint64_t done = r->sent + r->errors - base_sent;
    uint64_t due = base + done * 1000000000u / (uint64_t)o->rate;
    uint64_t left = o->count - r->sent - r->errors;
    int n = left < (uint64_t)o->batch ? (int)left : (int)o->batch, k;

    if (due >= end)
      break;
    now = tool_now_ns();
    if (now > due + FLOOD_MAX_LAG_NS) {
      base = now; /* fell behind: no catch-up burst */
      base_sent = r->sent + r->errors;
    } else if (due > now) {
      tool_sleep_until(due, &stop_flag);
    }
    k = send_batch(fd, o, (const struct sockaddr *)&dst, dlen, b, n,
                   &r->last_errno);
    r->sent += (uint64_t)k;
    r->errors += (uint64_t)(n - k);
  }
  r->elapsed_ns = tool_now_ns() - start;
}

static void report(const struct flood_opts *o, const struct flood_result *r) {
  double secs = (double)r->elapsed_ns / 1e9;

  printf("flood: mode=%s family=%d sent=%" PRIu64 " errors=%" PRIu64
         " seconds=%.3f pps=%.0f target=%ld\n",
         o->mode == FLOOD_INITIAL ? "initial" : "short",
         o->family == AF_INET ? 4 : 6, r->sent, r->errors, secs,
         secs > 0 ? (double)r->sent / secs : 0.0, o->rate);
  if (r->errors > 0)
    fprintf(stderr, "flood: last send error: %s\n", strerror(r->last_errno));
}

/* --- the command line ---------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: flood --to ADDR --port P --src-prefix PREFIX/LEN --rate PPS\n"
          "             --duration S [--count N] [--short] [--size N]\n"
          "             [--batch N] [--seed N]\n"
          "  rate 1..%d pps, duration up to %d s (may be fractional),\n"
          "  size: bytes of UDP payload (default and least for Initials %d,\n"
          "  least for --short %d), batch 1..%d (default rate / %d)\n",
          FLOOD_MAX_RATE, FLOOD_MAX_DURATION, FLOOD_MIN_INITIAL,
          FLOOD_MIN_SHORT, FLOOD_MAX_BATCH, FLOOD_BATCH_HZ);
}

/* ADDR into |out|; its family, or -1. */
static int parse_ip(const char *s, uint8_t out[16]) {
  if (inet_pton(AF_INET, s, out) == 1)
    return AF_INET;
  if (inet_pton(AF_INET6, s, out) == 1)
    return AF_INET6;
  return -1;
}

static int parse_prefix(const char *s, struct flood_opts *o) {
  char buf[64], *slash;
  long plen;
  int family;

  if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
    return -1;
  slash = strchr(buf, '/');
  if (slash == NULL)
    return -1;
  *slash = '\0';
  family = parse_ip(buf, o->prefix);
  if (family < 0 ||
      tool_parse_long(slash + 1, 0, family == AF_INET ? 32 : 128, &plen) != 0)
    return -1;
  o->plen = (unsigned)plen;
  return family;
}

/* One "--name value" pair; 0 when understood. */
static int parse_opt(const char *name, const char *v, struct flood_opts *o,
                     int *dst_family, int *src_family) {
  long n;

  if (strcmp(name, "--to") == 0)
    return (*dst_family = parse_ip(v, o->dst)) < 0 ? -1 : 0;
  if (strcmp(name, "--src-prefix") == 0)
    return (*src_family = parse_prefix(v, o)) < 0 ? -1 : 0;
  if (strcmp(name, "--duration") == 0)
    return tool_parse_seconds(v, FLOOD_MAX_DURATION, &o->duration_ns);
  if (strcmp(name, "--count") == 0) {
    if (tool_parse_long(v, 1, FLOOD_MAX_RATE * (long)FLOOD_MAX_DURATION, &n) !=
        0)
      return -1;
    o->count = (uint64_t)n;
    return 0;
  }
  if (strcmp(name, "--seed") == 0) {
    if (tool_parse_long(v, 0, 0x7fffffff, &n) != 0)
      return -1;
    o->seed = (uint64_t)n;
    return 0;
  }
  if (strcmp(name, "--port") == 0) {
    if (tool_parse_long(v, 1, 65535, &n) != 0)
      return -1;
    o->port = (uint16_t)n;
    return 0;
  }
  if (strcmp(name, "--rate") == 0)
    return tool_parse_long(v, 1, FLOOD_MAX_RATE, &o->rate);
  if (strcmp(name, "--size") == 0)
    return tool_parse_long(v, FLOOD_MIN_SHORT,
                           IP_MAX_PACKET - IP6_HDR_LEN - UDP_HDR_LEN, &o->size);
  if (strcmp(name, "--batch") == 0)
    return tool_parse_long(v, 1, FLOOD_MAX_BATCH, &o->batch);
  return -1;
}

/* The options with their defaults filled in; 0 when they make a run. */
static int parse_args(int argc, char **argv, struct flood_opts *o) {
  int i, dst_family = -1, src_family = -1;

  memset(o, 0, sizeof(*o));
  o->mode = FLOOD_INITIAL;
  o->size = FLOOD_MIN_INITIAL;
  o->rate = -1;
  o->seed = (uint64_t)tool_now_ns() ^ (uint64_t)getpid() << 32;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--short") == 0) {
      o->mode = FLOOD_SHORT;
      continue;
    }
    if (i + 1 >= argc ||
        parse_opt(argv[i], argv[i + 1], o, &dst_family, &src_family) != 0)
      return -1;
    i++;
  }
  if (dst_family < 0 || dst_family != src_family || o->port == 0 ||
      o->rate < 0 || o->duration_ns == 0)
    return -1;
  if (o->mode == FLOOD_INITIAL && o->size < FLOOD_MIN_INITIAL)
    return -1;
  if (dst_family == AF_INET &&
      o->size > IP_MAX_PACKET - IP4_HDR_LEN - UDP_HDR_LEN)
    return -1;
  o->family = dst_family;
  if (o->count == 0)
    o->count = (uint64_t)o->rate * (o->duration_ns / 1000000000u + 1);
  if (o->batch == 0) {
    o->batch = o->rate / FLOOD_BATCH_HZ;
    if (o->batch < 1)
      o->batch = 1;
    if (o->batch > FLOOD_MAX_BATCH)
      o->batch = FLOOD_MAX_BATCH;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct flood_opts o;
  struct flood_result r;
  struct flood_batch *b;
  struct sigaction sa;
  int fd;

  if (parse_args(argc, argv, &o) != 0) {
    usage();
    return 2;
  }
  rng_state = o.seed;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  b = calloc(1, sizeof(*b));
  if (b == NULL) {
    perror("flood: calloc");
    return 1;
  }
  fd = open_raw(o.family);
  if (fd < 0) {
    free(b);
    return 1;
  }
  run(fd, &o, b, &r);
  report(&o, &r);
  close(fd);
  free(b);
  return 0;
}
