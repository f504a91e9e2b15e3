/* quic/capsule: streaming Capsule Protocol codec (RFC 9297 3.2). */
#include "quic/capsule.h"

#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/varint.h"

enum capsule_state {
  CAPSULE_HDR = 0, /* collecting the type and length varints */
  CAPSULE_VALUE,   /* buffering a known capsule's value */
  CAPSULE_SKIP,    /* discarding an unknown capsule's value */
  CAPSULE_FAILED,  /* an error was returned; all input is refused */
};

/* Encoded length of a varint, from its first byte (RFC 9000 16). */
static size_t vlen(uint8_t first) {
  return (size_t)1 << (first >> 6);
}

void capsule_parser_init(struct capsule_parser *p, capsule_known_fn is_known,
                         capsule_cb cb, void *user) {
  p->cb = cb;
  p->is_known = is_known;
  p->user = user;
  p->state = CAPSULE_HDR;
  memset(p->hdr, 0, sizeof(p->hdr));
  p->hdr_len = 0;
  p->type = 0;
  p->remaining = 0;
  p->value_len = 0;
  p->have = 0;
  p->value = NULL;
  memset(&p->stats, 0, sizeof(p->stats));
}

void capsule_parser_free(struct capsule_parser *p) {
  free(p->value);
  p->value = NULL;
}

static int fail(struct capsule_parser *p, int rv) {
  capsule_parser_free(p);
  p->state = CAPSULE_FAILED;
  return rv;
}

static int deliver(struct capsule_parser *p, const uint8_t *value, size_t len) {
  int rv;

  p->stats.delivered++;
  p->state = CAPSULE_HDR;
  p->hdr_len = 0;
  if (p->cb == NULL)
    return 0;
  rv = p->cb(p->user, p->type, value, len);
  return rv != 0 ? fail(p, rv) : 0;
}

/* Called once both header varints are complete; picks what follows. */
static int start_value(struct capsule_parser *p) {
  uint64_t len;
  size_t tlen, llen;

  /* Both decodes succeed: hdr_len was grown to exactly their lengths. */
  (void)jvpn_varint_decode(p->hdr, p->hdr_len, &p->type, &tlen);
  (void)jvpn_varint_decode(p->hdr + tlen, p->hdr_len - tlen, &len, &llen);
  p->hdr_len = 0;
  if (p->is_known != NULL && !p->is_known(p->type)) {
    p->stats.skipped++;
    p->remaining = len;
    p->state = len > 0 ? CAPSULE_SKIP : CAPSULE_HDR;
    return 0;
  }
  if (len > JVPN_CAPSULE_MAX_VALUE)
    return fail(p, JVPN_ERR_OVERSIZE);
  p->value_len = (size_t)len;
  p->remaining = len;
  p->have = 0;
  if (len == 0)
    return deliver(p, p->hdr, 0); /* any valid pointer: nothing is read */
  p->state = CAPSULE_VALUE;
  return 0;
}

/* Copies up to |len| bytes of a value split across pieces into its buffer,
 * allocated at the first piece, and delivers the value once complete. */
static int reassemble(struct capsule_parser *p, const uint8_t *data, size_t len,
                      size_t *used) {
  size_t n = p->value_len - p->have;
  uint8_t *value;
  int rv;

  if (p->value == NULL && (p->value = malloc(p->value_len)) == NULL)
    return fail(p, JVPN_ERR_NOMEM);
  if (n > len)
    n = len;
  memcpy(p->value + p->have, data, n);
  p->have += n;
  *used = n;
  if (p->have < p->value_len)
    return 0;
  /* The buffer leaves the parser before the callback, which may end the
   * stream and free the parser: nothing here touches |p| after it. */
  value = p->value;
  p->value = NULL;
  rv = deliver(p, value, p->value_len);
  free(value);
  return rv;
}

int capsule_parser_feed(struct capsule_parser *p, const uint8_t *data,
                        size_t len) {
  size_t n, need;
  int rv;

  /* The stream position is lost after an error, so nothing later can be
   * framed correctly. */
  if (p->state == CAPSULE_FAILED)
    return JVPN_ERR_INVAL;
  while (len > 0) {
    switch (p->state) {
    case CAPSULE_HDR:
      /* The header is at most 16 bytes, so byte-wise copying is cheap and
       * handles every split point the same way. */
      p->hdr[p->hdr_len++] = *data++;
      len--;
      need = vlen(p->hdr[0]);
      if (p->hdr_len < need + 1)
        break;
      need += vlen(p->hdr[need]);
      if (p->hdr_len < need)
        break;
      if ((rv = start_value(p)) != 0)
        return rv;
      break;
    case CAPSULE_VALUE:
      if (p->have == 0 && len >= p->value_len) {
        /* Whole value in this piece: hand it over without a copy. */
        n = p->value_len;
        data += n;
        len -= n;
        if ((rv = deliver(p, data - n, n)) != 0)
          return rv;
        break;
      }
      if ((rv = reassemble(p, data, len, &n)) != 0)
        return rv;
      data += n;
      len -= n;
      break;
    case CAPSULE_SKIP:
      n = p->remaining < len ? (size_t)p->remaining : len;
      p->remaining -= n;
      p->stats.skipped_bytes += n;
      data += n;
      len -= n;
      if (p->remaining == 0) {
        p->state = CAPSULE_HDR;
        p->hdr_len = 0;
      }
      break;
    default: return JVPN_ERR_INVAL;
    }
  }
  return 0;
}

int capsule_parser_mid_capsule(const struct capsule_parser *p) {
  switch (p->state) {
  case CAPSULE_HDR: return p->hdr_len > 0;
  case CAPSULE_VALUE:
  case CAPSULE_SKIP: return 1;
  default:
    /* A failed parser never reached a clean capsule boundary. */
    return 1;
  }
}

long capsule_encode(uint8_t *dst, size_t dstlen, uint64_t type,
                    const uint8_t *value, size_t len) {
  size_t tlen = jvpn_varint_len(type), llen = jvpn_varint_len(len), off;

  if (tlen == 0 || llen == 0)
    return JVPN_ERR_INVAL;
  if (dstlen < tlen || dstlen - tlen < llen || dstlen - tlen - llen < len)
    return JVPN_ERR_NOSPACE;
  off = jvpn_varint_encode(dst, dstlen, type);
  off += jvpn_varint_encode(dst + off, dstlen - off, len);
  if (len > 0)
    memcpy(dst + off, value, len);
  return (long)(off + len);
}
