/*
 * jvpn-quic: the control socket of a running daemon, on its libuv loop.
 *
 * Choices the contract leaves open:
 * - A request line is at most CONTROL_REQ_MAX bytes with its '\n'; a '\r'
 *   before the '\n' is tolerated (nc -C). Bytes after the line are ignored.
 * - Connection slots live inside struct control: nothing is allocated per
 *   client. Past CONTROL_MAX_CLIENTS a connection is accepted into a spare
 *   handle and closed at once. While that spare is still closing, the next
 *   one waits in the kernel backlog: libuv stops watching the listener
 *   until uv_accept() runs, which a close callback then does.
 * - One timer per connection bounds its whole life (reading the request
 *   and writing the answer) to CONTROL_IDLE_MS.
 * - The socket is bound with plain system calls and handed to libuv with
 *   uv_pipe_open(), so a failing control_open() has no handle to close
 *   (except after uv_pipe_open() itself, which does not fail in practice).
 *   libuv then does not unlink the path; control_close() does, and only if
 *   the file there is still ours (same device and inode).
 * - An existing path that is not a socket is never removed: EXISTS.
 */
#include "src/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"

#define CONTROL_REQ_MAX 64   /* bytes, '\n' included */
#define CONTROL_IDLE_MS 2000 /* ms a client has for its whole exchange */
#define CONTROL_BACKLOG 16   /* connections queued in the kernel */

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

static const char bad_request[] = "error: bad request\n";

enum conn_state { CONN_FREE, CONN_READING, CONN_WRITING, CONN_CLOSING };

struct control_conn {
  uv_pipe_t pipe;
  uv_timer_t timer_idle;
  uv_write_t wreq;
  struct control *ctl;
  enum conn_state state;
  int open_handles; /* of pipe and timer_idle, until both closed */
  size_t req_len;
  char req[CONTROL_REQ_MAX];
  char *answer; /* from the status callback, freed when the slot is */
  char errline[96];
};

struct control {
  uv_loop_t *loop;
  uv_pipe_t server;
  uv_pipe_t refuse; /* takes connections past the limit, to close them */
  int refuse_busy;
  int accept_pending; /* libuv holds a connection we had no handle for */
  int closing;
  int open_units; /* server, refuse and busy slots; free at 0 if closing */
  control_status_fn fn;
  void *user;
  dev_t dev; /* of the socket file we bound, to unlink only ours */
  ino_t ino;
  struct control_conn conns[CONTROL_MAX_CLIENTS];
  char path[SUN_PATH_MAX];
};

static void accept_one(struct control *c);
static void on_connection(uv_stream_t *server, int status);

static void control_release(struct control *c) {
  c->open_units--;
  if (c->closing) {
    if (c->open_units == 0)
      free(c);
    return;
  }
  if (c->accept_pending) {
    c->accept_pending = 0;
    accept_one(c);
  }
}

static void on_conn_closed(uv_handle_t *h) {
  struct control_conn *cc = h->data;

  if (--cc->open_handles > 0)
    return;
  free(cc->answer);
  cc->answer = NULL;
  cc->state = CONN_FREE;
  control_release(cc->ctl);
}

static void conn_close(struct control_conn *cc) {
  if (cc->state == CONN_FREE || cc->state == CONN_CLOSING)
    return;
  cc->state = CONN_CLOSING;
  uv_close((uv_handle_t *)&cc->pipe, on_conn_closed);
  uv_close((uv_handle_t *)&cc->timer_idle, on_conn_closed);
}

static void on_written(uv_write_t *req, int status) {
  (void)status; /* the connection ends either way */
  conn_close(req->data);
}

static void conn_write(struct control_conn *cc, char *base, size_t len) {
  uv_buf_t buf = uv_buf_init(base, (unsigned int)len);
  int rv;

  (void)uv_read_stop((uv_stream_t *)&cc->pipe); /* one request only */
  if (len == 0) {
    conn_close(cc);
    return;
  }
  cc->state = CONN_WRITING;
  cc->wreq.data = cc;
  rv = uv_write(&cc->wreq, (uv_stream_t *)&cc->pipe, &buf, 1, on_written);
  if (rv < 0)
    conn_close(cc);
}

static void conn_request(struct control_conn *cc, size_t line_len) {
  struct control *c = cc->ctl;
  size_t n = line_len, len = 0;
  char *out = NULL;
  int json, rv;

  if (n > 0 && cc->req[n - 1] == '\r')
    n--;
  if (n == 6 && memcmp(cc->req, "status", 6) == 0)
    json = 0;
  else if (n == 11 && memcmp(cc->req, "status json", 11) == 0)
    json = 1;
  else {
    conn_write(cc, (char *)bad_request, sizeof(bad_request) - 1);
    return;
  }

  rv = c->fn(c->user, json, &out, &len);
  if (rv == 0 && len > CONTROL_ANSWER_MAX)
    rv = JVPN_ERR_OVERSIZE; /* more than "status" would accept */
  if (rv == 0 && (out != NULL || len == 0)) {
    cc->answer = out;
    conn_write(cc, out, len);
    return;
  }
  free(out);
  if (rv == 0)
    rv = JVPN_ERR_INVAL; /* a length without a buffer: our caller's bug */
  len = (size_t)snprintf(cc->errline, sizeof(cc->errline), "error: %s\n",
                         jvpn_strerror(rv));
  if (len >= sizeof(cc->errline))
    len = sizeof(cc->errline) - 1;
  conn_write(cc, cc->errline, len);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct control_conn *cc = h->data;

  (void)hint;
  /* never empty: a full buffer without '\n' is answered at once */
  buf->base = cc->req + cc->req_len;
  buf->len = sizeof(cc->req) - cc->req_len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct control_conn *cc = s->data;
  const char *nl;
  size_t start;

  (void)buf;
  if (cc->state != CONN_READING || nread == 0)
    return;
  if (nread < 0) {
    /* a request cut short by EOF still gets told why nothing happens */
    if (nread == UV_EOF && cc->req_len > 0)
      conn_write(cc, (char *)bad_request, sizeof(bad_request) - 1);
    else
      conn_close(cc);
    return;
  }
  start = cc->req_len;
  cc->req_len += (size_t)nread;
  nl = memchr(cc->req + start, '\n', (size_t)nread);
  if (nl != NULL)
    conn_request(cc, (size_t)(nl - cc->req));
  else if (cc->req_len == sizeof(cc->req))
    conn_write(cc, (char *)bad_request, sizeof(bad_request) - 1);
}

static void on_idle(uv_timer_t *t) {
  struct control_conn *cc = t->data;

  LOG_DEBUG("control", "closing a client that took over %d ms",
            CONTROL_IDLE_MS);
  conn_close(cc);
}

/* libuv stops watching the listener after a failed uv_accept(); listening
 * again re-arms it. */
static void accept_failed(struct control *c, int rv) {
  JVPN_LOG_RL(JVPN_LOG_WARN, "control", "cannot accept a client: %s",
              uv_strerror(rv));
  rv = uv_listen((uv_stream_t *)&c->server, CONTROL_BACKLOG, on_connection);
  if (rv < 0)
    LOG_ERR("control", "control socket %s stopped listening: %s", c->path,
            uv_strerror(rv));
}

static void on_refuse_closed(uv_handle_t *h) {
  struct control *c = h->data;

  c->refuse_busy = 0;
  control_release(c);
}

static void conn_start(struct control *c, struct control_conn *cc) {
  int rv;

  memset(cc, 0, sizeof(*cc));
  cc->ctl = c;
  (void)uv_pipe_init(c->loop, &cc->pipe, 0);     /* cannot fail on Unix */
  (void)uv_timer_init(c->loop, &cc->timer_idle); /* nor can this */
  cc->pipe.data = cc;
  cc->timer_idle.data = cc;
  cc->open_handles = 2;
  cc->state = CONN_READING;
  c->open_units++;
  rv = uv_accept((uv_stream_t *)&c->server, (uv_stream_t *)&cc->pipe);
  if (rv < 0) {
    accept_failed(c, rv);
    conn_close(cc);
    return;
  }
  rv = uv_timer_start(&cc->timer_idle, on_idle, CONTROL_IDLE_MS, 0);
  if (rv == 0)
    rv = uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
  if (rv < 0)
    conn_close(cc);
}

static void accept_one(struct control *c) {
  size_t i;
  int rv;

  for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
    if (c->conns[i].state == CONN_FREE) {
      conn_start(c, &c->conns[i]);
      return;
    }
  }
  if (c->refuse_busy) {
    c->accept_pending = 1;
    return;
  }
  JVPN_LOG_RL(JVPN_LOG_WARN, "control",
              "refusing a client: %d already connected", CONTROL_MAX_CLIENTS);
  (void)uv_pipe_init(c->loop, &c->refuse, 0);
  c->refuse.data = c;
  c->refuse_busy = 1;
  c->open_units++;
  rv = uv_accept((uv_stream_t *)&c->server, (uv_stream_t *)&c->refuse);
  if (rv < 0)
    accept_failed(c, rv);
  uv_close((uv_handle_t *)&c->refuse, on_refuse_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  struct control *c = server->data;

  if (status < 0) {
    JVPN_LOG_RL(JVPN_LOG_WARN, "control", "accept failed: %s",
                uv_strerror(status));
    return;
  }
  if (!c->closing)
    accept_one(c);
}

static void on_server_closed(uv_handle_t *h) {
  control_release(h->data);
}

/* Creates the last component of the socket's directory, private. A
 * missing grandparent is the operator's to create: we do not guess. */
static int control_dir(const char *path) {
  char dir[SUN_PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n;
  struct stat st;

  if (slash == NULL || slash == path)
    return 0; /* the working directory, or "/" */
  n = (size_t)(slash - path);
  memcpy(dir, path, n);
  dir[n] = '\0';
  if (mkdir(dir, 0700) == 0) {
    LOG_INFO("control", "created %s (mode 0700)", dir);
    return 0;
  }
  if (errno != EEXIST) {
    if (errno == ENOENT)
      LOG_ERR("control", "cannot create %s: its parent does not exist", dir);
    else
      LOG_ERR("control", "cannot create %s: %m", dir);
    return JVPN_ERR_SYSTEM;
  }
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    LOG_ERR("control", "%s exists and is not a directory", dir);
    return JVPN_ERR_CONFIG;
  }
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
    LOG_WARN("control",
             "%s is writable by others, who could replace the control "
             "socket; use a directory of mode 0700",
             dir);
  return 0;
}

static void sun_fill(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, strlen(path)); /* length checked by callers */
}

/* A socket file nobody answers on is left by a daemon that died; one that
 * answers belongs to a daemon we must not take over from. */
static int control_clear_stale(const char *path) {
  struct sockaddr_un sa;
  struct stat st;
  int fd, rv, err;

  if (lstat(path, &st) != 0) {
    if (errno == ENOENT)
      return 0;
    LOG_ERR("control", "cannot check %s: %m", path);
    return JVPN_ERR_SYSTEM;
  }
  if (!S_ISSOCK(st.st_mode)) {
    LOG_ERR("control", "%s exists and is not a socket; not replacing it", path);
    return JVPN_ERR_EXISTS;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    LOG_ERR("control", "socket: %m");
    return JVPN_ERR_SYSTEM;
  }
  sun_fill(&sa, path);
  rv = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
  err = errno;
  (void)close(fd); /* a probe: nothing to flush */
  /* EAGAIN: a full backlog, so someone listens */
  if (rv == 0 || err == EAGAIN || err == EINPROGRESS) {
    LOG_ERR("control", "another daemon is running on this socket: %s", path);
    return JVPN_ERR_EXISTS;
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    LOG_ERR("control", "cannot check %s: %s", path, strerror(err));
    return JVPN_ERR_SYSTEM;
  }
  if (unlink(path) != 0 && errno != ENOENT) {
    LOG_ERR("control", "cannot remove the stale socket %s: %m", path);
    return JVPN_ERR_SYSTEM;
  }
  LOG_INFO("control", "replaced a stale socket at %s", path);
  return 0;
}

/* umask, not chmod after bind(): the file must never exist with a wider
 * mode, not even for a moment. umask is per process, so this runs before
 * any other thread could create files. */
static int control_bind(const char *path, int *pfd, struct stat *st) {
  struct sockaddr_un sa;
  mode_t old;
  int fd, rv, err;

  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    LOG_ERR("control", "socket: %m");
    return JVPN_ERR_SYSTEM;
  }
  sun_fill(&sa, path);
  old = umask(0177);
  rv = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  err = errno;
  umask(old);
  if (rv != 0) {
    LOG_ERR("control", "cannot bind %s: %s", path, strerror(err));
    (void)close(fd);
    return err == EADDRINUSE ? JVPN_ERR_EXISTS : JVPN_ERR_SYSTEM;
  }
  if (listen(fd, CONTROL_BACKLOG) != 0 || lstat(path, st) != 0) {
    LOG_ERR("control", "cannot listen on %s: %m", path);
    (void)close(fd);
    (void)unlink(path);
    return JVPN_ERR_SYSTEM;
  }
  *pfd = fd;
  return 0;
}

static void control_unlink(struct control *c) {
  struct stat st;

  if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
    (void)unlink(c->path); /* best effort: the next start replaces it */
}

int control_open(struct control **pc, uv_loop_t *loop, const char *path,
                 control_status_fn fn, void *user) {
  struct control *c;
  struct stat st;
  size_t n;
  int fd = -1, rv;

  if (pc == NULL)
    return JVPN_ERR_INVAL;
  *pc = NULL;
  if (loop == NULL || path == NULL || fn == NULL)
    return JVPN_ERR_INVAL;
  n = strlen(path);
  if (n == 0 || n >= SUN_PATH_MAX || path[n - 1] == '/') {
    LOG_ERR("control", "unusable socket path (at most %zu bytes): %s",
            SUN_PATH_MAX - 1, path);
    return JVPN_ERR_CONFIG;
  }
  rv = control_dir(path);
  if (rv == 0)
    rv = control_clear_stale(path);
  if (rv == 0)
    rv = control_bind(path, &fd, &st);
  if (rv < 0)
    return rv;

  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    rv = JVPN_ERR_NOMEM;
    goto fail_socket;
  }
  c->loop = loop;
  c->fn = fn;
  c->user = user;
  c->dev = st.st_dev;
  c->ino = st.st_ino;
  memcpy(c->path, path, n + 1);
  (void)uv_pipe_init(loop, &c->server, 0); /* cannot fail on Unix */
  c->server.data = c;
  c->open_units = 1;
  rv = uv_pipe_open(&c->server, fd);
  if (rv < 0) {
    LOG_ERR("control", "cannot watch %s: %s", path, uv_strerror(rv));
    goto fail_handle;
  }
  fd = -1; /* the handle owns it now */
  rv = uv_listen((uv_stream_t *)&c->server, CONTROL_BACKLOG, on_connection);
  if (rv < 0) {
    LOG_ERR("control", "cannot listen on %s: %s", path, uv_strerror(rv));
    goto fail_handle;
  }
  LOG_INFO("control", "control socket at %s", path);
  *pc = c;
  return 0;

fail_handle:
  /* the handle is in the loop: it goes away in its close callback */
  c->closing = 1;
  control_unlink(c);
  uv_close((uv_handle_t *)&c->server, on_server_closed);
  if (fd >= 0)
    (void)close(fd);
  return JVPN_ERR_SYSTEM;
fail_socket:
  (void)close(fd);
  (void)unlink(path);
  return rv;
}

void control_close(struct control *c) {
  size_t i;

  if (c == NULL || c->closing)
    return;
  c->closing = 1;
  control_unlink(c);
  for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
    conn_close(&c->conns[i]);
  /* also drops a connection libuv accepted and we had not taken yet */
  uv_close((uv_handle_t *)&c->server, on_server_closed);
}
