/* src/resolver: the server's name, looked up off the loop (see header). */
#include "src/resolver.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "jvpn/proto.h"

static void hints_init(struct addrinfo *h, int flags) {
  memset(h, 0, sizeof(*h));
  h->ai_family = AF_UNSPEC;
  h->ai_socktype = SOCK_DGRAM;
  h->ai_flags = AI_NUMERICSERV | flags;
}

static void on_answer(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct resolver *r = req->data;
  enum resolver_state was = r->state;

  r->state = RESOLVER_IDLE;
  if (was == RESOLVER_CLOSING) {
    uv_freeaddrinfo(res);
    return;
  }
  uv_timer_stop(&r->timeout);
  if (status == 0 && res != NULL) {
    if (was == RESOLVER_LATE)
      LOG_INFO(NULL, "late answer for %s used", r->host);
    r->cb(r->user, res, 0);
  } else if (was == RESOLVER_RUNNING) {
    LOG_WARN(NULL, "cannot resolve %s: %s", r->host,
             status != 0 ? uv_strerror(status) : "no address");
    r->cb(r->user, NULL, JVPN_ERR_NOTFOUND);
  }
  uv_freeaddrinfo(res);
}

static void on_timeout(uv_timer_t *t) {
  struct resolver *r = t->data;

  if (r->state != RESOLVER_RUNNING)
    return;
  r->timeouts++;
  /* Cancelled while queued, its answer comes back as UV_EAI_CANCELED;
   * in its thread, it ends when the system resolver gives up. */
  (void)uv_cancel((uv_req_t *)&r->req);
  r->state = RESOLVER_LATE;
  LOG_WARN(NULL, "no answer for %s within %u ms", r->host,
           (unsigned)JVPN_RESOLVE_TIMEOUT_MS);
  r->cb(r->user, NULL, JVPN_ERR_AGAIN);
}

void resolver_init(struct resolver *r, uv_loop_t *loop, const char *host,
                   uint16_t port, resolver_cb cb, void *user) {
  memset(r, 0, sizeof(*r));
  r->host = host;
  (void)snprintf(r->port, sizeof(r->port), "%u", (unsigned)port);
  r->cb = cb;
  r->user = user;
  r->loop = loop;
  r->req.data = r;
  uv_timer_init(loop, &r->timeout);
  r->timeout.data = r;
}

int resolver_start(struct resolver *r) {
  struct addrinfo hints;
  int rv;

  if (r->state != RESOLVER_IDLE)
    return JVPN_ERR_AGAIN;
  hints_init(&hints, 0);
  rv = uv_getaddrinfo(r->loop, &r->req, on_answer, r->host, r->port, &hints);
  if (rv != 0) {
    LOG_WARN(NULL, "cannot look %s up: %s", r->host, uv_strerror(rv));
    return JVPN_ERR_SYSTEM;
  }
  r->state = RESOLVER_RUNNING;
  r->lookups++;
  uv_timer_start(&r->timeout, on_timeout, JVPN_RESOLVE_TIMEOUT_MS, 0);
  LOG_DEBUG(NULL, "looking %s up", r->host);
  return 0;
}

void resolver_free(struct resolver *r) {
  if (r->state == RESOLVER_RUNNING || r->state == RESOLVER_LATE) {
    (void)uv_cancel((uv_req_t *)&r->req); /* in its thread: it runs on */
    r->state = RESOLVER_CLOSING;
  }
  uv_timer_stop(&r->timeout);
}

int resolver_numeric(const char *host, uint16_t port, struct addrinfo **ai) {
  struct addrinfo hints;
  char sport[8];

  hints_init(&hints, AI_NUMERICHOST);
  (void)snprintf(sport, sizeof(sport), "%u", (unsigned)port);
  *ai = NULL;
  /* AI_NUMERICHOST: parsed here, no name service asked, so no blocking. */
  if (getaddrinfo(host, sport, &hints, ai) != 0 || *ai == NULL)
    return JVPN_ERR_NOTFOUND;
  return 0;
}
