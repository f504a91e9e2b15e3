/*
 * quic/quic_conn_int: the connection object, shared by the modules of
 * quic/ that implement it (quic_conn, quic_tls, h3_conn, quic_pkt). Nothing
 * outside quic/ includes this header; the program sees quic/quic_conn.h.
 */
#ifndef QUIC_QUIC_CONN_INT_H
#define QUIC_QUIC_CONN_INT_H

#include <string.h>

#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "quic/capsule.h"
#include "quic/cip_request.h"
#include "quic/cip_stream.h"
#include "quic/h3_lean.h"
#include "quic/pp_keys.h"
#include "quic/quic_conn.h"
#include "quic/quic_silence.h"

/* bytes: capsules waiting on the CONNECT stream: room for the largest
 * capsule a peer accepts, and for IP packets sent as DATAGRAM capsules
 * while the path cannot carry them in a QUIC DATAGRAM frame. */
#define QUIC_CAPSULE_SBUF (4 * JVPN_CAPSULE_MAX_VALUE)
/* bytes: the longest HTTP/3 DATA frame header (type, 8-byte length) */
#define QUIC_DATA_HEADER_MAX 9

/* A certificate and its key (quic/tls_identity). */
struct quic_cred {
  gnutls_certificate_credentials_t gcred;
};

/* Session tickets and the 0-RTT replay window of a server (quic_tls). */
struct quic_resumption {
  gnutls_datum_t ticket_key;
  gnutls_anti_replay_t anti_replay;
};

/* Loss of full-size datagrams against the ACKs of small packets: a path
 * whose MTU shrank without a Packet Too Big (docs/decisions.md D20). */
struct quic_pmtu_watch {
  uint32_t big_lost;        /* consecutive full-size datagrams lost */
  uint64_t streak_start;    /* ns: when the first of them was lost */
  uint64_t big_acked_at;    /* ns: the last full-size datagram acked */
  int reported;             /* ops->pmtu_black_hole called on this path */
};

#define QUIC_KEPT_EXPORT_MAX 64

struct quic_conn {
  ngtcp2_crypto_conn_ref conn_ref; /* first: GnuTLS finds us by it */
  ngtcp2_conn *conn;
  struct pp_keys pp;               /* Handshake and 1-RTT keys (D51) */
  gnutls_session_t tls; /* NULL once released (quic_conn_release_tls) */
  /* The one exporter value kept when the TLS session is released. */
  const char *kept_label;
  uint8_t kept_export[QUIC_KEPT_EXPORT_MAX];
  size_t kept_len;
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
  struct cip_fields *hdr;          /* the request / response fields while
                                    * they arrive; freed once answered */
  struct cip_rx *capsules;         /* owned; on the CONNECT stream */
  /* capsules to send: room for the largest capsule a peer accepts; a ring
   * of QUIC_CAPSULE_SBUF bytes, allocated when used, freed when all of it
   * was acknowledged and the connection idle (offsets grow forever) */
  uint8_t *sbuf;
  uint64_t sbuf_len, sbuf_sent, sbuf_acked;
  int64_t ctrl_stream;             /* our H3 control stream */
  struct h3_lean lean;             /* the streams without nghttp3 (D49) */
  struct {
    int seen;                      /* the peer's SETTINGS arrived */
    int h3_datagram;               /* it said SETTINGS_H3_DATAGRAM=1 */
    int connect_protocol;          /* SETTINGS_ENABLE_CONNECT_PROTOCOL=1 */
  } peer_settings;
  /* datagrams */
  struct quic_txq txq;
  uint8_t dgram_hdr[16];
  size_t dgram_hdr_len;
  /* transmit state */
  uint8_t *pending;                /* batch the socket refused (EAGAIN);
                                    * allocated when one is, freed idle */
  size_t pending_len, pending_seg;
  ngtcp2_path_storage pending_path;
  uint8_t pending_ecn;
  int closed;                      /* ops->closed was called */
  enum quic_conn_end end;
  uint64_t buf_busy_at;            /* ns: a buffer last held data */
  uint64_t blocked_since;          /* ns: IP packets waiting on cwnd */
  uint64_t stall_heard_at;         /* ns: the peer heard while they wait */
  uint64_t last_now;               /* ns: the latest time we were given */
  uint64_t last_rx;                /* ns: the latest packet from the peer */
  uint64_t idle_ns;                /* unheard this long: idle (D47) */
  uint64_t idle_from;              /* ns: idle_ns counts from here at least */
  unsigned usual_keepalive_ms;     /* the config's, restored after a quiet */
  unsigned usual_idle_ms;          /* spell (quic_conn_set_keepalive) */
  uint64_t busy_since;             /* ns: bytes in flight since then */
  uint64_t young_since;            /* ns: PMTUD began on this path; 0 =
                                    * not yet (handshake unconfirmed) */
  ngtcp2_path_storage pmtu_path;   /* the path PMTUD is probing */
  struct quic_pmtu_watch pmtu;     /* full-size loss, MTU black holes */
  uint64_t dgram_seq;              /* ids of sent datagrams */
  struct quic_silence silence;     /* the receiving path went quiet */
  int probe_now;                   /* an outage ended: PING on next write */
  uint64_t outage_ended_at;        /* ns: when the peer was heard again */
  ngtcp2_ccerr ccerr;
  FILE *qlog;                      /* owned; cfg.qlog_dir */
  gnutls_datum_t ticket;           /* client: latest session data, owned */
  uint8_t peer_pin[JVPN_PIN_LEN];
  int peer_pin_set;
  struct quic_conn_stats stats;
};


/* Conversions between quic/'s public types and ngtcp2's. */
static inline void quic_cid_from_ngtcp2(struct quic_cid *dst,
                                        const ngtcp2_cid *src) {
  dst->len = src->datalen <= QUIC_CID_MAX ? src->datalen : QUIC_CID_MAX;
  memcpy(dst->data, src->data, dst->len);
}

static inline void quic_path_from_ngtcp2(struct quic_path *dst,
                                         const ngtcp2_path *src) {
  dst->local = (const struct sockaddr *)src->local.addr;
  dst->local_len = (socklen_t)src->local.addrlen;
  dst->remote = (const struct sockaddr *)src->remote.addr;
  dst->remote_len = (socklen_t)src->remote.addrlen;
}

#endif /* QUIC_QUIC_CONN_INT_H */
