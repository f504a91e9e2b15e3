/*
 * quic/udp_sock: the QUIC socket. A non-blocking UDP fd that the libuv loop
 * watches with uv_poll_t, because uv_udp_t cannot carry control messages.
 * Receives in batches (recvmmsg) with UDP_GRO, sends with UDP_SEGMENT
 * (GSO), reads and writes ECN bits, and learns the local address of each
 * datagram (IP_PKTINFO / IPV6_RECVPKTINFO) so a wildcard-bound server
 * answers from the address the client used.
 */
#ifndef QUIC_UDP_SOCK_H
#define QUIC_UDP_SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "jvpn/proto.h"

struct udp_sock {
  int fd;
  int family;
  struct sockaddr_storage local; /* bound address (port filled in) */
  socklen_t local_len;
  int gso;          /* 1 while UDP_SEGMENT works */
  int gro;          /* 1 if UDP_GRO is on */
  int ecn_last;     /* ECN codepoint last set on the socket (-1 = none) */
  uint64_t tx_errors, rx_errors;
};

/* One received datagram, or a GRO batch of |seg_size|-byte segments. */
struct udp_rx_msg {
  uint8_t *data;
  size_t len;
  size_t seg_size;  /* 0: one datagram; else split |data| in these */
  struct sockaddr_storage peer;
  socklen_t peer_len;
  struct sockaddr_storage local; /* destination address it was sent to */
  socklen_t local_len;
  uint8_t ecn;      /* ECN bits (IP TOS & 3) */
};

struct udp_rx_batch {
  struct udp_rx_msg msg[JVPN_UDP_RX_BATCH];
  /* private */
  struct mmsghdr mmsg[JVPN_UDP_RX_BATCH];
  struct iovec iov[JVPN_UDP_RX_BATCH];
  uint8_t ctrl[JVPN_UDP_RX_BATCH][128];
  uint8_t *bufs;    /* JVPN_UDP_RX_BATCH * JVPN_UDP_RX_BUF bytes, owned */
};

/* Opens a socket bound to |addr| (port 0 = ephemeral). IPv6 sockets are
 * IPV6_V6ONLY. Sets IP(V6)_RECVTOS, pktinfo, IP_MTU_DISCOVER=DO (the QUIC
 * packets must not fragment), UDP_GRO where supported and a large buffer.
 * Returns 0 or JVPN_ERR_SYSTEM. */
int udp_sock_open(struct udp_sock *s, const struct sockaddr *addr,
                  socklen_t len);
void udp_sock_close(struct udp_sock *s);

/* Has the kernel drop datagrams whose payload is shorter than
 * |min_payload| bytes before they are queued to |s|: they never wake the
 * program. Returns 0 or JVPN_ERR_SYSTEM (errno set). */
int udp_sock_drop_short(struct udp_sock *s, size_t min_payload);

int udp_rx_batch_init(struct udp_rx_batch *b); /* 0 or JVPN_ERR_NOMEM */
void udp_rx_batch_free(struct udp_rx_batch *b);

/* Receives up to JVPN_UDP_RX_BATCH datagrams. Returns the count (>= 1),
 * JVPN_ERR_AGAIN when none is waiting, or JVPN_ERR_SYSTEM. */
int udp_sock_recv(struct udp_sock *s, struct udp_rx_batch *b);

/* Steps through the QUIC packets of |m|: one, or each |seg_size| segment
 * of a GRO batch. Start with *off = 0; returns 1 and the next packet in
 * |pkt|, |len| while one remains, else 0. */
static inline int udp_rx_msg_next(const struct udp_rx_msg *m, size_t *off,
                                  const uint8_t **pkt, size_t *len) {
  size_t seg = m->seg_size ? m->seg_size : m->len;

  if (*off >= m->len)
    return 0;
  *pkt = m->data + *off;
  *len = m->len - *off < seg ? m->len - *off : seg;
  *off += *len;
  return 1;
}

/* Sends |len| bytes to |peer| from |local| (NULL = let the kernel choose)
 * with ECN codepoint |ecn|. If |seg_size| is nonzero and less than |len|,
 * the buffer holds back-to-back packets of |seg_size| bytes (the last may
 * be shorter), sent with one GSO call, or one by one where GSO fails.
 * Returns 0, JVPN_ERR_AGAIN (socket buffer full; nothing sent) or
 * JVPN_ERR_SYSTEM (counted in tx_errors; the packets are lost, as on any
 * network). */
int udp_sock_send(struct udp_sock *s, const struct sockaddr *peer,
                  socklen_t peer_len, const struct sockaddr *local,
                  socklen_t local_len, const uint8_t *data, size_t len,
                  size_t seg_size, uint8_t ecn);

#endif /* QUIC_UDP_SOCK_H */
