/*
 * src/timeline_svg: draws a tl_view (src/timeline_model.h) as one SVG
 * document: a title, a legend, a UTC time axis, and one lane per session
 * with its state in colour, its attachments as bars labelled with the
 * peer address, stretches without a transport shaded, and its switches,
 * transport switches, denials, security refusals and other records as
 * markers with their reason codes. Every element a reader may ask about
 * has a <title> (a tooltip in browsers). Plain SVG 1.1: no script, no
 * external font, image or style sheet.
 *
 * Two levels of detail. The detailed one (a few sessions over minutes)
 * gives each attachment its own row and labels every marker that has
 * room. The overview (chosen when the view spans more than an hour or
 * holds more than 10 sessions) draws thin lanes, only the active
 * attachment, and clusters the markers that fall within a few pixels of
 * each other into one tick with a count; labels are thinned to those
 * with room.
 */
#ifndef SRC_TIMELINE_SVG_H
#define SRC_TIMELINE_SVG_H

#include <stdio.h>

#include "src/timeline_model.h"

enum tl_detail {
  TL_DETAIL_AUTO,
  TL_DETAIL_FULL,
  TL_DETAIL_OVERVIEW,
};

/* Sessions or milliseconds past which TL_DETAIL_AUTO is an overview. */
#define TL_OVERVIEW_LANES 10
#define TL_OVERVIEW_SPAN_MS 3600000

/* The level TL_DETAIL_AUTO chooses for |v|. */
enum tl_detail tl_svg_detail(const struct tl_view *v);

/* Writes |v| (v->n > 0) to |f|. |source| names the log in the subtitle
 * (NULL: none). Returns 0, or JVPN_ERR_SYSTEM if |f| failed (errno),
 * JVPN_ERR_NOMEM. */
int tl_svg_write(FILE *f, const struct tl_view *v, const char *source,
                 enum tl_detail detail);

#endif /* SRC_TIMELINE_SVG_H */
