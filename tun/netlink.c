/* jvpn-quic: rtnetlink requests for the tunnel's link, addresses, routes. */
#include "tun/netlink.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"

#define NL_ACK_TIMEOUT_S 2
#define NL_REQ_SIZE 256 /* bytes: the largest request below is ~100 */
#define NL_RX_SIZE 8192

struct nl_req {
  struct nlmsghdr *nh;
  uint8_t buf[NL_REQ_SIZE];
};

/* Starts a request of |type| with a fixed header of |hdrlen| bytes, and
 * returns that header, zeroed. */
static void *req_init(struct nl_req *r, uint16_t type, uint16_t flags,
                      size_t hdrlen) {
  memset(r->buf, 0, sizeof(r->buf));
  r->nh = (struct nlmsghdr *)(void *)r->buf;
  r->nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(hdrlen);
  r->nh->nlmsg_type = type;
  r->nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
  return NLMSG_DATA(r->nh);
}

/* The requests are built here from fixed sizes, so running out of room is
 * our bug; it is still reported rather than written past. */
static int req_attr(struct nl_req *r, uint16_t type, const void *data,
                    size_t len) {
  size_t off = NLMSG_ALIGN(r->nh->nlmsg_len);
  struct rtattr *rta;

  if (off + RTA_SPACE(len) > sizeof(r->buf)) {
    errno = EMSGSIZE;
    return -1;
  }
  rta = (struct rtattr *)(void *)(r->buf + off);
  rta->rta_type = type;
  rta->rta_len = (uint16_t)RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  r->nh->nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
  return 0;
}

static int req_u32(struct nl_req *r, uint16_t type, uint32_t v) {
  return req_attr(r, type, &v, sizeof(v));
}

/* Waits for the ack to |seq| from the kernel. Returns 0, or -1 with errno
 * set from the kernel's nlmsgerr or from the socket (EAGAIN on time-out). */
static int wait_ack(int fd, uint32_t seq) {
  /* Aligned for nlmsghdr, which the kernel writes at the buffer start. */
  uint32_t rx[NL_RX_SIZE / sizeof(uint32_t)];
  struct sockaddr_nl from;
  socklen_t fromlen;
  ssize_t n;

  for (;;) {
    struct nlmsghdr *nh;
    size_t left;

    fromlen = sizeof(from);
    n = recvfrom(fd, rx, sizeof(rx), 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        errno = ETIMEDOUT;
      return -1;
    }
    /* Only the kernel (port 0) may answer. */
    if (from.nl_pid != 0)
      continue;
    left = (size_t)n;
    for (nh = (struct nlmsghdr *)(void *)rx; NLMSG_OK(nh, left);
         nh = NLMSG_NEXT(nh, left)) {
      const struct nlmsgerr *err;

      if (nh->nlmsg_seq != seq)
        continue;
      if (nh->nlmsg_type != NLMSG_ERROR)
        continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*err))) {
        errno = EPROTO;
        return -1;
      }
      err = NLMSG_DATA(nh);
      if (err->error == 0)
        return 0;
      errno = -err->error;
      return -1;
    }
  }
}

/* Sends the request and waits for its ack on a fresh socket. */
static int nl_transact(struct nl_req *r) {
  static uint32_t seq_next;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  struct timeval tv = {.tv_sec = NL_ACK_TIMEOUT_S};
  int fd, rv, saved;
  ssize_t n;

  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
    goto fail_fd;
  /* Sequence numbers only tell this request's ack from stray messages on
   * a fresh socket; seeding from the clock keeps them apart across runs. */
  if (seq_next == 0)
    seq_next = (uint32_t)time(NULL);
  r->nh->nlmsg_seq = ++seq_next;
  do {
    n = sendto(fd, r->buf, r->nh->nlmsg_len, 0, (struct sockaddr *)&kernel,
               sizeof(kernel));
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    goto fail_fd;
  rv = wait_ack(fd, r->nh->nlmsg_seq);
  if (rv < 0)
    goto fail_fd;
  close(fd);
  return 0;

fail_fd:
  saved = errno;
  close(fd);
  errno = saved;
  return JVPN_ERR_SYSTEM;
}

static int addr_len(int family) {
  switch (family) {
  case AF_INET: return 4;
  case AF_INET6: return 16;
  default: return 0;
  }
}

int tun_nl_link_up(int ifindex, unsigned mtu) {
  struct nl_req r;
  struct ifinfomsg *ifi;

  ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (req_u32(&r, IFLA_MTU, mtu) < 0)
    return JVPN_ERR_SYSTEM;
  return nl_transact(&r);
}

static int addr_req(uint16_t type, uint16_t flags, int ifindex, int family,
                    const uint8_t *addr, uint8_t plen) {
  struct nl_req r;
  struct ifaddrmsg *ifa;
  int alen = addr_len(family);

  if (alen == 0 || plen > alen * 8) {
    errno = EINVAL;
    return JVPN_ERR_SYSTEM;
  }
  ifa = req_init(&r, type, flags, sizeof(*ifa));
  ifa->ifa_family = (uint8_t)family;
  ifa->ifa_prefixlen = plen;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (uint32_t)ifindex;
  /* Without a peer, local and address are the same (what ip(8) sends). */
  if (req_attr(&r, IFA_LOCAL, addr, (size_t)alen) < 0 ||
      req_attr(&r, IFA_ADDRESS, addr, (size_t)alen) < 0)
    return JVPN_ERR_SYSTEM;
  if (family == AF_INET6 && type == RTM_NEWADDR) {
    /* A TUN has no neighbours to collide with; DAD would only hold the
     * address "tentative" and unusable for a second or more. */
    ifa->ifa_flags = IFA_F_NODAD;
    if (req_u32(&r, IFA_FLAGS, IFA_F_NODAD) < 0)
      return JVPN_ERR_SYSTEM;
  }
  return nl_transact(&r);
}

int tun_nl_addr_add(int ifindex, int family, const uint8_t *addr,
                    uint8_t plen) {
  /* REPLACE makes an existing address a success, not EEXIST. */
  return addr_req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, family,
                  addr, plen);
}

int tun_nl_addr_del(int ifindex, int family, const uint8_t *addr,
                    uint8_t plen) {
  return addr_req(RTM_DELADDR, 0, ifindex, family, addr, plen);
}

static void prefix_net(const uint8_t *dst, uint8_t plen, int alen,
                       uint8_t *net);

static int route_req(uint16_t type, uint16_t flags, int ifindex, int family,
                     const uint8_t *dst, uint8_t plen, uint32_t table,
                     uint32_t metric, uint8_t proto) {
  struct nl_req r;
  struct rtmsg *rtm;
  uint8_t net[16];
  int alen = addr_len(family);

  if (alen == 0 || plen > alen * 8) {
    errno = EINVAL;
    return JVPN_ERR_SYSTEM;
  }
  if (table == 0)
    table = RT_TABLE_MAIN;
  /* The kernel refuses a destination with host bits set (EINVAL); the
   * prefix is what is meant. */
  prefix_net(dst, plen, alen, net);

  rtm = req_init(&r, type, flags, sizeof(*rtm));
  rtm->rtm_family = (uint8_t)family;
  rtm->rtm_dst_len = plen;
  /* Tables past 255 exist only in RTA_TABLE. */
  rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
  rtm->rtm_protocol = proto;
  rtm->rtm_type = RTN_UNICAST;
  /* On delete, NOWHERE matches a route of any scope. */
  rtm->rtm_scope = type == RTM_NEWROUTE ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
  if (plen > 0 && req_attr(&r, RTA_DST, net, (size_t)alen) < 0)
    return JVPN_ERR_SYSTEM;
  if (req_u32(&r, RTA_OIF, (uint32_t)ifindex) < 0 ||
      req_u32(&r, RTA_TABLE, table) < 0 ||
      req_u32(&r, RTA_PRIORITY, metric) < 0)
    return JVPN_ERR_SYSTEM;
  return nl_transact(&r);
}

int tun_nl_route_add(int ifindex, int family, const uint8_t *dst, uint8_t plen,
                     uint32_t table, uint32_t metric) {
  return route_req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifindex, family,
                   dst, plen, table, metric, RTPROT_STATIC);
}

int tun_nl_route_del(int ifindex, int family, const uint8_t *dst, uint8_t plen,
                     uint32_t table, uint32_t metric) {
  return route_req(RTM_DELROUTE, 0, ifindex, family, dst, plen, table, metric,
                   RTPROT_STATIC);
}

int tun_nl_host_route(int ifindex, int family, const uint8_t *addr, int on) {
  uint8_t plen = family == AF_INET6 ? 128 : 32;

  return route_req(on ? RTM_NEWROUTE : RTM_DELROUTE,
                   on ? NLM_F_CREATE | NLM_F_REPLACE : 0, ifindex, family,
                   addr, plen, 0, 0, TUN_NL_PROTO_SESSION);
}

/* The network address of |dst|/|plen| into |net| (|alen| bytes). */
static void prefix_net(const uint8_t *dst, uint8_t plen, int alen,
                       uint8_t *net) {
  int i;

  memcpy(net, dst, (size_t)alen);
  for (i = 0; i < alen; i++) {
    int keep = (int)plen - i * 8;

    if (keep <= 0)
      net[i] = 0;
    else if (keep < 8)
      net[i] &= (uint8_t)(0xff00 >> keep);
  }
}

static int rule_req(uint16_t type, uint16_t flags,
                    const struct tun_nl_rule *rule) {
  struct nl_req r;
  struct fib_rule_hdr *frh;
  int alen = addr_len(rule->family);
  uint8_t net[16];

  if (alen == 0 || rule->to_len > alen * 8) {
    errno = EINVAL;
    return JVPN_ERR_SYSTEM;
  }
  frh = req_init(&r, type, flags, sizeof(*frh));
  frh->family = (uint8_t)rule->family;
  frh->action = FR_ACT_TO_TBL;
  frh->table = rule->table < 256 ? (uint8_t)rule->table : RT_TABLE_UNSPEC;
  frh->dst_len = rule->to != NULL ? rule->to_len : 0;
  if (req_u32(&r, FRA_PRIORITY, rule->pref) < 0 ||
      req_u32(&r, FRA_TABLE, rule->table) < 0)
    return JVPN_ERR_SYSTEM;
  if (rule->to != NULL) {
    prefix_net(rule->to, rule->to_len, alen, net);
    if (req_attr(&r, FRA_DST, net, (size_t)alen) < 0)
      return JVPN_ERR_SYSTEM;
  }
  if (rule->suppress_plen >= 0 &&
      req_u32(&r, FRA_SUPPRESS_PREFIXLEN, (uint32_t)rule->suppress_plen) < 0)
    return JVPN_ERR_SYSTEM;
  return nl_transact(&r);
}

int tun_nl_rule_add(const struct tun_nl_rule *rule) {
  int rv = rule_req(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, rule);

  return rv != 0 && errno == EEXIST ? 0 : rv;
}

int tun_nl_rule_del(const struct tun_nl_rule *rule) {
  return rule_req(RTM_DELRULE, 0, rule);
}

int tun_nl_rule_flush_pref(int family, uint32_t pref, unsigned max) {
  struct nl_req r;
  struct fib_rule_hdr *frh;
  unsigned n;

  /* A delete that names only the family and the priority removes one
   * rule with that priority, whatever else it matches. */
  for (n = 0; n < max; n++) {
    frh = req_init(&r, RTM_DELRULE, 0, sizeof(*frh));
    frh->family = (uint8_t)family;
    if (req_u32(&r, FRA_PRIORITY, pref) < 0)
      return JVPN_ERR_SYSTEM;
    if (nl_transact(&r) != 0)
      return errno == ENOENT ? (int)n : JVPN_ERR_SYSTEM;
  }
  return (int)n;
}
