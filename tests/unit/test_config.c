/* Unit tests for src/config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/policy.h"
#include "src/config.h"
#include "src/pin.h"

/* SHA-256("") and two other well-formed pins. */
#define PIN_A "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define PIN_B "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define PIN_C "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

static struct jvpn_config_error err;

static int parse_server(struct jvpn_server_conf *c, const char *text) {
  return jvpn_config_parse_server(c, text, strlen(text), "test.conf", &err);
}

static int parse_client(struct jvpn_client_conf *c, const char *text) {
  return jvpn_config_parse_client(c, text, strlen(text), "test.conf", &err);
}

static void assert_v4(const uint8_t *a, const char *text) {
  uint8_t want[4];
  assert_int_equal(inet_pton(AF_INET, text, want), 1);
  assert_memory_equal(a, want, 4);
}

static void assert_v6(const uint8_t *a, const char *text) {
  uint8_t want[16];
  assert_int_equal(inet_pton(AF_INET6, text, want), 1);
  assert_memory_equal(a, want, 16);
}

static void assert_sa(const struct sockaddr_storage *ss, socklen_t len,
                      const char *addr, uint16_t port) {
  if (strchr(addr, ':') != NULL) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    assert_int_equal(len, sizeof(*s6));
    assert_int_equal(s6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(s6->sin6_port), port);
    assert_v6(s6->sin6_addr.s6_addr, addr);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    assert_int_equal(len, sizeof(*s4));
    assert_int_equal(s4->sin_family, AF_INET);
    assert_int_equal(ntohs(s4->sin_port), port);
    assert_v4((const uint8_t *)&s4->sin_addr, addr);
  }
}

static const char full_server[] = "# jvpn-quic server\n"
                                  "[server]\n"
                                  "listen = 198.18.0.1:4433\n"
                                  "listen = [fd00:6a76::1]:8443\n"
                                  "listen = 198.18.0.2\n"
                                  "key = /etc/jvpn/key.pem\n"
                                  "cert = /etc/jvpn/cert.pem\n"
                                  "pool4 = 198.18.200.0/24\n"
                                  "pool6 = fd77:6a76:706e::/64\n"
                                  "route = 198.18.200.0/24\n"
                                  "route = ::/0\n"
                                  "route = 0.0.0.0/0\n"
                                  "dns = 198.18.200.1\n"
                                  "dns = fd77:6a76:706e::1\n"
                                  "dns_search = vpn.test\n"
                                  "dns_search = Corp.Example.\n"
                                  "tun = vpn_0.srv\n"
                                  "mtu = 1280\n"
                                  "congestion = bbr\n"
                                  "retry = always\n"
                                  "seccomp = log\n"
                                  "metrics = [::1]:9587\n"
                                  "metrics_per_session = on\n"
                                  "tun_offload = off\n"
                                  "log_level = debug\n"
                                  "\n"
                                  "[peer]\n"
                                  "name = alice\n"
                                  "pin = " PIN_A "\n"
                                  "address4 = 198.18.200.10/32\n"
                                  "address6 = fd77:6a76:706e::10\n"
                                  "[peer]\n"
                                  "pin = " PIN_B "\n"
                                  "[peer]\n"
                                  "pin = " PIN_C "\n"
                                  "address4 = 198.18.200.11\n"
                                  "name = carol-2.x_y\n";

static void test_server_full(void **state) {
  struct jvpn_server_conf c;
  uint8_t pin[JVPN_PIN_LEN];
  char shortpin[9];

  (void)state;
  assert_int_equal(parse_server(&c, full_server), 0);
  assert_int_equal(c.nlisten, 3);
  assert_sa(&c.listen[0], c.listen_len[0], "198.18.0.1", 4433);
  assert_sa(&c.listen[1], c.listen_len[1], "fd00:6a76::1", 8443);
  assert_sa(&c.listen[2], c.listen_len[2], "198.18.0.2", 443);
  assert_sa(&c.metrics, c.metrics_len, "::1", 9587);
  assert_int_equal(c.metrics_per_session, 1);
  assert_string_equal(c.key_file, "/etc/jvpn/key.pem");
  assert_string_equal(c.cert_file, "/etc/jvpn/cert.pem");
  assert_int_equal(c.pool4.family, AF_INET);
  assert_int_equal(c.pool4.plen, 24);
  assert_v4(c.pool4.addr, "198.18.200.0");
  assert_int_equal(c.pool6.family, AF_INET6);
  assert_int_equal(c.pool6.plen, 64);
  assert_v6(c.pool6.addr, "fd77:6a76:706e::");
  assert_int_equal(c.nroutes, 3);
  assert_int_equal(c.routes[1].family, AF_INET6);
  assert_int_equal(c.routes[1].plen, 0);
  assert_int_equal(c.routes[2].family, AF_INET);
  assert_int_equal(c.routes[2].plen, 0);
  assert_int_equal(c.ndns, 2);
  assert_int_equal(c.dns[0].family, AF_INET);
  assert_int_equal(c.dns[0].plen, 32);
  assert_v4(c.dns[0].addr, "198.18.200.1");
  assert_int_equal(c.dns[1].family, AF_INET6);
  assert_v6(c.dns[1].addr, "fd77:6a76:706e::1");
  assert_int_equal(c.ndns_search, 2);
  assert_string_equal(c.dns_search[0], "vpn.test");
  assert_string_equal(c.dns_search[1], "Corp.Example.");
  assert_string_equal(c.tun_name, "vpn_0.srv");
  assert_int_equal(c.mtu, 1280);
  assert_int_equal(c.cc, JVPN_CC_BBR);
  assert_int_equal(c.retry, JVPN_RETRY_ALWAYS);
  assert_int_equal(c.seccomp, JVPN_SECCOMP_LOG);
  assert_int_equal(c.tun_offload, 0);
  assert_int_equal(c.log_level, JVPN_LOG_DEBUG);

  assert_int_equal(c.npeers, 3);
  assert_string_equal(c.peers[0].name, "alice");
  assert_int_equal(jvpn_pin_parse(PIN_A, pin), 0);
  assert_memory_equal(c.peers[0].pin, pin, JVPN_PIN_LEN);
  assert_int_equal(c.peers[0].addr4.family, AF_INET);
  assert_int_equal(c.peers[0].addr4.plen, 32);
  assert_v4(c.peers[0].addr4.addr, "198.18.200.10");
  assert_int_equal(c.peers[0].addr6.plen, 128);
  assert_v6(c.peers[0].addr6.addr, "fd77:6a76:706e::10");
  /* no name: the short pin stands in */
  assert_int_equal(jvpn_pin_parse(PIN_B, pin), 0);
  jvpn_pin_short(pin, shortpin);
  assert_string_equal(c.peers[1].name, shortpin);
  assert_int_equal(c.peers[1].addr4.family, 0);
  assert_int_equal(c.peers[1].addr6.family, 0);
  /* name after pin, bare pin without prefix */
  assert_string_equal(c.peers[2].name, "carol-2.x_y");
  assert_int_equal(c.peers[2].pin[0], 1);
  assert_v4(c.peers[2].addr4.addr, "198.18.200.11");
  jvpn_server_conf_free(&c);
  assert_null(c.peers);
  jvpn_server_conf_free(&c);
  jvpn_server_conf_free(NULL);
}

static void test_server_defaults(void **state) {
  struct jvpn_server_conf c;
  static const char text[] = "[server]\n"
                             "key = k.pem\n"
                             "cert = c.pem\n"
                             "pool6 = fd77:6a76:706e::/64\n"
                             "[peer]\n"
                             "pin = " PIN_A "\n";

  (void)state;
  assert_int_equal(parse_server(&c, text), 0);
  assert_int_equal(c.nlisten, 2);
  assert_sa(&c.listen[0], c.listen_len[0], "0.0.0.0", 443);
  assert_sa(&c.listen[1], c.listen_len[1], "::", 443);
  assert_int_equal(c.pool4.family, 0);
  assert_int_equal(c.nroutes, 0);
  assert_int_equal(c.ndns, 0);
  assert_int_equal(c.ndns_search, 0);
  assert_string_equal(c.tun_name, "jvpn0");
  assert_int_equal(c.mtu, JVPN_TUN_DEFAULT_MTU);
  assert_int_equal(c.retry, JVPN_RETRY_AUTO);
  assert_int_equal(c.seccomp, JVPN_SECCOMP_ON);
  assert_int_equal(c.metrics_len, 0); /* no endpoint */
  assert_int_equal(c.metrics_per_session, 0);
  assert_int_equal(c.tun_offload, 1);
  assert_int_equal(c.cc, JVPN_CC_CUBIC);
  assert_int_equal(c.log_level, JVPN_LOG_INFO);
  assert_string_equal(c.peers[0].name, "47DEQpj8");
  jvpn_server_conf_free(&c);
}

static void test_client_full_and_defaults(void **state) {
  struct jvpn_client_conf c;
  uint8_t pin[JVPN_PIN_LEN];
  static const char full[] = "[client]\n"
                             "server = vpn.example.com:4433\n"
                             "server_pin = " PIN_A "\n"
                             "key = /k\n"
                             "cert = /c\n"
                             "tun = jvpn%d\n"
                             "mtu = 9000\n"
                             "congestion = reno\n"
                             "log_level = trace\n"
                             "allow_route = 198.18.200.0/24\n"
                             "allow_route = fd77:6a76:706e::/64\n"
                             "user = jvpn-quic\n"
                             "seccomp = off\n"
                             "tun_offload = off\n"
                             "dns = off\n"
                             "dns_backend = resolved\n";
  static const struct {
    const char *value, *host;
    uint16_t port;
  } servers[] = {
      {"vpn.example.com", "vpn.example.com", 443},
      {"198.18.0.1:4433", "198.18.0.1", 4433},
      {"[fd00:6a76::1]:8443", "fd00:6a76::1", 8443},
      {"[fd00:6a76::1]", "fd00:6a76::1", 443},
      {"fd00:6a76::1", "fd00:6a76::1", 443},
      {"my_host.lan.:1", "my_host.lan.", 1},
  };
  char text[512];
  size_t i;

  (void)state;
  assert_int_equal(parse_client(&c, full), 0);
  assert_string_equal(c.server_host, "vpn.example.com");
  assert_int_equal(c.server_port, 4433);
  assert_int_equal(jvpn_pin_parse(PIN_A, pin), 0);
  assert_memory_equal(c.server_pin, pin, JVPN_PIN_LEN);
  assert_string_equal(c.key_file, "/k");
  assert_string_equal(c.cert_file, "/c");
  assert_string_equal(c.tun_name, "jvpn%d");
  assert_int_equal(c.mtu, 9000);
  assert_int_equal(c.cc, JVPN_CC_RENO);
  assert_int_equal(c.log_level, JVPN_LOG_TRACE);
  assert_string_equal(c.user, "jvpn-quic");
  assert_int_equal(c.seccomp, JVPN_SECCOMP_OFF);
  assert_int_equal(c.tun_offload, 0);
  assert_int_equal(c.dns, 0);
  assert_int_equal(c.dns_backend, JVPN_DNS_BACKEND_RESOLVED);
  assert_int_equal(c.nallow_routes, 2);
  assert_int_equal(c.allow_routes[0].family, AF_INET);
  assert_int_equal(c.allow_routes[0].plen, 24);
  assert_memory_equal(c.allow_routes[0].addr, "\xc6\x12\xc8\x00", 4);
  assert_int_equal(c.allow_routes[1].family, AF_INET6);
  assert_int_equal(c.allow_routes[1].plen, 64);
  assert_memory_equal(c.allow_routes[1].addr, "\xfd\x77\x6a\x76\x70\x6e", 6);

  for (i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
    snprintf(text, sizeof(text),
             "[client]\nserver = %s\nserver_pin = %s\nkey = k\ncert = c\n",
             servers[i].value, PIN_B);
    assert_int_equal(parse_client(&c, text), 0);
    assert_string_equal(c.server_host, servers[i].host);
    assert_int_equal(c.server_port, servers[i].port);
    /* defaults */
    assert_string_equal(c.tun_name, "jvpn0");
    assert_int_equal(c.mtu, 0);
    assert_int_equal(c.cc, JVPN_CC_CUBIC);
    assert_int_equal(c.log_level, JVPN_LOG_INFO);
    assert_int_equal(c.seccomp, JVPN_SECCOMP_ON);
    assert_int_equal(c.tun_offload, 1);
    assert_int_equal(c.dns, 1);
    assert_int_equal(c.dns_backend, JVPN_DNS_BACKEND_AUTO);
  }
  /* mtu 0 is explicit "derive from the path" */
  assert_int_equal(parse_client(&c, "[client]\nserver = h\nserver_pin = " PIN_A
                                    "\nkey = k\ncert = c\nmtu = 0\n"),
                   0);
  assert_int_equal(c.mtu, 0);
}

static void test_syntax_variants(void **state) {
  struct jvpn_server_conf c;
  /* BOM, CRLF, tabs, both comment styles, trailing comments, a '#' inside
   * a value, no newline at the end */
  static const char text[] =
      "\xef\xbb\xbf# leading comment\r\n"
      "; another\r\n"
      "\r\n"
      "   \t  \r\n"
      "  [ server ]   # section comment\r\n"
      "key=k#1.pem\r\n"
      "\tcert\t=\t/c c.pem ; trailing\r\n"
      "pool4 =198.18.200.0/24# not a comment: no space before\r\n"
      "mtu = 1500 ;comment\r\n"
      "[peer]\r\n"
      "   pin    =    " PIN_A "    # alice\r\n"
      "name = alice";
  static const char bad_pool[] = "[server]\nkey=k\ncert=c\n"
                                 "pool4 = 198.18.200.0/24#x\n"
                                 "[peer]\npin=" PIN_A "\n";

  (void)state;
  assert_int_equal(parse_server(&c, bad_pool), JVPN_ERR_CONFIG);
  assert_int_equal(err.line, 4);
  assert_non_null(strstr(err.msg, "bad prefix length"));

  assert_int_equal(
      jvpn_config_parse_server(&c, text, sizeof(text) - 1, "v.conf", &err),
      JVPN_ERR_CONFIG);
  /* the pool line above carries "#" without a space: part of the value */
  assert_int_equal(err.line, 8);
  assert_string_equal(err.file, "v.conf");

  {
    char fixed[sizeof(text)];
    char *p;
    memcpy(fixed, text, sizeof(text));
    p = strstr(fixed, "# not a comment");
    memset(p, ' ', strlen("# not a comment: no space before"));
    assert_int_equal(
        jvpn_config_parse_server(&c, fixed, sizeof(fixed) - 1, "v.conf", &err),
        0);
  }
  assert_string_equal(c.key_file, "k#1.pem");
  assert_string_equal(c.cert_file, "/c c.pem");
  assert_int_equal(c.pool4.plen, 24);
  assert_int_equal(c.mtu, 1500);
  assert_int_equal(c.npeers, 1);
  assert_string_equal(c.peers[0].name, "alice");
  jvpn_server_conf_free(&c);
}

struct err_case {
  const char *text;
  unsigned line;
  const char *msg;
};

#define SRV "[server]\nkey = k\ncert = c\npool4 = 198.18.200.0/24\n"
#define PEER "[peer]\npin = " PIN_A "\n"

static const struct err_case server_errors[] = {
    {SRV "store = redis\nnode_id = n1\n" PEER, 1,
     "store = redis needs \"redis\""},
    {SRV "store = redis\nredis = 198.18.0.9:6379\n" PEER, 1,
     "and \"node_id\""},
    {SRV "node_id = n/1\n" PEER, 5, "node_id \"n/1\": 1 to 63 characters"},
    {SRV "lease_ms = 100\n" PEER, 5, "lease_ms \"100\" out of range 500..60000"},
    {SRV "mtuu = 1400\n" PEER, 5, "unknown key \"mtuu\" in [server]"},
    {SRV "mtu = 99999\n" PEER, 5, "mtu 99999 out of range 1280..9000"},
    {SRV "mtu = 1279\n" PEER, 5, "mtu 1279 out of range"},
    {SRV "mtu = 12a\n" PEER, 5, "mtu \"12a\" is not a number"},
    {SRV "mtu = -1\n" PEER, 5, "not a number"},
    {SRV "mtu = 99999999999999999999999\n" PEER, 5, "not a number"},
    {"[server]\nkey=k\ncert=c\npool4 = 198.18.0.1/24\n" PEER, 4,
     "pool4: host bits set in 198.18.0.1/24"},
    {"[server]\nkey=k\ncert=c\npool4 = 198.18.0.0/31\n" PEER, 4,
     "pool4: prefix length /31 out of range 8..30"},
    {"[server]\nkey=k\ncert=c\npool4 = fd00::/64\n" PEER, 4,
     "is not an IPv4 prefix"},
    {"[server]\nkey=k\ncert=c\npool6 = fd00::/48\n" PEER, 4,
     "pool6: prefix length /48 out of range 64..126"},
    {"[server]\nkey=k\ncert=c\npool4 = 198.18.0.0/33\n" PEER, 4,
     "bad prefix length"},
    {"[server]\nkey=k\ncert=c\npool4 = 198.18.0/24\n" PEER, 4,
     "is not an address prefix"},
    {"[server]\nkey = k\npool4 = 198.18.200.0/24\n" PEER, 1,
     "missing required key \"cert\" in [server]"},
    {"\n[server]\ncert = c\npool4 = 198.18.200.0/24\n" PEER, 2,
     "missing required key \"key\" in [server]"},
    {"[server]\nkey = k\ncert = c\n" PEER, 1, "needs pool4 or pool6"},
    {PEER, 0, "missing [server] section"},
    {SRV, 0, "no [peer] section"},
    {SRV "[server]\n" PEER, 5, "duplicate [server] section (first on line 1)"},
    {SRV "[client]\n" PEER, 5, "unknown section [client]"},
    {SRV "[peer\n", 5, "malformed section header"},
    {SRV "[ ]\n", 5, "empty section name"},
    {SRV "mtu 1400\n" PEER, 5, "expected \"key = value\""},
    {SRV " = 1400\n" PEER, 5, "missing key before \"=\""},
    {SRV "tun =\n" PEER, 5, "empty value for key \"tun\" in [server]"},
    {SRV "key = k2\n" PEER, 5,
     "duplicate key \"key\" in [server] (first on "
     "line 2)"},
    {"mtu = 1400\n" SRV PEER, 1, "key \"mtu\" outside any section"},
    {SRV "tun = a/b\n" PEER, 5, "tun name \"a/b\" may contain only"},
    {SRV "tun = ..\n" PEER, 5, "tun name \"..\""},
    {SRV "tun = abcdefghijklmnop\n" PEER, 5, "longer than 15 characters"},
    {SRV "congestion = vegas\n" PEER, 5,
     "congestion \"vegas\" is not one of cubic, reno, bbr"},
    {SRV "retry = sometimes\n" PEER, 5,
     "retry \"sometimes\" is not one of auto, always, never"},
    {SRV "log_level = loud\n" PEER, 5, "log_level \"loud\" is not one of"},
    {SRV "listen = vpn.example.com:443\n" PEER, 5, "not a host name"},
    {SRV "listen = 198.18.0.1:0\n" PEER, 5, "expected addr, addr:port"},
    {SRV "listen = 198.18.0.1:65536\n" PEER, 5, "expected addr"},
    {SRV "listen = [fd00::1\n" PEER, 5, "expected addr"},
    {SRV "listen = [fd00::1]x\n" PEER, 5, "expected addr"},
    {SRV "listen = 198.18.0.1:\n" PEER, 5, "expected addr"},
    {SRV "listen = 198.18.0.1\nlisten = 198.18.0.1:443\n" PEER, 6,
     "duplicate listen address"},
    {SRV "listen=198.18.0.1:1\nlisten=198.18.0.1:2\nlisten=198.18.0.1:3\n"
         "listen=198.18.0.1:4\nlisten=198.18.0.1:5\n" PEER,
     9, "too many listen addresses (max 4)"},
    {SRV "route = 198.18.0.0/14\n" PEER, 5, "route: host bits set"},
    {SRV "dns = vpn.test\n" PEER, 5,
     "dns: \"vpn.test\" is not an IPv4 or IPv6 address"},
    {SRV "dns = 198.18.200.1/32\n" PEER, 5, "is not an IPv4 or IPv6 address"},
    {SRV "dns = 198.18.200.300\n" PEER, 5, "is not an IPv4 or IPv6 address"},
    {SRV "dns = ::\n" PEER, 5, "dns: :: is the unspecified address"},
    {SRV "dns = 0.0.0.0\n" PEER, 5, "is the unspecified address"},
    {SRV "dns = 198.18.200.1\ndns = 198.18.200.1\n" PEER, 6,
     "duplicate dns address 198.18.200.1"},
    {SRV "dns_search = vpn test\n" PEER, 5,
     "dns_search: \"vpn test\" is not a domain name"},
    {SRV "dns_search = .\n" PEER, 5, "is not a domain name"},
    {SRV "dns_search = a..b\n" PEER, 5, "is not a domain name"},
    {SRV "dns_search = 198.18.200.1\n" PEER, 5, "is not a domain name"},
    {SRV "dns_search = -a.test\n" PEER, 5, "is not a domain name"},
    {SRV "dns_search = vpn.test\ndns_search = VPN.test\n" PEER, 6,
     "duplicate dns_search VPN.test"},
    {SRV "user = no body\n" PEER, 5, "user \"no body\" may contain only"},
    {SRV "seccomp = yes\n" PEER, 5,
     "seccomp \"yes\" is not one of on, off, log"},
    {SRV "tun_offload = auto\n" PEER, 5,
     "tun_offload \"auto\" is not one of off, on"},
    {SRV "[peer]\nname = x\n", 5, "missing required key \"pin\" in [peer]"},
    {SRV "[peer]\nname = x\n" PEER, 5, "missing required key \"pin\""},
    {SRV "[peer]\npin = sha256//abc\nname = alice\n", 6,
     "peer \"alice\": pin is not a valid sha256// pin"},
    {SRV "[peer]\npin = nope\n", 6, "[peer]: pin is not a valid"},
    {SRV "[peer]\npin = " PIN_A "\npin = " PIN_B "\n", 7,
     "duplicate key \"pin\" in [peer]"},
    {SRV "[peer]\nname = a b\npin = " PIN_A "\n", 6,
     "peer name \"a b\" may contain only"},
    {SRV "[peer]\nname = "
         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd\n",
     6, "peer name longer than 63 characters"},
    {SRV "[peer]\nnick = a\n", 6, "unknown key \"nick\" in [peer]"},
    {SRV PEER "[peer]\nname = b\npin = " PIN_A "\n", 9,
     "peer \"b\": same pin as peer \"47DEQpj8\" (line 6)"},
    {SRV "[peer]\npin = " PIN_A "\naddress4 = 198.18.200.9\n"
         "[peer]\nname=bob\npin = " PIN_B "\naddress4 = 198.18.200.9/32\n",
     11,
     "peer \"bob\": address4 198.18.200.9 already belongs to peer "
     "\"47DEQpj8\" (line 7)"},
    {SRV "pool6 = fd77::/64\n[peer]\npin = " PIN_A "\naddress6 = fd77::9\n"
         "[peer]\npin = " PIN_B "\naddress6 = fd77::9\n",
     11, "address6 fd77::9 already belongs to"},
    {SRV PEER "address4 = 198.18.201.5\n", 7,
     "address4 198.18.201.5 is outside pool4 198.18.200.0/24"},
    {SRV PEER "address4 = 198.18.200.1\n", 7,
     "is the server's own address in pool4"},
    {SRV PEER "address4 = 198.18.200.0\n", 7, "is the network address of"},
    {SRV PEER "address4 = 198.18.200.255\n", 7,
     "is the broadcast address of pool4"},
    {SRV "pool6 = fd77::/64\n" PEER "address6 = fd77::1\n", 8,
     "address6 fd77::1 is the server's own address in pool6 fd77::/64"},
    {SRV PEER "address6 = fd77::5\n", 7,
     "address6 given but [server] has no pool6"},
    {SRV PEER "address4 = 198.18.200.0/24\n", 7, "must be one address (/32)"},
    {SRV PEER "address4 = fd77::5\n", 7, "is not an IPv4 prefix"},
    {SRV PEER "address6 = 198.18.200.5\n", 7, "is not an IPv6 prefix"},
    /* [policy] */
    {SRV "[policy]\nrecovery_window_ms = 5 s\n" PEER, 6,
     "recovery_window_ms: \"5 s\" is not a duration"},
    {SRV "[policy]\nmax_candidates = 4\n" PEER, 6,
     "max_candidates: 4 out of range 0..3"},
    {SRV "[policy]\nloss_volatile_pct = 20ms\n" PEER, 6,
     "loss_volatile_pct: \"20ms\" is not a whole number"},
    {SRV "[policy]\nrecovery_windw_ms = 5s\n" PEER, 6,
     "unknown key \"recovery_windw_ms\" in [policy]"},
    {SRV "[policy]\nheartbeat_ms = 400\nheartbeat_ms = 300\n" PEER, 7,
     "duplicate key \"heartbeat_ms\" in [policy] (first on line 6)"},
    {SRV "[policy]\nheartbeat_ms =\n" PEER, 6,
     "empty value for key \"heartbeat_ms\" in [policy]"},
    {SRV "[policy]\n" PEER "[policy]\n", 8,
     "duplicate [policy] section (first on line 5)"},
    {SRV "[policy]\nrecovery_window_ms = 20s\n" PEER, 5,
     "[policy]: recovery_window_ms (20000) must be less than "
     "transport_loss_ttl_ms (15000)"},
    {SRV PEER "[policy]\nsession_lifetime_ms = 10s\n", 7,
     "transport_loss_ttl_ms (15000) must be less than session_lifetime_ms"},
    {SRV "[policy]\nmtu = 1400\n" PEER, 6, "unknown key \"mtu\" in [policy]"},
    {SRV "metrics = 127.0.0.1\n" PEER, 5,
     "metrics \"127.0.0.1\": expected off, addr:port"},
    {SRV "metrics = localhost:9587\n" PEER, 5, "(numeric, with a port)"},
    {SRV "metrics = [::1]:0\n" PEER, 5, "metrics \"[::1]:0\""},
    {SRV "metrics_per_session = yes\n" PEER, 5, "metrics_per_session"},
    {SRV "metrics = 127.0.0.1:9587\nmetrics = off\n" PEER, 6, "metrics"},
};

#define CLI                                                              \
  "[client]\nserver = h\nserver_pin = " PIN_A "\nkey = k\ncert = c\n"

static const struct err_case client_errors[] = {
    {"[client]\nserver = 198.18.1.1, h2\n", 2,
     "server list: \"h2\" is not an address literal"},
    {"[client]\nserver = 198.18.1.1:443, 198.18.1.2:444\n", 2,
     "every node needs the same port"},
    {"[client]\nserver = ,\n", 2, "server list: no address"},
    {"[client]\nserver_order = random\n", 2, "server_order"},
    {"[client]\nserver = h\nserver_pin = " PIN_A "\nkey = k\n", 1,
     "missing required key \"cert\" in [client]"},
    {"[client]\nserver_pin = " PIN_A "\nkey = k\ncert = c\n", 1,
     "missing required key \"server\" in [client]"},
    {"[client]\nserver = h\nkey = k\ncert = c\n", 1,
     "missing required key \"server_pin\""},
    {"", 0, "missing [client] section"},
    {"[client]\n[client]\n", 2, "duplicate [client] section"},
    {"[server]\n", 1, "unknown section [server] in a client config"},
    {"[client]\nserver_pin = sha256//x\n", 2,
     "server_pin is not a valid sha256// pin"},
    {"[client]\nserver = a b\n", 2, "is not a host name or address"},
    {"[client]\nserver = 198.18.0.300\n", 2, "is not a host name"},
    {"[client]\nserver = -bad.example\n", 2, "is not a host name"},
    {"[client]\nserver = [vpn.example]:443\n", 2, "is not a host name"},
    {"[client]\nserver = h:0\n", 2, "expected host, host:port"},
    {"[client]\nserver = h:http\n", 2, "expected host, host:port"},
    {"[client]\nserver = :443\n", 2, "expected host"},
    {"[client]\nmtu = 1000\n", 2, "mtu 1000 out of range (0 or) 1280..9000"},
    {"[client]\npool4 = 198.18.0.0/24\n", 2,
     "unknown key \"pool4\" in [client]"},
    {"[client]\ntun = a\ntun = b\n", 3, "duplicate key \"tun\""},
    {"[client]\ndns_backend = resolvconf\n", 2,
     "dns_backend \"resolvconf\" is not one of auto, resolved, file"},
    {"[policy]\ntransport_loss_ttl_ms = 9h\n[client]\nserver = h\n"
     "server_pin = " PIN_A "\nkey = k\ncert = c\n",
     1, "[policy]: transport_loss_ttl_ms (32400000) must be less than"},
    {"[policy]\nheartbeat_ms = 2min\n[client]\n", 2,
     "heartbeat_ms: 120000 out of range 50..60000"},
    {"[client]\n[policy]\n", 1, "missing required key \"server\""},
    {CLI "allow_route = 198.18.0.0/14\n", 6, "allow_route: host bits set"},
    {CLI "user = a/b\n", 6, "user \"a/b\" may contain only"},
    {CLI "user = -x\n", 6, "user \"-x\" may contain only"},
    {CLI "user = abcdefghijklmnopqrstuvwxyz0123456\n", 6,
     "longer than 32 characters"},
    {CLI "user = a\nuser = b\n", 7, "duplicate key \"user\""},
    {CLI "seccomp = strict\n", 6,
     "seccomp \"strict\" is not one of on, off, log"},
    {CLI "dns = yes\n", 6, "dns \"yes\" is not one of off, on"},
    {CLI "dns = on\ndns = off\n", 7, "duplicate key \"dns\""},
    {CLI "dns_search = vpn.test\n", 6, "unknown key \"dns_search\""},
    {CLI "allow_route = 198.18.200.0/33\n", 6,
     "allow_route: bad prefix length"},
    {CLI "allow_route = vpn.example.com\n", 6,
     "allow_route: \"vpn.example.com\" is not an address prefix"},
    {CLI "[uplink]\ninterface = e\nallow_route = ::/0\n", 8,
     "unknown key \"allow_route\" in [uplink]"},
    /* [uplink] */
    {CLI "[uplink]\npriority = 1\n", 6,
     "[uplink] needs \"interface\" or \"address\""},
    {CLI "[uplink]\ninterface = eth0\naddress = 198.18.1.2\n", 8,
     "not both"},
    {CLI "[uplink]\ninterface = eth0\n[uplink]\ninterface = eth0\n", 8,
     "[uplink] eth0 is listed twice"},
    {CLI "[uplink]\ninterface = this-name-is-too-long\n", 7,
     "is not an interface name"},
    {CLI "[uplink]\ninterface = eth/0\n", 7, "is not an interface name"},
    {CLI "[uplink]\naddress = 198.18.1.300\n", 7,
     "is not an IPv4 or IPv6 address"},
    {CLI "[uplink]\ninterface = e\npriority = -1\n", 8,
     "priority \"-1\" out of range"},
    {CLI "[uplink]\ninterface = e\ncost = cheap\n", 8,
     "expected normal or metered"},
    {CLI "[uplink]\ninterface = e\nkeepalive_ms = 20\n", 8,
     "keepalive_ms \"20\" out of range 50..60000"},
    {CLI "[uplink]\ninterface = e\nserver = h\n", 8,
     "unknown key \"server\" in [uplink]"},
    {CLI "[uplink]\ninterface = a\n[uplink]\ninterface = b\n"
         "[uplink]\ninterface = c\n[uplink]\ninterface = d\n"
         "[uplink]\ninterface = e\n",
     14, "too many [uplink] sections (max 4)"},
    {CLI "[policy]\nfailover_detect_k = 0\n", 7,
     "failover_detect_k \"0\" out of range 1..32"},
    {CLI "[policy]\nfailover_return = sometimes\n", 7,
     "expected never or after_stability"},
    {CLI "[policy]\nfailover_detect_floor_ms = 5000\n", 6, "[policy]: "},
    {CLI "[policy]\nfailover_detect_ptos = 2\nfailover_detect_ptos = 3\n",
     8, "duplicate key \"failover_detect_ptos\""},
    {"[uplink]\ninterface = e\n", 0, "missing [client] section"},
};

static void test_server_errors(void **state) {
  struct jvpn_server_conf c;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(server_errors) / sizeof(server_errors[0]); i++) {
    const struct err_case *ec = &server_errors[i];
    memset(&err, 0, sizeof(err));
    if (parse_server(&c, ec->text) != JVPN_ERR_CONFIG || err.line != ec->line ||
        strstr(err.msg, ec->msg) == NULL)
      fail_msg("case %zu: got line %u \"%s\", want line %u \"%s\"", i, err.line,
               err.msg, ec->line, ec->msg);
    assert_string_equal(err.file, "test.conf");
    /* a failed parse leaves nothing to free */
    assert_null(c.peers);
    assert_int_equal(c.npeers, 0);
  }
}

/* [uplink]s in config order, defaults, and [client] keys checked however
 * the sections interleave. */
static void test_client_uplinks(void **state) {
  struct jvpn_client_conf c;
  static const char text[] = "[uplink]\n"
                             "interface = wlan0\n"
                             "priority = 1\n"
                             "[client]\n"
                             "server = h\n"
                             "server_pin = " PIN_A "\n"
                             "[uplink]\n"
                             "address = 2001:db8::2\n"
                             "cost = metered\n"
                             "keepalive_ms = 20000\n"
                             "[policy]\n"
                             "failover_detect_k = 6\n"
                             "failover_detect_floor_ms = 80\n"
                             "failover_detect_ptos = 3\n"
                             "failover_return = never\n"
                             "metered_keepalive_ms = 30s\n"
                             "[uplink]\n"
                             "interface = eth0\n";
  char full[1024];

  (void)state;
  /* the [client] keys after the second section still count */
  (void)snprintf(full, sizeof(full), "%s[client]\nkey = k\ncert = c\n", text);
  assert_int_equal(parse_client(&c, full), JVPN_ERR_CONFIG);
  assert_non_null(strstr(err.msg, "duplicate [client] section"));
  (void)snprintf(full, sizeof(full), "%s", text);
  {
    char *p = strstr(full, "server_pin = " PIN_A "\n");

    assert_non_null(p);
    p += strlen("server_pin = " PIN_A "\n");
    memmove(p + 17, p, strlen(p) + 1);
    memcpy(p, "key = k\ncert = c", 16);
    p[16] = '\n';
  }
  if (parse_client(&c, full) != 0)
    fail_msg("line %u: %s", err.line, err.msg);
  assert_int_equal(c.nuplinks, 3);
  assert_string_equal(c.uplinks[0].cfg.name, "wlan0");
  assert_int_equal(c.uplinks[0].by_address, 0);
  assert_int_equal(c.uplinks[0].cfg.priority, 1);
  assert_int_equal(c.uplinks[0].cfg.metered, 0);
  assert_int_equal(c.uplinks[0].cfg.standby_keepalive_ms, 0);
  assert_string_equal(c.uplinks[1].cfg.name, "2001:db8::2");
  assert_int_equal(c.uplinks[1].by_address, 1);
  assert_int_equal(c.uplinks[1].cfg.priority, JVPN_UPLINK_DEFAULT_PRIORITY);
  assert_int_equal(c.uplinks[1].cfg.metered, 1);
  assert_int_equal(c.uplinks[1].cfg.standby_keepalive_ms, 20000);
  assert_string_equal(c.uplinks[2].cfg.name, "eth0");
  assert_int_equal(c.uplink_policy.detect_k, 6);
  assert_int_equal(c.uplink_policy.detect_floor_ms, 80);
  assert_int_equal(c.uplink_policy.detect_ptos, 3);
  assert_int_equal(c.uplink_policy.return_mode, JVPN_UPLINK_RETURN_NEVER);
  assert_int_equal(c.uplink_policy.metered_keepalive_ms, 30000);
  /* without [uplink]: none, and the failover knobs at their defaults */
  assert_int_equal(parse_client(&c, CLI), 0);
  assert_int_equal(c.nuplinks, 0);
  assert_int_equal(c.uplink_policy.detect_k, 4);
  assert_int_equal(c.uplink_policy.return_mode,
                   JVPN_UPLINK_RETURN_AFTER_STABILITY);
}

/* 64 allow_route lines are kept; the 65th is refused with its line. */
static void test_client_allow_route_limit(void **state) {
  struct jvpn_client_conf c;
  char text[4096];
  size_t off, i;

  (void)state;
  off = (size_t)snprintf(text, sizeof(text), "%s", CLI);
  for (i = 0; i < JVPN_MAX_ROUTES; i++)
    off += (size_t)snprintf(text + off, sizeof(text) - off,
                            "allow_route = 198.18.%zu.0/24\n", i);
  assert_int_equal(parse_client(&c, text), 0);
  assert_int_equal(c.nallow_routes, JVPN_MAX_ROUTES);
  assert_int_equal(c.allow_routes[63].addr[2], 63);
  snprintf(text + off, sizeof(text) - off, "allow_route = 198.19.0.0/16\n");
  memset(&err, 0, sizeof(err));
  assert_int_equal(parse_client(&c, text), JVPN_ERR_CONFIG);
  assert_int_equal(err.line, 6 + JVPN_MAX_ROUTES);
  assert_non_null(strstr(err.msg, "too many allow_route lines (max 64)"));
}

/* Eight of each DNS line; a ninth is refused on its line. The longest
 * name fits. */
static void test_server_dns_limits(void **state) {
  struct jvpn_server_conf c;
  char text[4096], name[JVPN_DNS_NAME_MAX + 1];
  size_t off, i;

  (void)state;
  for (i = 0; i < JVPN_DNS_NAME_MAX; i++)
    name[i] = i % 64 == 63 ? '.' : 'a';
  name[JVPN_DNS_NAME_MAX] = '\0';
  off = (size_t)snprintf(text, sizeof(text), "%sdns_search = %s\n", SRV,
                         name);
  for (i = 0; i < JVPN_DNS_MAX_SERVERS; i++)
    off += (size_t)snprintf(text + off, sizeof(text) - off,
                            "dns = 198.18.200.%zu\ndns_search = d%zu.test\n",
                            i + 1, i);
  snprintf(text + off, sizeof(text) - off, "%s", PEER);
  memset(&err, 0, sizeof(err));
  assert_int_equal(parse_server(&c, text), JVPN_ERR_CONFIG);
  assert_int_equal(err.line, 5 + 2 * JVPN_DNS_MAX_DOMAINS);
  assert_non_null(strstr(err.msg, "too many dns_search lines (max 8)"));
  /* without the long name: eight of each */
  off = (size_t)snprintf(text, sizeof(text), "%s", SRV);
  for (i = 0; i < JVPN_DNS_MAX_SERVERS; i++)
    off += (size_t)snprintf(text + off, sizeof(text) - off,
                            "dns = 198.18.200.%zu\ndns_search = d%zu.test\n",
                            i + 1, i);
  snprintf(text + off, sizeof(text) - off, "%s", PEER);
  assert_int_equal(parse_server(&c, text), 0);
  assert_int_equal(c.ndns, JVPN_DNS_MAX_SERVERS);
  assert_int_equal(c.ndns_search, JVPN_DNS_MAX_DOMAINS);
  jvpn_server_conf_free(&c);
  snprintf(text + off, sizeof(text) - off, "dns = 198.18.200.99\n%s", PEER);
  memset(&err, 0, sizeof(err));
  assert_int_equal(parse_server(&c, text), JVPN_ERR_CONFIG);
  assert_int_equal(err.line, 5 + 2 * JVPN_DNS_MAX_SERVERS);
  assert_non_null(strstr(err.msg, "too many dns lines (max 8)"));
  /* the longest name alone */
  snprintf(text, sizeof(text), "%sdns_search = %s.\n%s", SRV, name, PEER);
  assert_int_equal(parse_server(&c, text), 0);
  assert_int_equal(strlen(c.dns_search[0]), JVPN_DNS_NAME_MAX + 1);
  jvpn_server_conf_free(&c);
}

/* Several nodes (D44): the server's store keys, the client's list. */
static void test_cluster_keys(void **state) {
  struct jvpn_server_conf c;
  struct jvpn_client_conf cc;

  (void)state;
  assert_int_equal(parse_server(&c, SRV "store = redis\nredis = unix:/run/r."
                                        "sock\nnode_id = n-1.a_b\nlease_ms "
                                        "= 1500\n" PEER),
                   0);
  assert_int_equal(c.store, JVPN_STORE_REDIS);
  assert_string_equal(c.redis, "unix:/run/r.sock");
  assert_string_equal(c.node_id, "n-1.a_b");
  assert_int_equal(c.lease_ms, 1500);
  jvpn_server_conf_free(&c);
  assert_int_equal(parse_server(&c, SRV PEER), 0);
  assert_int_equal(c.lease_ms, JVPN_LEASE_MS_DEFAULT);
  jvpn_server_conf_free(&c);
  assert_int_equal(
      parse_client(&cc, "[client]\nserver = 198.18.1.11:8443 , "
                        "198.18.1.12:8443,[fd00::13]:8443\nserver_order = "
                        "shuffle\nserver_pin = " PIN_A "\nkey = k\ncert = c\n"),
      0);
  assert_int_equal(cc.nservers, 3);
  assert_string_equal(cc.servers[0], "198.18.1.11");
  assert_string_equal(cc.servers[2], "fd00::13");
  assert_string_equal(cc.server_host, "198.18.1.11");
  assert_int_equal(cc.server_port, 8443);
  assert_int_equal(cc.server_shuffle, 1);
  assert_int_equal(parse_client(&cc, CLI), 0);
  assert_int_equal(cc.nservers, 0);
  assert_int_equal(cc.server_shuffle, 0);
}

static void test_client_errors(void **state) {
  struct jvpn_client_conf c;
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(client_errors) / sizeof(client_errors[0]); i++) {
    const struct err_case *ec = &client_errors[i];
    memset(&err, 0, sizeof(err));
    if (parse_client(&c, ec->text) != JVPN_ERR_CONFIG || err.line != ec->line ||
        strstr(err.msg, ec->msg) == NULL)
      fail_msg("case %zu: got line %u \"%s\", want line %u \"%s\"", i, err.line,
               err.msg, ec->line, ec->msg);
  }
}

/* [policy] in either file: defaults without it, values and a new version
 * with it, in any position among the other sections. */
static void test_policy_section(void **state) {
  struct jvpn_server_conf sc;
  struct jvpn_client_conf cc;
  struct jvpn_policy def;
  static const char server[] = SRV "[policy]\n"
                                   "recovery_window_ms = 6s\n"
                                   "transport_loss_ttl_ms = 1min\n"
                                   "max_switches_per_min = 4  # flappy NAT\n"
                                   "max_candidates = 0\n" PEER;
  static const char client[] = "[policy]\n"
                               "heartbeat_ms = 250\n"
                               "[client]\n"
                               "server = h\n"
                               "server_pin = " PIN_A "\n"
                               "key = k\n"
                               "cert = c\n";

  (void)state;
  jvpn_policy_init(&def);
  assert_int_equal(parse_server(&sc, SRV PEER), 0);
  assert_memory_equal(&sc.policy, &def, sizeof(def));
  jvpn_server_conf_free(&sc);

  assert_int_equal(parse_server(&sc, server), 0);
  assert_int_equal(sc.policy.recovery_window_ms, 6000);
  assert_int_equal(sc.policy.transport_loss_ttl_ms, 60000);
  assert_int_equal(sc.policy.max_switches_per_min, 4);
  assert_int_equal(sc.policy.max_candidates, 0);
  assert_int_equal(sc.policy.session_lifetime_ms, def.session_lifetime_ms);
  assert_int_not_equal(sc.policy.version, 0);
  assert_int_not_equal(sc.policy.version, def.version);
  assert_int_equal(sc.policy.version, jvpn_policy_hash(&sc.policy));
  assert_int_equal(sc.npeers, 1);
  jvpn_server_conf_free(&sc);

  assert_int_equal(parse_client(&cc, client), 0);
  assert_int_equal(cc.policy.heartbeat_ms, 250);
  assert_string_equal(cc.server_host, "h");
  assert_int_not_equal(cc.policy.version, def.version);
}

static void test_line_limits(void **state) {
  struct jvpn_client_conf c;
  char *text, *p;
  size_t n;

  (void)state;
  /* a comment of exactly JVPN_CONFIG_MAX_LINE bytes (plus CRLF) is fine,
   * one byte more is not */
  n = 2 * JVPN_CONFIG_MAX_LINE + 200;
  text = malloc(n);
  assert_non_null(text);
  p = text;
  p += snprintf(p, n, "[client]\n#");
  memset(p, 'x', JVPN_CONFIG_MAX_LINE - 1);
  p += JVPN_CONFIG_MAX_LINE - 1;
  p += snprintf(p, n - (size_t)(p - text),
                "\r\nserver = h\nserver_pin = %s\nkey = k\ncert = c\n", PIN_A);
  assert_int_equal(
      jvpn_config_parse_client(&c, text, (size_t)(p - text), "t", &err), 0);
  p = text + strlen("[client]\n") + JVPN_CONFIG_MAX_LINE;
  memmove(p + 1, p, strlen(p) + 1);
  *p = 'x';
  n = strlen(text);
  assert_int_equal(jvpn_config_parse_client(&c, text, n, "t", &err),
                   JVPN_ERR_CONFIG);
  assert_int_equal(err.line, 2);
  assert_non_null(strstr(err.msg, "line longer than 1024 bytes"));
  free(text);

  /* a NUL inside a line is an error, not the end of the text */
  {
    static const char nul[] = "[client]\nkey = a\0b\n";
    assert_int_equal(
        jvpn_config_parse_client(&c, nul, sizeof(nul) - 1, "t", &err),
        JVPN_ERR_CONFIG);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "NUL byte"));
  }
  /* the length bounds the text: a valid file cut short just misses keys */
  {
    static const char cut[] =
        "[client]\nserver = h\nserver_pin = " PIN_A "\nkey = k\ncert = c\n";
    size_t keep = strlen(cut) - strlen("cert = c\n");
    assert_int_equal(jvpn_config_parse_client(&c, cut, keep, "t", &err),
                     JVPN_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "\"cert\""));
    /* no text at all */
    assert_int_equal(jvpn_config_parse_client(&c, NULL, 0, "t", &err),
                     JVPN_ERR_CONFIG);
  }
  /* control characters from the file are masked in messages */
  {
    static const char esc[] = "[client]\nbad\x1b[2Jkey = 1\n";
    assert_int_equal(
        jvpn_config_parse_client(&c, esc, sizeof(esc) - 1, "t", &err),
        JVPN_ERR_CONFIG);
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(err.msg, "bad?[2Jkey"));
  }
}

static void test_many_peers(void **state) {
  struct jvpn_server_conf c;
  size_t cap = (JVPN_MAX_PEERS + 1) * 72 + 128, i;
  char *text = malloc(cap), *p;
  uint8_t pin[JVPN_PIN_LEN];
  char pintext[JVPN_PIN_STR_LEN];

  (void)state;
  assert_non_null(text);
  p = text + snprintf(text, cap, "%s", SRV);
  memset(pin, 0, sizeof(pin));
  for (i = 0; i <= JVPN_MAX_PEERS; i++) {
    pin[0] = (uint8_t)i;
    pin[1] = (uint8_t)(i >> 8);
    jvpn_pin_format(pin, pintext);
    p += snprintf(p, cap - (size_t)(p - text), "[peer]\npin = %s\n", pintext);
  }
  /* one peer over the limit */
  assert_int_equal(jvpn_config_parse_server(&c, text, strlen(text), "t", &err),
                   JVPN_ERR_CONFIG);
  snprintf(pintext, sizeof(pintext), "(max %d)", JVPN_MAX_PEERS);
  assert_non_null(strstr(err.msg, "too many [peer] sections"));
  assert_non_null(strstr(err.msg, pintext));
  assert_int_equal(err.line, 4 + 2 * JVPN_MAX_PEERS + 1);
  /* exactly at the limit: the array grew through every doubling */
  *strrchr(text, '[') = '\0';
  assert_int_equal(jvpn_config_parse_server(&c, text, strlen(text), "t", &err),
                   0);
  assert_int_equal(c.npeers, JVPN_MAX_PEERS);
  assert_int_equal(c.peers[JVPN_MAX_PEERS - 1].pin[0],
                   (uint8_t)(JVPN_MAX_PEERS - 1));
  assert_int_equal(c.peers[JVPN_MAX_PEERS - 1].pin[1],
                   (uint8_t)((JVPN_MAX_PEERS - 1) >> 8));
  /* every peer is found by its pin (a search over an index in pin order,
   * which the config order is not), a pin not listed is not */
  for (i = 0; i < JVPN_MAX_PEERS; i++)
    assert_ptr_equal(jvpn_server_conf_peer(&c, c.peers[i].pin), &c.peers[i]);
  memset(pin, 0xee, sizeof(pin));
  assert_null(jvpn_server_conf_peer(&c, pin));
  jvpn_server_conf_free(&c);
  free(text);
}

static void test_prefix_parse(void **state) {
  struct jvpn_prefix p;

  (void)state;
  assert_int_equal(jvpn_prefix_parse("198.18.0.0/15", &p), 0);
  assert_int_equal(p.family, AF_INET);
  assert_int_equal(p.plen, 15);
  assert_int_equal(jvpn_prefix_parse("198.18.0.7", &p), 0);
  assert_int_equal(p.plen, 32);
  assert_int_equal(jvpn_prefix_parse("::/0", &p), 0);
  assert_int_equal(p.family, AF_INET6);
  assert_int_equal(p.plen, 0);
  assert_int_equal(jvpn_prefix_parse("fd77:6a76:706e::1", &p), 0);
  assert_int_equal(p.plen, 128);
  assert_int_equal(jvpn_prefix_parse("fd77:6a76:706e::8/125", &p), 0);
  assert_int_equal(jvpn_prefix_parse("fd77:6a76:706e::4/125", &p),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(p.family, 0);
  assert_int_equal(jvpn_prefix_parse("198.19.0.0/15", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse("198.18.0.0/", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse("198.18.0.0/+8", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse("/8", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse("::/129", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse(" 198.18.0.0/15", &p), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_prefix_parse(NULL, &p), JVPN_ERR_MALFORMED);
}

static void test_sockaddr_parse(void **state) {
  struct sockaddr_storage ss;
  socklen_t len;

  (void)state;
  assert_int_equal(jvpn_sockaddr_parse("198.18.0.1:4433", 443, &ss, &len), 0);
  assert_sa(&ss, len, "198.18.0.1", 4433);
  assert_int_equal(jvpn_sockaddr_parse("198.18.0.1", 443, &ss, &len), 0);
  assert_sa(&ss, len, "198.18.0.1", 443);
  assert_int_equal(jvpn_sockaddr_parse("[::1]:80", 443, &ss, &len), 0);
  assert_sa(&ss, len, "::1", 80);
  assert_int_equal(jvpn_sockaddr_parse("[::]", 443, &ss, &len), 0);
  assert_sa(&ss, len, "::", 443);
  assert_int_equal(jvpn_sockaddr_parse("fd00::1", 7, &ss, &len), 0);
  assert_sa(&ss, len, "fd00::1", 7);
  assert_int_equal(jvpn_sockaddr_parse("localhost:80", 443, &ss, &len),
                   JVPN_ERR_UNSUPPORTED);
  assert_int_equal(jvpn_sockaddr_parse("vpn.example.com", 443, &ss, &len),
                   JVPN_ERR_UNSUPPORTED);
  assert_int_equal(jvpn_sockaddr_parse("[198.18.0.1]:80", 443, &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_sockaddr_parse("198.18.0.1:80:", 443, &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_sockaddr_parse("198.18.0.256", 443, &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_sockaddr_parse("", 443, &ss, &len), JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_sockaddr_parse("[]:1", 443, &ss, &len),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_sockaddr_parse(NULL, 443, &ss, &len),
                   JVPN_ERR_MALFORMED);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

static void test_load_files(void **state) {
  char dir[] = "/tmp/jvpn_test_config.XXXXXX";
  char path[128], big[128];
  struct jvpn_server_conf s;
  struct jvpn_client_conf c;
  FILE *f;
  size_t i;

  (void)state;
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/server.conf", dir);
  write_file(path, full_server);
  assert_int_equal(jvpn_config_load_server(&s, path, &err), 0);
  assert_int_equal(s.npeers, 3);
  jvpn_server_conf_free(&s);
  /* the same file is no client config; the message names the file */
  assert_int_equal(jvpn_config_load_client(&c, path, &err), JVPN_ERR_CONFIG);
  assert_string_equal(err.file, path);
  assert_int_equal(err.line, 2);
  unlink(path);

  snprintf(path, sizeof(path), "%s/client.conf", dir);
  write_file(path, "[client]\nserver = h\nserver_pin = " PIN_A
                   "\nkey = k\ncert = c\n");
  assert_int_equal(jvpn_config_load_client(&c, path, &err), 0);
  assert_string_equal(c.server_host, "h");
  unlink(path);

  /* missing file and a directory */
  assert_int_equal(jvpn_config_load_client(&c, path, &err), JVPN_ERR_CONFIG);
  assert_string_equal(err.file, path);
  assert_int_equal(err.line, 0);
  assert_non_null(strstr(err.msg, "cannot open: No such file or directory"));
  assert_int_equal(jvpn_config_load_server(&s, path, &err), JVPN_ERR_CONFIG);
  assert_null(s.peers);
  assert_int_equal(jvpn_config_load_server(&s, dir, &err), JVPN_ERR_CONFIG);
  assert_non_null(strstr(err.msg, "Is a directory"));

  /* over the size limit */
  snprintf(big, sizeof(big), "%s/big.conf", dir);
  f = fopen(big, "w");
  assert_non_null(f);
  for (i = 0; i < JVPN_CONFIG_MAX_BYTES / 64 + 1; i++)
    fputs("# .............................................................\n",
          f);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(jvpn_config_load_server(&s, big, &err), JVPN_ERR_CONFIG);
  assert_non_null(strstr(err.msg, "file larger than 1048576 bytes"));
  unlink(big);
  assert_int_equal(rmdir(dir), 0);
}

/* The shipped examples must stay valid. */
static void test_examples(void **state) {
  const char *top = getenv("top_srcdir");
  char path[1024];
  struct jvpn_server_conf s;
  struct jvpn_client_conf c;

  (void)state;
  snprintf(path, sizeof(path), "%s/examples/server.conf", top ? top : ".");
  if (jvpn_config_load_server(&s, path, &err) != 0)
    fail_msg("%s:%u: %s", err.file, err.line, err.msg);
  assert_int_equal(s.npeers, 2);
  assert_int_equal(s.nlisten, 2);
  assert_int_equal(s.pool4.plen, 24);
  jvpn_server_conf_free(&s);
  snprintf(path, sizeof(path), "%s/examples/client.conf", top ? top : ".");
  if (jvpn_config_load_client(&c, path, &err) != 0)
    fail_msg("%s:%u: %s", err.file, err.line, err.msg);
  assert_int_equal(c.server_port, 443);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_full),
      cmocka_unit_test(test_server_defaults),
      cmocka_unit_test(test_client_full_and_defaults),
      cmocka_unit_test(test_syntax_variants),
      cmocka_unit_test(test_policy_section),
      cmocka_unit_test(test_server_errors),
      cmocka_unit_test(test_client_errors),
      cmocka_unit_test(test_cluster_keys),
      cmocka_unit_test(test_client_allow_route_limit),
      cmocka_unit_test(test_server_dns_limits),
      cmocka_unit_test(test_client_uplinks),
      cmocka_unit_test(test_line_limits),
      cmocka_unit_test(test_many_peers),
      cmocka_unit_test(test_prefix_parse),
      cmocka_unit_test(test_sockaddr_parse),
      cmocka_unit_test(test_load_files),
      cmocka_unit_test(test_examples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
