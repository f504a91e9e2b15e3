/*
 * quic/quic_conn: one QUIC connection carrying one CONNECT-IP tunnel.
 *
 * Wraps ngtcp2 (transport), GnuTLS (TLS 1.3, mutual certificate auth by
 * SPKI pin) and, through quic/h3_conn, nghttp3 (HTTP/3 + the CONNECT-IP
 * request, capsules and HTTP Datagrams). Sans-loop: the caller feeds
 * received packets and the time, calls quic_conn_write() after anything
 * that may produce packets, and re-arms its timer from quic_conn_expiry().
 * Packets leave through ops->send. The only ngtcp2 calls in the tree are in
 * this module and quic/h3_conn, so an ngtcp2 upgrade touches two files.
 *
 * Not thread-safe; all connections of a process share one transmit buffer,
 * so every call must come from the one loop thread.
 */
#ifndef QUIC_QUIC_CONN_H
#define QUIC_QUIC_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "jvpn/proto.h"
#include "quic/capsule.h"
#include "quic/h3_settings.h"

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
};

struct quic_conn;

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
  int (*send)(void *user, const ngtcp2_path *path, const uint8_t *data,
              size_t len, size_t seg, uint8_t ecn);
  /* Checks the peer's certificate pin. Nonzero refuses the handshake. */
  int (*verify_peer)(void *user, const uint8_t pin[JVPN_PIN_LEN]);
  /* Server: a connection ID was issued / retired (map it to this conn). */
  void (*cid_add)(void *user, const ngtcp2_cid *cid);
  void (*cid_remove)(void *user, const ngtcp2_cid *cid);
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
  void (*path_changed)(void *user, const ngtcp2_path *path, int same_ip);
  /* A known capsule (ADDRESS_ASSIGN, ADDRESS_REQUEST,
   * ROUTE_ADVERTISEMENT) arrived. A negative JVPN_ERR_MALFORMED aborts the
   * request stream with H3_MESSAGE_ERROR (RFC 9297 3.3, RFC 9114 4.1.2). */
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
  long (*stream_next)(void *user, int64_t *sid, int *fin, ngtcp2_vec *vec,
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
  uint64_t drop_malformed; /* datagrams with bad framing or stream */
  uint64_t drop_context;   /* datagrams with an unknown context ID */
  uint64_t drop_too_big;   /* IP packets over the current datagram room */
  uint64_t drop_queue;     /* IP packets dropped: send queue full */
  uint64_t drop_not_ready; /* IP packets before the tunnel was open */
  uint64_t capsules_rx, capsules_skipped;
  uint64_t rx_bytes, tx_bytes;   /* IP bytes carried in datagrams */
  uint64_t dgram_acked, dgram_lost; /* QUIC's verdict on sent datagrams */
};

/* Bounded queue of IP packets waiting for room in the congestion window. */
#define QUIC_TXQ_LEN 256     /* packets */
#define QUIC_TXQ_SLOT 1500   /* bytes: larger packets get PTB first */

struct quic_txq {
  uint8_t (*slot)[QUIC_TXQ_SLOT]; /* owned */
  uint16_t len[QUIC_TXQ_LEN];
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
  gnutls_certificate_credentials_t cred; /* not owned; outlives the conn */
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
  /* Everything below is zero for the VPN; the interop endpoint sets it. */
  enum quic_conn_app app;
  const char *alpn[QUIC_ALPN_MAX]; /* offered (client) / accepted (server)
                                    * in order; alpn[0] NULL = JVPN_ALPN */
  int no_peer_auth;             /* QUIC_APP_STREAMS only: the server asks
                                 * for no client certificate and the client
                                 * checks none (self-signed interop peers);
                                 * ops->verify_peer is not called */
  const char *tls_priority;     /* GnuTLS priority; NULL = the default */
  int prefer_v2;                /* offer (client) / choose (server) QUIC v2
                                 * (ngtcp2 0.12.1: draft 0x709a50c4) by
                                 * compatible version negotiation */
  uint32_t version;             /* client: first Initial's version; 0 =
                                 * QUIC v1 */
  const ngtcp2_cid *retry_odcid; /* server: the client's original DCID
                                  * from a validated Retry token (the
                                  * Initial's DCID is our Retry SCID) */
  const gnutls_datum_t *ticket_key; /* server: session tickets (resumption,
                                     * 0-RTT); not owned */
  gnutls_anti_replay_t anti_replay; /* server: 0-RTT replay window */
  const gnutls_datum_t *resume_session; /* client: gnutls_session_get_data2
                                         * of an earlier connection */
  const ngtcp2_transport_params *resume_params; /* client: its server's
                                                 * transport params (0-RTT) */
  int datagrams;                /* QUIC_APP_STREAMS: advertise DATAGRAM */
  int no_pmtud;                 /* QUIC_APP_STREAMS: no PMTU probes
                                 * (ngtcp2 0.12.1 sends them without an
                                 * ECN mark). Not with migration or NAT
                                 * rebinding: 0.12.1 restarts PMTUD, and
                                 * asserts no_pmtud is off, when a path
                                 * validation fails over to the old path */
  const struct quic_preferred_addr *preferred; /* server, QUIC_APP_STREAMS:
                                 * offered in the transport parameters
                                 * with a fresh connection ID (cid_add)
                                 * and its stateless reset token; the
                                 * program receives on it too and feeds
                                 * those packets to the same conn. Not
                                 * owned; NULL = none */
  FILE *keylog;                 /* NSS key log lines; not owned */
  const char *qlog_dir;         /* one ODCID-named .sqlog file per conn */
};

struct quic_conn {
  ngtcp2_crypto_conn_ref conn_ref; /* first: GnuTLS finds us by it */
  ngtcp2_conn *conn;
  gnutls_session_t tls;
  nghttp3_conn *h3;
  struct quic_conn_config cfg;
  ngtcp2_path_storage path;        /* path of the first packet */
  uint8_t static_secret[32];       /* server: stateless reset tokens */
  char ctx[96];                    /* log prefix */
  /* CONNECT-IP request stream */
  int64_t tunnel_stream;           /* -1 until opened */
  int tunnel_open;                 /* 200 sent / received */
  int tunnel_failed;               /* H3 error that ended the tunnel */
  char tunnel_why[96];             /* and why, for ops->closed */
  struct {
    int method_connect, protocol_cip, path_ok, scheme_https, capsule_proto;
    int authority;
    int status;                    /* client: response status */
    char attach[256];              /* server: jvpn-attach value */
    size_t attach_len;             /* 0 = absent; > 255 = oversize */
    char session[64];              /* client: jvpn-session value */
    size_t session_len;
    char version[24];              /* jvpn-version value (both sides) */
    size_t version_len;            /* > 23 = oversize */
  } hdr;
  char resp_session[64];           /* server: jvpn-session sent */
  char resp_version[24];           /* server: jvpn-version sent */
  struct capsule_parser *capsules; /* owned; on the CONNECT stream */
  /* capsules to send: room for the largest capsule a peer accepts */
  uint8_t sbuf[JVPN_CAPSULE_MAX_VALUE + 32];
  size_t sbuf_len, sbuf_sent, sbuf_acked;
  struct h3_settings_shim shim;
  int64_t ctrl_stream;             /* our H3 control stream */
  /* datagrams */
  struct quic_txq txq;
  uint8_t dgram_hdr[16];
  size_t dgram_hdr_len;
  /* transmit state */
  uint8_t *pending;                /* batch the socket refused (EAGAIN) */
  size_t pending_len, pending_seg;
  ngtcp2_path_storage pending_path;
  uint8_t pending_ecn;
  int closed;                      /* ops->closed was called */
  enum quic_conn_end end;
  uint64_t blocked_since;          /* ns: IP packets waiting on cwnd */
  ngtcp2_connection_close_error ccerr;
  FILE *qlog;                      /* owned; cfg.qlog_dir */
  gnutls_datum_t ticket;           /* client: latest session data, owned */
  uint8_t peer_pin[JVPN_PIN_LEN];
  int peer_pin_set;
  struct quic_conn_stats stats;
};

/* Client: creates a connection to |remote| from |local| (the socket's
 * bound address). Returns 0 or a JVPN_ERR_*; on success the first flight
 * is produced by quic_conn_write(). */
int quic_conn_client_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const struct sockaddr *local, socklen_t local_len,
                         const struct sockaddr *remote, socklen_t remote_len,
                         uint64_t now);

/* Server: creates a connection for the client Initial |pkt| (already
 * accepted by ngtcp2_accept into |hd|) arriving on |local| from |remote|.
 * Registers its connection IDs through cfg->ops->cid_add. */
int quic_conn_server_new(struct quic_conn **pc,
                         const struct quic_conn_config *cfg,
                         const ngtcp2_pkt_hd *hd,
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

/* Queues one IP packet for an HTTP Datagram. Returns 0, JVPN_ERR_OVERSIZE
 * when it exceeds quic_conn_max_ip_packet() (the caller answers with ICMP
 * Packet Too Big), JVPN_ERR_FULL when the queue is full, or JVPN_ERR_AGAIN
 * when the tunnel is not open yet (each counted). */
int quic_conn_queue_ip(struct quic_conn *c, const uint8_t *pkt, size_t len);

/* Returns nonzero if the IP send queue is at least half full (the client
 * stops reading its TUN until it drains). */
int quic_conn_txq_busy(const struct quic_conn *c);

/* Largest IP packet that fits in one HTTP Datagram on the current path. */
size_t quic_conn_max_ip_packet(struct quic_conn *c);

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

/* Replaces the log prefix (e.g. once the peer is known). */
void quic_conn_set_log_ctx(struct quic_conn *c, const char *ctx);

/* Path statistics for logs and status. */
void quic_conn_get_stat(struct quic_conn *c, ngtcp2_conn_stat *st);

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

/* Server: whether a client's first packet in |version| may start a
 * connection. Only QUIC v1: ngtcp2 0.12.1 aborts (an assertion in
 * conn_write_pkt) on a connection begun directly in the v2 draft, so such
 * a client gets Version Negotiation and starts over in v1; the v2 draft
 * is reached from v1 by compatible negotiation (RFC 9368). */
int quic_conn_version_accepted(uint32_t version);

/* Server: writes into |out| the Version Negotiation packet (listing v1)
 * that answers the long header |vc|. Returns its length, or a negative
 * JVPN_ERR_* (|out| too small). */
long quic_conn_write_vn(uint8_t *out, size_t cap,
                        const ngtcp2_version_cid *vc);

/* Client: copies the latest session ticket (free |data| with gnutls_free)
 * and the server's transport parameters, for resumption and 0-RTT.
 * Returns 0 or JVPN_ERR_AGAIN (no ticket yet). */
int quic_conn_get_session(struct quic_conn *c, gnutls_datum_t *data,
                          ngtcp2_transport_params *params);

/* Client: nonzero if the session was resumed / 0-RTT was accepted. */
int quic_conn_resumed(struct quic_conn *c);
int quic_conn_early_accepted(struct quic_conn *c);

#endif /* QUIC_QUIC_CONN_H */
