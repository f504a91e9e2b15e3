/* jvpn-quic: the server's session table and its attach gate. */
#include "src/session_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"

/* A token bucket in milli-tokens, so a rate in tokens/s refills by
 * exactly |rate| milli-tokens per millisecond. */
struct bucket {
  uint64_t milli;
  uint64_t last_ms;
  int primed;
};

/* A client pin's bucket; pins are never removed (a server's pins are
 * bounded by its config), and past |max| of them all share |overflow|. */
struct pin_bucket {
  uint8_t pin[JVPN_PIN_LEN];
  int used;
  struct bucket b;
};

struct jvpn_session_table {
  struct jvpn_mem mem;
  size_t max, count;
  struct jvpn_session *sess; /* [max] */
  struct bucket *buckets;    /* [max], beside the sessions on purpose */
  uint8_t *used;             /* [max] */
  uint32_t *index;           /* [cap]: 0 empty, else sess index + 1 */
  size_t cap;                /* power of two, >= 2 * max */
  struct bucket global;
  struct bucket births;
  struct pin_bucket *pins;   /* [cap], open addressing by pin */
  size_t npins;
  struct bucket overflow;    /* pins past |max| */
};

static void *mem_calloc(const struct jvpn_mem *m, size_t n, size_t size) {
  if (m->calloc != NULL)
    return m->calloc(m->user, n, size);
  return calloc(n, size);
}

static void mem_free(const struct jvpn_mem *m, void *ptr) {
  if (m->free != NULL)
    m->free(m->user, ptr);
  else
    free(ptr);
}

static int bucket_take(struct bucket *b, uint32_t rate_per_s, uint32_t burst,
                       uint64_t now) {
  uint64_t cap = (uint64_t)burst * 1000, dt;

  if (!b->primed) {
    b->milli = cap;
    b->last_ms = now;
    b->primed = 1;
  }
  if (now > b->last_ms) {
    dt = now - b->last_ms;
    /* Saturate: a long-idle bucket is simply full. */
    if (dt >= cap / rate_per_s + 1)
      b->milli = cap;
    else
      b->milli =
          b->milli + dt * rate_per_s > cap ? cap : b->milli + dt * rate_per_s;
    b->last_ms = now;
  }
  if (b->milli > cap)
    b->milli = cap; /* the policy may have shrunk the burst */
  if (b->milli < 1000)
    return 0;
  b->milli -= 1000;
  return 1;
}

/* Session IDs come from the server's RNG, but tests and other callers may
 * use structured ones: mix before masking. */
static size_t id_hash(const uint8_t id[JVPN_SESSION_ID_LEN]) {
  uint64_t a, b;

  memcpy(&a, id, 8);
  memcpy(&b, id + 8, 8);
  a ^= b * 0x9e3779b97f4a7c15ULL;
  a = (a ^ (a >> 30)) * 0xbf58476d1ce4e5b9ULL;
  a = (a ^ (a >> 27)) * 0x94d049bb133111ebULL;
  return (size_t)(a ^ (a >> 31));
}

/* The index position holding |id|, or the empty one where it would go. */
static size_t probe(const struct jvpn_session_table *t,
                    const uint8_t id[JVPN_SESSION_ID_LEN], int *found) {
  size_t i = id_hash(id) & (t->cap - 1);
  uint32_t v;

  /* Never full (cap >= 2 * max), so the loop ends at an empty slot. */
  for (;;) {
    v = t->index[i];
    if (v == 0) {
      *found = 0;
      return i;
    }
    if (memcmp(t->sess[v - 1].id, id, JVPN_SESSION_ID_LEN) == 0) {
      *found = 1;
      return i;
    }
    i = (i + 1) & (t->cap - 1);
  }
}

/* The bucket of |pin| (made on first use). Pins are public key hashes,
 * but a client picks its key: the probe start mixes them like IDs. */
static struct bucket *pin_bucket(struct jvpn_session_table *t,
                                 const uint8_t pin[JVPN_PIN_LEN]) {
  size_t i = id_hash(pin) & (t->cap - 1), n;

  for (n = 0; n < t->cap; n++, i = (i + 1) & (t->cap - 1)) {
    struct pin_bucket *pb = &t->pins[i];

    if (pb->used && memcmp(pb->pin, pin, JVPN_PIN_LEN) == 0)
      return &pb->b;
    if (!pb->used) {
      if (t->npins == t->max)
        break;
      memcpy(pb->pin, pin, JVPN_PIN_LEN);
      pb->used = 1;
      t->npins++;
      return &pb->b;
    }
  }
  return &t->overflow;
}

int jvpn_session_table_new(struct jvpn_session_table **pt, size_t max_sessions,
                           const struct jvpn_mem *mem) {
  static const struct jvpn_mem libc_mem;
  struct jvpn_session_table *t;
  const struct jvpn_mem *m = mem != NULL ? mem : &libc_mem;

  if (pt == NULL)
    return JVPN_ERR_INVAL;
  *pt = NULL;
  if (max_sessions == 0 || max_sessions > JVPN_SESSION_TABLE_MAX)
    return JVPN_ERR_INVAL;
  t = mem_calloc(m, 1, sizeof(*t));
  if (t == NULL)
    return JVPN_ERR_NOMEM;
  t->mem = *m;
  t->max = max_sessions;
  for (t->cap = 2; t->cap < 2 * max_sessions; t->cap *= 2)
    ;
  t->sess = mem_calloc(m, max_sessions, sizeof(*t->sess));
  if (t->sess == NULL)
    goto fail_sess;
  t->buckets = mem_calloc(m, max_sessions, sizeof(*t->buckets));
  if (t->buckets == NULL)
    goto fail_buckets;
  t->used = mem_calloc(m, max_sessions, sizeof(*t->used));
  if (t->used == NULL)
    goto fail_used;
  t->index = mem_calloc(m, t->cap, sizeof(*t->index));
  if (t->index == NULL)
    goto fail_index;
  t->pins = mem_calloc(m, t->cap, sizeof(*t->pins));
  if (t->pins == NULL)
    goto fail_pins;
  *pt = t;
  return 0;

fail_pins:
  mem_free(m, t->index);
fail_index:
  mem_free(m, t->used);
fail_used:
  mem_free(m, t->buckets);
fail_buckets:
  mem_free(m, t->sess);
fail_sess:
  mem_free(m, t);
  return JVPN_ERR_NOMEM;
}

void jvpn_session_table_del(struct jvpn_session_table *t) {
  struct jvpn_mem m;
  size_t i;

  if (t == NULL)
    return;
  for (i = 0; i < t->max; i++)
    jvpn_session_free(&t->sess[i]);
  m = t->mem;
  mem_free(&m, t->pins);
  mem_free(&m, t->index);
  mem_free(&m, t->used);
  mem_free(&m, t->buckets);
  mem_free(&m, t->sess);
  mem_free(&m, t);
}

size_t jvpn_session_table_count(const struct jvpn_session_table *t) {
  return t != NULL ? t->count : 0;
}

struct jvpn_session *
jvpn_session_table_find(struct jvpn_session_table *t,
                        const uint8_t id[JVPN_SESSION_ID_LEN]) {
  size_t i;
  int found;

  if (t == NULL || id == NULL)
    return NULL;
  i = probe(t, id, &found);
  return found ? &t->sess[t->index[i] - 1] : NULL;
}

/* A free array slot for |id| (|*k|, its rate bucket reset) and its index
 * position (|*i|). Returns 0, JVPN_ERR_EXISTS or JVPN_ERR_FULL. */
static int slot_take(struct jvpn_session_table *t,
                     const uint8_t id[JVPN_SESSION_ID_LEN], size_t *i,
                     size_t *k) {
  int found;

  *i = probe(t, id, &found);
  if (found)
    return JVPN_ERR_EXISTS;
  if (t->count == t->max)
    return JVPN_ERR_FULL;
  /* Lowest free array slot: O(max) only at birth, never per packet. */
  for (*k = 0; *k < t->max && t->used[*k]; (*k)++)
    ;
  t->used[*k] = 1;
  memset(&t->buckets[*k], 0, sizeof(t->buckets[*k]));
  return 0;
}

int jvpn_session_table_create(struct jvpn_session_table *t,
                              const uint8_t id[JVPN_SESSION_ID_LEN],
                              const uint8_t secret[JVPN_SECRET_LEN],
                              const uint8_t owner_pin[JVPN_PIN_LEN],
                              const struct jvpn_policy *p, uint64_t now_ms,
                              struct jvpn_session_out *out,
                              struct jvpn_session **ps) {
  size_t i, k;
  int rv;

  if (ps != NULL)
    *ps = NULL;
  if (t == NULL || id == NULL || secret == NULL || owner_pin == NULL ||
      p == NULL)
    return JVPN_ERR_INVAL;
  rv = slot_take(t, id, &i, &k);
  if (rv != 0)
    return rv;
  jvpn_session_init(&t->sess[k], JVPN_SIDE_SERVER, id, secret, owner_pin, p,
                    now_ms, out);
  t->index[i] = (uint32_t)k + 1;
  t->count++;
  if (ps != NULL)
    *ps = &t->sess[k];
  return 0;
}

int jvpn_session_table_restore(struct jvpn_session_table *t,
                               const struct jvpn_session *src,
                               struct jvpn_session **ps) {
  size_t i, k;
  int rv;

  if (ps != NULL)
    *ps = NULL;
  if (t == NULL || src == NULL)
    return JVPN_ERR_INVAL;
  rv = slot_take(t, src->id, &i, &k);
  if (rv != 0)
    return rv;
  t->sess[k] = *src;
  t->index[i] = (uint32_t)k + 1;
  t->count++;
  if (ps != NULL)
    *ps = &t->sess[k];
  return 0;
}

/* Removes index position |i| with backward shifting, so lookups need no
 * tombstones. */
static void remove_at(struct jvpn_session_table *t, size_t i) {
  size_t j = i, home;
  uint32_t k = t->index[i] - 1;

  jvpn_session_free(&t->sess[k]);
  t->used[k] = 0;
  memset(&t->buckets[k], 0, sizeof(t->buckets[k]));
  t->count--;
  t->index[i] = 0;
  for (;;) {
    j = (j + 1) & (t->cap - 1);
    if (t->index[j] == 0)
      return;
    home = id_hash(t->sess[t->index[j] - 1].id) & (t->cap - 1);
    /* Move j back into the hole unless its home lies cyclically in
     * (i, j]. */
    if ((j > i && (home <= i || home > j)) ||
        (j < i && (home <= i && home > j))) {
      t->index[i] = t->index[j];
      t->index[j] = 0;
      i = j;
    }
  }
}

int jvpn_session_table_delete(struct jvpn_session_table *t,
                              const uint8_t id[JVPN_SESSION_ID_LEN]) {
  size_t i;
  int found;

  if (t == NULL || id == NULL)
    return JVPN_ERR_INVAL;
  i = probe(t, id, &found);
  if (!found)
    return JVPN_ERR_NOTFOUND;
  remove_at(t, i);
  return 0;
}

/* --- the attach gate ---------------------------------------------------- */

/* Births carry no proof; their refusals are named by this role. */
#define ROLE_BIRTH ((enum jvpn_proof_role)0)

static const char *role_name(enum jvpn_proof_role role) {
  if (role == ROLE_BIRTH)
    return "birth";
  switch (role) {
  case JVPN_ROLE_REATTACH: return "reattach";
  case JVPN_ROLE_STANDBY: return "standby";
  case JVPN_ROLE_ACTIVATE: return "activate";
  default: return "?";
  }
}

/* Refuses unauthenticated input: one SECURITY record; |s| (may be NULL)
 * is only read. */
static int refuse(const struct jvpn_attach_req *req,
                  const struct jvpn_session *s, const struct jvpn_policy *p,
                  uint64_t now, enum jvpn_reason r, const char *detail,
                  struct jvpn_session_out *out) {
  struct jvpn_audit_record *rec;
  size_t n;

  out->verdict = r;
  if (out->nrecords == JVPN_SESSION_MAX_RECORDS) {
    out->records_dropped++;
    return JVPN_ERR_DENIED;
  }
  rec = &out->records[out->nrecords++];
  memset(rec, 0, sizeof(*rec));
  rec->kind = JVPN_AUDIT_SECURITY;
  rec->mono_ms = now;
  /* The claimed ID, even for an unknown session: it is what an operator
   * greps for. It is bytes from the peer, formatted as hex by the writer.
   * A birth claims none: its record names no session. */
  if (req->role != ROLE_BIRTH) {
    memcpy(rec->session, req->session_id, sizeof(rec->session));
    rec->has_session = 1;
  }
  rec->event = "attach_refused";
  rec->reason = jvpn_reason_name(r);
  rec->policy_version = p->version;
  rec->to_attachment = req->attachment;
  if (s != NULL) {
    rec->state_version = s->state_version;
    rec->from = jvpn_session_state_name(s->state);
  }
  if (req->peer != NULL) {
    n = strnlen(req->peer, sizeof(rec->peer) - 1);
    memcpy(rec->peer, req->peer, n);
  }
  (void)snprintf(rec->detail, sizeof(rec->detail), "%s: %s",
                 role_name(req->role), detail);
  return JVPN_ERR_DENIED;
}

int jvpn_session_table_admit_birth(struct jvpn_session_table *t,
                                   const uint8_t pin[JVPN_PIN_LEN],
                                   uint64_t now_ms,
                                   const struct jvpn_policy *p,
                                   const char *peer,
                                   struct jvpn_session_out *out) {
  struct jvpn_attach_req req;

  if (t == NULL || pin == NULL || p == NULL || out == NULL)
    return JVPN_ERR_INVAL;
  memset(&req, 0, sizeof(req));
  req.role = ROLE_BIRTH;
  memcpy(req.peer_pin, pin, JVPN_PIN_LEN);
  req.peer = peer;
  if (!bucket_take(pin_bucket(t, pin), p->pin_attach_rate_per_s,
                   p->pin_attach_burst, now_ms))
    return refuse(&req, NULL, p, now_ms, JVPN_R_RATE_LIMITED,
                  "pin attach rate", out);
  if (!bucket_take(&t->births, p->birth_rate_per_s, p->birth_burst, now_ms))
    return refuse(&req, NULL, p, now_ms, JVPN_R_RATE_LIMITED,
                  "table birth rate", out);
  return 0;
}

int jvpn_session_table_attach(struct jvpn_session_table *t,
                              const struct jvpn_attach_req *req,
                              uint64_t now_ms, const struct jvpn_policy *p,
                              struct jvpn_session_out *out) {
  struct jvpn_session *s;
  struct jvpn_session_event ev;
  struct bucket *b;
  size_t i;
  int found, rv;

  if (t == NULL || req == NULL || p == NULL || out == NULL)
    return JVPN_ERR_INVAL;
  if (req->role != JVPN_ROLE_REATTACH && req->role != JVPN_ROLE_STANDBY &&
      req->role != JVPN_ROLE_ACTIVATE)
    return refuse(req, NULL, p, now_ms, JVPN_R_MALFORMED_REQUEST,
                  "unknown role", out);

  /* 0 */
  if (!bucket_take(pin_bucket(t, req->peer_pin), p->pin_attach_rate_per_s,
                   p->pin_attach_burst, now_ms))
    return refuse(req, NULL, p, now_ms, JVPN_R_RATE_LIMITED, "pin attach rate",
                  out);
  /* 1 */
  if (!bucket_take(&t->global, p->attach_rate_per_s, p->attach_burst, now_ms))
    return refuse(req, NULL, p, now_ms, JVPN_R_RATE_LIMITED,
                  "table attach rate", out);
  /* 2 */
  i = probe(t, req->session_id, &found);
  if (!found)
    return refuse(req, NULL, p, now_ms, JVPN_R_UNKNOWN_SESSION, "no session",
                  out);
  s = &t->sess[t->index[i] - 1];
  b = &t->buckets[t->index[i] - 1];
  if (!bucket_take(b, p->session_attach_rate_per_s, p->session_attach_burst,
                   now_ms))
    return refuse(req, s, p, now_ms, JVPN_R_RATE_LIMITED, "session attach rate",
                  out);
  /* 3 */
  if (s->state == JVPN_SS_TERMINATED)
    return refuse(req, s, p, now_ms, JVPN_R_SESSION_TERMINATED, "terminated",
                  out);
  /* 4: an expired session is left for the sweep to end, with its own
   * reason; this request must not be the one that moves it. */
  if (jvpn_session_expired(s, p, now_ms))
    return refuse(req, s, p, now_ms, JVPN_R_TTL_EXPIRED, "session expired",
                  out);
  if (req->handshake_ms != 0 && now_ms > req->handshake_ms &&
      now_ms - req->handshake_ms > p->proof_max_age_ms)
    return refuse(req, s, p, now_ms, JVPN_R_TTL_EXPIRED,
                  "proof too long after the handshake", out);
  /* 5 */
  if (!jvpn_ct_equal(req->peer_pin, s->owner_pin, JVPN_PIN_LEN))
    return refuse(req, s, p, now_ms, JVPN_R_PIN_MISMATCH,
                  "client pin is not the owner's", out);
  /* 6 */
  rv = jvpn_proof_verify(s->secret, s->id, req->nonce, req->role, req->bind,
                         req->proof);
  if (rv == JVPN_ERR_DENIED)
    return refuse(req, s, p, now_ms, JVPN_R_BAD_PROOF, "MAC mismatch", out);
  if (rv < 0) {
    (void)refuse(req, s, p, now_ms, JVPN_R_BAD_PROOF, "MAC not computed", out);
    return rv;
  }
  /* 7: the proof library's window, narrowed by the policy's. */
  if (!jvpn_replay_check(&s->replay, req->nonce) ||
      (req->nonce < s->replay.top &&
       s->replay.top - req->nonce >= p->replay_window))
    return refuse(req, s, p, now_ms, JVPN_R_REPLAY, "nonce not fresh", out);
  /* 8: two reattaches racing with the same version: the first moves
   * attach_version, the second is stale. */
  if (req->version != s->attach_version)
    return refuse(req, s, p, now_ms, JVPN_R_STALE_VERSION,
                  "attach version is not current", out);
  if (req->role != JVPN_ROLE_ACTIVATE &&
      (req->attachment == 0 || req->attachment <= s->last_attachment_id))
    return JVPN_ERR_INVAL; /* our own ID allocator is wrong */

  /* 9: authenticated from here on. */
  rv = jvpn_replay_commit(&s->replay, req->nonce);
  if (rv < 0)
    return rv; /* checked fresh just above: cannot happen */
  memset(&ev, 0, sizeof(ev));
  ev.type = req->role == JVPN_ROLE_REATTACH  ? JVPN_EV_REATTACH
            : req->role == JVPN_ROLE_STANDBY ? JVPN_EV_STANDBY
                                             : JVPN_EV_ACTIVATE;
  ev.attachment = req->attachment;
  ev.peer = req->peer;
  ev.failover = req->role == JVPN_ROLE_ACTIVATE && req->failover;
  return jvpn_session_handle(s, &ev, p, now_ms, out);
}

size_t jvpn_session_table_sweep(struct jvpn_session_table *t,
                                const struct jvpn_policy *p, uint64_t now_ms,
                                jvpn_session_sweep_fn fn, void *arg) {
  struct jvpn_session_out out;
  struct jvpn_session *s;
  size_t k, i, released = 0;
  int found;

  if (t == NULL || p == NULL)
    return 0;
  for (k = 0; k < t->max; k++) {
    if (!t->used[k])
      continue;
    s = &t->sess[k];
    jvpn_session_out_reset(&out);
    (void)jvpn_session_tick(s, p, now_ms, &out);
    if (fn != NULL && (out.nrecords > 0 || out.nactions > 0 ||
                       s->state == JVPN_SS_TERMINATED))
      fn(arg, s, &out, s->state == JVPN_SS_TERMINATED);
    if (s->state != JVPN_SS_TERMINATED)
      continue;
    i = probe(t, s->id, &found);
    if (found)
      remove_at(t, i);
    released++;
  }
  return released;
}

uint64_t jvpn_session_table_next_deadline(const struct jvpn_session_table *t,
                                          const struct jvpn_policy *p) {
  uint64_t best = JVPN_NO_DEADLINE, at;
  size_t k;

  if (t == NULL || p == NULL)
    return JVPN_NO_DEADLINE;
  for (k = 0; k < t->max; k++) {
    if (!t->used[k])
      continue;
    if (t->sess[k].state == JVPN_SS_TERMINATED)
      return 0;
    at = jvpn_session_next_deadline(&t->sess[k], p);
    if (at < best)
      best = at;
  }
  return best;
}
