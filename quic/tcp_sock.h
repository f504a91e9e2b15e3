/*
 * quic/tcp_sock: the TCP sockets of the HTTP/2 fallback (quic/h2_conn.h):
 * a listener on the QUIC port's number, accepted connections and a
 * client's connecting socket, all non-blocking. h2_conn sets the options
 * of a connection itself; these only open, bind and accept.
 */
#ifndef QUIC_TCP_SOCK_H
#define QUIC_TCP_SOCK_H

#include <sys/socket.h>

#define TCP_SOCK_BACKLOG 1024

/* Opens a listener on |addr| (IPv6: IPV6_V6ONLY, SO_REUSEADDR). Returns
 * the descriptor or JVPN_ERR_SYSTEM (errno says why). */
int tcp_sock_listen(const struct sockaddr *addr, socklen_t len);

/* Accepts one connection from |lfd| into a non-blocking descriptor and
 * the peer's address. Returns it, JVPN_ERR_AGAIN when none waits, or
 * JVPN_ERR_SYSTEM (errno: EMFILE and the like; the caller backs off). */
int tcp_sock_accept(int lfd, struct sockaddr_storage *peer,
                    socklen_t *peer_len);

/* Starts a non-blocking connect to |remote| from a socket bound to
 * interface |ifname| (NULL or "": none) and to source address |local|
 * (NULL: the kernel's choice; its port is ignored), as a multi-path
 * uplink's UDP sockets are. Returns the descriptor (connecting: h2_conn
 * sees it complete) or JVPN_ERR_SYSTEM (errno says why). */
int tcp_sock_connect(const struct sockaddr *remote, socklen_t len,
                     const struct sockaddr *local, socklen_t local_len,
                     const char *ifname);

#endif /* QUIC_TCP_SOCK_H */
