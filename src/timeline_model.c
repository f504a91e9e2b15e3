/* jvpn-quic: the audit log read back into a history per session. */
#include "src/timeline_model.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "jvpn/errors.h"
#include "src/jsonl.h"
#include "src/timeline_parse.h"

static const char *const state_names[TL_NSTATES] = {
    "BIRTH", "ATTACHED", "VOLATILE", "DEGRADED", "RECOVERING", "TERMINATED",
};

const char *tl_state_name(enum tl_state st) {
  return (unsigned)st < TL_NSTATES ? state_names[st] : "?";
}

int tl_state_parse(const char *name) {
  int k;

  for (k = 0; name != NULL && k < TL_NSTATES; k++)
    if (strcmp(name, state_names[k]) == 0)
      return k;
  return -1;
}

void tl_model_init(struct tl_model *m) {
  memset(m, 0, sizeof(*m));
  m->t_min = INT64_MAX;
  m->t_max = INT64_MIN;
}

static void session_free(struct tl_session *s) {
  free(s->spans);
  free(s->bars);
  free(s->marks);
  free(s);
}

void tl_model_free(struct tl_model *m) {
  size_t i;

  for (i = 0; i < m->n; i++)
    session_free(m->s[i]);
  free(m->s);
  free(m->unbound.marks);
  tl_model_init(m);
}

/* Room for one more of |size| bytes in *p (*n used of *cap). */
static int grow(void *p, size_t *cap, size_t n, size_t size) {
  void **pp = p, *q;
  size_t c = *cap ? *cap * 2 : 8;

  if (n < *cap)
    return 0;
  q = realloc(*pp, c * size);
  if (q == NULL)
    return JVPN_ERR_NOMEM;
  *pp = q;
  *cap = c;
  return 0;
}

static void copy(char *dst, size_t len, const char *src) {
  size_t n = src ? strlen(src) : 0;

  if (n >= len)
    n = len - 1;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
}

/* --- building a session's history ---------------------------------------- */

/* One record, as far as the history needs it. */
struct rec {
  int64_t t;
  const char *kind, *event, *reason, *peer, *detail;
  uint64_t from_att, to_att;
};

static struct tl_session *session_get(struct tl_model *m, const char *hex,
                                      int64_t t) {
  struct tl_session *s;
  size_t i;

  for (i = m->n; i-- > 0;)
    if (strcmp(m->s[i]->hex, hex) == 0)
      return m->s[i];
  if (grow(&m->s, &m->cap, m->n, sizeof(*m->s)) < 0 ||
      (s = calloc(1, sizeof(*s))) == NULL)
    return NULL;
  copy(s->hex, sizeof(s->hex), hex);
  (void)tl_session_b64(hex, s->b64);
  s->t0 = s->last_t = t;
  s->t1 = TL_OPEN;
  s->tcp_said = INT64_MIN;
  m->s[m->n++] = s;
  return s;
}

static int span_open(struct tl_session *s, int64_t t, enum tl_state st,
                     const char *reason) {
  struct tl_span *sp;

  if (s->nspans > 0 && s->spans[s->nspans - 1].t1 == TL_OPEN)
    s->spans[s->nspans - 1].t1 = t;
  if (grow(&s->spans, &s->capspans, s->nspans, sizeof(*sp)) < 0)
    return JVPN_ERR_NOMEM;
  sp = &s->spans[s->nspans++];
  sp->t0 = t;
  sp->t1 = st == TL_TERMINATED ? t : TL_OPEN;
  sp->state = st;
  copy(sp->reason, sizeof(sp->reason), reason);
  return 0;
}

static struct tl_bar *bar_find_open(struct tl_session *s, uint64_t att) {
  size_t i;

  for (i = s->nbars; i-- > 0;)
    if (s->bars[i].att == att && s->bars[i].t1 == TL_OPEN)
      return &s->bars[i];
  return NULL;
}

/* The last peer address (|via| 0) or interface (1) seen for |att|. */
static const char *bar_last(const struct tl_session *s, uint64_t att,
                            int via) {
  const char *v;
  size_t i;

  for (i = s->nbars; i-- > 0;) {
    v = via ? s->bars[i].via : s->bars[i].peer;
    if (s->bars[i].att == att && v[0] != '\0')
      return v;
  }
  return "";
}

static void bar_close(struct tl_session *s, uint64_t att, int64_t t) {
  struct tl_bar *b = bar_find_open(s, att);

  if (b != NULL)
    b->t1 = t;
}

static int bar_open(struct tl_session *s, int64_t t, uint64_t att,
                    int standby, const char *peer) {
  struct tl_bar *b;

  bar_close(s, att, t);
  if (grow(&s->bars, &s->capbars, s->nbars, sizeof(*b)) < 0)
    return JVPN_ERR_NOMEM;
  b = &s->bars[s->nbars++];
  memset(b, 0, sizeof(*b));
  b->t0 = t;
  b->t1 = TL_OPEN;
  b->att = att;
  b->standby = standby;
  b->tcp = s->tcp;
  copy(b->peer, sizeof(b->peer), peer && *peer ? peer : bar_last(s, att, 0));
  copy(b->via, sizeof(b->via), bar_last(s, att, 1));
  return 0;
}

/* The active attachment's bar goes on with a new peer or transport: a
 * new bar from |t| (or the same one, changed, if it began at |t|). */
static int bar_update(struct tl_session *s, int64_t t, const char *peer) {
  struct tl_bar *b = bar_find_open(s, s->active);

  if (b == NULL || b->standby)
    return 0;
  if ((peer == NULL || *peer == '\0' || strcmp(peer, b->peer) == 0) &&
      b->tcp == s->tcp)
    return 0;
  if (b->t0 == t) {
    b->tcp = s->tcp;
    copy(b->peer, sizeof(b->peer), peer && *peer ? peer : b->peer);
    return 0;
  }
  return bar_open(s, t, s->active, 0, peer && *peer ? peer : b->peer);
}

static int set_active(struct tl_session *s, int64_t t, uint64_t att,
                      const char *peer) {
  if (att == s->active)
    return att != 0 ? bar_update(s, t, peer) : 0;
  if (s->active != 0)
    bar_close(s, s->active, t);
  s->active = att;
  return att != 0 ? bar_open(s, t, att, 0, peer) : 0;
}

static void close_all(struct tl_session *s, int64_t t) {
  size_t i;

  for (i = 0; i < s->nbars; i++)
    if (s->bars[i].t1 == TL_OPEN)
      s->bars[i].t1 = t;
  s->active = 0;
}

static int mark_add(struct tl_session *s, const struct rec *r,
                    enum tl_mark_kind kind) {
  struct tl_mark *k;

  if (grow(&s->marks, &s->capmarks, s->nmarks, sizeof(*k)) < 0)
    return JVPN_ERR_NOMEM;
  k = &s->marks[s->nmarks++];
  k->t = r->t;
  k->kind = kind;
  copy(k->event, sizeof(k->event), r->event);
  copy(k->reason, sizeof(k->reason), r->reason);
  copy(k->peer, sizeof(k->peer), r->peer);
  copy(k->detail, sizeof(k->detail), r->detail);
  return 0;
}

/* A client names the uplink interface of a new attachment in the
 * detail ("eth1"): one word that is not the birth's "birth". */
static void via_fill(struct tl_session *s, const struct rec *r) {
  size_t n = strlen(r->detail);
  struct tl_bar *b;

  if (n == 0 || n >= TL_VIA_MAX || strcmp(r->detail, "birth") == 0 ||
      strspn(r->detail, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-@") != n ||
      (b = bar_find_open(s, r->to_att)) == NULL || b->via[0] != '\0' ||
      b->t0 != r->t)
    return;
  copy(b->via, sizeof(b->via), r->detail);
}

/* The active attachment becomes |r|'s to_attachment; an activation
 * (TRANSPORT_SWITCH_OK) keeps the old one as a standby. */
static int activate(struct tl_session *s, const struct rec *r,
                    const char *peer) {
  uint64_t old = s->active;
  int rv;

  if (old != 0 && r->to_att != 0 && old != r->to_att &&
      strcmp(r->reason, "TRANSPORT_SWITCH_OK") == 0) {
    s->active = 0;
    if ((rv = bar_open(s, r->t, old, 1, NULL)) < 0)
      return rv;
  }
  rv = set_active(s, r->t, r->to_att, peer);
  via_fill(s, r);
  return rv;
}

static int on_transition(struct tl_model *m, struct tl_session *s,
                         const struct rec *r, const struct jsonl_obj *o) {
  int from = tl_state_parse(jsonl_str(o, "from"));
  int to = tl_state_parse(jsonl_str(o, "to"));
  int rv;

  if (from < 0 || to < 0) {
    m->unknown_kind++;
    return 0;
  }
  if (s->nspans == 0 && (rv = span_open(s, s->t0, from, "")) < 0)
    return rv;
  if ((rv = span_open(s, r->t, to, r->reason)) < 0)
    return rv;
  if (to == TL_TERMINATED) {
    close_all(s, r->t);
    s->terminated = 1;
    s->t1 = r->t;
    copy(s->end_reason, sizeof(s->end_reason), r->reason);
    return 0;
  }
  /* RECOVERY_START names the peer of the attachment about to come */
  return activate(s, r, r->to_att != s->active ? r->peer : NULL);
}

static int on_switch(struct tl_session *s, const struct rec *r) {
  int rv = mark_add(s, r, TL_MK_SWITCH);

  if (rv == 0 && r->to_att != 0 && !s->terminated)
    rv = activate(s, r, r->peer);
  return rv;
}

/* The log said the transport was |tcp| until |t|: bars since it last
 * said otherwise that believed the other transport are corrected. */
static void tcp_backfill(struct tl_session *s, int64_t t, int tcp) {
  size_t i;

  for (i = 0; i < s->nbars; i++)
    if (!s->bars[i].standby && s->bars[i].t0 < t &&
        s->bars[i].t0 >= s->tcp_said)
      s->bars[i].tcp = tcp;
}

static int on_transport(struct tl_session *s, const struct rec *r) {
  int rv = mark_add(s, r, TL_MK_TRANSPORT), to;

  if (rv < 0)
    return rv;
  if (strcmp(r->reason, "TCP_FALLBACK") != 0 &&
      strcmp(r->reason, "QUIC_RETURN") != 0)
    return 0;
  to = strcmp(r->reason, "TCP_FALLBACK") == 0;
  if (s->tcp == to)
    tcp_backfill(s, r->t, !to);
  s->tcp = to;
  s->tcp_said = r->t;
  if (r->to_att != 0 && r->to_att != s->active && !s->terminated)
    return set_active(s, r->t, r->to_att, r->peer);
  return bar_update(s, r->t, r->peer);
}

/* A record naming the peer of an attachment whose bar lacks one. */
static void peer_fill(struct tl_session *s, const struct rec *r) {
  struct tl_bar *b;

  if (r->to_att != 0 && r->peer[0] != '\0' &&
      (b = bar_find_open(s, r->to_att)) != NULL && b->peer[0] == '\0')
    copy(b->peer, sizeof(b->peer), r->peer);
}

static int on_info(struct tl_session *s, const struct rec *r) {
  peer_fill(s, r);
  if (strcmp(r->event, "transport_switch") == 0)
    return on_transport(s, r);
  if (strcmp(r->event, "uplink_switch") == 0)
    return mark_add(s, r, TL_MK_SWITCH);
  if (strcmp(r->event, "session_born") == 0 && s->nspans == 0)
    return span_open(s, r->t, TL_BIRTH, r->reason);
  if (strcmp(r->event, "standby_added") == 0 && r->to_att != 0) {
    if (bar_open(s, r->t, r->to_att, 1, r->peer) < 0)
      return JVPN_ERR_NOMEM;
    via_fill(s, r);
    return 0;
  }
  if (strcmp(r->event, "standby_lost") == 0)
    bar_close(s, r->to_att, r->t);
  if (strcmp(r->event, "attachment_lost") == 0 && s->active == r->to_att)
    (void)set_active(s, r->t, 0, NULL);
  return mark_add(s, r, TL_MK_INFO);
}

static int dispatch(struct tl_model *m, struct tl_session *s,
                    const struct rec *r, const struct jsonl_obj *o) {
  if (strcmp(r->kind, "transition") == 0)
    return on_transition(m, s, r, o);
  if (strcmp(r->kind, "switch") == 0)
    return on_switch(s, r);
  if (strcmp(r->kind, "denial") == 0)
    return mark_add(s, r, TL_MK_DENIAL);
  if (strcmp(r->kind, "security") == 0)
    return mark_add(s, r, TL_MK_SECURITY);
  return on_info(s, r);
}

static int kind_known(const char *kind) {
  static const char *const kinds[] = {"transition", "switch", "denial",
                                      "security", "info"};
  size_t k;

  for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
    if (strcmp(kind, kinds[k]) == 0)
      return 1;
  return 0;
}

static const char *str_or_empty(const struct jsonl_obj *o, const char *key) {
  const char *v = jsonl_str(o, key);

  return v != NULL ? v : "";
}

/* Fills |r| from |o|; -1 if the record lacks what every record has. */
static int rec_fill(struct rec *r, const struct jsonl_obj *o) {
  const char *ts = jsonl_str(o, "ts");

  memset(r, 0, sizeof(*r));
  if (ts == NULL || tl_parse_rfc3339(ts, &r->t) < 0 ||
      (r->kind = jsonl_str(o, "kind")) == NULL)
    return -1;
  r->event = str_or_empty(o, "event");
  r->reason = str_or_empty(o, "reason");
  r->peer = str_or_empty(o, "peer");
  r->detail = str_or_empty(o, "detail");
  (void)jsonl_u64(o, "from_attachment", &r->from_att);
  (void)jsonl_u64(o, "to_attachment", &r->to_att);
  return 0;
}

/* A record of no session: a refusal is kept as a mark of its own lane. */
static int on_unbound(struct tl_model *m, struct rec *r) {
  struct tl_session *u = &m->unbound;

  m->no_session++;
  r->t = r->t < u->last_t ? u->last_t : r->t;
  u->last_t = r->t;
  if (strcmp(r->kind, "security") == 0)
    return mark_add(u, r, TL_MK_SECURITY);
  if (strcmp(r->kind, "denial") == 0)
    return mark_add(u, r, TL_MK_DENIAL);
  return 0;
}

/* No session: none named, or the zeros a refused birth was once logged
 * with (it has no ID yet). */
static int unbound(const char *hex) {
  return hex == NULL || (*hex != '\0' && strspn(hex, "0") == strlen(hex));
}

size_t tl_unbound_summary(const struct tl_model *m, size_t i0, size_t i1,
                          char *buf, size_t len) {
  struct {
    const char *reason;
    size_t n;
  } c[TL_SUMMARY_REASONS], t;
  size_t nc = 0, other = 0, i, k, off = 0;
  int w;

  i1 = i1 < m->unbound.nmarks ? i1 : m->unbound.nmarks;
  for (i = i0; i < i1; i++) {
    const char *why = m->unbound.marks[i].reason;

    for (k = 0; k < nc && strcmp(c[k].reason, why) != 0; k++)
      ;
    if (k < nc)
      c[k].n++;
    else if (nc < TL_SUMMARY_REASONS) {
      c[nc].reason = why;
      c[nc++].n = 1;
    } else
      other++;
  }
  for (i = 1; i < nc; i++) /* most frequent first; ties by appearance */
    for (k = i; k > 0 && c[k].n > c[k - 1].n; k--) {
      t = c[k];
      c[k] = c[k - 1];
      c[k - 1] = t;
    }
  if (len > 0)
    buf[0] = '\0';
  for (k = 0; k <= nc && off < len; k++) {
    if (k == nc && other == 0)
      break;
    w = snprintf(buf + off, len - off, "%s%s %zu", k ? ", " : "",
                 k < nc ? (c[k].reason[0] ? c[k].reason : "?") : "other",
                 k < nc ? c[k].n : other);
    if (w < 0)
      break;
    off += (size_t)w;
  }
  return i1 > i0 ? i1 - i0 : 0;
}

static void note_node(struct tl_model *m, const struct jsonl_obj *o) {
  const char *node = jsonl_str(o, "node");

  if (node != NULL && m->node[0] == '\0')
    copy(m->node, sizeof(m->node), node);
}

int tl_model_add_line(struct tl_model *m, const char *line, size_t len) {
  struct jsonl_obj o;
  struct tl_session *s;
  const char *hex;
  struct rec r;

  m->lines++;
  if (len == 0 || strspn(line, " \t\r") == len)
    return 0;
  if (jsonl_parse(&o, line, len) < 0 || rec_fill(&r, &o) < 0) {
    m->malformed++;
    return 0;
  }
  if (!kind_known(r.kind)) {
    m->unknown_kind++;
    return 0;
  }
  m->records++;
  note_node(m, &o);
  m->t_min = r.t < m->t_min ? r.t : m->t_min;
  m->t_max = r.t > m->t_max ? r.t : m->t_max;
  if (unbound(hex = jsonl_str(&o, "session")))
    return on_unbound(m, &r);
  if (tl_session_b64(hex, (char[23]){0}) < 0) {
    m->malformed++;
    return 0;
  }
  if ((s = session_get(m, hex, r.t)) == NULL)
    return JVPN_ERR_NOMEM;
  r.t = r.t < s->last_t ? s->last_t : r.t;
  s->last_t = r.t;
  return dispatch(m, s, &r, &o);
}

int tl_model_read(struct tl_model *m, FILE *f) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rv = 0;

  while (rv == 0 && (n = getline(&line, &cap, f)) >= 0) {
    if (n > 0 && line[n - 1] == '\n')
      n--;
    rv = tl_model_add_line(m, line, (size_t)n);
  }
  if (rv == 0 && ferror(f))
    rv = JVPN_ERR_SYSTEM;
  free(line);
  return rv;
}

void tl_model_finish(struct tl_model *m) {
  struct tl_session *s;
  size_t i, k;

  for (i = 0; i < m->n; i++) {
    s = m->s[i];
    for (k = 0; k < s->nspans; k++)
      if (s->spans[k].t1 == TL_OPEN)
        s->spans[k].t1 = m->t_max;
    for (k = 0; k < s->nbars; k++)
      if (s->bars[k].t1 == TL_OPEN)
        s->bars[k].t1 = m->t_max;
    if (s->t1 == TL_OPEN)
      s->t1 = m->t_max;
  }
}

/* --- choosing what to draw ----------------------------------------------- */

/* The session's last moment worth drawing: its end or its last mark. */
static int64_t session_last(const struct tl_session *s) {
  int64_t t = s->t1;

  if (s->nmarks > 0 && s->marks[s->nmarks - 1].t > t)
    t = s->marks[s->nmarks - 1].t;
  return t;
}

static int chosen(const struct tl_session *s, const char *prefix,
                  int64_t since, int64_t until) {
  return strncmp(s->hex, prefix, strlen(prefix)) == 0 &&
         session_last(s) >= since && s->t0 <= until;
}

long tl_view_select(const struct tl_model *m, const char *hex_prefix,
                    int64_t since, int64_t until, struct tl_view *v) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  size_t i;

  memset(v, 0, sizeof(*v));
  v->m = m;
  if (m->n > 0 && (v->s = calloc(m->n, sizeof(*v->s))) == NULL)
    return JVPN_ERR_NOMEM;
  for (i = 0; i < m->n; i++) {
    if (!chosen(m->s[i], hex_prefix, since, until))
      continue;
    v->s[v->n++] = m->s[i];
    lo = m->s[i]->t0 < lo ? m->s[i]->t0 : lo;
    hi = session_last(m->s[i]) > hi ? session_last(m->s[i]) : hi;
  }
  v->t0 = since != INT64_MIN ? since : lo;
  v->t1 = until != TL_OPEN ? until : hi;
  if (v->n > 0 && v->t1 - v->t0 < 1000) { /* one instant: a second around */
    v->t0 -= 500;
    v->t1 = v->t0 + 1000;
  }
  return (long)v->n;
}
