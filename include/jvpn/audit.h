/*
 * jvpn-quic: the audit trail (ARCHITECTURE 3). One JSON object per line per
 * transition, switch, denial and security event; never payloads or key
 * material. The session core fills jvpn_audit_record values; the writer
 * formats and writes them without ever blocking the loop: lines go to a
 * bounded in-memory ring and leave through non-blocking writes; when the
 * ring is full a record is dropped and counted (gaps also show as jumps in
 * state_version).
 */
#ifndef JVPN_AUDIT_H
#define JVPN_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proof.h"

enum jvpn_audit_kind {
  JVPN_AUDIT_TRANSITION = 1, /* state change */
  JVPN_AUDIT_SWITCH,         /* active attachment or path changed */
  JVPN_AUDIT_DENIAL,         /* an event refused (undefined pair, policy) */
  JVPN_AUDIT_SECURITY,       /* unauthenticated input rejected */
  JVPN_AUDIT_INFO,           /* session born, candidate change, ... */
};

#define JVPN_AUDIT_DETAIL_MAX 160 /* bytes, NUL included */
#define JVPN_AUDIT_PEER_MAX 64    /* "[v6]:port", NUL included */

struct jvpn_audit_record {
  enum jvpn_audit_kind kind;
  uint64_t wall_ms;          /* Unix time in ms (RFC 3339 "ts") */
  uint64_t mono_ms;          /* monotonic ms ("mono_ms") */
  uint8_t session[JVPN_SESSION_ID_LEN];
  int has_session;
  const char *event;         /* static string: "transition", "reattach",.. */
  uint64_t state_version;
  const char *from, *to;     /* static state names; NULL when none */
  const char *reason;        /* static reason code name, or NULL */
  uint64_t from_attachment, to_attachment; /* 0 = none */
  uint32_t policy_version;
  char peer[JVPN_AUDIT_PEER_MAX];       /* security events: peer address */
  char detail[JVPN_AUDIT_DETAIL_MAX];   /* measurements, path; no secrets */
};

struct jvpn_audit;

/* Opens a writer. |path| may be NULL (no file); |to_stderr| also copies
 * lines to stderr. |node| is the "node" field ("server", a host name).
 * The file is opened O_APPEND|O_NONBLOCK|O_CLOEXEC, mode 0640. Returns 0,
 * JVPN_ERR_SYSTEM or JVPN_ERR_NOMEM. */
int jvpn_audit_new(struct jvpn_audit **pa, const char *path, int to_stderr,
                   const char *node, size_t ring_bytes);
void jvpn_audit_del(struct jvpn_audit *a); /* flushes what it can; NULL ok */

/* Formats |r| as one JSON line into the ring and tries to write it out.
 * Never blocks; returns 0, or JVPN_ERR_FULL if the record was dropped. */
int jvpn_audit_emit(struct jvpn_audit *a, const struct jvpn_audit_record *r);

/* Writes what the ring holds, as far as the fd takes it (call when the fd
 * is writable or from a timer). Returns bytes still pending. */
size_t jvpn_audit_flush(struct jvpn_audit *a);
/* The fd the caller may poll for writability, or -1. */
int jvpn_audit_fd(const struct jvpn_audit *a);

uint64_t jvpn_audit_dropped(const struct jvpn_audit *a);
uint64_t jvpn_audit_written(const struct jvpn_audit *a);

/* Formats |r| as a JSON line (with '\n') into |buf|. Returns the length,
 * or JVPN_ERR_NOSPACE. Strings are escaped per RFC 8259. */
long jvpn_audit_format(char *buf, size_t len, const char *node,
                       const struct jvpn_audit_record *r);

#endif /* JVPN_AUDIT_H */
