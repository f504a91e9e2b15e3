/*
 * quic/quic_pkt: what a server does with a packet before a connection
 * exists for it: read its version and connection IDs, accept a client's
 * first Initial, and the stateless answers (Version Negotiation, stateless
 * reset, Retry with an address-validation token).
 *
 * Stateless and sans-I/O: the caller sends what these functions write.
 */
#ifndef QUIC_QUIC_PKT_H
#define QUIC_QUIC_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "quic/quic_conn.h"

/* The invariant fields of any QUIC packet (RFC 8999). */
struct quic_pkt_ids {
  uint32_t version;      /* 0: a short header */
  struct quic_cid dcid;  /* short header: the first |JVPN_QUIC_SCID_LEN|
                          * bytes, our CID length */
  struct quic_cid scid;  /* long header only */
};

/* A client's first packet, as quic_conn_server_new() takes it. The token
 * points into the packet. */
struct quic_initial {
  uint32_t version;
  struct quic_cid dcid, scid;
  const uint8_t *token;
  size_t token_len;
  int is_initial;        /* 0: a 0-RTT packet that came first */
};

/* Results of quic_pkt_decode_ids(). */
#define QUIC_PKT_OK 0
#define QUIC_PKT_VERSION_UNSUPPORTED 1 /* answer with Version Negotiation */

/* Reads the version and CIDs of |pkt|. Returns QUIC_PKT_OK,
 * QUIC_PKT_VERSION_UNSUPPORTED (|ids| filled for quic_pkt_write_vn), or
 * JVPN_ERR_MALFORMED. */
int quic_pkt_decode_ids(struct quic_pkt_ids *ids, const uint8_t *pkt,
                        size_t len);

/* Nonzero if a client may start a connection in |version| here: QUIC v1
 * and v2 (RFC 9369). Drafts and unknown versions get Version Negotiation. */
int quic_pkt_version_supported(uint32_t version);

/* Parses a client's first packet. Returns 0 or JVPN_ERR_MALFORMED (not an
 * Initial or 0-RTT packet a server may accept, e.g. under 1200 bytes). */
int quic_pkt_accept(struct quic_initial *in, const uint8_t *pkt, size_t len);

/* Writes the Version Negotiation packet (listing v2 and v1) answering a
 * long header with |ids|. Returns its length or JVPN_ERR_NOSPACE. */
long quic_pkt_write_vn(uint8_t *out, size_t cap,
                       const struct quic_pkt_ids *ids);

/* Writes a stateless reset (RFC 9000 10.3) for a packet of |pkt_len|
 * bytes to |dcid|, with the token derived from |secret| (32 bytes, as
 * quic_conn_config.reset_secret): shorter than the packet that caused it,
 * so two endpoints cannot loop. Returns its length, 0 when |pkt_len| is too
 * short to answer, or a negative JVPN_ERR_*. */
long quic_pkt_write_stateless_reset(uint8_t *out, size_t cap,
                                    const uint8_t secret[32],
                                    const struct quic_cid *dcid,
                                    size_t pkt_len);

/* Writes a Retry packet answering |in| from |remote|, with a token sealed
 * under |secret| that binds the client's address, the original DCID and
 * |now|; its SCID (the client's next DCID) names this server when |lb| is
 * on (quic/quic_lb.h; NULL: random). Returns its length or a negative
 * JVPN_ERR_*. */
struct quic_lb;
long quic_pkt_write_retry(uint8_t *out, size_t cap, const uint8_t *secret,
                          size_t secret_len, const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          const struct quic_lb *lb, uint64_t now);

/* Checks the Retry token of |in| from |remote|: sealed by |secret|, for
 * this address, at most |ttl_ns| old. On success writes the client's
 * original DCID into |odcid| (quic_conn_config.retry_odcid). Returns 0,
 * JVPN_ERR_AGAIN (no Retry token: send a Retry) or JVPN_ERR_DENIED
 * (forged, expired or for another address). */
int quic_pkt_verify_retry(const uint8_t *secret, size_t secret_len,
                          const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          uint64_t ttl_ns, uint64_t now,
                          struct quic_cid *odcid);

/* Checks the NEW_TOKEN token (RFC 9000 8.1.3) of |in| from |remote|:
 * sealed by |secret| for this address, at most |ttl_ns| old. Returns 0,
 * JVPN_ERR_AGAIN (no such token) or JVPN_ERR_DENIED. */
int quic_pkt_verify_token(const uint8_t *secret, size_t secret_len,
                          const struct quic_initial *in,
                          const struct sockaddr *remote, socklen_t remote_len,
                          uint64_t ttl_ns, uint64_t now);

/* A 16-byte digest of |cid| keyed by |key| (32 bytes, secret, random per
 * process): how a server files the connection IDs it did not choose (a
 * client's first DCID, of any length) in a hash table that a client cannot
 * flood with colliding IDs. Returns 0 or JVPN_ERR_TLS. */
int quic_pkt_cid_digest(const uint8_t key[32], const struct quic_cid *cid,
                        uint8_t out[16]);

#endif /* QUIC_QUIC_PKT_H */
