/* jvpn-quic: a quiet tunnel's keep-alive (docs/decisions.md D47). */
#include "src/quiet.h"

#include <netinet/in.h>
#include <string.h>

#include "jvpn/proto.h"

void jvpn_quiet_reset(struct jvpn_quiet *q, uint64_t packets,
                      uint64_t now_ms) {
  q->packets = packets;
  q->since_ms = now_ms;
  q->granted_ms = 0;
  q->asked = 0;
}

void jvpn_quiet_new_path(struct jvpn_quiet *q, uint64_t packets,
                         uint64_t now_ms) {
  q->granted_ms = 0;
  q->asked = 0;
  if (q->since_ms == 0) {
    q->packets = packets;
    q->since_ms = now_ms;
  }
}

int jvpn_quiet_due(struct jvpn_quiet *q, uint64_t packets, uint64_t now_ms) {
  if (packets != q->packets) {
    q->packets = packets;
    q->since_ms = now_ms;
    return 0;
  }
  return !q->asked && q->granted_ms == 0 &&
         now_ms - q->since_ms >= JVPN_QUIET_AFTER_MS;
}

static int same_endpoint(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family)
    return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a;
    const struct sockaddr_in *y = (const struct sockaddr_in *)b;

    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  return 0;
}

unsigned jvpn_quiet_grant(uint64_t want_ms, const struct sockaddr *said,
                          const struct sockaddr *seen) {
  unsigned ms = same_endpoint(said, seen) ? JVPN_QUIET_KEEPALIVE_OPEN_MS
                                          : JVPN_QUIET_KEEPALIVE_NAT_MS;

  if (want_ms < ms)
    ms = (unsigned)want_ms;
  return ms < JVPN_QUIC_KEEPALIVE_MS ? JVPN_QUIC_KEEPALIVE_MS : ms;
}

unsigned jvpn_quiet_idle_ms(unsigned keepalive_ms) {
  return keepalive_ms * JVPN_QUIC_IDLE_KEEPALIVES;
}
