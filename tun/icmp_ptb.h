/*
 * tun/icmp_ptb: "packet too big" errors for packets the tunnel cannot carry.
 *
 * For an IPv4 packet: ICMP type 3 code 4 (fragmentation needed, RFC 1191)
 * with the next-hop MTU, quoting the IP header and up to 548 bytes so the
 * error stays within 576 bytes. For IPv6: ICMPv6 type 2 (RFC 4443 3.2)
 * quoting as much as keeps the error within 1280 bytes. The error is
 * addressed to the packet's source and comes from its destination, so it
 * passes reverse-path filters on the TUN.
 *
 * No error is built (JVPN_ERR_DENIED) for: an ICMP error itself, an IPv4
 * packet without DF (the kernel may fragment it), a source that is
 * unspecified, multicast or broadcast (RFC 1122 3.2.2, RFC 4443 2.4 e).
 */
#ifndef TUN_ICMP_PTB_H
#define TUN_ICMP_PTB_H

#include <stddef.h>
#include <stdint.h>

/* Writes the error for |pkt| (a packet ip_check() accepted) into |out|.
 * |mtu| is the largest packet the tunnel can carry now. Returns the error's
 * length, JVPN_ERR_DENIED (see above), JVPN_ERR_NOSPACE or
 * JVPN_ERR_MALFORMED. |out| needs at most 1280 bytes. */
long icmp_ptb_build(uint8_t *out, size_t outlen, const uint8_t *pkt,
                    size_t len, uint32_t mtu);

#endif /* TUN_ICMP_PTB_H */
