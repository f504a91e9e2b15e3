/* jvpn-quic: one session's lane of the timeline picture. */
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/timeline_svg_int.h"

#define CLUSTER_TIPS 12 /* records a cluster's tooltip lists */

static const char *const state_colours[TL_NSTATES] = {
    "#9ecae1", /* BIRTH: light blue */
    "#31a354", /* ATTACHED: green */
    "#f2c318", /* VOLATILE: yellow */
    "#f16913", /* DEGRADED: orange */
    "#9e9ac8", /* RECOVERING: lavender */
    "#3b3b3b", /* TERMINATED: dark grey */
};

static const char *const mark_colours[TL_NMARKS] = {
    "#1f4e9c", /* switch */
    "#8a5a00", /* transport switch */
    "#e08e0b", /* denial */
    "#d62728", /* security */
    "#7f7f7f", /* info */
};

/* When markers cluster, the one shown: security first. */
static const int mark_rank[TL_NMARKS] = {2, 3, 4, 5, 1};

const char *tl_state_colour(enum tl_state st) {
  return (unsigned)st < TL_NSTATES ? state_colours[st] : "#cccccc";
}

/* px a label of |n| characters takes at |size| px (DejaVu Sans). */
static double text_w(size_t n, double size) {
  return (double)n * size * 0.62;
}

double tl_lane_height(const struct tl_layout *l, int rows) {
  return l->d.bar_y + rows * l->d.bar_step + l->d.pad;
}

static int visible(const struct tl_layout *l, int64_t t0, int64_t t1) {
  return t1 >= l->t0 && t0 <= l->t1;
}

/* Row 0 holds the active attachment; standbys share rows 1.. first-fit
 * (hidden in the overview: row -1). Returns the rows used. */
static int assign_rows(const struct tl_layout *l, const struct tl_session *s,
                       int *row_of) {
  int64_t end[TL_MAX_ROWS] = {0};
  int rows = 1, r;
  size_t i;

  for (i = 0; i < s->nbars; i++) {
    const struct tl_bar *b = &s->bars[i];

    r = b->standby ? -1 : 0;
    if (b->standby && !l->overview && visible(l, b->t0, b->t1)) {
      for (r = 1; r < rows && end[r] > b->t0; r++)
        ;
      if (r == rows && rows < TL_MAX_ROWS)
        rows++;
      r = r < TL_MAX_ROWS ? r : TL_MAX_ROWS - 1;
      end[r] = b->t1 > end[r] ? b->t1 : end[r];
    }
    if (row_of != NULL)
      row_of[i] = r;
  }
  return rows;
}

int tl_lane_rows(const struct tl_layout *l, const struct tl_session *s) {
  return assign_rows(l, s, NULL);
}

/* --- the label column ---------------------------------------------------- */

static void lane_label(const struct tl_layout *l, const struct tl_session *s,
                       double y) {
  char t0[32], t1[32];
  double ty = y + l->d.band_y + l->d.band_h - 3;

  tl_fmt_time(t0, sizeof(t0), s->t0);
  tl_fmt_time(t1, sizeof(t1), s->t1);
  fprintf(l->f, "<g><title>session %s (status: %s)\nfirst record %s UTC\n",
          s->hex, s->b64, t0);
  if (s->terminated) {
    fprintf(l->f, "TERMINATED %s UTC (", t1);
    tl_xml_text(l->f, s->end_reason);
    fputs(")</title>\n", l->f);
  } else
    fprintf(l->f, "still open at the end of the log (%s UTC)</title>\n", t1);
  fprintf(l->f,
          "<text x=\"10\" y=\"%.1f\" font-family=\"%s\" font-size=\"%d\" "
          "font-weight=\"bold\">%.*s\xe2\x80\xa6</text>\n",
          ty, TL_MONO, l->overview ? 10 : 12, l->overview ? 8 : 12, s->hex);
  if (!l->overview)
    fprintf(l->f,
            "<text x=\"10\" y=\"%.1f\" font-family=\"%s\" font-size=\"10\" "
            "fill=\"#555\">status: %.11s\xe2\x80\xa6</text>\n",
            ty + 14, TL_MONO, s->b64);
  fputs("</g>\n", l->f);
}

/* --- the state band ------------------------------------------------------ */

static const char *on_colour(enum tl_state st) {
  return st == TL_ATTACHED || st == TL_TERMINATED ? "#ffffff" : "#1a1a1a";
}

static void span_title(const struct tl_layout *l, const struct tl_span *sp) {
  char a[32], b[32], d[24];

  tl_fmt_time(a, sizeof(a), sp->t0);
  tl_fmt_time(b, sizeof(b), sp->t1);
  tl_fmt_duration(d, sizeof(d), sp->t1 - sp->t0);
  fprintf(l->f, "<title>%s %s \xe2\x80\x93 %s UTC (%s)", tl_state_name(sp->state),
          a, b + 11, d);
  if (sp->reason[0] != '\0')
    fputs("\nentered by ", l->f);
  tl_xml_text(l->f, sp->reason);
  fputs("</title>", l->f);
}

static void end_cap(const struct tl_layout *l, const struct tl_session *s,
                    double y) {
  double x = tl_x(l, s->t1), w = text_w(strlen(s->end_reason) + 12, 10);
  int left = x + 5 + w > l->x1;

  fprintf(l->f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"3\" height=\"%.1f\" "
          "fill=\"%s\">",
          x - 1.5, y + l->d.band_y - 2, l->d.band_h + 4,
          tl_state_colour(TL_TERMINATED));
  fputs("<title>TERMINATED (", l->f);
  tl_xml_text(l->f, s->end_reason);
  fputs(")</title></rect>\n", l->f);
  if (l->overview)
    return;
  fprintf(l->f,
          "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" font-size=\"10\" "
          "fill=\"#3b3b3b\" text-anchor=\"%s\">TERMINATED ",
          left ? x - 5 : x + 5, y + l->d.band_y + l->d.band_h - 4, TL_FONT,
          left ? "end" : "start");
  tl_xml_text(l->f, s->end_reason);
  fputs("</text>\n", l->f);
}

static void spans(const struct tl_layout *l, const struct tl_session *s,
                  double y) {
  const struct tl_span *sp;
  double x0, x1;
  size_t i;

  for (i = 0; i < s->nspans; i++) {
    sp = &s->spans[i];
    if (sp->state == TL_TERMINATED || !visible(l, sp->t0, sp->t1))
      continue;
    x0 = tl_x(l, sp->t0);
    x1 = tl_x(l, sp->t1);
    x1 = x1 - x0 < 1 ? x0 + 1 : x1;
    fprintf(l->f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"%s\">",
            x0, y + l->d.band_y, x1 - x0, l->d.band_h,
            tl_state_colour(sp->state));
    span_title(l, sp);
    fputs("</rect>\n", l->f);
    if (!l->overview &&
        x1 - x0 > text_w(strlen(tl_state_name(sp->state)), 9) + 6)
      fprintf(l->f,
              "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" "
              "font-size=\"9\" fill=\"%s\">%s</text>\n",
              x0 + 3, y + l->d.band_y + l->d.band_h - 4, TL_FONT,
              on_colour(sp->state), tl_state_name(sp->state));
  }
  if (s->terminated && visible(l, s->t1, s->t1))
    end_cap(l, s, y);
}

/* --- attachments ----------------------------------------------------------- */

static void bar_title(const struct tl_layout *l, const struct tl_bar *b) {
  char a[32], c[32], d[24];

  tl_fmt_time(a, sizeof(a), b->t0);
  tl_fmt_time(c, sizeof(c), b->t1);
  tl_fmt_duration(d, sizeof(d), b->t1 - b->t0);
  fprintf(l->f, "<title>attachment %llu, %s over %s, peer ",
          (unsigned long long)b->att, b->standby ? "standby" : "active",
          b->tcp ? "HTTP/2 on TCP" : "QUIC");
  tl_xml_text(l->f, b->peer[0] ? b->peer : "not in the log");
  fprintf(l->f, "\n%s \xe2\x80\x93 %s UTC (%s)</title>", a, c + 11, d);
}

static void bar_label(const struct tl_layout *l, const struct tl_bar *b,
                      double x, double w, double y) {
  char text[TL_PEER_MAX + 32];

  if (l->overview)
    snprintf(text, sizeof(text), "%s", b->peer);
  else
    snprintf(text, sizeof(text), "#%llu %s%s", (unsigned long long)b->att,
             b->peer, b->tcp ? " tcp" : "");
  if (text[0] == '\0' || text_w(strlen(text), 9) + 6 > w)
    return;
  fprintf(l->f,
          "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" font-size=\"9\" "
          "fill=\"%s\">",
          x + 3, y + l->d.bar_h - 3, TL_MONO, b->standby ? "#1f3f66" : "#fff");
  tl_xml_text(l->f, text);
  fputs("</text>\n", l->f);
}

static void bar(const struct tl_layout *l, const struct tl_bar *b, double y) {
  double x0 = tl_x(l, b->t0), x1 = tl_x(l, b->t1);

  x1 = x1 - x0 < 1 ? x0 + 1 : x1;
  fprintf(l->f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
          "rx=\"2\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\">",
          x0, y, x1 - x0, l->d.bar_h,
          b->standby ? "#dbe9f6" : b->tcp ? "#b07d1a" : "#2b6cb0",
          b->standby ? "#2b6cb0" : "none", b->standby ? "0.8" : "0");
  bar_title(l, b);
  fputs("</rect>\n", l->f);
  if (l->d.bar_h >= 10)
    bar_label(l, b, x0, x1 - x0, y);
}

static int bars(const struct tl_layout *l, const struct tl_session *s,
                double y) {
  int *row_of = calloc(s->nbars + 1, sizeof(int));
  size_t i;

  if (row_of == NULL)
    return JVPN_ERR_NOMEM;
  (void)assign_rows(l, s, row_of);
  for (i = 0; i < s->nbars; i++)
    if (row_of[i] >= 0 && visible(l, s->bars[i].t0, s->bars[i].t1))
      bar(l, &s->bars[i], y + l->d.bar_y + row_of[i] * l->d.bar_step);
  free(row_of);
  return 0;
}

/* --- stretches without a transport ------------------------------------------ */

static void gap(const struct tl_layout *l, int64_t t0, int64_t t1, double y,
                int rows) {
  double x0 = tl_x(l, t0), x1 = tl_x(l, t1);
  char a[32], b[32], d[24];

  if (!visible(l, t0, t1) || t1 <= t0)
    return;
  tl_fmt_time(a, sizeof(a), t0);
  tl_fmt_time(b, sizeof(b), t1);
  tl_fmt_duration(d, sizeof(d), t1 - t0);
  fprintf(l->f,
          "<rect class=\"gap\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
          "height=\"%.1f\" fill=\"url(#gap)\" stroke=\"#555\" "
          "stroke-width=\"0.5\" stroke-dasharray=\"2,2\">"
          "<title>no transport %s \xe2\x80\x93 %s UTC (%s)</title></rect>\n",
          x0, y + l->d.band_y, x1 - x0 < 1 ? 1 : x1 - x0,
          l->d.bar_y - l->d.band_y + rows * l->d.bar_step, a, b + 11, d);
}

/* The parts of [t0, t1] that no active attachment covers. */
static void gaps_unattached(const struct tl_layout *l,
                            const struct tl_session *s, int64_t t0,
                            int64_t t1, double y, int rows) {
  int64_t cur = t0;
  size_t i;

  for (i = 0; i < s->nbars && cur < t1; i++) {
    const struct tl_bar *b = &s->bars[i];

    if (b->standby || b->t1 <= cur || b->t0 >= t1)
      continue;
    if (b->t0 > cur)
      gap(l, cur, b->t0, y, rows);
    cur = b->t1 > cur ? b->t1 : cur;
  }
  if (cur < t1)
    gap(l, cur, t1, y, rows);
}

/* RECOVERING, and DEGRADED while no attachment is active. */
static void gaps(const struct tl_layout *l, const struct tl_session *s,
                 double y, int rows) {
  size_t i;

  for (i = 0; i < s->nspans; i++) {
    const struct tl_span *sp = &s->spans[i];

    if (sp->state == TL_RECOVERING)
      gap(l, sp->t0, sp->t1, y, rows);
    else if (sp->state == TL_DEGRADED)
      gaps_unattached(l, s, sp->t0, sp->t1, y, rows);
  }
}

/* --- markers ----------------------------------------------------------------- */

void tl_mark_shape(FILE *f, enum tl_mark_kind kind, double x, double y,
                   double r) {
  const char *c = mark_colours[kind];

  switch (kind) {
  case TL_MK_SWITCH:
    fprintf(f, "<path d=\"M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z\" fill=\"%s\"/>",
            x - r, y - r, x + r, y - r, x, y + r, c);
    break;
  case TL_MK_TRANSPORT:
    fprintf(f,
            "<path d=\"M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z\" "
            "fill=\"%s\"/>",
            x, y - r, x + r, y, x, y + r, x - r, y, c);
    break;
  case TL_MK_DENIAL:
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"%s\"/>",
            x - r * 0.8, y - r * 0.8, r * 1.6, r * 1.6, c);
    break;
  case TL_MK_SECURITY:
    fprintf(f,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>"
            "<path d=\"M%.1f,%.1f L%.1f,%.1f M%.1f,%.1f L%.1f,%.1f\" "
            "stroke=\"#fff\" stroke-width=\"1.5\"/>",
            x, y, r, c, x - r / 2, y - r / 2, x + r / 2, y + r / 2,
            x + r / 2, y - r / 2, x - r / 2, y + r / 2);
    break;
  default:
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", x,
            y, r * 0.5, c);
  }
}

/* Markers [i, j) of a session, drawn as one. */
struct cluster {
  const struct tl_mark *m;
  size_t n;
  enum tl_mark_kind kind; /* the highest ranked */
  int same_reason;
  double x;
};

static void cluster_tip(const struct tl_layout *l, const struct cluster *c) {
  char ts[32];
  size_t i;

  fputs("<title>", l->f);
  for (i = 0; i < c->n && i < CLUSTER_TIPS; i++) {
    const struct tl_mark *m = &c->m[i];

    tl_fmt_time(ts, sizeof(ts), m->t);
    fprintf(l->f, "%s%s ", i ? "\n" : "", ts + 11);
    tl_xml_text(l->f, m->event);
    fputs(" ", l->f);
    tl_xml_text(l->f, m->reason);
    if (m->peer[0] != '\0')
      fputs(" peer ", l->f);
    tl_xml_text(l->f, m->peer);
    if (m->detail[0] != '\0')
      fputs(": ", l->f);
    tl_xml_text(l->f, m->detail);
  }
  if (c->n > CLUSTER_TIPS)
    fprintf(l->f, "\n\xe2\x80\xa6 and %zu more", c->n - CLUSTER_TIPS);
  fputs("</title>", l->f);
}

/* The label of a cluster, "" for one without (info records). */
static void cluster_label(const struct cluster *c, char *buf, size_t len) {
  const char *what = c->m[0].reason[0] ? c->m[0].reason : c->m[0].event;

  if (c->kind == TL_MK_INFO)
    buf[0] = '\0';
  else if (c->n == 1 || c->same_reason)
    snprintf(buf, len, c->n > 1 ? "%s \xc3\x97%zu" : "%s", what, c->n);
  else
    snprintf(buf, len, "%zu events", c->n);
}

/* The label right of the marker, or left of it at the plot's right end,
 * if it does not run into the lane's last label, which ends at
 * *label_end (px). */
static void mark_label(const struct tl_layout *l, const struct cluster *c,
                       const char *text, double my, double *label_end) {
  double r = l->d.mark_h / 2, w = text_w(strlen(text), 9);
  double x = c->x + r + 2;
  int left = x + w > l->x1 + TL_RIGHT_PAD;

  if (left)
    x = c->x - r - 2 - w;
  if (x < *label_end + l->d.label_gap)
    return;
  fprintf(l->f,
          "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" font-size=\"9\" "
          "fill=\"%s\">",
          x, my + 3, TL_FONT, mark_colours[c->kind]);
  tl_xml_text(l->f, text);
  fputs("</text>\n", l->f);
  *label_end = x + w;
}

/* Draws |c| and its label. */
static void cluster_draw(const struct tl_layout *l, const struct cluster *c,
                         double y, double *label_end) {
  double my = y + l->d.mark_y + l->d.mark_h / 2, r = l->d.mark_h / 2;
  char text[TL_REASON_MAX + 24];
  size_t n;

  fprintf(l->f, "<g class=\"mark\">");
  cluster_tip(l, c);
  fprintf(l->f,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
          "stroke=\"%s\" stroke-width=\"%s\" stroke-opacity=\"0.7\"/>",
          c->x, my, c->x, y + l->d.band_y + l->d.band_h,
          mark_colours[c->kind], l->overview ? "1.5" : "1");
  tl_mark_shape(l->f, c->kind, c->x, my, r);
  fputs("</g>\n", l->f);
  cluster_label(c, text, sizeof(text));
  if ((n = strlen(text)) > 0)
    mark_label(l, c, text, my, label_end);
}

static size_t cluster_next(const struct tl_layout *l,
                           const struct tl_session *s, size_t i,
                           struct cluster *c) {
  size_t j;

  c->m = &s->marks[i];
  c->x = tl_x(l, s->marks[i].t);
  c->kind = s->marks[i].kind;
  c->same_reason = 1;
  for (j = i; j < s->nmarks && s->marks[j].t <= l->t1 &&
              tl_x(l, s->marks[j].t) - c->x <= l->d.cluster_px;
       j++) {
    if (mark_rank[s->marks[j].kind] > mark_rank[c->kind])
      c->kind = s->marks[j].kind;
    if (strcmp(s->marks[j].reason, c->m->reason) != 0 ||
        s->marks[j].kind != c->m->kind)
      c->same_reason = 0;
  }
  c->n = j - i;
  return j;
}

static void marks(const struct tl_layout *l, const struct tl_session *s,
                  double y) {
  double label_end = -1e9;
  struct cluster c;
  size_t i = 0;

  while (i < s->nmarks && s->marks[i].t < l->t0)
    i++;
  while (i < s->nmarks && s->marks[i].t <= l->t1) {
    i = cluster_next(l, s, i, &c);
    cluster_draw(l, &c, y, &label_end);
  }
}

void tl_lane_background(const struct tl_layout *l,
                        const struct tl_session *s, double y, int odd) {
  fprintf(l->f,
          "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
          "fill=\"%s\"/>\n",
          y, TL_WIDTH, tl_lane_height(l, tl_lane_rows(l, s)),
          odd ? "#f3f5f7" : "#ffffff");
}

int tl_lane_write(const struct tl_layout *l, const struct tl_session *s,
                  double y) {
  int rows = tl_lane_rows(l, s), rv;

  fprintf(l->f, "<g class=\"lane\" id=\"s-%s\">\n", s->hex);
  lane_label(l, s, y);
  spans(l, s, y);
  if ((rv = bars(l, s, y)) < 0)
    return rv;
  gaps(l, s, y, rows);
  marks(l, s, y);
  fputs("</g>\n", l->f);
  return 0;
}
