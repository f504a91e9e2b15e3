/*
 * src/server_int: the server program's internal state, shared by
 * src/server.c (sockets, TUN, connections) and src/server_session.c (the
 * session layer: births, reattaches, timers, audit). Not a public contract.
 */
#ifndef SRC_SERVER_INT_H
#define SRC_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "jvpn/audit.h"
#include "jvpn/session.h"
#include "jvpn/store.h"
#include "quic/quic_conn.h"
#include "quic/transport.h"
#include "src/addr_pool.h"
#include "src/config.h"
#include "src/glue.h"
#include "src/halfopen.h"
#include "src/peer_table.h"
#include "src/server_metrics.h"
#include "src/session_table.h"
#include "src/tun_gate.h"

/* What the store last got of a session (src/server_store.c): a write
 * happens when any of it changed. */
struct srv_store_mark {
  uint64_t state_version, attach_version, nonce_top, switches, attachment;
  int stored; /* the store holds a record of it */
};

/* The program's side of one session: what the sans-I/O core does not
 * hold. Lives from birth until the session table releases the session. */
struct srv_session {
  uint8_t id[JVPN_SESSION_ID_LEN];
  char idstr[24];                    /* base64url, for logs and status */
  const struct jvpn_peer_conf *peer; /* owner */
  const struct addr_pool_entry *addrs;
  struct sclient *active;            /* connection carrying it, or NULL */
  struct sclient *conns;             /* every connection attached to it */
  enum transport_kind kind;          /* the last active one's transport */
  int routed;                        /* its addresses are in by_addr */
  int terminated;                    /* awaiting the sweep */
  struct srv_session *prev, *next;
  uint64_t drop_unattached;          /* downlink packets while recovering */
  uint64_t rx_bytes, tx_bytes;       /* IP bytes of its ended attachments */
  const char *last_switch;           /* reason code of the last switch */
  uint64_t last_switch_ms;           /* ... and when; NULL, 0: none */
  struct srv_store_mark stored;      /* src/server_store.c */
  struct srv_store_mark storing;     /* written, awaiting the commit */
  struct srv_session *store_prev, *store_next; /* in srv->store_q */
  int store_queued;                  /* in srv->store_q */
  int moved;                         /* another node took it (D44): to be
                                      * released here */
};


/* This node's side of a shared store (src/server_cluster.c, D44). */
struct srv_cluster {
  int reachable;               /* the store answered the last renewal */
  uint64_t change_ms;          /* when |reachable| last changed */
  uv_timer_t lease;            /* renews the node's lease */
  uv_timer_t moved_timer;      /* releases sessions other nodes took */
  uv_timer_t fence;            /* while cut off: gives up silent clients */
  uint64_t takeovers, take_refused, moved, births_refused, route_errors;
};

/* Per client pin (src/server_pins.c). */
struct srv_pin {
  uint32_t conns;             /* live connections (pin_max_connections) */
  struct srv_session *sess;   /* its current session, or NULL */
};

/* One connection, QUIC or HTTP/2 over TCP (and, once admitted, one
 * tunnel). */
struct sclient {
  struct server *srv;
  struct transport tp;
  uv_poll_t *tcp_poll;  /* TCP: its socket's watcher (owned) */
  uv_timer_t timer;
  struct sclient *prev, *next;
  const struct jvpn_peer_conf *peer; /* set when the pin is known */
  struct srv_session *sess;          /* its session, once attached */
  struct sclient *sess_prev, *sess_next; /* that session's connections */
  uint64_t att;                      /* its attachment ID in that session */
  uint64_t created_ms;               /* first packet (proof age) */
  int dead;             /* ended: delete after the current call */
  int pin_counted;      /* counted in its pin's srv_pin.conns */
  int dirty;            /* has queued packets to write */
  int sock;             /* index of the socket it arrived on */
  struct quic_cid odcid; /* the client's first DCID (Initial packets) */
  uint8_t odcid_digest[16]; /* its key in by_odcid */
  int odcid_filed;       /* it is in by_odcid */
  struct halfopen_node halfopen; /* filed until its client authenticates */
  struct glue_counters ctr;
  char ctx[96];
};

/* A peer list a reload replaced, kept while a session or connection of a
 * removed peer still points into it (src/server_reload.c). */
struct retired_peers {
  struct jvpn_peer_conf *peers;
  size_t n;
  struct retired_peers *next;
};

struct server {
  uv_loop_t *loop;
  struct jvpn_server_conf conf;
  char conf_path[JVPN_PATH_MAX]; /* re-read on SIGHUP */
  int verbosity;                 /* -v count, added to log_level */
  struct retired_peers *retired;
  int dns_sent;                  /* a DNS configuration went out: from
                                  * then on every attachment gets one, an
                                  * empty one once a reload removed the
                                  * dns lines (it clears the clients') */
  struct quic_cred *cred;
  struct udp_sock sock[JVPN_MAX_LISTEN];
  uv_poll_t sock_poll[JVPN_MAX_LISTEN];
  size_t nsock;
  int tcp_fd[JVPN_MAX_LISTEN];    /* HTTP/2 fallback listeners */
  uv_poll_t tcp_poll[JVPN_MAX_LISTEN];
  size_t ntcp;
  uint64_t tcp_accepted;          /* TCP connections accepted */
  struct udp_rx_batch rx;
  struct tun_dev tun;
  uv_poll_t tun_poll;
  struct tun_gate gate;      /* may TUN reads pause for a busy queue? */
  uv_timer_t tun_resume;     /* ends a pause at the latest */
  struct addr_pool pool;
  struct peer_table by_addr; /* inner address -> srv_session */
  struct peer_table by_cid;  /* 16-byte connection ID -> sclient */
  struct peer_table by_odcid; /* keyed digest of a client's first DCID ->
                               * sclient (quic_pkt_cid_digest) */
  uint8_t odcid_key[32];     /* random per process */
  struct halfopen halfopen;  /* unauthenticated connections per source */
  struct sclient *clients;
  size_t nclients;
  struct sclient *dirty[JVPN_TUN_BATCH];
  size_t ndirty;
  uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
  struct control *control;
  uint64_t started_ms;
  uint8_t reset_secret[32];  /* stateless reset tokens; from the key */
  uint64_t reset_window_ms;  /* stateless reset rate limit */
  uint32_t resets_in_window;
  uint64_t vn_window_ms;     /* Version Negotiation rate limit */
  uint32_t vns_in_window;
  uint8_t retry_secret[32];  /* Retry tokens (from the key file) */
  uint8_t token_secret[32];  /* NEW_TOKEN tokens (from the key file) */
  uint64_t token_accepted;   /* Initials whose NEW_TOKEN skipped a Retry */
  uint64_t new_window_ms;    /* new connections in this second ... */
  uint32_t new_in_window;    /* ... for "retry = auto" */
  uint64_t retries_sent, drop_bad_token;
  uint64_t drop_no_route, drop_malformed_tun, drop_unknown_cid;
  uint64_t drop_version; /* long headers of another QUIC version */
  uint64_t resets_sent;
  uint64_t quiet_grants[2];  /* longer keep-alives granted (D47): [0]
                              * behind a NAT, [1] on an open path */
  uint64_t nat_refresh_offers; /* ... of them with a NAT refresh (D52) */
  /* the session layer (src/server_session.c) */
  struct jvpn_session_table *sessions;
  struct peer_table by_session; /* 16-byte session ID -> srv_session */
  struct srv_session *sess_list;
  uv_timer_t sess_timer;        /* session table deadlines */
  uint64_t sweep_at;            /* ms the sweep is armed for, if active */
  struct jvpn_audit *audit;
  uint64_t sess_refused;        /* attach requests refused */
  struct srv_metrics metrics;   /* src/server_metrics.c */
  struct jvpn_store *store;     /* NULL: store = off, or it failed */
  const char *store_state;      /* "lmdb", "off", "unavailable" */
  uint64_t store_restored, store_expired, store_dropped; /* at start */
  uint64_t store_load_us;       /* loading them at start took (us) */
  int store_loading;            /* srv_store_start is loading */
  struct srv_session *store_q;  /* sessions whose record is to be written
                                 * (srv_store_flush, D48) */
  int store_flushing;           /* srv_store_flush runs */
  uv_check_t store_check;       /* flushes once per loop iteration */
  struct srv_cluster cluster;   /* store = redis (src/server_cluster.c) */
  struct srv_pin *pins;         /* per peer (src/server_pins.c) */
  uint8_t tunbuf[JVPN_TUN_BUF]; /* a super-packet with offloads */
};

/* src/server.c calls src/server_session.c, never the other way round:
 * the session side ends a connection by closing it and arming its timer
 * (sclient_close_later there), which server.c's callback then deletes. */

/* --- src/server_session.c ---------------------------------------------- */

/* Sets up the session table, the audit writer and the sweep timer.
 * Returns 0 or a JVPN_ERR_*; logs why. */
int srv_sessions_init(struct server *srv);
/* Terminates nothing; frees everything (secrets wiped). */
void srv_sessions_free(struct server *srv);

/* Answers a CONNECT-IP request: births a session, or validates a
 * reattach (src/session_table.h's gate) and moves the session here. */
void srv_tunnel_request(struct sclient *sc, const struct quic_tunnel_req *req,
                        struct quic_tunnel_resp *resp);
/* An ACTIVATE capsule on |sc|'s CONNECT-IP stream: validates it through
 * the gate and, if accepted, moves the session's data here; answers with
 * ACTIVATE_RESULT either way. Returns JVPN_ERR_MALFORMED for a value that
 * does not parse (the caller aborts the stream), else 0 or the send's
 * error. */
int srv_activate(struct sclient *sc, const uint8_t *value, size_t len);
/* |sc| ended: its attachment is dead. */
void srv_conn_ended(struct sclient *sc);
/* ngtcp2 validated and moved to a new path of |sc|'s connection. */
void srv_path_changed(struct sclient *sc, int same_ip);
/* The client went quiet on this connection (|started|) or came back, after
 * |ms|: audited (quic_conn probes the path itself). */
void srv_rx_silence(struct sclient *sc, int started, uint64_t ms);

/* A configuration reload (src/server_reload.c), before the server takes
 * |nc|'s peers and the pool |np|: ends the sessions of peers |nc| no
 * longer lists or whose addresses changed, closes the connections of
 * removed peers, and points everything else at |nc|'s peers and |np|'s
 * entries. Returns the number of sessions ended. */
size_t srv_sessions_reload(struct server *srv,
                           const struct jvpn_server_conf *nc,
                           const struct addr_pool *np);

/* |sc|'s client just authenticated: 0 if its pin holds at most
 * JVPN_CONNS_PER_PIN live connections with this one, else -1 (logged,
 * audited: the handshake is refused), so one pin (a stolen key) cannot take
 * the server's connection budget. */
int srv_pin_admit(struct sclient *sc);

/* The session that owns inner address |addr|, or NULL. */
struct srv_session *srv_session_by_addr(struct server *srv, int family,
                                        const uint8_t *addr);

/* For src/server_store.c: a session loaded from the store gets its
 * program side (owner |peer|, addresses |addrs|, routed); events and
 * records go through the same paths as the loop's. */
struct srv_session *srv_session_adopt(struct server *srv, const uint8_t *id,
                                      const struct jvpn_peer_conf *peer,
                                      const struct addr_pool_entry *addrs);
int srv_session_event(struct server *srv, struct srv_session *ss,
                      const struct jvpn_session_event *ev);
void srv_session_emit(struct server *srv, struct jvpn_session_out *out);
/* Runs the table's timers now (TTL expiries) and re-arms them. */
void srv_sessions_sweep(struct server *srv);
/* |sc|'s attachment ends now (if it is its session's active one): the
 * session goes RECOVERING and the connection closes with |why|. */
void srv_session_give_up(struct sclient *sc, const char *why);
/* |ss| is served elsewhere now (D44): its connections close, it leaves
 * the table and the routes, and nothing is audited as its end (it lives
 * on at the other node). */
void srv_session_release(struct server *srv, struct srv_session *ss);

/* --- src/server_store.c (D41) ------------------------------------------ */

/* Opens the store of |srv->conf| (before the privilege drop) and loads its
 * sessions into the table and the address pool: each starts RECOVERING,
 * those whose TTL passed while the server was down are terminated with
 * their reason. A store that cannot be opened is logged and left off.
 * Returns 0 (the server runs either way). */
int srv_store_start(struct server *srv);
/* Queues |ss| for writing if the store's copy is behind (state_version,
 * attach version, replay window, switch budget, attachment), or deletes
 * it at once when TERMINATED. The queue is written by srv_store_flush. */
void srv_store_sync(struct server *srv, struct srv_session *ss);
/* Writes every queued session in one transaction (one flush to disk,
 * D48). Runs before any connection writes (sclient_flush: an answer never
 * leaves before what it promises is stored) and once per loop iteration;
 * a store without batches writes each record by itself. */
void srv_store_flush(struct server *srv);
/* Takes |ss| off the queue (it is being freed). */
void srv_store_forget(struct server *srv, struct srv_session *ss);
/* Puts a stored session |r| back into the table (a start's load, or a
 * takeover): RECOVERING when it had a connection, |why| saying where
 * that went; ended at once when its TTL passed meanwhile. Returns 0 when
 * it is live here, JVPN_ERR_NOTFOUND when it is not (ended, or dropped:
 * logged and audited). */
int srv_store_restore(struct server *srv, const struct jvpn_store_record *r,
                      const char *why);
/* An INFO audit record |event| (|reason| may be NULL) of the store's or
 * the cluster's, about session |id| (NULL: the node itself). */
void srv_store_audit(struct server *srv, const uint8_t *id, const char *event,
                     const char *reason, const char *detail);
/* Closes the store (records stay for the next start). */
void srv_store_stop(struct server *srv);
/* The store's part of a status answer. */
void srv_store_status(struct server *srv, struct glue_buf *b, int json);

/* --- src/server_pins.c -------------------------------------------------- */

/* The entry of |peer| (of the running list), or NULL. */
struct srv_pin *srv_pin_of(struct server *srv,
                           const struct jvpn_peer_conf *peer);
/* One entry per peer; 0 or JVPN_ERR_NOMEM. */
int srv_pins_init(struct server *srv);
void srv_pins_free(struct server *srv);
/* |sc| authenticated as its peer / is deleted: its pin's count moves. */
void srv_pin_conn_add(struct sclient *sc);
void srv_pin_conn_del(struct sclient *sc);
/* After a reload replaced the peer list: entries for the new list,
 * counted from the connections and sessions. 0, or JVPN_ERR_NOMEM: no
 * entries at all then (no pin limit, no supersede) until the next. */
int srv_pins_rebuild(struct server *srv);

/* --- src/server_cluster.c (D44) -------------------------------------- */

/* After the TUN device is up: routes for the sessions loaded at start,
 * and the lease timer. Nothing without a shared store. */
void srv_cluster_start(struct server *srv);
/* With a shared store, before loading from it: sets up the timers and
 * contacts the store (bounded, ~1 s); 1 when it answered. */
int srv_cluster_init(struct server *srv);
/* 1 when this node has a shared store that does not answer now. */
int srv_cluster_cut_off(const struct server *srv);
/* 0 while the store is unreachable: births wait (counted). */
int srv_cluster_birth_ok(struct server *srv);
/* The inner addresses for a birth of |peer|: the whole cluster's for its
 * pin (without a shared store: the pool's). NULL: none to give. */
const struct addr_pool_entry *
srv_cluster_assign(struct server *srv, const struct jvpn_peer_conf *peer);
/* A loaded or taken session's addresses |r| for |pin| in the pool. */
const struct addr_pool_entry *
srv_cluster_adopt_addrs(struct server *srv, const uint8_t *pin,
                        const struct jvpn_store_record *r);
/* A reattach for session |id|, which this node holds as |local| or not
 * at all (NULL): in a cluster the store decides. Returns 0 when this node
 * serves it now (owned all along, or taken over: a live owner's session
 * whose client left it, or one whose owner's lease is gone; the table
 * holds the store's copy then), JVPN_ERR_NOTFOUND (no record: the gate
 * decides), JVPN_ERR_EXISTS (a live node serves it; *held_ms left of its
 * lease; |local| is released) or JVPN_ERR_AGAIN (store unreachable and
 * |local| NULL). */
int srv_cluster_take(struct server *srv, struct srv_session *local,
                     const uint8_t *id, uint64_t *held_ms);
/* A store write of |ss| was fenced: released on the next loop turn. */
void srv_cluster_fenced(struct server *srv, struct srv_session *ss);
/* Adds (|on|) or removes the kernel routes of |ss|'s inner addresses. */
void srv_cluster_route(struct server *srv, struct srv_session *ss, int on);
/* The cluster's part of a status answer (nothing without one). */
void srv_cluster_status(struct server *srv, struct glue_buf *b, int json);

/* --- src/server_status.c ------------------------------------------------ */

/* The control socket's status answer (text table or JSON). */
int srv_status(void *user, int json, char **out, size_t *len);

/* Appends |sess|'s core state to a status answer. */
void srv_session_status(struct server *srv, struct glue_buf *b,
                        const struct srv_session *sess, int json);

#endif /* SRC_SERVER_INT_H */
