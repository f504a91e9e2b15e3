/* jvpn-quic: the timeline picture as an SVG document. */
#include "src/timeline_svg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jvpn/errors.h"
#include "src/timeline_svg_int.h"

#define TOP_H 112  /* px: title, subtitle, legend, axis labels */
#define FOOT_H 34  /* px: the axis below the lanes and the summary */
#define UNBOUND_FOOT_H 12 /* px: a line more for refusals without a session */

static const struct tl_lane_dims dims_full = {
    .mark_y = 6, .mark_h = 10, .band_y = 20, .band_h = 16, .bar_y = 40,
    .bar_h = 12, .bar_step = 15, .pad = 6, .cluster_px = 3, .label_gap = 4,
};
static const struct tl_lane_dims dims_overview = {
    .mark_y = 2, .mark_h = 6, .band_y = 9, .band_h = 9, .bar_y = 19,
    .bar_h = 4, .bar_step = 5, .pad = 3, .cluster_px = 6, .label_gap = 40,
};

/* --- helpers the lanes share ---------------------------------------------- */

double tl_x(const struct tl_layout *l, int64_t t) {
  if (t <= l->t0)
    return l->x0;
  if (t >= l->t1)
    return l->x1;
  return l->x0 + (l->x1 - l->x0) * (double)(t - l->t0) /
                     (double)(l->t1 - l->t0);
}

void tl_xml_text(FILE *f, const char *s) {
  for (; *s != '\0'; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default:
      fputc((unsigned char)*s < 0x20 && *s != '\n' ? '?' : *s, f);
    }
  }
}

static void utc(int64_t ms, struct tm *tm) {
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);

  gmtime_r(&t, tm);
}

static int ms_part(int64_t ms) {
  return (int)(((ms % 1000) + 1000) % 1000);
}

void tl_fmt_time(char *buf, size_t len, int64_t ms) {
  struct tm tm;
  char s[24];

  utc(ms, &tm);
  strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(buf, len, "%s.%03d", s, ms_part(ms));
}

void tl_fmt_duration(char *buf, size_t len, int64_t ms) {
  if (ms < 1000)
    snprintf(buf, len, "%" PRId64 " ms", ms);
  else if (ms < 10000)
    snprintf(buf, len, "%.1f s", (double)ms / 1000);
  else if (ms < 120000)
    snprintf(buf, len, "%.0f s", (double)ms / 1000);
  else if (ms < 7200000)
    snprintf(buf, len, "%.0f min", (double)ms / 60000);
  else
    snprintf(buf, len, "%.1f h", (double)ms / 3600000);
}

enum tl_detail tl_svg_detail(const struct tl_view *v) {
  return v->n > TL_OVERVIEW_LANES || v->t1 - v->t0 > TL_OVERVIEW_SPAN_MS
             ? TL_DETAIL_OVERVIEW
             : TL_DETAIL_FULL;
}

/* --- the time axis ----------------------------------------------------------- */

static int64_t tick_step(const struct tl_layout *l) {
  static const int64_t steps[] = {
      100,     200,      500,      1000,     2000,     5000,     10000,
      15000,   30000,    60000,    120000,   300000,   600000,   900000,
      1800000, 3600000,  7200000,  10800000, 21600000, 43200000, 86400000,
      172800000, 604800000,
  };
  double most = (l->x1 - l->x0) / 90;
  size_t i;

  for (i = 0; i < sizeof(steps) / sizeof(steps[0]) - 1; i++)
    if ((double)(l->t1 - l->t0) / (double)steps[i] <= most)
      break;
  return steps[i];
}

static void tick_label(char *buf, size_t len, int64_t t, int64_t step) {
  struct tm tm;

  utc(t, &tm);
  if (step < 1000)
    snprintf(buf, len, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
             tm.tm_sec, ms_part(t));
  else if (step < 60000)
    strftime(buf, len, "%H:%M:%S", &tm);
  else if (step < 86400000 && t % 86400000 != 0)
    strftime(buf, len, "%H:%M", &tm);
  else
    strftime(buf, len, "%b %d", &tm);
}

static int64_t first_tick(int64_t t0, int64_t step) {
  int64_t q = t0 / step;

  return (q * step < t0 ? q + 1 : q) * step;
}

/* Grid lines over [ytop, ybot] with labels above and below. */
static void axis(const struct tl_layout *l, double ytop, double ybot) {
  int64_t step = tick_step(l), t;
  char label[32];
  double x;

  fputs("<g class=\"axis\" font-size=\"10\" fill=\"#444\" "
        "text-anchor=\"middle\">\n",
        l->f);
  for (t = first_tick(l->t0, step); t <= l->t1; t += step) {
    x = tl_x(l, t);
    tick_label(label, sizeof(label), t, step);
    fprintf(l->f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"#c8ccd2\" stroke-width=\"0.6\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\">%s</text>"
            "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
            x, ytop - 3, x, ybot + 3, x, ytop - 6, label, x, ybot + 14, label);
  }
  fprintf(l->f,
          "<text x=\"10\" y=\"%.1f\" text-anchor=\"start\" "
          "font-weight=\"bold\">session</text>"
          "<text x=\"10\" y=\"%.1f\" text-anchor=\"start\" "
          "font-style=\"italic\">time in UTC</text>\n</g>\n",
          ytop - 6, ybot + 14);
}

/* --- title and legend ------------------------------------------------------------ */

static void subtitle(const struct tl_layout *l, const char *source) {
  const struct tl_view *v = l->v;
  char a[32], b[32], d[24];

  tl_fmt_time(a, sizeof(a), v->t0);
  tl_fmt_time(b, sizeof(b), v->t1);
  tl_fmt_duration(d, sizeof(d), v->t1 - v->t0);
  fprintf(l->f, "<text x=\"10\" y=\"44\" font-size=\"11\" fill=\"#444\">");
  tl_xml_text(l->f, v->m->node[0] ? v->m->node : "jvpn-quic");
  fputs(" audit log", l->f);
  if (source != NULL) {
    fputc(' ', l->f);
    tl_xml_text(l->f, source);
  }
  /* "2026-11-25 17:53:29 - 17:54:40", the second date only if it differs */
  a[19] = b[19] = '\0';
  fprintf(l->f,
          " \xc2\xb7 %zu session%s \xc2\xb7 %s \xe2\x80\x93 %s UTC (%s)%s"
          "</text>\n",
          v->n, v->n == 1 ? "" : "s", a, strncmp(a, b, 11) ? b : b + 11, d,
          l->overview ? " \xc2\xb7 overview: nearby events merged" : "");
}

/* One legend entry at *x; the swatch is drawn by the caller's |swatch|. */
static void legend_text(const struct tl_layout *l, double *x, double y,
                        const char *text) {
  fprintf(l->f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", *x + 18, y + 9,
          text);
  *x += 18 + strlen(text) * 6.2 + 16;
}

static void legend_rect(const struct tl_layout *l, double x, double y,
                        const char *fill, const char *stroke) {
  fprintf(l->f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" rx=\"1\" "
          "fill=\"%s\" stroke=\"%s\" stroke-width=\"0.8\"/>",
          x, y, fill, stroke);
}

static void legend(const struct tl_layout *l) {
  static const char *const marks[TL_NMARKS] = {
      "switch", "transport switch", "denial", "security refusal",
      "other record"};
  double x = 10, y = 56;
  int k;

  fprintf(l->f, "<g class=\"legend\" font-size=\"10\" fill=\"#222\">\n");
  for (k = 0; k < TL_NSTATES; k++) {
    legend_rect(l, x, y, tl_state_colour((enum tl_state)k), "none");
    legend_text(l, &x, y, tl_state_name((enum tl_state)k));
  }
  legend_rect(l, x, y, "url(#gap)", "#555");
  legend_text(l, &x, y, "no transport");
  x = 10;
  y += 18;
  legend_rect(l, x, y + 2, "#2b6cb0", "none");
  legend_text(l, &x, y, "attachment, QUIC (#id peer)");
  legend_rect(l, x, y + 2, "#b07d1a", "none");
  legend_text(l, &x, y, "over TCP");
  legend_rect(l, x, y + 2, "#dbe9f6", "#2b6cb0");
  legend_text(l, &x, y, "standby");
  for (k = 0; k < TL_NMARKS; k++) {
    tl_mark_shape(l->f, (enum tl_mark_kind)k, x + 7, y + 5, 5);
    legend_text(l, &x, y, marks[k]);
  }
  fputs("</g>\n", l->f);
}

static void defs(FILE *f) {
  fputs("<defs><pattern id=\"gap\" width=\"6\" height=\"6\" "
        "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        "<rect width=\"6\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.35\"/>"
        "<rect width=\"2.5\" height=\"6\" fill=\"#333333\" "
        "fill-opacity=\"0.45\"/></pattern></defs>\n",
        f);
}

/* The refusals without a session in the plot's time range: marks
 * [*i0, *i1) of the model's unbound ones, summed up by reason in |buf|.
 * Returns how many. */
static size_t unbound_range(const struct tl_layout *l, size_t *i0, size_t *i1,
                            char *buf, size_t len) {
  const struct tl_session *u = &l->v->m->unbound;

  for (*i0 = 0; *i0 < u->nmarks && u->marks[*i0].t < l->t0; ++*i0)
    ;
  for (*i1 = *i0; *i1 < u->nmarks && u->marks[*i1].t <= l->t1; ++*i1)
    ;
  return tl_unbound_summary(l->v->m, *i0, *i1, buf, len);
}

static void footer(const struct tl_layout *l, double y, size_t nunbound,
                   const char *summary) {
  const struct tl_model *m = l->v->m;
  size_t outside = m->unbound.nmarks - nunbound;

  if (m->unbound.nmarks > 0) {
    fprintf(l->f,
            "<text x=\"10\" y=\"%.1f\" font-size=\"9\" fill=\"#555\">"
            "refusals without a session: %zu in this time range",
            y - UNBOUND_FOOT_H, nunbound);
    if (nunbound > 0)
      fputs(" (", l->f);
    tl_xml_text(l->f, summary);
    fprintf(l->f, "%s", nunbound > 0 ? ")" : "");
    if (outside > 0)
      fprintf(l->f, ", %zu outside it", outside);
    fputs("</text>\n", l->f);
  }
  fprintf(l->f,
          "<text x=\"10\" y=\"%.1f\" font-size=\"9\" fill=\"#777\">"
          "%zu records from %zu lines; skipped: %zu malformed, %zu of an "
          "unknown kind \xc2\xb7 hover over an element for its records"
          "</text>\n",
          y, m->records, m->lines, m->malformed, m->unknown_kind);
}

static void layout_init(struct tl_layout *l, FILE *f, const struct tl_view *v,
                        enum tl_detail detail) {
  memset(l, 0, sizeof(*l));
  l->f = f;
  l->v = v;
  if (detail == TL_DETAIL_AUTO)
    detail = tl_svg_detail(v);
  l->overview = detail == TL_DETAIL_OVERVIEW;
  l->d = l->overview ? dims_overview : dims_full;
  l->x0 = TL_LABEL_W;
  l->x1 = TL_WIDTH - TL_RIGHT_PAD;
  l->t0 = v->t0;
  l->t1 = v->t1 > v->t0 ? v->t1 : v->t0 + 1;
}

static double lanes_height(const struct tl_layout *l) {
  double h = 0;
  size_t i;

  for (i = 0; i < l->v->n; i++)
    h += tl_lane_height(l, tl_lane_rows(l, l->v->s[i]));
  return h;
}

static void header(const struct tl_layout *l, double height,
                   const char *source) {
  fprintf(l->f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
          "width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
          "font-family=\"%s\">\n",
          TL_WIDTH, height, TL_WIDTH, height, TL_FONT);
  fputs("<title>jvpn-quic session timeline", l->f);
  if (source != NULL) {
    fputs(": ", l->f);
    tl_xml_text(l->f, source);
  }
  fputs("</title>\n", l->f);
  defs(l->f);
  fprintf(l->f,
          "<rect width=\"%d\" height=\"%.0f\" fill=\"#ffffff\"/>\n"
          "<text x=\"10\" y=\"24\" font-size=\"17\" font-weight=\"bold\" "
          "fill=\"#111\">jvpn-quic session timeline</text>\n",
          TL_WIDTH, height);
}

int tl_svg_write(FILE *f, const struct tl_view *v, const char *source,
                 enum tl_detail detail) {
  char summary[TL_SUMMARY_REASONS * (TL_REASON_MAX + 24) + 32];
  struct tl_layout l;
  double y = TOP_H, h, foot = FOOT_H;
  size_t i, u0, u1, nu;
  int rv;

  layout_init(&l, f, v, detail);
  h = lanes_height(&l);
  nu = unbound_range(&l, &u0, &u1, summary, sizeof(summary));
  if (nu > 0)
    h += tl_lane_height(&l, 0);
  if (v->m->unbound.nmarks > 0)
    foot += UNBOUND_FOOT_H;
  header(&l, TOP_H + h + foot, source);
  subtitle(&l, source);
  legend(&l);
  for (i = 0; i < v->n; i++) {
    tl_lane_background(&l, v->s[i], y, (int)(i & 1));
    y += tl_lane_height(&l, tl_lane_rows(&l, v->s[i]));
  }
  if (nu > 0)
    tl_lane_unbound_background(&l, y, (int)(v->n & 1));
  axis(&l, TOP_H, TOP_H + h);
  for (i = 0, y = TOP_H; i < v->n; i++) {
    if ((rv = tl_lane_write(&l, v->s[i], y)) < 0)
      return rv;
    y += tl_lane_height(&l, tl_lane_rows(&l, v->s[i]));
  }
  if (nu > 0) {
    if ((rv = tl_lane_unbound_write(&l, v->m, nu, summary, y)) < 0)
      return rv;
    y += tl_lane_height(&l, 0);
  }
  footer(&l, y + foot - 6, nu, summary);
  fputs("</svg>\n", f);
  if (fflush(f) != 0 || ferror(f)) {
    if (errno == 0)
      errno = EIO;
    return JVPN_ERR_SYSTEM;
  }
  return 0;
}
