/*
 * src/resolver: looks the server's name up without blocking the loop.
 *
 * getaddrinfo runs in libuv's threadpool (uv_getaddrinfo), one lookup at
 * a time. The loop waits JVPN_RESOLVE_TIMEOUT_MS for it; then the caller
 * hears JVPN_ERR_AGAIN and may back off. A lookup cannot be stopped once
 * its thread runs it: until it returns no new one starts (the caller
 * retries later), and its late answer is still delivered if it holds
 * addresses (a late failure is dropped: the timeout was reported).
 */
#ifndef SRC_RESOLVER_H
#define SRC_RESOLVER_H

#include <stdint.h>
#include <netdb.h>

#include <uv.h>

/* An answer (|err| 0, |ai| borrowed for the call) or a failure: |ai| NULL
 * and |err| JVPN_ERR_NOTFOUND (no address; logged) or JVPN_ERR_AGAIN (no
 * answer in time). */
typedef void (*resolver_cb)(void *user, const struct addrinfo *ai, int err);

enum resolver_state {
  RESOLVER_IDLE = 0,
  RESOLVER_RUNNING, /* a lookup within its timeout: cb follows */
  RESOLVER_LATE,    /* timed out, still in its thread */
  RESOLVER_CLOSING, /* resolver_free() ran; the answer is dropped */
};

struct resolver {
  uv_loop_t *loop;
  uv_getaddrinfo_t req; /* the lookup in flight */
  uv_timer_t timeout;   /* armed by a lookup's start */
  enum resolver_state state;
  const char *host; /* borrowed; outlives the resolver */
  char port[8];
  resolver_cb cb;
  void *user;
  uint64_t lookups, timeouts; /* started; not answered in time */
};

/* Sets |r| up to look |host| (borrowed) up for UDP to |port| on |loop|;
 * |cb| gets each outcome. */
void resolver_init(struct resolver *r, uv_loop_t *loop, const char *host,
                   uint16_t port, resolver_cb cb, void *user);

/* Starts a lookup. Returns 0 (cb follows), JVPN_ERR_AGAIN while a lookup
 * still runs (RESOLVER_RUNNING: its cb serves this call too;
 * RESOLVER_LATE: retry later), or JVPN_ERR_SYSTEM (logged). */
int resolver_start(struct resolver *r);

/* Cancels what can be cancelled; call before the loop's handles close.
 * A lookup already in its thread keeps the loop running until it
 * returns (bounded by the system resolver's own timeouts). */
void resolver_free(struct resolver *r);

/* Turns an address literal into an answer at once, without a lookup:
 * returns 0 with *|ai| (the caller frees it with freeaddrinfo), or
 * JVPN_ERR_NOTFOUND when |host| is a name. */
int resolver_numeric(const char *host, uint16_t port, struct addrinfo **ai);

#endif /* SRC_RESOLVER_H */
