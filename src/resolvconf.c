/*
 * src/resolvconf: the server's DNS configuration in /etc/resolv.conf (see
 * the header).
 */
#include "src/resolvconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jvpn/errors.h"

#define MAXNS 3     /* glibc reads the first three nameservers */
#define MAXSEARCH 6 /* ... and six search domains */

/* Reads all of |fd| from the start into a new NUL-terminated buffer. */
static int read_all(int fd, char **out, size_t *len) {
  char *buf = malloc(RESOLV_CONF_MAX + 1);
  size_t n = 0;
  ssize_t r;

  if (buf == NULL)
    return JVPN_ERR_NOMEM;
  while (n < RESOLV_CONF_MAX &&
         (r = pread(fd, buf + n, RESOLV_CONF_MAX - n, (off_t)n)) != 0) {
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(buf);
      return JVPN_ERR_SYSTEM;
    }
    n += (size_t)r;
  }
  if (n == RESOLV_CONF_MAX) {
    free(buf);
    return JVPN_ERR_OVERSIZE;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

/* Replaces the content of |fd| with |text|. */
static int write_all(int fd, const char *text, size_t len) {
  size_t n = 0;
  ssize_t w;

  while (n < len) {
    w = pwrite(fd, text + n, len - n, (off_t)n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return JVPN_ERR_SYSTEM;
    n += (size_t)w;
  }
  return ftruncate(fd, (off_t)len) == 0 ? 0 : JVPN_ERR_SYSTEM;
}

/* In place: when |text| is what a client wrote, it becomes the original
 * kept in it. Returns 1 when it did, else 0. */
static int unwrap(char *text, size_t *len) {
  size_t plen = strlen(RESOLV_CONF_ORIG), out = 0;
  char *line = text, *nl;

  if (strncmp(text, RESOLV_CONF_MARKER, strlen(RESOLV_CONF_MARKER)) != 0)
    return 0;
  for (; *line != '\0'; line = nl + 1) {
    nl = strchr(line, '\n');
    if (nl == NULL)
      break;
    if (strncmp(line, RESOLV_CONF_ORIG, plen) == 0) {
      size_t n = (size_t)(nl - line) - plen + 1;

      memmove(text + out, line + plen, n);
      out += n;
    }
  }
  text[out] = '\0';
  *len = out;
  return 1;
}

/* 1 when |path| is a link into systemd-resolved's run directory. */
static int owned_by_resolved(const char *path) {
  char target[PATH_MAX];
  ssize_t n = readlink(path, target, sizeof(target) - 1);

  if (n <= 0)
    return 0;
  target[n] = '\0';
  return strstr(target, "systemd/resolve") != NULL;
}

int resolv_conf_open(struct resolv_conf *rc, const char *path, char *why,
                     size_t whylen) {
  int rv;

  memset(rc, 0, sizeof(*rc));
  rc->fd = -1;
  if (owned_by_resolved(path)) {
    snprintf(why, whylen, "%s belongs to systemd-resolved", path);
    return JVPN_ERR_NOTFOUND;
  }
  rc->fd = open(path, O_RDWR | O_CLOEXEC);
  if (rc->fd < 0) {
    snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  rv = read_all(rc->fd, &rc->orig, &rc->orig_len);
  if (rv == 0 && unwrap(rc->orig, &rc->orig_len))
    rv = write_all(rc->fd, rc->orig, rc->orig_len); /* a crash's leftover */
  if (rv != 0) {
    snprintf(why, whylen, "cannot read %s: %s", path,
             rv == JVPN_ERR_OVERSIZE ? "too large" : strerror(errno));
    resolv_conf_close(rc);
    return rv;
  }
  return 0;
}

/* Appends |s| to |buf| (|*used| of |len|); 0 or JVPN_ERR_NOSPACE. */
static int put(char *buf, size_t len, size_t *used, const char *s) {
  size_t n = strlen(s);

  if (len - *used <= n)
    return JVPN_ERR_NOSPACE;
  memcpy(buf + *used, s, n + 1);
  *used += n;
  return 0;
}

/* The nameserver and search lines of |c|; how many servers in |*nservers|. */
static int our_lines(const struct cip_dns_config *c, char *buf, size_t len,
                     size_t *used, size_t *nservers) {
  char a[INET6_ADDRSTRLEN], line[INET6_ADDRSTRLEN + 16];
  size_t i, n = 0;
  int rv = 0;

  for (i = 0; i < c->nservers && n < MAXNS; i++) {
    const struct cip_dns_server *s = &c->servers[i];

    if (s->ip_version == 0 || !(s->transports & CIP_DNS_DO53) ||
        (s->port != 0 && s->port != 53))
      continue;
    inet_ntop(s->ip_version == 6 ? AF_INET6 : AF_INET, s->addr, a, sizeof(a));
    snprintf(line, sizeof(line), "nameserver %s\n", a);
    rv |= put(buf, len, used, line);
    n++;
  }
  if (c->nsearch > 0) {
    rv |= put(buf, len, used, "search");
    for (i = 0; i < c->nsearch && i < MAXSEARCH; i++) {
      rv |= put(buf, len, used, " ");
      rv |= put(buf, len, used, c->search[i]);
    }
    rv |= put(buf, len, used, "\n");
  }
  *nservers = n;
  return rv;
}

/* The original, each line behind RESOLV_CONF_ORIG. */
static int orig_lines(const struct resolv_conf *rc, char *buf, size_t len,
                      size_t *used) {
  const char *line = rc->orig, *nl;
  int rv = 0;

  while (*line != '\0') {
    nl = strchr(line, '\n');
    rv |= put(buf, len, used, RESOLV_CONF_ORIG);
    if (nl == NULL) {
      rv |= put(buf, len, used, line);
      rv |= put(buf, len, used, "\n");
      break;
    }
    if (len - *used <= (size_t)(nl - line) + 1)
      return JVPN_ERR_NOSPACE;
    memcpy(buf + *used, line, (size_t)(nl - line) + 1);
    *used += (size_t)(nl - line) + 1;
    buf[*used] = '\0';
    line = nl + 1;
  }
  return rv;
}

/* 1 when the file behind |fd| is no longer in any directory: another
 * program (resolvconf, a DHCP client) renamed a new one into its place. */
static int replaced(int fd) {
  struct stat st;

  return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

int resolv_conf_apply(struct resolv_conf *rc, const struct cip_dns_config *c) {
  size_t len = rc->orig_len * 2 + 4096, used = 0, n = 0;
  char *buf;
  int rv;

  if (rc->fd < 0)
    return JVPN_ERR_SYSTEM;
  if (replaced(rc->fd))
    return JVPN_ERR_EXISTS;
  buf = malloc(len);
  if (buf == NULL)
    return JVPN_ERR_NOMEM;
  buf[0] = '\0';
  rv = put(buf, len, &used, RESOLV_CONF_MARKER
           " (jvpn-quic client); the file as it was is kept below and put "
           "back when the client stops\n");
  rv |= our_lines(c, buf, len, &used, &n);
  rv |= orig_lines(rc, buf, len, &used);
  if (rv == 0 && n == 0) {
    free(buf);
    (void)resolv_conf_restore(rc);
    return JVPN_ERR_NOTFOUND;
  }
  if (rv == 0)
    rv = write_all(rc->fd, buf, used);
  free(buf);
  if (rv == 0)
    rc->written = 1;
  return rv != 0 ? JVPN_ERR_SYSTEM : 0;
}

int resolv_conf_restore(struct resolv_conf *rc) {
  if (rc->fd < 0 || !rc->written)
    return 0;
  if (replaced(rc->fd)) { /* what is there now is not ours to change */
    rc->written = 0;
    return 0;
  }
  if (write_all(rc->fd, rc->orig, rc->orig_len) != 0)
    return JVPN_ERR_SYSTEM;
  rc->written = 0;
  return 0;
}

void resolv_conf_close(struct resolv_conf *rc) {
  (void)resolv_conf_restore(rc);
  if (rc->fd >= 0)
    close(rc->fd);
  rc->fd = -1;
  free(rc->orig);
  rc->orig = NULL;
}

int resolv_conf_recover(const char *path) {
  char *text;
  size_t len;
  int rv, fd;

  if (owned_by_resolved(path))
    return 0;
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : JVPN_ERR_SYSTEM;
  rv = read_all(fd, &text, &len);
  if (rv == 0) {
    rv = unwrap(text, &len);
    if (rv == 1 && write_all(fd, text, len) != 0)
      rv = JVPN_ERR_SYSTEM;
    free(text);
  }
  close(fd);
  return rv;
}
