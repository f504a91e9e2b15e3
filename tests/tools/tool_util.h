/* tests/tools/tool_util: what the test tools (probe, flood, attach_probe,
 * loadgen) share: the
 * monotonic clock they pace and time by, and the parsing of their
 * command-line numbers. Only libc. */
#ifndef JVPN_TOOL_UTIL_H
#define JVPN_TOOL_UTIL_H

#include <signal.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns: the time line every namespace of a host shares. */
uint64_t tool_now_ns(void);

/* Sleeps until CLOCK_MONOTONIC reaches |ns| (an absolute deadline, so a
 * late wake-up does not shift the ones after it). A signal ends the sleep
 * early only once it has set |*stop|. */
void tool_sleep_until(uint64_t ns, const volatile sig_atomic_t *stop);

/* Parses a whole decimal number in [lo, hi] into |*out|; 0 on success, -1
 * (|*out| untouched) otherwise. */
int tool_parse_long(const char *s, long lo, long hi, long *out);

/* Parses seconds, fractional allowed, in (0, max] into ns; 0 on success, -1
 * otherwise. */
int tool_parse_seconds(const char *s, double max, uint64_t *ns);

struct sockaddr_storage;

/* Parses "198.18.3.2:443" or "[2001:db8::1]:443" (numeric) into |*ss| and
 * |*len|; 0 on success, -1 otherwise. */
int tool_parse_endpoint(const char *s, struct sockaddr_storage *ss,
                        socklen_t *len);

#endif /* JVPN_TOOL_UTIL_H */
