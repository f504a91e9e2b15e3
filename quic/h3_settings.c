/* quic/h3_settings: SETTINGS shim between nghttp3 0.8 and ngtcp2. */
#include "quic/h3_settings.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "jvpn/varint.h"

/* uni[].done: 0 while peeking, UNI_DONE when finished. A negative value
 * -k means a multi-byte stream type, all zero so far, still lacks k bytes;
 * it is kept there because the split may fall between any two bytes and
 * the first byte, which fixes the varint's length, is gone by then. */
#define UNI_DONE 1

/* Encoded length of a varint, from its first byte (RFC 9000 16). */
static size_t vlen(uint8_t first) {
  return (size_t)1 << (first >> 6);
}

void h3_settings_init(struct h3_settings_shim *s) {
  memset(s, 0, sizeof(*s));
  s->peer_ctrl_stream = -1;
}

/* --- outgoing ------------------------------------------------------------ */

/* Walks a SETTINGS payload. Returns 0 with |*has_dgram| set if it holds
 * H3_DATAGRAM, or JVPN_ERR_MALFORMED if a pair is cut off. */
static int scan_pairs(const uint8_t *p, size_t len, int *has_dgram) {
  size_t off = 0, used;
  uint64_t id, val;

  *has_dgram = 0;
  while (off < len) {
    if (jvpn_varint_decode(p + off, len - off, &id, &used) != 0)
      return JVPN_ERR_MALFORMED;
    off += used;
    if (jvpn_varint_decode(p + off, len - off, &val, &used) != 0)
      return JVPN_ERR_MALFORMED;
    off += used;
    if (id == JVPN_H3_SETTING_H3_DATAGRAM)
      *has_dgram = 1;
  }
  return 0;
}

long h3_settings_rewrite(struct h3_settings_shim *s, const uint8_t *data,
                         size_t len) {
  size_t off = 0, used, o, plen;
  uint64_t v, flen;
  int has_dgram, rv;

  if (s->rewritten)
    return JVPN_ERR_INVAL;
  if (jvpn_varint_decode(data, len, &v, &used) != 0)
    return JVPN_ERR_TRUNCATED;
  if (v != JVPN_H3_STREAM_CONTROL)
    return JVPN_ERR_MALFORMED;
  off += used;
  if (jvpn_varint_decode(data + off, len - off, &v, &used) != 0)
    return JVPN_ERR_TRUNCATED;
  if (v != JVPN_H3_FRAME_SETTINGS)
    return JVPN_ERR_MALFORMED;
  off += used;
  if (jvpn_varint_decode(data + off, len - off, &flen, &used) != 0)
    return JVPN_ERR_TRUNCATED;
  off += used;
  if (flen > H3_SETTINGS_MAX)
    return JVPN_ERR_OVERSIZE;
  if (len - off < flen)
    return JVPN_ERR_TRUNCATED;
  if ((rv = scan_pairs(data + off, (size_t)flen, &has_dgram)) != 0)
    return rv;
  /* The result obeys the limit we impose on peers (h3_settings_peek). */
  plen = (size_t)flen + (has_dgram ? 0 : 2);
  if (plen > H3_SETTINGS_MAX)
    return JVPN_ERR_OVERSIZE;

  /* Type and length are re-encoded minimally: the new length may need a
   * longer varint than nghttp3's, and |out| is sized for minimal headers
   * (1 + 1 + 2 + H3_SETTINGS_MAX bytes). */
  o = 0;
  s->out[o++] = JVPN_H3_STREAM_CONTROL;
  s->out[o++] = JVPN_H3_FRAME_SETTINGS;
  o += jvpn_varint_encode(s->out + o, sizeof(s->out) - o, plen);
  memcpy(s->out + o, data + off, (size_t)flen);
  o += (size_t)flen;
  if (!has_dgram) {
    s->out[o++] = JVPN_H3_SETTING_H3_DATAGRAM;
    s->out[o++] = 1;
  }
  s->out_len = o;
  s->out_sent = 0;
  s->orig_len = off + (size_t)flen;
  s->rewritten = 1;
  return (long)s->orig_len;
}

const uint8_t *h3_settings_pending(const struct h3_settings_shim *s,
                                   size_t *len) {
  if (!s->rewritten || s->out_sent >= s->out_len) {
    *len = 0;
    return NULL;
  }
  *len = s->out_len - s->out_sent;
  return s->out + s->out_sent;
}

size_t h3_settings_sent(struct h3_settings_shim *s, size_t n) {
  size_t mine = s->out_len - s->out_sent;

  if (mine > n)
    mine = n;
  s->out_sent += mine;
  return n - mine;
}

size_t h3_settings_wire_to_h3(const struct h3_settings_shim *s, uint64_t off,
                              size_t len) {
  uint64_t end = off + len, start;

  if (!s->rewritten)
    return len;
  /* Wire bytes [0, out_len) are the shim's; nghttp3 acked its own copy of
   * that prefix at rewrite time, so only bytes past it count. */
  if (end <= s->out_len)
    return 0;
  start = off > s->out_len ? off : s->out_len;
  return (size_t)(end - start);
}

/* --- incoming ------------------------------------------------------------ */

/* Validates a complete SETTINGS payload and records what we need. Nothing
 * is recorded unless the whole frame is valid. */
static int parse_settings(struct h3_settings_shim *s, const uint8_t *p,
                          size_t len) {
  size_t off = 0, used, o2, u2;
  uint64_t id, val, id2, val2;
  int dgram = 0, connect = 0;

  while (off < len) {
    size_t start = off;

    if (jvpn_varint_decode(p + off, len - off, &id, &used) != 0)
      return JVPN_ERR_MALFORMED;
    off += used;
    if (jvpn_varint_decode(p + off, len - off, &val, &used) != 0)
      return JVPN_ERR_MALFORMED;
    off += used;
    /* RFC 9114 7.2.4.1: HTTP/2-only identifiers are an error. */
    if (id >= 0x02 && id <= 0x05)
      return JVPN_ERR_MALFORMED;
    /* RFC 9114 7.2.4: the same identifier twice is an error. The frame is
     * at most H3_SETTINGS_MAX bytes, so a rescan stays cheap. */
    for (o2 = 0; o2 < start;) {
      (void)jvpn_varint_decode(p + o2, start - o2, &id2, &u2);
      o2 += u2;
      (void)jvpn_varint_decode(p + o2, start - o2, &val2, &u2);
      o2 += u2;
      if (id2 == id)
        return JVPN_ERR_MALFORMED;
    }
    /* RFC 9297 2.1.1 and RFC 8441 3: both settings are 0 or 1. */
    if (id == JVPN_H3_SETTING_H3_DATAGRAM) {
      if (val > 1)
        return JVPN_ERR_MALFORMED;
      dgram = (int)val;
    } else if (id == JVPN_H3_SETTING_ENABLE_CONNECT_PROTOCOL) {
      if (val > 1)
        return JVPN_ERR_MALFORMED;
      connect = (int)val;
    }
  }
  s->peer_h3_datagram = dgram;
  s->peer_connect_protocol = connect;
  s->peer_settings_seen = 1;
  return 0;
}

/* Bytes of the control stream's first frame still wanted in |in|, given
 * what is buffered; 0 once the frame is complete. Fails as soon as the
 * frame type or length shows the frame is unacceptable. */
static int ctrl_need(const struct h3_settings_shim *s, size_t *need) {
  size_t tlen, llen, used;
  uint64_t v;

  if (s->in_len == 0) {
    *need = 1;
    return 0;
  }
  tlen = vlen(s->in[0]);
  if (s->in_len < tlen) {
    *need = tlen - s->in_len;
    return 0;
  }
  (void)jvpn_varint_decode(s->in, tlen, &v, &used);
  /* RFC 9114 6.2.1: SETTINGS comes first, even before reserved types. */
  if (v != JVPN_H3_FRAME_SETTINGS)
    return JVPN_ERR_MALFORMED;
  if (s->in_len == tlen) {
    *need = 1;
    return 0;
  }
  llen = vlen(s->in[tlen]);
  if (s->in_len < tlen + llen) {
    *need = tlen + llen - s->in_len;
    return 0;
  }
  (void)jvpn_varint_decode(s->in + tlen, llen, &v, &used);
  if (v > H3_SETTINGS_MAX)
    return JVPN_ERR_OVERSIZE;
  /* At most 8 + 8 + H3_SETTINGS_MAX bytes: |in| holds that exactly. */
  *need = tlen + llen + (size_t)v - s->in_len;
  return 0;
}

/* Feeds control stream bytes that follow the stream type. */
static int ctrl_feed(struct h3_settings_shim *s, const uint8_t *data,
                     size_t len, size_t *consumed) {
  size_t need, take, tlen, llen;
  int rv;

  *consumed = 0;
  for (;;) {
    if ((rv = ctrl_need(s, &need)) != 0)
      return rv;
    if (need == 0) {
      tlen = vlen(s->in[0]);
      llen = vlen(s->in[tlen]);
      return parse_settings(s, s->in + tlen + llen, s->in_len - tlen - llen);
    }
    if (len == 0)
      return JVPN_ERR_AGAIN;
    take = need < len ? need : len;
    memcpy(s->in + s->in_len, data, take);
    s->in_len += take;
    data += take;
    len -= take;
    *consumed += take;
  }
}

/* Feeds one byte of the stream type. */
static void type_byte(struct h3_settings_shim *s, int64_t stream_id, int *done,
                      uint8_t b, int first) {
  if (first) {
    if ((b & 0x3f) != 0) {
      *done = UNI_DONE;
      return;
    }
    *done = -(int)(vlen(b) - 1);
  } else if (b != 0) {
    *done = UNI_DONE;
    return;
  } else {
    (*done)++;
  }
  if (*done < 0)
    return;
  /* The type is 0x00. A second control stream is the peer's error, which
   * nghttp3 reports (H3_STREAM_CREATION_ERROR); we keep the first. */
  if (s->peer_ctrl_stream >= 0) {
    *done = UNI_DONE;
    return;
  }
  s->peer_ctrl_stream = stream_id;
  s->in_len = 0;
  *done = 0;
}

int h3_settings_peek(struct h3_settings_shim *s, int64_t stream_id,
                     uint64_t off, const uint8_t *data, size_t len) {
  size_t i, skip, used;
  int rv;

  if (len == 0)
    return 0;
  for (i = 0; i < s->nuni; i++)
    if (s->uni[i].id == stream_id)
      break;
  if (i == s->nuni) {
    /* Streams past the bound, or first seen past offset 0, are left to
     * nghttp3 alone. */
    if (off != 0 || s->nuni == H3_SETTINGS_MAX_UNI)
      return 0;
    s->uni[i].id = stream_id;
    s->uni[i].off = 0;
    s->uni[i].done = 0;
    s->nuni++;
  }
  if (s->uni[i].done == UNI_DONE || off + len <= s->uni[i].off)
    return 0;
  if (off > s->uni[i].off) {
    /* A gap: the glue broke the in-order promise; stop peeking rather
     * than parse a frame with a hole in it. */
    s->uni[i].done = UNI_DONE;
    return JVPN_ERR_INVAL;
  }
  skip = (size_t)(s->uni[i].off - off);
  data += skip;
  len -= skip;

  while (len > 0 && stream_id != s->peer_ctrl_stream) {
    type_byte(s, stream_id, &s->uni[i].done, *data, s->uni[i].off == 0);
    s->uni[i].off++;
    data++;
    len--;
    if (s->uni[i].done == UNI_DONE)
      return 0;
  }
  if (len == 0)
    return 0;
  rv = ctrl_feed(s, data, len, &used);
  s->uni[i].off += used;
  if (rv == JVPN_ERR_AGAIN)
    return 0;
  s->uni[i].done = UNI_DONE;
  return rv;
}
