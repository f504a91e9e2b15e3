/*
 * quic/transport: one CONNECT-IP attachment over either transport, QUIC
 * (quic/quic_conn.h) or HTTP/2 over TLS over TCP (quic/h2_conn.h), for the
 * program's code that treats both alike: queue IP packets, send capsules,
 * export the channel binding, read the path's state and counters, close.
 * What only one transport has (reading UDP packets, migration, the TCP
 * socket's I/O) the program asks of that connection directly.
 *
 * A struct transport holds at most one of the two; both NULL: none.
 */
#ifndef QUIC_TRANSPORT_H
#define QUIC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "quic/h2_conn.h"
#include "quic/quic_conn.h"

enum transport_kind {
  TRANSPORT_NONE = 0,
  TRANSPORT_QUIC,
  TRANSPORT_TCP, /* HTTP/2 over TLS over TCP */
};

struct transport {
  struct quic_conn *qc;
  struct h2_conn *h2;
};

enum transport_kind transport_kind(const struct transport *t);
/* "quic", "tcp" or "none" (status and audit records). */
const char *transport_kind_name(enum transport_kind k);

/* Frees whichever it holds and clears |t|. */
void transport_del(struct transport *t);

int transport_queue_ip(struct transport *t, const uint8_t *pkt, size_t len);
int transport_send_capsule(struct transport *t, uint64_t type,
                           const uint8_t *value, size_t len);
int transport_txq_busy(const struct transport *t);
/* Nonzero when a client should stop reading its TUN device: a QUIC
 * connection's send queue is filling up (the kernel's TUN queue then takes
 * the pressure). Always 0 over TCP: reads go on and a full queue drops
 * (drop_queue), since a TUN queue behind a TCP connection that waits for a
 * retransmission only delays the inner TCP's loss signal
 * (docs/performance.md, "Latency under load"). */
int transport_tun_pause(const struct transport *t);
size_t transport_max_ip_packet(struct transport *t);
/* Ends it cleanly (H3_NO_ERROR / HTTP/2 NO_ERROR); ops->closed gets |why|. */
void transport_close(struct transport *t, enum quic_conn_end why,
                     const char *detail, uint64_t now);
int transport_export(struct transport *t, const char *label,
                     const uint8_t *context, size_t context_len,
                     uint8_t *out, size_t out_len);
/* quic_conn_release_tls for QUIC; nothing for HTTP/2 (0). */
int transport_release_tls(struct transport *t, const char *label,
                          size_t out_len);
uint64_t transport_expiry(struct transport *t);
int transport_handle_expiry(struct transport *t, uint64_t now);
void transport_set_log_ctx(struct transport *t, const char *ctx);
void transport_set_owner(struct transport *t, const struct quic_conn_ops *ops,
                         void *user);
void transport_get_info(struct transport *t, struct quic_conn_info *info);
void transport_get_path(struct transport *t, struct quic_path *path);
const struct quic_conn_stats *transport_get_stats(const struct transport *t);
/* When the peer's last packet arrived (glue clock, ns); 0: unknown (a TCP
 * connection: TCP keeps its own liveness). */
uint64_t transport_last_rx(const struct transport *t);
int transport_tunnel_is_open(const struct transport *t);
const uint8_t *transport_peer_pin(const struct transport *t);

#endif /* QUIC_TRANSPORT_H */
