/*
 * jvpn-quic: the session core (ARCHITECTURE 3, docs/state-machine.md).
 *
 * Sans-I/O, in the manner of ngtcp2_conn: the caller feeds events with a
 * timestamp and a policy; the core answers with actions for the adapters,
 * audit records for the writer, and the time it next needs a tick. No
 * clock, no sockets, no randomness: session IDs and secrets are bytes the
 * caller supplies. The same code runs on client and server; the server's
 * copy is authoritative for state_version.
 *
 * Every transition has exactly one reason code, adds 1 to state_version
 * and yields one TRANSITION record. An event the current state does not
 * define is refused with JVPN_ERR_DENIED and a DENIAL record and changes
 * nothing, not even the version. TERMINATED is absorbing.
 *
 * Only authenticated input reaches jvpn_session_handle(): on the server,
 * attach requests go through jvpn_session_table_attach() (src/
 * session_table.h), which checks rate, TTLs, pin, MAC and nonce first.
 */
#ifndef JVPN_SESSION_H
#define JVPN_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/audit.h"
#include "jvpn/policy.h"
#include "jvpn/proof.h"
#include "jvpn/proto.h"

#define JVPN_MAX_ATTACHMENTS 4      /* one active + up to 3 standbys */
#define JVPN_SESSION_MAX_ACTIONS 12 /* per handle/tick call */
#define JVPN_SESSION_MAX_RECORDS 8  /* per handle/tick call */
#define JVPN_SWITCH_RING JVPN_POLICY_MAX_SWITCHES_PER_MIN
#define JVPN_NO_DEADLINE UINT64_MAX

enum jvpn_session_state {
  JVPN_SS_BIRTH = 0,
  JVPN_SS_ATTACHED,
  JVPN_SS_VOLATILE,
  JVPN_SS_DEGRADED,
  JVPN_SS_RECOVERING,
  JVPN_SS_TERMINATED,
  JVPN_SS_COUNT
};

/* The one reason-code vocabulary (docs/reason-codes.md): transitions,
 * switches, denials and security events all draw from it. */
enum jvpn_reason {
  JVPN_R_NONE = 0,
  /* transitions (ARCHITECTURE 3 table) */
  JVPN_R_HANDSHAKE_OK,
  JVPN_R_VOLATILITY_SIGNAL,
  JVPN_R_TRANSPORT_DEAD,
  JVPN_R_RECOVERY_START,
  JVPN_R_HEALTH_RECOVERED,
  JVPN_R_VOLATILE_PERSISTED,
  JVPN_R_POLICY_FLAP_LIMIT,
  JVPN_R_REATTACH_ACCEPT,
  JVPN_R_TRANSPORT_SWITCH_OK,
  JVPN_R_RECOVERY_BOUNDS_EXCEEDED,
  JVPN_R_POLICY_DENY,
  JVPN_R_RECOVERY_RETRY,
  JVPN_R_TTL_SESSION_EXPIRED,
  JVPN_R_TTL_TRANSPORT_LOSS_EXPIRED,
  JVPN_R_OPERATOR_TERMINATED,
  JVPN_R_PEER_CLOSED,
  JVPN_R_POLICY_TERMINATION,
  JVPN_R_FATAL_PROTOCOL_ERROR,
  /* path changes and bookkeeping (SWITCH and INFO records) */
  JVPN_R_SESSION_BORN,
  JVPN_R_NAT_REBIND,
  JVPN_R_PATH_MIGRATED,
  JVPN_R_STANDBY_ADDED,
  JVPN_R_STANDBY_LOST,
  JVPN_R_UNDEFINED_EVENT,
  JVPN_R_TCP_FALLBACK,  /* the session moved from QUIC to HTTP/2 over TCP */
  JVPN_R_QUIC_RETURN,   /* ... and back to QUIC */
  /* security: unauthenticated input refused, nothing changed */
  JVPN_R_RATE_LIMITED,
  JVPN_R_MALFORMED_REQUEST,
  JVPN_R_UNKNOWN_SESSION,
  JVPN_R_SESSION_TERMINATED,
  JVPN_R_TTL_EXPIRED,
  JVPN_R_PIN_MISMATCH,
  JVPN_R_BAD_PROOF,
  JVPN_R_REPLAY,
  JVPN_R_STALE_VERSION,
  JVPN_R_COUNT
};

/* Static names: "ATTACHED", "TTL_SESSION_EXPIRED". Out-of-range values
 * give "?". */
const char *jvpn_session_state_name(enum jvpn_session_state st);
const char *jvpn_reason_name(enum jvpn_reason r);
/* Returns 1 if |r| is a security reason (unauthenticated input). */
int jvpn_reason_is_security(enum jvpn_reason r);

enum jvpn_att_role {
  JVPN_ATT_FREE = 0, /* slot unused */
  JVPN_ATT_ACTIVE,   /* carries data; at most one (rule 2) */
  JVPN_ATT_STANDBY,  /* warm, carries no data */
};

/* One transport attachment (a QUIC connection, or a path of one). IDs are
 * chosen by the caller, strictly increasing within a session, so an ID is
 * never reused: a late event about a closed attachment cannot hit a new
 * one. */
struct jvpn_attachment {
  uint64_t id; /* 0 only in a free slot */
  enum jvpn_att_role role;
  uint64_t since_ms; /* when it took its current role */
};

enum jvpn_session_side { JVPN_SIDE_SERVER = 0, JVPN_SIDE_CLIENT = 1 };

struct jvpn_session {
  uint8_t id[JVPN_SESSION_ID_LEN]; /* never changes (rule 1) */
  enum jvpn_session_side side;
  enum jvpn_session_state state;
  uint64_t state_version;  /* +1 per transition, never otherwise */
  uint64_t attach_version; /* state_version after the last accepted attach;
                              an attach request must present it */
  uint8_t owner_pin[JVPN_PIN_LEN];
  uint8_t secret[JVPN_SECRET_LEN]; /* wiped by jvpn_session_free() */
  struct jvpn_replay replay;       /* nonces of accepted proofs */

  struct jvpn_attachment att[JVPN_MAX_ATTACHMENTS];
  uint64_t last_attachment_id; /* highest ID ever used */

  /* timestamps (ms, caller's monotonic clock) */
  uint64_t born_ms;
  uint64_t state_entered_ms;
  uint64_t last_attached_ms; /* last moment an active attachment existed
                                (transport-loss TTL counts from here) */
  uint64_t last_switch_ms;   /* 0 = never: cooldown */
  uint64_t healthy_att;      /* VOLATILE/DEGRADED: attachment healthy */
  uint64_t healthy_since_ms; /* ... since then (stability window) */
  uint64_t time_in_state_ms[JVPN_SS_COUNT];

  /* accepted switches in the last minute (bounded ring, oldest first) */
  uint64_t switch_ring[JVPN_SWITCH_RING];
  uint32_t switch_head, switch_count;
  /* the last path change that was counted, and its attachment (D53; not
   * stored: a restored session counts its next one) */
  uint64_t path_counted_ms, path_counted_att;

  /* counters; denials are counted by the caller (a denial changes
   * nothing here, not even a counter) */
  uint64_t n_transitions, n_switches;
  uint32_t policy_version; /* of the policy of the last transition */
};

/* Event types. Each is defined in some states only; see the table in
 * docs/state-machine.md. |attachment| names the attachment concerned. */
enum jvpn_event_type {
  JVPN_EV_ATTACH_CONFIRMED = 1, /* BIRTH: first attachment is up */
  JVPN_EV_HEALTH,               /* measurements (health) of the active one */
  JVPN_EV_VOLATILITY,     /* explicit signal (detail), e.g. path pending */
  JVPN_EV_TRANSPORT_DEAD, /* attachment gone (active or standby) */
  JVPN_EV_PATH_CHANGE,    /* validated path change: reason NAT_REBIND or
                             PATH_MIGRATED; counts as a switch */
  JVPN_EV_REATTACH,       /* authenticated reattach on a new attachment */
  JVPN_EV_STANDBY,        /* authenticated standby attachment */
  JVPN_EV_ACTIVATE,       /* authenticated: standby becomes active */
  JVPN_EV_TERMINATE,      /* reason: OPERATOR_TERMINATED, PEER_CLOSED,
                             POLICY_TERMINATION, FATAL_PROTOCOL_ERROR */
};

struct jvpn_session_event {
  enum jvpn_event_type type;
  uint64_t attachment;
  enum jvpn_reason reason;   /* PATH_CHANGE and TERMINATE only */
  struct jvpn_health health; /* HEALTH only */
  const char *detail;        /* copied into the record; may be NULL */
  const char *peer;          /* the connection's remote address for the
                                record; may be NULL */
  int failover;              /* ACTIVATE only: the client judged the active
                                attachment dead, so the switch cooldown
                                does not apply (the budget does) */
};

enum jvpn_action_type {
  JVPN_ACT_CLOSE_ATTACHMENT = 1, /* close |attachment| */
  JVPN_ACT_ACTIVATE,             /* carry data on |attachment| from now on */
  JVPN_ACT_START_RECOVERY,       /* client: recover, trying |attachment| (0 =
                                    open a new connection and reattach) */
  JVPN_ACT_TERMINATE,            /* end the session (|reason|) */
  JVPN_ACT_RELEASE_ADDRESSES,    /* return the inner addresses to the pool */
};

struct jvpn_session_action {
  enum jvpn_action_type type;
  uint64_t attachment;
  enum jvpn_reason reason;
};

/* What one call produced. The caller resets it (jvpn_session_out_reset)
 * before each call, or lets results accumulate. When full, further
 * records are dropped and counted (rule 7: logging never alters a
 * transition); actions never overflow within one call. */
struct jvpn_session_out {
  size_t nactions, nrecords;
  struct jvpn_session_action actions[JVPN_SESSION_MAX_ACTIONS];
  struct jvpn_audit_record records[JVPN_SESSION_MAX_RECORDS];
  uint64_t records_dropped;
  enum jvpn_reason verdict; /* the last reason decided (accept or refuse) */
};

void jvpn_session_out_reset(struct jvpn_session_out *out);

/* Sets up |s| in BIRTH: copies |id|, |secret| and |owner_pin|, and writes
 * a SESSION_BORN INFO record to |out| (if not NULL). |now_ms| is the birth
 * time (lifetime counts from it). */
void jvpn_session_init(struct jvpn_session *s, enum jvpn_session_side side,
                       const uint8_t id[JVPN_SESSION_ID_LEN],
                       const uint8_t secret[JVPN_SECRET_LEN],
                       const uint8_t owner_pin[JVPN_PIN_LEN],
                       const struct jvpn_policy *p, uint64_t now_ms,
                       struct jvpn_session_out *out);

/* Wipes the secret and everything else. NULL is accepted. */
void jvpn_session_free(struct jvpn_session *s);

/* Applies one event. Returns 0 if the event was applied (with or without
 * a transition), JVPN_ERR_DENIED if the state does not define it or the
 * policy refuses it (a DENIAL record, or for a refused attach in
 * RECOVERING the transition to DEGRADED), JVPN_ERR_INVAL for a malformed
 * event (unknown type, reused attachment ID, wrong reason): nothing
 * changes then either. |p| must have passed jvpn_policy_validate(). */
int jvpn_session_handle(struct jvpn_session *s,
                        const struct jvpn_session_event *ev,
                        const struct jvpn_policy *p, uint64_t now_ms,
                        struct jvpn_session_out *out);

/* Fires every timer due at |now_ms| (lifetime, transport-loss TTL,
 * VOLATILE -> DEGRADED, recovery window, stability window, client retry),
 * earliest first. Returns the number of transitions. */
int jvpn_session_tick(struct jvpn_session *s, const struct jvpn_policy *p,
                      uint64_t now_ms, struct jvpn_session_out *out);

/* The earliest time jvpn_session_tick() has work, or JVPN_NO_DEADLINE. */
uint64_t jvpn_session_next_deadline(const struct jvpn_session *s,
                                    const struct jvpn_policy *p);

/* The active attachment's ID, or 0. */
uint64_t jvpn_session_active(const struct jvpn_session *s);
/* Number of attachments in role |role|. */
size_t jvpn_session_count(const struct jvpn_session *s,
                          enum jvpn_att_role role);
/* Accepted switches within the last minute before |now_ms|. */
uint32_t jvpn_session_switches(const struct jvpn_session *s, uint64_t now_ms);

/* Returns 1 if the session's lifetime or transport-loss TTL has passed at
 * |now_ms| (what the next tick would terminate). */
int jvpn_session_expired(const struct jvpn_session *s,
                         const struct jvpn_policy *p, uint64_t now_ms);

#endif /* JVPN_SESSION_H */
