/* jvpn-quic: the stored session record (src/store_record.h). */
#include "src/store_record.h"

#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include "jvpn/errors.h"

_Static_assert(JVPN_REPLAY_WINDOW / 64 == 2, "format v1 has 2 window words");
_Static_assert(JVPN_SWITCH_RING <= 255, "nswitches is one byte");

static const uint8_t magic[3] = {'J', 'V', 'S'};

const char *jvpn_store_skip_name(enum jvpn_store_skip why) {
  switch (why) {
  case JVPN_STORE_SKIP_MALFORMED: return "malformed";
  case JVPN_STORE_SKIP_VERSION: return "unknown_version";
  case JVPN_STORE_SKIP_SEAL: return "seal";
  default: return "?";
  }
}

/* --- big-endian cursor ---------------------------------------------------- */

struct cur {
  uint8_t *w;       /* writing */
  const uint8_t *r; /* reading */
  size_t off;
};

static void put_bytes(struct cur *c, const void *p, size_t n) {
  memcpy(c->w + c->off, p, n);
  c->off += n;
}

/* |n| bytes of |v|, most significant first. */
static void put_uint(struct cur *c, uint64_t v, int n) {
  while (n-- > 0)
    c->w[c->off++] = (uint8_t)(v >> (8 * n));
}

static void put_u64(struct cur *c, uint64_t v) { put_uint(c, v, 8); }

static void get_bytes(struct cur *c, void *p, size_t n) {
  memcpy(p, c->r + c->off, n);
  c->off += n;
}

static uint64_t get_uint(struct cur *c, int n) {
  uint64_t v = 0;

  while (n-- > 0)
    v = (v << 8) | c->r[c->off++];
  return v;
}

static uint64_t get_u64(struct cur *c) { return get_uint(c, 8); }

/* --- encode / decode ------------------------------------------------------- */

long store_record_encode(uint8_t *out, size_t cap,
                         const struct jvpn_store_record *r,
                         const uint8_t key[JVPN_STORE_KEY_LEN],
                         const uint8_t nonce[STORE_RECORD_NONCE_LEN]) {
  struct cur c = {.w = out, .r = NULL, .off = 0};
  uint8_t ver = STORE_RECORD_VERSION, flags;
  size_t aad_len, i;

  if (out == NULL || r == NULL || key == NULL || nonce == NULL ||
      r->state >= JVPN_SS_COUNT || r->nswitches > JVPN_SWITCH_RING)
    return JVPN_ERR_INVAL;
  if (cap < STORE_RECORD_MIN + 8 * (size_t)r->nswitches)
    return JVPN_ERR_NOSPACE;
  flags = (uint8_t)((r->has4 ? 1 : 0) | (r->has6 ? 2 : 0));
  put_bytes(&c, magic, sizeof(magic));
  put_bytes(&c, &ver, 1);
  put_bytes(&c, r->id, sizeof(r->id));
  put_bytes(&c, r->owner_pin, sizeof(r->owner_pin));
  put_bytes(&c, &r->state, 1);
  put_bytes(&c, &flags, 1);
  put_bytes(&c, r->addr4, sizeof(r->addr4));
  put_bytes(&c, r->addr6, sizeof(r->addr6));
  put_u64(&c, r->state_version);
  put_u64(&c, r->attach_version);
  put_u64(&c, r->active_attachment);
  put_u64(&c, r->last_attachment_id);
  put_u64(&c, r->replay.top);
  put_u64(&c, r->replay.bits[0]);
  put_u64(&c, r->replay.bits[1]);
  put_u64(&c, r->n_transitions);
  put_u64(&c, r->n_switches);
  put_uint(&c, r->policy_version, 4);
  put_u64(&c, r->born_wall_ms);
  put_u64(&c, r->state_entered_wall_ms);
  put_u64(&c, r->last_attached_wall_ms);
  put_u64(&c, r->last_switch_wall_ms);
  put_u64(&c, r->lifetime_deadline_wall_ms);
  put_u64(&c, r->loss_deadline_wall_ms);
  out[c.off++] = (uint8_t)r->nswitches;
  for (i = 0; i < r->nswitches; i++)
    put_u64(&c, r->switch_wall_ms[i]);
  aad_len = c.off;
  put_bytes(&c, nonce, STORE_RECORD_NONCE_LEN);
  if (wc_ChaCha20Poly1305_Encrypt(key, nonce, out, (word32)aad_len, r->secret,
                                  JVPN_SECRET_LEN, out + c.off,
                                  out + c.off + JVPN_SECRET_LEN) != 0)
    return JVPN_ERR_FATAL;
  c.off += JVPN_SECRET_LEN + STORE_RECORD_TAG_LEN;
  return (long)c.off;
}

static int skip(enum jvpn_store_skip *why, const char **detail,
                enum jvpn_store_skip w, const char *d) {
  *why = w;
  *detail = d;
  return -1;
}

int store_record_decode(const uint8_t *in, size_t len,
                        const uint8_t key[JVPN_STORE_KEY_LEN],
                        struct jvpn_store_record *r,
                        enum jvpn_store_skip *why, const char **detail) {
  struct cur c = {.w = NULL, .r = in, .off = 0};
  uint8_t flags;
  size_t i, aad_len;
  int rc;

  memset(r, 0, sizeof(*r));
  if (in == NULL || len < 4 || memcmp(in, magic, sizeof(magic)) != 0)
    return skip(why, detail, JVPN_STORE_SKIP_MALFORMED, "bad magic");
  if (in[3] != STORE_RECORD_VERSION)
    return skip(why, detail, JVPN_STORE_SKIP_VERSION,
                "record format version unknown");
  if (len < STORE_RECORD_MIN || len > STORE_RECORD_MAX)
    return skip(why, detail, JVPN_STORE_SKIP_MALFORMED, "bad length");
  if (in[STORE_RECORD_FIXED - 1] > JVPN_SWITCH_RING ||
      len != STORE_RECORD_MIN + 8 * (size_t)in[STORE_RECORD_FIXED - 1])
    return skip(why, detail, JVPN_STORE_SKIP_MALFORMED,
                "length does not match the switch count");
  c.off = 4;
  get_bytes(&c, r->id, sizeof(r->id));
  get_bytes(&c, r->owner_pin, sizeof(r->owner_pin));
  r->state = in[c.off++];
  flags = in[c.off++];
  if (r->state >= JVPN_SS_COUNT || (flags & ~3u) != 0)
    return skip(why, detail, JVPN_STORE_SKIP_MALFORMED,
                "state or flags out of range");
  r->has4 = flags & 1;
  r->has6 = (flags >> 1) & 1;
  get_bytes(&c, r->addr4, sizeof(r->addr4));
  get_bytes(&c, r->addr6, sizeof(r->addr6));
  r->state_version = get_u64(&c);
  r->attach_version = get_u64(&c);
  r->active_attachment = get_u64(&c);
  r->last_attachment_id = get_u64(&c);
  r->replay.top = get_u64(&c);
  r->replay.bits[0] = get_u64(&c);
  r->replay.bits[1] = get_u64(&c);
  r->n_transitions = get_u64(&c);
  r->n_switches = get_u64(&c);
  r->policy_version = (uint32_t)get_uint(&c, 4);
  r->born_wall_ms = get_u64(&c);
  r->state_entered_wall_ms = get_u64(&c);
  r->last_attached_wall_ms = get_u64(&c);
  r->last_switch_wall_ms = get_u64(&c);
  r->lifetime_deadline_wall_ms = get_u64(&c);
  r->loss_deadline_wall_ms = get_u64(&c);
  r->nswitches = in[c.off++];
  for (i = 0; i < r->nswitches; i++)
    r->switch_wall_ms[i] = get_u64(&c);
  aad_len = c.off;
  rc = wc_ChaCha20Poly1305_Decrypt(
      key, in + aad_len, in, (word32)aad_len,
      in + aad_len + STORE_RECORD_NONCE_LEN, JVPN_SECRET_LEN,
      in + aad_len + STORE_RECORD_NONCE_LEN + JVPN_SECRET_LEN, r->secret);
  if (rc != 0) {
    jvpn_wipe(r->secret, sizeof(r->secret));
    return skip(why, detail, JVPN_STORE_SKIP_SEAL,
                "authentication tag does not verify");
  }
  if (r->attach_version > r->state_version ||
      (r->active_attachment != 0 &&
       r->active_attachment > r->last_attachment_id) ||
      (r->state == JVPN_SS_RECOVERING && r->active_attachment != 0)) {
    jvpn_wipe(r->secret, sizeof(r->secret));
    return skip(why, detail, JVPN_STORE_SKIP_MALFORMED,
                "versions or attachments inconsistent");
  }
  return 0;
}

/* --- conversion ------------------------------------------------------------ */

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Instant |t| of one clock (whose now is |now_from|) on another (whose
 * now is |now_to|): 0 stays 0 (never), the future is now, and what lies
 * before the other clock's origin becomes 1. Monotonic to wall and back. */
static uint64_t reclock(uint64_t t, uint64_t now_from, uint64_t now_to) {
  uint64_t ago;

  if (t == 0)
    return 0;
  ago = now_from > t ? now_from - t : 0;
  return now_to > ago ? now_to - ago : 1;
}

static uint64_t to_wall(uint64_t mono, uint64_t now_mono, uint64_t now_wall) {
  return reclock(mono, now_mono, now_wall);
}

static uint64_t to_mono(uint64_t wall, uint64_t now_mono, uint64_t now_wall) {
  return reclock(wall, now_wall, now_mono);
}

void store_record_from_session(struct jvpn_store_record *r,
                               const struct jvpn_session *s,
                               const struct jvpn_policy *p, uint64_t now_mono,
                               uint64_t now_wall) {
  uint32_t i;

  memset(r, 0, sizeof(*r));
  memcpy(r->id, s->id, sizeof(r->id));
  memcpy(r->owner_pin, s->owner_pin, sizeof(r->owner_pin));
  memcpy(r->secret, s->secret, sizeof(r->secret));
  r->state = (uint8_t)s->state;
  r->state_version = s->state_version;
  r->attach_version = s->attach_version;
  r->active_attachment = jvpn_session_active(s);
  r->last_attachment_id = s->last_attachment_id;
  r->replay = s->replay;
  r->n_transitions = s->n_transitions;
  r->n_switches = s->n_switches;
  r->policy_version = s->policy_version;
  r->born_wall_ms = to_wall(s->born_ms, now_mono, now_wall);
  r->state_entered_wall_ms = to_wall(s->state_entered_ms, now_mono, now_wall);
  r->last_attached_wall_ms = to_wall(s->last_attached_ms, now_mono, now_wall);
  r->last_switch_wall_ms = to_wall(s->last_switch_ms, now_mono, now_wall);
  r->lifetime_deadline_wall_ms = add_sat(r->born_wall_ms, p->session_lifetime_ms);
  r->loss_deadline_wall_ms =
      r->active_attachment == 0 && s->state != JVPN_SS_TERMINATED
          ? add_sat(r->last_attached_wall_ms, p->transport_loss_ttl_ms)
          : JVPN_NO_DEADLINE;
  r->nswitches = s->switch_count;
  for (i = 0; i < s->switch_count && i < JVPN_SWITCH_RING; i++)
    r->switch_wall_ms[i] = to_wall(
        s->switch_ring[(s->switch_head + i) % JVPN_SWITCH_RING], now_mono,
        now_wall);
}

void store_record_to_session(struct jvpn_session *s,
                             const struct jvpn_store_record *r,
                             uint64_t now_mono, uint64_t now_wall) {
  uint32_t i;

  memset(s, 0, sizeof(*s));
  memcpy(s->id, r->id, sizeof(s->id));
  s->side = JVPN_SIDE_SERVER;
  s->state = (enum jvpn_session_state)r->state;
  s->state_version = r->state_version;
  s->attach_version = r->attach_version;
  memcpy(s->owner_pin, r->owner_pin, sizeof(s->owner_pin));
  memcpy(s->secret, r->secret, sizeof(s->secret));
  s->replay = r->replay;
  s->last_attachment_id = r->last_attachment_id;
  if (r->active_attachment != 0) {
    s->att[0].id = r->active_attachment;
    s->att[0].role = JVPN_ATT_ACTIVE;
    s->att[0].since_ms = now_mono;
  }
  s->born_ms = to_mono(r->born_wall_ms, now_mono, now_wall);
  s->state_entered_ms = to_mono(r->state_entered_wall_ms, now_mono, now_wall);
  s->last_attached_ms = to_mono(r->last_attached_wall_ms, now_mono, now_wall);
  s->last_switch_ms = to_mono(r->last_switch_wall_ms, now_mono, now_wall);
  s->switch_count = r->nswitches > JVPN_SWITCH_RING ? JVPN_SWITCH_RING
                                                    : r->nswitches;
  for (i = 0; i < s->switch_count; i++)
    s->switch_ring[i] = to_mono(r->switch_wall_ms[i], now_mono, now_wall);
  s->n_transitions = r->n_transitions;
  s->n_switches = r->n_switches;
  s->policy_version = r->policy_version;
}

/* The oldest wall time |r| holds, or |now_wall|. */
static uint64_t oldest(const struct jvpn_store_record *r, uint64_t now_wall) {
  uint64_t m = now_wall, t[4];
  uint32_t i;

  t[0] = r->born_wall_ms;
  t[1] = r->state_entered_wall_ms;
  t[2] = r->last_attached_wall_ms;
  t[3] = r->last_switch_wall_ms;
  for (i = 0; i < 4; i++)
    if (t[i] != 0 && t[i] < m)
      m = t[i];
  for (i = 0; i < r->nswitches && i < JVPN_SWITCH_RING; i++)
    if (r->switch_wall_ms[i] != 0 && r->switch_wall_ms[i] < m)
      m = r->switch_wall_ms[i];
  return m;
}

uint64_t store_record_clock(const struct jvpn_store_record *r,
                            uint64_t now_mono, uint64_t now_wall) {
  uint64_t age = now_wall - oldest(r, now_wall);

  return now_mono > age ? now_mono : age + 1;
}
