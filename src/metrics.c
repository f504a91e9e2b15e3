/*
 * src/metrics: see metrics.h.
 */
#include "src/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct metrics_buf *b, size_t more) {
  size_t cap;
  char *p;

  if (b->failed)
    return -1;
  if (b->len + more + 1 <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1)
    cap *= 2;
  p = realloc(b->p, cap);
  if (p == NULL) {
    b->failed = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void put(struct metrics_buf *b, const char *s, size_t n) {
  if (reserve(b, n) != 0)
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s) {
  put(b, s, strlen(s));
}

/* |s| with '\\' and newline escaped, and '"' too when |quote|. */
static void put_escaped(struct metrics_buf *b, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\')
      put(b, "\\\\", 2);
    else if (*s == '\n')
      put(b, "\\n", 2);
    else if (*s == '"' && quote)
      put(b, "\\\"", 2);
    else
      put(b, s, 1);
  }
}

int metrics_name_ok(const char *s, int label) {
  size_t i;

  if (s == NULL || s[0] == '\0')
    return 0;
  for (i = 0; s[i]; i++) {
    char c = s[i];
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

    if (alpha || (c == ':' && !label) || (i > 0 && c >= '0' && c <= '9'))
      continue;
    return 0;
  }
  /* "__" starts the names Prometheus keeps for itself. */
  return !(label && s[0] == '_' && s[1] == '_');
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type,
                    const char *help) {
  if (!metrics_name_ok(name, 0)) {
    b->failed = 1;
    return;
  }
  puts_(b, "# HELP ");
  puts_(b, name);
  puts_(b, " ");
  put_escaped(b, help, 0);
  puts_(b, "\n# TYPE ");
  puts_(b, name);
  puts_(b, " ");
  puts_(b, type);
  puts_(b, "\n");
}

/* "NAME{...} " */
static void sample_head(struct metrics_buf *b, const char *name,
                        const struct metrics_label *l, size_t nl) {
  size_t i;

  if (!metrics_name_ok(name, 0)) {
    b->failed = 1;
    return;
  }
  puts_(b, name);
  for (i = 0; i < nl; i++) {
    if (!metrics_name_ok(l[i].name, 1)) {
      b->failed = 1;
      return;
    }
    puts_(b, i == 0 ? "{" : ",");
    puts_(b, l[i].name);
    puts_(b, "=\"");
    put_escaped(b, l[i].value ? l[i].value : "", 1);
    puts_(b, "\"");
  }
  puts_(b, nl ? "} " : " ");
}

void metrics_u64(struct metrics_buf *b, const char *name,
                 const struct metrics_label *l, size_t nl, uint64_t v) {
  char num[24];

  sample_head(b, name, l, nl);
  snprintf(num, sizeof(num), "%llu\n", (unsigned long long)v);
  puts_(b, num);
}

/* The shortest of %.15g, %.16g, %.17g that strtod reads back exactly. */
static void format_double(char *out, size_t len, double v) {
  int prec;

  if (isnan(v)) {
    snprintf(out, len, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  for (prec = 15; prec <= 17; prec++) {
    snprintf(out, len, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

void metrics_f64(struct metrics_buf *b, const char *name,
                 const struct metrics_label *l, size_t nl, double v) {
  char num[40];

  sample_head(b, name, l, nl);
  format_double(num, sizeof(num), v);
  puts_(b, num);
  puts_(b, "\n");
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

#define SUMMARY_MAX_LABELS 8

void metrics_summary(struct metrics_buf *b, const char *name, const char *help,
                     const struct metrics_label *l, size_t nl, double *v,
                     size_t n) {
  static const struct {
    double q;
    const char *text;
  } qs[] = {{0, "0"}, {0.5, "0.5"}, {0.9, "0.9"}, {0.99, "0.99"}, {1, "1"}};
  struct metrics_label ql[SUMMARY_MAX_LABELS + 1];
  char sub[128];
  double sum = 0;
  size_t i, k;

  if (nl > SUMMARY_MAX_LABELS ||
      strlen(name) + sizeof("_count") > sizeof(sub)) {
    b->failed = 1;
    return;
  }
  metrics_family(b, name, "summary", help);
  if (n > 1)
    qsort(v, n, sizeof(*v), cmp_double);
  if (nl > 0) /* |l| may be NULL then */
    memcpy(ql, l, nl * sizeof(*l));
  for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
    /* nearest rank: the smallest value with at least q * n at or below */
    k = (size_t)ceil(qs[i].q * (double)n);
    ql[nl].name = "quantile";
    ql[nl].value = qs[i].text;
    metrics_f64(b, name, ql, nl + 1, n == 0 ? NAN : v[k > 0 ? k - 1 : 0]);
  }
  for (i = 0; i < n; i++)
    sum += v[i];
  snprintf(sub, sizeof(sub), "%s_sum", name);
  metrics_f64(b, sub, l, nl, sum);
  snprintf(sub, sizeof(sub), "%s_count", name);
  metrics_u64(b, sub, l, nl, n);
}

void metrics_buf_free(struct metrics_buf *b) {
  free(b->p);
  memset(b, 0, sizeof(*b));
}
