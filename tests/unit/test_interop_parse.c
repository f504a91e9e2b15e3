/* tests/unit/test_interop_parse: the interop endpoint's text parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "interop/interop_parse.h"
#include "jvpn/errors.h"

#define REQ(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void test_case_names(void **state) {
  (void)state;
  assert_int_equal(interop_case_parse("handshake"), IC_HANDSHAKE);
  assert_int_equal(interop_case_parse("connectionmigration"),
                   IC_CONNECTIONMIGRATION);
  assert_int_equal(interop_case_parse("datagram"), IC_DATAGRAM);
  assert_int_equal(interop_case_parse("rebind-addr"), IC_REBIND_ADDR);
  assert_int_equal(interop_case_parse("goodput"), JVPN_ERR_UNSUPPORTED);
  assert_int_equal(interop_case_parse(""), JVPN_ERR_UNSUPPORTED);
}

static void test_case_alpn(void **state) {
  (void)state;
  /* Without INTEROP_ALPN only http3 speaks h3. */
  assert_string_equal(interop_case_alpn(IC_HANDSHAKE, NULL), "hq-interop");
  assert_string_equal(interop_case_alpn(IC_ZERORTT, ""), "hq-interop");
  assert_string_equal(interop_case_alpn(IC_HTTP3, NULL), "h3");
  assert_string_equal(interop_case_alpn(IC_HTTP3, "hq-interop"), "h3");
  assert_string_equal(interop_case_alpn(IC_DATAGRAM, NULL), "hq-interop");
  /* An h3-only peer: every case in h3, except our datagram echo. */
  assert_string_equal(interop_case_alpn(IC_ZERORTT, "h3"), "h3");
  assert_string_equal(interop_case_alpn(IC_CONNECTIONMIGRATION, "h3"),
                      "h3");
  assert_string_equal(interop_case_alpn(IC_ECN, "h3"), "h3");
  assert_null(interop_case_alpn(IC_DATAGRAM, "h3"));
  assert_null(interop_case_alpn(IC_HANDSHAKE, "h2"));
}

static void test_url(void **state) {
  char host[64], path[64];
  uint16_t port;

  (void)state;
  assert_int_equal(interop_url_parse("https://193.167.100.100:443/abc",
                                     host, sizeof(host), &port, path,
                                     sizeof(path)),
                   0);
  assert_string_equal(host, "193.167.100.100");
  assert_int_equal(port, 443);
  assert_string_equal(path, "/abc");
  assert_int_equal(interop_url_parse("https://[fd00:cafe::100]:4433/x", host,
                                     sizeof(host), &port, path, sizeof(path)),
                   0);
  assert_string_equal(host, "fd00:cafe::100");
  assert_int_equal(port, 4433);
  assert_string_equal(path, "/x");
  assert_int_equal(interop_url_parse("http://a:1/x", host, sizeof(host),
                                     &port, path, sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://a/x", host, sizeof(host),
                                     &port, path, sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://a:0/x", host, sizeof(host),
                                     &port, path, sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://a:65536/x", host, sizeof(host),
                                     &port, path, sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://a:1", host, sizeof(host),
                                     &port, path, sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://[::1:443/x", host,
                                     sizeof(host), &port, path,
                                     sizeof(path)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_url_parse("https://a:1/0123456789", host,
                                     sizeof(host), &port, path, 8),
                   JVPN_ERR_OVERSIZE);
  assert_int_equal(interop_hostport_parse("[::1]:443", host, sizeof(host),
                                          &port),
                   0);
  assert_string_equal(host, "::1");
  assert_int_equal(interop_hostport_parse("127.0.0.1", host, sizeof(host),
                                          &port),
                   JVPN_ERR_MALFORMED);
}

static void test_sockaddr(void **state) {
  struct sockaddr_storage ss;
  const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
  const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
  struct in6_addr want6;
  socklen_t len = 0;

  (void)state;
  assert_int_equal(interop_sockaddr_parse("193.167.100.100:443", &ss, &len),
                   0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(len, sizeof(struct sockaddr_in));
  assert_int_equal(ntohs(v4->sin_port), 443);
  assert_int_equal(ntohl(v4->sin_addr.s_addr), 0xc1a76464u);
  assert_int_equal(
      interop_sockaddr_parse("[fd00:cafe:cafe:100::100]:4433", &ss, &len), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(len, sizeof(struct sockaddr_in6));
  assert_int_equal(ntohs(v6->sin6_port), 4433);
  assert_int_equal(inet_pton(AF_INET6, "fd00:cafe:cafe:100::100", &want6), 1);
  assert_memory_equal(&v6->sin6_addr, &want6, sizeof(want6));
  /* names, missing or bad ports, unclosed brackets */
  assert_int_equal(interop_sockaddr_parse("server4:443", &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(ss.ss_family, 0);
  assert_int_equal(interop_sockaddr_parse("127.0.0.1", &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_sockaddr_parse("127.0.0.1:0", &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_sockaddr_parse("[::1:443", &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_sockaddr_parse("[1.2.3.4.5]:443", &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_sockaddr_parse("", &ss, &len), JVPN_ERR_MALFORMED);
}

static void test_path(void **state) {
  char name[INTEROP_NAME_MAX + 1];

  (void)state;
  assert_int_equal(interop_path_to_name("/file", 5, name, sizeof(name)), 0);
  assert_string_equal(name, "file");
  assert_int_equal(interop_path_to_name("/d/f.txt", 8, name, sizeof(name)),
                   0);
  assert_int_equal(interop_path_to_name("/../etc", 7, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("/a/..", 5, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("//etc", 5, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("/a/", 3, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("/", 1, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("x", 1, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("/a\0b", 4, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_path_to_name("/a\\b", 4, name, sizeof(name)),
                   JVPN_ERR_MALFORMED);
}

static void test_hq_request(void **state) {
  char name[INTEROP_NAME_MAX + 1];
  uint8_t big[INTEROP_REQ_MAX + 16];

  (void)state;
  assert_int_equal(interop_hq_request_parse(REQ("GET /f\r\n"), 0, name,
                                            sizeof(name)),
                   0);
  assert_string_equal(name, "f");
  assert_int_equal(interop_hq_request_parse(REQ("GET /f\n"), 0, name,
                                            sizeof(name)),
                   0);
  /* the stream's end ends the line too */
  assert_int_equal(interop_hq_request_parse(REQ("GET /f"), 1, name,
                                            sizeof(name)),
                   0);
  assert_int_equal(interop_hq_request_parse(REQ("GET /f HTTP/1.0\r\n"), 0,
                                            name, sizeof(name)),
                   0);
  assert_string_equal(name, "f");
  /* incomplete: wait */
  assert_int_equal(interop_hq_request_parse(REQ("GET /f"), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_AGAIN);
  assert_int_equal(interop_hq_request_parse(REQ("GE"), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_AGAIN);
  assert_int_equal(interop_hq_request_parse(REQ("GE"), 1, name,
                                            sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_hq_request_parse(REQ("POST /f\r\n"), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_hq_request_parse(REQ("GET /../x\r\n"), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(interop_hq_request_parse(REQ("GET \r\n"), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_MALFORMED);
  /* a line that never ends is bounded */
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', sizeof(big) - 5);
  assert_int_equal(interop_hq_request_parse(big, sizeof(big), 0, name,
                                            sizeof(name)),
                   JVPN_ERR_OVERSIZE);
  assert_int_equal(interop_hq_request_parse(big, sizeof(big), 1, name,
                                            sizeof(name)),
                   JVPN_ERR_OVERSIZE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_case_names),
      cmocka_unit_test(test_case_alpn),
      cmocka_unit_test(test_url),
      cmocka_unit_test(test_sockaddr),
      cmocka_unit_test(test_path),
      cmocka_unit_test(test_hq_request),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
