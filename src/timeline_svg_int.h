/*
 * src/timeline_svg_int: what the document (src/timeline_svg.c), the lanes
 * (src/timeline_lane.c) and their markers (src/timeline_marks.c) share:
 * the layout and the writing helpers.
 */
#ifndef SRC_TIMELINE_SVG_INT_H
#define SRC_TIMELINE_SVG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "src/timeline_model.h"

#define TL_WIDTH 1200    /* px: the document */
#define TL_LABEL_W 200   /* px: the lane labels, left of the plot */
#define TL_RIGHT_PAD 72  /* px: right of the plot, room for labels */
#define TL_MAX_ROWS 4    /* attachment rows in a detailed lane */
#define TL_FONT "DejaVu Sans, Verdana, Arial, sans-serif"
#define TL_MONO "DejaVu Sans Mono, Consolas, monospace"

/* Sizes of one lane, in px from its top. */
struct tl_lane_dims {
  double mark_y, mark_h; /* the marker row */
  double band_y, band_h; /* the state band */
  double bar_y, bar_h, bar_step; /* attachment rows */
  double pad;            /* below the last row */
  double cluster_px;     /* markers closer than this become one */
  double label_gap;      /* px kept free between two labels */
};

struct tl_layout {
  FILE *f;
  const struct tl_view *v;
  int overview;
  struct tl_lane_dims d;
  double x0, x1; /* the plot, in px */
  int64_t t0, t1;
};

/* The x of time |t| in the plot, clamped to it. */
double tl_x(const struct tl_layout *l, int64_t t);

/* Text for an XML attribute or element, escaped; control characters
 * (which XML 1.0 cannot hold) become '?'. */
void tl_xml_text(FILE *f, const char *s);

/* "2026-11-25 17:53:29.994" (UTC) into |buf| (>= 24 bytes). */
void tl_fmt_time(char *buf, size_t len, int64_t ms);

/* "850 ms", "2.3 s", "41 s", "12 min", "3.5 h" into |buf|. */
void tl_fmt_duration(char *buf, size_t len, int64_t ms);

/* The fill colour of a state. */
const char *tl_state_colour(enum tl_state st);

/* The lane's height: |rows| attachment rows. */
double tl_lane_height(const struct tl_layout *l, int rows);

/* Attachment rows the session's bars take in this layout (1 or more). */
int tl_lane_rows(const struct tl_layout *l, const struct tl_session *s);

/* The lane's background (drawn before the grid); |odd| alternates it. */
void tl_lane_background(const struct tl_layout *l,
                        const struct tl_session *s, double y, int odd);

/* Draws session |s| as the lane whose top is at |y|. Returns 0 or
 * JVPN_ERR_NOMEM. */
int tl_lane_write(const struct tl_layout *l, const struct tl_session *s,
                  double y);

/* The lane of the refusals without a session (|m|'s unbound marks in the
 * plot's time range, |n| of them, |summary| by reason): its background,
 * then its label and markers; as tall as a lane of no attachment row.
 * tl_lane_unbound_write returns 0 or JVPN_ERR_NOMEM. */
void tl_lane_unbound_background(const struct tl_layout *l, double y, int odd);
int tl_lane_unbound_write(const struct tl_layout *l, const struct tl_model *m,
                          size_t n, const char *summary, double y);

/* px a text of |n| characters takes at |size| px (DejaVu Sans, about). */
double tl_text_w(size_t n, double size);

/* The lane's markers and their labels (src/timeline_marks.c). Returns 0
 * or JVPN_ERR_NOMEM. */
int tl_lane_marks(const struct tl_layout *l, const struct tl_session *s,
                  double y);

/* A marker's shape, centred on (x, y), |r| its half size. */
void tl_mark_shape(FILE *f, enum tl_mark_kind kind, double x, double y,
                   double r);

#endif /* SRC_TIMELINE_SVG_INT_H */
