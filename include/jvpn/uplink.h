/*
 * jvpn-quic: client uplink selection (ARCHITECTURE 5, docs/multipath.md).
 *
 * One attachment per configured uplink: the active one carries data, the
 * others are warm standbys kept alive by keep-alives that also measure RTT
 * and loss. This module judges each uplink from the measurements the
 * adapters feed it and answers "switch to attachment X now, because ...".
 *
 * Sans-I/O like the session core: every call takes the caller's monotonic
 * time in ms; nothing here reads a clock, opens a socket or knows QUIC.
 * Deterministic: the same calls give the same decisions and records; ties
 * go to the lowest attachment ID. Bounded: at most JVPN_UPLINK_MAX uplinks.
 *
 * The switch budget and the cooldown belong to the session core, which
 * alone records switches (activations, reattaches, path changes).
 * jvpn_uplink_decide() reads them from the session so that it proposes
 * only switches the core will accept, and reports the others as denials.
 */
#ifndef JVPN_UPLINK_H
#define JVPN_UPLINK_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/audit.h"
#include "jvpn/policy.h"
#include "jvpn/session.h"

#define JVPN_UPLINK_MAX JVPN_MAX_ATTACHMENTS /* one attachment each */
/* bytes, NUL included: an interface name or a local IPv6 address in text */
#define JVPN_UPLINK_NAME_MAX 48
/* The priority of an [uplink] that names none: after any that does. */
#define JVPN_UPLINK_DEFAULT_PRIORITY 100
/* us: the RTT assumed before the first sample (RFC 9002 kInitialRtt). */
#define JVPN_UPLINK_INITIAL_RTT_US 333000
/* us: RTT samples are clamped to this, which keeps the quality score
 * within 64 bits. */
#define JVPN_UPLINK_MAX_RTT_US 60000000
/* Records one jvpn_uplink_decide() call can produce: one candidate change
 * per uplink, plus the decision. */
#define JVPN_UPLINK_MAX_RECORDS (JVPN_UPLINK_MAX + 1)

/* --- configuration ------------------------------------------------------ */

enum jvpn_uplink_return {
  JVPN_UPLINK_RETURN_NEVER = 0,       /* stay on the uplink that works */
  JVPN_UPLINK_RETURN_AFTER_STABILITY, /* go back to a better priority once
                                         it was healthy for the stability
                                         window */
};

/* One [uplink] of the client config. */
struct jvpn_uplink_cfg {
  char name[JVPN_UPLINK_NAME_MAX]; /* interface name or local address */
  uint32_t priority;               /* lower = preferred */
  int metered;                     /* cost class: keep-alives only, slow */
  uint64_t standby_keepalive_ms;   /* 0 = the policy's default for the
                                      cost class; else 50 ms .. 60 s */
};

/* The knobs that struct jvpn_policy does not already have. Cooldown,
 * switch budget, hysteresis, stability window, loss threshold, heartbeat
 * and silence bound are taken from struct jvpn_policy (see
 * docs/multipath.md for which is used where). */
struct jvpn_uplink_policy {
  uint32_t detect_k;        /* 4: silence threshold in SRTTs (1..32) */
  uint64_t detect_floor_ms; /* 150: the threshold never goes below this
                               (10 ms .. silence_volatile_ms) */
  uint32_t detect_ptos;     /* 2 consecutive PTOs = dead (1..16) */
  enum jvpn_uplink_return return_mode; /* AFTER_STABILITY */
  uint64_t metered_keepalive_ms;       /* 15 s between keep-alives on a
                                          metered standby (heartbeat_ms ..
                                          60 s) */
};

/* Fills |up| with the defaults above. */
void jvpn_uplink_policy_init(struct jvpn_uplink_policy *up);

/* Checks |up| against its ranges and against |p| (which must be
 * validated). Returns 0 or JVPN_ERR_INVAL with a message in |err| (may be
 * NULL). */
int jvpn_uplink_policy_validate(const struct jvpn_uplink_policy *up,
                                const struct jvpn_policy *p, char *err,
                                size_t errlen);

/* "never" / "after_stability" <-> the enum. Parse returns 0 or
 * JVPN_ERR_INVAL. */
int jvpn_uplink_return_parse(const char *s, enum jvpn_uplink_return *out);
const char *jvpn_uplink_return_name(enum jvpn_uplink_return m);

/* --- state --------------------------------------------------------------- */

/* How an uplink stands, judged at the last jvpn_uplink_decide(). */
enum jvpn_uplink_status {
  JVPN_UPLINK_ST_NONE = 0,   /* no attachment on it */
  JVPN_UPLINK_ST_DEAD,       /* link down, silent, or PTOs */
  JVPN_UPLINK_ST_UNMEASURED, /* attached, no RTT sample yet */
  JVPN_UPLINK_ST_LOSSY,      /* alive, loss over loss_volatile_pct */
  JVPN_UPLINK_ST_SETTLING,   /* healthy, but failed less than the
                                stability window ago */
  JVPN_UPLINK_ST_READY,      /* healthy and stable: a candidate */
  JVPN_UPLINK_ST_COUNT
};

/* What an adapter measured on one attachment (ngtcp2_conn_stat and the
 * adapter's ACK bookkeeping). */
struct jvpn_uplink_sample {
  uint64_t srtt_us;         /* smoothed RTT; 0 = no sample yet */
  uint32_t loss_pct;        /* over the policy's loss_window_ms (0..100) */
  uint64_t last_ack_ms;     /* when an ACK last acknowledged new packets;
                               0 = never */
  uint64_t bytes_in_flight; /* ack-eliciting bytes outstanding */
  uint32_t pto_count;       /* consecutive PTOs since the last ACK */
};

struct jvpn_uplink {
  struct jvpn_uplink_cfg cfg;
  int link_up;                 /* from netlink; 1 until told otherwise */
  uint64_t att;                /* attachment ID; 0 = none */
  enum jvpn_att_role role;     /* FREE when att == 0 */
  uint64_t attached_ms;        /* when |att| joined */
  struct jvpn_uplink_sample m; /* the latest sample */
  uint64_t waiting_since_ms;   /* data outstanding since (0 = none) */

  uint64_t keepalive_base_ms; /* standby: the last keep-alive, or when it
                                 became a standby */

  /* judged by jvpn_uplink_decide() */
  enum jvpn_uplink_status status;
  int cause;                 /* enum jvpn_uplink_reason: why DEAD/LOSSY */
  uint64_t healthy_since_ms; /* 0 = not healthy now */
  uint64_t failed_ms;        /* last failure of this uplink; 0 = never
                                (kept across attachments) */
};

struct jvpn_uplink_set {
  struct jvpn_uplink_policy pol;
  size_t n;
  struct jvpn_uplink up[JVPN_UPLINK_MAX];

  /* The active attachment went away (jvpn_uplink_lost): the next
   * decisions name it as |from| with the reason it was judged for. */
  uint64_t orphan_att;
  int orphan_reason; /* enum jvpn_uplink_reason */

  /* The last decision, so a repeated one is not audited again. */
  int last_action, last_reason; /* enums below */
  uint64_t last_to;
  uint64_t cooldown_until_ms; /* a switch waits for it; 0 = none */
};

/* --- decisions ----------------------------------------------------------- */

enum jvpn_uplink_action {
  JVPN_UPLINK_NONE = 0,
  JVPN_UPLINK_SWITCH,          /* activate |to| now */
  JVPN_UPLINK_DENIED_BUDGET,   /* |to| would be chosen, but the switch
                                  budget is spent: the session goes
                                  DEGRADED (docs/multipath.md) */
  JVPN_UPLINK_DENIED_COOLDOWN, /* |to| would be chosen after |retry_ms| */
  JVPN_UPLINK_NO_CANDIDATE,    /* the active is dead and no uplink can take
                                  over: report TRANSPORT_DEAD, reattach on
                                  a new connection */
};

enum jvpn_uplink_reason {
  JVPN_UPLINK_R_NONE = 0,
  JVPN_UPLINK_R_ACTIVE_SILENT,    /* no ACK progress for the threshold */
  JVPN_UPLINK_R_ACTIVE_PTO,       /* detect_ptos consecutive PTOs */
  JVPN_UPLINK_R_ACTIVE_LOSS,      /* loss over loss_volatile_pct */
  JVPN_UPLINK_R_LINK_DOWN,        /* netlink: the interface is down */
  JVPN_UPLINK_R_ACTIVE_LOST,      /* the active attachment is gone */
  JVPN_UPLINK_R_BETTER_CANDIDATE, /* same priority, better by hysteresis */
  JVPN_UPLINK_R_RETURN_PREFERRED, /* a better priority is stable again */
  JVPN_UPLINK_R_CANDIDATE_CHANGE, /* an uplink changed status (record) */
  JVPN_UPLINK_R_COUNT
};

struct jvpn_uplink_decision {
  enum jvpn_uplink_action action;
  enum jvpn_uplink_reason reason;
  int failover;      /* the active is dead or gone: cooldown does not
                        apply; feed TRANSPORT_DEAD for |from| first */
  uint64_t from, to; /* attachment IDs; 0 = none */
  uint32_t switches; /* the session's switches in the last minute */
  uint64_t retry_ms; /* DENIED_COOLDOWN: when the cooldown ends */
  char detail[JVPN_AUDIT_DETAIL_MAX]; /* the measurements behind it */

  /* Audit records of this call, oldest first (candidate changes, then the
   * decision, once per distinct decision). The caller sets session,
   * has_session, wall_ms and state_version before emitting them. */
  size_t nrecords;
  struct jvpn_audit_record records[JVPN_UPLINK_MAX_RECORDS];
};

/* Static names ("ACTIVE_SILENT", "DENIED_BUDGET", "READY"); "?" when out of
 * range. */
const char *jvpn_uplink_reason_name(enum jvpn_uplink_reason r);
const char *jvpn_uplink_action_name(enum jvpn_uplink_action a);
const char *jvpn_uplink_status_name(enum jvpn_uplink_status st);

/* --- calls --------------------------------------------------------------- */

/* Empties |set| and copies |up|, which must have passed
 * jvpn_uplink_policy_validate(). */
void jvpn_uplink_set_init(struct jvpn_uplink_set *set,
                          const struct jvpn_uplink_policy *up);

/* Adds an uplink (config order). Returns its index, JVPN_ERR_FULL past
 * JVPN_UPLINK_MAX, JVPN_ERR_EXISTS for a duplicate name, JVPN_ERR_INVAL
 * for an empty or unterminated name or a keep-alive out of range. */
int jvpn_uplink_add(struct jvpn_uplink_set *set,
                    const struct jvpn_uplink_cfg *cfg);

/* The index of the uplink named |name|, or JVPN_ERR_NOTFOUND. */
int jvpn_uplink_find(const struct jvpn_uplink_set *set, const char *name);

/* Attachment |att| (nonzero, held by no other uplink) now rides uplink
 * |idx| in |role| (ACTIVE or STANDBY; at most one ACTIVE). Call it when
 * the session core accepted it (HANDSHAKE_OK, STANDBY_ADDED,
 * REATTACH_ACCEPT). Returns 0, JVPN_ERR_INVAL or JVPN_ERR_EXISTS (the
 * uplink already has an attachment, or another is active). */
int jvpn_uplink_attached(struct jvpn_uplink_set *set, size_t idx, uint64_t att,
                         enum jvpn_att_role role, uint64_t now_ms);

/* Uplink |idx|'s attachment moved to a new connection on the same uplink
 * (a change of transport, QUIC <-> HTTP/2 over TCP): |att| replaces it in
 * |role|. Not a failure of the uplink: its status and stability clock
 * stay, its measurements start afresh. An uplink without an attachment
 * takes |att| as jvpn_uplink_attached() does. Returns 0, JVPN_ERR_INVAL
 * or JVPN_ERR_EXISTS (|att| is another uplink's, or |role| is ACTIVE and
 * another uplink is active). */
int jvpn_uplink_replaced(struct jvpn_uplink_set *set, size_t idx, uint64_t att,
                         enum jvpn_att_role role, uint64_t now_ms);

/* Attachment |att| is closed (dead connection, or closed by the caller).
 * Its uplink keeps its failure history. Returns 0 or JVPN_ERR_NOTFOUND (a
 * late report). */
int jvpn_uplink_lost(struct jvpn_uplink_set *set, uint64_t att,
                     uint64_t now_ms);

/* The session core accepted the activation of standby |att|
 * (TRANSPORT_SWITCH_OK): it becomes active, the old active a standby.
 * Returns 0, JVPN_ERR_NOTFOUND, or JVPN_ERR_INVAL if |att| is no
 * standby. */
int jvpn_uplink_activated(struct jvpn_uplink_set *set, uint64_t att,
                          uint64_t now_ms);

/* Netlink says uplink |idx|'s link went up (|up| = 1) or down (0). Down
 * makes the uplink dead at the next jvpn_uplink_decide(), which the caller
 * makes at once. Returns 0 or JVPN_ERR_INVAL. */
int jvpn_uplink_link(struct jvpn_uplink_set *set, size_t idx, int up,
                     uint64_t now_ms);

/* A new sample for attachment |att|, measured at |now_ms|. loss_pct over
 * 100 is taken as 100, an RTT over JVPN_UPLINK_MAX_RTT_US as that.
 * Returns 0 or JVPN_ERR_NOTFOUND (a late report). */
int jvpn_uplink_measure(struct jvpn_uplink_set *set, uint64_t att,
                        uint64_t now_ms, const struct jvpn_uplink_sample *s);

/* Judges every uplink at |now_ms| and decides (docs/multipath.md). |sess|
 * is the client's session (read only: state, switch budget, cooldown), |p|
 * its validated policy. Fills |dec| (always) and returns 0, or
 * JVPN_ERR_INVAL for NULL arguments. Repeated calls without new input
 * repeat the decision without repeating its record. */
int jvpn_uplink_decide(struct jvpn_uplink_set *set,
                       const struct jvpn_session *sess,
                       const struct jvpn_policy *p, uint64_t now_ms,
                       struct jvpn_uplink_decision *dec);

/* The earliest time a decision may change without new input (a silence
 * threshold, a stability window, a cooldown, a keep-alive), or
 * JVPN_NO_DEADLINE. Valid after jvpn_uplink_decide(). The switch budget
 * freeing up is not included: the session's retry timer covers it. */
uint64_t jvpn_uplink_next_deadline(const struct jvpn_uplink_set *set,
                                   const struct jvpn_policy *p);

/* The silence threshold for an uplink with smoothed RTT |srtt_us| (0 = no
 * sample): max(detect_k x SRTT, detect_floor_ms), at most the policy's
 * silence_volatile_ms. */
uint64_t jvpn_uplink_silence_ms(const struct jvpn_uplink_policy *up,
                                const struct jvpn_policy *p, uint64_t srtt_us);

/* The keep-alive interval of uplink |idx| while it is a standby: its own
 * standby_keepalive_ms, else metered_keepalive_ms when metered, else the
 * policy's heartbeat_ms. 0 for a bad index. */
uint64_t jvpn_uplink_keepalive_ms(const struct jvpn_uplink_set *set, size_t idx,
                                  const struct jvpn_policy *p);

/* Writes to |ids| (up to |cap|) the standby attachments whose keep-alive
 * is due at |now_ms|, lowest ID first, and schedules the next one of each.
 * The active gets none from here (it has data and QUIC's keep-alive).
 * Returns the number written. */
size_t jvpn_uplink_keepalives_due(struct jvpn_uplink_set *set,
                                  const struct jvpn_policy *p, uint64_t now_ms,
                                  uint64_t *ids, size_t cap);

#endif /* JVPN_UPLINK_H */
