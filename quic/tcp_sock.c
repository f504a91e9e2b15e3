/*
 * quic/tcp_sock: see quic/tcp_sock.h.
 */
#include "quic/tcp_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"

int tcp_sock_listen(const struct sockaddr *addr, socklen_t len) {
  int fd, one = 1, saved;

  fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      (addr->sa_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
      bind(fd, addr, len) != 0 || listen(fd, TCP_SOCK_BACKLOG) != 0) {
    saved = errno;
    close(fd);
    errno = saved;
    return JVPN_ERR_SYSTEM;
  }
  return fd;
}

int tcp_sock_accept(int lfd, struct sockaddr_storage *peer,
                    socklen_t *peer_len) {
  int fd;

  *peer_len = sizeof(*peer);
  fd = accept4(lfd, (struct sockaddr *)peer, peer_len,
               SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0)
    return fd;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED ||
      errno == EINTR)
    return JVPN_ERR_AGAIN;
  return JVPN_ERR_SYSTEM;
}

int tcp_sock_connect(const struct sockaddr *remote, socklen_t len,
                     const struct sockaddr *local, socklen_t local_len,
                     const char *ifname) {
  struct sockaddr_storage src;
  int fd, saved;

  fd = socket(remote->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
              0);
  if (fd < 0)
    return JVPN_ERR_SYSTEM;
  if (ifname != NULL && ifname[0] != '\0' &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
                 (socklen_t)strlen(ifname)) != 0)
    goto fail;
  if (local != NULL) {
    if (local_len > sizeof(src))
      goto fail_inval;
    memcpy(&src, local, local_len);
    if (src.ss_family == AF_INET)
      ((struct sockaddr_in *)&src)->sin_port = 0;
    else if (src.ss_family == AF_INET6)
      ((struct sockaddr_in6 *)&src)->sin6_port = 0;
    if (bind(fd, (struct sockaddr *)&src, local_len) != 0)
      goto fail;
  }
  if (connect(fd, remote, len) != 0 && errno != EINPROGRESS)
    goto fail;
  return fd;
fail_inval:
  errno = EINVAL;
fail:
  saved = errno;
  close(fd);
  errno = saved;
  return JVPN_ERR_SYSTEM;
}
