/* src/glue: loop glue shared by the server and client programs. */
#include <config.h> /* autoconf's: JVPN_TEST_HOOKS */

#include "src/glue.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "quic/tls_identity.h"
#include "jvpn/log.h"
#include "jvpn/session.h"
#include "src/control.h"
#include "tun/icmp_ptb.h"

uint64_t glue_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void glue_timer_arm(uv_timer_t *t, uint64_t expiry, uint64_t now) {
  uint64_t ms;

  if (expiry == UINT64_MAX) {
    uv_timer_stop(t);
    return;
  }
  /* libuv counts whole ms from its cached loop time. A deadline within a
   * millisecond fires on the next turn (pacing needs that); a later one
   * is rounded up, since one that fires early finds nothing due and is
   * re-armed again and again until it is: with thousands of idle
   * connections, each keep-alive costs a burst of empty wake-ups. */
  ms = expiry > now ? (expiry - now) / 1000000ULL : 0;
  if (ms > 0 && (expiry - now) % 1000000ULL != 0)
    ms++;
  uv_timer_start(t, t->timer_cb, ms, 0);
}

const char *glue_sockaddr_str(const struct sockaddr *sa, char *buf,
                              size_t len) {
  char ip[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
  } else {
    snprintf(buf, len, "(family %d)", sa->sa_family);
  }
  return buf;
}

const char *glue_ip_str(int family, const uint8_t *addr, char *buf,
                        size_t len) {
  if (inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
    snprintf(buf, len, "?");
  return buf;
}

void glue_silence_policy(struct quic_silence_policy *out,
                         const struct jvpn_policy *p) {
  memset(out, 0, sizeof(*out));
  out->disabled = p->rx_silence_arrivals == 0;
  out->arrivals = p->rx_silence_arrivals;
  out->floor_ms = (uint32_t)p->rx_silence_floor_ms;
  out->probe_ms = (uint32_t)p->rx_silence_probe_ms;
}

int glue_load_cred(struct quic_cred **cred, const char *cert_file,
                   const char *key_file) {
  char err[320];
  int rv = tls_identity_key_private(key_file, err, sizeof(err));

  if (rv == 0)
    rv = tls_identity_cred_load(cred, cert_file, key_file, err, sizeof(err));
  if (rv != 0)
    LOG_ERR(NULL, "%s", err);
  return rv;
}

static int is_wildcard(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_ANY;
  if (sa->sa_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(
        &((const struct sockaddr_in6 *)sa)->sin6_addr);
  return 0;
}

int glue_send(struct udp_sock *s, const struct quic_path *path,
              const uint8_t *data, size_t len, size_t seg, uint8_t ecn) {
  const struct sockaddr *local = NULL;
  socklen_t local_len = 0;

  if (is_wildcard((const struct sockaddr *)&s->local) &&
      path->local_len > 0 && !is_wildcard(path->local)) {
    local = path->local;
    local_len = path->local_len;
  }
  return udp_sock_send(s, path->remote, path->remote_len, local, local_len,
                       data, len, seg, ecn);
}

void glue_conn_read_batch(struct quic_conn *qc, const struct udp_sock *s,
                          const struct udp_rx_batch *b, int n, uint64_t now,
                          const int *stop) {
  int i;

  for (i = 0; i < n && !*stop; i++) {
    const struct udp_rx_msg *m = &b->msg[i];
    const uint8_t *pkt;
    size_t off = 0, len;

    while (!*stop && udp_rx_msg_next(m, &off, &pkt, &len))
      /* An error ends the connection; ops->closed sets *stop. */
      (void)quic_conn_read(qc, (const struct sockaddr *)&s->local,
                           s->local_len, (const struct sockaddr *)&m->peer,
                           m->peer_len, m->ecn, pkt, len, now);
  }
}

int glue_send_ptb(struct tun_dev *tun, const uint8_t *pkt, size_t len,
                  size_t mtu) {
  uint8_t err[1280];
  long n;

  n = icmp_ptb_build(err, sizeof(err), pkt, len, (uint32_t)mtu);
  if (n <= 0)
    return -1;
  return tun_dev_write(tun, err, (size_t)n) == 0 ? 0 : -1;
}

enum tun_offload glue_tun_offload_mode(int on) {
#ifdef JVPN_TEST_HOOKS
  const char *v = getenv("JVPN_TEST_TUN_REFUSE_OFFLOAD");

  if (on && v != NULL && strcmp(v, "1") == 0)
    return TUN_OFFLOAD_REFUSED;
#endif
  return on ? TUN_OFFLOAD_ON : TUN_OFFLOAD_OFF;
}

void glue_tun_offload_log(const struct tun_dev *t, int asked) {
  if (t->vnet)
    LOG_INFO(NULL, "%s: offloads on (checksum, TSO%s), coalesced writes",
             t->name, t->offloads & 0x20 ? ", USO" : "");
  else if (asked)
    LOG_WARN(NULL, "%s: offloads off, the kernel refused them: %s (%s)",
             t->name, t->fallback ? t->fallback : "?",
             strerror(t->fallback_errno));
  else
    LOG_INFO(NULL, "%s: offloads off (tun_offload = off)", t->name);
}

void glue_tun_stats(char *buf, size_t len, const struct tun_dev *t) {
  snprintf(buf, len,
           "tun_offload=%s tso_reads=%llu gro_writes=%llu gro_segs=%llu "
           "drop_tun_write=%llu",
           t->vnet ? "on" : "off", (unsigned long long)t->tso_reads,
           (unsigned long long)t->gro_writes, (unsigned long long)t->gro_segs,
           (unsigned long long)t->write_drops);
}

void glue_stats_line(char *buf, size_t len, const struct glue_counters *g,
                     const struct transport *t) {
  const struct quic_conn_stats *qs = t ? transport_get_stats(t) : NULL;

  snprintf(buf, len,
           "rx_packets=%llu tx_packets=%llu drop_spoofed=%llu "
           "drop_malformed=%llu drop_no_route=%llu drop_too_big=%llu "
           "drop_queue=%llu drop_tun_full=%llu drop_recovering=%llu "
           "capsules_rx=%llu",
           (unsigned long long)g->rx_packets,
           (unsigned long long)g->tx_packets,
           (unsigned long long)g->drop_spoofed,
           (unsigned long long)(g->drop_malformed +
                                (qs ? qs->drop_malformed + qs->drop_context
                                    : 0)),
           (unsigned long long)g->drop_no_route,
           (unsigned long long)(g->drop_too_big +
                                (qs ? qs->drop_too_big : 0)),
           (unsigned long long)(qs ? qs->drop_queue : 0),
           (unsigned long long)g->drop_tun_full,
           (unsigned long long)g->drop_recovering,
           (unsigned long long)(qs ? qs->capsules_rx : 0));
}

void glue_buf_printf(struct glue_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;

  if (b->failed)
    return;
  for (;;) {
    size_t room = b->cap - b->len;

    va_start(ap, fmt);
    n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    {
      size_t cap = b->cap ? b->cap * 2 : 1024;
      char *p;

      while (cap - b->len <= (size_t)n)
        cap *= 2;
      p = realloc(b->p, cap);
      if (p == NULL) {
        b->failed = 1;
        return;
      }
      b->p = p;
      b->cap = cap;
    }
  }
}

void glue_buf_conn(struct glue_buf *b, struct transport *t, int json) {
  const struct quic_conn_stats *qs = transport_get_stats(t);
  struct quic_path path;
  struct quic_conn_info st;
  char la[64], ra[64];
  uint64_t sent = qs->dgram_acked + qs->dgram_lost;
  double loss = sent ? 100.0 * (double)qs->dgram_lost / (double)sent : 0.0;

  transport_get_info(t, &st);
  transport_get_path(t, &path);
  glue_sockaddr_str(path.local, la, sizeof(la));
  glue_sockaddr_str(path.remote, ra, sizeof(ra));
  glue_buf_printf(
      b,
      json ? "\"local\":\"%s\",\"remote\":\"%s\",\"rtt_ms\":%.3f,"
             "\"min_rtt_ms\":%.3f,\"cwnd\":%llu,\"loss_pct\":%.2f,"
             "\"tx_bytes\":%llu,\"rx_bytes\":%llu,"
             "\"tx_packets\":%llu,\"rx_packets\":%llu,"
             "\"drop_queue\":%llu,"
             "\"udp_payload\":%zu,\"transport\":\"%s\","
             "\"quic_version\":\"0x%08x\""
           : "local=%s remote=%s rtt_ms=%.3f min_rtt_ms=%.3f "
             "cwnd=%llu loss_pct=%.2f tx_bytes=%llu rx_bytes=%llu "
             "tx_packets=%llu rx_packets=%llu drop_queue=%llu "
             "udp_payload=%zu transport=%s quic_version=0x%08x",
      la, ra, (double)st.srtt_ns / 1e6,
      st.min_rtt_ns == UINT64_MAX ? 0.0 : (double)st.min_rtt_ns / 1e6,
      (unsigned long long)st.cwnd, loss, (unsigned long long)qs->tx_bytes,
      (unsigned long long)qs->rx_bytes, (unsigned long long)qs->tx_datagrams,
      (unsigned long long)qs->rx_datagrams, (unsigned long long)qs->drop_queue,
      st.max_udp_payload, transport_kind_name(transport_kind(t)),
      t->qc ? (unsigned)quic_conn_version(t->qc) : 0u);
}

void glue_control_open(struct control **pc, uv_loop_t *loop, const char *path,
                       const char *role,
                       int (*fn)(void *, int, char **, size_t *),
                       void *user) {
  char def[128];
  int rv;

  *pc = NULL;
  if (path && strcmp(path, "none") == 0)
    return;
  if (path == NULL) {
    snprintf(def, sizeof(def), "%s/%s.sock", CONTROL_DEFAULT_DIR, role);
    path = def;
  }
  rv = control_open(pc, loop, path, fn, user);
  if (rv != 0) {
    LOG_WARN(NULL, "no control socket at %s: %s%s", path, jvpn_strerror(rv),
             rv == JVPN_ERR_EXISTS ? " (another daemon uses it; see --control)"
                                   : "");
    *pc = NULL;
    return;
  }
  LOG_INFO(NULL, "control socket %s (jvpn-quic status -s %s)", path, path);
}

void glue_buf_state_times(struct glue_buf *b, const struct jvpn_session *s,
                          uint64_t now_ms, int json) {
  int st;

  glue_buf_printf(b, json ? ",\"time_in_state_s\":{" : "\n    time_in_state_s:");
  for (st = 0; st < JVPN_SS_COUNT; st++) {
    uint64_t ms = s->time_in_state_ms[st];

    if (st == (int)s->state && now_ms > s->state_entered_ms)
      ms += now_ms - s->state_entered_ms;
    glue_buf_printf(b, json ? "%s\"%s\":%.1f" : "%s%s=%.1f",
                    json ? (st ? "," : "") : " ",
                    jvpn_session_state_name((enum jvpn_session_state)st),
                    (double)ms / 1000.0);
  }
  if (json)
    glue_buf_printf(b, "}");
}

int glue_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                 socklen_t *len) {
  struct addrinfo hints, *res = NULL;
  char sport[8];
  int rv;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(sport, sizeof(sport), "%u", port);
  rv = getaddrinfo(host, sport, &hints, &res);
  if (rv != 0 || res == NULL || res->ai_addrlen > sizeof(*ss)) {
    LOG_WARN(NULL, "cannot resolve %s: %s", host,
             rv != 0 ? gai_strerror(rv) : "no usable address");
    if (res != NULL)
      freeaddrinfo(res);
    return JVPN_ERR_NOTFOUND;
  }
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int glue_drop_root(const char *user, enum privdrop_keep keep) {
  char why[200];

  if (user[0] == '\0') {
    if (geteuid() == 0)
      LOG_INFO(NULL, "running as root: set \"user\" in the config to drop "
                     "root after start-up");
    return 0;
  }
  if (privdrop_become(user, keep, why, sizeof(why)) != 0) {
    LOG_ERR(NULL, "cannot drop root: %s", why);
    return -1;
  }
  LOG_INFO(NULL, "running as %s (uid %u), %s, no new privileges", user,
           (unsigned)getuid(),
           keep == PRIVDROP_KEEP_NET_ADMIN ? "keeping CAP_NET_ADMIN"
                                           : "no capabilities");
  return 0;
}

int glue_sandbox(enum jvpn_seccomp mode, enum sandbox_role role) {
  enum sandbox_action act =
      mode == JVPN_SECCOMP_LOG ? SANDBOX_LOG : SANDBOX_KILL;
  char why[200];
  unsigned n = 0;

  if (mode == JVPN_SECCOMP_OFF) {
    LOG_INFO(NULL, "no seccomp filter (seccomp = off)");
    return 0;
  }
  if (sandbox_apply(role, act, &n, why, sizeof(why)) != 0) {
    LOG_ERR(NULL, "cannot apply the seccomp filter: %s", why);
    return -1;
  }
  LOG_INFO(NULL, "seccomp filter on: %u system calls allowed, any other %s", n,
           act == SANDBOX_LOG ? "is only logged (seccomp = log)"
                              : "kills the process");
  return 0;
}

int glue_audit_start(struct jvpn_audit *a) {
  int rv = jvpn_audit_start(a);

  if (rv != 0) {
    LOG_ERR(NULL, "cannot start the audit writer: %s", jvpn_strerror(rv));
    return -1;
  }
  return 0;
}
