/* jvpn-quic: a quiet tunnel's keep-alive (docs/decisions.md D47). */
#include "src/quiet.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "src/session_wire.h"
#include "src/sockaddr_same.h"

void jvpn_quiet_reset(struct jvpn_quiet *q, uint64_t packets,
                      uint64_t now_ms) {
  q->packets = packets;
  q->since_ms = now_ms;
  q->granted_ms = 0;
  q->refresh_ms = 0;
  q->asked = 0;
}

void jvpn_quiet_new_path(struct jvpn_quiet *q, uint64_t packets,
                         uint64_t now_ms) {
  q->granted_ms = 0;
  q->refresh_ms = 0;
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

unsigned jvpn_quiet_grant(uint64_t want_ms, const struct sockaddr *said,
                          const struct sockaddr *seen) {
  unsigned ms = jvpn_sockaddr_same(said, seen) ? JVPN_QUIET_KEEPALIVE_OPEN_MS
                                          : JVPN_QUIET_KEEPALIVE_NAT_MS;

  if (want_ms < ms)
    ms = (unsigned)want_ms;
  return ms < JVPN_QUIC_KEEPALIVE_MS ? JVPN_QUIC_KEEPALIVE_MS : ms;
}

long jvpn_quiet_request(uint8_t *buf, size_t len, const struct sockaddr *local,
                        socklen_t local_len) {
  struct jvpn_wire_keepalive k;

  if (local == NULL || local_len > sizeof(k.from))
    return JVPN_ERR_INVAL;
  memset(&k, 0, sizeof(k));
  k.want_ms = JVPN_QUIET_KEEPALIVE_OPEN_MS;
  memcpy(&k.from, local, local_len);
  return jvpn_wire_encode_keepalive(buf, len, &k);
}

long jvpn_quiet_result(struct jvpn_quiet *q, const uint8_t *v, size_t len) {
  uint64_t ms;

  if (jvpn_wire_decode_keepalive_result(v, len, &ms) != 0)
    return JVPN_ERR_MALFORMED;
  if (!q->asked)
    return 0;
  q->asked = 0;
  q->granted_ms = (unsigned)ms;
  return (long)ms;
}

unsigned jvpn_quiet_refresh_offer(uint64_t want_ms, unsigned granted_ms,
                                  unsigned *refresh_ms) {
  unsigned ka = want_ms < JVPN_QUIET_KEEPALIVE_OPEN_MS
                    ? (unsigned)want_ms
                    : JVPN_QUIET_KEEPALIVE_OPEN_MS;

  *refresh_ms = granted_ms < JVPN_QUIET_NAT_REFRESH_MS
                    ? granted_ms
                    : JVPN_QUIET_NAT_REFRESH_MS;
  return granted_ms < ka ? ka : 0;
}

long jvpn_quiet_nat_refresh(struct jvpn_quiet *q, const uint8_t *v,
                            size_t len) {
  struct jvpn_wire_nat_refresh r;

  if (jvpn_wire_decode_nat_refresh(v, len, &r) != 0)
    return JVPN_ERR_MALFORMED;
  if (q->granted_ms == 0)
    return 0;
  q->refresh_ms = r.refresh_ms < q->granted_ms ? (unsigned)r.refresh_ms
                                               : q->granted_ms;
  q->granted_ms = (unsigned)r.keepalive_ms;
  return (long)r.keepalive_ms;
}

unsigned jvpn_quiet_idle_ms(unsigned keepalive_ms) {
  return keepalive_ms * JVPN_QUIC_IDLE_KEEPALIVES;
}
