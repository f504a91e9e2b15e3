/*
 * tests/unit/test_tcp_sock: listeners, accepted connections and
 * connecting sockets on the real loopback (127.0.0.1 and ::1): their
 * flags and options, the data that crosses them, and the errors (each
 * leaving no descriptor behind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "quic/tcp_sock.h"

/* Open descriptors of the process. */
static int fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own */
}

static socklen_t loopback(struct sockaddr_storage *ss, int family,
                          uint16_t port) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;

    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return sizeof(*a);
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

  a->sin6_family = AF_INET6;
  a->sin6_addr = in6addr_loopback;
  a->sin6_port = htons(port);
  return sizeof(*a);
}

static uint16_t port_of(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);

  assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
  return ntohs(ss.ss_family == AF_INET
                   ? ((struct sockaddr_in *)&ss)->sin_port
                   : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);

  assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

static void assert_nonblock_cloexec(int fd) {
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* Waits until |fd| is ready for |events|; returns revents. */
static short wait_for(int fd, short events) {
  struct pollfd p = {.fd = fd, .events = events};

  assert_int_equal(poll(&p, 1, 5000), 1);
  return p.revents;
}

/* Accepts the one connection that is on its way. */
static int accept_one(int lfd, struct sockaddr_storage *peer,
                      socklen_t *peer_len) {
  wait_for(lfd, POLLIN);
  return tcp_sock_accept(lfd, peer, peer_len);
}

/* Listen, connect, accept; bytes both ways; the addresses agree. */
static void round_trip(int family) {
  struct sockaddr_storage addr, peer, local;
  socklen_t len = loopback(&addr, family, 0), plen, llen = sizeof(local);
  int lfd, cfd, afd, err;
  char buf[16];

  lfd = tcp_sock_listen((struct sockaddr *)&addr, len);
  assert_true(lfd >= 0);
  assert_nonblock_cloexec(lfd);
  assert_int_equal(sockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);
  assert_int_equal(sockopt(lfd, SOL_SOCKET, SO_REUSEADDR), 1);
  if (family == AF_INET6)
    assert_int_equal(sockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
  assert_int_not_equal(port_of(lfd), 0);
  /* nobody yet */
  assert_int_equal(tcp_sock_accept(lfd, &peer, &plen), JVPN_ERR_AGAIN);

  loopback(&addr, family, port_of(lfd));
  cfd = tcp_sock_connect((struct sockaddr *)&addr, len, NULL, 0, NULL);
  assert_true(cfd >= 0);
  assert_nonblock_cloexec(cfd);
  assert_true(wait_for(cfd, POLLOUT) & POLLOUT);
  assert_int_equal(sockopt(cfd, SOL_SOCKET, SO_ERROR), 0);

  afd = accept_one(lfd, &peer, &plen);
  assert_true(afd >= 0);
  assert_nonblock_cloexec(afd);
  /* the peer's address is the client socket's own */
  assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &llen), 0);
  assert_int_equal(plen, llen);
  assert_memory_equal(&peer, &local, plen);

  assert_int_equal(write(cfd, "hello", 5), 5);
  wait_for(afd, POLLIN);
  assert_int_equal(read(afd, buf, sizeof(buf)), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(write(afd, "back", 4), 4);
  wait_for(cfd, POLLIN);
  assert_int_equal(read(cfd, buf, sizeof(buf)), 4);
  assert_memory_equal(buf, "back", 4);
  /* non-blocking: an empty socket says so at once */
  err = (int)read(afd, buf, sizeof(buf));
  assert_int_equal(err, -1);
  assert_int_equal(errno, EAGAIN);
  /* one connection was waiting; now none */
  assert_int_equal(tcp_sock_accept(lfd, &peer, &plen), JVPN_ERR_AGAIN);
  close(afd);
  close(cfd);
  close(lfd);
}

static void test_ipv4(void **state) {
  (void)state;
  round_trip(AF_INET);
}

static void test_ipv6(void **state) {
  (void)state;
  round_trip(AF_INET6);
}

/* IPV6_V6ONLY: a wildcard IPv6 listener leaves the IPv4 port to another
 * listener (the QUIC port's number on both families). */
static void test_v6only_shares_port(void **state) {
  struct sockaddr_storage a6, a4;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a6;
  socklen_t l6 = loopback(&a6, AF_INET6, 0), l4;
  int fd6, fd4;

  (void)state;
  s6->sin6_addr = in6addr_any;
  fd6 = tcp_sock_listen((struct sockaddr *)&a6, l6);
  assert_true(fd6 >= 0);
  l4 = loopback(&a4, AF_INET, port_of(fd6));
  ((struct sockaddr_in *)&a4)->sin_addr.s_addr = htonl(INADDR_ANY);
  fd4 = tcp_sock_listen((struct sockaddr *)&a4, l4);
  assert_true(fd4 >= 0);
  assert_int_equal(port_of(fd4), port_of(fd6));
  close(fd4);
  close(fd6);
}

/* Failures say why in errno and close what they opened. */
static void test_listen_errors(void **state) {
  struct sockaddr_storage addr;
  socklen_t len = loopback(&addr, AF_INET, 0);
  int lfd, before;

  (void)state;
  lfd = tcp_sock_listen((struct sockaddr *)&addr, len);
  assert_true(lfd >= 0);
  before = fd_count();
  /* the port is taken (SO_REUSEADDR does not share a listening port) */
  loopback(&addr, AF_INET, port_of(lfd));
  errno = 0;
  assert_int_equal(tcp_sock_listen((struct sockaddr *)&addr, len),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EADDRINUSE);
  /* an address this host does not have (TEST-NET-1) */
  ((struct sockaddr_in *)&addr)->sin_addr.s_addr = htonl(0xc0000201);
  ((struct sockaddr_in *)&addr)->sin_port = 0;
  assert_int_equal(tcp_sock_listen((struct sockaddr *)&addr, len),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EADDRNOTAVAIL);
  /* an address too short for its family */
  loopback(&addr, AF_INET, 0);
  assert_int_equal(tcp_sock_listen((struct sockaddr *)&addr, 4),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EINVAL);
  /* no such family: the socket itself fails */
  addr.ss_family = AF_MAX;
  assert_int_equal(tcp_sock_listen((struct sockaddr *)&addr, len),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EAFNOSUPPORT);
  assert_int_equal(fd_count(), before);
  close(lfd);
}

static void test_accept_errors(void **state) {
  struct sockaddr_storage peer;
  socklen_t plen = 0;
  int fd;

  (void)state;
  assert_int_equal(tcp_sock_accept(-1, &peer, &plen), JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EBADF);
  /* a socket that is not listening */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(tcp_sock_accept(fd, &peer, &plen), JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EINVAL);
  close(fd);
}

/* A closed port: the connect starts (or fails at once) and ends refused;
 * the descriptor returned is the caller's to close. */
static void test_connect_refused(void **state) {
  struct sockaddr_storage addr;
  socklen_t len = loopback(&addr, AF_INET, 0);
  int lfd, fd, before;
  uint16_t port;

  (void)state;
  /* a port that was free a moment ago */
  lfd = tcp_sock_listen((struct sockaddr *)&addr, len);
  assert_true(lfd >= 0);
  port = port_of(lfd);
  close(lfd);
  loopback(&addr, AF_INET, port);
  before = fd_count();
  fd = tcp_sock_connect((struct sockaddr *)&addr, len, NULL, 0, "");
  if (fd < 0) {
    assert_int_equal(fd, JVPN_ERR_SYSTEM);
    assert_int_equal(errno, ECONNREFUSED);
  } else {
    assert_true(wait_for(fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP));
    assert_int_equal(sockopt(fd, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
    close(fd);
  }
  assert_int_equal(fd_count(), before);
}

/* An interface name binds the socket to it (multi-path uplinks); an
 * unknown name is an error that leaves nothing open. */
static void test_connect_ifname(void **state) {
  struct sockaddr_storage addr, peer;
  socklen_t len = loopback(&addr, AF_INET, 0), plen;
  char dev[IF_NAMESIZE] = "";
  socklen_t dlen = sizeof(dev);
  int lfd, fd, afd, before;

  (void)state;
  lfd = tcp_sock_listen((struct sockaddr *)&addr, len);
  assert_true(lfd >= 0);
  loopback(&addr, AF_INET, port_of(lfd));
  fd = tcp_sock_connect((struct sockaddr *)&addr, len, NULL, 0, "lo");
  assert_true(fd >= 0);
  assert_int_equal(
      getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dlen), 0);
  assert_string_equal(dev, "lo");
  assert_true(wait_for(fd, POLLOUT) & POLLOUT);
  assert_int_equal(sockopt(fd, SOL_SOCKET, SO_ERROR), 0);
  afd = accept_one(lfd, &peer, &plen);
  assert_true(afd >= 0);
  close(afd);
  close(fd);
  /* no name, or an empty one: not bound to any device */
  fd = tcp_sock_connect((struct sockaddr *)&addr, len, NULL, 0, NULL);
  assert_true(fd >= 0);
  dlen = sizeof(dev);
  assert_int_equal(
      getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dlen), 0);
  assert_int_equal(dlen, 0);
  close(fd);
  afd = accept_one(lfd, &peer, &plen);
  assert_true(afd >= 0);
  close(afd);

  before = fd_count();
  assert_int_equal(
      tcp_sock_connect((struct sockaddr *)&addr, len, NULL, 0, "nosuch0"),
      JVPN_ERR_SYSTEM);
  assert_int_equal(errno, ENODEV);
  assert_int_equal(fd_count(), before);
  close(lfd);
}

/* A source address binds the socket to it, whatever port it names (a
 * multi-path uplink's address, as its UDP sockets use); one that is not
 * the host's is an error that leaves nothing open. */
static void test_connect_local(void **state) {
  struct sockaddr_storage addr, src, peer;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&src;
  socklen_t len = loopback(&addr, AF_INET, 0), slen, plen;
  int lfd, fd, afd, before;

  (void)state;
  lfd = tcp_sock_listen((struct sockaddr *)&addr, len);
  assert_true(lfd >= 0);
  loopback(&addr, AF_INET, port_of(lfd));
  slen = loopback(&src, AF_INET, 443);     /* the port is not taken */
  s4->sin_addr.s_addr = htonl(0x7f000002); /* 127.0.0.2, also loopback */
  fd = tcp_sock_connect((struct sockaddr *)&addr, len, (struct sockaddr *)&src,
                        slen, NULL);
  assert_true(fd >= 0);
  assert_true(wait_for(fd, POLLOUT) & POLLOUT);
  assert_int_equal(sockopt(fd, SOL_SOCKET, SO_ERROR), 0);
  afd = accept_one(lfd, &peer, &plen);
  assert_true(afd >= 0);
  assert_int_equal(((struct sockaddr_in *)&peer)->sin_addr.s_addr,
                   htonl(0x7f000002));
  assert_int_not_equal(((struct sockaddr_in *)&peer)->sin_port, htons(443));
  close(afd);
  close(fd);

  before = fd_count();
  s4->sin_addr.s_addr = htonl(0xc6120063); /* 198.18.0.99: not ours */
  assert_int_equal(tcp_sock_connect((struct sockaddr *)&addr, len,
                                    (struct sockaddr *)&src, slen, NULL),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(errno, EADDRNOTAVAIL);
  assert_int_equal(fd_count(), before);
  close(lfd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4),
      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_v6only_shares_port),
      cmocka_unit_test(test_listen_errors),
      cmocka_unit_test(test_accept_errors),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_connect_ifname),
      cmocka_unit_test(test_connect_local),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
