/*
 * src/sandbox: see sandbox.h. The lists were read off the code and then
 * measured: every daemon of the netns suites (e2e, failover, session, mtu,
 * session_bounds) ran under strace from the moment its filter was loaded;
 * what they called is below, plus what the code calls on rarer paths (the
 * resolver, a helper thread, the shutdown of a root daemon). The client's
 * calls to systemd-resolved were measured the same way under
 * tests/netns/resolved.sh (D38). How to find a missing call:
 * docs/decisions.md D32.
 */
#include "src/sandbox.h"

#include <config.h> /* autoconf's: JVPN_SANITIZERS */

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jvpn/errors.h"

#define SANDBOX_MAX_CALLS 128 /* distinct calls one filter may allow */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Both daemons, any arguments. */
static const int both_calls[] = {
    /* the loop and its handles: TUN, UDP, control socket, signal pipe;
     * poll() is the audit trail's look at stderr */
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(poll),
    SCMP_SYS(close),
    SCMP_SYS(recvmmsg),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(accept4),
    SCMP_SYS(setsockopt),
    /* HTTP/2 over TCP (quic/h2_conn): send() and recv() on its sockets,
     * TCP_INFO and a connect's SO_ERROR */
    SCMP_SYS(sendto),
    SCMP_SYS(recvfrom),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getpeername),
    SCMP_SYS(getsockname),
    /* files: the audit log, test hooks, a configuration read again; the
     * control socket is unlinked at exit */
    SCMP_SYS(openat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(fstat),
    SCMP_SYS(lseek),
    SCMP_SYS(unlink),
    /* memory */
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    /* threads (clone is below): an audit writer thread, say */
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(gettid),
    SCMP_SYS(getpid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(restart_syscall),
    /* signals (kill and tgkill are below) */
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    /* clocks (where the vDSO falls back to the kernel) and randomness */
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(getrandom),
};

/* The client also opens sockets at run time: a UDP socket for each new
 * path, a connected probe for the source address the kernel would pick,
 * rtnetlink for addresses, routes and the interface list, and the
 * resolver's (the server's name is looked up again when its answer is
 * old or all its addresses failed, in a libuv threadpool thread that the
 * first lookup starts, under this filter). */
static const int client_calls[] = {
    SCMP_SYS(bind),
    SCMP_SYS(connect),
    SCMP_SYS(sendmmsg), /* DNS: the A and AAAA queries at once */
    SCMP_SYS(uname),    /* the resolver's default domain */
    SCMP_SYS(pselect6), /* libnftables waits for the kernel's answer */
    SCMP_SYS(pwrite64), SCMP_SYS(ftruncate), /* /etc/resolv.conf */
    SCMP_SYS(ppoll), /* sd-bus waits for systemd-resolved's answers */
    /* the loop yields while a threadpool thread that has just woken it
     * finishes (libuv's uv_async_send handshake) */
    SCMP_SYS(sched_yield),
};

/* The server's own calls. The metrics endpoint (src/metrics_http.c):
 * libmicrohttpd ends each answered HTTP connection with shutdown(SHUT_WR)
 * before its close; the rest of a scrape (accept4, recvfrom, sendmsg,
 * setsockopt, epoll on its own descriptor) is in both_calls. Measured with
 * strace under tests/netns/metrics.sh. The session store
 * (src/store_lmdb.c, D41): each write transaction writes its dirty pages
 * (lseek and writev, or pwrite64 for one page), fdatasync, then pwrite64
 * of the meta page; measured under strace (tests/unit/test_store_lmdb,
 * tests/netns/persist.sh). The environment, its lock file and their fcntl
 * locks were opened before the filter; LMDB reads through its map. */
static const int server_calls[] = {
    SCMP_SYS(shutdown),
    SCMP_SYS(pwrite64),
    SCMP_SYS(fdatasync),
};

#ifdef JVPN_SANITIZERS
/* ASan and UBSan: their signal stacks and reports, and LeakSanitizer at
 * exit, which suspends the threads from a traced helper process. */
static const int sanitizer_calls[] = {
    SCMP_SYS(sigaltstack), SCMP_SYS(sched_getaffinity),
    SCMP_SYS(prctl),       SCMP_SYS(open),
    SCMP_SYS(readlink),    SCMP_SYS(getdents),
    SCMP_SYS(getdents64),  SCMP_SYS(pipe2),
    SCMP_SYS(clone),       SCMP_SYS(ptrace),
    SCMP_SYS(wait4),       SCMP_SYS(getppid),
    SCMP_SYS(sched_yield),
};
#endif

/* An int argument: the ABI leaves its register's upper half undefined. */
#define LOW32 UINT64_C(0xffffffff)
/* What makes a clone() a thread of this process. */
#define THREAD_FLAGS (CLONE_THREAD | CLONE_VM)

/* A call allowed only when (argument & mask) == value for each |cmp|. */
struct arg_rule {
  int nr;
  unsigned ncmp;
  struct scmp_arg_cmp cmp[2];
};

#define ARG(i, mask, value)                                                    \
  {                                                                            \
    .arg = (i), .op = SCMP_CMP_MASKED_EQ, .datum_a = (mask),                   \
    .datum_b = (value)                                                         \
  }

static const struct arg_rule both_args[] = {
    /* threads, never processes: no fork, so nothing to exec either */
    {SCMP_SYS(clone), 1, {ARG(0, THREAD_FLAGS, THREAD_FLAGS)}},
    /* a TCP connection's socket is made sure to be non-blocking */
    {SCMP_SYS(fcntl), 1, {ARG(1, LOW32, F_GETFL)}},
    {SCMP_SYS(fcntl), 1, {ARG(1, LOW32, F_SETFL)}},
    /* libuv makes each socket it watches non-blocking (the client's new
     * UDP sockets, the server's accepted TCP connections) */
    {SCMP_SYS(ioctl), 1, {ARG(1, LOW32, FIONBIO)}},
};

static const struct arg_rule client_args[] = {
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_INET)}},
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_INET6)}},
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_UNIX)}}, /* nscd, resolved */
    {SCMP_SYS(socket),
     2,
     {ARG(0, LOW32, AF_NETLINK), ARG(2, LOW32, NETLINK_ROUTE)}},
    /* nftables: the kill switch's table (src/killswitch.c) */
    {SCMP_SYS(socket),
     2,
     {ARG(0, LOW32, AF_NETLINK), ARG(2, LOW32, NETLINK_NETFILTER)}},
    /* is an uplink's interface up */
    {SCMP_SYS(ioctl), 1, {ARG(1, LOW32, SIOCGIFFLAGS)}},
    /* the resolver sizes a DNS answer before reading it */
    {SCMP_SYS(ioctl), 1, {ARG(1, LOW32, FIONREAD)}},
    /* libuv sizes its threadpool threads' stacks by RLIMIT_STACK: reading
     * this process's limits, never setting them */
    {SCMP_SYS(prlimit64), 2, {ARG(0, LOW32, 0), ARG(2, UINT64_MAX, 0)}},
};

/* A cluster node (D44): sockets to the shared store (Redis over TCP or a
 * unix socket; hiredis makes them non-blocking with fcntl, allowed
 * above) and rtnetlink for each session's host route. */
static const struct arg_rule node_args[] = {
    {SCMP_SYS(connect), 0, {{0}}},
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_INET)}},
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_INET6)}},
    {SCMP_SYS(socket), 1, {ARG(0, LOW32, AF_UNIX)}},
    {SCMP_SYS(socket),
     2,
     {ARG(0, LOW32, AF_NETLINK), ARG(2, LOW32, NETLINK_ROUTE)}},
};

/* A filter under construction and the distinct calls it allows. */
struct builder {
  scmp_filter_ctx ctx;
  int seen[SANDBOX_MAX_CALLS];
  unsigned nseen;
};

static void note(struct builder *b, int nr) {
  unsigned i;

  for (i = 0; i < b->nseen; i++)
    if (b->seen[i] == nr)
      return;
  if (b->nseen < SANDBOX_MAX_CALLS)
    b->seen[b->nseen++] = nr;
}

static int allow(struct builder *b, int nr, unsigned ncmp,
                 const struct scmp_arg_cmp *cmp) {
  int rc;

  /* A name this architecture lacks (poll on arm64): nothing to allow. */
  if (nr < 0)
    return 0;
  rc = seccomp_rule_add_array(b->ctx, SCMP_ACT_ALLOW, nr, ncmp, cmp);
  if (rc == 0)
    note(b, nr);
  return rc;
}

static int allow_calls(struct builder *b, const int *nr, size_t n) {
  size_t i;
  int rc = 0;

  for (i = 0; i < n && rc == 0; i++)
    rc = allow(b, nr[i], 0, NULL);
  return rc;
}

static int allow_args(struct builder *b, const struct arg_rule *r, size_t n) {
  size_t i;
  int rc = 0;

  for (i = 0; i < n && rc == 0; i++)
    rc = allow(b, r[i].nr, r[i].ncmp, r[i].cmp);
  return rc;
}

/* Signals only to this process: abort() and raise() go through tgkill. */
static int allow_self_signals(struct builder *b) {
  const struct scmp_arg_cmp self = ARG(0, LOW32, (uint64_t)getpid());
  int rc = allow(b, SCMP_SYS(tgkill), 1, &self);

  return rc != 0 ? rc : allow(b, SCMP_SYS(kill), 1, &self);
}

static int add_rules(struct builder *b, enum sandbox_role role) {
  int rc;

  rc = allow_calls(b, both_calls, NELEM(both_calls));
  if (rc == 0)
    rc = allow_args(b, both_args, NELEM(both_args));
  if (rc == 0)
    rc = allow_self_signals(b);
  if (rc == 0 && role != SANDBOX_CLIENT)
    rc = allow_calls(b, server_calls, NELEM(server_calls));
  if (rc == 0 && role == SANDBOX_SERVER_NODE)
    rc = allow_args(b, node_args, NELEM(node_args));
  if (rc == 0 && role == SANDBOX_CLIENT)
    rc = allow_calls(b, client_calls, NELEM(client_calls));
  if (rc == 0 && role == SANDBOX_CLIENT)
    rc = allow_args(b, client_args, NELEM(client_args));
#ifdef JVPN_SANITIZERS
  if (rc == 0)
    rc = allow_calls(b, sanitizer_calls, NELEM(sanitizer_calls));
#endif
  /* glibc's pthread_create() tries clone3 first; its flags sit in memory
   * a filter cannot read, so it is told the call does not exist and falls
   * back to clone, whose flags are checked above. */
  if (rc == 0)
    rc = seccomp_rule_add(b->ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  return rc;
}

/* The attributes: every thread, other ABIs as the default, and a binary
 * search over the calls instead of a linear chain. */
static int set_attrs(scmp_filter_ctx ctx, uint32_t act) {
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, act);

  if (rc == 0)
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc == 0)
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
  if (rc == 0)
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  return rc;
}

int sandbox_apply(enum sandbox_role role, enum sandbox_action action,
                  unsigned *nsyscalls, char *why, size_t whylen) {
  uint32_t act = action == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
  struct builder b = {.nseen = 0};
  const char *step;
  int rc;

  b.ctx = seccomp_init(act);
  if (b.ctx == NULL) {
    snprintf(why, whylen, "seccomp_init failed");
    return JVPN_ERR_SYSTEM;
  }
  step = "setting the filter's attributes";
  rc = set_attrs(b.ctx, act);
  if (rc == 0) {
    step = "adding a rule";
    rc = add_rules(&b, role);
  }
  if (rc == 0) {
    step = "loading the filter";
    rc = seccomp_load(b.ctx);
  }
  seccomp_release(b.ctx);
  if (rc != 0) {
    snprintf(why, whylen, "%s: %s", step, strerror(-rc));
    return JVPN_ERR_SYSTEM;
  }
  *nsyscalls = b.nseen;
  return 0;
}
