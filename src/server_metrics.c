/*
 * src/server_metrics: see server_metrics.h. The names follow Prometheus'
 * conventions: the jvpn_ prefix, base units (bytes, seconds, ratios),
 * counters end in _total; labels take bounded values only (states,
 * reason codes, causes, roles, transports), session IDs only with
 * "metrics_per_session = on" and then for SRV_METRICS_MAX_SESSIONS at
 * most. docs/operations.md lists every family.
 */
#include "src/server_metrics.h"

#include <config.h> /* autoconf's: PACKAGE_VERSION */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jvpn/log.h"
#include "src/metrics.h"
#include "src/metrics_http.h"
#include "src/server_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const drop_names[SRV_DROP_CONN_COUNT] = {
    [SRV_DROP_MALFORMED_IP] = "malformed_ip",
    [SRV_DROP_NOT_ACTIVE] = "not_active",
    [SRV_DROP_SPOOFED] = "spoofed_source",
    [SRV_DROP_TUN_FULL] = "tun_full",
    [SRV_DROP_TOO_BIG] = "too_big",
    [SRV_DROP_QUEUE_FULL] = "queue_full",
    [SRV_DROP_NOT_READY] = "not_ready",
    [SRV_DROP_SILENT_PATH] = "silent_path",
    [SRV_DROP_MALFORMED_DGRAM] = "malformed_datagram",
    [SRV_DROP_UNKNOWN_CONTEXT] = "unknown_context",
};

/* Reasons always exposed, at 0 before the first event, so that rate() and
 * increase() see the first one. */
static const enum jvpn_reason refusal_reasons[] = {
    JVPN_R_MALFORMED_REQUEST, JVPN_R_RATE_LIMITED,
    JVPN_R_UNKNOWN_SESSION,   JVPN_R_SESSION_TERMINATED,
    JVPN_R_TTL_EXPIRED,       JVPN_R_PIN_MISMATCH,
    JVPN_R_BAD_PROOF,         JVPN_R_REPLAY,
    JVPN_R_STALE_VERSION,     JVPN_R_POLICY_DENY,
    JVPN_R_POLICY_FLAP_LIMIT,
};
static const enum jvpn_reason switch_reasons[] = {
    JVPN_R_NAT_REBIND,   JVPN_R_PATH_MIGRATED, JVPN_R_TRANSPORT_SWITCH_OK,
    JVPN_R_TCP_FALLBACK, JVPN_R_QUIC_RETURN,
};

/* --- counting ------------------------------------------------------------ */

static int reason_of(const char *name, enum jvpn_reason *r) {
  int i;

  for (i = 0; name != NULL && i < JVPN_R_COUNT; i++)
    if (strcmp(jvpn_reason_name((enum jvpn_reason)i), name) == 0) {
      *r = (enum jvpn_reason)i;
      return 0;
    }
  return -1;
}

void srv_metrics_record(struct server *srv, const struct jvpn_audit_record *r) {
  struct srv_metrics *m = &srv->metrics;
  enum jvpn_reason why;

  if (r->event == NULL)
    return;
  if (strcmp(r->event, "session_born") == 0) {
    m->births++;
    return;
  }
  if (r->kind != JVPN_AUDIT_SWITCH && strcmp(r->event, "transport_switch") != 0)
    return;
  if (reason_of(r->reason, &why) != 0)
    return;
  /* A reattach moves the session to a new connection: counted on its own,
   * not as a switch (a transport change it brings is one, after it). */
  if (why == JVPN_R_REATTACH_ACCEPT)
    m->reattaches++;
  else
    m->switches[why]++;
}

void srv_metrics_refused(struct server *srv, enum jvpn_reason why) {
  srv->sess_refused++;
  if ((int)why >= 0 && why < JVPN_R_COUNT)
    srv->metrics.refused[why]++;
}

static void conn_add(struct srv_conn_totals *t, const struct sclient *sc) {
  const struct quic_conn_stats *qs = transport_get_stats(&sc->tp);

  t->rx_bytes += sc->ctr.rx_bytes;
  t->tx_bytes += sc->ctr.tx_bytes;
  t->rx_packets += sc->ctr.rx_packets;
  t->tx_packets += sc->ctr.tx_packets;
  t->drop[SRV_DROP_MALFORMED_IP] += sc->ctr.drop_malformed;
  t->drop[SRV_DROP_NOT_ACTIVE] += sc->ctr.drop_no_route;
  t->drop[SRV_DROP_SPOOFED] += sc->ctr.drop_spoofed;
  t->drop[SRV_DROP_TUN_FULL] += sc->ctr.drop_tun_full;
  t->drop[SRV_DROP_TOO_BIG] += qs->drop_too_big;
  t->drop[SRV_DROP_QUEUE_FULL] += qs->drop_queue;
  t->drop[SRV_DROP_NOT_READY] += qs->drop_not_ready;
  t->drop[SRV_DROP_SILENT_PATH] += qs->drop_silent;
  t->drop[SRV_DROP_MALFORMED_DGRAM] += qs->drop_malformed;
  t->drop[SRV_DROP_UNKNOWN_CONTEXT] += qs->drop_context;
  t->h3_refused += qs->drop_h3_frames;
}

void srv_metrics_conn_gone(struct server *srv, const struct sclient *sc) {
  conn_add(&srv->metrics.gone, sc);
}

void srv_metrics_session_gone(struct server *srv,
                              const struct srv_session *ss) {
  srv->metrics.drop_unattached_gone += ss->drop_unattached;
}

/* --- the scrape ---------------------------------------------------------- */

static void counter(struct metrics_buf *b, const char *name, const char *help,
                    uint64_t v) {
  metrics_family(b, name, "counter", help);
  metrics_u64(b, name, NULL, 0, v);
}

static void gauge(struct metrics_buf *b, const char *name, const char *help,
                  double v) {
  metrics_family(b, name, "gauge", help);
  metrics_f64(b, name, NULL, 0, v);
}

/* NAME{LABEL="reason"} for the |always| reasons and every other one that
 * counted something. */
static void by_reason(struct metrics_buf *b, const char *name, const char *help,
                      const uint64_t *v, const enum jvpn_reason *always,
                      size_t nalways) {
  struct metrics_label l = {"reason", NULL};
  int i;
  size_t k;

  metrics_family(b, name, "counter", help);
  for (i = 0; i < JVPN_R_COUNT; i++) {
    int listed = 0;

    for (k = 0; k < nalways; k++)
      listed |= always[k] == (enum jvpn_reason)i;
    if (!listed && v[i] == 0)
      continue;
    l.value = jvpn_reason_name((enum jvpn_reason)i);
    metrics_u64(b, name, &l, 1, v[i]);
  }
}

static void sessions(struct metrics_buf *b, struct server *srv) {
  uint64_t n[JVPN_SS_COUNT] = {0};
  struct metrics_label l = {"state", NULL};
  struct srv_session *ss;
  int i;

  for (ss = srv->sess_list; ss; ss = ss->next) {
    struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);

    if (s != NULL && s->state < JVPN_SS_COUNT)
      n[s->state]++;
  }
  metrics_family(b, "jvpn_sessions", "gauge",
                 "Sessions by state (docs/state-machine.md).");
  for (i = 0; i < JVPN_SS_COUNT; i++) {
    l.value = jvpn_session_state_name((enum jvpn_session_state)i);
    metrics_u64(b, "jvpn_sessions", &l, 1, n[i]);
  }
  counter(b, "jvpn_session_births_total", "Sessions born.",
          srv->metrics.births);
  counter(b, "jvpn_reattaches_total",
          "Reattaches accepted: a session moved to a new connection "
          "(REATTACH_ACCEPT).",
          srv->metrics.reattaches);
  by_reason(b, "jvpn_attach_refusals_total",
            "Attach requests, activations and authenticated handshakes "
            "refused, by reason code (docs/reason-codes.md).",
            srv->metrics.refused, refusal_reasons, NELEM(refusal_reasons));
  by_reason(b, "jvpn_switches_total",
            "Moves of a session's data other than reattaches: a new path of "
            "its connection (NAT_REBIND, PATH_MIGRATED), a standby activated "
            "(TRANSPORT_SWITCH_OK), a change of transport (TCP_FALLBACK, "
            "QUIC_RETURN), by reason code.",
            srv->metrics.switches, switch_reasons, NELEM(switch_reasons));
}

/* The live connections' attachments, figures and paths. */
struct conn_view {
  uint64_t att[2][2]; /* [standby, active][quic, tcp] */
  uint64_t lean;      /* QUIC connections without nghttp3 (D49) */
  struct srv_conn_totals t;
  double *rtt, *loss; /* one per active path (owned) */
  size_t nrtt, nloss;
};

static void path_of(struct sclient *sc, double *rtt_s, double *loss) {
  const struct quic_conn_stats *qs = transport_get_stats(&sc->tp);
  struct quic_conn_info info;
  uint64_t sent = qs->dgram_acked + qs->dgram_lost;

  transport_get_info(&sc->tp, &info);
  *rtt_s = info.srtt_ns ? (double)info.srtt_ns / 1e9 : -1;
  *loss = sent ? (double)qs->dgram_lost / (double)sent : -1;
}

static int conn_view(struct server *srv, struct conn_view *v) {
  size_t max = srv->nclients ? srv->nclients : 1;
  struct sclient *sc;

  memset(v, 0, sizeof(*v));
  v->t = srv->metrics.gone;
  v->rtt = malloc(max * sizeof(double));
  v->loss = malloc(max * sizeof(double));
  if (v->rtt == NULL || v->loss == NULL)
    return -1;
  for (sc = srv->clients; sc; sc = sc->next) {
    int active = sc->sess != NULL && sc->sess->active == sc;
    double rtt, loss;

    conn_add(&v->t, sc);
    if (!sc->dead && transport_get_stats(&sc->tp)->h3_released)
      v->lean++;
    if (sc->sess == NULL || sc->dead)
      continue;
    v->att[active][transport_kind(&sc->tp) == TRANSPORT_TCP]++;
    if (!active)
      continue;
    path_of(sc, &rtt, &loss);
    if (rtt >= 0 && v->nrtt < max)
      v->rtt[v->nrtt++] = rtt;
    if (loss >= 0 && v->nloss < max)
      v->loss[v->nloss++] = loss;
  }
  return 0;
}

static void traffic(struct metrics_buf *b, struct server *srv,
                    struct conn_view *v) {
  static const char *const role[2] = {"standby", "active"};
  static const char *const kind[2] = {"quic", "tcp"};
  struct metrics_label l[2] = {{"role", NULL}, {"transport", NULL}};
  struct metrics_label dir = {"direction", NULL};
  struct metrics_label cause = {"cause", NULL};
  const struct {
    const char *name;
    uint64_t v;
  } server_drops[] = {
      {"no_route", srv->drop_no_route},
      {"malformed_tun", srv->drop_malformed_tun},
      {"unknown_cid", srv->drop_unknown_cid},
      {"quic_version", srv->drop_version},
      {"bad_token", srv->drop_bad_token},
  };
  struct srv_session *ss;
  uint64_t unattached = srv->metrics.drop_unattached_gone;
  size_t i, k;

  metrics_family(b, "jvpn_attachments", "gauge",
                 "Live attachments (connections carrying a session) by role "
                 "and transport.");
  for (i = 0; i < 2; i++)
    for (k = 0; k < 2; k++) {
      l[0].value = role[1 - i];
      l[1].value = kind[k];
      metrics_u64(b, "jvpn_attachments", l, 2, v->att[1 - i][k]);
    }
  gauge(b, "jvpn_connections", "Connections, authenticated or not.",
        (double)srv->nclients);
  metrics_family(b, "jvpn_ip_bytes_total", "counter",
                 "Bytes of IP packets through the tunnels: uplink from the "
                 "clients to the TUN device, downlink from it to them.");
  dir.value = "uplink";
  metrics_u64(b, "jvpn_ip_bytes_total", &dir, 1, v->t.rx_bytes);
  dir.value = "downlink";
  metrics_u64(b, "jvpn_ip_bytes_total", &dir, 1, v->t.tx_bytes);
  metrics_family(b, "jvpn_ip_packets_total", "counter",
                 "IP packets through the tunnels (as jvpn_ip_bytes_total).");
  dir.value = "uplink";
  metrics_u64(b, "jvpn_ip_packets_total", &dir, 1, v->t.rx_packets);
  dir.value = "downlink";
  metrics_u64(b, "jvpn_ip_packets_total", &dir, 1, v->t.tx_packets);

  for (ss = srv->sess_list; ss; ss = ss->next)
    unattached += ss->drop_unattached;
  metrics_family(b, "jvpn_drops_total", "counter",
                 "Packets dropped, by cause (docs/operations.md).");
  for (i = 0; i < SRV_DROP_CONN_COUNT; i++) {
    cause.value = drop_names[i];
    metrics_u64(b, "jvpn_drops_total", &cause, 1, v->t.drop[i]);
  }
  for (i = 0; i < NELEM(server_drops); i++) {
    cause.value = server_drops[i].name;
    metrics_u64(b, "jvpn_drops_total", &cause, 1, server_drops[i].v);
  }
  cause.value = "unattached";
  metrics_u64(b, "jvpn_drops_total", &cause, 1, unattached);

  metrics_summary(b, "jvpn_path_rtt_seconds",
                  "Smoothed RTT of the active paths now, over sessions "
                  "(computed at the scrape; _count is the paths measured).",
                  NULL, 0, v->rtt, v->nrtt);
  metrics_summary(b, "jvpn_path_loss_ratio",
                  "Share of sent datagrams lost on the active paths since "
                  "each connection started, over sessions (QUIC only; "
                  "computed at the scrape).",
                  NULL, 0, v->loss, v->nloss);
}

/* Longer keep-alives granted to quiet tunnels (docs/decisions.md D47). */
static void quiet_grants(struct metrics_buf *b, const struct server *srv) {
  struct metrics_label path = {"path", "nat"};

  metrics_family(b, "jvpn_quiet_keepalives_total", "counter",
                 "Longer keep-alives granted to quiet tunnels, by the path "
                 "seen: behind a NAT (4 s) or open (25 s).");
  metrics_u64(b, "jvpn_quiet_keepalives_total", &path, 1,
              srv->quiet_grants[0]);
  path.value = "open";
  metrics_u64(b, "jvpn_quiet_keepalives_total", &path, 1,
              srv->quiet_grants[1]);
  metrics_family(b, "jvpn_nat_refresh_offers_total", "counter",
                 "Quiet tunnels behind a NAT offered the open path's "
                 "keep-alive if they refresh the mapping with a one-byte "
                 "datagram at the NAT's interval (D52).");
  metrics_u64(b, "jvpn_nat_refresh_offers_total", NULL, 0,
              srv->nat_refresh_offers);
}

/* Tunnels carried without nghttp3 (docs/decisions.md D49). */
static void h3_released(struct metrics_buf *b, const struct conn_view *v) {
  gauge(b, "jvpn_connections_without_nghttp3",
        "QUIC connections whose tunnel is carried without nghttp3 now "
        "(released once the CONNECT-IP request was answered).",
        (double)v->lean);
  counter(b, "jvpn_h3_refusals_total",
          "HTTP/3 frames or streams refused on connections without nghttp3: "
          "each closed its connection or refused one new stream.",
          v->t.h3_refused);
}

/* "metrics_per_session = on": a few series per session, capped. */
static void per_session(struct metrics_buf *b, struct server *srv) {
  struct metrics_label l[4] = {
      {"session", NULL}, {"peer", NULL}, {"state", NULL}, {"transport", NULL}};
  struct srv_session *ss;
  size_t n = 0, omitted = 0;

  metrics_family(b, "jvpn_session_info", "gauge",
                 "One series per session: its state and transport (value 1).");
  for (ss = srv->sess_list; ss; ss = ss->next) {
    struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);

    if (s == NULL)
      continue;
    if (n++ >= SRV_METRICS_MAX_SESSIONS) {
      omitted++;
      continue;
    }
    l[0].value = ss->idstr;
    l[1].value = ss->peer->name;
    l[2].value = jvpn_session_state_name(s->state);
    l[3].value = ss->active
                     ? transport_kind_name(transport_kind(&ss->active->tp))
                     : "none";
    metrics_u64(b, "jvpn_session_info", l, 4, 1);
  }
  metrics_family(b, "jvpn_session_path_rtt_seconds", "gauge",
                 "Smoothed RTT of the session's active path.");
  n = 0;
  for (ss = srv->sess_list; ss && n < SRV_METRICS_MAX_SESSIONS; ss = ss->next) {
    double rtt, loss;

    if (ss->active == NULL || ss->active->dead)
      continue;
    n++;
    path_of(ss->active, &rtt, &loss);
    if (rtt < 0)
      continue;
    l[0].value = ss->idstr;
    l[1].value = ss->peer->name;
    metrics_f64(b, "jvpn_session_path_rtt_seconds", l, 2, rtt);
  }
  gauge(b, "jvpn_metrics_sessions_omitted",
        "Sessions left out of the per-session series (over the cap).",
        (double)omitted);
}

void srv_metrics_render(struct server *srv, struct metrics_buf *b) {
  struct metrics_label version = {"version", PACKAGE_VERSION};
  struct conn_view v;

  metrics_family(b, "jvpn_build_info", "gauge",
                 "The jvpn-quic build (value 1).");
  metrics_u64(b, "jvpn_build_info", &version, 1, 1);
  gauge(b, "jvpn_process_start_time_seconds",
        "Start time of the server since the Unix epoch.", srv->metrics.start_s);
  sessions(b, srv);
  if (conn_view(srv, &v) == 0) {
    traffic(b, srv, &v);
    h3_released(b, &v);
  } else {
    b->failed = 1;
  }
  free(v.rtt);
  free(v.loss);
  counter(b, "jvpn_audit_records_written_total",
          "Audit records written to the audit log.",
          jvpn_audit_written(srv->audit));
  counter(b, "jvpn_audit_records_dropped_total",
          "Audit records dropped (the writer's ring was full).",
          jvpn_audit_dropped(srv->audit));
  counter(b, "jvpn_quic_retries_sent_total", "QUIC Retry packets sent.",
          srv->retries_sent);
  counter(b, "jvpn_quic_stateless_resets_sent_total",
          "QUIC stateless resets sent.", srv->resets_sent);
  quiet_grants(b, srv);
  if (srv->conf.metrics_per_session)
    per_session(b, srv);
}

static void render(void *user, struct metrics_buf *b) {
  srv_metrics_render(user, b);
}

/* --- set-up -------------------------------------------------------------- */

int srv_metrics_start(struct server *srv) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  srv->metrics.start_s =
      (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
  if (srv->conf.metrics_len == 0)
    return 0;
  return metrics_http_open(&srv->metrics.http, srv->loop,
                           (const struct sockaddr *)&srv->conf.metrics,
                           srv->conf.metrics_len, render, srv);
}

void srv_metrics_stop(struct server *srv) {
  metrics_http_close(srv->metrics.http);
  srv->metrics.http = NULL;
}
