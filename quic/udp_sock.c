/* jvpn-quic: the QUIC socket (batched receive, GSO send, ECN, pktinfo). */
#include "quic/udp_sock.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h; older libc headers lack it */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define UDP_SOCK_BUF (4 * 1024 * 1024) /* bytes: socket buffers */

/* Large enough for UDP_SEGMENT plus the larger pktinfo, and aligned. */
union send_ctrl {
  uint8_t buf[CMSG_SPACE(sizeof(uint16_t)) +
              CMSG_SPACE(sizeof(struct in6_pktinfo))];
  struct cmsghdr align;
};

static int set_int(int fd, int level, int name, int v) {
  return setsockopt(fd, level, name, &v, sizeof(v));
}

/* Root may go past net.core.{r,w}mem_max; anyone else gets what the
 * limit allows. A smaller buffer only costs drops under load, so failure
 * here is not fatal. */
static void set_bufsize(int fd, int force_opt, int opt) {
  if (set_int(fd, SOL_SOCKET, force_opt, UDP_SOCK_BUF) == 0)
    return;
  (void)set_int(fd, SOL_SOCKET, opt, UDP_SOCK_BUF);
}

static int sock_options(struct udp_sock *s) {
  int fd = s->fd, v6 = s->family == AF_INET6, seg;
  socklen_t seglen = sizeof(seg);

  set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  if (v6) {
    if (set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1) < 0 ||
        set_int(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1) < 0 ||
        set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) < 0 ||
        set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO) < 0)
      return -1;
  } else {
    if (set_int(fd, IPPROTO_IP, IP_RECVTOS, 1) < 0 ||
        set_int(fd, IPPROTO_IP, IP_PKTINFO, 1) < 0 ||
        set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO) < 0)
      return -1;
  }
  s->gro = set_int(fd, IPPROTO_UDP, UDP_GRO, 1) == 0;
  /* Kernels that know UDP_SEGMENT answer this getsockopt. */
  s->gso = getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg, &seglen) == 0;
  return 0;
}

int udp_sock_open(struct udp_sock *s, const struct sockaddr *addr,
                  socklen_t len) {
  int saved;

  memset(s, 0, sizeof(*s));
  s->fd = -1;
  s->ecn_last = -1;
  if ((addr->sa_family == AF_INET && len < sizeof(struct sockaddr_in)) ||
      (addr->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)) ||
      (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
    errno = EAFNOSUPPORT;
    return JVPN_ERR_SYSTEM;
  }
  s->family = addr->sa_family;
  s->fd =
      socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (s->fd < 0)
    return JVPN_ERR_SYSTEM;
  if (sock_options(s) < 0)
    goto fail_fd;
  if (bind(s->fd, addr, len) < 0)
    goto fail_fd;
  s->local_len = sizeof(s->local);
  if (getsockname(s->fd, (struct sockaddr *)&s->local, &s->local_len) < 0)
    goto fail_fd;
  return 0;

fail_fd:
  saved = errno;
  close(s->fd);
  s->fd = -1;
  errno = saved;
  return JVPN_ERR_SYSTEM;
}

void udp_sock_close(struct udp_sock *s) {
  if (s == NULL || s->fd < 0)
    return;
  /* The fd is released whatever close() says. */
  (void)close(s->fd);
  s->fd = -1;
}

int udp_rx_batch_init(struct udp_rx_batch *b) {
  memset(b, 0, sizeof(*b));
  b->bufs = malloc((size_t)JVPN_UDP_RX_BATCH * JVPN_UDP_RX_BUF);
  if (b->bufs == NULL)
    return JVPN_ERR_NOMEM;
  return 0;
}

void udp_rx_batch_free(struct udp_rx_batch *b) {
  if (b == NULL)
    return;
  free(b->bufs);
  b->bufs = NULL;
}

static void parse_cmsgs(const struct udp_sock *s, struct msghdr *mh,
                        struct udp_rx_msg *m) {
  struct cmsghdr *c;

  for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
      int seg;

      memcpy(&seg, CMSG_DATA(c), sizeof(seg));
      if (seg > 0 && (size_t)seg < m->len)
        m->seg_size = (size_t)seg;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
      m->ecn = *(const uint8_t *)CMSG_DATA(c) & 3;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
      int tc;

      memcpy(&tc, CMSG_DATA(c), sizeof(tc));
      m->ecn = (uint8_t)(tc & 3);
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      struct sockaddr_in *sin = (struct sockaddr_in *)&m->local;

      memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      memset(sin, 0, sizeof(*sin));
      sin->sin_family = AF_INET;
      sin->sin_addr = pi.ipi_addr;
      sin->sin_port = ((const struct sockaddr_in *)&s->local)->sin_port;
      m->local_len = sizeof(*sin);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&m->local;

      memcpy(&pi, CMSG_DATA(c), sizeof(pi));
      memset(sin6, 0, sizeof(*sin6));
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = pi.ipi6_addr;
      sin6->sin6_port = ((const struct sockaddr_in6 *)&s->local)->sin6_port;
      /* A link-local address means nothing without its interface. */
      if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
        sin6->sin6_scope_id = pi.ipi6_ifindex;
      m->local_len = sizeof(*sin6);
    }
  }
}

int udp_sock_recv(struct udp_sock *s, struct udp_rx_batch *b) {
  int i, n;

  /* recvmmsg overwrites the lengths, so every slot is re-armed. */
  for (i = 0; i < JVPN_UDP_RX_BATCH; i++) {
    struct msghdr *mh = &b->mmsg[i].msg_hdr;

    b->iov[i].iov_base = b->bufs + (size_t)i * JVPN_UDP_RX_BUF;
    b->iov[i].iov_len = JVPN_UDP_RX_BUF;
    mh->msg_name = &b->msg[i].peer;
    mh->msg_namelen = sizeof(b->msg[i].peer);
    mh->msg_iov = &b->iov[i];
    mh->msg_iovlen = 1;
    mh->msg_control = b->ctrl[i];
    mh->msg_controllen = sizeof(b->ctrl[i]);
    mh->msg_flags = 0;
    b->mmsg[i].msg_len = 0;
  }
  do {
    n = recvmmsg(s->fd, b->mmsg, JVPN_UDP_RX_BATCH, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return JVPN_ERR_AGAIN;
    s->rx_errors++;
    return JVPN_ERR_SYSTEM;
  }
  if (n == 0)
    return JVPN_ERR_AGAIN;

  for (i = 0; i < n; i++) {
    struct udp_rx_msg *m = &b->msg[i];
    struct msghdr *mh = &b->mmsg[i].msg_hdr;

    m->data = b->iov[i].iov_base;
    m->len = b->mmsg[i].msg_len;
    m->seg_size = 0;
    m->peer_len = mh->msg_namelen;
    m->ecn = 0;
    /* Without pktinfo the bound address is the best answer there is. */
    m->local = s->local;
    m->local_len = s->local_len;
    parse_cmsgs(s, mh, m);
    /* A cut datagram is useless to QUIC; hand it over empty. */
    if (mh->msg_flags & MSG_TRUNC) {
      s->rx_errors++;
      m->len = 0;
      m->seg_size = 0;
    }
  }
  return n;
}

static int bound_to_wildcard(const struct udp_sock *s) {
  if (s->family == AF_INET)
    return ((const struct sockaddr_in *)&s->local)->sin_addr.s_addr ==
           htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(
      &((const struct sockaddr_in6 *)&s->local)->sin6_addr);
}

/* Appends the source address cmsg; returns the bytes used. */
static size_t put_pktinfo(const struct udp_sock *s, struct cmsghdr *c,
                          const struct sockaddr *local) {
  if (s->family == AF_INET) {
    struct in_pktinfo pi;

    memset(&pi, 0, sizeof(pi));
    pi.ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr;
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return CMSG_SPACE(sizeof(pi));
  } else {
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)local;
    struct in6_pktinfo pi;

    memset(&pi, 0, sizeof(pi));
    pi.ipi6_addr = l6->sin6_addr;
    if (IN6_IS_ADDR_LINKLOCAL(&l6->sin6_addr))
      pi.ipi6_ifindex = l6->sin6_scope_id;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    return CMSG_SPACE(sizeof(pi));
  }
}

static void set_ecn(struct udp_sock *s, uint8_t ecn) {
  ecn &= 3;
  if (s->ecn_last == ecn)
    return;
  /* On failure the packet keeps the socket's previous codepoint, and
   * ecn_last stays put so the next send tries again. */
  if (s->family == AF_INET) {
    if (set_int(s->fd, IPPROTO_IP, IP_TOS, ecn) < 0)
      return;
  } else if (set_int(s->fd, IPPROTO_IPV6, IPV6_TCLASS, ecn) < 0) {
    return;
  }
  s->ecn_last = ecn;
}

static ssize_t send_one(int fd, struct msghdr *mh) {
  ssize_t n;

  do {
    n = sendmsg(fd, mh, 0);
  } while (n < 0 && errno == EINTR);
  return n;
}

int udp_sock_send(struct udp_sock *s, const struct sockaddr *peer,
                  socklen_t peer_len, const struct sockaddr *local,
                  socklen_t local_len, const uint8_t *data, size_t len,
                  size_t seg_size, uint8_t ecn) {
  union send_ctrl ctrl;
  struct msghdr mh;
  struct iovec iov;
  struct cmsghdr *c;
  size_t ctrl_len = 0, src_len = 0, off;
  int want_gso;

  set_ecn(s, ecn);
  memset(&mh, 0, sizeof(mh));
  memset(&ctrl, 0, sizeof(ctrl));
  mh.msg_name = (void *)peer;
  mh.msg_namelen = peer_len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctrl.buf;
  c = (struct cmsghdr *)(void *)ctrl.buf;

  /* The source address matters only where the kernel could pick a
   * different one than the peer wrote to. */
  if (local != NULL && local->sa_family == s->family &&
      local_len >= (s->family == AF_INET ? sizeof(struct sockaddr_in)
                                         : sizeof(struct sockaddr_in6)) &&
      bound_to_wildcard(s)) {
    src_len = put_pktinfo(s, c, local);
    ctrl_len = src_len;
  }

  if (seg_size == 0 || seg_size >= len)
    seg_size = len;
  /* Past the segment limit the kernel says EINVAL, which must not be
   * taken for a device without GSO. */
  want_gso = seg_size < len && s->gso && seg_size <= UINT16_MAX &&
             (len + seg_size - 1) / seg_size <= JVPN_GSO_MAX_SEGS;

  if (seg_size == len || want_gso) {
    if (want_gso) {
      struct cmsghdr *g = (struct cmsghdr *)(void *)(ctrl.buf + ctrl_len);
      uint16_t gs = (uint16_t)seg_size;

      g->cmsg_level = IPPROTO_UDP;
      g->cmsg_type = UDP_SEGMENT;
      g->cmsg_len = CMSG_LEN(sizeof(gs));
      memcpy(CMSG_DATA(g), &gs, sizeof(gs));
      ctrl_len += CMSG_SPACE(sizeof(gs));
    }
    iov.iov_base = (void *)data;
    iov.iov_len = len;
    mh.msg_controllen = ctrl_len;
    if (ctrl_len == 0)
      mh.msg_control = NULL;
    if (send_one(s->fd, &mh) >= 0)
      return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return JVPN_ERR_AGAIN;
    if (!want_gso || (errno != EIO && errno != EINVAL)) {
      s->tx_errors++;
      return JVPN_ERR_SYSTEM;
    }
    /* EIO: the route's device cannot checksum-offload GSO; EINVAL: the
     * kernel refused the segmentation. Fall through to one by one. */
  }

  mh.msg_controllen = src_len;
  if (src_len == 0)
    mh.msg_control = NULL;
  for (off = 0; off < len; off += seg_size) {
    iov.iov_base = (void *)(data + off);
    iov.iov_len = len - off < seg_size ? len - off : seg_size;
    if (send_one(s->fd, &mh) < 0) {
      if (off == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return JVPN_ERR_AGAIN;
      s->tx_errors++;
      return JVPN_ERR_SYSTEM;
    }
    /* The first segment went out alone, so GSO was what failed: stop
     * asking for it. */
    if (off == 0 && want_gso)
      s->gso = 0;
  }
  return 0;
}

int udp_sock_drop_short(struct udp_sock *s, size_t min_payload) {
  /* The filter runs on the datagram with its UDP header (8 bytes). */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
               (uint32_t)(sizeof(struct udphdr) + min_payload), 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0),          /* drop */
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff), /* keep it whole */
  };
  struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};

  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) !=
      0)
    return JVPN_ERR_SYSTEM;
  return 0;
}
