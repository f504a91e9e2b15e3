/*
 * quic/transport: see quic/transport.h. Each call goes to the connection
 * the transport holds; none is a programming error the callers avoid, so
 * the answers then are the harmless ones (nothing queued, nothing open).
 */
#include "quic/transport.h"

#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"

enum transport_kind transport_kind(const struct transport *t) {
  if (t->qc)
    return TRANSPORT_QUIC;
  return t->h2 ? TRANSPORT_TCP : TRANSPORT_NONE;
}

const char *transport_kind_name(enum transport_kind k) {
  switch (k) {
  case TRANSPORT_QUIC:
    return "quic";
  case TRANSPORT_TCP:
    return "tcp";
  default:
    return "none";
  }
}

void transport_del(struct transport *t) {
  quic_conn_del(t->qc);
  h2_conn_del(t->h2);
  t->qc = NULL;
  t->h2 = NULL;
}

int transport_queue_ip(struct transport *t, const uint8_t *pkt, size_t len) {
  if (t->qc)
    return quic_conn_queue_ip(t->qc, pkt, len);
  return t->h2 ? h2_conn_queue_ip(t->h2, pkt, len) : JVPN_ERR_AGAIN;
}

int transport_send_capsule(struct transport *t, uint64_t type,
                           const uint8_t *value, size_t len) {
  if (t->qc)
    return quic_conn_send_capsule(t->qc, type, value, len);
  return t->h2 ? h2_conn_send_capsule(t->h2, type, value, len)
               : JVPN_ERR_AGAIN;
}

int transport_txq_busy(const struct transport *t) {
  if (t->qc)
    return quic_conn_txq_busy(t->qc);
  return t->h2 ? h2_conn_txq_busy(t->h2) : 0;
}

int transport_tun_pause(const struct transport *t) {
  return t->qc ? quic_conn_txq_busy(t->qc) : 0;
}

size_t transport_max_ip_packet(struct transport *t) {
  if (t->qc)
    return quic_conn_max_ip_packet(t->qc);
  return t->h2 ? h2_conn_max_ip_packet(t->h2) : 0;
}

void transport_close(struct transport *t, enum quic_conn_end why,
                     const char *detail, uint64_t now) {
  if (t->qc)
    quic_conn_close(t->qc, JVPN_H3_NO_ERROR, why, detail, now);
  else if (t->h2)
    h2_conn_close(t->h2, 0 /* NO_ERROR */, why, detail, now);
}

int transport_export(struct transport *t, const char *label,
                     const uint8_t *context, size_t context_len,
                     uint8_t *out, size_t out_len) {
  if (t->qc)
    return quic_conn_export(t->qc, label, context, context_len, out, out_len);
  if (t->h2)
    return h2_conn_export(t->h2, label, context, context_len, out, out_len);
  return JVPN_ERR_TLS;
}

int transport_release_tls(struct transport *t, const char *label,
                          size_t out_len) {
  /* HTTP/2's records need their TLS session for as long as they flow */
  return t->qc ? quic_conn_release_tls(t->qc, label, out_len) : 0;
}

uint64_t transport_expiry(struct transport *t) {
  if (t->qc)
    return quic_conn_expiry(t->qc);
  return t->h2 ? h2_conn_expiry(t->h2) : UINT64_MAX;
}

int transport_handle_expiry(struct transport *t, uint64_t now) {
  if (t->qc)
    return quic_conn_handle_expiry(t->qc, now);
  return t->h2 ? h2_conn_handle_expiry(t->h2, now) : 0;
}

void transport_set_log_ctx(struct transport *t, const char *ctx) {
  if (t->qc)
    quic_conn_set_log_ctx(t->qc, ctx);
  else if (t->h2)
    h2_conn_set_log_ctx(t->h2, ctx);
}

void transport_set_owner(struct transport *t, const struct quic_conn_ops *ops,
                         void *user) {
  if (t->qc)
    quic_conn_set_owner(t->qc, ops, user);
  else if (t->h2)
    h2_conn_set_owner(t->h2, ops, user);
}

void transport_get_info(struct transport *t, struct quic_conn_info *info) {
  memset(info, 0, sizeof(*info));
  if (t->qc)
    quic_conn_get_info(t->qc, info);
  else if (t->h2)
    h2_conn_get_info(t->h2, info);
}

void transport_get_path(struct transport *t, struct quic_path *path) {
  memset(path, 0, sizeof(*path));
  if (t->qc)
    quic_conn_get_path(t->qc, path);
  else if (t->h2)
    h2_conn_get_path(t->h2, path);
}

const struct quic_conn_stats *transport_get_stats(const struct transport *t) {
  static const struct quic_conn_stats none;

  if (t->qc)
    return quic_conn_get_stats(t->qc);
  return t->h2 ? h2_conn_get_stats(t->h2) : &none;
}

uint64_t transport_last_rx(const struct transport *t) {
  return t->qc ? quic_conn_last_rx(t->qc) : 0;
}

int transport_tunnel_is_open(const struct transport *t) {
  if (t->qc)
    return quic_conn_tunnel_is_open(t->qc);
  return t->h2 ? h2_conn_tunnel_is_open(t->h2) : 0;
}

const uint8_t *transport_peer_pin(const struct transport *t) {
  if (t->qc)
    return quic_conn_peer_pin(t->qc);
  return t->h2 ? h2_conn_peer_pin(t->h2) : NULL;
}
