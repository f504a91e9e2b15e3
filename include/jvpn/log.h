/*
 * jvpn-quic: leveled logging with a fixed context prefix.
 *
 * Lines go to stderr as "LEVEL node ctx: message". The default level is
 * INFO, at which nothing is logged per packet; data-path events use
 * JVPN_LOG_RL, which is rate-limited per call site.
 */
#ifndef JVPN_LOG_H
#define JVPN_LOG_H

#include <stdint.h>

enum jvpn_log_level {
  JVPN_LOG_ERROR = 0,
  JVPN_LOG_WARN = 1,
  JVPN_LOG_INFO = 2,
  JVPN_LOG_DEBUG = 3,
  JVPN_LOG_TRACE = 4,
};

extern int jvpn_log_level;

/* Sets the lowest level printed (clamped to ERROR..TRACE). */
void jvpn_log_set_level(int level);
/* Sets the node name printed on every line ("server", "client"); the
 * string is copied (at most 31 bytes). */
void jvpn_log_set_node(const char *node);

/* Prints one line. |ctx| is the context prefix ("conn=ab12 peer=alice"),
 * or NULL. Use the macros below, which skip formatting when disabled.
 * Safe from any thread (one fprintf per line) once the level and node are
 * set, which happens before any thread starts; a JVPN_LOG_RL site's
 * limiter is not shared safely, so other threads keep their own. */
void jvpn_logf(int level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define JVPN_LOG(level, ctx, ...)                                          \
  do {                                                                     \
    if ((level) <= jvpn_log_level)                                         \
      jvpn_logf((level), (ctx), __VA_ARGS__);                              \
  } while (0)

#define LOG_ERR(ctx, ...) JVPN_LOG(JVPN_LOG_ERROR, ctx, __VA_ARGS__)
#define LOG_WARN(ctx, ...) JVPN_LOG(JVPN_LOG_WARN, ctx, __VA_ARGS__)
#define LOG_INFO(ctx, ...) JVPN_LOG(JVPN_LOG_INFO, ctx, __VA_ARGS__)
#define LOG_DEBUG(ctx, ...) JVPN_LOG(JVPN_LOG_DEBUG, ctx, __VA_ARGS__)
#define LOG_TRACE(ctx, ...) JVPN_LOG(JVPN_LOG_TRACE, ctx, __VA_ARGS__)

/* A per-site limiter: at most JVPN_LOG_RL_BURST lines per second; the
 * number suppressed is reported on the next line that passes. */
struct jvpn_ratelimit {
  uint64_t window_ms;
  uint32_t count;
  uint32_t suppressed;
};
#define JVPN_LOG_RL_BURST 5

/* Returns nonzero if a line may be printed now; counts the ones that may
 * not. Reads CLOCK_MONOTONIC. */
int jvpn_ratelimit_ok(struct jvpn_ratelimit *rl);

#define JVPN_LOG_RL(level, ctx, ...)                                       \
  do {                                                                     \
    static struct jvpn_ratelimit rl_;                                      \
    if ((level) <= jvpn_log_level && jvpn_ratelimit_ok(&rl_))              \
      jvpn_logf((level), (ctx), __VA_ARGS__);                              \
  } while (0)

#endif /* JVPN_LOG_H */
