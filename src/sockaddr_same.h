/*
 * jvpn-quic: whether two socket addresses name the same endpoint.
 */
#ifndef JVPN_SOCKADDR_SAME_H
#define JVPN_SOCKADDR_SAME_H

#include <sys/socket.h>

/* Nonzero for the same family, address and port (and IPv6 scope). */
int jvpn_sockaddr_same(const struct sockaddr *a, const struct sockaddr *b);

#endif /* JVPN_SOCKADDR_SAME_H */
