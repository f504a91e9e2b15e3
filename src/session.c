/* jvpn-quic: the session state machine (docs/state-machine.md). */
#include "jvpn/session.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"

static const char *const state_names[JVPN_SS_COUNT] = {
    "BIRTH", "ATTACHED", "VOLATILE", "DEGRADED", "RECOVERING", "TERMINATED",
};

static const char *const reason_names[JVPN_R_COUNT] = {
    [JVPN_R_NONE] = "NONE",
    [JVPN_R_HANDSHAKE_OK] = "HANDSHAKE_OK",
    [JVPN_R_VOLATILITY_SIGNAL] = "VOLATILITY_SIGNAL",
    [JVPN_R_TRANSPORT_DEAD] = "TRANSPORT_DEAD",
    [JVPN_R_RECOVERY_START] = "RECOVERY_START",
    [JVPN_R_HEALTH_RECOVERED] = "HEALTH_RECOVERED",
    [JVPN_R_VOLATILE_PERSISTED] = "VOLATILE_PERSISTED",
    [JVPN_R_POLICY_FLAP_LIMIT] = "POLICY_FLAP_LIMIT",
    [JVPN_R_REATTACH_ACCEPT] = "REATTACH_ACCEPT",
    [JVPN_R_TRANSPORT_SWITCH_OK] = "TRANSPORT_SWITCH_OK",
    [JVPN_R_RECOVERY_BOUNDS_EXCEEDED] = "RECOVERY_BOUNDS_EXCEEDED",
    [JVPN_R_POLICY_DENY] = "POLICY_DENY",
    [JVPN_R_RECOVERY_RETRY] = "RECOVERY_RETRY",
    [JVPN_R_TTL_SESSION_EXPIRED] = "TTL_SESSION_EXPIRED",
    [JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED] = "TTL_TRANSPORT_LOSS_EXPIRED",
    [JVPN_R_OPERATOR_TERMINATED] = "OPERATOR_TERMINATED",
    [JVPN_R_PEER_CLOSED] = "PEER_CLOSED",
    [JVPN_R_POLICY_TERMINATION] = "POLICY_TERMINATION",
    [JVPN_R_FATAL_PROTOCOL_ERROR] = "FATAL_PROTOCOL_ERROR",
    [JVPN_R_SESSION_BORN] = "SESSION_BORN",
    [JVPN_R_NAT_REBIND] = "NAT_REBIND",
    [JVPN_R_PATH_MIGRATED] = "PATH_MIGRATED",
    [JVPN_R_STANDBY_ADDED] = "STANDBY_ADDED",
    [JVPN_R_STANDBY_LOST] = "STANDBY_LOST",
    [JVPN_R_UNDEFINED_EVENT] = "UNDEFINED_EVENT",
    [JVPN_R_TCP_FALLBACK] = "TCP_FALLBACK",
    [JVPN_R_QUIC_RETURN] = "QUIC_RETURN",
    [JVPN_R_RATE_LIMITED] = "RATE_LIMITED",
    [JVPN_R_MALFORMED_REQUEST] = "MALFORMED_REQUEST",
    [JVPN_R_UNKNOWN_SESSION] = "UNKNOWN_SESSION",
    [JVPN_R_SESSION_TERMINATED] = "SESSION_TERMINATED",
    [JVPN_R_TTL_EXPIRED] = "TTL_EXPIRED",
    [JVPN_R_PIN_MISMATCH] = "PIN_MISMATCH",
    [JVPN_R_BAD_PROOF] = "BAD_PROOF",
    [JVPN_R_REPLAY] = "REPLAY",
    [JVPN_R_STALE_VERSION] = "STALE_VERSION",
};

const char *jvpn_session_state_name(enum jvpn_session_state st) {
  if ((unsigned)st >= JVPN_SS_COUNT)
    return "?";
  return state_names[st];
}

const char *jvpn_reason_name(enum jvpn_reason r) {
  if ((unsigned)r >= JVPN_R_COUNT || reason_names[r] == NULL)
    return "?";
  return reason_names[r];
}

int jvpn_reason_is_security(enum jvpn_reason r) {
  return r >= JVPN_R_RATE_LIMITED && r < JVPN_R_COUNT;
}

static int is_terminal_reason(enum jvpn_reason r) {
  switch (r) {
  case JVPN_R_TTL_SESSION_EXPIRED:
  case JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED:
  case JVPN_R_OPERATOR_TERMINATED:
  case JVPN_R_PEER_CLOSED:
  case JVPN_R_POLICY_TERMINATION:
  case JVPN_R_FATAL_PROTOCOL_ERROR: return 1;
  default: return 0;
  }
}

/* The transition table of ARCHITECTURE 3, plus POLICY_FLAP_LIMIT from
 * ATTACHED and RECOVERING (the issue: a path change past the switch limit
 * degrades the session whatever it was doing). Returns the target state or
 * -1 when (from, reason) is undefined. */
static int next_state(enum jvpn_session_state from, enum jvpn_reason r) {
  if (from == JVPN_SS_TERMINATED)
    return -1;
  if (is_terminal_reason(r))
    return JVPN_SS_TERMINATED;
  switch (r) {
  case JVPN_R_HANDSHAKE_OK:
    return from == JVPN_SS_BIRTH ? JVPN_SS_ATTACHED : -1;
  case JVPN_R_VOLATILITY_SIGNAL:
    return from == JVPN_SS_ATTACHED ? JVPN_SS_VOLATILE : -1;
  case JVPN_R_TRANSPORT_DEAD:
  case JVPN_R_RECOVERY_START:
    return from == JVPN_SS_ATTACHED || from == JVPN_SS_VOLATILE ||
                   from == JVPN_SS_DEGRADED
               ? JVPN_SS_RECOVERING
               : -1;
  case JVPN_R_HEALTH_RECOVERED:
    return from == JVPN_SS_VOLATILE || from == JVPN_SS_DEGRADED
               ? JVPN_SS_ATTACHED
               : -1;
  case JVPN_R_VOLATILE_PERSISTED:
    return from == JVPN_SS_VOLATILE ? JVPN_SS_DEGRADED : -1;
  case JVPN_R_POLICY_FLAP_LIMIT:
    return from == JVPN_SS_ATTACHED || from == JVPN_SS_VOLATILE ||
                   from == JVPN_SS_RECOVERING
               ? JVPN_SS_DEGRADED
               : -1;
  case JVPN_R_REATTACH_ACCEPT:
  case JVPN_R_TRANSPORT_SWITCH_OK:
    return from == JVPN_SS_RECOVERING ? JVPN_SS_ATTACHED : -1;
  case JVPN_R_RECOVERY_BOUNDS_EXCEEDED:
  case JVPN_R_POLICY_DENY:
    return from == JVPN_SS_RECOVERING ? JVPN_SS_DEGRADED : -1;
  case JVPN_R_RECOVERY_RETRY:
    return from == JVPN_SS_DEGRADED ? JVPN_SS_RECOVERING : -1;
  default: return -1;
  }
}

static uint64_t elapsed(uint64_t now, uint64_t then) {
  /* A caller's clock never runs backwards, but a bad timestamp must not
   * turn into a 584-million-year interval. */
  return now > then ? now - then : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void jvpn_session_out_reset(struct jvpn_session_out *out) {
  out->nactions = 0;
  out->nrecords = 0;
  out->records_dropped = 0;
  out->verdict = JVPN_R_NONE;
}

/* --- output ------------------------------------------------------------ */

static void copy_text(char *dst, size_t cap, const char *src) {
  size_t n;

  if (src == NULL) {
    dst[0] = '\0';
    return;
  }
  n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* A fresh record in |out|, or NULL when the batch is full (counted). */
static struct jvpn_audit_record *
record_new(const struct jvpn_session *s, const struct jvpn_policy *p,
           struct jvpn_session_out *out, enum jvpn_audit_kind kind,
           const char *event, enum jvpn_reason r, uint64_t now) {
  struct jvpn_audit_record *rec;

  if (out == NULL)
    return NULL;
  if (out->nrecords == JVPN_SESSION_MAX_RECORDS) {
    out->records_dropped++;
    return NULL;
  }
  rec = &out->records[out->nrecords++];
  memset(rec, 0, sizeof(*rec));
  rec->kind = kind;
  rec->mono_ms = now;
  memcpy(rec->session, s->id, sizeof(rec->session));
  rec->has_session = 1;
  rec->event = event;
  rec->state_version = s->state_version;
  rec->reason = jvpn_reason_name(r);
  rec->policy_version = p != NULL ? p->version : s->policy_version;
  return rec;
}

static void action(struct jvpn_session_out *out, enum jvpn_action_type type,
                   uint64_t att, enum jvpn_reason r) {
  /* Actions are bounded by construction (at most one terminate per call,
   * plus a handful of attachment changes); overflow is our bug. */
  assert(out->nactions < JVPN_SESSION_MAX_ACTIONS);
  if (out->nactions == JVPN_SESSION_MAX_ACTIONS)
    return;
  out->actions[out->nactions].type = type;
  out->actions[out->nactions].attachment = att;
  out->actions[out->nactions].reason = r;
  out->nactions++;
}

/* Refuses an event: a DENIAL record naming the refused reason, nothing
 * else changes. */
static int deny(const struct jvpn_session *s, const struct jvpn_policy *p,
                uint64_t now, enum jvpn_reason r, uint64_t att, const char *why,
                struct jvpn_session_out *out) {
  struct jvpn_audit_record *rec;

  rec = record_new(s, p, out, JVPN_AUDIT_DENIAL, "denied", r, now);
  if (rec != NULL) {
    rec->from = jvpn_session_state_name(s->state);
    rec->to_attachment = att;
    copy_text(rec->detail, sizeof(rec->detail), why);
  }
  out->verdict = r;
  return JVPN_ERR_DENIED;
}

static int deny_undefined(const struct jvpn_session *s,
                          const struct jvpn_policy *p, uint64_t now,
                          const char *event, uint64_t att,
                          struct jvpn_session_out *out) {
  char why[JVPN_AUDIT_DETAIL_MAX];

  (void)snprintf(why, sizeof(why), "event %s undefined in %s", event,
                 jvpn_session_state_name(s->state));
  deny(s, p, now, JVPN_R_UNDEFINED_EVENT, att, why, out);
  return JVPN_ERR_DENIED;
}

/* --- attachments ------------------------------------------------------- */

static struct jvpn_attachment *att_find(struct jvpn_session *s, uint64_t id) {
  size_t i;

  if (id == 0)
    return NULL;
  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role != JVPN_ATT_FREE && s->att[i].id == id)
      return &s->att[i];
  return NULL;
}

static struct jvpn_attachment *att_active(struct jvpn_session *s) {
  size_t i;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role == JVPN_ATT_ACTIVE)
      return &s->att[i];
  return NULL;
}

uint64_t jvpn_session_active(const struct jvpn_session *s) {
  size_t i;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role == JVPN_ATT_ACTIVE)
      return s->att[i].id;
  return 0;
}

size_t jvpn_session_count(const struct jvpn_session *s,
                          enum jvpn_att_role role) {
  size_t i, n = 0;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role == role)
      n++;
  return n;
}

/* The standby with the lowest ID: ties are broken by ID, never randomly
 * (rule 6). */
static uint64_t best_standby(const struct jvpn_session *s) {
  uint64_t best = 0;
  size_t i;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role == JVPN_ATT_STANDBY &&
        (best == 0 || s->att[i].id < best))
      best = s->att[i].id;
  return best;
}

static struct jvpn_attachment *att_free_slot(struct jvpn_session *s) {
  size_t i;

  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    if (s->att[i].role == JVPN_ATT_FREE)
      return &s->att[i];
  return NULL;
}

static void att_clear(struct jvpn_attachment *a) {
  memset(a, 0, sizeof(*a));
}

/* A new attachment ID must exceed every ID the session has seen. */
static int att_id_fresh(const struct jvpn_session *s, uint64_t id) {
  return id != 0 && id > s->last_attachment_id;
}

/* --- switch rate ------------------------------------------------------- */

uint32_t jvpn_session_switches(const struct jvpn_session *s, uint64_t now) {
  uint32_t i, n = 0;
  uint64_t t;

  for (i = 0; i < s->switch_count; i++) {
    t = s->switch_ring[(s->switch_head + i) % JVPN_SWITCH_RING];
    if (elapsed(now, t) < JVPN_POLICY_SWITCH_WINDOW_MS)
      n++;
  }
  return n;
}

/* When the next switch fits under the per-minute limit (<= now: now). */
static uint64_t switch_allowed_at(const struct jvpn_session *s,
                                  const struct jvpn_policy *p, uint64_t now) {
  uint32_t i, n = jvpn_session_switches(s, now), skip;
  uint64_t t;

  if (n < p->max_switches_per_min)
    return now;
  /* The ring is oldest first: the switch that must age out is the
   * (n - max)-th of those still inside the window. */
  skip = n - p->max_switches_per_min;
  for (i = 0; i < s->switch_count; i++) {
    t = s->switch_ring[(s->switch_head + i) % JVPN_SWITCH_RING];
    if (elapsed(now, t) >= JVPN_POLICY_SWITCH_WINDOW_MS)
      continue;
    if (skip-- == 0)
      return add_sat(t, JVPN_POLICY_SWITCH_WINDOW_MS);
  }
  return now;
}

static void switch_record(struct jvpn_session *s, uint64_t now) {
  if (s->switch_count == JVPN_SWITCH_RING) {
    s->switch_head = (s->switch_head + 1) % JVPN_SWITCH_RING;
    s->switch_count--;
  }
  s->switch_ring[(s->switch_head + s->switch_count) % JVPN_SWITCH_RING] = now;
  s->switch_count++;
  s->last_switch_ms = now;
  s->n_switches++;
}

static int in_cooldown(const struct jvpn_session *s,
                       const struct jvpn_policy *p, uint64_t now) {
  return s->n_switches > 0 &&
         elapsed(now, s->last_switch_ms) < p->switch_cooldown_ms;
}

static void switch_audit(const struct jvpn_session *s,
                         const struct jvpn_policy *p, uint64_t now,
                         enum jvpn_reason r, uint64_t from, uint64_t to,
                         const char *detail, const char *peer,
                         struct jvpn_session_out *out) {
  struct jvpn_audit_record *rec;

  rec = record_new(s, p, out, JVPN_AUDIT_SWITCH, "switch", r, now);
  if (rec == NULL)
    return;
  rec->from_attachment = from;
  rec->to_attachment = to;
  copy_text(rec->detail, sizeof(rec->detail), detail);
  copy_text(rec->peer, sizeof(rec->peer), peer);
}

static void info_audit(const struct jvpn_session *s,
                       const struct jvpn_policy *p, uint64_t now,
                       const char *event, enum jvpn_reason r, uint64_t att,
                       const char *detail, const char *peer,
                       struct jvpn_session_out *out) {
  struct jvpn_audit_record *rec;

  rec = record_new(s, p, out, JVPN_AUDIT_INFO, event, r, now);
  if (rec == NULL)
    return;
  rec->to_attachment = att;
  copy_text(rec->detail, sizeof(rec->detail), detail);
  copy_text(rec->peer, sizeof(rec->peer), peer);
}

/* --- transitions ------------------------------------------------------- */

/* The only place state and state_version change (rule 3). The caller has
 * checked that (state, r) is defined. */
static void transition(struct jvpn_session *s, const struct jvpn_policy *p,
                       uint64_t now, enum jvpn_reason r, const char *detail,
                       const char *peer, struct jvpn_session_out *out) {
  int to = next_state(s->state, r);
  enum jvpn_session_state from = s->state;
  struct jvpn_audit_record *rec;

  assert(to >= 0);
  if (to < 0)
    return;
  s->time_in_state_ms[from] += elapsed(now, s->state_entered_ms);
  s->state = (enum jvpn_session_state)to;
  s->state_entered_ms = now;
  s->state_version++;
  s->n_transitions++;
  s->policy_version = p->version;
  /* Stability is measured within one VOLATILE/DEGRADED spell. */
  s->healthy_att = 0;
  s->healthy_since_ms = 0;
  out->verdict = r;

  rec = record_new(s, p, out, JVPN_AUDIT_TRANSITION, "transition", r, now);
  if (rec == NULL)
    return;
  rec->from = jvpn_session_state_name(from);
  rec->to = jvpn_session_state_name(s->state);
  rec->to_attachment = jvpn_session_active(s);
  copy_text(rec->detail, sizeof(rec->detail), detail);
  copy_text(rec->peer, sizeof(rec->peer), peer);
}

static void terminate(struct jvpn_session *s, const struct jvpn_policy *p,
                      uint64_t now, enum jvpn_reason r, const char *detail,
                      struct jvpn_session_out *out) {
  uint64_t close[JVPN_MAX_ATTACHMENTS], last = 0, next;
  size_t i, n = 0;

  /* Close in ID order so the action list is the same whatever the slots
   * look like; the record then shows no attachment left. */
  for (;;) {
    next = 0;
    for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
      if (s->att[i].role != JVPN_ATT_FREE && s->att[i].id > last &&
          (next == 0 || s->att[i].id < next))
        next = s->att[i].id;
    if (next == 0)
      break;
    close[n++] = last = next;
  }
  for (i = 0; i < JVPN_MAX_ATTACHMENTS; i++)
    att_clear(&s->att[i]);
  transition(s, p, now, r, detail, NULL, out);
  for (i = 0; i < n; i++)
    action(out, JVPN_ACT_CLOSE_ATTACHMENT, close[i], r);
  action(out, JVPN_ACT_TERMINATE, 0, r);
  action(out, JVPN_ACT_RELEASE_ADDRESSES, 0, r);
}

/* The active attachment is gone (dead, or replaced). */
static void drop_active(struct jvpn_session *s, uint64_t now) {
  struct jvpn_attachment *a = att_active(s);

  if (a != NULL) {
    att_clear(a);
    s->last_attached_ms = now;
  }
}

void jvpn_session_init(struct jvpn_session *s, enum jvpn_session_side side,
                       const uint8_t id[JVPN_SESSION_ID_LEN],
                       const uint8_t secret[JVPN_SECRET_LEN],
                       const uint8_t owner_pin[JVPN_PIN_LEN],
                       const struct jvpn_policy *p, uint64_t now_ms,
                       struct jvpn_session_out *out) {
  memset(s, 0, sizeof(*s));
  memcpy(s->id, id, JVPN_SESSION_ID_LEN);
  memcpy(s->secret, secret, JVPN_SECRET_LEN);
  memcpy(s->owner_pin, owner_pin, JVPN_PIN_LEN);
  s->side = side;
  s->state = JVPN_SS_BIRTH;
  jvpn_replay_init(&s->replay);
  s->born_ms = now_ms;
  s->state_entered_ms = now_ms;
  /* A session that never gets its first attachment confirmed is reclaimed
   * by the transport-loss TTL like any other. */
  s->last_attached_ms = now_ms;
  s->policy_version = p->version;
  info_audit(s, p, now_ms, "session_born", JVPN_R_SESSION_BORN, 0,
             side == JVPN_SIDE_SERVER ? "server" : "client", NULL, out);
}

void jvpn_session_free(struct jvpn_session *s) {
  if (s == NULL)
    return;
  jvpn_wipe(s, sizeof(*s));
}

/* --- events ------------------------------------------------------------ */

/* Puts |id| in as the active attachment, closing or demoting the old one
 * (REATTACH closes it: the client has left it; ACTIVATE keeps it as a
 * standby: it may still be alive). */
static void install_active(struct jvpn_session *s, uint64_t id, int keep_old,
                           uint64_t now, struct jvpn_session_out *out) {
  struct jvpn_attachment *old = att_active(s), *a = att_find(s, id);

  if (old != NULL) {
    if (keep_old) {
      old->role = JVPN_ATT_STANDBY;
      old->since_ms = now;
    } else {
      action(out, JVPN_ACT_CLOSE_ATTACHMENT, old->id, JVPN_R_REATTACH_ACCEPT);
      att_clear(old);
    }
  }
  if (a == NULL) {
    a = att_free_slot(s);
    assert(a != NULL); /* a reattach always frees or finds a slot */
    if (a == NULL)
      return;
    a->id = id;
  }
  a->role = JVPN_ATT_ACTIVE;
  a->since_ms = now;
  if (id > s->last_attachment_id)
    s->last_attachment_id = id;
  s->last_attached_ms = now;
  action(out, JVPN_ACT_ACTIVATE, id, JVPN_R_NONE);
}

/* REATTACH and ACTIVATE: a switch to attachment |id|, authenticated by the
 * caller. Everything that can refuse it is checked before anything
 * changes. */
static int on_switch(struct jvpn_session *s,
                     const struct jvpn_session_event *ev,
                     const struct jvpn_policy *p, uint64_t now,
                     struct jvpn_session_out *out) {
  int reattach = ev->type == JVPN_EV_REATTACH;
  enum jvpn_reason ok =
      reattach ? JVPN_R_REATTACH_ACCEPT : JVPN_R_TRANSPORT_SWITCH_OK;
  struct jvpn_attachment *cand;
  uint64_t from = jvpn_session_active(s);
  char why[JVPN_AUDIT_DETAIL_MAX];

  if (s->state == JVPN_SS_BIRTH || s->state == JVPN_SS_TERMINATED)
    return deny_undefined(s, p, now, reattach ? "REATTACH" : "ACTIVATE",
                          ev->attachment, out);
  if (reattach) {
    if (!att_id_fresh(s, ev->attachment))
      return JVPN_ERR_INVAL;
  } else {
    cand = att_find(s, ev->attachment);
    if (cand == NULL || cand->role != JVPN_ATT_STANDBY)
      return deny(s, p, now, JVPN_R_POLICY_DENY, ev->attachment,
                  "no such standby attachment", out);
  }

  if (jvpn_session_switches(s, now) >= p->max_switches_per_min) {
    (void)snprintf(why, sizeof(why), "%u switches in the last minute",
                   jvpn_session_switches(s, now));
    if (reattach)
      action(out, JVPN_ACT_CLOSE_ATTACHMENT, ev->attachment,
             JVPN_R_POLICY_FLAP_LIMIT);
    if (s->state == JVPN_SS_DEGRADED)
      return deny(s, p, now, JVPN_R_POLICY_FLAP_LIMIT, ev->attachment, why,
                  out);
    transition(s, p, now, JVPN_R_POLICY_FLAP_LIMIT, why, ev->peer, out);
    return JVPN_ERR_DENIED;
  }
  /* Cooldown guards voluntary switches and retries out of DEGRADED; a
   * reattach replaces a connection the client has already lost, in
   * RECOVERING there is nothing left to flap from, and a failover (the
   * client found the active dead, which the server may not know yet)
   * moves away from nothing that works. */
  if (in_cooldown(s, p, now) && !ev->failover &&
      (s->state == JVPN_SS_DEGRADED ||
       (!reattach && s->state != JVPN_SS_RECOVERING))) {
    if (reattach)
      action(out, JVPN_ACT_CLOSE_ATTACHMENT, ev->attachment,
             JVPN_R_POLICY_DENY);
    return deny(s, p, now, JVPN_R_POLICY_DENY, ev->attachment,
                "switch cooldown", out);
  }

  switch (s->state) {
  case JVPN_SS_ATTACHED:
  case JVPN_SS_VOLATILE:
    transition(s, p, now, JVPN_R_RECOVERY_START, ev->detail, ev->peer, out);
    break;
  case JVPN_SS_DEGRADED:
    transition(s, p, now, JVPN_R_RECOVERY_RETRY, ev->detail, ev->peer, out);
    break;
  default: break;
  }
  install_active(s, ev->attachment, !reattach, now, out);
  switch_record(s, now);
  transition(s, p, now, ok, ev->detail, ev->peer, out);
  s->attach_version = s->state_version;
  switch_audit(s, p, now, ok, from, ev->attachment, ev->detail, ev->peer, out);
  return 0;
}

static int on_standby(struct jvpn_session *s,
                      const struct jvpn_session_event *ev,
                      const struct jvpn_policy *p, uint64_t now,
                      struct jvpn_session_out *out) {
  struct jvpn_attachment *a;

  if (s->state == JVPN_SS_BIRTH || s->state == JVPN_SS_TERMINATED)
    return deny_undefined(s, p, now, "STANDBY", ev->attachment, out);
  if (!att_id_fresh(s, ev->attachment))
    return JVPN_ERR_INVAL;
  a = att_free_slot(s);
  if (jvpn_session_count(s, JVPN_ATT_STANDBY) >= p->max_candidates ||
      a == NULL) {
    action(out, JVPN_ACT_CLOSE_ATTACHMENT, ev->attachment, JVPN_R_POLICY_DENY);
    return deny(s, p, now, JVPN_R_POLICY_DENY, ev->attachment,
                "standby candidates at the limit", out);
  }
  a->id = ev->attachment;
  a->role = JVPN_ATT_STANDBY;
  a->since_ms = now;
  s->last_attachment_id = ev->attachment;
  out->verdict = JVPN_R_STANDBY_ADDED;
  info_audit(s, p, now, "standby_added", JVPN_R_STANDBY_ADDED, a->id,
             ev->detail, ev->peer, out);
  return 0;
}

static int on_dead(struct jvpn_session *s, const struct jvpn_session_event *ev,
                   const struct jvpn_policy *p, uint64_t now,
                   struct jvpn_session_out *out) {
  struct jvpn_attachment *a = att_find(s, ev->attachment);
  uint64_t id;

  if (s->state == JVPN_SS_TERMINATED)
    return deny_undefined(s, p, now, "TRANSPORT_DEAD", ev->attachment, out);
  /* A late report about an attachment already closed is normal. */
  if (a == NULL)
    return JVPN_ERR_NOTFOUND;
  id = a->id;
  if (a->role == JVPN_ATT_STANDBY) {
    att_clear(a);
    out->verdict = JVPN_R_STANDBY_LOST;
    info_audit(s, p, now, "standby_lost", JVPN_R_STANDBY_LOST, id, ev->detail,
               NULL, out);
    return 0;
  }
  drop_active(s, now);
  if (s->state == JVPN_SS_RECOVERING) {
    /* Already recovering (a client retry); the attachment it kept while
     * trying is gone, which changes no state. */
    out->verdict = JVPN_R_TRANSPORT_DEAD;
    info_audit(s, p, now, "attachment_lost", JVPN_R_TRANSPORT_DEAD, id,
               ev->detail, NULL, out);
    return 0;
  }
  transition(s, p, now, JVPN_R_TRANSPORT_DEAD, ev->detail, ev->peer, out);
  if (s->side == JVPN_SIDE_CLIENT)
    action(out, JVPN_ACT_START_RECOVERY, best_standby(s),
           JVPN_R_TRANSPORT_DEAD);
  return 0;
}

/* A path change of the attachment whose last counted one was less than
 * JVPN_POLICY_PATH_BURST_MS ago: the same event. */
static int path_burst(const struct jvpn_session *s,
                      const struct jvpn_session_event *ev, uint64_t now) {
  return s->path_counted_att == ev->attachment && s->path_counted_ms != 0 &&
         elapsed(now, s->path_counted_ms) < JVPN_POLICY_PATH_BURST_MS;
}

static int on_path_change(struct jvpn_session *s,
                          const struct jvpn_session_event *ev,
                          const struct jvpn_policy *p, uint64_t now,
                          struct jvpn_session_out *out) {
  char why[JVPN_AUDIT_DETAIL_MAX];
  uint32_t n;

  if (ev->reason != JVPN_R_NAT_REBIND && ev->reason != JVPN_R_PATH_MIGRATED)
    return JVPN_ERR_INVAL;
  if (s->state == JVPN_SS_BIRTH || s->state == JVPN_SS_TERMINATED)
    return deny_undefined(s, p, now, jvpn_reason_name(ev->reason),
                          ev->attachment, out);
  if (att_find(s, ev->attachment) == NULL)
    return JVPN_ERR_NOTFOUND;
  if (path_burst(s, ev, now)) {
    (void)snprintf(why, sizeof(why), "%s; %s", ev->detail ? ev->detail : "",
                   "the same network event as the last, counted once");
    out->verdict = ev->reason;
    switch_audit(s, p, now, ev->reason, ev->attachment, ev->attachment, why,
                 ev->peer, out);
    return 0;
  }
  n = jvpn_session_switches(s, now);
  if (n >= p->max_switches_per_min) {
    /* The path has already changed under QUIC; what the policy can do is
     * take the session out of ATTACHED and say so. */
    (void)snprintf(why, sizeof(why), "%s: %u switches in the last minute",
                   jvpn_reason_name(ev->reason), n);
    if (s->state == JVPN_SS_DEGRADED)
      return deny(s, p, now, JVPN_R_POLICY_FLAP_LIMIT, ev->attachment, why,
                  out);
    transition(s, p, now, JVPN_R_POLICY_FLAP_LIMIT, why, ev->peer, out);
    return JVPN_ERR_DENIED;
  }
  switch_record(s, now);
  s->path_counted_ms = now;
  s->path_counted_att = ev->attachment;
  /* A new path starts a new stability measurement. */
  s->healthy_att = 0;
  s->healthy_since_ms = 0;
  out->verdict = ev->reason;
  switch_audit(s, p, now, ev->reason, ev->attachment, ev->attachment,
               ev->detail, ev->peer, out);
  return 0;
}

/* HEALTH and VOLATILITY. |bad| says whether the signal is volatile. */
static int on_health(struct jvpn_session *s,
                     const struct jvpn_session_event *ev,
                     const struct jvpn_policy *p, uint64_t now, int bad,
                     const char *detail, struct jvpn_session_out *out) {
  uint64_t active = jvpn_session_active(s);

  if (s->state == JVPN_SS_BIRTH || s->state == JVPN_SS_TERMINATED)
    return deny_undefined(s, p, now, bad ? "VOLATILITY" : "HEALTH",
                          ev->attachment, out);
  /* Only the active attachment's health moves the session; standbys are
   * judged by the candidate logic. */
  if (active == 0 || ev->attachment != active)
    return JVPN_ERR_NOTFOUND;
  switch (s->state) {
  case JVPN_SS_ATTACHED:
    if (bad)
      transition(s, p, now, JVPN_R_VOLATILITY_SIGNAL, detail, NULL, out);
    return 0;
  case JVPN_SS_VOLATILE:
  case JVPN_SS_DEGRADED:
    if (bad) {
      s->healthy_att = 0;
      s->healthy_since_ms = 0;
    } else if (s->healthy_att != active) {
      s->healthy_att = active;
      s->healthy_since_ms = now;
    }
    return 0;
  default: return 0; /* RECOVERING: the switch decides, not the old path */
  }
}

int jvpn_session_handle(struct jvpn_session *s,
                        const struct jvpn_session_event *ev,
                        const struct jvpn_policy *p, uint64_t now_ms,
                        struct jvpn_session_out *out) {
  char detail[JVPN_AUDIT_DETAIL_MAX];
  int bad;

  if (s == NULL || ev == NULL || p == NULL || out == NULL)
    return JVPN_ERR_INVAL;
  switch (ev->type) {
  case JVPN_EV_ATTACH_CONFIRMED:
    if (s->state != JVPN_SS_BIRTH)
      return deny_undefined(s, p, now_ms, "ATTACH_CONFIRMED", ev->attachment,
                            out);
    if (!att_id_fresh(s, ev->attachment))
      return JVPN_ERR_INVAL;
    install_active(s, ev->attachment, 0, now_ms, out);
    transition(s, p, now_ms, JVPN_R_HANDSHAKE_OK, ev->detail, ev->peer, out);
    s->attach_version = s->state_version;
    return 0;
  case JVPN_EV_HEALTH:
    detail[0] = '\0';
    bad = jvpn_policy_health_volatile(p, &ev->health, detail, sizeof(detail));
    return on_health(s, ev, p, now_ms, bad, detail, out);
  case JVPN_EV_VOLATILITY:
    return on_health(s, ev, p, now_ms, 1, ev->detail, out);
  case JVPN_EV_TRANSPORT_DEAD: return on_dead(s, ev, p, now_ms, out);
  case JVPN_EV_PATH_CHANGE: return on_path_change(s, ev, p, now_ms, out);
  case JVPN_EV_REATTACH:
  case JVPN_EV_ACTIVATE: return on_switch(s, ev, p, now_ms, out);
  case JVPN_EV_STANDBY: return on_standby(s, ev, p, now_ms, out);
  case JVPN_EV_TERMINATE:
    if (!is_terminal_reason(ev->reason) ||
        ev->reason == JVPN_R_TTL_SESSION_EXPIRED ||
        ev->reason == JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED)
      return JVPN_ERR_INVAL; /* TTLs are the timers' to decide */
    if (s->state == JVPN_SS_TERMINATED)
      return deny_undefined(s, p, now_ms, jvpn_reason_name(ev->reason), 0, out);
    terminate(s, p, now_ms, ev->reason, ev->detail, out);
    return 0;
  default: return JVPN_ERR_INVAL;
  }
}

/* --- timers ------------------------------------------------------------ */

/* Every timer of the session, named after what arms it. */
enum timer_id {
  T_LIFETIME,       /* armed at birth */
  T_TRANSPORT_LOSS, /* armed when the last active attachment went */
  T_VOLATILE,       /* armed on entering VOLATILE */
  T_RECOVERY,       /* armed on entering RECOVERING */
  T_STABLE,         /* armed by the first healthy report */
  T_RETRY,          /* client, DEGRADED with a standby: after cooldown */
  T_COUNT
};

static uint64_t timer_at(const struct jvpn_session *s,
                         const struct jvpn_policy *p, enum timer_id t) {
  uint64_t at;

  if (s->state == JVPN_SS_TERMINATED)
    return JVPN_NO_DEADLINE;
  switch (t) {
  case T_LIFETIME: return add_sat(s->born_ms, p->session_lifetime_ms);
  case T_TRANSPORT_LOSS:
    if (jvpn_session_active(s) != 0)
      return JVPN_NO_DEADLINE;
    return add_sat(s->last_attached_ms, p->transport_loss_ttl_ms);
  case T_VOLATILE:
    if (s->state != JVPN_SS_VOLATILE)
      return JVPN_NO_DEADLINE;
    return add_sat(s->state_entered_ms, p->volatile_degraded_ms);
  case T_RECOVERY:
    if (s->state != JVPN_SS_RECOVERING)
      return JVPN_NO_DEADLINE;
    return add_sat(s->state_entered_ms, p->recovery_window_ms);
  case T_STABLE:
    if ((s->state != JVPN_SS_VOLATILE && s->state != JVPN_SS_DEGRADED) ||
        s->healthy_att == 0 || s->healthy_att != jvpn_session_active(s))
      return JVPN_NO_DEADLINE;
    return add_sat(s->healthy_since_ms, p->stability_window_ms);
  case T_RETRY:
    if (s->side != JVPN_SIDE_CLIENT || s->state != JVPN_SS_DEGRADED ||
        best_standby(s) == 0)
      return JVPN_NO_DEADLINE;
    /* Cooldown from the last switch, and at least one cooldown in
     * DEGRADED, so a client does not spin RECOVERING -> DEGRADED ->
     * RECOVERING. */
    at = s->state_entered_ms;
    if (s->n_switches > 0 && s->last_switch_ms > at)
      at = s->last_switch_ms;
    at = add_sat(at, p->switch_cooldown_ms);
    /* Not before the switch ring lets one more through. */
    if (jvpn_session_switches(s, at) >= p->max_switches_per_min) {
      at = switch_allowed_at(s, p, at);
    }
    return at;
  default: return JVPN_NO_DEADLINE;
  }
}

uint64_t jvpn_session_next_deadline(const struct jvpn_session *s,
                                    const struct jvpn_policy *p) {
  uint64_t best = JVPN_NO_DEADLINE, at;
  int t;

  for (t = 0; t < T_COUNT; t++) {
    at = timer_at(s, p, (enum timer_id)t);
    if (at < best)
      best = at;
  }
  return best;
}

int jvpn_session_expired(const struct jvpn_session *s,
                         const struct jvpn_policy *p, uint64_t now_ms) {
  return s->state != JVPN_SS_TERMINATED &&
         (timer_at(s, p, T_LIFETIME) <= now_ms ||
          timer_at(s, p, T_TRANSPORT_LOSS) <= now_ms);
}

static void fire(struct jvpn_session *s, const struct jvpn_policy *p,
                 uint64_t now, enum timer_id t, struct jvpn_session_out *out) {
  char why[JVPN_AUDIT_DETAIL_MAX];
  uint64_t cand;

  switch (t) {
  case T_LIFETIME:
    terminate(s, p, now, JVPN_R_TTL_SESSION_EXPIRED, "session lifetime", out);
    break;
  case T_TRANSPORT_LOSS:
    (void)snprintf(why, sizeof(why), "no attachment for %llu ms",
                   (unsigned long long)elapsed(now, s->last_attached_ms));
    terminate(s, p, now, JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED, why, out);
    break;
  case T_VOLATILE:
    transition(s, p, now, JVPN_R_VOLATILE_PERSISTED, NULL, NULL, out);
    break;
  case T_RECOVERY:
    transition(s, p, now, JVPN_R_RECOVERY_BOUNDS_EXCEEDED, NULL, NULL, out);
    break;
  case T_STABLE:
    transition(s, p, now, JVPN_R_HEALTH_RECOVERED, NULL, NULL, out);
    break;
  case T_RETRY:
    cand = best_standby(s);
    transition(s, p, now, JVPN_R_RECOVERY_RETRY, NULL, NULL, out);
    action(out, JVPN_ACT_START_RECOVERY, cand, JVPN_R_RECOVERY_RETRY);
    break;
  default: break;
  }
}

int jvpn_session_tick(struct jvpn_session *s, const struct jvpn_policy *p,
                      uint64_t now_ms, struct jvpn_session_out *out) {
  int fired = 0, t, due;
  uint64_t best, at;

  if (s == NULL || p == NULL || out == NULL)
    return JVPN_ERR_INVAL;
  /* Each firing leaves its state (or arms a later timer), so a chain
   * through every state ends well within this bound. */
  while (fired < 2 * T_COUNT) {
    best = JVPN_NO_DEADLINE;
    due = -1;
    for (t = 0; t < T_COUNT; t++) {
      at = timer_at(s, p, (enum timer_id)t);
      if (at <= now_ms && at < best) {
        best = at;
        due = t;
      }
    }
    if (due < 0)
      break;
    fire(s, p, now_ms, (enum timer_id)due, out);
    fired++;
  }
  return fired;
}
