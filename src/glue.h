/*
 * src/glue: the small pieces the server and client programs share on the
 * libuv loop: the clock, timers from QUIC deadlines, socket sends for a
 * QUIC path, TLS credentials, address formatting and the TUN read batch.
 */
#ifndef SRC_GLUE_H
#define SRC_GLUE_H

#include "src/config.h"
#include "src/privdrop.h"
#include "src/sandbox.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "jvpn/audit.h"
#include "jvpn/policy.h"
#include "quic/quic_conn.h"
#include "quic/transport.h"
#include "quic/udp_sock.h"
#include "tun/ip_check.h"
#include "tun/tun_dev.h"

/* CLOCK_MONOTONIC in nanoseconds (ngtcp2's time base). */
uint64_t glue_now(void);

/* Arms |t| to fire at |expiry| (ns), or stops it for UINT64_MAX. A
 * sub-millisecond deadline (pacing) fires on the next loop iteration; a
 * later one is rounded up to whole milliseconds, so it does not fire
 * early and spin. */
void glue_timer_arm(uv_timer_t *t, uint64_t expiry, uint64_t now);

/* "198.18.1.2:443" or "[2001:db8::1]:443". */
const char *glue_sockaddr_str(const struct sockaddr *sa, char *buf,
                              size_t len);
/* "198.18.200.2" or "fd77::2" for a raw address of |family|. */
const char *glue_ip_str(int family, const uint8_t *addr, char *buf,
                        size_t len);

/* The receive-silence knobs of |p| for quic_conn_config.silence. */
void glue_silence_policy(struct quic_silence_policy *out,
                         const struct jvpn_policy *p);

/* Loads a PEM certificate and key into new credentials; a key file that
 * group or others may access is refused. Logs why on failure. Returns 0,
 * JVPN_ERR_DENIED, JVPN_ERR_SYSTEM or JVPN_ERR_TLS. */
int glue_load_cred(struct quic_cred **cred, const char *cert_file,
                   const char *key_file);

/* Sends a QUIC batch on |s| along |path|; the source address is passed
 * when |s| is bound to a wildcard address. */
int glue_send(struct udp_sock *s, const struct quic_path *path,
              const uint8_t *data, size_t len, size_t seg, uint8_t ecn);

/* Feeds the |n| received datagrams of |b| (GRO batches split) to |qc|,
 * all at time |now|, naming |s|'s bound address as the local one so that
 * ngtcp2 sees one stable path whatever pktinfo says. Stops early once
 * *|stop| is set (the connection ended during a read). */
void glue_conn_read_batch(struct quic_conn *qc, const struct udp_sock *s,
                          const struct udp_rx_batch *b, int n, uint64_t now,
                          const int *stop);

/* Answers |pkt| (too big for the tunnel) with ICMP Packet Too Big into
 * |tun|. Returns 0 if one was written. */
int glue_send_ptb(struct tun_dev *tun, const uint8_t *pkt, size_t len,
                  size_t mtu);

/* Counters of a tunnel endpoint, for the SIGUSR1 line. */
struct glue_counters {
  uint64_t rx_packets, tx_packets;
  uint64_t rx_bytes, tx_bytes; /* of those packets (server: metrics) */
  uint64_t drop_spoofed, drop_malformed, drop_no_route, drop_too_big;
  uint64_t drop_tun_full;
  uint64_t drop_local_only; /* link-scope packets kept off the tunnel */
  uint64_t drop_recovering; /* client: packets while no tunnel was up */
};

/* The tun_dev_open mode for "tun_offload = on" (|on|) or off; with
 * JVPN_TEST_TUN_REFUSE_OFFLOAD=1 in the environment of a build with
 * --enable-test-hooks, "on" acts out a kernel that refuses them. */
enum tun_offload glue_tun_offload_mode(int on);
/* Logs whether the TUN device |t| has offloads, and why not when they
 * were |asked| for (tun_offload = on) and the kernel refused them. */
void glue_tun_offload_log(const struct tun_dev *t, int asked);
/* "tun_offload=... tso_reads=... gro_writes=... gro_segs=...
 * drop_tun_write=..." for the stats lines. */
void glue_tun_stats(char *buf, size_t len, const struct tun_dev *t);

/* Formats the counters of one tunnel for the log. */
void glue_stats_line(char *buf, size_t len, const struct glue_counters *g,
                     const struct transport *t);

/* A growing text buffer for status answers (not on the data path). */
struct glue_buf {
  char *p;
  size_t len, cap;
  int failed;          /* an allocation failed: the text is incomplete */
};

void glue_buf_printf(struct glue_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one connection's path and transport figures: as JSON members
 * ("path":..., "rtt_ms":...) when |json|, else as "key=value" words. */
void glue_buf_conn(struct glue_buf *b, struct transport *t, int json);

struct jvpn_session;

/* Appends the time |s| spent in each state (the current one up to |now_ms|)
 * as a JSON object member "time_in_state_s" or "time_in_STATE=N" words. */
void glue_buf_state_times(struct glue_buf *b, const struct jvpn_session *s,
                          uint64_t now_ms, int json);

/* Resolves |host| (a name or an address literal) for UDP to |port|: the
 * first address the resolver gives goes to |ss|. Returns 0, or
 * JVPN_ERR_NOTFOUND (logged). */
int glue_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
                 socklen_t *len);

struct control;

/* Opens the control socket at |path| (NULL: the role's default; "none":
 * none). A failure (another daemon holds the default path, say) is logged
 * and leaves *pc NULL: the daemon runs on without one. */
void glue_control_open(struct control **pc, uv_loop_t *loop, const char *path,
                       const char *role,
                       int (*fn)(void *, int, char **, size_t *),
                       void *user);

/* Drops root once the daemon's devices, sockets and files are open: runs
 * as |user| keeping only |keep| (privdrop.h); "" stays root and says so.
 * Returns 0, or -1 (logged) when the daemon must stop. */
int glue_drop_root(const char *user, enum privdrop_keep keep);

/* Right after glue_drop_root(): applies |role|'s seccomp allow-list
 * (sandbox.h) as |mode| says and logs how many calls it allows, or that
 * there is none. Returns 0, or -1 (logged) when the daemon must stop. */
int glue_sandbox(enum jvpn_seccomp mode, enum sandbox_role role);

/* Starts the audit writer's thread; call it after glue_drop_root(), so that
 * the thread has the dropped credentials (jvpn_audit_start). |a| may be
 * NULL. Returns 0, or -1 (logged) when the daemon must stop. */
int glue_audit_start(struct jvpn_audit *a);

#endif /* SRC_GLUE_H */
