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
 * - stderr is shared with the log and may be blocking; we never set
 *   O_NONBLOCK on it (that would change it for every holder of the file
 *   description). A line goes to it only if poll() says it is writable
 *   now, with a single write(); a short or failed write is a drop. Lines
 *   are at most PIPE_BUF bytes, so a writable pipe takes one whole.
 * - Writing to a pipe or FIFO whose reader is gone raises SIGPIPE: the
 *   program must ignore SIGPIPE, as any network daemon does.
 */
#include "jvpn/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"

#define AUDIT_RING_DEFAULT (256 * 1024) /* bytes */
#define AUDIT_LINE_MAX PIPE_BUF         /* bytes, '\n' and NUL included */
/* ms: 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can spell */
#define AUDIT_WALL_MAX_MS 253402300799999ull

struct jvpn_audit {
  int fd; /* the audit file, or -1 */
  int to_stderr;
  int failing; /* the last write to fd failed with a real error */
  char *node;
  uint8_t *ring; /* whole lines, oldest at head */
  size_t cap, head, used;
  uint64_t dropped, written;
  char line[AUDIT_LINE_MAX];
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

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629 4: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const uint8_t *s, size_t n) {
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
    } else if ((run = utf8_seq(s + i, n - i)) > 0) {
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

/* --- the writer ----------------------------------------------------------- */

int jvpn_audit_new(struct jvpn_audit **pa, const char *path, int to_stderr,
                   const char *node, size_t ring_bytes) {
  struct jvpn_audit *a;

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
  free(a->node);
  free(a->ring);
  free(a);
  return JVPN_ERR_SYSTEM;
fail_node:
  free(a->ring);
fail_ring:
  free(a);
  return JVPN_ERR_NOMEM;
}

void jvpn_audit_del(struct jvpn_audit *a) {
  int saved;

  if (a == NULL)
    return;
  saved = errno;
  (void)jvpn_audit_flush(a); /* best effort: what stays is lost */
  if (a->fd >= 0)
    (void)close(a->fd); /* nothing useful to do on failure */
  errno = saved;
  free(a->node);
  free(a->ring);
  free(a);
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

size_t jvpn_audit_flush(struct jvpn_audit *a) {
  if (a == NULL)
    return 0;
  while (a->fd >= 0 && a->used > 0) {
    size_t first = a->cap - a->head;
    struct iovec iov[2];
    int iovcnt = 1;
    ssize_t w;
    size_t done;

    if (first > a->used)
      first = a->used;
    iov[0].iov_base = a->ring + a->head;
    iov[0].iov_len = first;
    if (a->used > first) {
      iov[1].iov_base = a->ring;
      iov[1].iov_len = a->used - first;
      iovcnt = 2;
    }
    w = writev(a->fd, iov, iovcnt);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (w <= 0) {
      /* Full disk, I/O error: keep the lines and try again on the next
       * flush; say so once per failing streak, not per attempt. */
      if (!a->failing)
        JVPN_LOG_RL(JVPN_LOG_WARN, "audit", "audit write failed: %s",
                    w < 0 ? strerror(errno) : "no progress");
      a->failing = 1;
      break;
    }
    a->failing = 0;
    done = (size_t)w;
    if (done <= first) {
      a->written += count_lines(a->ring + a->head, done);
    } else {
      a->written += count_lines(a->ring + a->head, first);
      a->written += count_lines(a->ring, done - first);
    }
    a->head = (a->head + done) % a->cap;
    a->used -= done;
  }
  if (a->used == 0)
    a->head = 0; /* keeps the next lines in one piece */
  return a->used;
}

static int ring_push(struct jvpn_audit *a, const char *line, size_t n) {
  size_t tail, first;

  if (n > a->cap - a->used)
    return JVPN_ERR_FULL;
  tail = (a->head + a->used) % a->cap;
  first = a->cap - tail;
  if (first > n)
    first = n;
  memcpy(a->ring + tail, line, first);
  memcpy(a->ring, line + first, n - first);
  a->used += n;
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
    a->dropped++;
    rv = JVPN_ERR_FULL;
    goto out;
  }

  if (a->fd >= 0) {
    /* Make room from what the fd takes now before giving up the line. */
    if ((size_t)n > a->cap - a->used)
      (void)jvpn_audit_flush(a);
    if (ring_push(a, a->line, (size_t)n) != 0) {
      a->dropped++;
      rv = JVPN_ERR_FULL;
    } else {
      (void)jvpn_audit_flush(a); /* what stays waits for the next flush */
    }
  }
  if (a->to_stderr) {
    int ok = stderr_write(a->line, (size_t)n) == 0;

    /* Only without a file is stderr the record of truth. */
    if (a->fd < 0) {
      if (ok) {
        a->written++;
      } else {
        a->dropped++;
        rv = JVPN_ERR_FULL;
      }
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
  return a != NULL ? a->dropped : 0;
}

uint64_t jvpn_audit_written(const struct jvpn_audit *a) {
  return a != NULL ? a->written : 0;
}
