/*
 * tests/fuzz/fuzz_interop_parse: the text the interop endpoint takes from
 * the network and the runner (hq-interop request lines, request paths,
 * URLs, ADDR:PORT, test case names).
 *
 * The input is used as the bytes of a request stream and, NUL-terminated,
 * as each of the strings. What is accepted must hold up: a file name is
 * printable, has no ".." and no leading '/', and written back as a
 * request parses to itself; a request accepted at the end of the stream
 * was only ever "wait for more" or the same name on every shorter prefix;
 * a URL's path starts with '/'; a socket address has the length of its
 * family.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "interop/interop_parse.h"
#include "jvpn/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name, size_t cap) {
  size_t n = strnlen(name, cap), i;

  if (n == cap || n == 0 || name[0] == '/')
    abort();
  for (i = 0; i < n; i++)
    if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '\\')
      abort();
  if (strcmp(name, "..") == 0 || strncmp(name, "../", 3) == 0 ||
      strstr(name, "/../") != NULL ||
      (n >= 3 && strcmp(name + n - 3, "/..") == 0))
    abort();
}

static void check_request(const uint8_t *data, size_t size) {
  char name[INTEROP_NAME_MAX + 1], again[INTEROP_NAME_MAX + 1];
  char line[INTEROP_NAME_MAX + 16];
  size_t k;
  int rv, n;

  rv = interop_hq_request_parse(data, size, 1, name, sizeof(name));
  if (rv == JVPN_ERR_AGAIN)
    abort(); /* the stream has ended: nothing more can come */
  (void)interop_hq_request_parse(data, size, 0, again, sizeof(again));
  if (rv != 0)
    return;
  check_name(name, sizeof(name));
  n = snprintf(line, sizeof(line), "GET /%s\r\n", name);
  if (n < 0 || (size_t)n >= sizeof(line))
    abort();
  if (interop_hq_request_parse((const uint8_t *)line, (size_t)n, 0, again,
                               sizeof(again)) != 0 ||
      strcmp(again, name) != 0)
    abort();
  /* A stream that ends well never looked wrong on the way (prefixes at
   * growing strides: every one would cost quadratic time). */
  for (k = 0; k < size; k += 1 + k / 16) {
    rv = interop_hq_request_parse(data, k, 0, again, sizeof(again));
    if (rv == JVPN_ERR_AGAIN)
      continue;
    if (rv != 0 || strcmp(again, name) != 0)
      abort();
  }
}

static void check_strings(const char *s, size_t len) {
  char host[256], path[INTEROP_REQ_MAX + 1], name[INTEROP_NAME_MAX + 1];
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  uint16_t port = 0;
  int tc;

  if (interop_url_parse(s, host, sizeof(host), &port, path, sizeof(path)) ==
      0) {
    if (strnlen(host, sizeof(host)) == sizeof(host) ||
        strnlen(path, sizeof(path)) == sizeof(path) || path[0] != '/')
      abort();
  }
  if (interop_hostport_parse(s, host, sizeof(host), &port) == 0 &&
      strnlen(host, sizeof(host)) == sizeof(host))
    abort();
  if (interop_sockaddr_parse(s, &ss, &sl) == 0) {
    if (!(ss.ss_family == AF_INET && sl == sizeof(struct sockaddr_in)) &&
        !(ss.ss_family == AF_INET6 && sl == sizeof(struct sockaddr_in6)))
      abort();
  }
  if (interop_path_to_name(s, len, name, sizeof(name)) == 0)
    check_name(name, sizeof(name));
  tc = interop_case_parse(s);
  if (tc >= 0) {
    if (tc > IC_DATAGRAM)
      abort();
    (void)interop_case_alpn(tc, NULL);
    (void)interop_case_alpn(tc, "h3");
    (void)interop_case_alpn(tc, s);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s;

  if (size > 4 * INTEROP_REQ_MAX)
    return 0;
  check_request(data, size);
  s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  check_strings(s, strlen(s));
  free(s);
  return 0;
}
