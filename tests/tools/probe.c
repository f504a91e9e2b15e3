/* tests/tools/probe: a fixed-rate UDP probe stream and its receiver, to
 * measure how long traffic through a tunnel stops when the path under it
 * changes (NAT rebinding, address change, blackhole).
 *
 *   probe send --to ADDR --port P --rate PPS --duration S [--size N]
 *   probe recv --port P --duration S [--bind ADDR] [--json]
 *   probe now
 *
 * Each datagram carries a stream ID, a sequence number, the sender's
 * CLOCK_MONOTONIC send time and the send interval. Network namespaces
 * share CLOCK_MONOTONIC, so a receiver in another namespace of the same
 * host can compute one-way delays, and a script can place its own events
 * (a fault switched off) on the same time line with "probe now".
 *
 * The receiver reports the longest gap between two consecutive arrivals
 * (what a user sees as "traffic stopped for X ms"), when it started and
 * ended, and the longest run of missing sequence numbers times the send
 * interval (the same outage seen from the sender's side). Both run for a
 * bounded time whatever the network does; only libc is used. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/tool_util.h"

#define PROBE_MAGIC 0x4a565052u /* "JVPR" */
#define PROBE_HDR_LEN 32        /* bytes: magic, id, seq, sent, interval */
#define PROBE_MAX_SIZE 9000     /* bytes of UDP payload */
#define PROBE_MAX_RATE 100000   /* packets per second */
#define PROBE_MAX_DURATION 3600 /* seconds */
/* Sequence numbers the receiver can track; later ones count as "beyond"
 * (at 200 pps this is over 23 hours). */
#define PROBE_MAX_SEQ (1u << 24)

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void usage(void) {
  fprintf(stderr,
          "usage: probe send --to ADDR --port P --rate PPS --duration S"
          " [--size N]\n"
          "       probe recv --port P --duration S [--bind ADDR] [--json]\n"
          "       probe now\n"
          "  rate 1..%d pps, duration 1..%d s (may be fractional),\n"
          "  size %d..%d bytes of UDP payload (default %d)\n",
          PROBE_MAX_RATE, PROBE_MAX_DURATION, PROBE_HDR_LEN, PROBE_MAX_SIZE,
          PROBE_HDR_LEN);
}

/* Resolves a numeric address (IPv4 or IPv6, with an optional %scope). */
static int parse_addr(const char *host, long port,
                      struct sockaddr_storage *ss, socklen_t *len) {
  struct addrinfo hints, *ai = NULL;
  char serv[8];

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  snprintf(serv, sizeof(serv), "%ld", port);
  if (getaddrinfo(host, serv, &hints, &ai) != 0 || ai == NULL)
    return -1;
  if (ai->ai_addrlen > sizeof(*ss)) {
    freeaddrinfo(ai);
    return -1;
  }
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

static uint32_t stream_id(void) {
  struct timespec ts;

  /* Only tells this run's packets from a previous run's stragglers. */
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^
         (uint32_t)getpid() << 16;
}

static int cmd_send(int argc, char **argv) {
  const char *to = NULL;
  long port = -1, rate = -1, size = PROBE_HDR_LEN;
  uint64_t duration = 0, interval, start, deadline, seq;
  uint64_t nsent = 0, nerr = 0;
  int last_errno = 0;
  struct sockaddr_storage dst;
  socklen_t dlen;
  uint8_t buf[PROBE_MAX_SIZE];
  uint32_t id = stream_id();
  int i, fd;

  for (i = 0; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (v == NULL)
      goto bad_usage;
    if (strcmp(argv[i], "--to") == 0)
      to = v;
    else if (strcmp(argv[i], "--port") == 0) {
      if (tool_parse_long(v, 1, 65535, &port) != 0)
        goto bad_usage;
    } else if (strcmp(argv[i], "--rate") == 0) {
      if (tool_parse_long(v, 1, PROBE_MAX_RATE, &rate) != 0)
        goto bad_usage;
    } else if (strcmp(argv[i], "--size") == 0) {
      if (tool_parse_long(v, PROBE_HDR_LEN, PROBE_MAX_SIZE, &size) != 0)
        goto bad_usage;
    } else if (strcmp(argv[i], "--duration") == 0) {
      if (tool_parse_seconds(v, PROBE_MAX_DURATION, &duration) != 0)
        goto bad_usage;
    } else
      goto bad_usage;
    i++;
  }
  if (to == NULL || port < 0 || rate < 0 || duration == 0)
    goto bad_usage;
  if (parse_addr(to, port, &dst, &dlen) != 0) {
    fprintf(stderr, "probe: '%s' is not a numeric IPv4 or IPv6 address\n",
            to);
    return 2;
  }
  fd = socket(dst.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("probe: socket");
    return 1;
  }
  memset(buf, 0, sizeof(buf));
  interval = 1000000000u / (uint64_t)rate;
  start = tool_now_ns();
  deadline = start + duration;
  /* Absolute deadlines: a late wake-up does not shift every later packet,
   * so the stream keeps its rate and a gap at the receiver is the
   * network's, not the sender's drift. */
  for (seq = 0; !stop_flag; seq++) {
    uint64_t due = start + seq * interval;

    if (due >= deadline)
      break;
    tool_sleep_until(due, &stop_flag);
    if (stop_flag)
      break;
    put_u32(buf, PROBE_MAGIC);
    put_u32(buf + 4, id);
    put_u64(buf + 8, seq);
    put_u64(buf + 16, tool_now_ns());
    put_u64(buf + 24, interval);
    /* A fault under test may make sends fail for a while (no route, a
     * firewall): count it and keep the pace. */
    if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, dlen) < 0) {
      nerr++;
      last_errno = errno;
    } else
      nsent++;
  }
  close(fd);
  printf("sent %" PRIu64 " send_errors %" PRIu64 "\n", nsent, nerr);
  if (nerr > 0)
    fprintf(stderr, "probe: last send error: %s\n", strerror(last_errno));
  return 0;

bad_usage:
  usage();
  return 2;
}

struct recv_stats {
  uint8_t *seen; /* bitmap of received sequence numbers */
  uint32_t id;
  int have_id;
  uint64_t received, dups, reordered, beyond, foreign;
  uint64_t highest; /* highest sequence number + 1 */
  uint64_t interval_ns;
  uint64_t first_ns, last_ns;
  uint64_t gap_ns, gap_start_ns, gap_end_ns, gap_end_seq;
  uint64_t max_owd_ns;
};

static void account(struct recv_stats *st, const uint8_t *p, size_t len,
                    uint64_t t) {
  uint64_t seq, sent;
  uint32_t id;

  if (len < PROBE_HDR_LEN || get_u32(p) != PROBE_MAGIC) {
    st->foreign++;
    return;
  }
  id = get_u32(p + 4);
  /* The first stream seen is the one measured. */
  if (!st->have_id) {
    st->id = id;
    st->have_id = 1;
  } else if (id != st->id) {
    st->foreign++;
    return;
  }
  seq = get_u64(p + 8);
  sent = get_u64(p + 16);
  if (seq >= PROBE_MAX_SEQ) {
    st->beyond++;
    return;
  }
  if (st->seen[seq / 8] & (1u << (seq % 8))) {
    st->dups++;
    return;
  }
  st->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
  if (seq + 1 < st->highest)
    st->reordered++;
  else
    st->highest = seq + 1;
  st->interval_ns = get_u64(p + 24);
  if (t > sent && t - sent > st->max_owd_ns)
    st->max_owd_ns = t - sent;
  if (st->received == 0)
    st->first_ns = t;
  else if (t - st->last_ns > st->gap_ns) {
    st->gap_ns = t - st->last_ns;
    st->gap_start_ns = st->last_ns;
    st->gap_end_ns = t;
    st->gap_end_seq = seq;
  }
  st->last_ns = t;
  st->received++;
}

/* The longest run of sequence numbers below |highest| never received. */
static uint64_t longest_missing_run(const struct recv_stats *st) {
  uint64_t s, run = 0, best = 0;

  for (s = 0; s < st->highest; s++) {
    if (st->seen[s / 8] & (1u << (s % 8)))
      run = 0;
    else if (++run > best)
      best = run;
  }
  return best;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static void report(const struct recv_stats *st, int json) {
  uint64_t lost = st->highest - st->received, run = longest_missing_run(st);
  double run_ms = (double)run * ms(st->interval_ns);

  if (json) {
    printf("{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"longest_gap_ms\":%.1f,\"gap_start_ms\":%.1f"
           ",\"gap_end_ms\":%.1f,\"gap_end_seq\":%" PRIu64
           ",\"longest_missing_run\":%" PRIu64 ",\"missing_run_ms\":%.1f"
           ",\"interval_ms\":%.3f,\"max_delay_ms\":%.1f"
           ",\"first_ms\":%.1f,\"last_ms\":%.1f"
           ",\"foreign\":%" PRIu64 ",\"beyond\":%" PRIu64 "}\n",
           st->highest, st->received, lost, st->dups, st->reordered,
           ms(st->gap_ns), ms(st->gap_start_ns), ms(st->gap_end_ns),
           st->gap_end_seq, run, run_ms, ms(st->interval_ns),
           ms(st->max_owd_ns), ms(st->first_ns), ms(st->last_ns),
           st->foreign, st->beyond);
    return;
  }
  printf("sent            %" PRIu64 "\n", st->highest);
  printf("received        %" PRIu64 "\n", st->received);
  printf("lost            %" PRIu64 "\n", lost);
  printf("duplicates      %" PRIu64 "\n", st->dups);
  printf("reordered       %" PRIu64 "\n", st->reordered);
  printf("longest gap     %.1f ms (monotonic %.1f .. %.1f ms)\n",
         ms(st->gap_ns), ms(st->gap_start_ns), ms(st->gap_end_ns));
  printf("missing run     %" PRIu64 " packets = %.1f ms\n", run, run_ms);
  printf("max delay       %.1f ms\n", ms(st->max_owd_ns));
  if (st->foreign > 0 || st->beyond > 0)
    printf("ignored         %" PRIu64 " foreign, %" PRIu64 " beyond\n",
           st->foreign, st->beyond);
}

static int cmd_recv(int argc, char **argv) {
  const char *bind_to = NULL;
  long port = -1;
  uint64_t duration = 0, deadline;
  int json = 0, i, fd, rc = 1;
  struct sockaddr_storage ss;
  socklen_t slen;
  struct recv_stats st;
  uint8_t buf[PROBE_MAX_SIZE + 1];

  for (i = 0; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;

    if (strcmp(argv[i], "--json") == 0) {
      json = 1;
      continue;
    }
    if (v == NULL)
      goto bad_usage;
    if (strcmp(argv[i], "--bind") == 0)
      bind_to = v;
    else if (strcmp(argv[i], "--port") == 0) {
      if (tool_parse_long(v, 1, 65535, &port) != 0)
        goto bad_usage;
    } else if (strcmp(argv[i], "--duration") == 0) {
      if (tool_parse_seconds(v, PROBE_MAX_DURATION, &duration) != 0)
        goto bad_usage;
    } else
      goto bad_usage;
    i++;
  }
  if (port < 0 || duration == 0)
    goto bad_usage;
  /* The wildcard is IPv6 with V6ONLY off, so one socket takes both. */
  if (parse_addr(bind_to != NULL ? bind_to : "::", port, &ss, &slen) != 0) {
    fprintf(stderr, "probe: '%s' is not a numeric IPv4 or IPv6 address\n",
            bind_to);
    return 2;
  }
  memset(&st, 0, sizeof(st));
  st.seen = calloc(PROBE_MAX_SEQ / 8, 1);
  if (st.seen == NULL) {
    perror("probe: calloc");
    return 1;
  }
  fd = socket(ss.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("probe: socket");
    goto out_free;
  }
  if (ss.ss_family == AF_INET6 && bind_to == NULL) {
    int off = 0;

    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (bind(fd, (struct sockaddr *)&ss, slen) != 0) {
    perror("probe: bind");
    goto out_close;
  }
  deadline = tool_now_ns() + duration;
  while (!stop_flag) {
    uint64_t t = tool_now_ns();
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    long wait_ms;
    ssize_t n;

    if (t >= deadline)
      break;
    wait_ms = (long)((deadline - t) / 1000000u) + 1;
    if (wait_ms > INT_MAX)
      wait_ms = INT_MAX;
    if (poll(&pfd, 1, (int)wait_ms) <= 0)
      continue; /* timeout or EINTR: the loop head checks the deadline */
    /* Drain what is queued: arrival times stay accurate under bursts. */
    while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
      account(&st, buf, (size_t)n, tool_now_ns());
  }
  report(&st, json);
  rc = 0;
out_close:
  close(fd);
out_free:
  free(st.seen);
  return rc;

bad_usage:
  usage();
  return 2;
}

int main(int argc, char **argv) {
  struct sigaction sa;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "send") == 0)
    return cmd_send(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "recv") == 0)
    return cmd_recv(argc - 2, argv + 2);
  if (argc == 2 && strcmp(argv[1], "now") == 0) {
    /* For scripts: the time line the receiver reports on, in ms. */
    printf("%.1f\n", ms(tool_now_ns()));
    return 0;
  }
  usage();
  return 2;
}
