/*
 * src/killswitch: the client's kill switch (see the header).
 */
#include "src/killswitch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"

#define RULESET_MAX 4096

/* Runs |cmd| in one transaction; nftables' error text into |err|. */
static int run(struct kill_switch *ks, const char *cmd, char *err,
               size_t errlen) {
  const char *msg;

  if (nft_run_cmd_from_buffer(ks->nft, cmd) == 0)
    return 0;
  msg = nft_ctx_get_error_buffer(ks->nft);
  snprintf(err, errlen, "%s", msg != NULL && *msg ? msg : "nftables failed");
  err[strcspn(err, "\n")] = '\0';
  return JVPN_ERR_SYSTEM;
}

int kill_switch_open(struct kill_switch *ks, const char *table) {
  memset(ks, 0, sizeof(*ks));
  snprintf(ks->table, sizeof(ks->table), "%s",
           table != NULL ? table : KILL_SWITCH_TABLE);
  ks->nft = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ks->nft == NULL)
    return JVPN_ERR_NOMEM;
  if (nft_ctx_buffer_output(ks->nft) != 0 ||
      nft_ctx_buffer_error(ks->nft) != 0) {
    kill_switch_close(ks);
    return JVPN_ERR_NOMEM;
  }
  return 0;
}

void kill_switch_close(struct kill_switch *ks) {
  if (ks->nft != NULL)
    nft_ctx_free(ks->nft);
  ks->nft = NULL;
}

/* The addresses of |family| among |servers|, "a, b", into |out| (empty
 * when none). */
static void address_list(char *out, size_t len, int family,
                         const struct sockaddr_storage *servers, size_t n) {
  char a[INET6_ADDRSTRLEN];
  size_t i, used = 0;

  out[0] = '\0';
  for (i = 0; i < n && used < len; i++) {
    const struct sockaddr_storage *ss = &servers[i];
    const void *p = family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)
                              ->sin6_addr;

    if (ss->ss_family != family || inet_ntop(family, p, a, sizeof(a)) == NULL)
      continue;
    used += (size_t)snprintf(out + used, len - used, "%s%s",
                             used == 0 ? "" : ", ", a);
  }
}

/* "add element inet T SET { LIST }" when LIST is not empty, into |out|. */
static void add_elements(char *out, size_t len, const char *table,
                         const char *set, const char *list) {
  out[0] = '\0';
  if (*list)
    snprintf(out, len, "add element inet %s %s { %s }\n", table, set, list);
}

/* "ip daddr X accept" lines for the excludes, into |out|. */
static void exclude_lines(char *out, size_t len,
                          const struct kill_switch_allow *allow) {
  char a[INET6_ADDRSTRLEN];
  size_t i, used = 0;

  out[0] = '\0';
  for (i = 0; i < allow->nexcludes && used < len; i++) {
    const struct jvpn_prefix *p = &allow->excludes[i];

    if (inet_ntop(p->family, p->addr, a, sizeof(a)) == NULL)
      continue;
    used += (size_t)snprintf(out + used, len - used,
                             "    %s daddr %s/%u accept\n",
                             p->family == AF_INET ? "ip" : "ip6", a, p->plen);
  }
}

int kill_switch_apply(struct kill_switch *ks,
                      const struct kill_switch_allow *allow,
                      const struct sockaddr_storage *servers, size_t n,
                      char *err, size_t errlen) {
  char cmd[RULESET_MAX * 2], l4[1024], l6[1024], e4[1200], e6[1200];
  char excl[RULESET_MAX];
  int len;

  snprintf(ks->tun, sizeof(ks->tun), "%s", allow->tun);
  ks->port = allow->port;
  exclude_lines(excl, sizeof(excl), allow);
  address_list(l4, sizeof(l4), AF_INET, servers, n);
  address_list(l6, sizeof(l6), AF_INET6, servers, n);
  add_elements(e4, sizeof(e4), ks->table, "server4", l4);
  add_elements(e6, sizeof(e6), ks->table, "server6", l6);
  /* add + delete + add: replaces a table left by an earlier run, in the
   * same transaction, so nothing passes in between. */
  len = snprintf(
      cmd, sizeof(cmd),
      "add table inet %1$s\n"
      "delete table inet %1$s\n"
      "table inet %1$s {\n"
      "  set server4 { type ipv4_addr; }\n"
      "  set server6 { type ipv6_addr; }\n"
      "  counter dropped { }\n"
      "  chain out {\n"
      "    type filter hook output priority filter - 5; policy drop;\n"
      "    oifname \"lo\" accept\n"
      "    oifname \"%4$s\" accept\n"
      "    ip daddr @server4 udp dport %5$u accept\n"
      "    ip6 daddr @server6 udp dport %5$u accept\n"
      "    ip daddr @server4 tcp dport %5$u accept\n"
      "    ip6 daddr @server6 tcp dport %5$u accept\n"
      "    ip daddr @server4 icmp type destination-unreachable accept\n"
      "    ip6 daddr @server6 icmpv6 type destination-unreachable accept\n"
      "    udp sport 68 udp dport 67 accept\n"
      "    udp sport 546 udp dport 547 accept\n"
      "    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
      "nd-neighbor-advert, mld2-listener-report } accept\n"
      "%6$s"
      "    counter name dropped drop\n"
      "  }\n"
      "}\n"
      "%2$s%3$s",
      ks->table, e4, e6, ks->tun, (unsigned)ks->port, excl);
  if (len < 0 || (size_t)len >= sizeof(cmd)) {
    snprintf(err, errlen, "kill switch ruleset too long");
    return JVPN_ERR_NOSPACE;
  }
  if (run(ks, cmd, err, errlen) != 0)
    return JVPN_ERR_SYSTEM;
  ks->on = 1;
  return 0;
}

int kill_switch_servers(struct kill_switch *ks,
                        const struct sockaddr_storage *servers, size_t n,
                        char *err, size_t errlen) {
  char cmd[RULESET_MAX], l4[1024], l6[1024], e4[1200], e6[1200];

  if (!ks->on)
    return 0;
  address_list(l4, sizeof(l4), AF_INET, servers, n);
  address_list(l6, sizeof(l6), AF_INET6, servers, n);
  add_elements(e4, sizeof(e4), ks->table, "server4", l4);
  add_elements(e6, sizeof(e6), ks->table, "server6", l6);
  snprintf(cmd, sizeof(cmd),
           "flush set inet %1$s server4\nflush set inet %1$s server6\n%2$s%3$s",
           ks->table, e4, e6);
  return run(ks, cmd, err, errlen);
}

/* |word| as an address of |family| with |port| into |ss|; 0 or -1. */
static int word_to_addr(const char *word, int family, uint16_t port,
                        struct sockaddr_storage *ss) {
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof(*ss));
  ss->ss_family = (sa_family_t)family;
  if (family == AF_INET) {
    s4->sin_port = htons(port);
    return inet_pton(AF_INET, word, &s4->sin_addr) == 1 ? 0 : -1;
  }
  s6->sin6_port = htons(port);
  return inet_pton(AF_INET6, word, &s6->sin6_addr) == 1 ? 0 : -1;
}

/* The addresses of |family| in nft's listing of a set, |text| (the words
 * between "elements = {" and "}"), into |out| from |*n| up to |max|. */
static void set_elements(const char *text, int family, uint16_t port,
                         struct sockaddr_storage *out, size_t *n, size_t max) {
  static const char head[] = "elements = {";
  const char *p = strstr(text, head);
  char word[INET6_ADDRSTRLEN];
  size_t len;

  if (p == NULL)
    return; /* an empty set lists no elements */
  for (p += sizeof(head) - 1; *n < max; p += len) {
    p += strspn(p, " \t\n,");
    len = strcspn(p, " \t\n,}");
    if (len == 0)
      return; /* the closing brace, or the end of the text */
    if (len < sizeof(word)) {
      memcpy(word, p, len);
      word[len] = '\0';
      if (word_to_addr(word, family, port, &out[*n]) == 0)
        (*n)++;
    }
  }
}

size_t kill_switch_stale_servers(struct kill_switch *ks, uint16_t port,
                                 struct sockaddr_storage *out, size_t max) {
  static const char *const set[2] = {"server4", "server6"};
  char cmd[96], err[200];
  size_t i, n = 0;

  for (i = 0; i < 2; i++) {
    const char *text;

    snprintf(cmd, sizeof(cmd), "list set inet %s %s\n", ks->table, set[i]);
    if (run(ks, cmd, err, sizeof(err)) != 0)
      continue; /* no such table: nothing admitted */
    text = nft_ctx_get_output_buffer(ks->nft);
    if (text != NULL)
      set_elements(text, i == 0 ? AF_INET : AF_INET6, port, out, &n, max);
  }
  return n;
}

int kill_switch_remove(struct kill_switch *ks, char *err, size_t errlen) {
  char cmd[128];

  snprintf(cmd, sizeof(cmd), "add table inet %1$s\ndelete table inet %1$s\n",
           ks->table);
  if (run(ks, cmd, err, errlen) != 0)
    return JVPN_ERR_SYSTEM;
  ks->on = 0;
  return 0;
}
