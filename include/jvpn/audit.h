/*
 * jvpn-quic: the audit trail (ARCHITECTURE 3). One JSON object per line per
 * transition, switch, denial and security event; never payloads or key
 * material. The session core fills jvpn_audit_record values; the writer
 * formats them in the caller's thread and never blocks it on I/O: lines go
 * to a bounded in-memory ring, and a thread of the writer's own moves them
 * to the file. When the ring is full a record is dropped and counted (gaps
 * also show as jumps in state_version).
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
  char peer[JVPN_AUDIT_PEER_MAX];       /* the connection's remote address */
  char detail[JVPN_AUDIT_DETAIL_MAX];   /* measurements, path; no secrets */
};

/* ms: the writer thread retries lines the file did not take this often, so
 * none waits in memory much longer */
#define JVPN_AUDIT_TICK_MS 200
/* ms: the longest jvpn_audit_flush() and jvpn_audit_del() wait for it */
#define JVPN_AUDIT_WAIT_MS 2000

struct jvpn_audit;

/* Opens a writer. |path| may be NULL (no file); |to_stderr| also copies
 * lines to stderr. |node| is the "node" field ("server", a host name).
 * |ring_bytes| bounds the lines waiting for the file (0: 256 KiB).
 * The file is opened O_APPEND|O_NONBLOCK|O_CLOEXEC|O_NOFOLLOW, mode 0640.
 * Returns 0, JVPN_ERR_SYSTEM or JVPN_ERR_NOMEM. */
int jvpn_audit_new(struct jvpn_audit **pa, const char *path, int to_stderr,
                   const char *node, size_t ring_bytes);

/* Starts the thread that writes the file (none without a file; NULL ok).
 * Call it once the process has its final credentials: no-new-privs, the
 * capability sets and the bounding set belong to each thread, so a thread
 * started before a privilege drop keeps what the drop removed. Lines
 * emitted before wait in the ring. The thread blocks every signal.
 * Returns 0 or JVPN_ERR_SYSTEM. */
int jvpn_audit_start(struct jvpn_audit *a);

/* Has the thread write what is pending (starting it if need be), waiting
 * at most JVPN_AUDIT_WAIT_MS; lines a hung file has not taken by then are
 * counted as dropped and logged. Then closes the file and frees |a| (a
 * thread stuck in a write does that when the write returns). NULL ok.
 * Like every call below but the counters, from the thread that made |a|. */
void jvpn_audit_del(struct jvpn_audit *a);

/* Formats |r| as one JSON line and queues it for the writer thread. Never
 * waits for I/O (the lock it takes is never held across one); a stderr
 * copy is written only if stderr takes it now. Returns 0, or
 * JVPN_ERR_FULL if the record was dropped. */
int jvpn_audit_emit(struct jvpn_audit *a, const struct jvpn_audit_record *r);

/* Has the writer thread try to write everything pending (starting it if
 * jvpn_audit_start() was not called) and waits until that attempt ends,
 * at most JVPN_AUDIT_WAIT_MS. Blocks the caller: for shutdown and tests,
 * never the data path. Returns the bytes still pending: nonzero when the
 * file took only part (a full pipe, a full disk) or did not answer. */
size_t jvpn_audit_flush(struct jvpn_audit *a);
/* The audit file's descriptor, or -1. Only the writer thread writes to
 * it; tests use it to change how the file behaves. */
int jvpn_audit_fd(const struct jvpn_audit *a);

/* Records written to, and dropped before, the primary sink (the file, or
 * stderr without one). Safe from any thread. */
uint64_t jvpn_audit_dropped(const struct jvpn_audit *a);
uint64_t jvpn_audit_written(const struct jvpn_audit *a);

/* Formats |r| as a JSON line (with '\n') into |buf|. Returns the length,
 * or JVPN_ERR_NOSPACE. Strings are escaped per RFC 8259. */
long jvpn_audit_format(char *buf, size_t len, const char *node,
                       const struct jvpn_audit_record *r);

/* Length of the valid multi-byte UTF-8 sequence at s[0..n) (n > 0), or 0
 * (RFC 3629 4: no overlong forms, no surrogates, nothing above U+10FFFF;
 * ASCII is not a sequence here). The writer escapes what fails it; readers
 * of the log (src/jsonl.c) check raw bytes with it. */
size_t jvpn_utf8_seq(const uint8_t *s, size_t n);

#endif /* JVPN_AUDIT_H */
