/*
 * jvpn-quic: the "status" and "events" commands, plain blocking code
 * without a loop.
 *
 * Choices the contract leaves open:
 * - "status --json" with both default sockets prints one JSON object,
 *   {"server": ..., "client": ...}, with null for one that did not answer.
 * - "events" copies bytes, not lines, while following: the audit writer
 *   emits whole lines with one write(), so a reader sees whole lines.
 */
#include "src/ctl_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "src/cli.h"
#include "src/control.h"

#define STATUS_TIMEOUT_MS 5000 /* ms for the status command */
#define STATUS_SERVER_SOCK CONTROL_DEFAULT_DIR "/server.sock"
#define STATUS_CLIENT_SOCK CONTROL_DEFAULT_DIR "/client.sock"
#define EVENTS_POLL_MS 200       /* ms between looks at the file */
#define EVENTS_CHUNK (64 * 1024) /* bytes per read */
#define EVENTS_LINES_DEFAULT 10
#define EVENTS_LINES_MAX 10000000

/* --- command line helpers ------------------------------------------------- */

static int bad_arg(const char *usage, const char *arg) {
  return cli_usage_error(
      usage, arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
}

/* Matches argv[*i] against an option taking a value, spelled "-s V",
 * "-sV", "--socket V" or "--socket=V". Returns 1 with *val set (and *i
 * past the value), 0 for another argument, -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *shrt,
                     const char *lng, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(lng);

  if (strcmp(a, shrt) == 0 || strcmp(a, lng) == 0) {
    if (*i + 1 >= argc)
      return -1;
    *val = argv[++*i];
    return 1;
  }
  if (strncmp(a, lng, n) == 0 && a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (strncmp(a, shrt, 2) == 0 && a[2] != '\0' && a[1] != '-') {
    *val = a + 2;
    return 1;
  }
  return 0;
}

/* Writes to stdout. A reader that went away (events | head) is a normal
 * end, not an error: returns 1 for it, -1 for a real failure. */
static int out_write(const char *buf, size_t len) {
  if ((len > 0 && fwrite(buf, 1, len, stdout) != len) || fflush(stdout) != 0) {
    if (errno == EPIPE)
      return 1;
    fprintf(stderr, "jvpn-quic: cannot write to stdout: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_timeout(int fd, int opt, int64_t ms) {
  struct timeval tv;

  if (ms < 1)
    ms = 1; /* 0 would mean no timeout at all */
  tv.tv_sec = (time_t)(ms / 1000);
  tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
  (void)setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)); /* cannot fail */
}

/* --- jvpn-quic status ----------------------------------------------------- */

static const char status_usage[] =
    "usage: jvpn-quic status [--json] [-s SOCKET]\n"
    "  -s, --socket SOCKET  the daemon's control socket (default: both of\n"
    "                       " STATUS_SERVER_SOCK " and\n"
    "                       " STATUS_CLIENT_SOCK " that exist)\n"
    "      --json           print the status as JSON\n";

struct answer {
  char *buf;
  size_t len, cap;
};

static int answer_append(struct answer *a, const char *p, size_t n) {
  if (a->len + n > a->cap) {
    size_t cap = a->cap ? a->cap : 4096;
    char *nb;

    while (cap < a->len + n)
      cap *= 2;
    if (cap > CONTROL_ANSWER_MAX)
      return -1;
    nb = realloc(a->buf, cap);
    if (nb == NULL)
      return -1;
    a->buf = nb;
    a->cap = cap;
  }
  memcpy(a->buf + a->len, p, n);
  a->len += n;
  return 0;
}

static void status_connect_error(const char *path, int err) {
  switch (err) {
  case ECONNREFUSED:
    fprintf(stderr, "jvpn-quic: no jvpn-quic daemon at %s: %s\n", path,
            "connection refused");
    break;
  case ENOENT:
    fprintf(stderr, "jvpn-quic: no jvpn-quic daemon at %s: %s\n", path,
            "no such socket");
    break;
  case EACCES:
  case EPERM:
    fprintf(stderr,
            "jvpn-quic: cannot connect to %s: permission denied "
            "(run as the daemon's user or root)\n",
            path);
    break;
  case EAGAIN:
  case EINPROGRESS:
    fprintf(stderr,
            "jvpn-quic: the daemon at %s does not accept "
            "connections (timed out)\n",
            path);
    break;
  default:
    fprintf(stderr, "jvpn-quic: cannot connect to %s: %s\n", path,
            strerror(err));
  }
}

/* Asks the daemon at |path|. On success, |a| holds its answer; on failure
 * the reason is on stderr. Returns 0 or -1. */
static int status_query(const char *path, int json, struct answer *a) {
  static const char req_text[] = "status\n", req_json[] = "status json\n";
  const char *req = json ? req_json : req_text;
  size_t req_len = json ? sizeof(req_json) - 1 : sizeof(req_text) - 1;
  int64_t deadline = now_ms() + STATUS_TIMEOUT_MS;
  struct sockaddr_un sa;
  char buf[4096];
  size_t off = 0;
  int fd, rv = -1;

  if (strlen(path) >= sizeof(sa.sun_path)) {
    fprintf(stderr, "jvpn-quic: socket path too long: %s\n", path);
    return -1;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "jvpn-quic: socket: %s\n", strerror(errno));
    return -1;
  }
  /* a full backlog makes connect() wait up to the send timeout */
  set_timeout(fd, SO_SNDTIMEO, STATUS_TIMEOUT_MS);
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path)); /* length checked above */
  while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    if (errno != EINTR) {
      status_connect_error(path, errno);
      goto out;
    }
  }
  while (off < req_len) {
    ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, "jvpn-quic: cannot send to %s: %s\n", path,
              strerror(errno));
      goto out;
    }
    off += (size_t)n;
  }
  for (;;) {
    int64_t left = deadline - now_ms();
    ssize_t n;

    if (left <= 0) {
      errno = EAGAIN;
      n = -1;
    } else {
      set_timeout(fd, SO_RCVTIMEO, left);
      n = recv(fd, buf, sizeof(buf), 0);
    }
    if (n == 0)
      break;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      fprintf(stderr, "jvpn-quic: no answer from the daemon at %s in %d s\n",
              path, STATUS_TIMEOUT_MS / 1000);
      goto out;
    }
    if (n < 0) {
      fprintf(stderr, "jvpn-quic: cannot read from %s: %s\n", path,
              strerror(errno));
      goto out;
    }
    if (answer_append(a, buf, (size_t)n) < 0) {
      fprintf(stderr, "jvpn-quic: the answer from %s exceeds %d bytes\n", path,
              CONTROL_ANSWER_MAX);
      goto out;
    }
  }
  if (a->len == 0) {
    fprintf(stderr,
            "jvpn-quic: the daemon at %s closed the connection "
            "without answering (too many clients?)\n",
            path);
    goto out;
  }
  if (a->len >= 7 && memcmp(a->buf, "error: ", 7) == 0) {
    int n = (int)(a->len < 200 ? a->len : 200);

    while (n > 0 && a->buf[n - 1] == '\n')
      n--;
    fprintf(stderr, "jvpn-quic: the daemon at %s answered: %.*s\n", path, n,
            a->buf);
    goto out;
  }
  rv = 0;
out:
  (void)close(fd); /* nothing left to send */
  return rv;
}

/* Prints the answer from |path|, after |heading| if not NULL. Returns 0,
 * or 1 when the daemon did not answer or stdout failed. */
static int status_print(const char *path, int json, const char *heading) {
  struct answer a = {NULL, 0, 0};
  int rv = 1;

  if (status_query(path, json, &a) < 0)
    goto out;
  if (heading != NULL && out_write(heading, strlen(heading)) != 0)
    goto out;
  if (out_write(a.buf, a.len) != 0)
    goto out;
  if (a.buf[a.len - 1] != '\n' && out_write("\n", 1) != 0)
    goto out;
  rv = 0;
out:
  free(a.buf);
  return rv;
}

/* Both daemons as one JSON document: headings would break parsers. */
static int status_print_both_json(const char *server, const char *client) {
  const char *paths[2] = {server, client};
  const char *keys[2] = {"{\"server\": ", ",\n \"client\": "};
  int i, rv = 0;

  for (i = 0; i < 2; i++) {
    struct answer a = {NULL, 0, 0};
    size_t len = 0;
    int wr;

    if (out_write(keys[i], strlen(keys[i])) != 0)
      return 1;
    if (status_query(paths[i], 1, &a) == 0) {
      for (len = a.len; len > 0 && a.buf[len - 1] == '\n'; len--)
        ;
      wr = out_write(a.buf, len);
    } else {
      rv = 1;
      wr = out_write("null", 4);
    }
    free(a.buf);
    if (wr != 0)
      return 1;
  }
  return out_write("}\n", 2) != 0 ? 1 : rv;
}

int jvpn_cmd_status(int argc, char **argv) {
  const char *server = STATUS_SERVER_SOCK, *client = STATUS_CLIENT_SOCK;
  const char *sock = NULL;
  struct stat st;
  int i, json = 0, have_server, have_client, rv;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(status_usage, stdout);
      return 0;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if ((rv = opt_value(argc, argv, &i, "-s", "--socket", &sock))) {
      if (rv < 0)
        return cli_usage_error(status_usage, "--socket needs a value", NULL);
    } else {
      return bad_arg(status_usage, a);
    }
  }
  if (sock != NULL) {
    if (sock[0] == '\0')
      return cli_usage_error(status_usage, "empty socket path", NULL);
    return status_print(sock, json, NULL);
  }

  have_server = lstat(server, &st) == 0;
  have_client = lstat(client, &st) == 0;
  if (have_server && have_client) {
    if (json)
      return status_print_both_json(server, client);
    rv = status_print(server, 0, "== server (" STATUS_SERVER_SOCK ") ==\n");
    if (out_write("\n", 1) != 0)
      return 1;
    if (status_print(client, 0, "== client (" STATUS_CLIENT_SOCK ") ==\n"))
      rv = 1;
    return rv;
  }
  if (!have_server && !have_client) {
    fprintf(stderr,
            "jvpn-quic: no jvpn-quic daemon: neither %s nor %s "
            "exists (use -s SOCKET)\n",
            server, client);
    return 1;
  }
  return status_print(have_server ? server : client, json, NULL);
}

/* --- jvpn-quic events ----------------------------------------------------- */

static const char events_usage[] =
    "usage: jvpn-quic events [-f FILE] [-n N] [--follow]\n"
    "  -f, --file FILE  the audit log (default: $JVPN_AUDIT_LOG)\n"
    "  -n, --lines N    print the last N lines first (default 10)\n"
    "  -F, --follow     keep printing lines as they are appended, across\n"
    "                   rotation and truncation, until interrupted\n";

static volatile sig_atomic_t events_stop;

static void on_stop_signal(int sig) {
  (void)sig;
  events_stop = 1;
}

struct events_file {
  const char *path;
  int fd; /* -1 while the file does not exist */
  dev_t dev;
  ino_t ino;
  off_t off; /* next byte to print */
  char *buf; /* EVENTS_CHUNK bytes */
};

/* Returns the offset where the last |n| lines of the first |size| bytes
 * start, reading backwards one chunk at a time, or -1 on a read error. */
static off_t events_tail(struct events_file *ef, off_t size, long n) {
  off_t end = size;
  long seen = 0;

  if (n == 0)
    return size;
  while (end > 0) {
    off_t start = end > EVENTS_CHUNK ? end - EVENTS_CHUNK : 0;
    ssize_t got = pread(ef->fd, ef->buf, (size_t)(end - start), start);
    ssize_t k;

    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return -1;
    /* a short read means the file shrank: the rest is gone anyway */
    for (k = got - 1; k >= 0; k--) {
      off_t at = start + k;

      /* the '\n' ending the last line starts no further line */
      if (ef->buf[k] == '\n' && at != size - 1 && ++seen == n)
        return at + 1;
    }
    end = start;
  }
  return 0;
}

/* Prints from ef->off to the end of the file. Returns 0, 1 when stdout's
 * reader left, -1 on an error (reported). */
static int events_copy(struct events_file *ef) {
  for (;;) {
    ssize_t got;
    int rv;

    if (events_stop)
      return 0;
    got = pread(ef->fd, ef->buf, EVENTS_CHUNK, ef->off);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      fprintf(stderr, "jvpn-quic: cannot read %s: %s\n", ef->path,
              strerror(errno));
      return -1;
    }
    if (got == 0)
      return 0;
    rv = out_write(ef->buf, (size_t)got);
    if (rv != 0)
      return rv;
    ef->off += got;
  }
}

static int events_open(struct events_file *ef) {
  struct stat st;

  ef->fd = open(ef->path, O_RDONLY | O_CLOEXEC);
  if (ef->fd < 0)
    return -1;
  if (fstat(ef->fd, &st) != 0) {
    (void)close(ef->fd); /* read-only */
    ef->fd = -1;
    return -1;
  }
  ef->dev = st.st_dev;
  ef->ino = st.st_ino;
  ef->off = 0;
  return 0;
}

/* One look at the file: switches to a new file at the path once the old
 * one is printed to its end, starts over after a truncation. */
static int events_poll(struct events_file *ef) {
  struct stat st;
  int rv;

  if (ef->fd < 0) {
    if (events_open(ef) < 0)
      return 0; /* not there yet */
    return events_copy(ef);
  }
  if (stat(ef->path, &st) == 0 &&
      (st.st_dev != ef->dev || st.st_ino != ef->ino)) {
    rv = events_copy(ef); /* lines written before the rotation */
    if (rv != 0)
      return rv;
    (void)close(ef->fd); /* read-only */
    if (events_open(ef) < 0)
      return 0; /* replaced again; the next look finds it */
    return events_copy(ef);
  }
  if (fstat(ef->fd, &st) == 0 && st.st_size < ef->off) {
    fprintf(stderr, "jvpn-quic: %s was truncated\n", ef->path);
    ef->off = 0;
  }
  return events_copy(ef);
}

static int events_follow(struct events_file *ef) {
  struct sigaction sa, old_int, old_term;
  struct timespec ts = {0, EVENTS_POLL_MS * 1000000L};
  int rv = 0;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal; /* no SA_RESTART: cut the sleep short */
  sigemptyset(&sa.sa_mask);
  events_stop = 0;
  (void)sigaction(SIGINT, &sa, &old_int); /* valid signals: cannot fail */
  (void)sigaction(SIGTERM, &sa, &old_term);
  if (ef->fd >= 0)
    rv = events_copy(ef);
  while (rv == 0 && !events_stop) {
    (void)nanosleep(&ts, NULL); /* EINTR is how a signal ends the wait */
    if (!events_stop)
      rv = events_poll(ef);
  }
  (void)sigaction(SIGINT, &old_int, NULL);
  (void)sigaction(SIGTERM, &old_term, NULL);
  return rv;
}

static int parse_lines(const char *s, long *n) {
  char *end;
  long v;

  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > EVENTS_LINES_MAX)
    return -1;
  *n = v;
  return 0;
}

int jvpn_cmd_events(int argc, char **argv) {
  struct events_file ef;
  const char *lines = NULL;
  long n = EVENTS_LINES_DEFAULT;
  int i, follow = 0, rv;
  struct stat st;
  off_t start;

  memset(&ef, 0, sizeof(ef));
  ef.fd = -1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(events_usage, stdout);
      return 0;
    } else if (strcmp(a, "--follow") == 0 || strcmp(a, "-F") == 0) {
      follow = 1;
    } else if ((rv = opt_value(argc, argv, &i, "-f", "--file", &ef.path))) {
      if (rv < 0)
        return cli_usage_error(events_usage, "--file needs a value", NULL);
    } else if ((rv = opt_value(argc, argv, &i, "-n", "--lines", &lines))) {
      if (rv < 0)
        return cli_usage_error(events_usage, "-n needs a value", NULL);
      if (parse_lines(lines, &n) < 0)
        return cli_usage_error(events_usage, "-n wants a number of lines",
                               lines);
    } else {
      return bad_arg(events_usage, a);
    }
  }
  if (ef.path == NULL)
    ef.path = getenv("JVPN_AUDIT_LOG");
  if (ef.path == NULL || ef.path[0] == '\0')
    return cli_usage_error(events_usage,
                           "-f FILE is required (or set JVPN_AUDIT_LOG)", NULL);

  ef.buf = malloc(EVENTS_CHUNK);
  if (ef.buf == NULL) {
    fprintf(stderr, "jvpn-quic: out of memory\n");
    return 1;
  }
  rv = 0;
  if (events_open(&ef) < 0) {
    if (!follow || errno != ENOENT) {
      fprintf(stderr, "jvpn-quic: cannot open %s: %s\n", ef.path,
              strerror(errno));
      rv = -1;
      goto out;
    }
    fprintf(stderr, "jvpn-quic: %s does not exist yet; waiting for it\n",
            ef.path);
  } else {
    start = fstat(ef.fd, &st) == 0 ? events_tail(&ef, st.st_size, n) : -1;
    if (start < 0) {
      fprintf(stderr, "jvpn-quic: cannot read %s: %s\n", ef.path,
              strerror(errno));
      rv = -1;
      goto out;
    }
    ef.off = start;
    if (!follow)
      rv = events_copy(&ef);
  }
  if (follow)
    rv = events_follow(&ef);
out:
  if (ef.fd >= 0)
    (void)close(ef.fd); /* read-only */
  free(ef.buf);
  return rv < 0 ? 1 : 0;
}
