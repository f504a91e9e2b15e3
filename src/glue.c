/* src/glue: loop glue shared by the server and client programs. */
#include "src/glue.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "tun/icmp_ptb.h"

uint64_t glue_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void glue_timer_arm(uv_timer_t *t, uint64_t expiry, uint64_t now) {
  uint64_t ms;

  if (expiry == UINT64_MAX) {
    uv_timer_stop(t);
    return;
  }
  ms = expiry > now ? (expiry - now) / 1000000ULL : 0;
  uv_timer_start(t, t->timer_cb, ms, 0);
}

const char *glue_sockaddr_str(const struct sockaddr *sa, char *buf,
                              size_t len) {
  char ip[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
  } else {
    snprintf(buf, len, "(family %d)", sa->sa_family);
  }
  return buf;
}

const char *glue_ip_str(int family, const uint8_t *addr, char *buf,
                        size_t len) {
  if (inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
    snprintf(buf, len, "?");
  return buf;
}

int glue_load_cred(gnutls_certificate_credentials_t *cred,
                   const char *cert_file, const char *key_file) {
  int rv;

  if (gnutls_certificate_allocate_credentials(cred) != 0) {
    LOG_ERR(NULL, "cannot allocate TLS credentials");
    return JVPN_ERR_TLS;
  }
  rv = gnutls_certificate_set_x509_key_file(*cred, cert_file, key_file,
                                            GNUTLS_X509_FMT_PEM);
  if (rv < 0) {
    LOG_ERR(NULL, "cannot load certificate %s with key %s: %s", cert_file,
            key_file, gnutls_strerror(rv));
    gnutls_certificate_free_credentials(*cred);
    *cred = NULL;
    return JVPN_ERR_TLS;
  }
  return 0;
}

static int is_wildcard(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_ANY;
  if (sa->sa_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(
        &((const struct sockaddr_in6 *)sa)->sin6_addr);
  return 0;
}

int glue_send(struct udp_sock *s, const ngtcp2_path *path,
              const uint8_t *data, size_t len, size_t seg, uint8_t ecn) {
  const struct sockaddr *local = NULL;
  socklen_t local_len = 0;

  if (is_wildcard((const struct sockaddr *)&s->local) &&
      path->local.addrlen > 0 &&
      !is_wildcard((const struct sockaddr *)path->local.addr)) {
    local = (const struct sockaddr *)path->local.addr;
    local_len = (socklen_t)path->local.addrlen;
  }
  return udp_sock_send(s, (const struct sockaddr *)path->remote.addr,
                       (socklen_t)path->remote.addrlen, local, local_len,
                       data, len, seg, ecn);
}

int glue_send_ptb(struct tun_dev *tun, const uint8_t *pkt, size_t len,
                  size_t mtu) {
  uint8_t err[1280];
  long n;

  n = icmp_ptb_build(err, sizeof(err), pkt, len, (uint32_t)mtu);
  if (n <= 0)
    return -1;
  return tun_dev_write(tun, err, (size_t)n) == 0 ? 0 : -1;
}

void glue_stats_line(char *buf, size_t len, const struct glue_counters *g,
                     const struct quic_conn *qc) {
  snprintf(buf, len,
           "rx_packets=%llu tx_packets=%llu drop_spoofed=%llu "
           "drop_malformed=%llu drop_no_route=%llu drop_too_big=%llu "
           "drop_queue=%llu drop_tun_full=%llu capsules_rx=%llu",
           (unsigned long long)g->rx_packets,
           (unsigned long long)g->tx_packets,
           (unsigned long long)g->drop_spoofed,
           (unsigned long long)(g->drop_malformed +
                                (qc ? qc->stats.drop_malformed +
                                          qc->stats.drop_context
                                    : 0)),
           (unsigned long long)g->drop_no_route,
           (unsigned long long)(g->drop_too_big +
                                (qc ? qc->stats.drop_too_big : 0)),
           (unsigned long long)(qc ? qc->stats.drop_queue : 0),
           (unsigned long long)g->drop_tun_full,
           (unsigned long long)(qc ? qc->stats.capsules_rx : 0));
}
