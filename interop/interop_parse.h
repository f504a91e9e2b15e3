/*
 * interop/interop_parse: the untrusted text the interop endpoint reads:
 * test case names, request URLs, hq-interop request lines and the file
 * names they name. Pure functions, no I/O.
 */
#ifndef INTEROP_INTEROP_PARSE_H
#define INTEROP_INTEROP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define INTEROP_NAME_MAX 255  /* bytes: one file name under --www */
#define INTEROP_REQ_MAX 1024  /* bytes: longest hq-interop request line */

/* The quic-interop-runner test cases (interop/README.md). */
enum interop_case {
  IC_HANDSHAKE,
  IC_TRANSFER,
  IC_RETRY,
  IC_RESUMPTION,
  IC_ZERORTT,
  IC_HTTP3,
  IC_MULTICONNECT,
  IC_CHACHA20,
  IC_KEYUPDATE,
  IC_V2,
  IC_REBIND_PORT,
  IC_REBIND_ADDR,
  IC_CONNECTIONMIGRATION,
  IC_TRANSFERLOSS,
  IC_HANDSHAKELOSS,
  IC_AMPLIFICATIONLIMIT,
  IC_BLACKHOLE,
  IC_ECN,
  IC_DATAGRAM,
};

/* Returns the case named |name|, or JVPN_ERR_UNSUPPORTED. */
int interop_case_parse(const char *name);

/* The ALPN of test case |tc| given the INTEROP_ALPN environment value
 * |env| (NULL or "" = unset): "h3" for http3 and, with INTEROP_ALPN=h3
 * (the peer speaks only h3), for every case; "hq-interop" otherwise.
 * NULL when the case cannot run with that ALPN: datagram is hq-interop
 * only, and a value other than h3 or hq-interop is not known. */
const char *interop_case_alpn(int tc, const char *env);

/* Splits "https://HOST:PORT/PATH" (HOST an IPv4 literal, a bracketed
 * IPv6 literal or a name) into NUL-terminated |host| (brackets removed),
 * |port| and |path| (starting with '/'). Returns 0, JVPN_ERR_MALFORMED
 * or JVPN_ERR_OVERSIZE (a part does not fit). */
int interop_url_parse(const char *url, char *host, size_t hostlen,
                      uint16_t *port, char *path, size_t pathlen);

/* Parses "ADDR:PORT" / "[ADDR6]:PORT" into |host| and |port|. */
int interop_hostport_parse(const char *s, char *host, size_t hostlen,
                           uint16_t *port);

/* Parses "ADDR:PORT" / "[ADDR6]:PORT" with an address literal into
 * |ss| (sockaddr_in or sockaddr_in6) and |*len|. Returns 0 or
 * JVPN_ERR_MALFORMED (not an IPv4 or IPv6 literal, or a bad port). */
int interop_sockaddr_parse(const char *s, struct sockaddr_storage *ss,
                           socklen_t *len);

/* Checks a request |path| and writes the file name it names (without the
 * leading '/'): printable ASCII, no "..", no empty name. Sub-directories
 * are allowed ("a/b"). Returns 0 or JVPN_ERR_MALFORMED / _OVERSIZE. */
int interop_path_to_name(const char *path, size_t len, char *name,
                         size_t namelen);

/* An hq-interop request (HTTP/0.9 as the runner speaks it): "GET /PATH"
 * followed by "\r\n", "\n" or the end of the stream. |data| is the whole
 * request seen so far; |fin| says the stream ended. Returns 0 with the
 * file name in |name|, JVPN_ERR_AGAIN (incomplete: wait for more),
 * JVPN_ERR_OVERSIZE or JVPN_ERR_MALFORMED. */
int interop_hq_request_parse(const uint8_t *data, size_t len, int fin,
                             char *name, size_t namelen);

#endif /* INTEROP_INTEROP_PARSE_H */
