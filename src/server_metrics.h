/*
 * src/server_metrics: what the server counts for its Prometheus endpoint
 * (docs/operations.md "Metrics"), and the scrape that reads it all from
 * struct server on the loop thread (src/metrics_http.h).
 *
 * Most figures already live where the server keeps them (connections,
 * sessions, the audit writer); this adds what would otherwise be lost or
 * never counted: reason-coded events, counted where their audit records
 * are emitted, and what ended connections and sessions carried, so the
 * byte, packet and drop counters never go back.
 */
#ifndef SRC_SERVER_METRICS_H
#define SRC_SERVER_METRICS_H

#include <stdint.h>

#include "jvpn/audit.h"
#include "jvpn/session.h"

/* Series per session at most ("metrics_per_session = on"). */
#define SRV_METRICS_MAX_SESSIONS 64

/* Drop causes a connection counts (the label "cause"). */
enum srv_conn_drop {
  SRV_DROP_MALFORMED_IP,   /* uplink: not an IP packet */
  SRV_DROP_NOT_ACTIVE,     /* uplink on a standby, or no session */
  SRV_DROP_SPOOFED,        /* uplink: not the client's source address */
  SRV_DROP_TUN_FULL,       /* uplink: the TUN device did not take it */
  SRV_DROP_TOO_BIG,        /* downlink: over the path's datagram room */
  SRV_DROP_QUEUE_FULL,     /* downlink: the send queue was full */
  SRV_DROP_NOT_READY,      /* downlink: before the tunnel was open */
  SRV_DROP_SILENT_PATH,    /* downlink: the peer had gone quiet */
  SRV_DROP_MALFORMED_DGRAM, /* HTTP Datagram framing */
  SRV_DROP_UNKNOWN_CONTEXT, /* HTTP Datagram context ID */
  SRV_DROP_CONN_COUNT
};

/* What connections carried: the live ones are summed at a scrape, the
 * ended ones' figures kept here. */
struct srv_conn_totals {
  uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets; /* IP, from and to
                                                        * the clients */
  uint64_t drop[SRV_DROP_CONN_COUNT];
  uint64_t h3_refused; /* HTTP/3 refusals without nghttp3 (D49) */
};

struct metrics_http;
struct metrics_buf;

struct srv_metrics {
  struct metrics_http *http; /* the endpoint, or NULL */
  double start_s;            /* Unix time the server started */
  uint64_t reattaches;       /* REATTACH_ACCEPT switch records */
  uint64_t births;           /* session_born records */
  uint64_t refused[JVPN_R_COUNT];  /* attach refusals by reason */
  uint64_t switches[JVPN_R_COUNT]; /* switches by reason */
  struct srv_conn_totals gone;     /* of the connections deleted */
  uint64_t drop_unattached_gone;   /* of the sessions freed */
};

struct server;
struct sclient;
struct srv_session;

/* Counts an audit record the session layer emits (births, reattaches,
 * switches); call it for every record whether or not an audit log is
 * configured. */
void srv_metrics_record(struct server *srv, const struct jvpn_audit_record *r);
/* An attach request or authenticated handshake refused for |why|: counts
 * it (srv->sess_refused too). */
void srv_metrics_refused(struct server *srv, enum jvpn_reason why);
/* |sc| is being deleted / |ss| freed: keeps what they counted. */
void srv_metrics_conn_gone(struct server *srv, const struct sclient *sc);
void srv_metrics_session_gone(struct server *srv, const struct srv_session *ss);

/* The scrape: every family, from what |srv| holds now, appended to |b|
 * (b->failed set when it ran out of memory). The endpoint calls it on the
 * loop thread. */
void srv_metrics_render(struct server *srv, struct metrics_buf *b);

/* Opens the endpoint when the config names one (before the privilege
 * drop). Returns 0 or a JVPN_ERR_* (logged). */
int srv_metrics_start(struct server *srv);
/* Closes it (before the loop's handles are walked and closed). */
void srv_metrics_stop(struct server *srv);

#endif /* SRC_SERVER_METRICS_H */
