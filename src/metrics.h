/*
 * src/metrics: the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written
 * into a growing buffer. Pure: no I/O, no clock; the HTTP side is
 * src/metrics_http.h, what the server exposes src/server_metrics.c.
 *
 * A family is its "# HELP" and "# TYPE" lines, then its samples; names
 * are checked ([a-zA-Z_:][a-zA-Z0-9_:]*, label names without ':'), HELP
 * text escapes '\' and newline, label values '\', '"' and newline. A
 * name that breaks the rules marks the buffer failed rather than write a
 * line a scraper would reject.
 */
#ifndef SRC_METRICS_H
#define SRC_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* "Content-Type" of a scrape's answer. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_buf {
  char *p;     /* NUL-terminated text, owned (free()) */
  size_t len, cap;
  int failed;  /* out of memory or a bad name: the text is incomplete */
};

struct metrics_label {
  const char *name, *value;
};

/* "# HELP NAME HELP" and "# TYPE NAME TYPE"; |type| is one of "counter",
 * "gauge", "summary", "histogram", "untyped". */
void metrics_family(struct metrics_buf *b, const char *name, const char *type,
                    const char *help);

/* One sample line "NAME{L1="V1",...} VALUE": an integer exactly ... */
void metrics_u64(struct metrics_buf *b, const char *name,
                 const struct metrics_label *l, size_t nl, uint64_t v);
/* ... or a float, as the shortest text that reads back the same ("NaN",
 * "+Inf", "-Inf" for those). */
void metrics_f64(struct metrics_buf *b, const char *name,
                 const struct metrics_label *l, size_t nl, double v);

/* A whole summary family NAME over the values |v| (sorted in place):
 * quantiles 0, 0.5, 0.9, 0.99 and 1 by nearest rank (NaN with no value),
 * then NAME_sum and NAME_count. The labels |l| go on every line, before
 * "quantile". */
void metrics_summary(struct metrics_buf *b, const char *name, const char *help,
                     const struct metrics_label *l, size_t nl, double *v,
                     size_t n);

/* Whether |s| is a valid metric name (|label|: a valid label name). */
int metrics_name_ok(const char *s, int label);

/* Frees the text; |b| is empty again. */
void metrics_buf_free(struct metrics_buf *b);

#endif /* SRC_METRICS_H */
