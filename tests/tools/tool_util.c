/* tests/tools/tool_util: see tool_util.h. */
#include "tests/tools/tool_util.h"

#include <errno.h>
#include <stdlib.h>

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
