/*
 * quic/quic_conn: one QUIC connection carrying one CONNECT-IP tunnel.
 *
 * Wraps ngtcp2 (transport), GnuTLS (TLS 1.3, mutual certificate auth by
 * SPKI pin) and, through quic/h3_conn, nghttp3 (HTTP/3 + the CONNECT-IP
 * request, capsules and HTTP Datagrams). Sans-loop: the caller feeds
 * received packets and the time, calls quic_conn_write() after anything
 * that may produce packets, and re-arms its timer from quic_conn_expiry().
 * Packets leave through ops->send.
 *
 * This header is quic/'s contract with the program: it names no ngtcp2,
 * nghttp3 or GnuTLS type, so nothing above quic/ depends on them (the
 * connection itself is opaque; quic/quic_conn_int.h holds it).
 *
 * Not thread-safe; all connections of a process share one transmit buffer,
 * so every call must come from the one loop thread.
 */
#ifndef QUIC_QUIC_CONN_H
#define QUIC_QUIC_CONN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "jvpn/proto.h"
#include "quic/quic_silence.h"

/* Why a connection ended, for logs and exit codes. */
enum quic_conn_end {
  QUIC_END_NONE = 0,
  QUIC_END_LOCAL_CLOSE,    /* we closed it (shutdown) */
  QUIC_END_PEER_CLOSE,     /* peer sent CONNECTION_CLOSE */
  QUIC_END_IDLE,           /* idle timeout */
  QUIC_END_HANDSHAKE_TIMEOUT,
  QUIC_END_AUTH,           /* certificate pin refused (either side) */
  QUIC_END_PROTOCOL,       /* protocol error (ours or the peer's) */
  QUIC_END_STATELESS_RESET,
  QUIC_END_INTERNAL,
  QUIC_END_STALLED,        /* IP packets waited too long for the window */
  QUIC_END_PMTU,           /* full-size packets vanish (MTU black hole) */
};

struct quic_conn;
struct quic_cred;          /* quic/tls_identity: a key and certificate */
struct quic_resumption;    /* quic/quic_tls: ticket key + 0-RTT replay */
struct quic_initial;       /* quic/quic_pkt: a client's first packet */
struct quic_lb;            /* quic/quic_lb: server IDs in connection IDs */

/* A network path: our address and the peer's (both borrowed). */
struct quic_path {
  const struct sockaddr *local;
  socklen_t local_len;
  const struct sockaddr *remote;
  socklen_t remote_len;
};

/* A QUIC connection ID (RFC 9000 5.1). */
#define QUIC_CID_MAX 20
struct quic_cid {
  uint8_t data[QUIC_CID_MAX];
  size_t len;
};

/* One entry of a stream's outgoing bytes. */
struct quic_vec {
  uint8_t *base;
  size_t len;
};

/* The current path's state, for logs, status and failover decisions. */
struct quic_conn_info {
  uint64_t srtt_ns;           /* smoothed RTT; 0 before the first sample */
  uint64_t min_rtt_ns;        /* UINT64_MAX before the first sample */
  uint64_t rttvar_ns;
  uint64_t latest_rtt_ns;
  uint64_t cwnd, bytes_in_flight; /* bytes */
  uint32_t pto_count;         /* probe timeouts (with backoff) elapsed
                               * without a packet from the peer while
                               * data was in flight */
  size_t max_udp_payload;     /* bytes: what the path carries now (PMTUD) */
  int handshake_done;
};

/* What a connection carries. The VPN's CONNECT-IP is the default; the
 * stream mode hands raw QUIC streams and DATAGRAM frames to the program
 * (the interop endpoint, interop/README.md) and never starts HTTP/3. */
enum quic_conn_app {
  QUIC_APP_CONNECT_IP = 0,
  QUIC_APP_STREAMS,
};

/* Limits of the stream mode (the interop endpoint serves files). */
#define QUIC_STREAMS_MAX_BIDI 256        /* streams the peer may open */
#define QUIC_STREAMS_STREAM_WINDOW (1024 * 1024)    /* bytes per stream */
#define QUIC_STREAMS_CONN_WINDOW (4 * 1024 * 1024)  /* bytes */
#define QUIC_ALPN_MAX 4                  /* ALPN list entries */

/* A CONNECT-IP request as the server sees it. */
struct quic_tunnel_req {
  const char *attach;      /* "jvpn-attach" header value, or NULL (birth) */
  size_t attach_len;
  const char *version;     /* "jvpn-version" header value, or NULL */
  size_t version_len;
};

/* The server's answer to it. */
struct quic_tunnel_resp {
  int status;              /* 0 = accept (200); else an HTTP status */
  char session[64];        /* "jvpn-session" value to send; "" = none */
  char version[24];        /* "jvpn-version" value to send; "" = none */
};

/* Callbacks into the program. Return 0 unless stated. |user| is the
 * pointer given at creation. */
struct quic_conn_ops {
  /* Sends |len| bytes: one packet, or back-to-back |seg|-byte packets
   * for GSO (seg == 0 or seg >= len: one packet). Returns 0,
   * JVPN_ERR_AGAIN (socket full: the connection keeps the batch and the
   * caller calls quic_conn_write() again when writable) or another error
   * (the batch is lost, as on any network). */
  int (*send)(void *user, const struct quic_path *path, const uint8_t *data,
              size_t len, size_t seg, uint8_t ecn);
  /* Checks the peer's certificate pin. Nonzero refuses the handshake. */
  int (*verify_peer)(void *user, const uint8_t pin[JVPN_PIN_LEN]);
  /* A connection ID of ours was issued / retired (map it to this conn):
   * the server's, and a client's when set (a load generator that
   * demultiplexes many connections on one socket). May be NULL. */
  void (*cid_add)(void *user, const struct quic_cid *cid);
  void (*cid_remove)(void *user, const struct quic_cid *cid);
  /* Server: a CONNECT-IP request arrived and is well-formed. Fill |resp|:
   * status 0 accepts (200 with capsule-protocol: ?1 and the session
   * header), another status (e.g. 403, 404) refuses. */
  void (*tunnel_request)(void *user, const struct quic_tunnel_req *req,
                         struct quic_tunnel_resp *resp);
  /* Client: writes the "jvpn-attach" header value for the CONNECT-IP
   * request into |buf| and the "jvpn-version" value (NUL-terminated) into
   * |version| (called after the handshake, so the channel binding is
   * available). Returns the attach length, 0 for a birth request (neither
   * header), or a negative JVPN_ERR_* to abandon the connection. May be
   * NULL (always birth). */
  long (*attach_header)(void *user, char *buf, size_t len, char *version,
                        size_t version_len);
  /* Client: the server accepted the request; |session| and |version| are
   * its "jvpn-session" and "jvpn-version" values (NULL, 0 if absent). */
  void (*tunnel_open)(void *user, const char *session, size_t len,
                      const char *version, size_t version_len);
  /* Client: the server answered the request with |status| != 200. */
  void (*tunnel_refused)(void *user, int status);
  /* A new path was validated and is now in use (server: NAT rebinding or
   * client migration; |same_ip|: only the port changed). May be NULL. */
  void (*path_changed)(void *user, const struct quic_path *path,
                       int same_ip);
  /* Full-size packets are lost while small ones get through: the path's
   * MTU shrank without a Packet Too Big reaching us. The client moves to
   * a fresh path (PMTUD starts again at 1200 bytes); the server's
   * connection closes itself with QUIC_END_PMTU after this call. May be
   * NULL. */
  void (*pmtu_black_hole)(void *user);
  /* Client: the server gave a token (NEW_TOKEN, RFC 9000 8.1.3) for the
   * next connection to it (quic_conn_config.token): it skips a Retry.
   * May be NULL. */
  void (*new_token)(void *user, const uint8_t *token, size_t len);
  /* The receiving path went quiet while the peer was streaming to us
   * (|started| 1: the first probe went out after |silent_ms|) or came back
   * (|started| 0: after |silent_ms| of silence). For the audit log; the
   * probing itself is quic_conn's. May be NULL. */
  void (*rx_silence)(void *user, int started, uint64_t silent_ms);
  /* A known capsule (ADDRESS_ASSIGN, ADDRESS_REQUEST,
   * ROUTE_ADVERTISEMENT, ACTIVATE, ACTIVATE_RESULT, DNS_ASSIGN) arrived. A
   * negative JVPN_ERR_MALFORMED aborts the request stream with
   * H3_MESSAGE_ERROR (RFC 9297 3.3, RFC 9114 4.1.2). */
  int (*capsule)(void *user, uint64_t type, const uint8_t *value,
                 size_t len);
  /* An IP packet arrived in an HTTP Datagram (context 0). */
  void (*ip_packet)(void *user, const uint8_t *pkt, size_t len);
  /* The tunnel or connection ended; the conn may be deleted after the
   * call that reported it returns. */
  void (*closed)(void *user, enum quic_conn_end why, const char *detail);

  /* --- QUIC_APP_STREAMS only (unused by CONNECT-IP; may be NULL) --- */
  /* The handshake completed (|confirmed| 0) or was confirmed (1). */
  void (*handshake_done)(void *user, int confirmed);
  /* Bytes of stream |sid| at |offset| (in order from ngtcp2's view);
   * |fin| ends the stream. The program grants flow-control credit with
   * quic_conn_stream_consumed() once it has used them. Nonzero closes
   * the connection. */
  int (*stream_data)(void *user, int64_t sid, uint64_t offset,
                     const uint8_t *data, size_t len, int fin);
  /* Picks the next stream with data to send: fills |vec| (at most |max|
   * entries) with its unsent bytes, |*sid| and |*fin| (FIN after these
   * bytes). Returns the entry count (0 with *sid == -1: nothing to send;
   * 0 with a stream and *fin: a bare FIN). The bytes must stay valid
   * until stream_acked covers them. */
  long (*stream_next)(void *user, int64_t *sid, int *fin, struct quic_vec *vec,
                      size_t max);
  /* |n| bytes from stream_next went into packets; |fin_sent| if the FIN
   * did too. */
  void (*stream_sent)(void *user, int64_t sid, size_t n, int fin_sent);
  /* Stream |sid| cannot take more data: flow control (|state| 1), room
   * again (0), or its write side is shut (-1, never again). */
  void (*stream_blocked)(void *user, int64_t sid, int state);
  /* The peer acknowledged |len| bytes of |sid| from |offset| (offsets
   * rise contiguously). */
  void (*stream_acked)(void *user, int64_t sid, uint64_t offset,
                       uint64_t len);
  /* Stream |sid| is gone (both directions ended, or reset): |app_error|
   * is the peer's code if |reset|. */
  void (*stream_close)(void *user, int64_t sid, uint64_t app_error,
                       int reset);
  /* The peer allows more bidirectional streams. */
  void (*streams_available)(void *user);
  /* A QUIC DATAGRAM frame arrived (|early|: in 0-RTT). */
  void (*datagram)(void *user, const uint8_t *data, size_t len, int early);
  /* Client: a session ticket arrived; quic_conn_get_session() takes it. */
  void (*session_ticket)(void *user);
  /* Client: the server refused 0-RTT; every stream opened before the
   * handshake is gone and must be opened and sent again. */
  void (*early_rejected)(void *user);
  /* Client: the server offers |remote| as its preferred address (RFC 9000
   * 9.6). To move there, open a socket for its family, write the bound
   * address into |local| (room for a sockaddr_storage) and |*local_len|
   * and return 0: ngtcp2 validates the new path with the address's own
   * connection ID once the handshake is confirmed, then moves to it
   * (ops->path_changed). Nonzero declines; the offer of the family other
   * than the current path's comes first, the other one only after a
   * refusal. May be NULL: every offer is declined. */
  int (*preferred_addr)(void *user, const struct sockaddr *remote,
                        socklen_t remote_len, struct sockaddr *local,
                        socklen_t *local_len);
};

struct quic_conn_stats {
  uint64_t rx_datagrams;   /* HTTP Datagrams received, well-formed */
  uint64_t tx_datagrams;   /* HTTP Datagrams sent */
  uint64_t drop_malformed; /* datagrams with bad framing */
  uint64_t drop_stream;    /* datagrams for no open tunnel stream */
  uint64_t drop_settings;  /* peers refused for their HTTP/3 SETTINGS */
  uint64_t drop_context;   /* datagrams with an unknown context ID */
  uint64_t drop_too_big;   /* IP packets over the current datagram room */
  uint64_t drop_queue;     /* IP packets dropped: send queue full */
  uint64_t drop_not_ready; /* IP packets before the tunnel was open */
  uint64_t capsules_rx, capsules_skipped;
  uint64_t rx_bytes, tx_bytes;   /* IP bytes carried in datagrams */
  uint64_t dgram_acked, dgram_lost; /* QUIC's verdict on sent datagrams */
  uint64_t tx_capsule_datagrams; /* IP packets sent as DATAGRAM capsules:
                                  * too big for a DATAGRAM frame on a path
                                  * PMTUD is still probing, or IPv6 up to
                                  * 1280 bytes */
  uint64_t pmtu_black_holes;   /* paths judged to have lost their MTU */
  uint64_t silence_probes;     /* PINGs sent because the peer went quiet */
  uint64_t drop_silent;        /* IP packets not sent into a silent path */
  uint64_t silences;           /* silences noticed */
  uint64_t h3_released;        /* 1 once nghttp3 was released (D49) */
  uint64_t drop_h3_frames;     /* connections closed for HTTP/3 frames or
                                * streams refused after that release */
};

/* Bounded queue of IP packets waiting for room in the congestion window.
 * Its slots are allocated when used: QUIC_TXQ_MIN at the first packet,
 * doubled up to QUIC_TXQ_LEN while it fills, and freed with the other
 * per-connection buffers once the connection has been idle for
 * QUIC_BUF_IDLE_MS (an idle client costs the server no queue). */
#define QUIC_TXQ_LEN 256     /* packets */
#define QUIC_TXQ_MIN 8       /* packets: the first allocation */
#define QUIC_TXQ_SLOT 1500   /* bytes: larger packets get PTB first */
#define QUIC_BUF_IDLE_MS 2000 /* ms: buffers unused this long are freed */

struct quic_txq_slot {
  uint16_t len;
  uint8_t data[QUIC_TXQ_SLOT];
};

struct quic_txq {
  struct quic_txq_slot *slot;     /* owned; |cap| of them, or NULL */
  uint32_t cap;                   /* 0 or a power of two <= QUIC_TXQ_LEN */
  uint32_t head, tail;            /* head == tail: empty */
};

/* Server: the preferred address it offers (RFC 9000 9.6); a family with
 * sin_family / sin6_family 0 is not offered. */
struct quic_preferred_addr {
  struct sockaddr_in ipv4;
  struct sockaddr_in6 ipv6;
};

struct quic_conn_config {
  int is_server;
  const struct quic_cred *cred; /* not owned; outlives the conn */
  const char *sni;              /* client: server DNS name for SNI, or
                                 * NULL for an address literal (RFC 6066
                                 * 3 allows no literal in SNI) */
  const char *authority;        /* client: :authority of the request */
  int cc;                       /* enum jvpn_cc */
  const struct quic_conn_ops *ops;
  void *user;
  const char *log_ctx;          /* copied into the log prefix */
  unsigned keepalive_ms;        /* 0 = JVPN_QUIC_KEEPALIVE_MS */
  unsigned idle_ms;             /* max_idle_timeout; 0 =
                                 * JVPN_QUIC_IDLE_KEEPALIVES times the
                                 * keep-alive (the VPN). It also bounds the
                                 * handshake: a lost flight is resent
                                 * after 1, 2, 4, ... s of PTO backoff */
  unsigned handshake_ms;        /* 0 = JVPN_QUIC_HANDSHAKE_TIMEOUT_MS */
  unsigned initial_rtt_ms;      /* 0 = ngtcp2's 333 ms; a reconnect to a
                                 * known server passes the RTT it saw, so
                                 * lost Initials are resent sooner */
  const uint8_t *reset_secret;  /* server: 32-byte key for stateless reset
                                 * tokens, stable across restarts; NULL =
                                 * random per connection */
  int keep_nghttp3;             /* keep nghttp3 for the tunnel's life
                                 * (D49 releases it once the request is
                                 * answered; for comparisons) */
  /* Everything below is zero for the VPN; the interop endpoint sets it. */
  enum quic_conn_app app;
  const char *alpn[QUIC_ALPN_MAX]; /* offered (client) / accepted (server)
                                    * in order; alpn[0] NULL = JVPN_ALPN */
  int no_peer_auth;             /* QUIC_APP_STREAMS only: the server asks
                                 * for no client certificate and the client
                                 * checks none (self-signed interop peers);
                                 * ops->verify_peer is not called */
  const char *tls_priority;     /* GnuTLS priority; NULL = the default */
  int v1_only;                  /* QUIC_APP_STREAMS: offer / choose only
                                 * QUIC v1; otherwise QUIC v2 (RFC 9369) is
                                 * preferred by compatible version
                                 * negotiation (RFC 9368), v1 accepted */
  uint32_t version;             /* client: first Initial's version; 0 =
                                 * QUIC v1 */
  const struct quic_lb *lb;     /* server: connection IDs that name this
                                 * server (quic/quic_lb.h); NULL: random */
  const struct quic_cid *retry_odcid; /* server: the client's first DCID
                                  * from a validated Retry token (the
                                  * Initial's DCID is our Retry SCID) */
  const struct quic_resumption *resumption; /* server: session tickets
                                 * and the 0-RTT replay window; not owned */
  const uint8_t *resume_session; /* client: quic_conn_get_session()'s
                                  * ticket from an earlier connection */
  size_t resume_session_len;
  const uint8_t *resume_params; /* client: and its encoded 0-RTT transport
                                 * parameters */
  size_t resume_params_len;
  int datagrams;                /* QUIC_APP_STREAMS: advertise DATAGRAM */
  int no_pmtud;                 /* QUIC_APP_STREAMS: no PMTU probes (the
                                 * interop runner counts a probe as payload
                                 * in its zerortt byte budget) */
  const struct quic_preferred_addr *preferred; /* server, QUIC_APP_STREAMS:
                                 * offered in the transport parameters
                                 * with a fresh connection ID (cid_add)
                                 * and its stateless reset token; the
                                 * program receives on it too and feeds
                                 * those packets to the same conn. Not
                                 * owned; NULL = none */
  FILE *keylog;                 /* NSS key log lines; not owned */
  const char *qlog_dir;         /* one ODCID-named .sqlog file per conn */
  struct quic_silence_policy silence; /* zero fields: proto.h defaults */
  const uint8_t *token_secret;  /* server: 32-byte key; once the handshake
                                 * is done the client gets a NEW_TOKEN
                                 * bound to its address. NULL: none */
  int token_validated;          /* server: the Initial's NEW_TOKEN proved
                                 * the address (quic_pkt_verify_token) */
  const uint8_t *token;         /* client: a NEW_TOKEN of this server */
  size_t token_len;
};

/* Client: creates a connection to |remote| from |local| (the socket's
 * bound address). Returns 0 or a JVPN_ERR_*; on success the first flight
 * is produced by quic_conn_write(). */
int quic_conn_client_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const struct sockaddr *local, socklen_t local_len,
                         const struct sockaddr *remote, socklen_t remote_len,
                         uint64_t now);

/* Server: creates a connection for the client's first packet |in|
 * (quic_pkt_accept) arriving on |local| from |remote|; the caller then
 * feeds the packet itself to quic_conn_read(). Registers its connection
 * IDs through cfg->ops->cid_add. */
int quic_conn_server_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const struct quic_initial *in,
                         const struct sockaddr *local, socklen_t local_len,
                         const struct sockaddr *remote, socklen_t remote_len,
                         uint64_t now);

/* Frees everything; accepts NULL. Retires the CIDs through cid_remove. */
void quic_conn_del(struct quic_conn *c);

/* Feeds one received packet. Returns 0, or a fatal JVPN_ERR_* after which
 * the caller writes nothing more and deletes the conn (ops->closed has
 * been called, and a CONNECTION_CLOSE sent where the protocol wants one). */
int quic_conn_read(struct quic_conn *c, const struct sockaddr *local,
                   socklen_t local_len, const struct sockaddr *remote,
                   socklen_t remote_len, uint8_t ecn, const uint8_t *pkt,
                   size_t len, uint64_t now);

/* Writes whatever is due: handshake, stream data, queued IP packets,
 * ACKs, within the congestion window and pacing. Returns 0, JVPN_ERR_AGAIN
 * (socket full; call again when writable), or a fatal JVPN_ERR_*. */
int quic_conn_write(struct quic_conn *c, uint64_t now);

/* The next deadline (ns, CLOCK_MONOTONIC) or UINT64_MAX. */
uint64_t quic_conn_expiry(struct quic_conn *c);
/* Handles timers at |now|. Returns 0 or a fatal JVPN_ERR_* (idle timeout,
 * handshake timeout: ops->closed has been called). */
int quic_conn_handle_expiry(struct quic_conn *c, uint64_t now);

/* Queues one IP packet for an HTTP Datagram. A packet over
 * quic_conn_max_ip_packet() goes as a DATAGRAM capsule on the request
 * stream while PMTUD probes a new path, and so does an IPv6 packet of at
 * most 1280 bytes; otherwise it is refused with JVPN_ERR_OVERSIZE (the
 * caller answers with ICMP Packet Too Big). Returns 0, JVPN_ERR_OVERSIZE,
 * JVPN_ERR_FULL when the queue is full, or JVPN_ERR_AGAIN when the tunnel
 * is not open yet (each counted). */
int quic_conn_queue_ip(struct quic_conn *c, const uint8_t *pkt, size_t len);

/* Returns nonzero if the IP send queue is at least half full (the client
 * stops reading its TUN until it drains). */
int quic_conn_txq_busy(const struct quic_conn *c);

/* Largest IP packet that fits in one HTTP Datagram on the current path. */
size_t quic_conn_max_ip_packet(struct quic_conn *c);

/* Nonzero once path MTU discovery has had its time on the current path,
 * so quic_conn_max_ip_packet() is what the path carries (the client sizes
 * its tunnel MTU by it). */
int quic_conn_pmtu_settled(struct quic_conn *c);

/* Appends a capsule to the CONNECT stream. Returns 0, JVPN_ERR_FULL or
 * JVPN_ERR_AGAIN (tunnel not open). */
int quic_conn_send_capsule(struct quic_conn *c, uint64_t type,
                           const uint8_t *value, size_t len);

/* Closes the connection: sends CONNECTION_CLOSE with an H3 application
 * error (H3_NO_ERROR for a clean shutdown) once, and ends it. Calls
 * ops->closed with |why|. */
void quic_conn_close(struct quic_conn *c, uint64_t h3_error,
                     enum quic_conn_end why, const char *detail,
                     uint64_t now);

/* Client: starts migrating to |local| (a socket bound to the new local
 * address); ngtcp2 validates the new path before moving to it, or, with
 * |immediate| (the old address is gone, so waiting gains nothing), moves
 * at once and validates afterwards; ops->path_changed reports the move.
 * Returns 0, JVPN_ERR_UNSUPPORTED when the peer forbids migration or the handshake is not confirmed (reattach
 * on a new connection instead), JVPN_ERR_AGAIN when no spare connection ID
 * is available yet, or JVPN_ERR_QUIC. */
int quic_conn_migrate(struct quic_conn *c, const struct sockaddr *local,
                      socklen_t local_len, int immediate, uint64_t now);

/* TLS exporter (RFC 8446 7.5) of this connection's handshake, after it
 * completed. Returns 0 or JVPN_ERR_TLS. */
int quic_conn_export(struct quic_conn *c, const char *label,
                     const uint8_t *context, size_t context_len,
                     uint8_t *out, size_t out_len);

/* Server: frees the TLS session once the handshake is confirmed (about
 * 24 KB of GnuTLS state an established connection no longer needs),
 * keeping the exporter value of |label| (no context, |out_len| bytes,
 * at most 64) for quic_conn_export; any other export fails after it, and
 * CRYPTO data from the peer ends the connection. Returns 0 (also when
 * already released) or JVPN_ERR_TLS (a client, or too early). */
int quic_conn_release_tls(struct quic_conn *c, const char *label,
                          size_t out_len);

/* The tunnel's keep-alive (a PING after |keepalive_ms| without sending)
 * and idle timeout (the connection ends as idle after |idle_ms| without a
 * packet from the peer, counted from the later of its last packet and
 * |now|). A quiet tunnel's peers agree on longer ones (docs/decisions.md
 * D47); QUIC's max_idle_timeout, JVPN_QUIC_IDLE_MAX_MS, bounds them.
 * |keepalive_ms| 0 restores the config's; QUIC_KEEPALIVE_OFF sends none
 * (the peer's keep-alives keep the connection). */
#define QUIC_KEEPALIVE_OFF UINT_MAX
void quic_conn_set_keepalive(struct quic_conn *c, unsigned keepalive_ms,
                             unsigned idle_ms, uint64_t now);

/* Replaces the log prefix (e.g. once the peer is known). */
void quic_conn_set_log_ctx(struct quic_conn *c, const char *ctx);

/* Hands the connection to another owner: later callbacks go to |ops| with
 * |user| (a client's racing attempt that won becomes its connection). May
 * be called from inside a callback of |c|; the rest of that call already
 * reaches the new owner. */
void quic_conn_set_owner(struct quic_conn *c, const struct quic_conn_ops *ops,
                         void *user);

/* The current path's state (RTT, window, PTOs, PMTU), as of the latest
 * time the connection was given. */
void quic_conn_get_info(struct quic_conn *c, struct quic_conn_info *info);

/* The path in use now. */
void quic_conn_get_path(struct quic_conn *c, struct quic_path *path);

/* sizeof(struct quic_conn), for memory accounting (the struct is
 * opaque). */
size_t quic_conn_sizeof(void);

/* Bytes of per-connection buffers allocated now (IP send queue, refused
 * GSO batch, capsule ring), for memory accounting and tests. */
size_t quic_conn_buffer_bytes(const struct quic_conn *c);

/* Counters (valid as long as the conn). */
/* When the last packet of the peer was read (ns, the caller's clock); 0
 * before any. */
uint64_t quic_conn_last_rx(const struct quic_conn *c);
const struct quic_conn_stats *quic_conn_get_stats(const struct quic_conn *c);

/* Nonzero once the CONNECT-IP request was accepted (200 sent / received)
 * and until the tunnel ends. */
int quic_conn_tunnel_is_open(const struct quic_conn *c);

/* The peer's certificate pin once its certificate was seen, else NULL. */
const uint8_t *quic_conn_peer_pin(const struct quic_conn *c);

const char *quic_conn_end_str(enum quic_conn_end why);

/* --- QUIC_APP_STREAMS ---------------------------------------------------- */

/* Opens a bidirectional stream. Returns 0, JVPN_ERR_AGAIN when the peer's
 * stream limit is reached (ops->streams_available says when to retry) or
 * JVPN_ERR_QUIC. Works before the handshake when 0-RTT is possible. */
int quic_conn_open_stream(struct quic_conn *c, int64_t *sid);
/* The same for a unidirectional stream (HTTP/3's control streams). */
int quic_conn_open_uni_stream(struct quic_conn *c, int64_t *sid);

/* Grants the peer |n| more bytes of flow-control credit on |sid| (and on
 * the connection) after the program used data from ops->stream_data. */
void quic_conn_stream_consumed(struct quic_conn *c, int64_t sid, size_t n);

/* Resets stream |sid| in both directions with |app_error|. */
void quic_conn_stream_shutdown(struct quic_conn *c, int64_t sid,
                               uint64_t app_error);

/* Queues one DATAGRAM frame payload. Returns 0, JVPN_ERR_OVERSIZE (over
 * the peer's limit or the path), JVPN_ERR_FULL or JVPN_ERR_AGAIN (the
 * peer allows no DATAGRAM, or not yet known). */
int quic_conn_send_datagram(struct quic_conn *c, const uint8_t *data,
                            size_t len);

/* Starts a TLS key update. Returns 0 or JVPN_ERR_AGAIN (handshake not
 * confirmed or the previous update not yet confirmed). */
int quic_conn_key_update(struct quic_conn *c, uint64_t now);

/* Writes the negotiated ALPN (NUL-terminated) into |buf|; "" if none. */
void quic_conn_alpn(struct quic_conn *c, char *buf, size_t len);

/* The QUIC version in use. */
uint32_t quic_conn_version(struct quic_conn *c);

/* Client: copies the latest session ticket into |*ticket| (malloc'ed;
 * the caller frees it) and the server's encoded 0-RTT transport parameters
 * into |params| (room for |*params_len| bytes; the length written is
 * stored there), for resumption and 0-RTT (quic_conn_config.resume_*).
 * Returns 0, JVPN_ERR_AGAIN (no ticket yet), JVPN_ERR_NOSPACE or
 * JVPN_ERR_NOMEM. */
int quic_conn_get_session(struct quic_conn *c, uint8_t **ticket,
                          size_t *ticket_len, uint8_t *params,
                          size_t *params_len);

/* Server: creates the session-ticket key and 0-RTT replay window that
 * quic_conn_config.resumption names. Returns 0, JVPN_ERR_NOMEM or
 * JVPN_ERR_TLS. */
int quic_resumption_new(struct quic_resumption **r);
void quic_resumption_del(struct quic_resumption *r);

/* Client: nonzero if the session was resumed / 0-RTT was accepted. */
int quic_conn_resumed(struct quic_conn *c);
int quic_conn_early_accepted(struct quic_conn *c);

#endif /* QUIC_QUIC_CONN_H */
