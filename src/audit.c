/*
 * jvpn-quic: the audit trail as JSON lines, written without blocking.
 *
 * Choices the contract leaves open:
 * - "session" is the 16-byte ID in lowercase hex (32 characters).
 * - Strings are escaped per RFC 8259: '"' and '\' with a backslash, control
 *   characters (and DEL) as \u00XX. Valid UTF-8 passes through; each byte
 *   of an invalid sequence becomes \u00XX of that byte, so the original
 *   bytes stay visible (a peer may have sent them) and the line stays JSON.
 * - jvpn_audit_format() reads no clock: wall_ms 0 prints as the epoch. The
 *   writer stamps a record with CLOCK_REALTIME at emit time when its
 *   wall_ms is 0. Times past 9999-12-31T23:59:59.999Z are clamped there,
 *   since RFC 3339 has four-digit years.
 * - The output is NUL-terminated; |len| must exceed the line's length.
 * - Lines longer than AUDIT_LINE_MAX are dropped and counted.
 * - The file is the primary sink; "dropped" and "written" count its lines.
 *   Without a file, stderr is the primary sink and is counted instead.
 * - The file is written by a thread of the writer's own, never by the
 *   caller: a write() to a regular file can block (a slow or full disk,
 *   NFS) and the caller is the loop that forwards packets. The caller
 *   copies the line into the ring under a mutex that nobody holds across
 *   I/O; the thread writes the oldest bytes in place, unlocked, as the
 *   caller only ever appends past them. The thread is woken for the first
 *   line after idle and when the ring passes a quarter full, and retries
 *   every JVPN_AUDIT_TICK_MS while lines are pending: a full pipe or a
 *   failed write (ENOSPC, EIO) keeps them, with one warning per failing
 *   streak (jvpn_logf is a single fprintf, safe from the thread).
 * - A thread stuck in write() can be neither stopped nor joined. When
 *   jvpn_audit_del() stops waiting for it, it is detached and frees the
 *   writer itself once the write returns (which may land the bytes it
 *   was writing); every line still pending is counted as dropped and
 *   logged.
 * - The thread starts in jvpn_audit_start(), not with the file: after the
 *   privilege drop, whose per-thread parts it must share (audit.h).
 * - The thread makes few system calls (futex, clock_gettime, writev, a
 *   write for its warning, close), for a syscall filter to allow.
 * - stderr is shared with the log and may be blocking; we never set
 *   O_NONBLOCK on it (that would change it for every holder of the file
 *   description). A line goes to it, from the caller, only if poll() says
 *   it is writable now, with a single write(); a short or failed write is
 *   a drop. Lines are at most PIPE_BUF bytes, so a writable pipe takes
 *   one whole. Without a file there is no thread.
 * - Writing to stderr when it is a pipe whose reader is gone raises
 *   SIGPIPE: the program must ignore SIGPIPE, as any network daemon does.
 *   The thread blocks all signals, so an audit FIFO gets EPIPE instead.
 */
#include "jvpn/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"

#define AUDIT_RING_DEFAULT (256 * 1024) /* bytes */
#define AUDIT_LINE_MAX PIPE_BUF         /* bytes, '\n' and NUL included */
#define AUDIT_STOP_RETRY_MS 20 /* ms: retries while jvpn_audit_del waits */
/* ms: 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can spell */
#define AUDIT_WALL_MAX_MS 253402300799999ull

struct jvpn_audit {
  /* Set up before the thread starts, then only read. */
  int fd; /* the audit file, or -1 */
  int to_stderr;
  char *node;
  uint8_t *ring;
  size_t cap;
  /* The owner's thread only. */
  int started;
  pthread_t thread;
  char line[AUDIT_LINE_MAX];
  /* The writer thread only. */
  int failing; /* the last write failed with a real error */
  struct jvpn_ratelimit warn_rl;
  /* Under mu. */
  pthread_mutex_t mu;
  pthread_cond_t wake;   /* the thread waits for work */
  pthread_cond_t done;   /* flush and del wait for a pass or the exit */
  size_t head, used;     /* used counts the bytes being written, too */
  uint64_t begun, ended; /* the thread's passes over the ring */
  int kick;              /* work for the thread, or a reason to look */
  int stop;              /* del: write what is pending, then exit */
  int giveup;            /* del stopped waiting: exit now */
  int in_write;          /* the thread is in write_out(), unlocked */
  int orphaned;          /* del gave up during a write: the thread frees */
  int exited;
  /* Any thread. */
  atomic_uint_least64_t dropped, written;
};

/* --- formatting ----------------------------------------------------------- */

/* An output cursor that keeps counting past the end, so one check at the
 * end tells whether everything fit. */
struct out {
  char *buf;
  size_t cap, pos;
};

static void put(struct out *o, const char *s, size_t n) {
  if (o->pos <= o->cap && n <= o->cap - o->pos)
    memcpy(o->buf + o->pos, s, n);
  o->pos += n;
}

static void put_str(struct out *o, const char *s) {
  put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v) {
  char d[20];
  size_t n = 0;

  do {
    d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  put(o, d + sizeof(d) - n, n);
}

/* Zero-padded decimal of exactly |width| digits. */
static void put_padded(struct out *o, unsigned v, int width) {
  char d[8];
  int i;

  for (i = width - 1; i >= 0; i--) {
    d[i] = (char)('0' + v % 10);
    v /= 10;
  }
  put(o, d, (size_t)width);
}

static const char hex_digits[] = "0123456789abcdef";

static void put_u00(struct out *o, uint8_t c) {
  char e[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};

  put(o, e, sizeof(e));
}

/* RFC 3629 section 4 (audit.h). */
size_t jvpn_utf8_seq(const uint8_t *s, size_t n) {
  uint8_t lo = 0x80, hi = 0xbf;
  size_t len, i;

  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    len = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    len = 3;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    len = 4;
  else
    return 0;
  if (s[0] == 0xe0)
    lo = 0xa0;
  else if (s[0] == 0xed)
    hi = 0x9f;
  else if (s[0] == 0xf0)
    lo = 0x90;
  else if (s[0] == 0xf4)
    hi = 0x8f;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return len;
}

static void put_escaped(struct out *o, const char *str, size_t n) {
  const uint8_t *s = (const uint8_t *)str;
  size_t i = 0;

  put(o, "\"", 1);
  while (i < n) {
    uint8_t c = s[i];
    size_t run;

    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};

      put(o, e, 2);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      put_u00(o, c);
      i++;
    } else if (c < 0x80) {
      put(o, (const char *)s + i, 1);
      i++;
    } else if ((run = jvpn_utf8_seq(s + i, n - i)) > 0) {
      put(o, (const char *)s + i, run);
      i += run;
    } else {
      put_u00(o, c); /* resynchronise on the next byte */
      i++;
    }
  }
  put(o, "\"", 1);
}

/* ,"key": then the caller's value */
static void put_key(struct out *o, const char *key) {
  put(o, ",\"", 2);
  put_str(o, key);
  put(o, "\":", 2);
}

static void put_field_str(struct out *o, const char *key, const char *s,
                          size_t n) {
  put_key(o, key);
  put_escaped(o, s, n);
}

static void put_field_u64(struct out *o, const char *key, uint64_t v) {
  put_key(o, key);
  put_u64(o, v);
}

/* RFC 3339 UTC with milliseconds, from days since the epoch by the
 * proleptic Gregorian calendar (400-year eras of 146097 days). */
static void put_timestamp(struct out *o, uint64_t wall_ms) {
  uint64_t secs, days, era, doe, yoe, doy, mp, year;
  unsigned month, day, rem;

  if (wall_ms > AUDIT_WALL_MAX_MS)
    wall_ms = AUDIT_WALL_MAX_MS;
  secs = wall_ms / 1000;
  days = secs / 86400;
  rem = (unsigned)(secs % 86400);

  /* shift the epoch to 0000-03-01 so leap days end each year */
  days += 719468;
  era = days / 146097;
  doe = days - era * 146097;
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  year = yoe + era * 400 + (month <= 2);

  put(o, "\"", 1);
  put_padded(o, (unsigned)year, 4);
  put(o, "-", 1);
  put_padded(o, month, 2);
  put(o, "-", 1);
  put_padded(o, day, 2);
  put(o, "T", 1);
  put_padded(o, rem / 3600, 2);
  put(o, ":", 1);
  put_padded(o, rem / 60 % 60, 2);
  put(o, ":", 1);
  put_padded(o, rem % 60, 2);
  put(o, ".", 1);
  put_padded(o, (unsigned)(wall_ms % 1000), 3);
  put(o, "Z\"", 2);
}

static const char *kind_name(enum jvpn_audit_kind kind) {
  switch (kind) {
  case JVPN_AUDIT_TRANSITION: return "transition";
  case JVPN_AUDIT_SWITCH: return "switch";
  case JVPN_AUDIT_DENIAL: return "denial";
  case JVPN_AUDIT_SECURITY: return "security";
  case JVPN_AUDIT_INFO: return "info";
  }
  return "unknown";
}

long jvpn_audit_format(char *buf, size_t len, const char *node,
                       const struct jvpn_audit_record *r) {
  struct out o = {buf, len, 0};
  size_t n;

  put(&o, "{\"ts\":", 6);
  put_timestamp(&o, r->wall_ms);
  put_field_u64(&o, "mono_ms", r->mono_ms);
  if (node != NULL)
    put_field_str(&o, "node", node, strlen(node));
  if (r->has_session) {
    char hex[2 * JVPN_SESSION_ID_LEN];
    size_t i;

    for (i = 0; i < JVPN_SESSION_ID_LEN; i++) {
      hex[2 * i] = hex_digits[r->session[i] >> 4];
      hex[2 * i + 1] = hex_digits[r->session[i] & 15];
    }
    put_field_str(&o, "session", hex, sizeof(hex));
  }
  put_field_str(&o, "kind", kind_name(r->kind), strlen(kind_name(r->kind)));
  if (r->event != NULL)
    put_field_str(&o, "event", r->event, strlen(r->event));
  put_field_u64(&o, "state_version", r->state_version);
  if (r->from != NULL)
    put_field_str(&o, "from", r->from, strlen(r->from));
  if (r->to != NULL)
    put_field_str(&o, "to", r->to, strlen(r->to));
  if (r->reason != NULL)
    put_field_str(&o, "reason", r->reason, strlen(r->reason));
  if (r->from_attachment != 0)
    put_field_u64(&o, "from_attachment", r->from_attachment);
  if (r->to_attachment != 0)
    put_field_u64(&o, "to_attachment", r->to_attachment);
  put_field_u64(&o, "policy_version", r->policy_version);
  /* The arrays may be filled to the brim without a NUL: never read past
   * them. */
  n = strnlen(r->peer, sizeof(r->peer));
  if (n > 0)
    put_field_str(&o, "peer", r->peer, n);
  n = strnlen(r->detail, sizeof(r->detail));
  if (n > 0)
    put_field_str(&o, "detail", r->detail, n);
  put(&o, "}\n", 2);

  if (o.pos >= len)
    return JVPN_ERR_NOSPACE;
  buf[o.pos] = '\0';
  return (long)o.pos;
}

/* --- the ring: whole lines, oldest at head; under a->mu ------------------ */

/* The pending bytes from head, in one or two pieces. */
static int ring_iov(const struct jvpn_audit *a, struct iovec iov[2]) {
  size_t first = a->cap - a->head;

  if (first > a->used)
    first = a->used;
  iov[0].iov_base = a->ring + a->head;
  iov[0].iov_len = first;
  iov[1].iov_base = a->ring;
  iov[1].iov_len = a->used - first;
  return iov[1].iov_len > 0 ? 2 : 1;
}

static void ring_consume(struct jvpn_audit *a, size_t n) {
  a->head = (a->head + n) % a->cap;
  a->used -= n;
  if (a->used == 0)
    a->head = 0; /* keeps the next lines in one piece */
}

static uint64_t count_lines(const uint8_t *p, size_t n) {
  uint64_t lines = 0;
  const uint8_t *end = p + n;

  while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    lines++;
    p++;
  }
  return lines;
}

/* Lines ending in the first |n| bytes of |iov|. */
static uint64_t iov_lines(const struct iovec *iov, int iovcnt, size_t n) {
  uint64_t lines = 0;
  int i;

  for (i = 0; i < iovcnt && n > 0; i++) {
    size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;

    lines += count_lines(iov[i].iov_base, len);
    n -= len;
  }
  return lines;
}

static uint64_t ring_lines(const struct jvpn_audit *a) {
  struct iovec iov[2];

  return iov_lines(iov, ring_iov(a, iov), a->used);
}

/* --- the writer thread ---------------------------------------------------- */

/* Neither can fail on a mutex of the default kind used as intended. */
static void lock(struct jvpn_audit *a) {
  (void)pthread_mutex_lock(&a->mu);
}

static void unlock(struct jvpn_audit *a) {
  (void)pthread_mutex_unlock(&a->mu);
}

static void count(atomic_uint_least64_t *counter, uint64_t n) {
  atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* CLOCK_MONOTONIC |ms| from now, the clock of both condition variables. */
static struct timespec deadline_in(unsigned ms) {
  struct timespec ts;

  (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail for it */
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

/* Under a->mu. */
static void writer_kick(struct jvpn_audit *a) {
  a->kick = 1;
  (void)pthread_cond_signal(&a->wake); /* cannot fail */
}

static int writer_should_exit(const struct jvpn_audit *a) {
  return a->giveup || (a->stop && a->used == 0);
}

/* Waits, with a->mu held, for a kick or, while lines are pending, the
 * next retry; an idle writer sleeps until kicked. Returns 0 when the
 * thread should exit instead. */
static int writer_wait(struct jvpn_audit *a) {
  struct timespec until =
      deadline_in(a->stop ? AUDIT_STOP_RETRY_MS : JVPN_AUDIT_TICK_MS);

  while (!a->kick && !writer_should_exit(a)) {
    if (a->used == 0)
      (void)pthread_cond_wait(&a->wake, &a->mu);
    else if (pthread_cond_timedwait(&a->wake, &a->mu, &until) == ETIMEDOUT)
      break;
  }
  a->kick = 0;
  return !writer_should_exit(a);
}

/* One writev() of |iov|, without the lock. Returns the bytes written, or
 * 0 when the file took nothing: a full pipe, or a failure (ENOSPC, EIO),
 * said once per failing streak. The lines stay for the next try. */
static size_t write_out(struct jvpn_audit *a, const struct iovec *iov,
                        int iovcnt) {
  char why[128];
  ssize_t w;
  int err;

  do
    w = writev(a->fd, iov, iovcnt);
  while (w < 0 && errno == EINTR);
  if (w > 0) {
    a->failing = 0;
    return (size_t)w;
  }
  err = w < 0 ? errno : EIO; /* 0 bytes of a nonempty write: no progress */
  if (err == EAGAIN || err == EWOULDBLOCK)
    return 0;
  /* jvpn_logf is one fprintf, safe from this thread; the limiter is ours
   * alone. */
  if (!a->failing && JVPN_LOG_WARN <= jvpn_log_level &&
      jvpn_ratelimit_ok(&a->warn_rl))
    jvpn_logf(JVPN_LOG_WARN, "audit", "audit write failed: %s",
              strerror_r(err, why, sizeof(why)));
  a->failing = 1;
  return 0;
}

/* Writes what the ring holds until it is empty or the file takes no more.
 * Called with a->mu held; the write runs without it, on bytes the emitter
 * never touches (it only appends past head + used). */
static void writer_pass(struct jvpn_audit *a) {
  a->begun++;
  while (a->used > 0 && !a->giveup) {
    struct iovec iov[2];
    int iovcnt = ring_iov(a, iov);
    size_t done;

    a->in_write = 1;
    unlock(a);
    done = write_out(a, iov, iovcnt);
    count(&a->written, iov_lines(iov, iovcnt, done));
    lock(a);
    a->in_write = 0;
    if (done == 0)
      break;
    ring_consume(a, done);
  }
  a->ended++;
  (void)pthread_cond_broadcast(&a->done); /* cannot fail */
}

static void audit_free(struct jvpn_audit *a);

static void *writer_main(void *arg) {
  struct jvpn_audit *a = arg;
  int orphaned;

  lock(a);
  while (writer_wait(a))
    writer_pass(a);
  a->exited = 1;
  orphaned = a->orphaned;
  (void)pthread_cond_broadcast(&a->done);
  unlock(a);
  if (orphaned)
    audit_free(a); /* jvpn_audit_del gave up waiting and handed |a| over */
  return NULL;
}

/* From the owner's thread. */
static int writer_start(struct jvpn_audit *a) {
  sigset_t all, old;
  int rv;

  if (a->started || a->fd < 0)
    return 0;
  /* Signals are the loop thread's. A write to a pipe whose reader left
   * fails with EPIPE here instead of raising SIGPIPE. */
  (void)sigfillset(&all);
  (void)pthread_sigmask(SIG_SETMASK, &all, &old);
  rv = pthread_create(&a->thread, NULL, writer_main, a);
  (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rv != 0)
    return JVPN_ERR_SYSTEM;
  a->started = 1;
  return 0;
}

/* Has the thread write what is pending and exit, waiting at most
 * JVPN_AUDIT_WAIT_MS; what is still pending then is counted as dropped
 * and said. Returns 0, or 1 when the thread is stuck in a write and now
 * owns |a|. */
static int writer_finish(struct jvpn_audit *a) {
  struct timespec until = deadline_in(JVPN_AUDIT_WAIT_MS);
  pthread_t thread = a->thread;
  uint64_t lost = 0;
  int started = a->started, orphaned;

  lock(a);
  a->stop = 1;
  writer_kick(a);
  while (started && !a->exited &&
         pthread_cond_timedwait(&a->done, &a->mu, &until) != ETIMEDOUT)
    ;
  if (!a->exited) {
    lost = ring_lines(a);
    count(&a->dropped, lost);
    a->giveup = 1;
    a->orphaned = a->in_write; /* a write that may never return */
    writer_kick(a);
  }
  orphaned = a->orphaned;
  unlock(a); /* when orphaned, |a| is the thread's from here on */
  if (lost > 0)
    LOG_WARN("audit",
             "audit lines unwritten at close: %" PRIu64 ", dropped (the "
             "file did not take them within %d ms)",
             lost, JVPN_AUDIT_WAIT_MS);
  if (orphaned)
    (void)pthread_detach(thread); /* cannot fail: joinable, not joined */
  else if (started)
    (void)pthread_join(thread, NULL); /* bounded: it writes no more */
  return orphaned;
}

/* --- the writer's interface ----------------------------------------------- */

static int sync_init(struct jvpn_audit *a) {
  pthread_condattr_t attr;
  int rv = -1;

  if (pthread_condattr_init(&attr) != 0)
    return -1;
  if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
      pthread_mutex_init(&a->mu, NULL) != 0)
    goto out;
  if (pthread_cond_init(&a->wake, &attr) != 0)
    goto fail_wake;
  if (pthread_cond_init(&a->done, &attr) != 0)
    goto fail_done;
  rv = 0;
  goto out;

fail_done:
  (void)pthread_cond_destroy(&a->wake);
fail_wake:
  (void)pthread_mutex_destroy(&a->mu);
out:
  (void)pthread_condattr_destroy(&attr);
  return rv;
}

static void sync_free(struct jvpn_audit *a) {
  (void)pthread_cond_destroy(&a->done); /* none can fail: nobody waits */
  (void)pthread_cond_destroy(&a->wake);
  (void)pthread_mutex_destroy(&a->mu);
}

int jvpn_audit_new(struct jvpn_audit **pa, const char *path, int to_stderr,
                   const char *node, size_t ring_bytes) {
  struct jvpn_audit *a;
  int rv = JVPN_ERR_NOMEM;

  *pa = NULL;
  if (ring_bytes == 0)
    ring_bytes = AUDIT_RING_DEFAULT;
  a = calloc(1, sizeof(*a));
  if (a == NULL)
    return JVPN_ERR_NOMEM;
  a->fd = -1;
  a->to_stderr = to_stderr != 0;
  a->cap = ring_bytes;
  a->ring = malloc(ring_bytes);
  if (a->ring == NULL)
    goto fail_ring;
  a->node = strdup(node != NULL ? node : "");
  if (a->node == NULL)
    goto fail_node;
  rv = JVPN_ERR_SYSTEM;
  if (sync_init(a) != 0)
    goto fail_sync;
  if (path != NULL) {
    /* O_NOFOLLOW: the daemon may run as root, and a link planted at the
     * path must not send its lines into another file. */
    a->fd = open(path,
                 O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC |
                     O_NOFOLLOW,
                 0640);
    if (a->fd < 0)
      goto fail_open;
  }
  *pa = a;
  return 0;

fail_open:
  sync_free(a);
fail_sync:
  free(a->node);
fail_node:
  free(a->ring);
fail_ring:
  free(a);
  return rv;
}

static void audit_free(struct jvpn_audit *a) {
  if (a->fd >= 0)
    (void)close(a->fd); /* nothing useful to do on failure */
  sync_free(a);
  free(a->node);
  free(a->ring);
  free(a);
}

int jvpn_audit_start(struct jvpn_audit *a) {
  return a != NULL ? writer_start(a) : 0;
}

void jvpn_audit_del(struct jvpn_audit *a) {
  int saved;

  if (a == NULL)
    return;
  saved = errno;
  /* Lines queued before jvpn_audit_start() go out too; if the thread
   * cannot start, writer_finish() counts them as dropped. */
  (void)writer_start(a);
  if (writer_finish(a) == 0)
    audit_free(a);
  errno = saved;
}

size_t jvpn_audit_flush(struct jvpn_audit *a) {
  struct timespec until = deadline_in(JVPN_AUDIT_WAIT_MS);
  uint64_t begun;
  size_t pending;

  if (a == NULL)
    return 0;
  (void)writer_start(a); /* if it cannot start, the lines stay pending */
  lock(a);
  begun = a->begun;
  if (a->started && a->used > 0) {
    /* until a pass that began after this call has ended */
    writer_kick(a);
    while (a->ended <= begun &&
           pthread_cond_timedwait(&a->done, &a->mu, &until) != ETIMEDOUT)
      ;
  }
  pending = a->used;
  unlock(a);
  return pending;
}

/* Queues a line for the thread. It is woken for the first line after idle
 * and when the ring has just passed a quarter full; otherwise the pass
 * under way or the next retry takes the line. */
static int ring_push(struct jvpn_audit *a, const char *line, size_t n) {
  size_t before, tail, first;
  int wake;

  lock(a);
  before = a->used;
  if (n > a->cap - before) {
    unlock(a);
    return JVPN_ERR_FULL;
  }
  tail = (a->head + before) % a->cap;
  first = a->cap - tail < n ? a->cap - tail : n;
  memcpy(a->ring + tail, line, first);
  memcpy(a->ring, line + first, n - first);
  a->used += n;
  wake = before == 0 || (before <= a->cap / 4 && a->used > a->cap / 4);
  if (wake)
    writer_kick(a);
  unlock(a);
  return 0;
}

/* One write() if stderr takes it now; 0 if the whole line went out. */
static int stderr_write(const char *line, size_t n) {
  struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
  ssize_t w;

  if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
    return -1;
  w = write(STDERR_FILENO, line, n);
  return w == (ssize_t)n ? 0 : -1;
}

int jvpn_audit_emit(struct jvpn_audit *a, const struct jvpn_audit_record *r) {
  struct jvpn_audit_record stamped;
  int saved, rv = 0;
  long n;

  if (a == NULL)
    return 0; /* auditing is off */
  saved = errno;
  if (r->wall_ms == 0) {
    struct timespec ts;

    stamped = *r;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec > 0)
      stamped.wall_ms =
          (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    r = &stamped;
  }
  n = jvpn_audit_format(a->line, sizeof(a->line), a->node, r);
  if (n < 0) {
    count(&a->dropped, 1);
    rv = JVPN_ERR_FULL;
    goto out;
  }

  if (a->fd >= 0 && ring_push(a, a->line, (size_t)n) != 0) {
    count(&a->dropped, 1);
    rv = JVPN_ERR_FULL;
  }
  if (a->to_stderr) {
    int ok = stderr_write(a->line, (size_t)n) == 0;

    /* Only without a file is stderr the record of truth. */
    if (a->fd < 0) {
      count(ok ? &a->written : &a->dropped, 1);
      rv = ok ? 0 : JVPN_ERR_FULL;
    }
  }
out:
  errno = saved;
  return rv;
}

int jvpn_audit_fd(const struct jvpn_audit *a) {
  return a != NULL ? a->fd : -1;
}

uint64_t jvpn_audit_dropped(const struct jvpn_audit *a) {
  return a != NULL ? atomic_load_explicit(&a->dropped, memory_order_relaxed)
                   : 0;
}

uint64_t jvpn_audit_written(const struct jvpn_audit *a) {
  return a != NULL ? atomic_load_explicit(&a->written, memory_order_relaxed)
                   : 0;
}
