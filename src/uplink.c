/* jvpn-quic: client uplink selection (docs/multipath.md). */
#include "jvpn/uplink.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/errmsg.h"

#define KEEPALIVE_MIN_MS 50
#define KEEPALIVE_MAX_MS 60000
#define DETECT_K_MAX 32
#define DETECT_FLOOR_MIN_MS 10
#define DETECT_PTOS_MAX 16

/* --- names --------------------------------------------------------------- */

static const char *const reason_names[JVPN_UPLINK_R_COUNT] = {
    [JVPN_UPLINK_R_NONE] = "NONE",
    [JVPN_UPLINK_R_ACTIVE_SILENT] = "ACTIVE_SILENT",
    [JVPN_UPLINK_R_ACTIVE_PTO] = "ACTIVE_PTO",
    [JVPN_UPLINK_R_ACTIVE_LOSS] = "ACTIVE_LOSS",
    [JVPN_UPLINK_R_LINK_DOWN] = "LINK_DOWN",
    [JVPN_UPLINK_R_ACTIVE_LOST] = "ACTIVE_LOST",
    [JVPN_UPLINK_R_BETTER_CANDIDATE] = "BETTER_CANDIDATE",
    [JVPN_UPLINK_R_RETURN_PREFERRED] = "RETURN_PREFERRED",
    [JVPN_UPLINK_R_CANDIDATE_CHANGE] = "CANDIDATE_CHANGE",
};

static const char *const action_names[] = {
    [JVPN_UPLINK_NONE] = "NONE",
    [JVPN_UPLINK_SWITCH] = "SWITCH",
    [JVPN_UPLINK_DENIED_BUDGET] = "DENIED_BUDGET",
    [JVPN_UPLINK_DENIED_COOLDOWN] = "DENIED_COOLDOWN",
    [JVPN_UPLINK_NO_CANDIDATE] = "NO_CANDIDATE",
};

static const char *const status_names[JVPN_UPLINK_ST_COUNT] = {
    [JVPN_UPLINK_ST_NONE] = "NONE",
    [JVPN_UPLINK_ST_DEAD] = "DEAD",
    [JVPN_UPLINK_ST_UNMEASURED] = "UNMEASURED",
    [JVPN_UPLINK_ST_LOSSY] = "LOSSY",
    [JVPN_UPLINK_ST_SETTLING] = "SETTLING",
    [JVPN_UPLINK_ST_READY] = "READY",
};

const char *jvpn_uplink_reason_name(enum jvpn_uplink_reason r) {
  return (unsigned)r < JVPN_UPLINK_R_COUNT ? reason_names[r] : "?";
}

const char *jvpn_uplink_action_name(enum jvpn_uplink_action a) {
  return (unsigned)a < sizeof(action_names) / sizeof(action_names[0])
             ? action_names[a]
             : "?";
}

const char *jvpn_uplink_status_name(enum jvpn_uplink_status st) {
  return (unsigned)st < JVPN_UPLINK_ST_COUNT ? status_names[st] : "?";
}

int jvpn_uplink_return_parse(const char *s, enum jvpn_uplink_return *out) {
  if (s == NULL || out == NULL)
    return JVPN_ERR_INVAL;
  if (strcmp(s, "never") == 0)
    *out = JVPN_UPLINK_RETURN_NEVER;
  else if (strcmp(s, "after_stability") == 0)
    *out = JVPN_UPLINK_RETURN_AFTER_STABILITY;
  else
    return JVPN_ERR_INVAL;
  return 0;
}

const char *jvpn_uplink_return_name(enum jvpn_uplink_return m) {
  switch (m) {
  case JVPN_UPLINK_RETURN_NEVER: return "never";
  case JVPN_UPLINK_RETURN_AFTER_STABILITY: return "after_stability";
  default: return "?";
  }
}

/* --- helpers ------------------------------------------------------------- */

static uint64_t elapsed(uint64_t now, uint64_t then) {
  /* A bad timestamp must not become a 584-million-year interval. */
  return now > then ? now - then : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t max_u64(uint64_t a, uint64_t b) {
  return a > b ? a : b;
}

/* Appends to a detail string; truncation is harmless (the record says
 * less, the decision is the same). */
static void app(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void app(char *buf, size_t cap, size_t *off, const char *fmt, ...) {
  va_list ap;
  int n;

  if (*off + 1 >= cap)
    return;
  va_start(ap, fmt);
  n = vsnprintf(buf + *off, cap - *off, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  *off += (size_t)n < cap - *off ? (size_t)n : cap - *off - 1;
}

/* --- policy -------------------------------------------------------------- */

void jvpn_uplink_policy_init(struct jvpn_uplink_policy *up) {
  memset(up, 0, sizeof(*up));
  up->detect_k = 4;
  up->detect_floor_ms = 150;
  up->detect_ptos = 2;
  up->return_mode = JVPN_UPLINK_RETURN_AFTER_STABILITY;
  up->metered_keepalive_ms = 15000;
}

int jvpn_uplink_policy_validate(const struct jvpn_uplink_policy *up,
                                const struct jvpn_policy *p, char *err,
                                size_t errlen) {
  if (up == NULL || p == NULL)
    return jvpn_errmsg(err, errlen, "no policy");
  if (up->detect_k < 1 || up->detect_k > DETECT_K_MAX)
    return jvpn_errmsg(err, errlen, "detect_k: %u out of range 1..%u",
                       up->detect_k, DETECT_K_MAX);
  /* The floor must leave room under the coarse silence bound, which caps
   * the threshold. */
  if (up->detect_floor_ms < DETECT_FLOOR_MIN_MS ||
      up->detect_floor_ms > p->silence_volatile_ms)
    return jvpn_errmsg(err, errlen,
                       "detect_floor_ms: %llu out of range %u..%llu "
                       "(silence_volatile_ms)",
                       (unsigned long long)up->detect_floor_ms,
                       DETECT_FLOOR_MIN_MS,
                       (unsigned long long)p->silence_volatile_ms);
  if (up->detect_ptos < 1 || up->detect_ptos > DETECT_PTOS_MAX)
    return jvpn_errmsg(err, errlen, "detect_ptos: %u out of range 1..%u",
                       up->detect_ptos, DETECT_PTOS_MAX);
  if (up->return_mode != JVPN_UPLINK_RETURN_NEVER &&
      up->return_mode != JVPN_UPLINK_RETURN_AFTER_STABILITY)
    return jvpn_errmsg(err, errlen, "return_mode: unknown value %d",
                       (int)up->return_mode);
  /* "Low rate": never faster than an unmetered standby's heartbeat. */
  if (up->metered_keepalive_ms < p->heartbeat_ms ||
      up->metered_keepalive_ms > KEEPALIVE_MAX_MS)
    return jvpn_errmsg(err, errlen,
                       "metered_keepalive_ms: %llu out of range %llu "
                       "(heartbeat_ms)..%u",
                       (unsigned long long)up->metered_keepalive_ms,
                       (unsigned long long)p->heartbeat_ms, KEEPALIVE_MAX_MS);
  return 0;
}

uint64_t jvpn_uplink_silence_ms(const struct jvpn_uplink_policy *up,
                                const struct jvpn_policy *p, uint64_t srtt_us) {
  uint64_t rtt = srtt_us != 0 ? srtt_us : JVPN_UPLINK_INITIAL_RTT_US;
  uint64_t thr;

  if (rtt > JVPN_UPLINK_MAX_RTT_US)
    rtt = JVPN_UPLINK_MAX_RTT_US;
  thr = (up->detect_k * rtt + 999) / 1000;
  if (thr < up->detect_floor_ms)
    thr = up->detect_floor_ms;
  /* A path slower than this is left to the coarse timer, which the
   * session core applies anyway. */
  if (thr > p->silence_volatile_ms)
    thr = p->silence_volatile_ms;
  return thr;
}

/* --- set and inputs ------------------------------------------------------ */

void jvpn_uplink_set_init(struct jvpn_uplink_set *set,
                          const struct jvpn_uplink_policy *up) {
  memset(set, 0, sizeof(*set));
  set->pol = *up;
}

static struct jvpn_uplink *by_att(struct jvpn_uplink_set *set, uint64_t att) {
  size_t i;

  if (att == 0)
    return NULL;
  for (i = 0; i < set->n; i++)
    if (set->up[i].att == att)
      return &set->up[i];
  return NULL;
}

static struct jvpn_uplink *active_of(struct jvpn_uplink_set *set) {
  size_t i;

  for (i = 0; i < set->n; i++)
    if (set->up[i].att != 0 && set->up[i].role == JVPN_ATT_ACTIVE)
      return &set->up[i];
  return NULL;
}

int jvpn_uplink_add(struct jvpn_uplink_set *set,
                    const struct jvpn_uplink_cfg *cfg) {
  struct jvpn_uplink *u;
  size_t len;

  if (set == NULL || cfg == NULL)
    return JVPN_ERR_INVAL;
  len = strnlen(cfg->name, sizeof(cfg->name));
  if (len == 0 || len == sizeof(cfg->name))
    return JVPN_ERR_INVAL;
  if (cfg->standby_keepalive_ms != 0 &&
      (cfg->standby_keepalive_ms < KEEPALIVE_MIN_MS ||
       cfg->standby_keepalive_ms > KEEPALIVE_MAX_MS))
    return JVPN_ERR_INVAL;
  if (jvpn_uplink_find(set, cfg->name) >= 0)
    return JVPN_ERR_EXISTS;
  if (set->n == JVPN_UPLINK_MAX)
    return JVPN_ERR_FULL;
  u = &set->up[set->n];
  memset(u, 0, sizeof(*u));
  u->cfg = *cfg;
  u->link_up = 1;
  return (int)set->n++;
}

int jvpn_uplink_find(const struct jvpn_uplink_set *set, const char *name) {
  size_t i;

  if (set == NULL || name == NULL)
    return JVPN_ERR_NOTFOUND;
  for (i = 0; i < set->n; i++)
    if (strcmp(set->up[i].cfg.name, name) == 0)
      return (int)i;
  return JVPN_ERR_NOTFOUND;
}

/* |u| holds attachment |att| in |role| from |now_ms| on, its
 * measurements afresh; an active one is no orphan's successor to wait
 * for any more. */
static void install(struct jvpn_uplink_set *set, struct jvpn_uplink *u,
                    uint64_t att, enum jvpn_att_role role, uint64_t now_ms) {
  u->att = att;
  u->role = role;
  u->attached_ms = now_ms;
  memset(&u->m, 0, sizeof(u->m));
  u->waiting_since_ms = 0;
  u->keepalive_base_ms = now_ms;
  if (role == JVPN_ATT_ACTIVE) {
    set->orphan_att = 0;
    set->orphan_reason = JVPN_UPLINK_R_NONE;
  }
}

int jvpn_uplink_attached(struct jvpn_uplink_set *set, size_t idx, uint64_t att,
                         enum jvpn_att_role role, uint64_t now_ms) {
  struct jvpn_uplink *u;

  if (set == NULL || idx >= set->n || att == 0 ||
      (role != JVPN_ATT_ACTIVE && role != JVPN_ATT_STANDBY))
    return JVPN_ERR_INVAL;
  u = &set->up[idx];
  if (u->att != 0 || by_att(set, att) != NULL)
    return JVPN_ERR_EXISTS;
  if (role == JVPN_ATT_ACTIVE && active_of(set) != NULL)
    return JVPN_ERR_EXISTS;
  install(set, u, att, role, now_ms);
  u->healthy_since_ms = 0;
  /* status stays as it was until the next decide judges the newcomer, so
   * the change is audited there. */
  return 0;
}

int jvpn_uplink_replaced(struct jvpn_uplink_set *set, size_t idx, uint64_t att,
                         enum jvpn_att_role role, uint64_t now_ms) {
  struct jvpn_uplink *u, *a;

  if (set == NULL || idx >= set->n || att == 0 ||
      (role != JVPN_ATT_ACTIVE && role != JVPN_ATT_STANDBY))
    return JVPN_ERR_INVAL;
  u = &set->up[idx];
  if (u->att == 0)
    return jvpn_uplink_attached(set, idx, att, role, now_ms);
  if (by_att(set, att) != NULL)
    return JVPN_ERR_EXISTS;
  a = active_of(set);
  if (role == JVPN_ATT_ACTIVE && a != NULL && a != u)
    return JVPN_ERR_EXISTS;
  install(set, u, att, role, now_ms);
  return 0;
}

int jvpn_uplink_lost(struct jvpn_uplink_set *set, uint64_t att,
                     uint64_t now_ms) {
  struct jvpn_uplink *u = set != NULL ? by_att(set, att) : NULL;

  if (u == NULL)
    return JVPN_ERR_NOTFOUND;
  if (u->role == JVPN_ATT_ACTIVE) {
    /* Later decisions keep naming what killed it, so the failover they
     * repeat is the same decision and is not audited twice. */
    set->orphan_att = att;
    set->orphan_reason =
        u->status == JVPN_UPLINK_ST_DEAD ? u->cause : JVPN_UPLINK_R_ACTIVE_LOST;
  }
  /* A closed attachment is a failure of its uplink: the next one on it
   * has to prove itself for the stability window. */
  if (u->status != JVPN_UPLINK_ST_DEAD)
    u->failed_ms = now_ms;
  u->att = 0;
  u->role = JVPN_ATT_FREE;
  memset(&u->m, 0, sizeof(u->m));
  u->waiting_since_ms = 0;
  u->healthy_since_ms = 0;
  return 0;
}

int jvpn_uplink_activated(struct jvpn_uplink_set *set, uint64_t att,
                          uint64_t now_ms) {
  struct jvpn_uplink *u = set != NULL ? by_att(set, att) : NULL;
  struct jvpn_uplink *old;

  if (u == NULL)
    return JVPN_ERR_NOTFOUND;
  if (u->role != JVPN_ATT_STANDBY)
    return JVPN_ERR_INVAL;
  old = active_of(set);
  if (old != NULL) {
    old->role = JVPN_ATT_STANDBY;
    old->keepalive_base_ms = now_ms;
  }
  u->role = JVPN_ATT_ACTIVE;
  set->orphan_att = 0;
  set->orphan_reason = JVPN_UPLINK_R_NONE;
  set->last_action = JVPN_UPLINK_NONE;
  set->last_reason = JVPN_UPLINK_R_NONE;
  set->last_to = 0;
  set->cooldown_until_ms = 0;
  return 0;
}

int jvpn_uplink_link(struct jvpn_uplink_set *set, size_t idx, int up,
                     uint64_t now_ms) {
  struct jvpn_uplink *u;

  if (set == NULL || idx >= set->n)
    return JVPN_ERR_INVAL;
  u = &set->up[idx];
  if (up && !u->link_up && u->waiting_since_ms != 0)
    /* Nothing could be acknowledged while the link was down. */
    u->waiting_since_ms = now_ms;
  u->link_up = up ? 1 : 0;
  return 0;
}

int jvpn_uplink_measure(struct jvpn_uplink_set *set, uint64_t att,
                        uint64_t now_ms, const struct jvpn_uplink_sample *s) {
  struct jvpn_uplink *u = set != NULL ? by_att(set, att) : NULL;

  if (u == NULL || s == NULL)
    return JVPN_ERR_NOTFOUND;
  u->m = *s;
  if (u->m.loss_pct > 100)
    u->m.loss_pct = 100;
  if (u->m.srtt_us > JVPN_UPLINK_MAX_RTT_US)
    u->m.srtt_us = JVPN_UPLINK_MAX_RTT_US;
  /* Silence counts from when something became outstanding, not from an
   * ACK long before an idle spell. */
  if (s->bytes_in_flight == 0)
    u->waiting_since_ms = 0;
  else if (u->waiting_since_ms == 0)
    u->waiting_since_ms = now_ms;
  return 0;
}

/* --- judging ------------------------------------------------------------- */

static uint64_t silence_base(const struct jvpn_uplink *u) {
  return max_u64(u->waiting_since_ms, u->m.last_ack_ms);
}

/* Expected delivery time of a packet with retransmissions, SRTT / (1 -
 * loss): one number for "quality", lower is better. In us. */
static uint64_t score_us(const struct jvpn_uplink *u) {
  uint32_t loss = u->m.loss_pct < 99 ? u->m.loss_pct : 99;

  return u->m.srtt_us * 100 / (100 - loss);
}

/* Health without history: NONE, DEAD, UNMEASURED, LOSSY, or READY meaning
 * "healthy now". Writes the cause of DEAD/LOSSY. */
static enum jvpn_uplink_status health(const struct jvpn_uplink_set *set,
                                      const struct jvpn_uplink *u,
                                      const struct jvpn_policy *p, uint64_t now,
                                      int *cause) {
  *cause = JVPN_UPLINK_R_NONE;
  if (u->att == 0)
    return JVPN_UPLINK_ST_NONE;
  if (!u->link_up) {
    *cause = JVPN_UPLINK_R_LINK_DOWN;
    return JVPN_UPLINK_ST_DEAD;
  }
  if (u->waiting_since_ms != 0 &&
      elapsed(now, silence_base(u)) >=
          jvpn_uplink_silence_ms(&set->pol, p, u->m.srtt_us)) {
    *cause = JVPN_UPLINK_R_ACTIVE_SILENT;
    return JVPN_UPLINK_ST_DEAD;
  }
  if (u->m.pto_count >= set->pol.detect_ptos) {
    *cause = JVPN_UPLINK_R_ACTIVE_PTO;
    return JVPN_UPLINK_ST_DEAD;
  }
  if (u->m.srtt_us == 0)
    return JVPN_UPLINK_ST_UNMEASURED;
  if (u->m.loss_pct > p->loss_volatile_pct) {
    *cause = JVPN_UPLINK_R_ACTIVE_LOSS;
    return JVPN_UPLINK_ST_LOSSY;
  }
  return JVPN_UPLINK_ST_READY;
}

/* "wlan0#7 p0 srtt 42.1ms loss 3%": name#attachment, priority */
static void describe(char *buf, size_t cap, size_t *off,
                     const struct jvpn_uplink *u) {
  app(buf, cap, off, "%s#%llu p%u srtt %llu.%llums loss %u%%", u->cfg.name,
      (unsigned long long)u->att, u->cfg.priority,
      (unsigned long long)(u->m.srtt_us / 1000),
      (unsigned long long)(u->m.srtt_us % 1000 / 100), u->m.loss_pct);
}

/* Why |u| is DEAD or LOSSY, with the numbers. */
static void describe_cause(char *buf, size_t cap, size_t *off,
                           const struct jvpn_uplink_set *set,
                           const struct jvpn_uplink *u,
                           const struct jvpn_policy *p, uint64_t now) {
  switch (u->cause) {
  case JVPN_UPLINK_R_LINK_DOWN: app(buf, cap, off, ": link down"); break;
  case JVPN_UPLINK_R_ACTIVE_SILENT:
    app(buf, cap, off,
        ": silent %llums >= %llums (%ux srtt, floor %llums), %llu B in "
        "flight",
        (unsigned long long)elapsed(now, silence_base(u)),
        (unsigned long long)jvpn_uplink_silence_ms(&set->pol, p, u->m.srtt_us),
        set->pol.detect_k, (unsigned long long)set->pol.detect_floor_ms,
        (unsigned long long)u->m.bytes_in_flight);
    break;
  case JVPN_UPLINK_R_ACTIVE_PTO:
    app(buf, cap, off, ": %u PTOs >= %u", u->m.pto_count, set->pol.detect_ptos);
    break;
  case JVPN_UPLINK_R_ACTIVE_LOSS:
    app(buf, cap, off, ": loss %u%% > %u%%", u->m.loss_pct,
        p->loss_volatile_pct);
    break;
  default: break;
  }
}

static void record(struct jvpn_uplink_decision *dec, enum jvpn_audit_kind kind,
                   const char *event, enum jvpn_uplink_reason reason,
                   uint64_t from, uint64_t to, const struct jvpn_policy *p,
                   uint64_t now, const char *detail) {
  struct jvpn_audit_record *r;

  /* Bounded by construction: one per uplink plus one decision. */
  if (dec->nrecords >= JVPN_UPLINK_MAX_RECORDS)
    return;
  r = &dec->records[dec->nrecords++];
  r->kind = kind;
  r->mono_ms = now;
  r->event = event;
  r->reason = jvpn_uplink_reason_name(reason);
  r->from_attachment = from;
  r->to_attachment = to;
  r->policy_version = p->version;
  (void)snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

/* Judges every uplink at |now|, keeps the failure history and stability
 * clocks, and audits each status change. */
static void refresh(struct jvpn_uplink_set *set, const struct jvpn_policy *p,
                    uint64_t now, struct jvpn_uplink_decision *dec) {
  char buf[JVPN_AUDIT_DETAIL_MAX];
  enum jvpn_uplink_status h, old;
  struct jvpn_uplink *u;
  size_t i, off;
  int cause;

  for (i = 0; i < set->n; i++) {
    u = &set->up[i];
    old = u->status;
    h = health(set, u, p, now, &cause);
    u->cause = cause;
    if (h == JVPN_UPLINK_ST_READY) {
      if (u->healthy_since_ms == 0)
        u->healthy_since_ms = now;
      if (u->failed_ms != 0 &&
          elapsed(now, u->healthy_since_ms) < p->stability_window_ms)
        h = JVPN_UPLINK_ST_SETTLING;
    } else {
      u->healthy_since_ms = 0;
      if ((h == JVPN_UPLINK_ST_DEAD || h == JVPN_UPLINK_ST_LOSSY) && old != h)
        u->failed_ms = now;
    }
    u->status = h;
    if (h == old)
      continue;
    off = 0;
    buf[0] = '\0';
    describe(buf, sizeof(buf), &off, u);
    app(buf, sizeof(buf), &off, " %s->%s", jvpn_uplink_status_name(old),
        jvpn_uplink_status_name(h));
    describe_cause(buf, sizeof(buf), &off, set, u, p, now);
    if (h == JVPN_UPLINK_ST_SETTLING)
      app(buf, sizeof(buf), &off, ": failed %llums ago, stable after %llums",
          (unsigned long long)elapsed(now, u->failed_ms),
          (unsigned long long)p->stability_window_ms);
    record(dec, JVPN_AUDIT_INFO, "uplink_candidate",
           JVPN_UPLINK_R_CANDIDATE_CHANGE, 0, u->att, p, now, buf);
  }
}

/* --- selection ----------------------------------------------------------- */

/* Failover order: stable first, then settling, lossy, unmeasured. */
static int tier(enum jvpn_uplink_status st) {
  switch (st) {
  case JVPN_UPLINK_ST_READY: return 0;
  case JVPN_UPLINK_ST_SETTLING: return 1;
  case JVPN_UPLINK_ST_LOSSY: return 2;
  case JVPN_UPLINK_ST_UNMEASURED: return 3;
  default: return -1; /* not a candidate */
  }
}

/* Returns 1 if |a| ranks before |b|: tier, priority, quality, ID. The ID
 * makes the order total, so the result never depends on config order. */
static int ranks_before(const struct jvpn_uplink *a,
                        const struct jvpn_uplink *b) {
  if (tier(a->status) != tier(b->status))
    return tier(a->status) < tier(b->status);
  if (a->cfg.priority != b->cfg.priority)
    return a->cfg.priority < b->cfg.priority;
  if (score_us(a) != score_us(b))
    return score_us(a) < score_us(b);
  return a->att < b->att;
}

enum prio_filter { PRIO_ANY, PRIO_BETTER, PRIO_SAME };

/* The best candidate other than |skip| with tier <= |max_tier| whose
 * priority passes |f| against |skip|'s, or NULL. */
static struct jvpn_uplink *best(struct jvpn_uplink_set *set,
                                const struct jvpn_uplink *skip, int max_tier,
                                enum prio_filter f) {
  struct jvpn_uplink *u, *b = NULL;
  size_t i;
  int t;

  for (i = 0; i < set->n; i++) {
    u = &set->up[i];
    t = tier(u->status);
    if (u == skip || t < 0 || t > max_tier)
      continue;
    if (f == PRIO_BETTER && u->cfg.priority >= skip->cfg.priority)
      continue;
    if (f == PRIO_SAME && u->cfg.priority != skip->cfg.priority)
      continue;
    if (b == NULL || ranks_before(u, b))
      b = u;
  }
  return b;
}

/* Mirrors the session core's own refusal of an ACTIVATE (session.c
 * on_switch): budget first, then cooldown, which does not apply in
 * RECOVERING. A failover from an active the session still holds goes
 * through TRANSPORT_DEAD first, which puts the session in RECOVERING. */
static enum jvpn_uplink_action admit(struct jvpn_uplink_set *set,
                                     const struct jvpn_session *sess,
                                     const struct jvpn_policy *p, uint64_t now,
                                     int failover,
                                     struct jvpn_uplink_decision *dec) {
  enum jvpn_session_state st = sess->state;

  if (failover && jvpn_session_active(sess) != 0)
    st = JVPN_SS_RECOVERING;
  dec->switches = jvpn_session_switches(sess, now);
  if (dec->switches >= p->max_switches_per_min)
    return JVPN_UPLINK_DENIED_BUDGET;
  if (st != JVPN_SS_RECOVERING && sess->n_switches > 0 &&
      elapsed(now, sess->last_switch_ms) < p->switch_cooldown_ms) {
    dec->retry_ms = add_sat(sess->last_switch_ms, p->switch_cooldown_ms);
    set->cooldown_until_ms = dec->retry_ms;
    return JVPN_UPLINK_DENIED_COOLDOWN;
  }
  return JVPN_UPLINK_SWITCH;
}

/* Chooses a voluntary target for a live active |act|, or NULL. */
static struct jvpn_uplink *voluntary(struct jvpn_uplink_set *set,
                                     const struct jvpn_uplink *act,
                                     const struct jvpn_policy *p,
                                     enum jvpn_uplink_reason *why) {
  struct jvpn_uplink *c;

  if (act->status == JVPN_UPLINK_ST_LOSSY) {
    *why = JVPN_UPLINK_R_ACTIVE_LOSS;
    return best(set, act, 0, PRIO_ANY);
  }
  if (set->pol.return_mode == JVPN_UPLINK_RETURN_AFTER_STABILITY) {
    c = best(set, act, 0, PRIO_BETTER);
    if (c != NULL) {
      *why = JVPN_UPLINK_R_RETURN_PREFERRED;
      return c;
    }
  }
  if (act->status != JVPN_UPLINK_ST_READY &&
      act->status != JVPN_UPLINK_ST_SETTLING)
    return NULL; /* no quality to compare with */
  c = best(set, act, 0, PRIO_SAME);
  if (c != NULL &&
      jvpn_policy_candidate_better(p, score_us(act), score_us(c))) {
    *why = JVPN_UPLINK_R_BETTER_CANDIDATE;
    return c;
  }
  return NULL;
}

/* "3 switches in 60s, max 3" first, so truncation only ever cuts the
 * candidate's numbers. */
static void explain(char *buf, size_t cap, const struct jvpn_uplink_set *set,
                    const struct jvpn_uplink *act, const struct jvpn_uplink *to,
                    const struct jvpn_policy *p, uint64_t now,
                    enum jvpn_uplink_action action, enum jvpn_uplink_reason why,
                    const struct jvpn_uplink_decision *dec) {
  size_t off = 0;

  buf[0] = '\0';
  app(buf, cap, &off, "%s", jvpn_uplink_action_name(action));
  if (action == JVPN_UPLINK_DENIED_BUDGET)
    app(buf, cap, &off, " (%u switches in 60s, max %u)", dec->switches,
        p->max_switches_per_min);
  if (action == JVPN_UPLINK_DENIED_COOLDOWN)
    app(buf, cap, &off, " (cooldown %llums more)",
        (unsigned long long)elapsed(dec->retry_ms, now));
  app(buf, cap, &off, ": ");
  if (act != NULL) {
    describe(buf, cap, &off, act);
    describe_cause(buf, cap, &off, set, act, p, now);
  } else {
    app(buf, cap, &off, "#%llu lost", (unsigned long long)set->orphan_att);
  }
  if (to != NULL) {
    app(buf, cap, &off, " -> ");
    describe(buf, cap, &off, to);
    app(buf, cap, &off, " %s", jvpn_uplink_status_name(to->status));
  }
  if (why == JVPN_UPLINK_R_BETTER_CANDIDATE && act != NULL && to != NULL)
    app(buf, cap, &off, "; score %llu.%llums vs %llu.%llums, margin %u%%",
        (unsigned long long)(score_us(to) / 1000),
        (unsigned long long)(score_us(to) % 1000 / 100),
        (unsigned long long)(score_us(act) / 1000),
        (unsigned long long)(score_us(act) % 1000 / 100), p->hysteresis_pct);
}

int jvpn_uplink_decide(struct jvpn_uplink_set *set,
                       const struct jvpn_session *sess,
                       const struct jvpn_policy *p, uint64_t now_ms,
                       struct jvpn_uplink_decision *dec) {
  struct jvpn_uplink *act, *to = NULL;
  enum jvpn_uplink_reason why = JVPN_UPLINK_R_NONE;
  enum jvpn_uplink_action action = JVPN_UPLINK_NONE;
  int failover = 0, repeat;

  if (dec == NULL)
    return JVPN_ERR_INVAL;
  memset(dec, 0, sizeof(*dec));
  if (set == NULL || sess == NULL || p == NULL)
    return JVPN_ERR_INVAL;
  set->cooldown_until_ms = 0;
  refresh(set, p, now_ms, dec);

  act = active_of(set);
  if (sess->state == JVPN_SS_BIRTH || sess->state == JVPN_SS_TERMINATED) {
    /* Nothing to switch: the core refuses activations in these states. */
  } else if (act == NULL || act->status == JVPN_UPLINK_ST_DEAD) {
    failover = 1;
    why = act != NULL ? (enum jvpn_uplink_reason)act->cause
          : set->orphan_reason != JVPN_UPLINK_R_NONE
              ? (enum jvpn_uplink_reason)set->orphan_reason
              : JVPN_UPLINK_R_ACTIVE_LOST;
    to = best(set, act, 3, PRIO_ANY);
    action = to != NULL ? admit(set, sess, p, now_ms, 1, dec)
                        : JVPN_UPLINK_NO_CANDIDATE;
    if (act == NULL && to == NULL && set->orphan_att == 0)
      action = JVPN_UPLINK_NONE; /* nothing attached at all yet */
  } else {
    to = voluntary(set, act, p, &why);
    if (to != NULL)
      action = admit(set, sess, p, now_ms, 0, dec);
  }

  dec->action = action;
  dec->reason = action != JVPN_UPLINK_NONE ? why : JVPN_UPLINK_R_NONE;
  dec->failover = action != JVPN_UPLINK_NONE ? failover : 0;
  dec->from = act != NULL ? act->att : set->orphan_att;
  dec->to = to != NULL ? to->att : 0;
  if (action == JVPN_UPLINK_NONE)
    dec->to = 0;
  if (action != JVPN_UPLINK_NONE)
    explain(dec->detail, sizeof(dec->detail), set, act, to, p, now_ms, action,
            why, dec);

  /* The caller asks again on every input; one record per distinct
   * decision keeps the trail readable and bounded. */
  repeat = set->last_action == (int)action &&
           set->last_reason == (int)dec->reason && set->last_to == dec->to;
  set->last_action = (int)action;
  set->last_reason = (int)dec->reason;
  set->last_to = dec->to;
  if (action == JVPN_UPLINK_NONE || repeat)
    return 0;
  if (action == JVPN_UPLINK_DENIED_BUDGET ||
      action == JVPN_UPLINK_DENIED_COOLDOWN)
    record(dec, JVPN_AUDIT_DENIAL, "uplink_denied", dec->reason, dec->from,
           dec->to, p, now_ms, dec->detail);
  else
    record(dec, JVPN_AUDIT_INFO,
           action == JVPN_UPLINK_SWITCH ? "uplink_switch"
                                        : "uplink_no_candidate",
           dec->reason, dec->from, dec->to, p, now_ms, dec->detail);
  return 0;
}

/* --- timers -------------------------------------------------------------- */

uint64_t jvpn_uplink_keepalive_ms(const struct jvpn_uplink_set *set, size_t idx,
                                  const struct jvpn_policy *p) {
  const struct jvpn_uplink *u;

  if (set == NULL || p == NULL || idx >= set->n)
    return 0;
  u = &set->up[idx];
  if (u->cfg.standby_keepalive_ms != 0)
    return u->cfg.standby_keepalive_ms;
  return u->cfg.metered ? set->pol.metered_keepalive_ms : p->heartbeat_ms;
}

uint64_t jvpn_uplink_next_deadline(const struct jvpn_uplink_set *set,
                                   const struct jvpn_policy *p) {
  const struct jvpn_uplink *u;
  uint64_t at, dl = JVPN_NO_DEADLINE;
  size_t i;

  if (set == NULL || p == NULL)
    return JVPN_NO_DEADLINE;
  for (i = 0; i < set->n; i++) {
    u = &set->up[i];
    if (u->att == 0)
      continue;
    if (u->role == JVPN_ATT_STANDBY) {
      at = add_sat(u->keepalive_base_ms, jvpn_uplink_keepalive_ms(set, i, p));
      if (at < dl)
        dl = at;
    }
    /* When the silence threshold would be crossed. */
    if (u->status != JVPN_UPLINK_ST_DEAD && u->waiting_since_ms != 0) {
      at = add_sat(silence_base(u),
                   jvpn_uplink_silence_ms(&set->pol, p, u->m.srtt_us));
      if (at < dl)
        dl = at;
    }
    if (u->status == JVPN_UPLINK_ST_SETTLING) {
      at = add_sat(u->healthy_since_ms, p->stability_window_ms);
      if (at < dl)
        dl = at;
    }
  }
  if (set->cooldown_until_ms != 0 && set->cooldown_until_ms < dl)
    dl = set->cooldown_until_ms;
  return dl;
}

size_t jvpn_uplink_keepalives_due(struct jvpn_uplink_set *set,
                                  const struct jvpn_policy *p, uint64_t now_ms,
                                  uint64_t *ids, size_t cap) {
  struct jvpn_uplink *u;
  size_t i, j, n = 0;
  uint64_t id;

  if (set == NULL || p == NULL || (ids == NULL && cap > 0))
    return 0;
  for (i = 0; i < set->n; i++) {
    u = &set->up[i];
    if (u->att == 0 || u->role != JVPN_ATT_STANDBY ||
        now_ms <
            add_sat(u->keepalive_base_ms, jvpn_uplink_keepalive_ms(set, i, p)))
      continue;
    if (u->link_up && n == cap)
      continue; /* still due at the next call */
    /* A down link gets none (nothing would leave) but keeps its rhythm. */
    u->keepalive_base_ms = now_ms;
    if (!u->link_up)
      continue;
    /* Insertion by ID: at most JVPN_UPLINK_MAX entries. */
    id = u->att;
    for (j = n; j > 0 && ids[j - 1] > id; j--)
      ids[j] = ids[j - 1];
    ids[j] = id;
    n++;
  }
  return n;
}
