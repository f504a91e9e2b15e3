/*
 * tests/tools/attach_probe: one QUIC connection, one CONNECT-IP request
 * with a given "jvpn-attach" header, one line with the answer.
 *
 *   attach_probe --server ADDR:PORT --key KEY --cert CERT --server-pin PIN
 *                (--attach STR --version STR | --forge SESSION_ID [--nonce N])
 *                [--timeout S] [-v]
 *
 * The netns tests use it as the attacker: it replays a captured reattach
 * request (--attach/--version, byte for byte) or forges one for a known
 * session ID with a random proof (--forge), from any identity the server
 * lets through the TLS handshake. It prints "status N" (200 when the
 * server accepted, with the session and version it named) and exits 0;
 * 1 when no answer came within --timeout (default 5 s), 2 on bad usage.
 *
 * A plain poll() loop drives the connection: this is a test tool, so it
 * owns its socket and clock and needs no libuv.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/quic_conn.h"
#include "quic/udp_sock.h"
#include "src/glue.h"
#include "src/netmon.h"
#include "src/pin.h"
#include "src/session_wire.h"

#define PROBE_TIMEOUT_S 5     /* default wait for the answer */
#define PROBE_TIMEOUT_MAX_S 600

struct probe {
  struct quic_conn *qc;
  struct udp_sock sock;
  struct udp_rx_batch rx;
  uint8_t server_pin[JVPN_PIN_LEN];
  char attach[JVPN_WIRE_ATTACH_MAX + 1];
  char version[JVPN_WIRE_VERSION_STR_LEN];
  int status;          /* HTTP status of the answer; 0 = none yet */
  char session[64];    /* accepted: what the server named */
  char sversion[24];
  int dead;            /* ops->closed was called */
  char why[160];
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: attach_probe --server ADDR:PORT --key KEY --cert CERT\n"
          "                    --server-pin PIN\n"
          "                    (--attach STR --version STR |\n"
          "                     --forge SESSION_ID [--nonce N] "
          "[--version STR])\n"
          "                    [--timeout S] [-v]\n"
          "Sends one CONNECT-IP request carrying the given jvpn-attach and\n"
          "jvpn-version values (or a forged jvpn-attach with a random proof\n"
          "for SESSION_ID, base64url) and prints \"status N\".\n"
          "exit: 0 answered, 1 no answer within the timeout (default %d s),"
          "\n      2 usage\n",
          PROBE_TIMEOUT_S);
}

/* "198.18.3.2:443" or "[2001:db8::1]:443". */
static int parse_endpoint(const char *s, struct sockaddr_storage *ss,
                          socklen_t *len) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *colon;
  char *end;
  unsigned long port;
  size_t hlen;

  memset(ss, 0, sizeof(*ss));
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');

    if (rb == NULL || rb[1] != ':')
      return -1;
    hlen = (size_t)(rb - s - 1);
    colon = rb + 1;
    s++;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      return -1;
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0 || hlen >= sizeof(host))
    return -1;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  errno = 0;
  port = strtoul(colon + 1, &end, 10);
  if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
    return -1;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    *len = sizeof(*sin);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) ==
      1) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*sin6);
    return 0;
  }
  return -1;
}

/* --- quic_conn callbacks ------------------------------------------------- */

static int on_send(void *user, const ngtcp2_path *path, const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct probe *p = user;

  return glue_send(&p->sock, path, data, len, seg, ecn);
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct probe *p = user;

  return jvpn_pin_equal(pin, p->server_pin) ? 0 : -1;
}

static long on_attach_header(void *user, char *buf, size_t len,
                             char *version, size_t version_len) {
  struct probe *p = user;
  size_t n = strlen(p->attach);

  if (n >= len || strlen(p->version) >= version_len)
    return JVPN_ERR_NOSPACE;
  memcpy(buf, p->attach, n + 1);
  memcpy(version, p->version, strlen(p->version) + 1);
  return (long)n;
}

static void on_tunnel_open(void *user, const char *session, size_t len,
                           const char *version, size_t version_len) {
  struct probe *p = user;

  p->status = 200;
  if (session && len < sizeof(p->session))
    memcpy(p->session, session, len);
  if (version && version_len < sizeof(p->sversion))
    memcpy(p->sversion, version, version_len);
}

static void on_tunnel_refused(void *user, int status) {
  struct probe *p = user;

  p->status = status > 0 ? status : -1;
}

static int on_capsule(void *user, uint64_t type, const uint8_t *value,
                      size_t len) {
  (void)user;
  (void)type;
  (void)value;
  (void)len;
  return 0; /* addresses and routes are of no interest here */
}

static void on_ip_packet(void *user, const uint8_t *pkt, size_t len) {
  (void)user;
  (void)pkt;
  (void)len;
}

static void on_closed(void *user, enum quic_conn_end why, const char *detail) {
  struct probe *p = user;

  p->dead = 1;
  snprintf(p->why, sizeof(p->why), "%s (%s)", quic_conn_end_str(why),
           detail);
}

static const struct quic_conn_ops probe_ops = {
    .send = on_send,
    .verify_peer = on_verify_peer,
    .attach_header = on_attach_header,
    .tunnel_open = on_tunnel_open,
    .tunnel_refused = on_tunnel_refused,
    .capsule = on_capsule,
    .ip_packet = on_ip_packet,
    .closed = on_closed,
};

/* --- the loop ------------------------------------------------------------ */

static int answered(const struct probe *p) { return p->status != 0; }

/* Writes, runs due timers and reads until the answer comes, the
 * connection ends or |deadline| (ns) passes. */
static void run(struct probe *p, uint64_t deadline) {
  struct pollfd pfd;
  uint64_t now, next;
  int i, n, ms;

  while (!p->dead && !answered(p)) {
    now = glue_now();
    if (quic_conn_expiry(p->qc) <= now &&
        quic_conn_handle_expiry(p->qc, now) != 0)
      return;
    if (quic_conn_write(p->qc, now) != 0 && p->dead)
      return;
    if (answered(p) || now >= deadline)
      return;
    next = quic_conn_expiry(p->qc);
    if (next > deadline)
      next = deadline;
    now = glue_now();
    /* Round up, so a deadline a fraction of a ms away is not spun on. */
    ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
    pfd.fd = p->sock.fd;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, ms) <= 0)
      continue;
    n = udp_sock_recv(&p->sock, &p->rx);
    for (i = 0; i < n && !p->dead; i++) {
      struct udp_rx_msg *m = &p->rx.msg[i];
      size_t off, seg = m->seg_size ? m->seg_size : m->len;

      for (off = 0; off < m->len && !p->dead; off += seg)
        (void)quic_conn_read(p->qc, (const struct sockaddr *)&p->sock.local,
                             p->sock.local_len,
                             (const struct sockaddr *)&m->peer, m->peer_len,
                             m->ecn, m->data + off,
                             m->len - off < seg ? m->len - off : seg,
                             glue_now());
    }
  }
}


/* Builds a syntactically valid jvpn-attach value for |sid| with a random
 * proof: what an attacker who knows only the session ID can send. */
static int forge(struct probe *p, const char *sid, uint64_t nonce) {
  struct jvpn_wire_attach w;
  long n;

  memset(&w, 0, sizeof(w));
  if (jvpn_wire_parse_session_id(sid, strlen(sid), w.session_id) != 0) {
    fprintf(stderr, "attach_probe: --forge: not a base64url session ID\n");
    return -1;
  }
  w.nonce = nonce;
  w.role = JVPN_ROLE_REATTACH;
  if (gnutls_rnd(GNUTLS_RND_NONCE, w.proof, sizeof(w.proof)) != 0)
    return -1;
  n = jvpn_wire_format_attach(p->attach, sizeof(p->attach), &w);
  return n < 0 ? -1 : 0;
}

static int opt_value(int argc, char **argv, int *i, const char **out) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "attach_probe: %s needs a value\n", argv[*i]);
    return -1;
  }
  *out = argv[++*i];
  return 0;
}

int main(int argc, char **argv) {
  const char *server = NULL, *key = NULL, *cert = NULL, *pin = NULL;
  const char *attach = NULL, *version = NULL, *sid = NULL;
  const char *nonce_s = "1", *timeout_s = NULL, *v = NULL;
  struct sockaddr_storage srv, src;
  socklen_t srv_len, src_len;
  struct quic_conn_config cfg;
  gnutls_certificate_credentials_t cred = NULL;
  struct probe *p;
  unsigned long long nonce;
  unsigned long timeout = PROBE_TIMEOUT_S;
  char authority[INET6_ADDRSTRLEN + 16], *end;
  int i, verbose = 0, rc = 1;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;

    if (strcmp(a, "--server") == 0)
      dst = &server;
    else if (strcmp(a, "--key") == 0)
      dst = &key;
    else if (strcmp(a, "--cert") == 0)
      dst = &cert;
    else if (strcmp(a, "--server-pin") == 0)
      dst = &pin;
    else if (strcmp(a, "--attach") == 0)
      dst = &attach;
    else if (strcmp(a, "--version") == 0)
      dst = &version;
    else if (strcmp(a, "--forge") == 0)
      dst = &sid;
    else if (strcmp(a, "--nonce") == 0)
      dst = &nonce_s;
    else if (strcmp(a, "--timeout") == 0)
      dst = &timeout_s;
    else if (strcmp(a, "-v") == 0) {
      verbose++;
      continue;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "attach_probe: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    if (opt_value(argc, argv, &i, dst) != 0)
      return 2;
  }
  if (server == NULL || key == NULL || cert == NULL || pin == NULL ||
      (attach == NULL) == (sid == NULL) || (attach && version == NULL)) {
    usage(stderr);
    return 2;
  }
  if (parse_endpoint(server, &srv, &srv_len) != 0) {
    fprintf(stderr, "attach_probe: --server %s: want ADDR:PORT\n", server);
    return 2;
  }
  if (timeout_s) {
    errno = 0;
    timeout = strtoul(timeout_s, &end, 10);
    if (errno || *end || timeout == 0 || timeout > PROBE_TIMEOUT_MAX_S) {
      fprintf(stderr, "attach_probe: --timeout: 1..%d seconds\n",
              PROBE_TIMEOUT_MAX_S);
      return 2;
    }
  }
  errno = 0;
  nonce = strtoull(nonce_s, &end, 10);
  if (errno || *end || nonce == 0 || nonce_s[0] == '-') {
    fprintf(stderr, "attach_probe: --nonce: 1..2^64-1\n");
    return 2;
  }
  v = version ? version : "1";
  if (strlen(v) >= JVPN_WIRE_VERSION_STR_LEN ||
      (attach && strlen(attach) > JVPN_WIRE_ATTACH_MAX) ||
      (attach && attach[0] == '\0')) {
    fprintf(stderr, "attach_probe: --attach or --version too long or empty\n");
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);
  if (gnutls_global_init() < 0)
    return 1;
  jvpn_log_set_node("attach_probe");
  jvpn_log_set_level(JVPN_LOG_WARN + verbose);
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    goto out_tls;
  p->sock.fd = -1;
  if (jvpn_pin_parse(pin, p->server_pin) != 0) {
    fprintf(stderr, "attach_probe: --server-pin: not a pin\n");
    rc = 2;
    goto out_p;
  }
  snprintf(p->version, sizeof(p->version), "%s", v);
  if (attach)
    snprintf(p->attach, sizeof(p->attach), "%s", attach);
  else if (forge(p, sid, nonce) != 0) {
    rc = 2;
    goto out_p;
  }
  if (udp_rx_batch_init(&p->rx) != 0)
    goto out_p;
  if (glue_load_cred(&cred, cert, key) != 0)
    goto out_rx;
  /* Bound to the address the kernel would send from, the connection's path
   * names a real local address, as the client's does. */
  if (netmon_source_for((const struct sockaddr *)&srv, srv_len, &src,
                        &src_len) != 0 ||
      udp_sock_open(&p->sock, (const struct sockaddr *)&src, src_len) != 0) {
    fprintf(stderr, "attach_probe: no socket toward %s: %s\n", server,
            strerror(errno));
    goto out_cred;
  }
  snprintf(authority, sizeof(authority), "%s", server);
  memset(&cfg, 0, sizeof(cfg));
  cfg.cred = cred;
  cfg.authority = authority;
  cfg.ops = &probe_ops;
  cfg.user = p;
  cfg.log_ctx = "attach_probe";
  if (quic_conn_client_new(&p->qc, &cfg,
                           (const struct sockaddr *)&p->sock.local,
                           p->sock.local_len, (const struct sockaddr *)&srv,
                           srv_len, glue_now()) != 0) {
    fprintf(stderr, "attach_probe: cannot create the QUIC connection\n");
    goto out_sock;
  }
  run(p, glue_now() + (uint64_t)timeout * 1000000000ULL);
  if (p->status != 0) {
    if (p->status == 200)
      printf("status 200 session %s version %s\n", p->session, p->sversion);
    else
      printf("status %d\n", p->status);
    rc = 0;
  } else {
    printf("no answer%s%s\n", p->dead ? ": " : "", p->dead ? p->why : "");
  }
  fflush(stdout);
  /* Leave politely (the close is sent at once), so the server does not
   * wait out the idle timeout. */
  if (!p->dead)
    quic_conn_close(p->qc, JVPN_H3_NO_ERROR, QUIC_END_LOCAL_CLOSE,
                    "attach_probe done", glue_now());
  quic_conn_del(p->qc);
out_sock:
  udp_sock_close(&p->sock);
out_cred:
  gnutls_certificate_free_credentials(cred);
out_rx:
  udp_rx_batch_free(&p->rx);
out_p:
  free(p);
out_tls:
  gnutls_global_deinit();
  return rc;
}
