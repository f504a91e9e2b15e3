/* jvpn-quic: leveled logging. */
#include "jvpn/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int jvpn_log_level = JVPN_LOG_INFO;
static char log_node[32] = "jvpn";

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG",
                                           "TRACE"};

void jvpn_log_set_level(int level) {
  if (level < JVPN_LOG_ERROR)
    level = JVPN_LOG_ERROR;
  if (level > JVPN_LOG_TRACE)
    level = JVPN_LOG_TRACE;
  jvpn_log_level = level;
}

void jvpn_log_set_node(const char *node) {
  snprintf(log_node, sizeof(log_node), "%s", node);
}

void jvpn_logf(int level, const char *ctx, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  struct timespec ts;
  struct tm tm;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  /* One fprintf per line so concurrent writers do not interleave. */
  fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s%s%s: %s\n", tm.tm_hour,
          tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
          level_names[level < 0 ? 0 : level > 4 ? 4 : level], log_node,
          ctx ? " " : "", ctx ? ctx : "", msg);
}

int jvpn_ratelimit_ok(struct jvpn_ratelimit *rl) {
  struct timespec ts;
  uint64_t now;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  if (now - rl->window_ms >= 1000) {
    if (rl->suppressed)
      fprintf(stderr, "(%u similar log lines suppressed)\n", rl->suppressed);
    rl->window_ms = now;
    rl->count = 0;
    rl->suppressed = 0;
  }
  if (rl->count < JVPN_LOG_RL_BURST) {
    rl->count++;
    return 1;
  }
  rl->suppressed++;
  return 0;
}
