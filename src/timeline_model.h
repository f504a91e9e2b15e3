/*
 * src/timeline_model: the audit log (docs/operations.md section 8) read
 * back into one history per session, for `jvpn-quic timeline`
 * (src/timeline_svg.h draws it).
 *
 * A session's history is:
 * - spans: its state over time, from the transition records (a session
 *   first seen mid-life starts in its first transition's "from" state);
 * - bars: its attachments over time, one bar per attachment and peer
 *   address and transport (a NAT rebinding or a move to TCP starts a new
 *   bar). The active attachment is the "to_attachment" of each
 *   transition and switch record (none when absent); standbys come from
 *   standby_added / standby_lost; the peer from the records' "peer";
 *   the transport from transport_switch records (QUIC until one says
 *   otherwise; a first "tcp -> quic" makes the bars before it TCP). A
 *   transition's peer is the new attachment's: it names a bar only when
 *   the transition changes the active attachment. Another record with
 *   the peer of an attachment whose bar has none fills it in. A
 *   client's records name the uplink interface in the detail ("eth1")
 *   of the one that opens the bar;
 * - marks: switches, transport switches, denials, security refusals and
 *   the other info records, each with its reason code.
 * Records without a session (or with the all-zero ID of a refused birth
 * in older logs) are counted; their refusals are kept apart (unbound).
 * A session without a TERMINATED transition lives to the end of the log.
 * Times are Unix milliseconds from the records' "ts" (UTC); a record
 * older than its session's previous one (the wall clock stepped back)
 * takes the previous one's time.
 */
#ifndef SRC_TIMELINE_MODEL_H
#define SRC_TIMELINE_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TL_REASON_MAX 40
#define TL_EVENT_MAX 32
#define TL_PEER_MAX 64
#define TL_DETAIL_MAX 160
#define TL_VIA_MAX 16
#define TL_OPEN INT64_MAX /* the end of a span or bar still open */

enum tl_state {
  TL_BIRTH,
  TL_ATTACHED,
  TL_VOLATILE,
  TL_DEGRADED,
  TL_RECOVERING,
  TL_TERMINATED,
  TL_NSTATES,
};

enum tl_mark_kind {
  TL_MK_SWITCH,    /* "switch" records, client uplink_switch */
  TL_MK_TRANSPORT, /* transport_switch: TCP_FALLBACK, QUIC_RETURN */
  TL_MK_DENIAL,    /* kind "denial" */
  TL_MK_SECURITY,  /* kind "security": attach_refused */
  TL_MK_INFO,      /* the other info records (no label of their own) */
  TL_NMARKS,
};

struct tl_span {
  int64_t t0, t1;
  enum tl_state state;
  char reason[TL_REASON_MAX]; /* the transition into it; "" if unknown */
};

struct tl_bar {
  int64_t t0, t1;
  uint64_t att; /* the attachment ID */
  int standby;  /* a warm standby, not the active attachment */
  int tcp;      /* HTTP/2 over TCP, not QUIC */
  char peer[TL_PEER_MAX];
  char via[TL_VIA_MAX]; /* the client's uplink interface, or "" */
};

struct tl_mark {
  int64_t t;
  enum tl_mark_kind kind;
  char event[TL_EVENT_MAX], reason[TL_REASON_MAX];
  char peer[TL_PEER_MAX], detail[TL_DETAIL_MAX];
};

struct tl_session {
  char hex[33];   /* the ID as the log spells it */
  char b64[23];   /* ... and as status prints it, base64url */
  int64_t t0, t1; /* first record; termination or TL_OPEN */
  int terminated;
  char end_reason[TL_REASON_MAX];
  struct tl_span *spans;
  size_t nspans, capspans;
  struct tl_bar *bars;
  size_t nbars, capbars;
  struct tl_mark *marks;
  size_t nmarks, capmarks;
  /* while reading */
  uint64_t active;
  int tcp;               /* the transport now, as far as the log said */
  int64_t tcp_said;      /* when it last said so (a transport_switch) */
  int64_t last_t;
};

struct tl_model {
  struct tl_session **s; /* in order of first appearance */
  size_t n, cap;
  int64_t t_min, t_max; /* over every record read */
  char node[16];        /* "server", "client", or "" */
  size_t lines, records;
  size_t malformed;    /* not a JSON object, or no valid ts/kind */
  size_t unknown_kind; /* a kind or state this reader does not know */
  size_t no_session;   /* records of the daemon, not of a session */
  /* The refusals among them (security and denial records: a malformed
   * request, a policy denial, a birth over the rate limit): marks only,
   * in time order, for a lane of their own. */
  struct tl_session unbound;
};

/* Reasons told apart in a summary of refusals; more share one entry. */
#define TL_SUMMARY_REASONS 8

/* The refusals without a session in |m|'s marks [i0, i1), counted by
 * reason: "RATE_LIMITED 3, MALFORMED_REQUEST 1" (the most frequent
 * first; "other" for the reasons past TL_SUMMARY_REASONS) into |buf|.
 * Returns how many there are. */
size_t tl_unbound_summary(const struct tl_model *m, size_t i0, size_t i1,
                          char *buf, size_t len);

/* Empties |m|. */
void tl_model_init(struct tl_model *m);
void tl_model_free(struct tl_model *m);

/* Reads one line (without its '\n'). Returns 0 (also for a line skipped
 * and counted) or JVPN_ERR_NOMEM. */
int tl_model_add_line(struct tl_model *m, const char *line, size_t len);

/* Reads every line of |f|. Returns 0, JVPN_ERR_NOMEM or JVPN_ERR_SYSTEM
 * (a read error; errno says which). */
int tl_model_read(struct tl_model *m, FILE *f);

/* Ends what is still open at the end of the log (t_max). Call it once,
 * after the last line. */
void tl_model_finish(struct tl_model *m);

/* The state's name as the log spells it, and back (-1 if unknown). */
const char *tl_state_name(enum tl_state st);
int tl_state_parse(const char *name);

/* What to draw: the sessions with |hex_prefix| ("" = all) alive in
 * [since, until] (TL_OPEN / INT64_MIN for the log's own ends). */
struct tl_view {
  const struct tl_session **s;
  size_t n;
  int64_t t0, t1;
  const struct tl_model *m;
};

/* Fills |v|. Returns the number of sessions chosen (0: nothing to draw),
 * or JVPN_ERR_NOMEM. Free v->s with free(). */
long tl_view_select(const struct tl_model *m, const char *hex_prefix,
                    int64_t since, int64_t until, struct tl_view *v);

#endif /* SRC_TIMELINE_MODEL_H */
