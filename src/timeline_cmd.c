/* jvpn-quic: the "timeline" command (src/timeline_cmd.h). */
#include "src/timeline_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "src/cli.h"
#include "src/timeline_model.h"
#include "src/timeline_parse.h"
#include "src/timeline_svg.h"

static const char timeline_usage[] =
    "usage: jvpn-quic timeline [--session ID] [--since T] [--until T]\n"
    "                          [--detail auto|full|overview] AUDIT.jsonl "
    "-o FILE.svg\n"
    "\n"
    "Draws the sessions of an audit log (the server's or a client's) as an\n"
    "SVG picture: one lane per session, its state over time, its\n"
    "attachments with their peer addresses, and its switches, refusals\n"
    "and reason codes.\n"
    "\n"
    "  -s, --session ID  one session: base64url (as status prints it), or\n"
    "                    hex as the log spells it (4 or more digits)\n"
    "      --since T     from T: RFC 3339 (2026-11-25T17:53:00Z) or\n"
    "      --until T     relative to now (-10m, -2h, -1d)\n"
    "      --detail L    auto (default: an overview past 10 sessions or an\n"
    "                    hour), full or overview\n"
    "  -o, --output F    the SVG file to write ('-': standard output)\n"
    "  AUDIT.jsonl       the audit log ('-': standard input)\n";

struct timeline_args {
  const char *session, *since, *until, *out, *in;
  enum tl_detail detail;
  char prefix[33];
  int64_t t_since, t_until;
};

static int64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int detail_parse(const char *s, enum tl_detail *d) {
  static const char *const names[] = {"auto", "full", "overview"};
  int k;

  for (k = 0; k < 3; k++)
    if (strcmp(s, names[k]) == 0) {
      *d = (enum tl_detail)k;
      return 0;
    }
  return -1;
}

/* Checks and converts what getopt collected. Returns 0 or 2. */
static int timeline_check(struct timeline_args *a) {
  int64_t now = now_ms();

  if (a->in == NULL || a->out == NULL)
    return cli_usage_error(timeline_usage,
                           a->in ? "-o FILE is required"
                                 : "the audit log is required",
                           NULL);
  a->prefix[0] = '\0';
  if (a->session && tl_session_filter(a->session, a->prefix) < 0)
    return cli_usage_error(timeline_usage, "bad session ID", a->session);
  a->t_since = INT64_MIN;
  a->t_until = TL_OPEN;
  if (a->since && tl_parse_time(a->since, now, &a->t_since) < 0)
    return cli_usage_error(timeline_usage, "bad --since time", a->since);
  if (a->until && tl_parse_time(a->until, now, &a->t_until) < 0)
    return cli_usage_error(timeline_usage, "bad --until time", a->until);
  if (a->t_since > a->t_until)
    return cli_usage_error(timeline_usage, "--since is after --until", NULL);
  return 0;
}

static int timeline_opts(int argc, char **argv, struct timeline_args *a) {
  static const struct option opts[] = {
      {"session", required_argument, NULL, 's'},
      {"since", required_argument, NULL, 'S'},
      {"until", required_argument, NULL, 'U'},
      {"detail", required_argument, NULL, 'd'},
      {"output", required_argument, NULL, 'o'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int ch;

  memset(a, 0, sizeof(*a));
  optind = 1;
  while ((ch = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
    switch (ch) {
    case 's': a->session = optarg; break;
    case 'S': a->since = optarg; break;
    case 'U': a->until = optarg; break;
    case 'o': a->out = optarg; break;
    case 'd':
      if (detail_parse(optarg, &a->detail) < 0)
        return cli_usage_error(timeline_usage, "bad --detail", optarg);
      break;
    case 'h': fputs(timeline_usage, stdout); return -1;
    default: fputs(timeline_usage, stderr); return 2;
    }
  }
  if (optind + 1 < argc)
    return cli_usage_error(timeline_usage, "one audit log only", argv[optind + 1]);
  a->in = optind < argc ? argv[optind] : NULL;
  return timeline_check(a);
}

static int timeline_read(const char *path, struct tl_model *m) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  int rv;

  if (f == NULL) {
    fprintf(stderr, "jvpn-quic timeline: cannot open %s: %s\n", path,
            strerror(errno));
    return 1;
  }
  rv = tl_model_read(m, f);
  if (rv < 0)
    fprintf(stderr, "jvpn-quic timeline: cannot read %s: %s\n", path,
            rv == JVPN_ERR_NOMEM ? "out of memory" : strerror(errno));
  if (f != stdin)
    fclose(f);
  tl_model_finish(m);
  return rv < 0 ? 1 : 0;
}

static void timeline_report_skipped(const char *path,
                                    const struct tl_model *m) {
  if (m->malformed == 0 && m->unknown_kind == 0)
    return;
  fprintf(stderr,
          "jvpn-quic timeline: %s: skipped %zu malformed line%s and %zu "
          "record%s of an unknown kind or state (of %zu lines)\n",
          path, m->malformed, m->malformed == 1 ? "" : "s", m->unknown_kind,
          m->unknown_kind == 1 ? "" : "s", m->lines);
}

/* The refusals the lanes of sessions cannot show: no session had one. */
static void timeline_report_unbound(const char *path,
                                    const struct tl_model *m) {
  char summary[TL_SUMMARY_REASONS * (TL_REASON_MAX + 24) + 32];
  size_t n =
      tl_unbound_summary(m, 0, m->unbound.nmarks, summary, sizeof(summary));

  if (n > 0)
    fprintf(stderr,
            "jvpn-quic timeline: %s: %zu refusal%s without a session: %s\n",
            path, n, n == 1 ? "" : "s", summary);
}

/* Writes to a temporary file beside |path| and renames it over. */
static int timeline_write(const struct timeline_args *a,
                          const struct tl_view *v) {
  char tmp[4096];
  FILE *f;
  int rv;

  if (strcmp(a->out, "-") == 0)
    return tl_svg_write(stdout, v, a->in, a->detail) < 0 ? 1 : 0;
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", a->out) >= (int)sizeof(tmp) ||
      (f = fopen(tmp, "w")) == NULL) {
    fprintf(stderr, "jvpn-quic timeline: cannot write %s: %s\n", a->out,
            strerror(errno));
    return 1;
  }
  rv = tl_svg_write(f, v, a->in, a->detail);
  if (fclose(f) != 0 || rv < 0 || rename(tmp, a->out) != 0) {
    fprintf(stderr, "jvpn-quic timeline: cannot write %s: %s\n", a->out,
            strerror(errno));
    unlink(tmp);
    return 1;
  }
  return 0;
}

static void timeline_report(const struct timeline_args *a,
                            const struct tl_view *v) {
  enum tl_detail d = a->detail ? a->detail : tl_svg_detail(v);

  if (strcmp(a->out, "-") != 0)
    fprintf(stderr, "jvpn-quic timeline: %zu session%s, %s view, in %s\n",
            v->n, v->n == 1 ? "" : "s",
            d == TL_DETAIL_OVERVIEW ? "overview" : "detailed", a->out);
}

int jvpn_cmd_timeline(int argc, char **argv) {
  struct timeline_args a;
  struct tl_model m;
  struct tl_view v;
  long n;
  int rv;

  if ((rv = timeline_opts(argc, argv, &a)) != 0)
    return rv < 0 ? 0 : rv;
  tl_model_init(&m);
  if ((rv = timeline_read(a.in, &m)) != 0) {
    tl_model_free(&m);
    return rv;
  }
  timeline_report_skipped(a.in, &m);
  timeline_report_unbound(a.in, &m);
  n = tl_view_select(&m, a.prefix, a.t_since, a.t_until, &v);
  if (n < 0)
    fputs("jvpn-quic timeline: out of memory\n", stderr);
  else if (n == 0)
    fprintf(stderr,
            "jvpn-quic timeline: nothing to draw: %s has no session%s%s%s\n",
            a.in, a.session ? " matching " : "", a.session ? a.session : "",
            a.since || a.until ? " in the time range" : "");
  rv = n > 0 ? timeline_write(&a, &v) : 1;
  if (rv == 0)
    timeline_report(&a, &v);
  free(v.s);
  tl_model_free(&m);
  return rv;
}
