/*
 * src/client_lookup: the server's addresses for the client's connections.
 *
 * An address literal is the whole list, for good. A name is looked up off
 * the loop (src/resolver.h) when a connection needs addresses: at start,
 * when the answer is older than its lifetime, or when every address the
 * connection could use has failed (src/happy_eyeballs.h decides). The
 * links that need the answer wait for it (lookup_wait), and when the
 * lookup ends, however it ends, each is connected again through
 * hooks.link_connect, which backs off if there is still nothing to try.
 * A failed lookup keeps the previous answer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "quic/tls_identity.h"
#include "src/client_int.h"

static uint64_t now_ms(void) {
  return glue_now() / 1000000;
}

static void log_answer(const struct client *cl) {
  char line[512], a[64];
  size_t i, off = 0;

  line[0] = '\0';
  for (i = 0; i < cl->he.n && off < sizeof(line); i++) {
    int n = snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "",
                     glue_sockaddr_str((const struct sockaddr *)&cl->he.a[i].sa,
                                       a, sizeof(a)));

    if (n < 0)
      break;
    off += (size_t)n;
  }
  LOG_INFO(NULL, "%s has %zu address%s, tried in this order: %s",
           cl->conf.server_host, cl->he.n, cl->he.n == 1 ? "" : "es", line);
}

static void on_lookup(void *user, const struct addrinfo *ai, int err) {
  struct client *cl = user;
  size_t i;

  if (ai != NULL && he_list_set(&cl->he, ai, now_ms()) > 0) {
    log_answer(cl);
    client_server_addrs(cl);
  }
  else if (ai != NULL)
    LOG_WARN(NULL, "%s has no IPv4 or IPv6 address", cl->conf.server_host);
  else if (cl->he.n > 0)
    LOG_INFO(NULL, "%s: %s; its previous addresses are used",
             cl->conf.server_host,
             err == JVPN_ERR_AGAIN ? "no answer in time" : "lookup failed");
  for (i = 0; i < cl->nlinks; i++) {
    struct client_link *l = &cl->links[i];

    if (!l->lookup_wait)
      continue;
    l->lookup_wait = 0;
    cl->hooks.link_connect(l);
  }
}

/* server_order = shuffle: the list in a random order, once per start, so
 * that the clients of a cluster spread over its nodes (Fisher-Yates). */
static void shuffle(struct addrinfo **ai, size_t n) {
  size_t i;

  for (i = n; i > 1; i--) {
    uint32_t r;
    struct addrinfo *t;

    if (tls_identity_random(&r, sizeof(r)) != 0)
      return;
    t = ai[i - 1];
    ai[i - 1] = ai[r % i];
    ai[r % i] = t;
  }
}

/* server = a, b, c (D44): the nodes' literals as one fixed answer, in the
 * list's order (or shuffled). */
static void set_server_list(struct client *cl) {
  struct addrinfo *ai[JVPN_SERVERS_MAX];
  size_t i, n = 0;

  for (i = 0; i < cl->conf.nservers; i++)
    if (resolver_numeric(cl->conf.servers[i], cl->conf.server_port,
                         &ai[n]) == 0)
      n++;
  if (cl->conf.server_shuffle)
    shuffle(ai, n);
  for (i = 0; i + 1 < n; i++)
    ai[i]->ai_next = ai[i + 1]; /* each answer is one address */
  if (n > 0 && he_list_set(&cl->he, ai[0], now_ms()) > 0)
    cl->he.fixed = 1;
  for (i = 0; i < n; i++) {
    ai[i]->ai_next = NULL;
    freeaddrinfo(ai[i]);
  }
}

void client_lookup_init(struct client *cl) {
  struct addrinfo *ai;

  he_list_init(&cl->he);
  resolver_init(&cl->res, cl->loop, cl->conf.server_host, cl->conf.server_port,
                on_lookup, cl);
  if (cl->conf.nservers > 0) {
    set_server_list(cl);
    return;
  }
  if (resolver_numeric(cl->conf.server_host, cl->conf.server_port, &ai) != 0)
    return;
  (void)he_list_set(&cl->he, ai, now_ms());
  cl->he.fixed = 1;
  freeaddrinfo(ai);
}

void client_lookup_free(struct client *cl) {
  resolver_free(&cl->res);
}

/* |l| waits for the lookup in flight, or for a new one. Returns 0, or
 * JVPN_ERR_AGAIN when none can start now (a timed-out one still runs). */
static int lookup_wait(struct client_link *l) {
  struct client *cl = l->cl;

  if (cl->res.state != RESOLVER_RUNNING) {
    if (resolver_start(&cl->res) != 0)
      return JVPN_ERR_AGAIN;
    he_list_asked(&cl->he, now_ms());
  }
  l->lookup_wait = 1;
  return 0;
}

int client_lookup_ready(struct client_link *l, unsigned fams) {
  struct he_list *he = &l->cl->he;

  switch (he_list_need(he, fams, now_ms())) {
  case HE_READY: return 1;
  case HE_RETRY: he_list_retry(he); return 1;
  case HE_WAIT:
    return l->cl->res.state == RESOLVER_RUNNING ? lookup_wait(l)
                                                : JVPN_ERR_AGAIN;
  case HE_LOOKUP: break;
  }
  if (lookup_wait(l) == 0)
    return 0;
  /* No lookup can start: the previous answer, if any, is tried again. */
  if (he->n == 0)
    return JVPN_ERR_AGAIN;
  if (he_list_next(he, 0, fams) < 0)
    he_list_retry(he);
  return 1;
}

void client_lookup_status(struct client *cl, struct glue_buf *b, int json) {
  static const char *const state[] = {"idle", "running", "late", "closing"};
  char a[64];
  size_t i;

  glue_buf_printf(b, json ? ",\"server_addresses\":[" : "\n  addresses=");
  for (i = 0; i < cl->he.n; i++)
    glue_buf_printf(b, json ? "%s\"%s\"" : "%s%s", i ? "," : "",
                    glue_sockaddr_str((const struct sockaddr *)&cl->he.a[i].sa,
                                      a, sizeof(a)));
  if (!json && cl->he.n == 0)
    glue_buf_printf(b, "-");
  glue_buf_printf(b,
                  json ? "],\"lookup\":\"%s\",\"lookups\":%" PRIu64
                         ",\"lookup_timeouts\":%" PRIu64
                       : " lookup=%s lookups=%" PRIu64
                         " lookup_timeouts=%" PRIu64,
                  state[cl->res.state], cl->res.lookups, cl->res.timeouts);
}
