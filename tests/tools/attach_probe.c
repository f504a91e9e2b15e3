/*
 * tests/tools/attach_probe: one QUIC connection, one CONNECT-IP request
 * with a given "jvpn-attach" header, one line with the answer.
 *
 *   attach_probe --server ADDR:PORT --key KEY --cert CERT --server-pin PIN
 *                (--attach STR --version STR | --forge SESSION_ID [--nonce N]
 *                 | --secret-file FILE --standby [--nonce N]
 *                   [--activate-after MS])
 *                [--hold MS] [--timeout S] [--tcp] [-v]
 *
 * The netns tests use it as the attacker: it replays a captured reattach
 * request (--attach/--version, byte for byte) or forges one for a known
 * session ID with a random proof (--forge), from any identity the server
 * lets through the TLS handshake. It prints "status N" (200 when the
 * server accepted, with the session and version it named) and exits 0;
 * 1 when no answer came within --timeout (default 5 s), 2 on bad usage.
 *
 * With --secret-file (what the client's JVPN_TEST_DUMP_SECRET hook wrote:
 * session ID, secret, attach version, last nonce) it is a second path of
 * that session: it asks for a standby attachment with a real proof bound
 * to its own connection (nonce: the client's last + 1, or --nonce), then,
 * after --activate-after MS, sends the ACTIVATE capsule (nonce + 1, the
 * version the standby answer named) and prints "activate status N version
 * V" when the ACTIVATE_RESULT comes. --hold MS (any mode) keeps the
 * connection open that long afterwards, so a test can look at the server
 * meanwhile (or hold many connections at once).
 *
 * --tcp sends the request over HTTP/2 on TLS over TCP (the fallback
 * transport, quic/h2_conn.h) to the same address and port instead.
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

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/quic_conn.h"
#include "quic/tcp_sock.h"
#include "quic/transport.h"
#include "quic/tls_identity.h"
#include "quic/udp_sock.h"
#include "src/glue.h"
#include "src/netmon.h"
#include "src/pin.h"
#include "src/session_wire.h"
#include "tests/tools/tool_util.h"

#define PROBE_TIMEOUT_S 5     /* default wait for the answer */
#define PROBE_TIMEOUT_MAX_S 600

struct probe {
  struct transport tp; /* QUIC, or HTTP/2 over TCP with --tcp */
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
  /* --secret-file: a standby, perhaps activated */
  int standby;
  uint8_t sid[JVPN_SESSION_ID_LEN];
  uint8_t secret[JVPN_SECRET_LEN];
  uint64_t nonce;      /* of the standby request; ACTIVATE uses nonce + 1 */
  int act_done;        /* ACTIVATE_RESULT arrived */
  int act_status;      /* its status; -1 malformed */
  uint64_t act_version;
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: attach_probe --server ADDR:PORT --key KEY --cert CERT\n"
          "                    --server-pin PIN\n"
          "                    (--attach STR --version STR |\n"
          "                     --forge SESSION_ID [--nonce N] "
          "[--version STR])\n"
          "                     --secret-file FILE --standby [--nonce N]\n"
          "                     [--activate-after MS])\n"
          "                    [--hold MS] [--timeout S] [--tcp] [-v]\n"
          "Sends one CONNECT-IP request carrying the given jvpn-attach and\n"
          "jvpn-version values (or a forged jvpn-attach with a random proof\n"
          "for SESSION_ID, base64url) and prints \"status N\".\n"
          "exit: 0 answered, 1 no answer within the timeout (default %d s),"
          "\n      2 usage\n",
          PROBE_TIMEOUT_S);
}

/* --- quic_conn callbacks ------------------------------------------------- */

static int on_send(void *user, const struct quic_path *path,
                   const uint8_t *data,
                   size_t len, size_t seg, uint8_t ecn) {
  struct probe *p = user;

  return glue_send(&p->sock, path, data, len, seg, ecn);
}

static int on_verify_peer(void *user, const uint8_t pin[JVPN_PIN_LEN]) {
  struct probe *p = user;

  return jvpn_pin_equal(pin, p->server_pin) ? 0 : -1;
}

/* A real standby proof, bound to this connection's TLS channel: the
 * exporter is known only now that the handshake is done. */
static int standby_attach(struct probe *p) {
  struct jvpn_wire_attach w;
  uint8_t bind[JVPN_BIND_LEN];
  long n;

  if (transport_export(&p->tp, JVPN_EXPORTER_BIND_LABEL, NULL, 0, bind,
                       sizeof(bind)) != 0)
    return JVPN_ERR_TLS;
  memset(&w, 0, sizeof(w));
  memcpy(w.session_id, p->sid, sizeof(w.session_id));
  w.nonce = p->nonce;
  w.role = JVPN_ROLE_STANDBY;
  if (jvpn_proof_compute(p->secret, p->sid, w.nonce, w.role, bind,
                         w.proof) != 0)
    return JVPN_ERR_FATAL;
  n = jvpn_wire_format_attach(p->attach, sizeof(p->attach), &w);
  return n < 0 ? (int)n : 0;
}

static long on_attach_header(void *user, char *buf, size_t len,
                             char *version, size_t version_len) {
  struct probe *p = user;
  size_t n;

  if (p->standby && standby_attach(p) != 0)
    return JVPN_ERR_FATAL;
  n = strlen(p->attach);

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
  struct probe *p = user;
  struct jvpn_wire_activate_result r;

  /* Addresses and routes are of no interest here. */
  if (type != JVPN_CAPSULE_ACTIVATE_RESULT)
    return 0;
  p->act_done = 1;
  if (jvpn_wire_decode_activate_result(value, len, &r) != 0) {
    p->act_status = -1;
    return 0;
  }
  p->act_status = (int)r.status;
  p->act_version = r.version;
  return 0;
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
static int activated(const struct probe *p) { return p->act_done; }
static int never(const struct probe *p) {
  (void)p;
  return 0;
}

/* Writes what is due; 0, or -1 once the connection ended. */
static int write_due(struct probe *p, uint64_t now) {
  int rv = p->tp.h2 ? h2_conn_io(p->tp.h2, 0, now)
                    : quic_conn_write(p->tp.qc, now);

  return rv != 0 && p->dead ? -1 : 0;
}

/* Reads what the socket holds (|pfd| polled ready). */
static void read_ready(struct probe *p, const struct pollfd *pfd) {
  int n;

  if (p->tp.h2) {
    (void)h2_conn_io(p->tp.h2, (pfd->revents & ~POLLOUT) != 0, glue_now());
    return;
  }
  n = udp_sock_recv(&p->sock, &p->rx);
  glue_conn_read_batch(p->tp.qc, &p->sock, &p->rx, n, glue_now(), &p->dead);
}

/* Writes, runs due timers and reads until |done|, the connection ends or
 * |deadline| (ns) passes. */
static void run_until(struct probe *p, uint64_t deadline,
                      int (*done)(const struct probe *)) {
  struct pollfd pfd;
  uint64_t now, next;
  int ms;

  while (!p->dead && !done(p)) {
    now = glue_now();
    if (transport_expiry(&p->tp) <= now &&
        transport_handle_expiry(&p->tp, now) != 0)
      return;
    if (write_due(p, now) != 0)
      return;
    if (done(p) || now >= deadline)
      return;
    next = transport_expiry(&p->tp);
    if (next > deadline)
      next = deadline;
    now = glue_now();
    /* Round up, so a deadline a fraction of a ms away is not spun on. */
    ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
    pfd.fd = p->tp.h2 ? h2_conn_fd(p->tp.h2) : p->sock.fd;
    pfd.events = POLLIN;
    if (p->tp.h2 && h2_conn_want_write(p->tp.h2))
      pfd.events |= POLLOUT;
    if (poll(&pfd, 1, ms) > 0)
      read_ready(p, &pfd);
  }
}

/* Opens the connection: QUIC from a UDP socket bound to the address the
 * kernel would send from (so its path names a real local address, as the
 * client's does), or, with |tcp|, HTTP/2 over a TCP socket. */
static int probe_connect(struct probe *p, int tcp, const struct quic_cred *cred,
                         const struct sockaddr *srv, socklen_t srv_len,
                         const char *authority) {
  struct sockaddr_storage src;
  socklen_t src_len;
  struct quic_conn_config cfg;
  struct h2_conn_config h2cfg;
  int fd;

  if (tcp) {
    memset(&h2cfg, 0, sizeof(h2cfg));
    h2cfg.cred = cred;
    h2cfg.authority = authority;
    h2cfg.ops = &probe_ops;
    h2cfg.user = p;
    h2cfg.log_ctx = "attach_probe";
    fd = tcp_sock_connect(srv, srv_len, NULL, 0, NULL);
    return fd < 0 ? -1 : h2_conn_new(&p->tp.h2, &h2cfg, fd, glue_now());
  }
  if (netmon_source_for(srv, srv_len, &src, &src_len) != 0 ||
      udp_sock_open(&p->sock, (const struct sockaddr *)&src, src_len) != 0)
    return -1;
  memset(&cfg, 0, sizeof(cfg));
  cfg.cred = cred;
  cfg.authority = authority;
  cfg.ops = &probe_ops;
  cfg.user = p;
  cfg.log_ctx = "attach_probe";
  return quic_conn_client_new(&p->tp.qc, &cfg,
                              (const struct sockaddr *)&p->sock.local,
                              p->sock.local_len, srv, srv_len, glue_now());
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
  if (tls_identity_random(w.proof, sizeof(w.proof)) != 0)
    return -1;
  n = jvpn_wire_format_attach(p->attach, sizeof(p->attach), &w);
  return n < 0 ? -1 : 0;
}

/* Reads what the client's JVPN_TEST_DUMP_SECRET hook wrote. */
static int load_secret(struct probe *p, const char *path, char *version,
                       size_t version_len) {
  char line[160], hex[2 * JVPN_SECRET_LEN + 2], sid[64];
  unsigned long long v = 0, n = 0;
  int have = 0;
  size_t i;
  unsigned int b;
  FILE *f = fopen(path, "r");

  if (f == NULL) {
    fprintf(stderr, "attach_probe: %s: %s\n", path, strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof(line), f)) {
    if (sscanf(line, "sid %63s", sid) == 1 &&
        jvpn_wire_parse_session_id(sid, strlen(sid), p->sid) == 0)
      have |= 1;
    else if (sscanf(line, "secret %65s", hex) == 1 &&
             strlen(hex) == 2 * JVPN_SECRET_LEN) {
      for (i = 0; i < JVPN_SECRET_LEN; i++) {
        if (sscanf(hex + 2 * i, "%2x", &b) != 1)
          break;
        p->secret[i] = (uint8_t)b;
      }
      if (i == JVPN_SECRET_LEN)
        have |= 2;
    } else if (sscanf(line, "version %llu", &v) == 1)
      have |= 4;
    else if (sscanf(line, "nonce %llu", &n) == 1)
      have |= 8;
  }
  fclose(f);
  if (have != 15) {
    fprintf(stderr, "attach_probe: %s: incomplete secret file\n", path);
    return -1;
  }
  snprintf(version, version_len, "%llu", v);
  p->nonce = (uint64_t)n + 1;
  return 0;
}

/* Sends ACTIVATE for the session this standby belongs to, bound to this
 * connection, with the attach version the standby answer named. */
static int send_activate(struct probe *p) {
  struct jvpn_wire_activate a;
  uint8_t bind[JVPN_BIND_LEN], val[JVPN_WIRE_ACTIVATE_MAX];
  long n;

  memset(&a, 0, sizeof(a));
  a.nonce = p->nonce + 1;
  if (jvpn_wire_parse_version(p->sversion, strlen(p->sversion),
                              &a.version) != 0 ||
      transport_export(&p->tp, JVPN_EXPORTER_BIND_LABEL, NULL, 0, bind,
                       sizeof(bind)) != 0 ||
      jvpn_proof_compute(p->secret, p->sid, a.nonce, JVPN_ROLE_ACTIVATE, bind,
                         a.proof) != 0)
    return -1;
  n = jvpn_wire_encode_activate(val, sizeof(val), &a);
  if (n < 0)
    return -1;
  return transport_send_capsule(&p->tp, JVPN_CAPSULE_ACTIVATE, val,
                                (size_t)n) == 0
             ? 0
             : -1;
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
  const char *nonce_s = NULL, *timeout_s = NULL, *v = NULL;
  const char *secret_file = NULL, *act_s = NULL, *hold_s = NULL;
  unsigned long act_ms = 0, hold_ms = 0;
  char file_version[JVPN_WIRE_VERSION_STR_LEN];
  int standby = 0, tcp = 0;
  struct sockaddr_storage srv;
  socklen_t srv_len;
  struct quic_cred *cred = NULL;
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
    else if (strcmp(a, "--secret-file") == 0)
      dst = &secret_file;
    else if (strcmp(a, "--activate-after") == 0)
      dst = &act_s;
    else if (strcmp(a, "--hold") == 0)
      dst = &hold_s;
    else if (strcmp(a, "--standby") == 0) {
      standby = 1;
      continue;
    } else if (strcmp(a, "--tcp") == 0) {
      tcp = 1;
      continue;
    }
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
      (attach != NULL) + (sid != NULL) + (secret_file != NULL) != 1 ||
      (attach && version == NULL) || (secret_file != NULL) != standby ||
      (act_s && !standby)) {
    usage(stderr);
    return 2;
  }
  if (tool_parse_endpoint(server, &srv, &srv_len) != 0) {
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
  nonce = strtoull(nonce_s ? nonce_s : "1", &end, 10);
  if (errno || *end || nonce == 0 || (nonce_s && nonce_s[0] == '-')) {
    fprintf(stderr, "attach_probe: --nonce: 1..2^64-1\n");
    return 2;
  }
  errno = 0;
  if (act_s)
    act_ms = strtoul(act_s, &end, 10);
  if (errno || (act_s && (*end || act_ms > PROBE_TIMEOUT_MAX_S * 1000UL))) {
    fprintf(stderr, "attach_probe: --activate-after: milliseconds\n");
    return 2;
  }
  if (hold_s)
    hold_ms = strtoul(hold_s, &end, 10);
  if (errno || (hold_s && (*end || hold_ms > PROBE_TIMEOUT_MAX_S * 1000UL))) {
    fprintf(stderr, "attach_probe: --hold: milliseconds\n");
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
  if (tls_identity_global_init() != 0)
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
  if (secret_file) {
    if (load_secret(p, secret_file, file_version, sizeof(file_version)) !=
        0) {
      rc = 2;
      goto out_p;
    }
    p->standby = 1;
    if (nonce_s)
      p->nonce = nonce;
    v = file_version;
  }
  snprintf(p->version, sizeof(p->version), "%s", v);
  if (attach)
    snprintf(p->attach, sizeof(p->attach), "%s", attach);
  else if (sid && forge(p, sid, nonce) != 0) {
    rc = 2;
    goto out_p;
  }
  if (udp_rx_batch_init(&p->rx) != 0)
    goto out_p;
  if (glue_load_cred(&cred, cert, key) != 0)
    goto out_rx;
  snprintf(authority, sizeof(authority), "%s", server);
  if (probe_connect(p, tcp, cred, (const struct sockaddr *)&srv, srv_len,
                    authority) != 0) {
    fprintf(stderr, "attach_probe: cannot connect to %s: %s\n", server,
            strerror(errno));
    goto out_sock;
  }
  run_until(p, glue_now() + (uint64_t)timeout * 1000000000ULL, answered);
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
  if (p->status == 200 && act_s) {
    run_until(p, glue_now() + (uint64_t)act_ms * 1000000ULL, never);
    if (!p->dead && send_activate(p) != 0)
      printf("activate not sent\n");
    else
      run_until(p, glue_now() + (uint64_t)timeout * 1000000000ULL,
                activated);
    if (p->act_done)
      printf("activate status %d version %" PRIu64 "\n", p->act_status,
             p->act_version);
    else
      printf("activate: no result%s%s\n", p->dead ? ": " : "",
             p->dead ? p->why : "");
    fflush(stdout);
    rc = p->act_done ? 0 : 1;
  }
  /* Any answer: a refused connection held open is what a client hoarding
   * connections does (tests/netns/session_bounds.sh (j)). */
  if (hold_s)
    run_until(p, glue_now() + (uint64_t)hold_ms * 1000000ULL, never);
  /* Leave politely (the close is sent at once), so the server does not
   * wait out the idle timeout. */
  if (!p->dead) {
    transport_close(&p->tp, QUIC_END_LOCAL_CLOSE, "attach_probe done",
                    glue_now());
    (void)write_due(p, glue_now());
  }
  transport_del(&p->tp);
out_sock:
  udp_sock_close(&p->sock); /* fd -1 with --tcp: nothing */
  tls_identity_cred_del(cred);
out_rx:
  udp_rx_batch_free(&p->rx);
out_p:
  jvpn_wipe(p->secret, sizeof(p->secret));
  free(p);
out_tls:
  tls_identity_global_deinit();
  return rc;
}
