/*
 * src/metrics_http: the Prometheus endpoint, libmicrohttpd on the
 * daemon's libuv loop (docs/decisions.md D40). No thread: MHD runs in
 * its external mode with epoll, its one epoll descriptor watched by a
 * uv_poll and its timeouts by a uv_timer, so a scrape renders on the loop
 * thread from the live counters, with no lock and no copy.
 *
 * GET (or HEAD) /metrics answers 200 with the text the render callback
 * writes (src/metrics.h); another path 404, another method 405.
 */
#ifndef SRC_METRICS_HTTP_H
#define SRC_METRICS_HTTP_H

#include <sys/socket.h>

#include <uv.h>

#include "src/metrics.h"

/* Connections served at once; more wait in the listen queue. */
#define METRICS_HTTP_MAX_CONNS 8
/* s: an idle or slow scraper's connection is closed after this */
#define METRICS_HTTP_TIMEOUT_S 10

struct metrics_http;

/* Writes the exposition into |b| (metrics.h); |b| starts empty. */
typedef void (*metrics_render_fn)(void *user, struct metrics_buf *b);

/* Listens on |sa| (TCP; bound now, so before a privilege drop) and serves
 * scrapes from |loop|. Returns 0 or JVPN_ERR_SYSTEM (logged). */
int metrics_http_open(struct metrics_http **pm, uv_loop_t *loop,
                      const struct sockaddr *sa, socklen_t len,
                      metrics_render_fn render, void *user);

/* Stops serving: closes the listener and every connection now, and its
 * loop handles (freed when their close callbacks ran). NULL ok. */
void metrics_http_close(struct metrics_http *m);

#endif /* SRC_METRICS_HTTP_H */
