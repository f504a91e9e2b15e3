/*
 * quic/capsule: streaming codec for the Capsule Protocol (RFC 9297 3.2).
 *
 * A capsule is Type (varint) | Length (varint) | Value. The CONNECT stream's
 * DATA arrives in arbitrary pieces; capsule_parser_feed() reassembles them.
 * Known types (those |is_known| accepts) are buffered up to
 * JVPN_CAPSULE_MAX_VALUE bytes and handed to the callback whole; a known
 * capsule longer than that is an error. A value that arrives in one piece
 * is handed over in place; only one split across pieces is copied into a
 * buffer allocated for it and freed once it is delivered, so that an idle
 * stream holds no buffer (issue 15). Unknown types are skipped without
 * buffering, whatever their length (RFC 9297 3.2: "MUST silently skip").
 */
#ifndef QUIC_CAPSULE_H
#define QUIC_CAPSULE_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"

/* Called once per complete known capsule. |value| is valid only during the
 * call. A nonzero return stops parsing and is returned by _feed(). */
typedef int (*capsule_cb)(void *user, uint64_t type, const uint8_t *value,
                          size_t len);
/* Returns nonzero if capsules of |type| are to be delivered. */
typedef int (*capsule_known_fn)(uint64_t type);

struct capsule_stats {
  uint64_t delivered; /* known capsules handed to the callback */
  uint64_t skipped;   /* unknown capsules skipped */
  uint64_t skipped_bytes;
};

struct capsule_parser {
  capsule_cb cb;
  capsule_known_fn is_known;
  void *user;
  int state;       /* private: header, value, skip, failed */
  uint8_t hdr[16]; /* private: partial type and length varints */
  size_t hdr_len;
  uint64_t type;
  uint64_t remaining; /* value bytes still expected or to skip */
  size_t value_len;
  size_t have;
  uint8_t *value; /* private: owned; only while a split value is
                   * reassembled, value_len bytes */
  struct capsule_stats stats;
};

/* Prepares |p|. |is_known| may be NULL (every type is known). */
void capsule_parser_init(struct capsule_parser *p, capsule_known_fn is_known,
                         capsule_cb cb, void *user);

/* Releases the buffer of a partly received capsule, if any. |p| may be
 * initialized again afterwards. */
void capsule_parser_free(struct capsule_parser *p);

/* Feeds |len| stream bytes. Returns 0 when all were consumed (a partial
 * capsule stays buffered), JVPN_ERR_OVERSIZE for a known capsule over the
 * limit, JVPN_ERR_NOMEM if a split value's buffer cannot be allocated,
 * JVPN_ERR_MALFORMED for a varint over 2^62-1 (impossible on the wire
 * but kept for completeness), or the callback's nonzero return. After an
 * error the parser stays failed and rejects further input. */
int capsule_parser_feed(struct capsule_parser *p, const uint8_t *data,
                        size_t len);

/* Returns nonzero if a capsule is partly received: a stream that ends here
 * ended inside a capsule, which RFC 9297 3.3 treats as malformed. */
int capsule_parser_mid_capsule(const struct capsule_parser *p);

/* Writes one capsule into |dst|. Returns the bytes written, or
 * JVPN_ERR_NOSPACE if |dstlen| is too small. */
long capsule_encode(uint8_t *dst, size_t dstlen, uint64_t type,
                    const uint8_t *value, size_t len);

#endif /* QUIC_CAPSULE_H */
