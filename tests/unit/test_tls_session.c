/*
 * tests/unit/test_tls_session: the GnuTLS priority string (what it allows
 * and what a handshake under it negotiates), the pin check with real
 * identities (GnuTLS sessions over a socketpair), and the NSS key log
 * line: its format against a known value, and the lines a real h2_conn
 * handshake writes (tests/unit/h2_pair).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "jvpn/proto.h"
#include "quic/h2_conn_int.h"   /* the connections' GnuTLS sessions */
#include "quic/quic_conn_int.h" /* struct quic_cred */
#include "quic/tls_identity.h"
#include "quic/tls_session.h"
#include "tests/unit/h2_pair.h"

/* --- the priority string ------------------------------------------------- */

static void test_priority_lists(void **state) {
  gnutls_priority_t prio;
  const char *err = NULL;
  const unsigned *list;
  int i, n;

  (void)state;
  assert_int_equal(gnutls_priority_init(&prio, tls_session_priority, &err), 0);
  /* TLS 1.3 alone */
  n = gnutls_priority_protocol_list(prio, &list);
  assert_int_equal(n, 1);
  assert_int_equal(list[0], GNUTLS_TLS1_3);
  /* AEAD ciphers only */
  n = gnutls_priority_cipher_list(prio, &list);
  assert_true(n >= 1);
  for (i = 0; i < n; i++)
    assert_true(list[i] == GNUTLS_CIPHER_AES_128_GCM ||
                list[i] == GNUTLS_CIPHER_AES_256_GCM ||
                list[i] == GNUTLS_CIPHER_CHACHA20_POLY1305 ||
                list[i] == GNUTLS_CIPHER_AES_128_CCM);
  /* X25519 and the NIST curves, X25519 first */
  n = gnutls_priority_group_list(prio, &list);
  assert_int_equal(n, 3);
  assert_int_equal(list[0], GNUTLS_GROUP_X25519);
  for (i = 0; i < n; i++)
    assert_true(list[i] == GNUTLS_GROUP_X25519 ||
                list[i] == GNUTLS_GROUP_SECP256R1 ||
                list[i] == GNUTLS_GROUP_SECP384R1);
  gnutls_priority_deinit(prio);
}

/* --- handshakes over a socketpair ---------------------------------------- */

struct verifier {
  int install;   /* the session checks its peer with tls_session_verify */
  int refuse;    /* ops->verify_peer refuses */
  int calls;     /* ops->verify_peer calls */
  uint8_t seen[JVPN_PIN_LEN];
  uint8_t pin[JVPN_PIN_LEN];
  int pin_set;
};

static int verify_pin(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct verifier *v = user;

  v->calls++;
  memcpy(v->seen, pin, JVPN_PIN_LEN);
  return v->refuse ? -1 : 0;
}

static const struct quic_conn_ops pin_ops = {.verify_peer = verify_pin};

static int verify_cb(gnutls_session_t s) {
  struct verifier *v = gnutls_session_get_ptr(s);

  return tls_session_verify_peer(s, &pin_ops, v, v->pin, &v->pin_set, "test");
}

struct hs {
  gnutls_session_t s[2]; /* client, server */
  struct verifier v[2];
  int rv[2];             /* the handshake's end: 0 or a GnuTLS error */
  int fd[2];
  struct quic_cred *empty;
};

/* Client |cid| (-1: no certificate) and server |sid| sessions; the client
 * uses |client_prio| (NULL: ours). */
static void hs_init(struct hs *h, int cid, int sid, const char *client_prio) {
  int i;

  assert_int_equal(
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, h->fd), 0);
  for (i = 0; i < 2; i++) {
    const struct quic_cred *cred;

    if (i == 0 && cid < 0) {
      assert_int_equal(tls_identity_cred_new_empty(&h->empty), 0);
      cred = h->empty;
    } else {
      cred = ids.cred[i == 0 ? cid : sid];
    }
    assert_int_equal(gnutls_init(&h->s[i], (i ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                                                GNUTLS_NONBLOCK),
                     0);
    assert_int_equal(gnutls_priority_set_direct(
                         h->s[i],
                         i == 0 && client_prio ? client_prio
                                               : tls_session_priority,
                         NULL),
                     0);
    assert_int_equal(
        gnutls_credentials_set(h->s[i], GNUTLS_CRD_CERTIFICATE, cred->gcred),
        0);
    gnutls_transport_set_int(h->s[i], h->fd[i]);
    gnutls_session_set_ptr(h->s[i], &h->v[i]);
    h->rv[i] = GNUTLS_E_AGAIN;
  }
  gnutls_certificate_server_set_request(
      h->s[1], cid < 0 ? GNUTLS_CERT_REQUEST : GNUTLS_CERT_REQUIRE);
}

/* Both handshakes until each is done or failed. */
static void hs_run(struct hs *h) {
  int i, round;

  for (i = 0; i < 2; i++)
    if (h->v[i].install)
      gnutls_session_set_verify_function(h->s[i], verify_cb);
  for (round = 0; round < 10000; round++) {
    int busy = 0;

    for (i = 0; i < 2; i++) {
      if (h->rv[i] != GNUTLS_E_AGAIN)
        continue;
      h->rv[i] = gnutls_handshake(h->s[i]);
      if (h->rv[i] < 0 && !gnutls_error_is_fatal(h->rv[i]))
        h->rv[i] = GNUTLS_E_AGAIN;
      else if (h->rv[i] < 0)
        (void)gnutls_alert_send_appropriate(h->s[i], h->rv[i]);
      busy |= h->rv[i] == GNUTLS_E_AGAIN;
    }
    if (!busy)
      return;
    /* one side failed: the other hears its alert, or nothing more */
    if (round > 100 && (h->rv[0] < 0 && h->rv[0] != GNUTLS_E_AGAIN))
      return;
    if (round > 100 && (h->rv[1] < 0 && h->rv[1] != GNUTLS_E_AGAIN))
      return;
  }
  fail_msg("handshake neither completed nor failed");
}

/* The client's next read, once something arrived. */
static int client_hears_alert(struct hs *h) {
  char b[64];
  int i, rv = 0;

  if (h->rv[0] != 0)
    return h->rv[0];
  for (i = 0; i < 10000; i++) {
    rv = (int)gnutls_record_recv(h->s[0], b, sizeof(b));
    if (rv != GNUTLS_E_AGAIN)
      break;
  }
  return rv;
}

static void hs_end(struct hs *h) {
  int i;

  for (i = 0; i < 2; i++) {
    gnutls_deinit(h->s[i]);
    close(h->fd[i]);
  }
  tls_identity_cred_del(h->empty);
}

/* Both sides check the other's pin; the pins are the identities'. */
static void test_verify_accepts(void **state) {
  struct hs h;

  (void)state;
  memset(&h, 0, sizeof(h));
  h.v[0].install = h.v[1].install = 1;
  hs_init(&h, CLI, SRV, NULL);
  hs_run(&h);
  assert_int_equal(h.rv[0], 0);
  assert_int_equal(h.rv[1], 0);
  assert_int_equal(h.v[0].calls, 1);
  assert_int_equal(h.v[1].calls, 1);
  assert_int_equal(h.v[0].pin_set, 1);
  assert_memory_equal(h.v[0].pin, ids.pin[SRV], JVPN_PIN_LEN);
  assert_memory_equal(h.v[0].seen, ids.pin[SRV], JVPN_PIN_LEN);
  assert_memory_equal(h.v[1].pin, ids.pin[CLI], JVPN_PIN_LEN);
  /* what the priority string negotiates */
  assert_int_equal(gnutls_protocol_get_version(h.s[0]), GNUTLS_TLS1_3);
  assert_int_equal(gnutls_group_get(h.s[0]), GNUTLS_GROUP_X25519);
  assert_true(gnutls_cipher_get(h.s[0]) == GNUTLS_CIPHER_AES_128_GCM ||
              gnutls_cipher_get(h.s[0]) == GNUTLS_CIPHER_AES_256_GCM ||
              gnutls_cipher_get(h.s[0]) == GNUTLS_CIPHER_CHACHA20_POLY1305);
  hs_end(&h);
}

/* A handshake between client |cid| and our server where side |refuser|
 * (0 client, 1 server) refuses the other's pin. */
static void refusing(struct hs *h, int refuser, int cid) {
  memset(h, 0, sizeof(*h));
  h->v[refuser].install = 1;
  h->v[refuser].refuse = 1;
  hs_init(h, cid, SRV, NULL);
  hs_run(h);
}

/* The program refuses the peer's pin: the handshake fails with a
 * certificate error; the pin was computed all the same. */
static void test_verify_refuses(void **state) {
  struct hs h;

  (void)state;
  refusing(&h, 1, STRANGER);
  assert_int_equal(h.rv[1], GNUTLS_E_CERTIFICATE_ERROR);
  /* TLS 1.3: the client is done first and hears the refusal after */
  assert_int_equal(client_hears_alert(&h), GNUTLS_E_FATAL_ALERT_RECEIVED);
  assert_int_equal(h.v[1].calls, 1);
  assert_int_equal(h.v[1].pin_set, 1);
  assert_memory_equal(h.v[1].pin, ids.pin[STRANGER], JVPN_PIN_LEN);
  hs_end(&h);

  /* the client refuses the server */
  refusing(&h, 0, CLI);
  assert_int_equal(h.rv[0], GNUTLS_E_CERTIFICATE_ERROR);
  assert_memory_equal(h.v[0].seen, ids.pin[SRV], JVPN_PIN_LEN);
  hs_end(&h);
}

/* A peer that presented no certificate: refused without asking the
 * program, no pin set. */
static void test_verify_no_certificate(void **state) {
  struct hs h;
  uint8_t pin[JVPN_PIN_LEN];
  int pin_set = 0;

  (void)state;
  memset(&h, 0, sizeof(h));
  hs_init(&h, -1, SRV, NULL);
  hs_run(&h);
  assert_int_equal(h.rv[0], 0);
  assert_int_equal(h.rv[1], 0);
  assert_int_equal(tls_session_verify_peer(h.s[1], &pin_ops, &h.v[1], pin,
                                           &pin_set, "test"),
                   GNUTLS_E_CERTIFICATE_ERROR);
  assert_int_equal(pin_set, 0);
  assert_int_equal(h.v[1].calls, 0);
  /* the client did see the server's */
  assert_int_equal(tls_session_verify_peer(h.s[0], &pin_ops, &h.v[0], pin,
                                           &pin_set, "test"),
                   0);
  assert_int_equal(pin_set, 1);
  assert_memory_equal(pin, ids.pin[SRV], JVPN_PIN_LEN);
  hs_end(&h);
}

/* Peers the priority string keeps out: TLS 1.2, or no common group. */
static void test_priority_refuses(void **state) {
  static const char *const prios[] = {
      "NORMAL:-VERS-ALL:+VERS-TLS1.2",
      "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE2048",
  };
  struct hs h;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
    memset(&h, 0, sizeof(h));
    hs_init(&h, CLI, SRV, prios[i]);
    hs_run(&h);
    if (h.rv[0] == 0 || h.rv[1] == 0)
      fail_msg("a client with \"%s\" got in", prios[i]);
    hs_end(&h);
  }
}

#define MAXLINES 32 /* key log lines of one handshake, both ends */

/* --- the key log --------------------------------------------------------- */

/* A fresh session's client random is all zeros: the line is known. */
static void test_keylog_known(void **state) {
  static const char want[] =
      "CLIENT_TRAFFIC_SECRET_0 "
      "0000000000000000000000000000000000000000000000000000000000000000 "
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "a0ff\n";
  uint8_t secret[34];
  gnutls_datum_t d = {secret, sizeof(secret)};
  gnutls_session_t s;
  char *buf = NULL;
  size_t len = 0, i;
  FILE *f = open_memstream(&buf, &len);

  (void)state;
  for (i = 0; i < 32; i++)
    secret[i] = (uint8_t)i;
  secret[32] = 0xa0;
  secret[33] = 0xff;
  assert_non_null(f);
  assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);
  tls_session_keylog(s, f, "CLIENT_TRAFFIC_SECRET_0", &d);
  /* written through at once: a key log must survive a crash */
  assert_int_equal(len, sizeof(want) - 1);
  assert_string_equal(buf, want);
  gnutls_deinit(s);
  fclose(f);
  free(buf);
}

static int h2_open(struct pair *p) {
  return both_open(p);
}

/* A real handshake (an h2_conn pair with a key log): both ends write the
 * same lines, one per secret, with the session's client random. */
static void test_keylog_handshake(void **state) {
  static const char *const labels[] = {
      "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"};
  char *buf = NULL, *line, *save = NULL, random_hex[65];
  char label[64], crand[80], secret[200];
  size_t len = 0, i, nlines = 0, count[4] = {0};
  FILE *f = open_memstream(&buf, &len);
  char *lines[MAXLINES];
  gnutls_datum_t cr, sr;
  struct pair p;

  (void)state;
  assert_non_null(f);
  pair_start_keylog(&p, SRV, CLI, f);
  assert_true(run(&p, h2_open));
  gnutls_session_get_random(p.cli.c->tls, &cr, &sr);
  assert_int_equal(cr.size, 32);
  for (i = 0; i < 32; i++)
    snprintf(random_hex + 2 * i, 3, "%02x", cr.data[i]);
  pair_end(&p);
  fflush(f);
  assert_true(len > 0);
  for (line = strtok_r(buf, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    assert_true(nlines < MAXLINES);
    lines[nlines++] = line;
    assert_int_equal(sscanf(line, "%63s %79s %199s", label, crand, secret), 3);
    assert_string_equal(crand, random_hex);
    /* SHA-256 or SHA-384 secrets, lowercase hex */
    assert_true(strlen(secret) == 64 || strlen(secret) == 96);
    assert_int_equal(strspn(secret, "0123456789abcdef"), strlen(secret));
    for (i = 0; i < 4; i++)
      count[i] += strcmp(label, labels[i]) == 0;
  }
  /* each secret once per end, the same line at both */
  for (i = 0; i < 4; i++)
    if (count[i] != 2)
      fail_msg("%s: %zu lines, not 2", labels[i], count[i]);
  for (i = 0; i < nlines; i++) {
    size_t k, same = 0;

    for (k = 0; k < nlines; k++)
      same += strcmp(lines[i], lines[k]) == 0;
    if (same != 2)
      fail_msg("\"%s\": %zu times", lines[i], same);
  }
  assert_true(nlines >= 8);
  fclose(f);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_priority_lists),
      cmocka_unit_test(test_verify_accepts),
      cmocka_unit_test(test_verify_refuses),
      cmocka_unit_test(test_verify_no_certificate),
      cmocka_unit_test(test_priority_refuses),
      cmocka_unit_test(test_keylog_known),
      cmocka_unit_test(test_keylog_handshake),
  };

  return cmocka_run_group_tests(tests, h2_pair_group_setup,
                                h2_pair_group_teardown);
}
