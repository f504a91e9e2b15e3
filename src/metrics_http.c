/*
 * src/metrics_http: see metrics_http.h.
 */
#include "src/metrics_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "jvpn/errors.h"
#include "jvpn/log.h"
#include "src/glue.h"

struct metrics_http {
  struct MHD_Daemon *d;
  uv_poll_t poll;   /* MHD's epoll descriptor */
  uv_timer_t timer; /* MHD's next timeout */
  int handles;      /* loop handles not yet closed */
  metrics_render_fn render;
  void *user;
};

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char line[256];

  (void)cls;
  vsnprintf(line, sizeof(line), fmt, ap);
  line[strcspn(line, "\n")] = '\0';
  JVPN_LOG_RL(JVPN_LOG_WARN, NULL, "metrics endpoint: %s", line);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *type, char *body, size_t len,
                              int owned) {
  struct MHD_Response *r;
  enum MHD_Result rv;

  r = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (r == NULL) {
    if (owned)
      free(body);
    return MHD_NO;
  }
  (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  rv = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rv;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_len, void **state) {
  static int seen; /* marks a request's first call */
  static char not_found[] = "not found: the metrics are at /metrics\n";
  static char not_allowed[] = "method not allowed\n";
  static char failed[] = "out of memory\n";
  struct metrics_http *m = cls;
  struct metrics_buf b = {0};

  (void)version;
  (void)upload;
  if (*state == NULL) { /* the headers: answer once the body is read */
    *state = &seen;
    return MHD_YES;
  }
  if (*upload_len != 0) { /* a body nobody asked for: ignored */
    *upload_len = 0;
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                  strlen(not_allowed), 0);
  if (strcmp(url, "/metrics") != 0)
    return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
                  strlen(not_found), 0);
  m->render(m->user, &b);
  if (b.failed || b.p == NULL) {
    metrics_buf_free(&b);
    return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed,
                  strlen(failed), 0);
  }
  return answer(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.p, b.len, 1);
}

/* Waits for MHD's next deadline, if it has one. */
static void on_mhd_timer(uv_timer_t *t);

static void rearm(struct metrics_http *m) {
  MHD_UNSIGNED_LONG_LONG ms;

  if (MHD_get_timeout(m->d, &ms) == MHD_YES)
    uv_timer_start(&m->timer, on_mhd_timer, (uint64_t)ms, 0);
  else
    uv_timer_stop(&m->timer);
}

static void on_mhd_timer(uv_timer_t *t) {
  struct metrics_http *m = t->data;

  (void)MHD_run(m->d);
  rearm(m);
}

static void on_mhd_ready(uv_poll_t *p, int status, int events) {
  struct metrics_http *m = p->data;

  (void)status;
  (void)events;
  (void)MHD_run(m->d);
  rearm(m);
}

int metrics_http_open(struct metrics_http **pm, uv_loop_t *loop,
                      const struct sockaddr *sa, socklen_t len,
                      metrics_render_fn render, void *user) {
  struct metrics_http *m;
  const union MHD_DaemonInfo *info;
  unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  char where[64];

  (void)len;
  *pm = NULL;
  glue_sockaddr_str(sa, where, sizeof(where));
  m = calloc(1, sizeof(*m));
  if (m == NULL)
    return JVPN_ERR_NOMEM;
  m->render = render;
  m->user = user;
  if (sa->sa_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  m->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, m, /* the logger first: MHD */
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* says so */
      MHD_OPTION_SOCK_ADDR, sa,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_MAX_CONNS,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
      MHD_OPTION_END);
  info = m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
  if (info == NULL) {
    LOG_ERR(NULL, "cannot serve metrics on http://%s/metrics: %m", where);
    if (m->d)
      MHD_stop_daemon(m->d);
    free(m);
    return JVPN_ERR_SYSTEM;
  }
  uv_poll_init(loop, &m->poll, info->epoll_fd);
  uv_timer_init(loop, &m->timer);
  m->poll.data = m->timer.data = m;
  m->handles = 2;
  uv_poll_start(&m->poll, UV_READABLE, on_mhd_ready);
  LOG_INFO(NULL, "serving metrics on http://%s/metrics", where);
  *pm = m;
  return 0;
}

static void on_closed(uv_handle_t *h) {
  struct metrics_http *m = h->data;

  if (--m->handles == 0)
    free(m);
}

void metrics_http_close(struct metrics_http *m) {
  if (m == NULL)
    return;
  uv_poll_stop(&m->poll);
  MHD_stop_daemon(m->d); /* closes the epoll descriptor the poll watched */
  m->d = NULL;
  uv_close((uv_handle_t *)&m->poll, on_closed);
  uv_close((uv_handle_t *)&m->timer, on_closed);
}
