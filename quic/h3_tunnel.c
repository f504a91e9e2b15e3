/* quic/h3_tunnel: the CONNECT-IP request stream's life. */
#include "quic/h3_tunnel.h"

#include <stdio.h>

#include "jvpn/log.h"
#include "jvpn/proto.h"
#include "quic/quic_conn_int.h"

void h3_tunnel_abort(struct quic_conn *c, uint64_t h3_error, const char *why) {
  if (c->tunnel_failed)
    return;
  LOG_WARN(c->ctx, "CONNECT-IP stream aborted (H3 error 0x%llx): %s",
           (unsigned long long)h3_error, why);
  if (c->tunnel_stream >= 0)
    (void)ngtcp2_conn_shutdown_stream(c->conn, 0, c->tunnel_stream,
                                      h3_error); /* stream may be gone */
  c->tunnel_open = 0;
  c->tunnel_failed = (int)h3_error;
  snprintf(c->tunnel_why, sizeof(c->tunnel_why), "%s", why);
}

void h3_tunnel_app_error(struct quic_conn *c, uint64_t code) {
  ngtcp2_ccerr_set_application_error(&c->ccerr, code, NULL, 0);
}

void h3_tunnel_credit(struct quic_conn *c, int64_t sid, uint64_t n) {
  ngtcp2_conn_extend_max_stream_offset(c->conn, sid, n);
  ngtcp2_conn_extend_max_offset(c->conn, n);
}

void h3_tunnel_body(struct quic_conn *c, int64_t sid, const uint8_t *data,
                    size_t len) {
  int rv;

  if (sid != c->tunnel_stream || c->capsules == NULL || c->tunnel_failed)
    return;
  rv = cip_rx_feed(c->capsules, data, len);
  /* RFC 9297 3.3: a bad capsule makes the message malformed, which RFC
   * 9114 4.1.2 answers with a stream error H3_MESSAGE_ERROR. */
  if (rv != 0)
    h3_tunnel_abort(c, JVPN_H3_MESSAGE_ERROR, cip_rx_strerror(rv));
}

void h3_tunnel_ended(struct quic_conn *c, int64_t sid) {
  if (sid != c->tunnel_stream || c->tunnel_failed)
    return;
  if (c->capsules && cip_rx_mid_capsule(c->capsules))
    h3_tunnel_abort(c, JVPN_H3_MESSAGE_ERROR,
                    "request stream ended inside a capsule");
  else
    h3_tunnel_abort(c, JVPN_H3_NO_ERROR, "peer ended the request stream");
}
