/* Unit tests for src/control: real sockets in a private temporary
 * directory, the daemon side on a real libuv loop run by the test, the
 * commands in forked children whose output comes back through pipes.
 * Every wait is bounded by a deadline and driven by poll(), not sleeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/control.h"
#include "src/ctl_cmd.h"

#define DEADLINE_MS 10000 /* ms: any single wait in these tests */
#define BIG_ANSWER 300000 /* bytes: several socket buffers */

static const char text_answer[] = "state: up\nsessions: 2\n";
static const char json_answer[] = "{\"state\":\"up\",\"sessions\":2}\n";

struct fake {
  int calls;
  int last_json;
  int fail; /* a JVPN_ERR_* to return, or 0 */
  int big;  /* answer BIG_ANSWER bytes without a final newline */
};

struct fx {
  char dir[64];
  char sock[128];
  char file[128];
  uv_loop_t loop;
  struct fake fake;
};

struct cap {
  char buf[16384];
  size_t len;
};

static int fake_status(void *user, int json, char **out, size_t *len) {
  struct fake *f = user;
  const char *text = json ? json_answer : text_answer;

  f->calls++;
  f->last_json = json;
  if (f->fail != 0)
    return f->fail;
  if (f->big) {
    *out = malloc(BIG_ANSWER);
    if (*out == NULL)
      return JVPN_ERR_NOMEM;
    memset(*out, 'x', BIG_ANSWER);
    *len = BIG_ANSWER;
    return 0;
  }
  *out = strdup(text);
  if (*out == NULL)
    return JVPN_ERR_NOMEM;
  *len = strlen(text);
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rm_tree(const char *path) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  char sub[512];

  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
      rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static int setup(void **state) {
  struct fx *fx = calloc(1, sizeof(*fx));

  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/jvpn-ctl-XXXXXX");
  if (mkdtemp(fx->dir) == NULL || uv_loop_init(&fx->loop) != 0) {
    free(fx);
    return -1;
  }
  snprintf(fx->sock, sizeof(fx->sock), "%s/run/ctl.sock", fx->dir);
  snprintf(fx->file, sizeof(fx->file), "%s/audit.log", fx->dir);
  *state = fx;
  return 0;
}

static void drain_loop(uv_loop_t *loop) {
  int i;

  for (i = 0; i < 100 && uv_loop_alive(loop); i++)
    uv_run(loop, UV_RUN_NOWAIT);
}

static int teardown(void **state) {
  struct fx *fx = *state;
  int rv;

  drain_loop(&fx->loop);
  rv = uv_loop_close(&fx->loop);
  rm_tree(fx->dir);
  free(fx);
  return rv == 0 ? 0 : -1; /* a handle left open fails the test */
}

static void close_control(struct fx *fx, struct control *c) {
  control_close(c);
  drain_loop(&fx->loop);
  assert_false(uv_loop_alive(&fx->loop));
}

/* --- children and pipes --------------------------------------------------- */

struct child {
  pid_t pid;
  int out, err; /* read ends, -1 once at EOF */
  struct cap co, ce;
};

static void spawn(struct child *ch, int (*cmd)(int, char **), char **argv) {
  int po[2], pe[2], argc = 0;

  while (argv[argc] != NULL)
    argc++;
  memset(ch, 0, sizeof(*ch));
  assert_int_equal(pipe2(po, O_CLOEXEC), 0);
  assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  ch->pid = fork();
  assert_true(ch->pid >= 0);
  if (ch->pid == 0) {
    dup2(po[1], 1);
    dup2(pe[1], 2);
    _exit(cmd(argc, argv) & 0xff); /* the commands flush what they print */
  }
  close(po[1]);
  close(pe[1]);
  ch->out = po[0];
  ch->err = pe[0];
  fcntl(ch->out, F_SETFL, O_NONBLOCK);
  fcntl(ch->err, F_SETFL, O_NONBLOCK);
}

static void cap_read(int *fd, struct cap *c) {
  ssize_t n;

  if (*fd < 0)
    return;
  n = read(*fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
  if (n > 0) {
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
  } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close(*fd);
    *fd = -1;
  }
  assert_true(c->len < sizeof(c->buf) - 1); /* or the test is wrong */
}

/* One step: runs |loop| (if any) once without blocking, then waits a
 * little for the child's output. */
static void child_step(struct child *ch, uv_loop_t *loop) {
  struct pollfd p[2] = {{ch->out, POLLIN, 0}, {ch->err, POLLIN, 0}};

  if (loop != NULL)
    uv_run(loop, UV_RUN_NOWAIT);
  if (poll(p, 2, loop != NULL ? 2 : 50) > 0) {
    cap_read(&ch->out, &ch->co);
    cap_read(&ch->err, &ch->ce);
  }
}

static void child_kill(struct child *ch) {
  kill(ch->pid, SIGKILL);
  waitpid(ch->pid, NULL, 0);
  if (ch->out >= 0)
    close(ch->out);
  if (ch->err >= 0)
    close(ch->err);
}

/* Runs until the child exits with its output read; returns its wait
 * status. */
static int child_wait(struct child *ch, uv_loop_t *loop) {
  int64_t deadline = now_ms() + DEADLINE_MS;
  int status = 0, exited = 0;

  while (!exited || ch->out >= 0 || ch->err >= 0) {
    if (now_ms() > deadline) {
      child_kill(ch);
      fail_msg("child did not finish; stdout: %s stderr: %s", ch->co.buf,
               ch->ce.buf);
    }
    child_step(ch, loop);
    if (!exited && waitpid(ch->pid, &status, WNOHANG) == ch->pid)
      exited = 1;
  }
  return status;
}

static int child_wait_for(struct child *ch, const char *needle) {
  int64_t deadline = now_ms() + DEADLINE_MS;

  while (strstr(ch->co.buf, needle) == NULL) {
    if (now_ms() > deadline || ch->out < 0)
      return -1;
    child_step(ch, NULL);
  }
  return 0;
}

/* Runs |cmd| with |argv| to completion; returns its exit code. */
static int run_cmd(struct child *ch, uv_loop_t *loop, int (*cmd)(int, char **),
                   char **argv) {
  int status;

  spawn(ch, cmd, argv);
  status = child_wait(ch, loop);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* --- raw clients ---------------------------------------------------------- */

static int raw_connect(const char *path) {
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  assert_true(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path));
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  return fd;
}

static void raw_send(int fd, const char *p, size_t n) {
  assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Runs the loop until the server closes |fd|; returns 0 at EOF, -1 if it
 * did not come by the deadline. */
static int raw_read_eof(uv_loop_t *loop, int fd, struct cap *c,
                        int deadline_ms) {
  int64_t deadline = now_ms() + deadline_ms;

  memset(c, 0, sizeof(*c));
  while (now_ms() <= deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;

    uv_run(loop, UV_RUN_NOWAIT);
    if (poll(&p, 1, 2) <= 0)
      continue;
    n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      return 0;
    if (n > 0) {
      c->len += (size_t)n;
      c->buf[c->len] = '\0';
    }
  }
  return -1;
}

static int raw_pending(int fd) {
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK);

  return n < 0 && errno == EAGAIN; /* open and silent */
}

static struct control *open_control(struct fx *fx) {
  struct control *c = NULL;

  assert_int_equal(
      control_open(&c, &fx->loop, fx->sock, fake_status, &fx->fake), 0);
  assert_non_null(c);
  return c;
}

/* --- the daemon side and jvpn-quic status --------------------------------- */

static void test_status_round_trip(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  char *text_argv[] = {"status", "-s", fx->sock, NULL};
  char *json_argv[] = {"status", "--json", "--socket", fx->sock, NULL};
  char dir[128];
  struct child ch;
  struct stat st;

  snprintf(dir, sizeof(dir), "%s/run", fx->dir);
  assert_int_equal(stat(dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(lstat(fx->sock, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);

  assert_int_equal(run_cmd(&ch, &fx->loop, jvpn_cmd_status, text_argv), 0);
  assert_string_equal(ch.co.buf, text_answer);
  assert_int_equal(fx->fake.calls, 1);
  assert_int_equal(fx->fake.last_json, 0);

  assert_int_equal(run_cmd(&ch, &fx->loop, jvpn_cmd_status, json_argv), 0);
  assert_string_equal(ch.co.buf, json_answer);
  assert_int_equal(fx->fake.calls, 2);
  assert_int_equal(fx->fake.last_json, 1);
  assert_int_equal(ch.ce.len, 0);

  close_control(fx, c);
}

/* An answer larger than the socket buffers takes several writes and
 * reads; one without a final newline gets one from the command. */
static void test_status_big_answer(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  char out[128];
  char *argv[] = {"status", "-s", fx->sock, NULL};
  struct stat st;
  pid_t pid;
  int fd, status;

  snprintf(out, sizeof(out), "%s/out", fx->dir);
  fx->fake.big = 1;
  fflush(stdout);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0)
      _exit(99);
    _exit(jvpn_cmd_status(3, argv));
  }
  {
    int64_t deadline = now_ms() + DEADLINE_MS;

    while (waitpid(pid, &status, WNOHANG) != pid) {
      if (now_ms() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("status command did not finish");
      }
      uv_run(&fx->loop, UV_RUN_NOWAIT);
      poll(NULL, 0, 1);
    }
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal(st.st_size, BIG_ANSWER + 1);
  close_control(fx, c);
}

static void test_status_daemon_error(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  char *argv[] = {"status", "-s", fx->sock, NULL};
  char expect[128];
  struct child ch;
  struct cap cap;
  int fd;

  fx->fake.fail = JVPN_ERR_NOMEM;
  assert_int_equal(run_cmd(&ch, &fx->loop, jvpn_cmd_status, argv), 1);
  assert_int_equal(ch.co.len, 0);
  snprintf(expect, sizeof(expect), "answered: error: %s\n",
           jvpn_strerror(JVPN_ERR_NOMEM));
  assert_non_null(strstr(ch.ce.buf, expect));

  fd = raw_connect(fx->sock);
  raw_send(fd, "status json\n", 12);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  snprintf(expect, sizeof(expect), "error: %s\n",
           jvpn_strerror(JVPN_ERR_NOMEM));
  assert_string_equal(cap.buf, expect);
  close(fd);
  close_control(fx, c);
}

static void test_status_no_daemon(void **state) {
  struct fx *fx = *state;
  char missing[128], stale[128], expect[192];
  char *argv_missing[] = {"status", "-s", missing, NULL};
  char *argv_stale[] = {"status", "--socket=", NULL};
  char *argv_bad[] = {"status", "--bogus", NULL};
  char *argv_noval[] = {"status", "-s", NULL};
  char sarg[160];
  struct sockaddr_un sa;
  struct child ch;
  int fd;

  snprintf(missing, sizeof(missing), "%s/none.sock", fx->dir);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_status, argv_missing), 1);
  assert_non_null(strstr(ch.ce.buf, "no such socket"));
  assert_int_equal(ch.co.len, 0);

  /* a socket file nobody listens on: what a crashed daemon leaves */
  snprintf(stale, sizeof(stale), "%s/stale.sock", fx->dir);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, stale, strlen(stale));
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  snprintf(sarg, sizeof(sarg), "--socket=%s", stale);
  argv_stale[1] = sarg;
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_status, argv_stale), 1);
  snprintf(expect, sizeof(expect),
           "no jvpn-quic daemon at %s: connection refused", stale);
  assert_non_null(strstr(ch.ce.buf, expect));

  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_status, argv_bad), 2);
  assert_non_null(strstr(ch.ce.buf, "unknown option: --bogus"));
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_status, argv_noval), 2);
}

static void test_socket_in_use_and_stale(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx), *c2 = (struct control *)&c2;
  struct sockaddr_un sa;
  struct stat st1, st2;
  struct cap cap;
  int fd;

  /* a live daemon keeps its socket */
  assert_int_equal(lstat(fx->sock, &st1), 0);
  assert_int_equal(
      control_open(&c2, &fx->loop, fx->sock, fake_status, &fx->fake),
      JVPN_ERR_EXISTS);
  assert_null(c2);
  assert_int_equal(lstat(fx->sock, &st2), 0);
  assert_int_equal(st1.st_ino, st2.st_ino);
  /* and still answers (after the probe connection is gone) */
  fd = raw_connect(fx->sock);
  raw_send(fd, "status\n", 7);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, text_answer);
  close(fd);
  close_control(fx, c);
  assert_int_equal(lstat(fx->sock, &st1), -1);

  /* a stale socket file is replaced */
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, fx->sock, strlen(fx->sock));
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  assert_int_equal(lstat(fx->sock, &st1), 0);
  c = open_control(fx);
  assert_int_equal(lstat(fx->sock, &st2), 0);
  assert_int_equal(st2.st_mode & 07777, 0600);
  fd = raw_connect(fx->sock);
  raw_send(fd, "status\n", 7);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, text_answer);
  close(fd);
  close_control(fx, c);
}

static void test_open_refuses_bad_paths(void **state) {
  struct fx *fx = *state;
  struct control *c = NULL;
  char path[256];
  struct stat st;
  int fd;

  /* not a socket: an operator's file is never removed */
  snprintf(path, sizeof(path), "%s/file.sock", fx->dir);
  fd = open(path, O_WRONLY | O_CREAT, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(control_open(&c, &fx->loop, path, fake_status, NULL),
                   JVPN_ERR_EXISTS);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));

  /* only the last directory is created */
  snprintf(path, sizeof(path), "%s/a/b/ctl.sock", fx->dir);
  assert_true(control_open(&c, &fx->loop, path, fake_status, NULL) < 0);
  snprintf(path, sizeof(path), "%s/a", fx->dir);
  assert_int_equal(lstat(path, &st), -1);

  /* the parent exists as a file */
  snprintf(path, sizeof(path), "%s/file.sock/ctl.sock", fx->dir);
  assert_true(control_open(&c, &fx->loop, path, fake_status, NULL) < 0);

  /* longer than sun_path */
  memset(path, 'a', sizeof(path) - 1);
  path[0] = '/';
  path[sizeof(path) - 1] = '\0';
  assert_int_equal(control_open(&c, &fx->loop, path, fake_status, NULL),
                   JVPN_ERR_CONFIG);
  assert_null(c);
  assert_int_equal(control_open(&c, &fx->loop, fx->sock, NULL, NULL),
                   JVPN_ERR_INVAL);
  assert_false(uv_loop_alive(&fx->loop)); /* nothing left behind */
}

static void test_requests(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  static const struct {
    const char *req;
    size_t len;
    const char *answer;
  } cases[] = {
      {"hello\n", 6, "error: bad request\n"},
      {"STATUS\n", 7, "error: bad request\n"},
      {"status \n", 8, "error: bad request\n"},
      {"status\0json\n", 12, "error: bad request\n"},
      {"\n", 1, "error: bad request\n"},
      {"status\r\n", 8, text_answer},
      {"status json\n", 12, json_answer},
      /* what follows the line is ignored */
      {"status\nstatus json\n", 19, text_answer},
  };
  char big[65];
  struct cap cap;
  size_t i;
  int fd;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fd = raw_connect(fx->sock);
    raw_send(fd, cases[i].req, cases[i].len);
    assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
    assert_string_equal(cap.buf, cases[i].answer);
    close(fd);
  }

  /* 64 bytes without a newline fill the buffer: answered at once, even
   * though the client keeps the connection open */
  memset(big, 'a', sizeof(big));
  fd = raw_connect(fx->sock);
  raw_send(fd, big, 64);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, 1000), 0);
  assert_string_equal(cap.buf, "error: bad request\n");
  close(fd);
  /* 63 bytes and a newline: the longest line, still garbage */
  big[63] = '\n';
  fd = raw_connect(fx->sock);
  raw_send(fd, big, 64);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, 1000), 0);
  assert_string_equal(cap.buf, "error: bad request\n");
  close(fd);

  /* a request cut short by the client's EOF */
  fd = raw_connect(fx->sock);
  raw_send(fd, "stat", 4);
  shutdown(fd, SHUT_WR);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, "error: bad request\n");
  close(fd);

  /* a request in two pieces, read in two callbacks */
  fd = raw_connect(fx->sock);
  raw_send(fd, "stat", 4);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_true(raw_pending(fd));
  raw_send(fd, "us json\n", 8);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, json_answer);
  close(fd);
  assert_int_equal(fx->fake.calls, 4);

  close_control(fx, c);
}

/* Clients past the limit are closed at once; the ones holding slots are
 * served; the idle timer frees stalled slots for new clients. */
static void test_too_many_clients(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  int held[CONTROL_MAX_CLIENTS], extra[3], fd, i;
  int64_t t0 = now_ms(), t1;
  struct cap cap;

  for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
    held[i] = raw_connect(fx->sock);
  for (i = 0; i < 3; i++)
    extra[i] = raw_connect(fx->sock);
  for (i = 0; i < 3; i++) {
    assert_int_equal(raw_read_eof(&fx->loop, extra[i], &cap, 1000), 0);
    assert_int_equal(cap.len, 0);
    close(extra[i]);
  }
  for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
    assert_true(raw_pending(held[i]));

  /* a slot holder is served even at the limit */
  raw_send(held[0], "status\n", 7);
  assert_int_equal(raw_read_eof(&fx->loop, held[0], &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, text_answer);
  close(held[0]);
  /* its slot is free again */
  fd = raw_connect(fx->sock);
  raw_send(fd, "status json\n", 12);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, json_answer);
  close(fd);

  /* the stalled ones are closed by their 2 s timers, without an answer */
  raw_send(held[1], "sta", 3);
  for (i = 1; i < CONTROL_MAX_CLIENTS; i++) {
    assert_int_equal(raw_read_eof(&fx->loop, held[i], &cap, 5000), 0);
    assert_int_equal(cap.len, 0);
    close(held[i]);
  }
  t1 = now_ms();
  assert_true(t1 - t0 >= 1900);
  assert_true(t1 - t0 < 5000);

  fd = raw_connect(fx->sock);
  raw_send(fd, "status\n", 7);
  assert_int_equal(raw_read_eof(&fx->loop, fd, &cap, DEADLINE_MS), 0);
  assert_string_equal(cap.buf, text_answer);
  close(fd);
  close_control(fx, c);
}

/* Closing with clients connected, one of them waiting for a slot,
 * releases every handle and removes the socket file. */
static void test_close_unlinks(void **state) {
  struct fx *fx = *state;
  struct control *c = open_control(fx);
  int fds[CONTROL_MAX_CLIENTS + 2], i;
  struct stat st;
  struct cap cap;

  for (i = 0; i < CONTROL_MAX_CLIENTS + 2; i++)
    fds[i] = raw_connect(fx->sock);
  for (i = 0; i < 4; i++)
    uv_run(&fx->loop, UV_RUN_NOWAIT);
  assert_int_equal(lstat(fx->sock, &st), 0);
  close_control(fx, c);
  assert_int_equal(lstat(fx->sock, &st), -1);
  assert_int_equal(errno, ENOENT);
  for (i = 0; i < CONTROL_MAX_CLIENTS + 2; i++) {
    assert_int_equal(raw_read_eof(&fx->loop, fds[i], &cap, 1000), 0);
    assert_int_equal(cap.len, 0);
    close(fds[i]);
  }

  /* a successor's socket at the same path is not ours to remove */
  c = open_control(fx);
  assert_int_equal(unlink(fx->sock), 0);
  {
    struct control *c2 = NULL;

    assert_int_equal(
        control_open(&c2, &fx->loop, fx->sock, fake_status, &fx->fake), 0);
    control_close(c);
    assert_int_equal(lstat(fx->sock, &st), 0);
    control_close(c2);
    assert_int_equal(lstat(fx->sock, &st), -1);
  }
  drain_loop(&fx->loop);
  assert_false(uv_loop_alive(&fx->loop));
}

/* --- jvpn-quic events ----------------------------------------------------- */

static void write_file(const char *path, const char *text, int flags) {
  int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static void write_lines(const char *path, int from, int to) {
  char line[64];
  int i;

  for (i = from; i <= to; i++) {
    snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
    write_file(path, line, O_APPEND);
  }
}

static void test_events_tail(void **state) {
  struct fx *fx = *state;
  char *argv3[] = {"events", "-f", fx->file, "-n", "3", NULL};
  char *argv_def[] = {"events", "--file", fx->file, NULL};
  char *argv0[] = {"events", "-f", fx->file, "-n0", NULL};
  char *argv_all[] = {"events", "-f", fx->file, "--lines=100", NULL};
  char *argv2[] = {"events", "-f", fx->file, "-n", "2", NULL};
  char *argv_env[] = {"events", "-n", "1", NULL};
  char *argv_badn[] = {"events", "-f", fx->file, "-n", "x", NULL};
  char *argv_badn2[] = {"events", "-f", fx->file, "-n", "-3", NULL};
  char missing[128];
  char *argv_missing[] = {"events", "-f", missing, NULL};
  char expect[1024];
  struct child ch;
  int i;

  write_lines(fx->file, 1, 15);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv3), 0);
  assert_string_equal(ch.co.buf, "{\"n\":13}\n{\"n\":14}\n{\"n\":15}\n");

  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_def), 0);
  expect[0] = '\0';
  for (i = 6; i <= 15; i++)
    snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect),
             "{\"n\":%d}\n", i);
  assert_string_equal(ch.co.buf, expect);

  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv0), 0);
  assert_int_equal(ch.co.len, 0);

  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_all), 0);
  assert_int_equal(ch.co.len, 9 * 8 + 6 * 9);
  assert_memory_equal(ch.co.buf, "{\"n\":1}\n{\"n\":2}\n", 16);

  /* the file may end inside a line: it counts as the last one */
  write_file(fx->file, "a\nb\nc", O_TRUNC);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv2), 0);
  assert_string_equal(ch.co.buf, "b\nc");
  write_file(fx->file, "", O_TRUNC);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv2), 0);
  assert_int_equal(ch.co.len, 0);
  /* empty lines are lines */
  write_file(fx->file, "a\n\n\n", O_TRUNC);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv2), 0);
  assert_string_equal(ch.co.buf, "\n\n");

  write_file(fx->file, "x\ny\n", O_TRUNC);
  setenv("JVPN_AUDIT_LOG", fx->file, 1);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_env), 0);
  assert_string_equal(ch.co.buf, "y\n");
  unsetenv("JVPN_AUDIT_LOG");
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_env), 2);
  assert_non_null(strstr(ch.ce.buf, "JVPN_AUDIT_LOG"));

  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_badn), 2);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_badn2), 2);
  snprintf(missing, sizeof(missing), "%s/none.log", fx->dir);
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv_missing), 1);
  assert_non_null(strstr(ch.ce.buf, "cannot open"));
}

/* Lines spanning the 64 KiB read chunks backwards. */
static void test_events_tail_large(void **state) {
  struct fx *fx = *state;
  char *argv[] = {"events", "-f", fx->file, "-n", "400", NULL};
  char line[64], expect[16384];
  size_t el = 0;
  struct child ch;
  FILE *f = fopen(fx->file, "w");
  int i;

  assert_non_null(f);
  for (i = 0; i < 6000; i++) {
    /* 30 bytes a line: 180,000 bytes, several chunks */
    int n =
        snprintf(line, sizeof(line), "{\"n\":%06d,\"pad\":\"xxxxxxxx\"}\n", i);

    assert_int_equal(n, 30);
    fputs(line, f);
    if (i >= 6000 - 400) {
      memcpy(expect + el, line, 30);
      el += 30;
    }
  }
  fclose(f);
  expect[el] = '\0';
  assert_int_equal(run_cmd(&ch, NULL, jvpn_cmd_events, argv), 0);
  assert_int_equal(ch.co.len, el);
  assert_string_equal(ch.co.buf, expect);
}

static void test_events_follow(void **state) {
  struct fx *fx = *state;
  char *argv[] = {"events", "-f", fx->file, "-n", "2", "--follow", NULL};
  char rotated[160];
  struct child ch;
  int status;
  int64_t deadline;

  write_lines(fx->file, 1, 5);
  spawn(&ch, jvpn_cmd_events, argv);
  assert_int_equal(child_wait_for(&ch, "{\"n\":5}\n"), 0);
  assert_string_equal(ch.co.buf, "{\"n\":4}\n{\"n\":5}\n");

  write_lines(fx->file, 6, 7);
  assert_int_equal(child_wait_for(&ch, "{\"n\":7}\n"), 0);
  assert_string_equal(ch.co.buf,
                      "{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n");

  /* truncated in place: printed again from the start */
  write_file(fx->file, "t1\n", O_TRUNC);
  assert_int_equal(child_wait_for(&ch, "t1\n"), 0);

  /* rotated: the old file's last lines, then the new file's */
  snprintf(rotated, sizeof(rotated), "%s.1", fx->file);
  assert_int_equal(rename(fx->file, rotated), 0);
  write_file(rotated, "old\n", O_APPEND);
  write_file(fx->file, "new1\n", O_TRUNC);
  assert_int_equal(child_wait_for(&ch, "new1\n"), 0);
  assert_non_null(strstr(ch.co.buf, "t1\nold\nnew1\n"));
  write_file(fx->file, "new2\n", O_APPEND);
  assert_int_equal(child_wait_for(&ch, "new2\n"), 0);
  assert_non_null(strstr(ch.ce.buf, "truncated"));

  assert_int_equal(kill(ch.pid, SIGTERM), 0);
  deadline = now_ms() + DEADLINE_MS;
  while (waitpid(ch.pid, &status, WNOHANG) != ch.pid) {
    if (now_ms() > deadline) {
      child_kill(&ch);
      fail_msg("events --follow did not stop on SIGTERM");
    }
    child_step(&ch, NULL);
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_string_equal(ch.co.buf, "{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n"
                                 "t1\nold\nnew1\nnew2\n");
  if (ch.out >= 0)
    close(ch.out);
  if (ch.err >= 0)
    close(ch.err);
}

/* A file that appears only after the command started. */
static void test_events_follow_waits(void **state) {
  struct fx *fx = *state;
  char *argv[] = {"events", "-F", "-f", fx->file, NULL};
  struct child ch;
  int status;
  int64_t deadline = now_ms() + DEADLINE_MS;

  spawn(&ch, jvpn_cmd_events, argv);
  while (strstr(ch.ce.buf, "waiting") == NULL) {
    if (now_ms() > deadline) {
      child_kill(&ch);
      fail_msg("no waiting note: %s", ch.ce.buf);
    }
    child_step(&ch, NULL);
  }
  write_file(fx->file, "first\n", 0);
  assert_int_equal(child_wait_for(&ch, "first\n"), 0);
  assert_int_equal(kill(ch.pid, SIGINT), 0);
  status = child_wait(&ch, NULL);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_string_equal(ch.co.buf, "first\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_status_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_big_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_daemon_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_status_no_daemon, setup, teardown),
      cmocka_unit_test_setup_teardown(test_socket_in_use_and_stale, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_open_refuses_bad_paths, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_many_clients, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_unlinks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_events_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(test_events_tail_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_events_follow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_events_follow_waits, setup,
                                      teardown),
  };

  jvpn_log_set_level(JVPN_LOG_ERROR); /* the refusals below are expected */
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
