/* jvpn-quic: a lane's markers (switches, refusals, ...) and their labels.
 *
 * Markers closer than the layout's cluster_px are drawn as one, in the
 * shape of the most important kind among them (security first), with a
 * tooltip listing them. Labels are placed after every marker is drawn,
 * the most important first, right of their marker or else left of it,
 * and only where they overlap neither another label nor a marker: the
 * rest stay in the tooltips. */
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/timeline_svg_int.h"

#define CLUSTER_TIPS 12 /* records a cluster's tooltip lists */

static const char *const mark_colours[TL_NMARKS] = {
    "#1f4e9c", /* switch */
    "#8a5a00", /* transport switch */
    "#e08e0b", /* denial */
    "#d62728", /* security */
    "#7f7f7f", /* info */
};

/* Which kind a cluster shows, and whose label goes first. */
static const int mark_rank[TL_NMARKS] = {2, 3, 4, 5, 1};

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

/* Markers drawn as one. */
struct cluster {
  const struct tl_mark *m;
  size_t n;
  const struct tl_mark *top; /* the highest ranked, first of its rank */
  int same;                  /* all of one kind and reason */
  double x;
};

/* The px a lane's markers and labels take, to keep labels apart:
 * [from, to, the room to keep around it]. */
struct taken {
  double (*iv)[3];
  size_t n;
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
    fputc(' ', l->f);
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

/* "NAT_REBIND", "NAT_REBIND ×6", "QUIC_RETURN +1"; "" for info alone. */
static void cluster_label(const struct cluster *c, char *buf, size_t len) {
  const char *what = c->top->reason[0] ? c->top->reason : c->top->event;

  if (c->top->kind == TL_MK_INFO)
    buf[0] = '\0';
  else if (c->n == 1)
    snprintf(buf, len, "%s", what);
  else if (c->same)
    snprintf(buf, len, "%s \xc3\x97%zu", what, c->n);
  else
    snprintf(buf, len, "%s +%zu", what, c->n - 1);
}

static void cluster_draw(const struct tl_layout *l, const struct cluster *c,
                         double y) {
  double my = y + l->d.mark_y + l->d.mark_h / 2;
  enum tl_mark_kind k = c->top->kind;

  fputs("<g class=\"mark\">", l->f);
  cluster_tip(l, c);
  fprintf(l->f,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
          "stroke=\"%s\" stroke-width=\"%s\" stroke-opacity=\"0.7\"/>",
          c->x, my, c->x, y + l->d.band_y + l->d.band_h, mark_colours[k],
          l->overview ? "1.5" : "1");
  tl_mark_shape(l->f, k, c->x, my, l->d.mark_h / 2);
  fputs("</g>\n", l->f);
}

/* The markers from |i| on within cluster_px of the first. */
static size_t cluster_next(const struct tl_layout *l,
                           const struct tl_session *s, size_t i,
                           struct cluster *c) {
  size_t j;

  c->m = c->top = &s->marks[i];
  c->x = tl_x(l, s->marks[i].t);
  c->same = 1;
  for (j = i; j < s->nmarks && s->marks[j].t <= l->t1 &&
              tl_x(l, s->marks[j].t) - c->x <= l->d.cluster_px;
       j++) {
    if (mark_rank[s->marks[j].kind] > mark_rank[c->top->kind])
      c->top = &s->marks[j];
    if (strcmp(s->marks[j].reason, c->m->reason) != 0 ||
        s->marks[j].kind != c->m->kind)
      c->same = 0;
  }
  c->n = j - i;
  return j;
}

static int free_at(const struct taken *t, double a, double b) {
  size_t i;

  for (i = 0; i < t->n; i++)
    if (a < t->iv[i][1] + t->iv[i][2] && b > t->iv[i][0] - t->iv[i][2])
      return 0;
  return 1;
}

static void take(struct taken *t, double a, double b, double room) {
  t->iv[t->n][0] = a;
  t->iv[t->n][1] = b;
  t->iv[t->n][2] = room;
  t->n++;
}

/* Where a label of |w| px beside a marker at |x| (half size |r|) goes:
 * right of it, or left of it, where nothing else is. -1e9: nowhere. */
static double label_x(const struct tl_layout *l, const struct taken *t,
                      double x, double r, double w) {
  double at = x + r + 2;

  if (at + w <= l->x1 + TL_RIGHT_PAD && free_at(t, at, at + w))
    return at;
  at = x - r - 2 - w;
  if (at >= l->x0 - r && free_at(t, at, at + w))
    return at;
  return -1e9;
}

static void label_put(const struct tl_layout *l, const char *text, double x,
                      double y, const char *colour, const char *weight) {
  fprintf(l->f,
          "<text x=\"%.1f\" y=\"%.1f\" font-family=\"%s\" font-size=\"9\" "
          "font-weight=\"%s\" fill=\"%s\">",
          x, y + l->d.mark_y + l->d.mark_h / 2 + 3, TL_FONT, weight, colour);
  tl_xml_text(l->f, text);
  fputs("</text>\n", l->f);
}

static void label_place(const struct tl_layout *l, const struct cluster *c,
                        double y, struct taken *t) {
  char text[TL_REASON_MAX + 24];
  double w, x;

  cluster_label(c, text, sizeof(text));
  if (text[0] == '\0')
    return;
  w = tl_text_w(strlen(text), 9);
  if ((x = label_x(l, t, c->x, l->d.mark_h / 2, w)) < -1e8)
    return;
  take(t, x, x + w, l->d.label_gap);
  label_put(l, text, x, y, mark_colours[c->top->kind], "normal");
}

/* "TERMINATED REASON" beside the end cap (lane.c), first of all labels. */
static void end_label(const struct tl_layout *l, const struct tl_session *s,
                      double y, struct taken *t) {
  char text[TL_REASON_MAX + 16];
  double x = tl_x(l, s->t1), w;

  if (!s->terminated || s->t1 < l->t0 || s->t1 > l->t1)
    return;
  take(t, x - 2, x + 2, 1);
  if (l->overview)
    return;
  snprintf(text, sizeof(text), "TERMINATED %s", s->end_reason);
  w = tl_text_w(strlen(text), 9) * 1.08; /* bold */
  if ((x = label_x(l, t, x, 3, w)) < -1e8)
    return;
  take(t, x, x + w, l->d.label_gap);
  label_put(l, text, x, y, "#3b3b3b", "bold");
}

/* Labels of clusters [0, n), the highest ranked first, then by time. */
static void labels(const struct tl_layout *l, const struct cluster *c,
                   size_t n, double y, struct taken *t) {
  int rank;
  size_t i;

  for (rank = 5; rank >= 1; rank--)
    for (i = 0; i < n; i++)
      if (mark_rank[c[i].top->kind] == rank)
        label_place(l, &c[i], y, t);
}

int tl_lane_marks(const struct tl_layout *l, const struct tl_session *s,
                  double y) {
  struct cluster *c = calloc(s->nmarks + 1, sizeof(*c));
  struct taken t = {calloc(2 * s->nmarks + 3, sizeof(*t.iv)), 0};
  double r = l->d.mark_h / 2;
  size_t i = 0, n = 0;

  if (c == NULL || t.iv == NULL) {
    free(c);
    free(t.iv);
    return JVPN_ERR_NOMEM;
  }
  while (i < s->nmarks && s->marks[i].t < l->t0)
    i++;
  while (i < s->nmarks && s->marks[i].t <= l->t1) {
    i = cluster_next(l, s, i, &c[n]);
    cluster_draw(l, &c[n], y);
    if (c[n].top->kind != TL_MK_INFO) /* a grey dot may be written over */
      take(&t, c[n].x - r, c[n].x + r, 1);
    n++;
  }
  end_label(l, s, y, &t);
  labels(l, c, n, y, &t);
  free(c);
  free(t.iv);
  return 0;
}
