/* Unit tests for src/audit: JSON line format and the non-blocking writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/audit.h"
#include "jvpn/errors.h"

/* 2026-11-25T17:20:01.123Z (Python: datetime(...).timestamp() * 1000) */
#define WALL_MS 1795627201123ull

static void full_record(struct jvpn_audit_record *r) {
  size_t i;

  memset(r, 0, sizeof(*r));
  r->kind = JVPN_AUDIT_TRANSITION;
  r->wall_ms = WALL_MS;
  r->mono_ms = 987654;
  for (i = 0; i < JVPN_SESSION_ID_LEN; i++)
    r->session[i] = (uint8_t)i;
  r->has_session = 1;
  r->event = "transition";
  r->state_version = 7;
  r->from = "ATTACHED";
  r->to = "RECOVERING";
  r->reason = "TRANSPORT_DEAD";
  r->from_attachment = 1;
  r->to_attachment = 2;
  r->policy_version = 3;
  snprintf(r->peer, sizeof(r->peer), "[2001:db8::1]:443");
  snprintf(r->detail, sizeof(r->detail), "rtt_ms=35 loss=0.2");
}

static const char full_line[] =
    "{\"ts\":\"2026-11-25T17:20:01.123Z\",\"mono_ms\":987654,"
    "\"node\":\"server\",\"session\":\"000102030405060708090a0b0c0d0e0f\","
    "\"kind\":\"transition\",\"event\":\"transition\",\"state_version\":7,"
    "\"from\":\"ATTACHED\",\"to\":\"RECOVERING\",\"reason\":\"TRANSPORT_DEAD\","
    "\"from_attachment\":1,\"to_attachment\":2,\"policy_version\":3,"
    "\"peer\":\"[2001:db8::1]:443\",\"detail\":\"rtt_ms=35 loss=0.2\"}\n";

/* --- format --------------------------------------------------------------- */

static void test_format_full(void **state) {
  struct jvpn_audit_record r;
  char buf[1024];

  (void)state;
  full_record(&r);
  assert_int_equal(jvpn_audit_format(buf, sizeof(buf), "server", &r),
                   strlen(full_line));
  assert_string_equal(buf, full_line);
}

static void test_format_minimal(void **state) {
  struct jvpn_audit_record r;
  char buf[512];

  (void)state;
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_SECURITY;
  r.event = "bad_proof";
  /* no session, no states, no attachments, no peer or detail; format
   * reads no clock, so wall_ms 0 is the epoch */
  assert_true(jvpn_audit_format(buf, sizeof(buf), "gw1", &r) > 0);
  assert_string_equal(buf, "{\"ts\":\"1970-01-01T00:00:00.000Z\","
                           "\"mono_ms\":0,\"node\":\"gw1\","
                           "\"kind\":\"security\",\"event\":\"bad_proof\","
                           "\"state_version\":0,\"policy_version\":0}\n");

  /* no node, no event, an out-of-range kind: still one valid line */
  r.kind = (enum jvpn_audit_kind)99;
  r.event = NULL;
  r.mono_ms = UINT64_MAX;
  r.state_version = UINT64_MAX;
  r.policy_version = UINT32_MAX;
  assert_true(jvpn_audit_format(buf, sizeof(buf), NULL, &r) > 0);
  assert_string_equal(buf, "{\"ts\":\"1970-01-01T00:00:00.000Z\","
                           "\"mono_ms\":18446744073709551615,"
                           "\"kind\":\"unknown\","
                           "\"state_version\":18446744073709551615,"
                           "\"policy_version\":4294967295}\n");
}

static void test_format_kinds(void **state) {
  static const struct {
    enum jvpn_audit_kind kind;
    const char *name;
  } k[] = {
      {JVPN_AUDIT_TRANSITION, "\"kind\":\"transition\""},
      {JVPN_AUDIT_SWITCH, "\"kind\":\"switch\""},
      {JVPN_AUDIT_DENIAL, "\"kind\":\"denial\""},
      {JVPN_AUDIT_SECURITY, "\"kind\":\"security\""},
      {JVPN_AUDIT_INFO, "\"kind\":\"info\""},
  };
  struct jvpn_audit_record r;
  char buf[512];
  size_t i;

  (void)state;
  memset(&r, 0, sizeof(r));
  for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
    r.kind = k[i].kind;
    assert_true(jvpn_audit_format(buf, sizeof(buf), "n", &r) > 0);
    assert_non_null(strstr(buf, k[i].name));
  }
}

static void test_format_timestamps(void **state) {
  static const struct {
    uint64_t ms;
    const char *ts;
  } v[] = {
      {1709251199999ull, "2024-02-29T23:59:59.999Z"}, /* leap day */
      {951868800000ull, "2000-03-01T00:00:00.000Z"},  /* after 400y leap */
      {946684799999ull, "1999-12-31T23:59:59.999Z"},
      {4107499200500ull, "2100-02-28T12:00:00.500Z"}, /* 2100: no leap */
      {253402300799999ull, "9999-12-31T23:59:59.999Z"},
      /* beyond four-digit years: clamped */
      {253402300800000ull, "9999-12-31T23:59:59.999Z"},
      {UINT64_MAX, "9999-12-31T23:59:59.999Z"},
      {1, "1970-01-01T00:00:00.001Z"},
  };
  struct jvpn_audit_record r;
  char buf[512], want[64];
  size_t i;

  (void)state;
  memset(&r, 0, sizeof(r));
  for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    r.wall_ms = v[i].ms;
    assert_true(jvpn_audit_format(buf, sizeof(buf), "n", &r) > 0);
    snprintf(want, sizeof(want), "{\"ts\":\"%s\",", v[i].ts);
    assert_memory_equal(buf, want, strlen(want));
  }
}

/* Formats a record whose detail is |detail| and returns the escaped
 * value between "detail":" and "} */
static const char *detail_json(const char *detail, char *buf, size_t len) {
  struct jvpn_audit_record r;
  char *p, *end;

  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO;
  snprintf(r.detail, sizeof(r.detail), "%s", detail);
  assert_true(jvpn_audit_format(buf, len, "n", &r) > 0);
  p = strstr(buf, ",\"detail\":\"");
  assert_non_null(p);
  p += strlen(",\"detail\":\"");
  end = buf + strlen(buf) - 3;
  assert_string_equal(end, "\"}\n");
  *end = '\0';
  return p;
}

static void test_escape_controls_and_specials(void **state) {
  char in[40], want[256], buf[1024];
  int c;
  size_t o = 0;

  (void)state;
  /* every control character but NUL, which ends the C string */
  for (c = 1; c < 0x20; c++) {
    in[c - 1] = (char)c;
    o += (size_t)snprintf(want + o, sizeof(want) - o, "\\u%04x", c);
  }
  in[0x1f] = '\0';
  assert_string_equal(detail_json(in, buf, sizeof(buf)), want);

  assert_string_equal(detail_json("say \"hi\"", buf, sizeof(buf)),
                      "say \\\"hi\\\"");
  assert_string_equal(detail_json("C:\\path\\", buf, sizeof(buf)),
                      "C:\\\\path\\\\");
  assert_string_equal(detail_json("a\177b", buf, sizeof(buf)), "a\\u007fb");
  assert_string_equal(detail_json("/ <> ' ~", buf, sizeof(buf)), "/ <> ' ~");
  assert_string_equal(detail_json("line\nbreak\r\t", buf, sizeof(buf)),
                      "line\\u000abreak\\u000d\\u0009");
}

static void test_escape_utf8(void **state) {
  static const struct {
    const char *in, *out;
  } v[] = {
      /* valid sequences of each length pass through */
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xe2\x82\xac 5", "\xe2\x82\xac 5"},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
      {"\xed\x9f\xbf", "\xed\x9f\xbf"},         /* U+D7FF */
      {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
      /* invalid bytes become \u00XX, one by one */
      {"a\x80z", "a\\u0080z"},
      {"\xff\xfe", "\\u00ff\\u00fe"},
      {"\xc0\xaf", "\\u00c0\\u00af"},            /* overlong '/' */
      {"\xc1\xbf", "\\u00c1\\u00bf"},            /* overlong */
      {"\xe0\x80\xaf", "\\u00e0\\u0080\\u00af"}, /* overlong */
      {"\xed\xa0\x80", "\\u00ed\\u00a0\\u0080"}, /* surrogate U+D800 */
      {"\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080"}, /* > U+10FFFF */
      {"\xf5\x80\x80\x80", "\\u00f5\\u0080\\u0080\\u0080"},
      {"\xe2\x82", "\\u00e2\\u0082"},   /* truncated at end */
      {"\xe2\x82z", "\\u00e2\\u0082z"}, /* truncated mid-way */
      {"\xc3\"", "\\u00c3\\\""},        /* lead before a quote */
      {"\xf0\x9f\x98\xc3\xa9", "\\u00f0\\u009f\\u0098\xc3\xa9"}, /* resync */
  };
  char buf[1024];
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
    assert_string_equal(detail_json(v[i].in, buf, sizeof(buf)), v[i].out);
}

/* peer and detail may be filled to the last byte without a NUL. */
static void test_format_unterminated_arrays(void **state) {
  struct jvpn_audit_record r;
  char buf[2048], *p;

  (void)state;
  memset(&r, 0, sizeof(r));
  memset(r.peer, 'p', sizeof(r.peer));
  memset(r.detail, 'd', sizeof(r.detail));
  r.event = "x";
  assert_true(jvpn_audit_format(buf, sizeof(buf), "n", &r) > 0);
  p = strstr(buf, "\"peer\":\"");
  assert_non_null(p);
  assert_int_equal(strspn(p + 8, "p"), JVPN_AUDIT_PEER_MAX);
  assert_int_equal(p[8 + JVPN_AUDIT_PEER_MAX], '"');
  p = strstr(buf, "\"detail\":\"");
  assert_non_null(p);
  assert_int_equal(strspn(p + 10, "d"), JVPN_AUDIT_DETAIL_MAX);
  assert_string_equal(p + 10 + JVPN_AUDIT_DETAIL_MAX, "\"}\n");
}

static void test_format_nospace(void **state) {
  struct jvpn_audit_record r;
  char buf[1024];
  size_t need = strlen(full_line), len;

  (void)state;
  full_record(&r);
  /* every length short of line + NUL fails and writes nothing beyond it */
  for (len = 0; len <= need; len++) {
    memset(buf, '#', sizeof(buf));
    assert_int_equal(jvpn_audit_format(buf, len, "server", &r),
                     JVPN_ERR_NOSPACE);
    assert_int_equal(buf[len], '#');
  }
  assert_int_equal(jvpn_audit_format(buf, need + 1, "server", &r), need);
  assert_string_equal(buf, full_line);
}

/* --- the writer ----------------------------------------------------------- */

struct tmpdir {
  char dir[64];
  char path[128];
};

static void tmpdir_make(struct tmpdir *t, const char *leaf) {
  snprintf(t->dir, sizeof(t->dir), "/tmp/jvpn-audit-test.XXXXXX");
  assert_non_null(mkdtemp(t->dir));
  snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, leaf);
}

static void tmpdir_remove(struct tmpdir *t) {
  (void)unlink(t->path); /* may not exist: the test removes what it made */
  assert_int_equal(rmdir(t->dir), 0);
}

/* Reads |fd| until it is empty (non-blocking) or |len| is reached. */
static size_t drain(int fd, char *buf, size_t len) {
  size_t got = 0;

  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);

    if (n <= 0)
      break;
    got += (size_t)n;
  }
  return got;
}

static void numbered_record(struct jvpn_audit_record *r, uint64_t i) {
  memset(r, 0, sizeof(*r));
  r->kind = JVPN_AUDIT_INFO;
  r->wall_ms = WALL_MS;
  r->mono_ms = i;
  r->state_version = i;
  r->event = "tick";
  /* make lines ~250 bytes so a pipe fills after a few hundred */
  memset(r->detail, 'x', 150);
}

/* Points fd 2 at a new pipe; restore_stderr() puts it back. */
static void with_stderr_pipe(int fds[2], int *saved) {
  assert_int_equal(pipe(fds), 0);
  fflush(stderr);
  *saved = dup(STDERR_FILENO);
  assert_true(*saved >= 0);
  assert_int_equal(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
}

static void restore_stderr(int fds[2], int saved) {
  assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(fds[0]);
  close(fds[1]);
}

/* The writer thread is waited for by polling, WAIT_STEP_MS apart and at
 * most WAIT_TRIES times (5 s): long enough on a loaded machine, and a
 * broken writer fails the test instead of hanging it. */
#define WAIT_STEP_MS 5
#define WAIT_TRIES 1000
#define WAIT_UNTIL(cond)                                                       \
  do {                                                                         \
    int tries_;                                                                \
    for (tries_ = 0; !(cond) && tries_ < WAIT_TRIES; tries_++)                 \
      pause_ms(WAIT_STEP_MS);                                                  \
  } while (0)

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, ms % 1000 * 1000000};

  (void)nanosleep(&ts, NULL); /* a short pause is as good */
}

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static off_t file_size(const char *path) {
  struct stat st;

  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Checks that |got| holds |prefix| bytes of anything, then exactly the
 * lines of records |from|..|to|-1 for which |accepted| is NULL or set. */
static void assert_lines(const char *got, size_t len, size_t prefix, int from,
                         int to, const uint8_t *accepted) {
  struct jvpn_audit_record r;
  const char *p = got + prefix;
  char want[512];
  int i;

  assert_true(len >= prefix);
  for (i = from; i < to; i++) {
    long n;

    if (accepted != NULL && !accepted[i])
      continue;
    numbered_record(&r, (uint64_t)i);
    n = jvpn_audit_format(want, sizeof(want), "server", &r);
    assert_true(n > 0 && (size_t)(p - got) + (size_t)n <= len);
    assert_memory_equal(p, want, (size_t)n);
    p += n;
  }
  assert_int_equal(p - got, len);
}

static void emit_numbered(struct jvpn_audit *a, int from, int to) {
  struct jvpn_audit_record r;
  int i;

  for (i = from; i < to; i++) {
    numbered_record(&r, (uint64_t)i);
    assert_int_equal(jvpn_audit_emit(a, &r), 0);
  }
}

static void test_writer_file_in_order(void **state) {
  struct tmpdir t;
  struct jvpn_audit *a;
  struct jvpn_audit_record r;
  char want[512], *got;
  struct stat st;
  size_t len;
  int fd;

  (void)state;
  tmpdir_make(&t, "audit.log");
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  assert_true(jvpn_audit_fd(a) >= 0);
  assert_int_equal(stat(t.path, &st), 0);
  assert_int_equal(st.st_mode & 0777 & ~0640, 0);
  emit_numbered(a, 0, 200);
  assert_int_equal(jvpn_audit_flush(a), 0);
  assert_int_equal(jvpn_audit_written(a), 200);
  assert_int_equal(jvpn_audit_dropped(a), 0);
  jvpn_audit_del(a);

  got = calloc(1, 200 * 512);
  assert_non_null(got);
  fd = open(t.path, O_RDONLY);
  assert_true(fd >= 0);
  len = drain(fd, got, 200 * 512 - 1);
  close(fd);
  assert_lines(got, len, 0, 0, 200, NULL);
  free(got);

  /* appends, never truncates */
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  numbered_record(&r, 200);
  assert_int_equal(jvpn_audit_emit(a, &r), 0);
  jvpn_audit_del(a);
  assert_int_equal(
      file_size(t.path),
      len + (size_t)jvpn_audit_format(want, sizeof(want), "server", &r));
  tmpdir_remove(&t);
}

static void test_writer_stamps_wall_clock(void **state) {
  struct tmpdir t;
  struct jvpn_audit *a;
  struct jvpn_audit_record r;
  char buf[512];
  int fd;

  (void)state;
  tmpdir_make(&t, "audit.log");
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "n", 0), 0);
  memset(&r, 0, sizeof(r));
  r.kind = JVPN_AUDIT_INFO; /* wall_ms 0: the writer fills it in */
  assert_int_equal(jvpn_audit_emit(a, &r), 0);
  jvpn_audit_del(a);
  fd = open(t.path, O_RDONLY);
  assert_true(fd >= 0);
  memset(buf, 0, sizeof(buf));
  drain(fd, buf, sizeof(buf) - 1);
  close(fd);
  /* this machine's clock is past 2020, and the record stays as given */
  assert_memory_equal(buf, "{\"ts\":\"20", 9);
  assert_true(buf[9] >= '2');
  assert_null(strstr(buf, "1970-"));
  assert_true(r.wall_ms == 0);
  tmpdir_remove(&t);
}

/* Emitting writes nothing itself; the started thread writes the lines
 * without a flush, lines queued before the start included. */
static void test_writer_thread_writes(void **state) {
  struct tmpdir t;
  struct jvpn_audit *a;
  char *got;
  size_t len;
  int fd;

  (void)state;
  tmpdir_make(&t, "audit.log");
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  emit_numbered(a, 0, 3); /* no thread yet */
  assert_int_equal(file_size(t.path), 0);
  assert_int_equal(jvpn_audit_written(a), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  WAIT_UNTIL(jvpn_audit_written(a) == 3);
  assert_int_equal(jvpn_audit_written(a), 3);
  emit_numbered(a, 3, 10);
  WAIT_UNTIL(jvpn_audit_written(a) == 10);
  assert_int_equal(jvpn_audit_written(a), 10);

  got = calloc(1, 10 * 512);
  assert_non_null(got);
  fd = open(t.path, O_RDONLY);
  assert_true(fd >= 0);
  len = drain(fd, got, 10 * 512 - 1);
  close(fd);
  assert_lines(got, len, 0, 0, 10, NULL);
  free(got);
  jvpn_audit_del(a);
  tmpdir_remove(&t);
}

/*
 * A FIFO as the audit file, its pipe already full: the writer thread's
 * writes find no room (EAGAIN, as a full disk finds none). |rfd| is the
 * non-blocking read end; returns the bytes of filler in the pipe.
 */
static size_t fifo_full(struct tmpdir *t, int *rfd) {
  char filler[4096];
  size_t n = 0;
  ssize_t w;
  int wfd;

  tmpdir_make(t, "fifo");
  assert_int_equal(mkfifo(t->path, 0600), 0);
  *rfd = open(t->path, O_RDONLY | O_NONBLOCK);
  assert_true(*rfd >= 0);
  wfd = open(t->path, O_WRONLY | O_NONBLOCK);
  assert_true(wfd >= 0);
  memset(filler, '.', sizeof(filler));
  while ((w = write(wfd, filler, sizeof(filler))) > 0)
    n += (size_t)w;
  while ((w = write(wfd, filler, 1)) > 0)
    n += (size_t)w;
  close(wfd);
  return n;
}

/* Lines the file did not take are written by the retry timer once it
 * has room: no emit, no flush needed. */
static void test_writer_retries_on_timer(void **state) {
  enum { N = 10 };
  struct tmpdir t;
  struct jvpn_audit *a;
  size_t cap = 256 * 1024, len, filler;
  char *got;
  int rfd;

  (void)state;
  filler = fifo_full(&t, &rfd);
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  emit_numbered(a, 0, N);
  /* the thread tried (a pass began after the last emit) and took none */
  assert_true(jvpn_audit_flush(a) > 0);
  assert_int_equal(jvpn_audit_written(a), 0);

  got = malloc(cap);
  assert_non_null(got);
  len = drain(rfd, got, cap); /* room at last; nobody tells the writer */
  WAIT_UNTIL(jvpn_audit_written(a) == N);
  len += drain(rfd, got + len, cap - len);
  assert_int_equal(jvpn_audit_written(a), N);
  assert_int_equal(jvpn_audit_dropped(a), 0);
  assert_lines(got, len, filler, 0, N, NULL);
  free(got);
  jvpn_audit_del(a);
  close(rfd);
  tmpdir_remove(&t);
}

/*
 * A FIFO whose reader does not read, its pipe full: every emit returns at
 * once, the ring fills, later records are dropped and counted; once the
 * reader drains, flushing delivers every accepted record, in order.
 */
static void test_writer_stalled_pipe(void **state) {
  enum { N = 2000, RING = 16 * 1024 };
  static uint8_t accepted[N];
  struct tmpdir t;
  struct jvpn_audit *a;
  struct jvpn_audit_record r;
  char *got, line[512];
  size_t cap = (size_t)N * 512, len, pending, filler, queued = 0;
  uint64_t n_ok = 0, t0;
  int rfd, i, tries;

  (void)state;
  filler = fifo_full(&t, &rfd);
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", RING), 0);
  assert_int_equal(jvpn_audit_start(a), 0);

  alarm(20); /* a blocked emit would hang here: fail loudly instead */
  t0 = now_ms();
  for (i = 0; i < N; i++) {
    int rv;

    numbered_record(&r, (uint64_t)i);
    rv = jvpn_audit_emit(a, &r);
    assert_true(rv == 0 || rv == JVPN_ERR_FULL);
    accepted[i] = rv == 0;
    if (rv == 0) {
      n_ok++;
      queued += (size_t)jvpn_audit_format(line, sizeof(line), "server", &r);
    }
  }
  /* 2000 emits take microseconds each; 1 s means one waited */
  assert_true(now_ms() - t0 < 1000);
  alarm(0);
  /* nothing leaves: the ring takes the first lines, up to its size */
  assert_true(n_ok > 0 && queued <= RING && queued + sizeof(line) > RING);
  for (i = 0; i < N; i++)
    assert_int_equal(accepted[i], i < (int)n_ok);
  assert_int_equal(jvpn_audit_dropped(a), N - n_ok);
  assert_int_equal(jvpn_audit_flush(a), queued);
  assert_int_equal(jvpn_audit_written(a), 0);

  /* the reader catches up; flush until nothing is pending */
  got = malloc(cap);
  assert_non_null(got);
  len = 0;
  pending = queued;
  for (tries = 0; tries < WAIT_TRIES && pending > 0; tries++) {
    len += drain(rfd, got + len, cap - len);
    pending = jvpn_audit_flush(a);
  }
  len += drain(rfd, got + len, cap - len);
  assert_int_equal(pending, 0);
  assert_int_equal(jvpn_audit_written(a), n_ok);
  assert_int_equal(jvpn_audit_dropped(a), N - n_ok);
  assert_lines(got, len, filler, 0, N, accepted);

  free(got);
  jvpn_audit_del(a);
  close(rfd);
  tmpdir_remove(&t);
}

struct reader {
  int fd;
  char *buf;
  size_t cap, len;
};

/* Reads |r->fd| (blocking) until end of file: until every writer of the
 * FIFO has closed it. */
static void *reader_main(void *arg) {
  struct reader *r = arg;
  ssize_t n;

  while (r->len < r->cap &&
         (n = read(r->fd, r->buf + r->len, r->cap - r->len)) > 0)
    r->len += (size_t)n;
  return NULL;
}

/* del writes out every pending line before it returns, and closes. */
static void test_writer_del_drains(void **state) {
  enum { N = 50 };
  struct tmpdir t;
  struct jvpn_audit *a;
  struct reader rd;
  pthread_t reader;
  size_t filler;

  (void)state;
  filler = fifo_full(&t, &rd.fd);
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  emit_numbered(a, 0, N);
  assert_true(jvpn_audit_flush(a) > 0); /* the pipe is full: all pending */
  rd.cap = 256 * 1024;
  rd.len = 0;
  rd.buf = malloc(rd.cap);
  assert_non_null(rd.buf);
  assert_int_equal(fcntl(rd.fd, F_SETFL, 0), 0);
  assert_int_equal(pthread_create(&reader, NULL, reader_main, &rd), 0);

  alarm(20); /* a lost line would leave the reader waiting forever */
  jvpn_audit_del(a);
  /* end of file: del closed the FIFO after the last line */
  assert_int_equal(pthread_join(reader, NULL), 0);
  alarm(0);
  assert_lines(rd.buf, rd.len, filler, 0, N, NULL);
  free(rd.buf);
  close(rd.fd);
  tmpdir_remove(&t);
}

/* Reads what went to the stderr pipe into |buf| (NUL-terminated), and
 * puts fd 2 back. */
static void stderr_captured(int fds[2], int saved, char *buf, size_t len) {
  size_t got;

  assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  got = drain(fds[0], buf, len - 1);
  buf[got] = '\0';
  restore_stderr(fds, saved);
}

/* Deletes |a| and checks that it took JVPN_AUDIT_WAIT_MS, give or take:
 * the writer did not finish, and del did not wait longer. */
static void del_gives_up(struct jvpn_audit *a) {
  uint64_t t0 = now_ms(), took;

  alarm(20); /* an unbounded del would hang here: fail loudly instead */
  jvpn_audit_del(a);
  alarm(0);
  took = now_ms() - t0;
  assert_true(took >= JVPN_AUDIT_WAIT_MS - 10);
  assert_true(took < JVPN_AUDIT_WAIT_MS + 1000);
}

static size_t count_of(const char *s, const char *what) {
  size_t n = 0;

  while ((s = strstr(s, what)) != NULL) {
    n++;
    s++;
  }
  return n;
}

/* A full disk (/dev/full: ENOSPC): the lines stay pending, the failure is
 * said once for the streak however often the thread retries, and del
 * gives up after JVPN_AUDIT_WAIT_MS and says how many lines it dropped. */
static void test_writer_disk_full(void **state) {
  struct jvpn_audit *a;
  char logged[4096];
  int fds[2], saved, i;

  (void)state;
  if (access("/dev/full", W_OK) != 0)
    skip();
  with_stderr_pipe(fds, &saved);
  assert_int_equal(jvpn_audit_new(&a, "/dev/full", 0, "server", 0), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  emit_numbered(a, 0, 7);
  for (i = 0; i < 3; i++)
    assert_true(jvpn_audit_flush(a) > 0);
  assert_int_equal(jvpn_audit_written(a), 0);
  assert_int_equal(jvpn_audit_dropped(a), 0);
  del_gives_up(a); /* the thread retries every few ms meanwhile */
  stderr_captured(fds, saved, logged, sizeof(logged));
  assert_int_equal(count_of(logged, "audit write failed: No space left"), 1);
  assert_int_equal(count_of(logged, "audit lines unwritten at close: 7,"), 1);
}

/* A write that blocks (a hung disk; here a blocking FIFO nobody reads):
 * del returns within its bound, and the thread finishes on its own once
 * the write returns: it closes the file, so the reader sees end of file. */
static void test_writer_del_hung_write(void **state) {
  struct tmpdir t;
  struct jvpn_audit *a;
  char logged[1024], buf[4096];
  size_t filler, got = 0;
  ssize_t n = -1;
  int rfd, fds[2], saved, tries;

  (void)state;
  filler = fifo_full(&t, &rfd);
  assert_int_equal(jvpn_audit_new(&a, t.path, 0, "server", 0), 0);
  assert_int_equal(fcntl(jvpn_audit_fd(a), F_SETFL, O_APPEND), 0);
  assert_int_equal(jvpn_audit_start(a), 0);
  emit_numbered(a, 0, 1);
  with_stderr_pipe(fds, &saved);
  del_gives_up(a);
  stderr_captured(fds, saved, logged, sizeof(logged));
  assert_non_null(strstr(logged, "audit lines unwritten at close: 1,"));

  for (tries = 0; tries < WAIT_TRIES && n != 0; tries++) {
    n = read(rfd, buf, sizeof(buf));
    if (n > 0)
      got += (size_t)n;
    else if (n < 0)
      pause_ms(WAIT_STEP_MS); /* EAGAIN: the write is still under way */
  }
  assert_int_equal(n, 0);
  assert_true(got > filler); /* the write in progress did land */
  close(rfd);
  tmpdir_remove(&t);
}

static void test_writer_stderr_only(void **state) {
  struct jvpn_audit *a;
  struct jvpn_audit_record r;
  char want[1024], got[1024], filler[4096];
  int fds[2], saved, flags;
  long n;
  size_t len;

  (void)state;
  with_stderr_pipe(fds, &saved);
  assert_int_equal(jvpn_audit_new(&a, NULL, 1, "client", 0), 0);
  assert_int_equal(jvpn_audit_fd(a), -1);
  full_record(&r);
  assert_int_equal(jvpn_audit_emit(a, &r), 0);
  assert_int_equal(jvpn_audit_emit(a, &r), 0);
  assert_int_equal(jvpn_audit_written(a), 2);
  assert_int_equal(jvpn_audit_flush(a), 0);
  n = jvpn_audit_format(want, sizeof(want), "client", &r);
  assert_true(n > 0);
  flags = fcntl(fds[0], F_GETFL);
  assert_int_equal(fcntl(fds[0], F_SETFL, flags | O_NONBLOCK), 0);
  len = drain(fds[0], got, sizeof(got));
  assert_int_equal(len, 2 * (size_t)n);
  assert_memory_equal(got, want, (size_t)n);
  assert_memory_equal(got + n, want, (size_t)n);

  /* fill the pipe, then leave its write side blocking like a shared
   * stderr: emit must drop and count, not wait */
  flags = fcntl(fds[1], F_GETFL);
  assert_int_equal(fcntl(fds[1], F_SETFL, flags | O_NONBLOCK), 0);
  memset(filler, '.', sizeof(filler));
  while (write(fds[1], filler, sizeof(filler)) > 0)
    ;
  while (write(fds[1], filler, 1) > 0)
    ;
  assert_int_equal(fcntl(fds[1], F_SETFL, flags), 0);
  alarm(20);
  assert_int_equal(jvpn_audit_emit(a, &r), JVPN_ERR_FULL);
  alarm(0);
  assert_int_equal(jvpn_audit_dropped(a), 1);
  assert_int_equal(jvpn_audit_written(a), 2);
  jvpn_audit_del(a);
  restore_stderr(fds, saved);
}

static void test_writer_file_and_stderr(void **state) {
  struct tmpdir t;
  struct jvpn_audit *a;
  struct jvpn_audit_record r;
  char want[1024], got[1024];
  int fds[2], saved, fd;
  long n;

  (void)state;
  tmpdir_make(&t, "audit.log");
  with_stderr_pipe(fds, &saved);
  assert_int_equal(jvpn_audit_new(&a, t.path, 1, "server", 0), 0);
  full_record(&r);
  assert_int_equal(jvpn_audit_emit(a, &r), 0);
  jvpn_audit_del(a);
  n = jvpn_audit_format(want, sizeof(want), "server", &r);
  assert_true(n > 0);
  assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  assert_int_equal(drain(fds[0], got, sizeof(got)), n);
  assert_memory_equal(got, want, (size_t)n);
  restore_stderr(fds, saved);

  fd = open(t.path, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(drain(fd, got, sizeof(got)), n);
  assert_memory_equal(got, want, (size_t)n);
  close(fd);
  tmpdir_remove(&t);
}

static void test_writer_errors_and_null(void **state) {
  struct jvpn_audit *a = (struct jvpn_audit *)&a;
  struct jvpn_audit_record r;
  char node[4096];

  (void)state;
  assert_int_equal(
      jvpn_audit_new(&a, "/nonexistent-jvpn-dir/audit.log", 0, "n", 0),
      JVPN_ERR_SYSTEM);
  assert_null(a);
  {
    /* A symbolic link at the log's path is refused, never followed. */
    struct tmpdir t;
    char target[160];

    tmpdir_make(&t, "audit.log");
    snprintf(target, sizeof(target), "%s/target", t.dir);
    assert_int_equal(symlink(target, t.path), 0);
    assert_int_equal(jvpn_audit_new(&a, t.path, 0, "n", 0), JVPN_ERR_SYSTEM);
    assert_int_equal(access(target, F_OK), -1);
    tmpdir_remove(&t);
    a = (struct jvpn_audit *)&a;
  }
  jvpn_audit_del(NULL);
  memset(&r, 0, sizeof(r));
  assert_int_equal(jvpn_audit_emit(NULL, &r), 0); /* auditing off */
  assert_int_equal(jvpn_audit_flush(NULL), 0);
  assert_int_equal(jvpn_audit_fd(NULL), -1);

  /* a line longer than the writer's line buffer is dropped and counted */
  memset(node, 'n', sizeof(node) - 1);
  node[sizeof(node) - 1] = '\0';
  assert_int_equal(jvpn_audit_new(&a, NULL, 0, node, 0), 0);
  assert_int_equal(jvpn_audit_emit(a, &r), JVPN_ERR_FULL);
  assert_int_equal(jvpn_audit_dropped(a), 1);
  jvpn_audit_del(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_full),
      cmocka_unit_test(test_format_minimal),
      cmocka_unit_test(test_format_kinds),
      cmocka_unit_test(test_format_timestamps),
      cmocka_unit_test(test_escape_controls_and_specials),
      cmocka_unit_test(test_escape_utf8),
      cmocka_unit_test(test_format_unterminated_arrays),
      cmocka_unit_test(test_format_nospace),
      cmocka_unit_test(test_writer_file_in_order),
      cmocka_unit_test(test_writer_stamps_wall_clock),
      cmocka_unit_test(test_writer_thread_writes),
      cmocka_unit_test(test_writer_retries_on_timer),
      cmocka_unit_test(test_writer_stalled_pipe),
      cmocka_unit_test(test_writer_del_drains),
      cmocka_unit_test(test_writer_disk_full),
      cmocka_unit_test(test_writer_del_hung_write),
      cmocka_unit_test(test_writer_stderr_only),
      cmocka_unit_test(test_writer_file_and_stderr),
      cmocka_unit_test(test_writer_errors_and_null),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
