/*
 * quic/connect_ip_dns: the DNS_ASSIGN capsule value of
 * draft-ietf-masque-connect-ip-dns-05, section 3 (docs/protocol.md 4.1):
 * the DNS configuration one CONNECT-IP endpoint gives its peer.
 *
 *   DNS_ASSIGN value = DNS Configuration ...
 *   DNS Configuration { Nameserver Count (i), Nameserver (..) ...,
 *                       Internal Domain Count (i), Domain (..) ...,
 *                       Search Domain Count (i), Domain (..) ... }
 *   Nameserver { Service Priority (16),
 *                IPv4 Address Count (i), IPv4 Address (32) ...,
 *                IPv6 Address Count (i), IPv6 Address (128) ...,
 *                Authentication Domain Name (Domain),
 *                Service Parameters Length (i),
 *                Service Parameters (..) }   (SVCB wire format, RFC 9460)
 *   Domain { Domain Length (i), Domain Name (..) }   (presentation format)
 *
 * The decoder flattens what it reads into one struct cip_dns_config, the
 * shape a system resolver takes (one set of servers and domains per
 * link): the domains of every configuration go into one list of each
 * kind, and each address of a nameserver becomes one cip_dns_server (a
 * nameserver without addresses, one with ip_version 0). The encoder
 * writes one configuration with one nameserver per entry, so decoding
 * what it wrote gives the same struct back.
 *
 * Of the service parameters, "port", "alpn" (its "dot" and "doq"
 * protocols) and "no-default-alpn" are kept; the rest are checked for
 * form and dropped. A nameserver with no transport we know (DNS over
 * HTTPS only, say), or one whose "mandatory" list names a parameter we do
 * not use, is left out and counted in |unusable|.
 */
#ifndef QUIC_CONNECT_IP_DNS_H
#define QUIC_CONNECT_IP_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"

/* How a nameserver can be reached (cip_dns_server.transports). */
enum cip_dns_transport {
  CIP_DNS_DO53 = 1 << 0, /* unencrypted, UDP and TCP port 53 (RFC 1035) */
  CIP_DNS_DOT = 1 << 1,  /* ALPN "dot": DNS over TLS (RFC 7858) */
  CIP_DNS_DOQ = 1 << 2,  /* ALPN "doq": DNS over QUIC (RFC 9250) */
};

struct cip_dns_server {
  uint8_t ip_version; /* 4 or 6; 0: no address, reachable by name only */
  uint8_t addr[16];   /* IPv4 in the first 4 bytes */
  uint8_t transports; /* CIP_DNS_*, at least one */
  uint16_t priority;  /* SVCB SvcPriority, 1..65535: lower first */
  uint16_t port;      /* "port" parameter; 0: the transport's default */
  char name[JVPN_DNS_NAME_SIZE]; /* Authentication Domain Name; "" none
                                  * (then the server speaks only DO53) */
};

struct cip_dns_config {
  struct cip_dns_server servers[JVPN_DNS_MAX_SERVERS];
  size_t nservers;
  /* internal domains: names (and their subdomains) the servers resolve;
   * the root ("" or ".") stands for every name */
  char domains[JVPN_DNS_MAX_DOMAINS][JVPN_DNS_NAME_SIZE];
  size_t ndomains;
  char search[JVPN_DNS_MAX_DOMAINS][JVPN_DNS_NAME_SIZE]; /* never the root */
  size_t nsearch;
  unsigned unusable; /* decoder: nameservers left out (see above) */
};

/* Decodes a DNS_ASSIGN value into |out| (cleared first, and again on an
 * error). An empty value is a configuration without anything in it.
 * Returns 0; JVPN_ERR_TRUNCATED if the value ends inside a field (a
 * malformed capsule, RFC 9297 3.3); JVPN_ERR_MALFORMED if a field breaks
 * a rule of the draft or of SVCB; JVPN_ERR_OVERSIZE past the limits
 * above. On an error |*why| (if |why| is not NULL) names the problem in a
 * static string. */
int cip_dns_decode(const uint8_t *v, size_t len, struct cip_dns_config *out,
                   const char **why);

/* Encodes |c| (its |unusable| is not sent); nothing at all (0 bytes) when
 * it has no server and no domain. Returns the bytes written,
 * JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for anything the decoder would
 * refuse. */
long cip_dns_encode(uint8_t *dst, size_t dstlen,
                    const struct cip_dns_config *c);

/* Returns 1 if |name| (|len| bytes, no NUL needed) is a domain name as the
 * draft carries it: labels of 1..63 letters, digits, '-' or '_', none
 * starting or ending with '-', at most JVPN_DNS_NAME_MAX bytes besides an
 * optional final dot; "" and "." (the root) included. Else 0. */
int cip_dns_name_ok(const char *name, size_t len);

/* Returns 1 if |name| is the root ("" or "."). */
int cip_dns_name_is_root(const char *name);

#endif /* QUIC_CONNECT_IP_DNS_H */
