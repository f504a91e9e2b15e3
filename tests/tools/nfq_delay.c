/* tests/tools/nfq_delay: a delay and loss injector for the netns lab.
 *
 *   nfq_delay --queue N --delay MS [--jitter MS] [--loss PCT] [--seed S]
 *             [--duration S] [--max-queue PKTS]
 *
 * This kernel has no netem, so delay is made in userspace: an iptables
 * NFQUEUE rule hands each forwarded packet to queue N, and this program
 * holds its verdict for MS milliseconds (plus a uniform jitter in
 * [-J, +J]) before it accepts it. With --loss, each packet is dropped with
 * that probability instead, drawn from a seeded PRNG so a run can be
 * repeated. Only packet metadata is copied (NFQNL_COPY_META): the packet
 * stays in the kernel and the verdict names it by its id.
 *
 * Without jitter every packet is held for the same time, so release order
 * is arrival order: the held packets form a FIFO ring and a due run is
 * released with one batch verdict. With jitter they sit in a min-heap
 * keyed by (due time, arrival), which reorders packets exactly as far as
 * their drawn delays differ and no further.
 *
 * Memory is bounded: at most --max-queue packets (default 10000) are held;
 * beyond that a packet is accepted at once and counted as overflow. The
 * kernel queue is sized above that and set to fail open, so a full queue
 * or a dead injector lets traffic through rather than stalling the lab
 * (the iptables rule should use --queue-bypass for the same reason).
 *
 * On SIGINT/SIGTERM or after --duration the held packets are accepted at
 * once and the counters are printed on stdout as one line:
 *   nfq_delay: packets=N delayed=N dropped=N overflow=N overruns=N ...
 * and the exit status is 0.
 *
 * Needs CAP_NET_ADMIN in the namespace whose queue it binds. Built by the
 * tree as tests/tools/nfq_delay; by hand:
 *   gcc -std=gnu11 -O2 -D_GNU_SOURCE tests/tools/nfq_delay.c \
 *     -lnetfilter_queue -o /tmp/nfq_delay
 * (tests/lab/lab.sh looks there last; NFQ_DELAY_BIN overrides). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define NFQD_MAX_DELAY_MS 60000.0    /* ms */
#define NFQD_MAX_DURATION 86400.0    /* s */
#define NFQD_DEFAULT_MAX_QUEUE 10000 /* packets held */
#define NFQD_MAX_MAX_QUEUE 1000000   /* packets held */
/* Room in the kernel queue above what we hold, for packets already queued
 * but not yet read by us; beyond it the kernel fails open. */
#define NFQD_KERNEL_HEADROOM 4096 /* packets */
#define NFQD_RCVBUF (8 << 20)     /* bytes of netlink receive buffer */
/* Messages read before due packets are released again, so a flood cannot
 * delay releases by more than this many reads. */
#define NFQD_READ_BURST 256
#define NFQD_MSG_MAX 4096 /* bytes: a metadata-only message is ~200 */

struct held {
  uint64_t due; /* ns, CLOCK_MONOTONIC */
  uint64_t seq; /* arrival order, breaks ties in the heap */
  uint32_t id;  /* kernel packet id */
};

struct nfqd {
  /* options */
  uint16_t queue;
  uint64_t delay_ns;
  uint64_t jitter_us;
  double loss_pct;
  uint64_t loss_thresh; /* drop when a 64-bit draw is below this */
  uint64_t seed;
  uint64_t duration_ns; /* 0: run until signalled */
  uint32_t max_queue;

  uint64_t rng;
  uint64_t now; /* ns, time of the message being handled */
  struct nfq_q_handle *qh;

  /* held packets: a ring (head, count) without jitter, else a heap */
  struct held *held;
  uint32_t head;
  uint32_t count;
  uint64_t next_seq;

  /* counters */
  uint64_t packets;  /* seen */
  uint64_t delayed;  /* held, then accepted */
  uint64_t dropped;  /* lost on purpose */
  uint64_t overflow; /* accepted at once: too many held */
  uint64_t overruns; /* receive buffer overflowed (ENOBUFS) */
  /* verdicts not sent, or refused: the kernel answers a bad verdict with
   * an error message that nfq_handle_packet reports */
  uint64_t verdict_errors;
  uint32_t max_held;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64 turns any seed, 0 included, into a well-mixed nonzero state
 * for xorshift64*, which then gives the draws. */
static void rng_seed(struct nfqd *d, uint64_t seed) {
  uint64_t z = seed + 0x9e3779b97f4a7c15u;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  d->rng = z ? z : 0x2545f4914f6cdd1du;
}

static uint64_t rng_next(struct nfqd *d) {
  d->rng ^= d->rng >> 12;
  d->rng ^= d->rng << 25;
  d->rng ^= d->rng >> 27;
  return d->rng * 0x2545f4914f6cdd1du;
}

static void verdict(struct nfqd *d, uint32_t id, uint32_t v) {
  if (nfq_set_verdict(d->qh, id, v, 0, NULL) < 0)
    d->verdict_errors++;
}

static bool held_before(const struct held *a, const struct held *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct nfqd *d, struct held h) {
  uint32_t i = d->count++;

  while (i > 0) {
    uint32_t parent = (i - 1) / 2;

    if (!held_before(&h, &d->held[parent]))
      break;
    d->held[i] = d->held[parent];
    i = parent;
  }
  d->held[i] = h;
}

static struct held heap_pop(struct nfqd *d) {
  struct held top = d->held[0];
  struct held last = d->held[--d->count];
  uint32_t i = 0;

  for (;;) {
    uint32_t c = 2 * i + 1;

    if (c >= d->count)
      break;
    if (c + 1 < d->count && held_before(&d->held[c + 1], &d->held[c]))
      c++;
    if (!held_before(&d->held[c], &last))
      break;
    d->held[i] = d->held[c];
    i = c;
  }
  if (d->count > 0)
    d->held[i] = last;
  return top;
}

static bool fifo_mode(const struct nfqd *d) {
  return d->jitter_us == 0;
}

/* The oldest held packet: the ring's head or the heap's top. */
static const struct held *held_first(const struct nfqd *d) {
  if (d->count == 0)
    return NULL;
  return fifo_mode(d) ? &d->held[d->head] : &d->held[0];
}

/* Accepts every held packet due at or before 'until'. */
static void release(struct nfqd *d, uint64_t until) {
  const struct held *h;

  if (fifo_mode(d)) {
    uint32_t last = 0;
    bool any = false;

    while ((h = held_first(d)) != NULL && h->due <= until) {
      last = h->id;
      any = true;
      d->head = (d->head + 1) % d->max_queue;
      d->count--;
      d->delayed++;
    }
    /* The kernel queue lists packets in id order, and every packet before
     * 'last' that we did not hold already has its verdict, so one batch
     * verdict releases exactly the due run. */
    if (any && nfq_set_verdict_batch(d->qh, last, NF_ACCEPT) < 0)
      d->verdict_errors++;
    return;
  }
  while ((h = held_first(d)) != NULL && h->due <= until) {
    struct held x = heap_pop(d);

    verdict(d, x.id, NF_ACCEPT);
    d->delayed++;
  }
}

static uint64_t draw_delay(struct nfqd *d) {
  uint64_t span, r;
  int64_t off_ns, delay;

  if (d->jitter_us == 0)
    return d->delay_ns;
  span = 2 * d->jitter_us + 1;
  r = rng_next(d) % span;
  off_ns = ((int64_t)r - (int64_t)d->jitter_us) * 1000;
  delay = (int64_t)d->delay_ns + off_ns;
  return delay < 0 ? 0 : (uint64_t)delay;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
                     struct nfq_data *nfad, void *arg) {
  struct nfqd *d = arg;
  struct nfqnl_msg_packet_hdr *ph;
  struct held h;
  uint32_t id;

  (void)qh;
  (void)msg;
  ph = nfq_get_msg_packet_hdr(nfad);
  if (ph == NULL)
    return 0;
  id = ntohl(ph->packet_id);
  d->packets++;
  if (d->loss_thresh != 0 &&
      (d->loss_pct >= 100.0 || rng_next(d) < d->loss_thresh)) {
    verdict(d, id, NF_DROP);
    d->dropped++;
    return 0;
  }
  if (d->count >= d->max_queue) {
    verdict(d, id, NF_ACCEPT);
    d->overflow++;
    return 0;
  }
  h.due = d->now + draw_delay(d);
  h.seq = d->next_seq++;
  h.id = id;
  if (fifo_mode(d)) {
    d->held[(d->head + d->count) % d->max_queue] = h;
    d->count++;
  } else {
    heap_push(d, h);
  }
  if (d->count > d->max_held)
    d->max_held = d->count;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: nfq_delay --queue N --delay MS [--jitter MS] [--loss PCT]\n"
          "                 [--seed S] [--duration S] [--max-queue PKTS]\n"
          "Holds each packet of NFQUEUE N for MS ms (+- uniform jitter),\n"
          "drops PCT %% of them, and prints counters on exit.\n");
}

/* Parses a number in [lo, hi]; false on anything else (NaN included, as
 * it fails v == v; infinities fail the range). No libm needed. */
static bool parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v != v || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;

  if (*s == '-')
    return false;
  errno = 0;
  v = strtoull(s, &end, 0);
  if (errno != 0 || end == s || *end != '\0')
    return false;
  *out = v;
  return true;
}

static int parse_args(struct nfqd *d, int argc, char **argv) {
  static const struct option opts[] = {
      {"queue", required_argument, NULL, 'q'},
      {"delay", required_argument, NULL, 'd'},
      {"jitter", required_argument, NULL, 'j'},
      {"loss", required_argument, NULL, 'l'},
      {"seed", required_argument, NULL, 's'},
      {"duration", required_argument, NULL, 't'},
      {"max-queue", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool have_queue = false, have_delay = false;
  double v;
  int c;

  d->max_queue = NFQD_DEFAULT_MAX_QUEUE;
  d->seed = 1;
  while ((c = getopt_long(argc, argv, "q:d:j:l:s:t:m:h", opts, NULL)) != -1) {
    switch (c) {
    case 'q':
      if (!parse_num(optarg, 0, 65535, &v) || v != (double)(uint32_t)v)
        goto bad;
      d->queue = (uint16_t)v;
      have_queue = true;
      break;
    case 'd':
      if (!parse_num(optarg, 0, NFQD_MAX_DELAY_MS, &v))
        goto bad;
      d->delay_ns = (uint64_t)(v * 1e6 + 0.5);
      have_delay = true;
      break;
    case 'j':
      if (!parse_num(optarg, 0, NFQD_MAX_DELAY_MS, &v))
        goto bad;
      d->jitter_us = (uint64_t)(v * 1e3 + 0.5);
      break;
    case 'l':
      if (!parse_num(optarg, 0, 100, &v))
        goto bad;
      d->loss_pct = v;
      break;
    case 's':
      if (!parse_u64(optarg, &d->seed))
        goto bad;
      break;
    case 't':
      if (!parse_num(optarg, 0, NFQD_MAX_DURATION, &v))
        goto bad;
      d->duration_ns = (uint64_t)(v * 1e9 + 0.5);
      break;
    case 'm':
      if (!parse_num(optarg, 1, NFQD_MAX_MAX_QUEUE, &v) ||
          v != (double)(uint32_t)v)
        goto bad;
      d->max_queue = (uint32_t)v;
      break;
    case 'h': usage(); exit(0);
    default: usage(); return -1;
    }
  }
  if (optind != argc || !have_queue || !have_delay) {
    usage();
    return -1;
  }
  /* 2^64 * pct / 100; 100 % is handled apart since it does not fit. */
  if (d->loss_pct > 0) {
    double t = d->loss_pct / 100.0 * 18446744073709551616.0;

    d->loss_thresh = t >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)t;
  }
  return 0;
bad:
  fprintf(stderr, "nfq_delay: bad value '%s' for --%s\n", optarg,
          c == 'q'   ? "queue"
          : c == 'd' ? "delay"
          : c == 'j' ? "jitter"
          : c == 'l' ? "loss"
          : c == 's' ? "seed"
          : c == 't' ? "duration"
                     : "max-queue");
  return -1;
}

/* A larger receive buffer absorbs bursts while we sleep to a deadline.
 * SO_RCVBUFFORCE passes rmem_max (we run as root); SO_RCVBUF is the
 * fallback. */
static void grow_rcvbuf(int fd) {
  int size = NFQD_RCVBUF;

  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static void print_counters(const struct nfqd *d) {
  printf("nfq_delay: queue=%u packets=%" PRIu64 " delayed=%" PRIu64
         " dropped=%" PRIu64 " overflow=%" PRIu64 " overruns=%" PRIu64
         " verdict_errors=%" PRIu64 " max_held=%" PRIu32 "\n",
         d->queue, d->packets, d->delayed, d->dropped, d->overflow, d->overruns,
         d->verdict_errors, d->max_held);
  fflush(stdout);
}

/* Reads up to NFQD_READ_BURST messages without blocking. Returns -1 on a
 * fatal socket error. */
static int drain(struct nfqd *d, struct nfq_handle *h, int fd, char *buf) {
  int i;

  for (i = 0; i < NFQD_READ_BURST; i++) {
    ssize_t n = recv(fd, buf, NFQD_MSG_MAX, MSG_DONTWAIT);

    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      if (errno == EINTR)
        continue;
      if (errno == ENOBUFS) {
        /* Messages were lost; the kernel failed open for them. */
        d->overruns++;
        continue;
      }
      perror("nfq_delay: recv");
      return -1;
    }
    d->now = now_ns();
    if (nfq_handle_packet(h, buf, (int)n) < 0)
      d->verdict_errors++;
  }
  return 0;
}

static int run(struct nfqd *d, struct nfq_handle *h, const sigset_t *waitmask) {
  static char buf[NFQD_MSG_MAX] __attribute__((aligned(8)));
  struct pollfd pfd;
  uint64_t end = 0;

  pfd.fd = nfq_fd(h);
  pfd.events = POLLIN;
  if (d->duration_ns != 0)
    end = now_ns() + d->duration_ns;
  while (!stop_flag) {
    const struct held *first;
    struct timespec ts, *tsp = NULL;
    uint64_t now = now_ns(), wake = UINT64_MAX;
    int r;

    if (end != 0 && now >= end)
      break;
    release(d, now);
    first = held_first(d);
    if (first != NULL)
      wake = first->due;
    if (end != 0 && end < wake)
      wake = end;
    if (wake != UINT64_MAX) {
      uint64_t left = wake > now ? wake - now : 0;

      ts.tv_sec = (time_t)(left / 1000000000u);
      ts.tv_nsec = (long)(left % 1000000000u);
      tsp = &ts;
    }
    /* ppoll's nanosecond timeout (with timer slack at 1 ns) keeps releases
     * within tens of microseconds of their due time; the signal mask
     * opens only here, so a signal can never be missed between the check
     * of stop_flag and the sleep. */
    r = ppoll(&pfd, 1, tsp, waitmask);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      perror("nfq_delay: ppoll");
      return -1;
    }
    if (r > 0 && (pfd.revents & POLLIN) && drain(d, h, pfd.fd, buf) < 0)
      return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static struct nfqd d;
  struct nfq_handle *h;
  struct sigaction sa;
  sigset_t block, waitmask;
  int rc = 1;

  if (parse_args(&d, argc, argv) < 0)
    return 2;
  rng_seed(&d, d.seed);
  d.held = calloc(d.max_queue, sizeof(*d.held));
  if (d.held == NULL) {
    fprintf(stderr, "nfq_delay: out of memory\n");
    return 1;
  }

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGINT);
  sigdelset(&waitmask, SIGTERM);
  /* The default 50 us slack would be added to every release. */
  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  h = nfq_open();
  if (h == NULL) {
    perror("nfq_delay: nfq_open");
    goto out_free;
  }
  d.qh = nfq_create_queue(h, d.queue, on_packet, &d);
  if (d.qh == NULL) {
    fprintf(stderr, "nfq_delay: cannot bind queue %u: %s\n", d.queue,
            strerror(errno));
    goto out_close;
  }
  if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0) {
    perror("nfq_delay: nfq_set_mode");
    goto out_destroy;
  }
  if (nfq_set_queue_maxlen(d.qh, d.max_queue + NFQD_KERNEL_HEADROOM) < 0)
    perror("nfq_delay: nfq_set_queue_maxlen (continuing)");
  /* Fail open: when the kernel queue or our socket is full the packet
   * passes undelayed instead of being dropped, so overload shows up in
   * the counters rather than as loss nobody asked for. GSO packets are
   * still segmented by the kernel (no NFQA_CFG_F_GSO), so delay and loss
   * apply per segment, as on a real link. */
  if (nfq_set_queue_flags(d.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN) < 0)
    perror("nfq_delay: fail-open (continuing)");
  grow_rcvbuf(nfq_fd(h));
  fprintf(stderr,
          "nfq_delay: queue %u bound, delay %.3f ms, jitter %.3f ms, "
          "loss %.3f %%, seed %" PRIu64 ", max queue %" PRIu32 "\n",
          d.queue, (double)d.delay_ns / 1e6, (double)d.jitter_us / 1e3,
          d.loss_pct, d.seed, d.max_queue);

  if (run(&d, h, &waitmask) == 0)
    rc = 0;
  /* Accept what is still held rather than let the queue's teardown drop
   * it: stopping the injector must not look like loss. */
  release(&d, UINT64_MAX);
  print_counters(&d);
out_destroy:
  nfq_destroy_queue(d.qh);
out_close:
  nfq_close(h);
out_free:
  free(d.held);
  return rc;
}
