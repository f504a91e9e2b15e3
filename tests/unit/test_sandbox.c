/*
 * tests/unit/test_sandbox: the seccomp allow-list lets the daemons' run
 * time through and kills anything else. A filter cannot be lifted, so
 * each case loads it in a child process and the parent reads the child's
 * fate: its exit status (which check failed) or SIGSYS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <config.h> /* autoconf's: JVPN_SANITIZERS */

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "src/sandbox.h"

/* Exit codes of a child. */
enum child_result {
  CHILD_OK = 0,
  CHILD_APPLY_FAILED,
  CHILD_CALL_FAILED, /* an allowed call did not work */
  CHILD_SURVIVED,    /* a forbidden call returned */
};

typedef int (*probe_fn)(void);

static pid_t test_pid; /* this process, a child's parent */

/* Runs |setup| (if any: what a daemon does before its filter), then
 * |probe| under |role|'s filter, in a child; returns its wait status. */
static int run_child_after(enum sandbox_role role, enum sandbox_action action,
                           probe_fn setup, probe_fn probe) {
  int status = -1;
  pid_t pid;

  test_pid = getpid();
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char why[160];
    unsigned n;

    /* The child dies of its own signals, not cmocka's handlers. */
    signal(SIGSEGV, SIG_DFL);
    if (setup != NULL && setup() != CHILD_OK)
      _exit(CHILD_CALL_FAILED);
    if (sandbox_apply(role, action, &n, why, sizeof(why)) != 0)
      _exit(CHILD_APPLY_FAILED);
    _exit(probe());
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static int run_child(enum sandbox_role role, enum sandbox_action action,
                     probe_fn probe) {
  return run_child_after(role, action, NULL, probe);
}

static void assert_exit(int status, int code) {
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), code);
}

static void assert_killed(int status) {
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* --- allowed: what the daemons do after start-up ---------------------------
 */

/* Files, clocks and randomness: the audit log, a configuration read
 * again, the QUIC stack's timers and keys. */
static int probe_files(void) {
  char buf[16];
  struct timespec ts;
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  int ok = fd >= 0 && write(fd, "x", 1) == 1 && read(fd, buf, 1) == 0 &&
           syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0 &&
           getrandom(buf, sizeof(buf), 0) == (ssize_t)sizeof(buf);

  if (fd >= 0)
    close(fd);
  return ok ? CHILD_OK : CHILD_CALL_FAILED;
}

static void *thread_main(void *arg) {
  return arg;
}

/* An audit writer thread: glibc tries clone3, is told ENOSYS, uses clone. */
static int probe_thread(void) {
  pthread_t t;
  void *ret = NULL;
  int v = 7;

  if (pthread_create(&t, NULL, thread_main, &v) != 0 ||
      pthread_join(t, &ret) != 0 || ret != &v)
    return CHILD_CALL_FAILED;
  return CHILD_OK;
}

/* A new UDP path: socket, bind, connect, send, close. */
static int probe_udp(void) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  int ok;

  if (fd < 0)
    return CHILD_CALL_FAILED;
  ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
       getsockname(fd, (struct sockaddr *)&a, &len) == 0 &&
       connect(fd, (struct sockaddr *)&a, len) == 0 && send(fd, "x", 1, 0) == 1;
  close(fd);
  return ok ? CHILD_OK : CHILD_CALL_FAILED;
}

/* The resolver and the interface list, as glibc does them. */
static int probe_resolver(void) {
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  struct ifaddrs *ifa = NULL;

  if (getaddrinfo("localhost", "443", &hints, &res) != 0)
    return CHILD_CALL_FAILED;
  freeaddrinfo(res);
  if (getifaddrs(&ifa) != 0)
    return CHILD_CALL_FAILED;
  freeifaddrs(ifa);
  return CHILD_OK;
}

/* A DNS server on loopback, in a thread of the test process, that
 * answers every query with NXDOMAIN: the query sent back with the QR bit
 * and RCODE 3. */
/* Runs in a process of its own, not a thread: a child forked while
 * another thread holds an allocator lock (ASan's) would deadlock. Ends
 * when killed, or after 30 s at the latest. */
static void dns_stub_serve(int fd) {
  uint8_t buf[512];
  time_t until = time(NULL) + 30;

  while (time(NULL) < until) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct sockaddr_storage from;
    socklen_t flen = sizeof(from);
    ssize_t n;

    if (poll(&p, 1, 50) <= 0)
      continue;
    n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
    if (n < 12) /* shorter than a DNS header */
      continue;
    buf[2] |= 0x80;
    buf[3] = 0x83; /* recursion available, NXDOMAIN */
    (void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
  }
}

static pid_t dns_stub_start(int fd) {
  pid_t pid = fork();

  if (pid == 0) {
    dns_stub_serve(fd);
    _exit(0);
  }
  return pid;
}

static struct sockaddr_in dns_stub_addr;

/* Points this thread's resolver (glibc keeps one per thread) at the
 * stub: one server, one try of one second. */
static int use_dns_stub(void) {
  if (res_init() != 0)
    return -1;
  _res.nscount = 1;
  _res.nsaddr_list[0] = dns_stub_addr;
  _res.retrans = 1;
  _res.retry = 1;
  _res.options |= RES_NORELOAD;
  return 0;
}

static int probe_dns(void) {
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  int rv = getaddrinfo("jvpn-sandbox-test.invalid", "443", &hints, &res);

  if (rv == 0)
    freeaddrinfo(res);
  return rv == EAI_NONAME ? CHILD_OK : CHILD_CALL_FAILED;
}

/* The client's lookups run in libuv's threadpool (uv_getaddrinfo), whose
 * threads start at the first lookup, after the filter is on; the loop is
 * made before it, as in the daemon. */
static uv_loop_t uv_probe_loop;
static int uv_probe_result;

static int uv_setup(void) {
  return uv_loop_init(&uv_probe_loop) == 0 ? CHILD_OK : CHILD_CALL_FAILED;
}

static void on_uv_answer(uv_getaddrinfo_t *req, int status,
                         struct addrinfo *res) {
  (void)req;
  uv_probe_result = status == 0 && res != NULL ? CHILD_OK : CHILD_CALL_FAILED;
  uv_freeaddrinfo(res);
}

static int probe_uv_lookup(void) {
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
  uv_getaddrinfo_t req;

  uv_probe_result = CHILD_CALL_FAILED;
  if (uv_getaddrinfo(&uv_probe_loop, &req, on_uv_answer, "localhost", "443",
                     &hints) != 0)
    return CHILD_CALL_FAILED;
  uv_run(&uv_probe_loop, UV_RUN_DEFAULT);
  return uv_probe_result;
}

/* A DNS lookup in a threadpool thread (with that thread's resolver on
 * the stub: uv_getaddrinfo() would use the system's). */
static void uv_dns_work(uv_work_t *w) {
  (void)w;
  uv_probe_result = use_dns_stub() == 0 ? probe_dns() : CHILD_CALL_FAILED;
}

static void uv_dns_done(uv_work_t *w, int status) {
  (void)w;
  if (status != 0)
    uv_probe_result = CHILD_CALL_FAILED;
}

static int probe_uv_dns(void) {
  uv_work_t w;

  uv_probe_result = CHILD_CALL_FAILED;
  if (uv_queue_work(&uv_probe_loop, &w, uv_dns_work, uv_dns_done) != 0)
    return CHILD_CALL_FAILED;
  uv_run(&uv_probe_loop, UV_RUN_DEFAULT);
  return uv_probe_result;
}

/* What a cluster node does after start-up (D44): a TCP socket to its
 * store and an rtnetlink socket for a session's route. */
static int probe_node_sockets(void) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int n = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  /* port 1: refused, but the call itself is what is tried */
  int ok = t >= 0 && n >= 0 &&
           (a.sin_port = htons(1),
            connect(t, (struct sockaddr *)&a, sizeof(a)) == 0 ||
                errno == ECONNREFUSED);

  if (t >= 0)
    close(t);
  if (n >= 0)
    close(n);
  return ok ? CHILD_OK : CHILD_CALL_FAILED;
}

static void test_node_opens_sockets(void **state) {
  (void)state;
  assert_exit(run_child(SANDBOX_SERVER_NODE, SANDBOX_KILL, probe_node_sockets),
              CHILD_OK);
  assert_exit(run_child(SANDBOX_SERVER_NODE, SANDBOX_KILL, probe_files),
              CHILD_OK);
  /* a server of one node makes no sockets after start-up */
  assert_killed(run_child(SANDBOX_SERVER, SANDBOX_KILL, probe_node_sockets));
}

static void test_both_roles_run(void **state) {
  (void)state;
  assert_exit(run_child(SANDBOX_SERVER, SANDBOX_KILL, probe_files), CHILD_OK);
  assert_exit(run_child(SANDBOX_SERVER, SANDBOX_KILL, probe_thread), CHILD_OK);
  assert_exit(run_child(SANDBOX_CLIENT, SANDBOX_KILL, probe_thread), CHILD_OK);
}

static void test_client_opens_sockets(void **state) {
  (void)state;
  assert_exit(run_child(SANDBOX_CLIENT, SANDBOX_KILL, probe_udp), CHILD_OK);
  assert_exit(run_child(SANDBOX_CLIENT, SANDBOX_KILL, probe_resolver),
              CHILD_OK);
  assert_exit(
      run_child_after(SANDBOX_CLIENT, SANDBOX_KILL, uv_setup, probe_uv_lookup),
      CHILD_OK);
}

/* A server name looked up in the DNS on a reconnect, by the loop's thread
 * and by a threadpool thread started under the filter. */
static void test_client_resolves_by_dns(void **state) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  pid_t stub;
  int status;

  (void)state;
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  /* The child inherits this thread's resolver state: the stub is its only
   * server. */
  dns_stub_addr = a;
  assert_int_equal(use_dns_stub(), 0);
  stub = dns_stub_start(fd);
  assert_true(stub > 0);
  assert_exit(run_child(SANDBOX_CLIENT, SANDBOX_KILL, probe_dns), CHILD_OK);
  assert_exit(
      run_child_after(SANDBOX_CLIENT, SANDBOX_KILL, uv_setup, probe_uv_dns),
      CHILD_OK);
  assert_int_equal(kill(stub, SIGTERM), 0);
  assert_int_equal(waitpid(stub, &status, 0), stub);
  close(fd);
}

/* --- forbidden: each kills the whole process --------------------------------
 */

static int probe_mount(void) {
  (void)mount("none", "/nonexistent-jvpn", "tmpfs", 0, NULL);
  return CHILD_SURVIVED;
}

static int probe_packet_socket(void) {
  int fd = socket(AF_PACKET, SOCK_RAW, 0);

  if (fd >= 0)
    close(fd);
  return CHILD_SURVIVED;
}

static int probe_netlink_audit(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);

  if (fd >= 0)
    close(fd);
  return CHILD_SURVIVED;
}

#ifndef JVPN_SANITIZERS /* LeakSanitizer forks and traces at exit */
static int probe_ptrace(void) {
  (void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
  return CHILD_SURVIVED;
}

static int probe_fork(void) {
  pid_t pid = fork();

  if (pid == 0)
    _exit(0);
  return CHILD_SURVIVED;
}
#endif

static int probe_execve(void) {
  char *const argv[] = {"true", NULL};

  (void)execve("/bin/true", argv, NULL);
  return CHILD_SURVIVED;
}

/* A signal to another process (the test, signal 0 only). */
static int probe_kill_other(void) {
  (void)kill(test_pid, 0);
  return CHILD_SURVIVED;
}

/* Harmless, but on no list. */
static int probe_getpgid(void) {
  return getpgid(0) > 0 ? CHILD_SURVIVED : CHILD_CALL_FAILED;
}

#if defined(__x86_64__)
/* getpid through the i386 and x32 ABIs: a filter for x86-64 must not let
 * another ABI's numbers through. */
static int probe_i386_abi(void) {
  long ret = 20; /* __NR_getpid on i386 */

  __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
  return CHILD_SURVIVED;
}

static int probe_x32_abi(void) {
  (void)syscall(SYS_getpid | 0x40000000L); /* __X32_SYSCALL_BIT */
  return CHILD_SURVIVED;
}
#endif

static void test_forbidden_calls_kill(void **state) {
  static const probe_fn both[] = {
    probe_mount,
    probe_packet_socket,
    probe_netlink_audit,
    probe_execve,
    probe_kill_other,
    probe_getpgid,
#ifndef JVPN_SANITIZERS
    probe_ptrace,
    probe_fork,
#endif
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
    assert_killed(run_child(SANDBOX_SERVER, SANDBOX_KILL, both[i]));
    assert_killed(run_child(SANDBOX_CLIENT, SANDBOX_KILL, both[i]));
  }
}

#if defined(__x86_64__)
/* A call through another ABI dies of the filter (SIGSYS), or, on a
 * kernel built or booted without that ABI (ia32_emulation=0), of the
 * fault the instruction raises (SIGSEGV): either way it never runs. */
static void assert_abi_blocked(int status) {
  assert_true(WIFSIGNALED(status));
  if (WTERMSIG(status) != SIGSYS)
    assert_int_equal(WTERMSIG(status), SIGSEGV);
}

static void test_other_abis_blocked(void **state) {
  static const probe_fn abi[] = {probe_i386_abi, probe_x32_abi};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(abi) / sizeof(abi[0]); i++) {
    assert_abi_blocked(run_child(SANDBOX_SERVER, SANDBOX_KILL, abi[i]));
    assert_abi_blocked(run_child(SANDBOX_CLIENT, SANDBOX_KILL, abi[i]));
  }
}
#endif

/* The server has no reason to open sockets after start-up. */
static void test_server_opens_no_socket(void **state) {
  (void)state;
  assert_killed(run_child(SANDBOX_SERVER, SANDBOX_KILL, probe_udp));
}

/* --- log mode: the same calls go through ------------------------------------
 */

static void test_log_mode_lets_through(void **state) {
  (void)state;
  assert_exit(run_child(SANDBOX_SERVER, SANDBOX_LOG, probe_getpgid),
              CHILD_SURVIVED);
  assert_exit(run_child(SANDBOX_CLIENT, SANDBOX_LOG, probe_packet_socket),
              CHILD_SURVIVED);
  assert_exit(run_child(SANDBOX_SERVER, SANDBOX_LOG, probe_udp), CHILD_OK);
}

/* The count the daemons log: the client's list holds the server's. */
static void test_counts(void **state) {
  unsigned n[2] = {0, 0};
  int fd[2];
  pid_t pid;
  int status, i;

  (void)state;
  assert_int_equal(pipe(fd), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char why[160];

    /* LOG: the second load stacks on the first without killing. */
    for (i = 0; i < 2; i++)
      if (sandbox_apply(i ? SANDBOX_CLIENT : SANDBOX_SERVER, SANDBOX_LOG, &n[i],
                        why, sizeof(why)) != 0)
        _exit(CHILD_APPLY_FAILED);
    _exit(write(fd[1], n, sizeof(n)) == sizeof(n) ? CHILD_OK
                                                  : CHILD_CALL_FAILED);
  }
  close(fd[1]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_exit(status, CHILD_OK);
  assert_int_equal(read(fd[0], n, sizeof(n)), sizeof(n));
  close(fd[0]);
  assert_true(n[0] >= 40 && n[0] < n[1] && n[1] < 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_both_roles_run),
      cmocka_unit_test(test_node_opens_sockets),
      cmocka_unit_test(test_client_opens_sockets),
      cmocka_unit_test(test_client_resolves_by_dns),
      cmocka_unit_test(test_forbidden_calls_kill),
#if defined(__x86_64__)
      cmocka_unit_test(test_other_abis_blocked),
#endif
      cmocka_unit_test(test_server_opens_no_socket),
      cmocka_unit_test(test_log_mode_lets_through),
      cmocka_unit_test(test_counts),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
