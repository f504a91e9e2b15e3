/* tests/tools/tool_util: see tool_util.h. */
#include "tests/tools/tool_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

uint64_t tool_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tool_sleep_until(uint64_t ns, const volatile sig_atomic_t *stop) {
  struct timespec ts;

  ts.tv_sec = (time_t)(ns / 1000000000u);
  ts.tv_nsec = (long)(ns % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
         !*stop)
    ;
}

int tool_parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int tool_parse_seconds(const char *s, double max, uint64_t *ns) {
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > max)
    return -1;
  *ns = (uint64_t)(v * 1e9);
  return 0;
}

int tool_parse_endpoint(const char *s, struct sockaddr_storage *ss,
                        socklen_t *len) {
  char host[INET6_ADDRSTRLEN + 2];
  const char *colon;
  size_t hlen;
  long port;

  memset(ss, 0, sizeof(*ss));
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');

    if (rb == NULL || rb[1] != ':')
      return -1;
    hlen = (size_t)(rb - s - 1);
    colon = rb + 1;
    s++;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL)
      return -1;
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0 || hlen >= sizeof(host) ||
      tool_parse_long(colon + 1, 1, 65535, &port) != 0)
    return -1;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
    ((struct sockaddr_in *)ss)->sin_family = AF_INET;
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    *len = sizeof(struct sockaddr_in);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) ==
      1) {
    ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    *len = sizeof(struct sockaddr_in6);
    return 0;
  }
  return -1;
}
