/* interop/interop_parse: case names, URLs and hq-interop request lines. */
#include "interop/interop_parse.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "jvpn/errors.h"

static const char *const case_names[] = {
    [IC_HANDSHAKE] = "handshake",
    [IC_TRANSFER] = "transfer",
    [IC_RETRY] = "retry",
    [IC_RESUMPTION] = "resumption",
    [IC_ZERORTT] = "zerortt",
    [IC_HTTP3] = "http3",
    [IC_MULTICONNECT] = "multiconnect",
    [IC_CHACHA20] = "chacha20",
    [IC_KEYUPDATE] = "keyupdate",
    [IC_V2] = "v2",
    [IC_REBIND_PORT] = "rebind-port",
    [IC_REBIND_ADDR] = "rebind-addr",
    [IC_CONNECTIONMIGRATION] = "connectionmigration",
    [IC_TRANSFERLOSS] = "transferloss",
    [IC_HANDSHAKELOSS] = "handshakeloss",
    [IC_AMPLIFICATIONLIMIT] = "amplificationlimit",
    [IC_BLACKHOLE] = "blackhole",
    [IC_ECN] = "ecn",
    [IC_DATAGRAM] = "datagram",
};

int interop_case_parse(const char *name) {
  size_t i;

  for (i = 0; i < sizeof(case_names) / sizeof(case_names[0]); i++)
    if (strcmp(name, case_names[i]) == 0)
      return (int)i;
  return JVPN_ERR_UNSUPPORTED;
}

const char *interop_case_alpn(int tc, const char *env) {
  int h3 = tc == IC_HTTP3;

  if (env && env[0] != '\0') {
    if (strcmp(env, "h3") == 0)
      h3 = 1;
    else if (strcmp(env, "hq-interop") != 0)
      return NULL;
  }
  if (h3 && tc == IC_DATAGRAM)
    return NULL; /* our DATAGRAM echo has no HTTP/3 mapping */
  return h3 ? "h3" : "hq-interop";
}

static int copy_part(char *dst, size_t dstlen, const char *src, size_t len) {
  if (len >= dstlen)
    return JVPN_ERR_OVERSIZE;
  memcpy(dst, src, len);
  dst[len] = '\0';
  return 0;
}

/* "host:port" or "[v6]:port" ending at |end|. */
static int hostport(const char *s, const char *end, char *host,
                    size_t hostlen, uint16_t *port) {
  const char *h, *hend, *p;
  unsigned long v = 0;
  int rv;

  if (s < end && *s == '[') {
    h = s + 1;
    hend = memchr(h, ']', (size_t)(end - h));
    if (hend == NULL || hend + 1 >= end || hend[1] != ':')
      return JVPN_ERR_MALFORMED;
    p = hend + 2;
  } else {
    h = s;
    hend = NULL;
    for (p = s; p < end; p++)
      if (*p == ':')
        hend = p;
    if (hend == NULL)
      return JVPN_ERR_MALFORMED;
    p = hend + 1;
  }
  if (hend == h || p >= end || end - p > 5)
    return JVPN_ERR_MALFORMED;
  for (; p < end; p++) {
    if (*p < '0' || *p > '9')
      return JVPN_ERR_MALFORMED;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v == 0 || v > 65535)
    return JVPN_ERR_MALFORMED;
  rv = copy_part(host, hostlen, h, (size_t)(hend - h));
  if (rv != 0)
    return rv;
  *port = (uint16_t)v;
  return 0;
}

int interop_hostport_parse(const char *s, char *host, size_t hostlen,
                           uint16_t *port) {
  return hostport(s, s + strlen(s), host, hostlen, port);
}

int interop_sockaddr_parse(const char *s, struct sockaddr_storage *ss,
                           socklen_t *len) {
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  char host[INET6_ADDRSTRLEN];
  uint16_t port;

  memset(ss, 0, sizeof(*ss));
  if (interop_hostport_parse(s, host, sizeof(host), &port) != 0)
    return JVPN_ERR_MALFORMED;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(*v4);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(*v6);
    return 0;
  }
  memset(ss, 0, sizeof(*ss));
  return JVPN_ERR_MALFORMED;
}

int interop_url_parse(const char *url, char *host, size_t hostlen,
                      uint16_t *port, char *path, size_t pathlen) {
  static const char scheme[] = "https://";
  const char *a, *slash;
  int rv;

  if (strncmp(url, scheme, sizeof(scheme) - 1) != 0)
    return JVPN_ERR_MALFORMED;
  a = url + sizeof(scheme) - 1;
  slash = strchr(a, '/');
  if (slash == NULL)
    return JVPN_ERR_MALFORMED;
  rv = hostport(a, slash, host, hostlen, port);
  if (rv != 0)
    return rv;
  return copy_part(path, pathlen, slash, strlen(slash));
}

int interop_path_to_name(const char *path, size_t len, char *name,
                         size_t namelen) {
  size_t i;

  if (len < 2 || path[0] != '/')
    return JVPN_ERR_MALFORMED;
  path++;
  len--;
  if (len > INTEROP_NAME_MAX)
    return JVPN_ERR_OVERSIZE;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)path[i];

    /* Printable ASCII only: no NUL, no control bytes in a file name. */
    if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
      return JVPN_ERR_MALFORMED;
    /* No escape from --www: ".." anywhere, an absolute or empty part. */
    if (ch == '.' && i + 1 < len && path[i + 1] == '.')
      return JVPN_ERR_MALFORMED;
    if (ch == '/' && (i == 0 || path[i - 1] == '/' || i + 1 == len))
      return JVPN_ERR_MALFORMED;
  }
  return copy_part(name, namelen, path, len);
}

int interop_hq_request_parse(const uint8_t *data, size_t len, int fin,
                             char *name, size_t namelen) {
  const char *s = (const char *)data;
  size_t end;

  if (len >= 4 && memcmp(s, "GET ", 4) != 0)
    return JVPN_ERR_MALFORMED;
  if (len < 4)
    return fin ? JVPN_ERR_MALFORMED : JVPN_ERR_AGAIN;
  for (end = 4; end < len && s[end] != '\r' && s[end] != '\n'; end++)
    ;
  if (end == len && !fin)
    return len > INTEROP_REQ_MAX ? JVPN_ERR_OVERSIZE : JVPN_ERR_AGAIN;
  if (end > INTEROP_REQ_MAX)
    return JVPN_ERR_OVERSIZE;
  /* "GET /path HTTP/1.0" from lenient clients: the first word counts. */
  {
    const char *sp = memchr(s + 4, ' ', end - 4);

    if (sp)
      end = (size_t)(sp - s);
  }
  return interop_path_to_name(s + 4, end - 4, name, namelen);
}
