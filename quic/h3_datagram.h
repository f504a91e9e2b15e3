/*
 * quic/h3_datagram: HTTP Datagram framing (RFC 9297 2.1, RFC 9484 6).
 *
 * A QUIC DATAGRAM frame's payload is
 *   Quarter Stream ID (i) | Context ID (i) | Payload
 * where the quarter stream ID is the CONNECT request stream ID / 4, and
 * context ID 0 carries a full IP packet.
 */
#ifndef QUIC_H3_DATAGRAM_H
#define QUIC_H3_DATAGRAM_H

#include <stddef.h>
#include <stdint.h>

#define H3_DATAGRAM_MAX_HEADER 16 /* bytes: two 8-byte varints */

/* Parses |d|. On success stores the request stream ID (quarter * 4), the
 * context ID and the payload, and returns 0. Returns JVPN_ERR_TRUNCATED if
 * either varint is cut off, JVPN_ERR_MALFORMED if the quarter stream ID
 * cannot be a client-initiated bidirectional stream (> 2^60-1). An empty
 * payload is valid framing; the caller decides what it means. */
int h3_datagram_parse(const uint8_t *d, size_t len, uint64_t *stream_id,
                      uint64_t *context_id, const uint8_t **payload,
                      size_t *payload_len);

/* Writes the header for |stream_id| (a multiple of 4) and |context_id|
 * into |hdr|. Returns its length (2 for a typical CONNECT stream), or 0 if
 * |stream_id| is not a multiple of 4 or a value is out of range. */
size_t h3_datagram_header(uint8_t hdr[H3_DATAGRAM_MAX_HEADER],
                          uint64_t stream_id, uint64_t context_id);

#endif /* QUIC_H3_DATAGRAM_H */
