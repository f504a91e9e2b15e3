/*
 * tun/netlink: rtnetlink requests for the tunnel's addresses, routes, MTU
 * and link state. Each call opens a NETLINK_ROUTE socket, sends one request
 * with NLM_F_ACK, waits for the ack (bounded, 2 s) and closes it; errors
 * carry the kernel's errno.
 */
#ifndef TUN_NETLINK_H
#define TUN_NETLINK_H

#include <stdint.h>

/* Sets the link's MTU and brings it up. Returns 0 or JVPN_ERR_SYSTEM. */
int tun_nl_link_up(int ifindex, unsigned mtu);
/* Adds / deletes |addr|/|plen| (family AF_INET or AF_INET6) on |ifindex|.
 * Adding an address that exists is success. IPv6 addresses are added with
 * IFA_F_NODAD so they are usable at once. */
int tun_nl_addr_add(int ifindex, int family, const uint8_t *addr, uint8_t plen);
int tun_nl_addr_del(int ifindex, int family, const uint8_t *addr, uint8_t plen);
/* Adds / deletes a route to |dst|/|plen| via the device, in |table| (0 =
 * main) with |metric|. Adding one that exists is success. */
int tun_nl_route_add(int ifindex, int family, const uint8_t *dst, uint8_t plen,
                     uint32_t table, uint32_t metric);
int tun_nl_route_del(int ifindex, int family, const uint8_t *dst, uint8_t plen,
                     uint32_t table, uint32_t metric);

/* The routing protocol number of a cluster node's per-session routes
 * (D44): what the nodes' routing daemon learns and redistributes
 * (docs/operations.md 10.4); no other program uses it. */
#define TUN_NL_PROTO_SESSION 250
/* Adds (|on|) or deletes the host route (/32, /128) to |addr| via the
 * device in the main table, with protocol TUN_NL_PROTO_SESSION. */
int tun_nl_host_route(int ifindex, int family, const uint8_t *addr, int on);
/* A policy routing rule: packets of |family| (to |to|/|to_len| when |to|
 * is not NULL) look up |table|; with |suppress_plen| >= 0, a route found
 * there with a prefix no longer than that is ignored (ip-rule(8)'s
 * suppress_prefixlength). |pref| orders the rules. */
struct tun_nl_rule {
  int family;
  uint32_t pref;
  uint32_t table;
  const uint8_t *to;
  uint8_t to_len;
  int suppress_plen;
};

/* Adds / deletes |rule|. Adding one that exists is success. */
int tun_nl_rule_add(const struct tun_nl_rule *rule);
int tun_nl_rule_del(const struct tun_nl_rule *rule);
/* Deletes up to |max| rules of |family| with priority |pref|, whatever
 * they match (left by a process that died). Returns how many went, or
 * JVPN_ERR_SYSTEM. */
int tun_nl_rule_flush_pref(int family, uint32_t pref, unsigned max);

#endif /* TUN_NETLINK_H */
