/*
 * interop/jvpn_interop: main of the interop endpoint: the command line of
 * interop/README.md, the test case checks (exit 127 before any I/O) and
 * the pieces both roles share.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interop/interop.h"
#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/quic_conn.h"
#include "quic/tls_identity.h"

const char *interop_tls_priority(enum interop_case tc) {
  if (tc != IC_CHACHA20)
    return NULL;
  /* TLS_CHACHA20_POLY1305_SHA256 only; QUIC needs no compat mode. */
  return "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305:"
         "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
         "%DISABLE_TLS13_COMPAT_MODE";
}

void interop_conn_timeouts(struct quic_conn_config *cfg,
                           enum interop_case tc) {
  int patient = tc == IC_MULTICONNECT || tc == IC_HANDSHAKELOSS;

  cfg->keepalive_ms = INTEROP_KEEPALIVE_MS;
  cfg->idle_ms = patient ? INTEROP_PATIENT_IDLE_MS : INTEROP_IDLE_MS;
  cfg->handshake_ms = INTEROP_HANDSHAKE_MS;
}

int interop_ring_init(struct interop_ring *r) {
  memset(r, 0, sizeof(*r));
  r->buf = malloc(INTEROP_RING_SIZE);
  return r->buf ? 0 : JVPN_ERR_NOMEM;
}

void interop_ring_free(struct interop_ring *r) {
  free(r->buf);
  r->buf = NULL;
}

size_t interop_ring_room(const struct interop_ring *r) {
  return INTEROP_RING_SIZE - (size_t)(r->filled - r->acked);
}

long interop_ring_fill_fd(struct interop_ring *r, int fd) {
  size_t room = interop_ring_room(r);
  size_t at = (size_t)(r->filled % INTEROP_RING_SIZE);
  size_t chunk = INTEROP_RING_SIZE - at < room ? INTEROP_RING_SIZE - at
                                               : room;
  ssize_t n;

  if (chunk == 0)
    return 0;
  do
    n = read(fd, r->buf + at, chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return JVPN_ERR_SYSTEM;
  r->filled += (uint64_t)n;
  return (long)n;
}

size_t interop_ring_unsent(const struct interop_ring *r,
                           struct quic_vec *vec, size_t max) {
  size_t left = (size_t)(r->filled - r->sent);
  size_t at = (size_t)(r->sent % INTEROP_RING_SIZE);
  size_t first = INTEROP_RING_SIZE - at < left ? INTEROP_RING_SIZE - at
                                               : left;
  size_t n = 0;

  if (left == 0 || max == 0)
    return 0;
  vec[n].base = r->buf + at;
  vec[n++].len = first;
  if (left > first && max > 1) {
    vec[n].base = r->buf;
    vec[n++].len = left - first;
  }
  return n;
}

int interop_write_all(int fd, const uint8_t *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0) {
      if (errno == EINTR)
        continue;
      return JVPN_ERR_SYSTEM;
    }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: jvpn-interop server --listen ADDR:PORT --cert FILE "
          "--key FILE --www DIR\n"
          "                          --testcase NAME [--qlog-dir DIR] "
          "[--keylog FILE]\n"
          "                          [--preferred ADDR:PORT]...\n"
          "       jvpn-interop client --testcase NAME --downloads DIR\n"
          "                          [--qlog-dir DIR] [--keylog FILE] "
          "URL...\n"
          "options:\n"
          "  --preferred ADDR:PORT  server, connectionmigration only: "
          "offer this\n"
          "                    preferred address (RFC 9000 9.6), IPv4 or "
          "[IPv6],\n"
          "                    at most once per family, and receive on it "
          "too\n"
          "environment:\n"
          "  INTEROP_ALPN=h3   the peer speaks only h3: every test case "
          "runs over\n"
          "                    HTTP/3 (ALPN h3) instead of hq-interop; "
          "datagram\n"
          "                    is then unsupported (exit 127)\n"
          "  JVPN_LOG=N        log level\n"
          "  JVPN_INTEROP_DATAGRAMS=N  datagram case: datagrams to send\n");
}

/* Takes the value of option |argv[*i]|; NULL (and a message) if absent. */
static const char *optval(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "jvpn-interop: %s needs a value\n", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

static int parse_args(int argc, char **argv, struct interop_opts *o,
                      const char **testcase, const char **keylog) {
  int i;

  if (argc < 2)
    return JVPN_ERR_INVAL;
  if (strcmp(argv[1], "server") == 0)
    o->is_server = 1;
  else if (strcmp(argv[1], "client") != 0)
    return JVPN_ERR_INVAL;
  for (i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;

    if (strcmp(a, "--listen") == 0)
      dst = &o->listen;
    else if (strcmp(a, "--cert") == 0)
      dst = &o->cert;
    else if (strcmp(a, "--key") == 0)
      dst = &o->key;
    else if (strcmp(a, "--www") == 0)
      dst = &o->www;
    else if (strcmp(a, "--downloads") == 0)
      dst = &o->downloads;
    else if (strcmp(a, "--qlog-dir") == 0)
      dst = &o->qlog_dir;
    else if (strcmp(a, "--keylog") == 0)
      dst = keylog;
    else if (strcmp(a, "--testcase") == 0)
      dst = testcase;
    else if (strcmp(a, "--preferred") == 0) {
      if (o->npreferred >= INTEROP_MAX_PREFERRED) {
        fprintf(stderr, "jvpn-interop: at most %d --preferred\n",
                INTEROP_MAX_PREFERRED);
        return JVPN_ERR_INVAL;
      }
      dst = &o->preferred[o->npreferred++];
    }
    if (dst) {
      if ((*dst = optval(argc, argv, &i)) == NULL)
        return JVPN_ERR_INVAL;
      continue;
    }
    if (a[0] == '-') {
      fprintf(stderr, "jvpn-interop: unknown option %s\n", a);
      return JVPN_ERR_INVAL;
    }
    if (o->is_server || o->nurls >= INTEROP_MAX_URLS)
      return JVPN_ERR_INVAL;
    o->urls[o->nurls++] = a;
  }
  if (*testcase == NULL)
    return JVPN_ERR_INVAL;
  if (o->is_server)
    return o->listen && o->cert && o->key && o->www ? 0 : JVPN_ERR_INVAL;
  return o->downloads && o->npreferred == 0 ? 0 : JVPN_ERR_INVAL;
}

int main(int argc, char **argv) {
  static struct interop_opts o;
  const char *testcase = NULL, *keylog = NULL, *lvl = getenv("JVPN_LOG");
  const char *alpn_env = getenv("INTEROP_ALPN");
  int tc, rv;

  if (argc == 2 &&
      (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return INTEROP_EXIT_OK;
  }
  if (parse_args(argc, argv, &o, &testcase, &keylog) != 0) {
    usage(stderr);
    return INTEROP_EXIT_FAIL;
  }
  tc = interop_case_parse(testcase);
  if (tc < 0) {
    fprintf(stderr, "jvpn-interop: test case %s not supported\n", testcase);
    return INTEROP_EXIT_UNSUPPORTED;
  }
  o.tc = (enum interop_case)tc;
  o.alpn = interop_case_alpn(tc, alpn_env);
  if (o.alpn == NULL) {
    fprintf(stderr,
            "jvpn-interop: test case %s not supported with INTEROP_ALPN=%s\n",
            testcase, alpn_env);
    return INTEROP_EXIT_UNSUPPORTED;
  }
  jvpn_log_set_level(lvl ? atoi(lvl) : JVPN_LOG_INFO);
  /* A peer that vanished mid-write must not kill us with SIGPIPE (only
   * files are written, but the runner may close our stdout). */
  signal(SIGPIPE, SIG_IGN);
  if (tls_identity_global_init() != 0)
    return INTEROP_EXIT_FAIL;
  if (keylog) {
    o.keylog = fopen(keylog, "a");
    if (o.keylog == NULL)
      fprintf(stderr, "jvpn-interop: cannot open %s: %s\n", keylog,
              strerror(errno));
  }
  /* The runner names a directory that may not exist yet (QLOGDIR). */
  if (o.qlog_dir && mkdir(o.qlog_dir, 0755) != 0 && errno != EEXIST)
    fprintf(stderr, "jvpn-interop: cannot create %s: %s\n", o.qlog_dir,
            strerror(errno));
  rv = o.is_server ? interop_server_run(&o) : interop_client_run(&o);
  if (o.keylog)
    fclose(o.keylog);
  tls_identity_global_deinit();
  return rv;
}
