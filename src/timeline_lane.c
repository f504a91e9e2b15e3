/* jvpn-quic: one session's lane of the timeline picture. */
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/timeline_svg_int.h"

static const char *const state_colours[TL_NSTATES] = {
    "#9ecae1", /* BIRTH: light blue */
    "#31a354", /* ATTACHED: green */
    "#f2c318", /* VOLATILE: yellow */
    "#f16913", /* DEGRADED: orange */
    "#9e9ac8", /* RECOVERING: lavender */
    "#3b3b3b", /* TERMINATED: dark grey */
};

const char *tl_state_colour(enum tl_state st) {
  return (unsigned)st < TL_NSTATES ? state_colours[st] : "#cccccc";
}

double tl_text_w(size_t n, double size) {
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
  fprintf(l->f,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"3\" height=\"%.1f\" "
          "fill=\"%s\">",
          tl_x(l, s->t1) - 1.5, y + l->d.mark_y,
          l->d.band_y + l->d.band_h - l->d.mark_y,
          tl_state_colour(TL_TERMINATED));
  fputs("<title>TERMINATED (", l->f);
  tl_xml_text(l->f, s->end_reason);
  fputs(")</title></rect>\n", l->f);
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
        x1 - x0 > tl_text_w(strlen(tl_state_name(sp->state)), 9) + 6)
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
  if (b->via[0] != '\0')
    fputs(", via ", l->f);
  tl_xml_text(l->f, b->via);
  fprintf(l->f, "\n%s \xe2\x80\x93 %s UTC (%s)</title>", a, c + 11, d);
}

/* The longest of "#3 198.18.3.1:4000 tcp" (or "#3 via eth1"), the
 * address (or interface), "#3" that fits the bar (the overview: the
 * address or nothing). */
static void bar_label(const struct tl_layout *l, const struct tl_bar *b,
                      double x, double w, double y) {
  char text[3][TL_PEER_MAX + 32];
  int k;

  snprintf(text[0], sizeof(text[0]), "#%llu%s%s%s%s%s",
           (unsigned long long)b->att, b->peer[0] ? " " : "", b->peer,
           b->via[0] ? " via " : "", b->via, b->tcp ? " tcp" : "");
  snprintf(text[1], sizeof(text[1]), "%s", b->peer[0] ? b->peer : b->via);
  snprintf(text[2], sizeof(text[2]), "#%llu", (unsigned long long)b->att);
  for (k = l->overview ? 1 : 0; k < (l->overview ? 2 : 3); k++)
    if (text[k][0] != '\0' && tl_text_w(strlen(text[k]), 9) + 6 <= w)
      break;
  if (k == (l->overview ? 2 : 3))
    return;
  fprintf(l->f,
          "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" font-size=\"9\" "
          "fill=\"%s\">",
          x + 3, y + l->d.bar_h - 3, TL_MONO, b->standby ? "#1f3f66" : "#fff");
  tl_xml_text(l->f, text[k]);
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
  rv = tl_lane_marks(l, s, y);
  fputs("</g>\n", l->f);
  return rv;
}

void tl_lane_unbound_background(const struct tl_layout *l, double y, int odd) {
  fprintf(l->f,
          "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
          "fill=\"%s\"/>\n",
          y, TL_WIDTH, tl_lane_height(l, 0), odd ? "#f3f5f7" : "#ffffff");
}

int tl_lane_unbound_write(const struct tl_layout *l, const struct tl_model *m,
                          size_t n, const char *summary, double y) {
  double ty = y + l->d.band_y + l->d.band_h - 3;

  fputs("<g class=\"lane\" id=\"unbound\">\n<g><title>", l->f);
  fprintf(l->f,
          "%zu refusal%s without a session (no ID yet, or none that "
          "parsed): ",
          n, n == 1 ? "" : "s");
  tl_xml_text(l->f, summary);
  fprintf(l->f,
          "</title>\n<text x=\"10\" y=\"%.1f\" font-size=\"%d\" "
          "font-style=\"italic\" fill=\"#333\">without a session</text>"
          "</g>\n",
          ty, l->overview ? 10 : 12);
  if (tl_lane_marks(l, &m->unbound, y) < 0)
    return JVPN_ERR_NOMEM;
  fputs("</g>\n", l->f);
  return 0;
}
