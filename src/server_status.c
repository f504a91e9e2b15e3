/*
 * src/server_status: the server's answer to `jvpn-quic status`.
 *
 * Text: a summary line, then one line per session in aligned columns, the
 * way `wg show` lists peers (peer, inner address, state, transport, peer
 * endpoint, RTT, last switch, bytes each way). --json: everything, one
 * object per session with its core state and its active connection's
 * path figures (the format scripts and tests read).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/server_int.h"

enum { COL_PEER, COL_INNER, COL_STATE, COL_TRANSPORT, COL_ENDPOINT, COL_RTT,
       COL_SWITCH, COL_RX, COL_TX, NCOLS };

#define CELL_MAX 64

static const char *const col_title[NCOLS] = {
    "peer", "inner address", "state", "transport", "endpoint", "rtt",
    "last switch", "rx", "tx"};

struct status_row {
  char cell[NCOLS][CELL_MAX];
};

static uint64_t now_ms(void) { return glue_now() / 1000000; }

/* "1.2 MiB", "340 B". */
static void human_bytes(char *buf, size_t len, uint64_t n) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)n;
  size_t u = 0;

  while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%" PRIu64 " B", n);
  else
    snprintf(buf, len, "%.1f %s", v, unit[u]);
}

/* "12 s", "3 min", "2 h", "4 d". */
static void human_age(char *buf, size_t len, uint64_t ms) {
  uint64_t s = ms / 1000;

  if (s < 120)
    snprintf(buf, len, "%" PRIu64 " s", s);
  else if (s < 7200)
    snprintf(buf, len, "%" PRIu64 " min", s / 60);
  else if (s < 172800)
    snprintf(buf, len, "%" PRIu64 " h", s / 3600);
  else
    snprintf(buf, len, "%" PRIu64 " d", s / 86400);
}

/* The inner address column: IPv4, else IPv6, else "-". */
static void inner_address(const struct srv_session *ss, char *buf,
                          size_t len) {
  snprintf(buf, len, "-");
  if (ss->addrs && ss->addrs->has4)
    glue_ip_str(AF_INET, ss->addrs->addr4, buf, len);
  else if (ss->addrs && ss->addrs->has6)
    glue_ip_str(AF_INET6, ss->addrs->addr6, buf, len);
}

/* The active connection's columns; "-" without one. */
static void path_cells(struct status_row *r, struct sclient *sc,
                       uint64_t *rx, uint64_t *tx) {
  const struct quic_conn_stats *st;
  struct quic_conn_info info;
  struct quic_path path;

  if (sc == NULL || sc->dead) {
    snprintf(r->cell[COL_TRANSPORT], CELL_MAX, "-");
    snprintf(r->cell[COL_ENDPOINT], CELL_MAX, "-");
    snprintf(r->cell[COL_RTT], CELL_MAX, "-");
    return;
  }
  snprintf(r->cell[COL_TRANSPORT], CELL_MAX, "%s",
           transport_kind_name(transport_kind(&sc->tp)));
  transport_get_path(&sc->tp, &path);
  glue_sockaddr_str(path.remote, r->cell[COL_ENDPOINT], CELL_MAX);
  transport_get_info(&sc->tp, &info);
  snprintf(r->cell[COL_RTT], CELL_MAX, "%.1f ms",
           (double)info.srtt_ns / 1e6);
  st = transport_get_stats(&sc->tp);
  *rx += st->rx_bytes;
  *tx += st->tx_bytes;
}

static void session_row(struct server *srv, struct srv_session *ss,
                        struct status_row *r) {
  struct jvpn_session *s = jvpn_session_table_find(srv->sessions, ss->id);
  uint64_t rx = ss->rx_bytes, tx = ss->tx_bytes;
  char age[24];

  snprintf(r->cell[COL_PEER], CELL_MAX, "%s", ss->peer->name);
  inner_address(ss, r->cell[COL_INNER], CELL_MAX);
  snprintf(r->cell[COL_STATE], CELL_MAX, "%s",
           s ? jvpn_session_state_name(s->state) : "-");
  path_cells(r, ss->active, &rx, &tx);
  if (ss->last_switch != NULL) {
    human_age(age, sizeof(age), now_ms() - ss->last_switch_ms);
    snprintf(r->cell[COL_SWITCH], CELL_MAX, "%s %s ago", ss->last_switch,
             age);
  } else {
    snprintf(r->cell[COL_SWITCH], CELL_MAX, "-");
  }
  human_bytes(r->cell[COL_RX], CELL_MAX, rx);
  human_bytes(r->cell[COL_TX], CELL_MAX, tx);
}

static void print_row(struct glue_buf *b, const char *const *cell,
                      const size_t *width) {
  int i;

  for (i = 0; i < NCOLS; i++) {
    if (i + 1 < NCOLS)
      glue_buf_printf(b, "%-*s  ", (int)width[i], cell[i]);
    else
      glue_buf_printf(b, "%s\n", cell[i]);
  }
}

static void text_summary(struct server *srv, struct glue_buf *b,
                         size_t nsess) {
  char up[24];

  human_age(up, sizeof(up), now_ms() - srv->started_ms);
  glue_buf_printf(
      b,
      "server %s: %zu sessions, %zu connections (%llu over TCP since start),"
      " up %s\n  attach refused %llu, retries %llu, stateless resets %llu,"
      " half-open %zu, audit %llu written / %llu dropped\n",
      srv->tun.name, nsess, srv->nclients,
      (unsigned long long)srv->tcp_accepted, up,
      (unsigned long long)srv->sess_refused,
      (unsigned long long)srv->retries_sent,
      (unsigned long long)srv->resets_sent, srv->halfopen.count,
      (unsigned long long)jvpn_audit_written(srv->audit),
      (unsigned long long)jvpn_audit_dropped(srv->audit));
  glue_buf_printf(b, "  ");
  srv_store_status(srv, b, 0);
  srv_cluster_status(srv, b, 0);
}

/* The summary, then the sessions as a table. */
static void status_text(struct server *srv, struct glue_buf *b) {
  struct status_row *rows;
  struct srv_session *ss;
  size_t n = 0, i, width[NCOLS];
  const char *cell[NCOLS];
  int c;

  for (ss = srv->sess_list; ss; ss = ss->next)
    n++;
  text_summary(srv, b, n);
  if (n == 0)
    return;
  rows = calloc(n, sizeof(*rows));
  if (rows == NULL) {
    b->failed = 1;
    return;
  }
  for (c = 0; c < NCOLS; c++)
    width[c] = strlen(col_title[c]);
  for (i = 0, ss = srv->sess_list; ss; ss = ss->next, i++) {
    session_row(srv, ss, &rows[i]);
    for (c = 0; c < NCOLS; c++)
      if (strlen(rows[i].cell[c]) > width[c])
        width[c] = strlen(rows[i].cell[c]);
  }
  glue_buf_printf(b, "\n");
  print_row(b, col_title, width);
  for (i = 0; i < n; i++) {
    for (c = 0; c < NCOLS; c++)
      cell[c] = rows[i].cell[c];
    print_row(b, cell, width);
  }
  free(rows);
}

static void json_summary(struct server *srv, struct glue_buf *b) {
  glue_buf_printf(b, "{\"role\":\"server\",\"tun\":\"%s\",\"uptime_s\":%llu,"
                     "\"connections\":%zu,\"tcp_accepted\":%llu,"
                     "\"stateless_resets\":%llu,"
                     "\"retries\":%llu,\"drop_bad_token\":%llu,"
                     "\"tokens_accepted\":%llu,\"drop_unknown_cid\":%llu,"
                     "\"audit_written\":%llu,\"audit_dropped\":%llu,"
                     "\"attach_refused\":%llu,\"drop_no_route\":%llu,"
                     "\"tun_pauses\":%llu,\"tun_pauses_refused\":%llu,"
                     "\"halfopen\":%zu,\"halfopen_evicted\":%llu,",
                  srv->tun.name,
                  (unsigned long long)((now_ms() - srv->started_ms) / 1000),
                  srv->nclients, (unsigned long long)srv->tcp_accepted,
                  (unsigned long long)srv->resets_sent,
                  (unsigned long long)srv->retries_sent,
                  (unsigned long long)srv->drop_bad_token,
                  (unsigned long long)srv->token_accepted,
                  (unsigned long long)srv->drop_unknown_cid,
                  (unsigned long long)jvpn_audit_written(srv->audit),
                  (unsigned long long)jvpn_audit_dropped(srv->audit),
                  (unsigned long long)srv->sess_refused,
                  (unsigned long long)srv->drop_no_route,
                  (unsigned long long)srv->gate.pauses,
                  (unsigned long long)srv->gate.pauses_refused,
                  srv->halfopen.count,
                  (unsigned long long)srv->halfopen.evicted);
  srv_store_status(srv, b, 1);
  srv_cluster_status(srv, b, 1);
  glue_buf_printf(b, ",\"sessions\":[");
}

static void json_session(struct server *srv, struct glue_buf *b,
                         struct srv_session *ss) {
  struct sclient *sc = ss->active;
  char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";

  if (ss->addrs && ss->addrs->has4)
    glue_ip_str(AF_INET, ss->addrs->addr4, a4, sizeof(a4));
  if (ss->addrs && ss->addrs->has6)
    glue_ip_str(AF_INET6, ss->addrs->addr6, a6, sizeof(a6));
  glue_buf_printf(b, "{\"peer\":\"%s\",\"ipv4\":\"%s\",\"ipv6\":\"%s\",",
                  ss->peer->name, a4, a6);
  srv_session_status(srv, b, ss, 1);
  glue_buf_printf(b, ",\"last_switch\":\"%s\"",
                  ss->last_switch ? ss->last_switch : "");
  if (sc && !sc->dead) {
    glue_buf_printf(b, ",\"drop_spoofed\":%llu,",
                    (unsigned long long)sc->ctr.drop_spoofed);
    glue_buf_conn(b, &sc->tp, 1);
  }
  glue_buf_printf(b, "}");
}

static void status_json(struct server *srv, struct glue_buf *b) {
  struct srv_session *ss;

  json_summary(srv, b);
  for (ss = srv->sess_list; ss; ss = ss->next) {
    json_session(srv, b, ss);
    if (ss->next)
      glue_buf_printf(b, ",");
  }
  glue_buf_printf(b, "]}\n");
}

int srv_status(void *user, int json, char **out, size_t *len) {
  struct server *srv = user;
  struct glue_buf b = {0};

  if (json)
    status_json(srv, &b);
  else
    status_text(srv, &b);
  if (b.failed) {
    free(b.p);
    return JVPN_ERR_NOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}
