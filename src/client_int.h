/*
 * src/client_int: the client program's internal state, shared by these
 * files, each with one job, called in one direction only:
 *
 *   src/client.c          sockets, TUN, connections and their racing
 *                         attempts, the loop
 *     -> src/client_uplink.c   multi-path measurements and decisions
 *     -> src/client_dns.c      the server's DNS configuration
 *       -> src/client_session.c  the session layer: birth, reattach
 *                                proofs, recovery, audit
 *     -> src/client_lookup.c   the server's addresses: lookups off the
 *                              loop, their order (RFC 8305)
 *     -> src/client_host.c     what it changes on the host: routes, full
 *                              tunnel, split tunnelling, kill switch
 *
 * A lower file reaches a higher one only through struct client_hooks,
 * which src/client.c fills in (the libuv / ngtcp2 callback pattern).
 */
#ifndef SRC_CLIENT_INT_H
#define SRC_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <net/if.h>
#include <uv.h>

#include "jvpn/audit.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"
#include "jvpn/uplink.h"
#include "quic/connect_ip.h"
#include "quic/connect_ip_dns.h"
#include "quic/h2_conn.h"
#include "quic/quic_conn.h"
#include "quic/transport.h"
#include "quic/udp_sock.h"
#include "src/config.h"
#include "src/fulltunnel.h"
#include "src/glue.h"
#include "src/killswitch.h"
#include "src/quiet.h"
#include "src/resolvconf.h"
#include "src/resolved.h"
#include "src/happy_eyeballs.h"
#include "src/resolver.h"
#include "tun/ip_check.h"
#include "tun/tun_dev.h"

#define CLIENT_BACKOFF_MIN_MS 250
#define CLIENT_BACKOFF_MAX_MS 30000
#define CLIENT_RECOVERY_RETRY_MS 20 /* ms between reattach attempts */
/* A reattach attempt is given up after 8 RTTs of the lost connection
 * (within these bounds) so that a returning path is tried again soon. */
#define CLIENT_ATTEMPT_MIN_MS 100
/* ms after a tunnel was last up during which attempts stay fast, longer
 * than the session's transport-loss TTL (15 s by default) */
#define CLIENT_FAST_RETRY_MS 60000
#define CLIENT_ATTEMPT_MAX_MS JVPN_QUIC_REATTACH_HANDSHAKE_MS
#define CLIENT_MAX_ROUTES JVPN_CIP_MAX_ROUTES
/* ms: the longest wait between attempts on an uplink without a
 * connection (multi-path) */
#define CLIENT_STANDBY_RETRY_MAX_MS 1000
/* ms: after a 429 or 503 the next attempt waits at least this long */
#define CLIENT_HOLD_OFF_MS 1000
/* Sockets of a link: its connection's, and one per racing attempt (a
 * migration's target reuses a racer's once the race is over). */
#define CLIENT_LINK_SOCKS JVPN_HE_ATTEMPTS_MAX
#define CLIENT_RACES (JVPN_HE_ATTEMPTS_MAX - 1)

struct client_route {
  int family;
  uint8_t addr[16];
  uint8_t plen;
};

struct client;
struct client_race;

/* The server's DNS configuration (src/client_dns.c). */
struct client_dns {
  struct cip_dns_config cur; /* the latest one taken; all zero before */
  enum dns_backend backend;  /* chosen at start-up (src/resolved.h) */
  int applied;               /* in the back end now */
  int full;                  /* ... with full-tunnel mode on (resolved) */
  struct resolved resolved;  /* src/resolved.h; bus NULL: not used */
  struct resolv_conf file;   /* src/resolvconf.h; fd -1: not ours */
  int off_logged;            /* "dns = off" was said once */
  uint64_t received;         /* DNS_ASSIGN capsules, taken or not */
  uint64_t rejected;         /* ... refused as malformed or too big */
};

/* A socket of a connection (two while a migration validates a path). */
/* A socket of a link: its connection's (two while a migration validates
 * a path), or a racing attempt's. */
struct client_sock {
  struct client_link *link;
  struct client_race *race; /* the attempt it carries; NULL: the link's */
  struct udp_sock s;
  uv_poll_t poll;
  int open;
};

/* A connection attempt to another of the server's addresses, racing the
 * link's own until one of them completes its handshake (RFC 8305): the
 * winner becomes the link's connection, the others are closed. */
struct client_race {
  struct client_link *link;
  struct quic_conn *qc;    /* NULL: the slot is free */
  int sock;                /* link->socks[sock] */
  int dead;                /* qc ended: drop it after the current call */
  int heard;               /* a packet of it arrived */
  uv_timer_t timer;        /* qc's deadline */
  struct sockaddr_storage remote;
  socklen_t remote_len;
};

/* A TCP connection of a link (src/client_tcp.c): the link's own (then
 * also in link->tp), an attempt racing its QUIC connection, or the one a
 * QUIC connection is taking the session from, which carries the data
 * until the new tunnel opens. */
struct client_tcp {
  struct client_link *link;
  struct h2_conn *h2;      /* NULL: the slot is free */
  uv_poll_t *poll;         /* its socket's watcher (owned) */
  uv_timer_t timer;        /* its deadline (not the own one's: link->timer) */
  int dead;                /* h2 ended: drop it after the current call */
  uint64_t started_ms;     /* an attempt: when it began */
};

/* What a connection's CONNECT-IP request asked for. */
enum client_req {
  CLIENT_REQ_NONE = 0, /* not sent yet */
  CLIENT_REQ_BIRTH,    /* a new session */
  CLIENT_REQ_REATTACH, /* the session moves here (it had no active) */
  CLIENT_REQ_STANDBY,  /* a warm standby of the session */
};

/* One QUIC connection and its sockets: the only one in single-path mode
 * (it follows the routing table and migrates), one per [uplink] in
 * multi-path mode (bound to its interface). */
struct client_link {
  struct client *cl;
  int idx;                 /* [uplink] index; -1 in single-path mode */
  char ifname[IFNAMSIZ];   /* multi-path: the interface it is bound to */
  struct client_sock socks[CLIENT_LINK_SOCKS];
  int active;              /* socks[active]: the one new connections use */
  struct transport tp;     /* its connection: QUIC, or HTTP/2 over TCP */
  uv_poll_t *tcp_poll;     /* TCP: the socket's watcher (owned) */
  int dead;                /* tp ended: drop it after the current call */
  int heard;               /* a packet of tp arrived */
  struct sockaddr_storage remote; /* the server address tp goes to */
  socklen_t remote_len;
  uv_timer_t timer;        /* qc's deadline */
  uv_timer_t reconnect;    /* backoff before the next connection */
  /* Happy Eyeballs: while qc's handshake is pending, the next address
   * races it after the attempt delay (src/happy_eyeballs.h) */
  uv_timer_t next_attempt; /* the attempt delay passed without an answer */
  struct client_race races[CLIENT_RACES];
  size_t nraces;           /* races[] in use */
  size_t he_next;          /* the next address of cl->he this round */
  int lookup_wait;         /* waits for the server's name to resolve */
  unsigned backoff_ms;
  unsigned last_srtt_ms;   /* smoothed RTT of its last connection */
  uint64_t failed_attempts;/* unanswered attempts since it was last up */
  uint64_t connects;
  /* the session on this connection (src/client_session.c) */
  enum client_req req;
  int attached;            /* the request was accepted */
  uint64_t att;            /* attachment ID (client's numbering) */
  int activating;          /* an ACTIVATE awaits its result */
  uint64_t activate_ms;    /* when it was sent */
  unsigned birth_fails;    /* births tried here that failed */
  /* measurements for the uplink core (src/client_uplink.c) */
  uint64_t last_rx_ms;     /* a packet of this connection arrived */
  uint64_t loss_base_ms;   /* loss window start and the counters then */
  uint64_t loss_base_acked, loss_base_lost;
  uint32_t loss_pct;
  int link_up;             /* netlink: interface up and running */
  int pmtu_black_hole;     /* its path lost full-size packets: move */
  /* the HTTP/2 fallback (src/client_tcp.c, docs/decisions.md D39) */
  struct client_tcp tcp_own, tcp_try, tcp_old;
  uv_timer_t tcp_fallback; /* QUIC unanswered or silent this long: TCP */
  uv_timer_t quic_probe;   /* on TCP: the next QUIC attempt */
  unsigned tcp_failures;   /* TCP attempts that failed in a row */
  uint64_t tcp_old_att;    /* tcp_old's attachment ID, 0: not attached */
  enum client_req tcp_old_req;   /* ... and what its request asked for */
  enum transport_kind last_kind; /* of its last tunnel that opened */
  int silent;              /* its QUIC connection hears nothing now */
  uint64_t hold_until_ms;  /* the server asked us to wait (429, 503) */
  struct jvpn_quiet quiet; /* a quiet tunnel's keep-alive (D47) */
};

/* The socket of |l| that sends from |path|'s local address (the active
 * one if none does). src/client.c */
struct client_sock *client_sock_for_path(struct client_link *l,
                                         const struct quic_path *path);

/* What the lower files (uplink, session) may ask of the higher ones. */
struct client_hooks {
  /* src/client.c */
  void (*link_connect)(struct client_link *l);   /* open a connection */
  void (*link_close)(struct client_link *l, const char *why);
  void (*link_flush)(struct client_link *l);     /* write what is due */
  void (*tun_update)(struct client *cl);         /* read the TUN or not */
  void (*auth_failed)(struct client *cl, const char *detail); /* stop */
  /* a TCP attempt won: the link's QUIC connection and races go */
  void (*quic_abandon)(struct client_link *l);
  void (*quic_probe)(struct client_link *l);     /* race a QUIC attempt */
  int (*quic_heard)(const struct client_link *l); /* a QUIC packet came */
  /* the path is back but the link's QUIC connection hears nothing: end
   * it, so that the session reattaches on a fresh one (D50) */
  void (*quic_restart)(struct client_link *l, const char *why);
  const struct quic_conn_ops *link_ops;          /* the link's callbacks */
  /* src/client_uplink.c */
  void (*up_attached)(struct client_link *l, enum jvpn_att_role role);
  void (*up_refused)(struct client_link *l, int status);
  void (*up_activated)(struct client_link *l);
};

struct client {
  uv_loop_t *loop;
  struct client_hooks hooks;
  struct jvpn_client_conf conf;
  struct quic_cred *cred;
  struct he_list he;       /* the server's addresses (src/client_lookup.c) */
  struct resolver res;     /* looks the server's name up */
  char authority[JVPN_HOST_MAX + 8]; /* host:port, [v6]:port */
  struct client_link links[JVPN_UPLINK_MAX];
  size_t nlinks;           /* 1 in single-path mode */
  struct client_link *cur; /* carries the data (never NULL) */
  int multi;               /* [uplink]s are configured */
  struct jvpn_uplink_set up;       /* multi-path decisions */
  uv_timer_t up_timer;             /* measurement and decision tick */
  uint64_t switches;               /* activations accepted */
  char last_switch[64];            /* reason of the last one */
  char pending_switch[64];         /* reason of the one in flight */
  struct client_link *prev_cur;    /* active before it (NULL: closed) */
  uint64_t up_hold_until_ms;       /* no activation before (refused) */
  int netmon_fd;
  uv_poll_t netmon_poll;
  uv_timer_t quiet_timer;  /* looks for a quiet tunnel (client_quiet.c) */
  uv_timer_t refresh_timer; /* ... and refreshes its NAT mapping (D52) */
  uint64_t nat_refreshes;   /* refresh datagrams sent */
  uv_timer_t netmon_timer; /* debounces bursts of netlink messages */
  struct udp_rx_batch rx;
  struct tun_dev tun;
  uv_poll_t tun_poll;
  int tun_reading;
  /* what the TUN device carries now */
  int has4, has6, link_up;
  uint8_t addr4[4], addr6[16];
  struct client_route routes[CLIENT_MAX_ROUTES]; /* installed */
  size_t nroutes;
  struct full_tunnel ft;    /* full-tunnel mode (src/fulltunnel.h) */
  int ft_ok;                /* its stale rules were flushed: usable */
  struct kill_switch ks;    /* the kill switch (src/killswitch.h) */
  /* the server's latest ROUTE_ADVERTISEMENT, all of it: a downlink packet
   * from outside these ranges is dropped (counted as drop_spoofed) */
  struct cip_range allowed[CLIENT_MAX_ROUTES];
  size_t nallowed;
  /* the config's allow_route prefixes (none: everything advertised) */
  struct cip_range local_allow[JVPN_MAX_ROUTES];
  size_t nlocal_allow;
  unsigned mtu;
  struct glue_counters ctr;
  uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
  struct control *control;
  uint64_t connects;        /* connections made */
  uint8_t token[JVPN_NEW_TOKEN_MAX]; /* the server's latest NEW_TOKEN: the
                                      * next connection skips a Retry */
  size_t token_len;
  FILE *keylog;             /* test hook only: NSS key log (client.c) */
  int exit_code;
  uint64_t tunnel_up_ms; /* when a tunnel was last up (0 = never) */
  uint64_t tcp_fallbacks, quic_returns; /* transport switches */
  struct client_dns dns;
  /* the session layer (src/client_session.c) */
  struct client_sess {
    int have;                      /* a session exists (after a birth) */
    uint8_t id[JVPN_SESSION_ID_LEN];
    char idstr[24];
    uint8_t secret[JVPN_SECRET_LEN]; /* wiped when forgotten */
    uint64_t version;              /* attach version the server gave */
    uint64_t nonce;                /* last nonce used (strictly rising) */
    uint64_t next_att;             /* last attachment ID given out */
    struct jvpn_session core;      /* the client's copy of the state */
    uv_timer_t timer;              /* core deadlines */
    struct jvpn_audit *audit;
    uint64_t births, reattaches, standbys;
  } sess;
  int stopping;
  uint8_t tunbuf[JVPN_TUN_BUF]; /* a super-packet with offloads */
};

/* Nonzero if |l| has a connection (QUIC or TCP), live or not. */
static inline int link_has_conn(const struct client_link *l) {
  return transport_kind(&l->tp) != TRANSPORT_NONE;
}

/* Nonzero if |l| has a connection whose tunnel is open. */
static inline int client_link_open(const struct client_link *l) {
  return link_has_conn(l) && !l->dead && transport_tunnel_is_open(&l->tp);
}

/* --- src/client_quiet.c ------------------------------------------------ */

/* Starts looking for a quiet tunnel every JVPN_QUIET_AFTER_MS / 3. */
void client_quiet_init(struct client *cl);
/* KEEPALIVE_RESULT arrived on |l|. */
void client_quiet_result(struct client_link *l, const uint8_t *v, size_t len);
/* An IP packet on |l|: the usual keep-alive again, and the quiet period
 * starts over. */
void client_quiet_wake(struct client_link *l);
/* |to| is about to become the active link: a grant in force on the one
 * that was ends (its keep-alive is its usual one again, and only the
 * active link refreshes its NAT mapping). */
void client_quiet_handover(struct client *cl, struct client_link *to);
/* NAT_REFRESH arrived on |l|. */
void client_quiet_nat_refresh(struct client_link *l, const uint8_t *v,
                              size_t len);
/* The active link's keep-alive grant (0: the usual one), its NAT refresh
 * interval (0: none) and the refreshes sent, for the status. */
void client_quiet_status(const struct client *cl, struct glue_buf *b,
                         int json);
/* A new connection or path on |l|: the usual keep-alive until the server
 * grants another; the quiet period goes on. */
void client_quiet_new_path(struct client_link *l);

/* --- src/client_tcp.c -------------------------------------------------- */

void client_tcp_init(struct client_link *l);
/* Closes every TCP connection of |l| but its own (stop). */
void client_tcp_end(struct client_link *l);
/* Starts a TCP attempt to |l|'s server address unless one runs. */
void client_tcp_start(struct client_link *l);
/* transport = auto: a TCP attempt starts once QUIC stayed unanswered (or,
 * |silent_ms| into a receive silence, silent) for the fallback delay. */
void client_tcp_fallback_arm(struct client_link *l, uint64_t silent_ms);
/* QUIC answered: no TCP attempt (one running is dropped). */
void client_tcp_fallback_cancel(struct client_link *l);
/* The link's own TCP connection: writes what is due, watches its socket,
 * re-arms link->timer. */
void client_tcp_flush(struct client_link *l);
/* When the peer was last heard on |l|'s own TCP connection, in ms of the
 * glue clock: its last bytes or TCP's last ACK, whichever is later (the
 * uplink core's silence judgement; an ACK alone does not wake us). */
uint64_t client_tcp_last_heard_ms(struct client_link *l, uint64_t now_ms);
/* Before the link's connection is deleted: stops watching its socket. */
void client_tcp_unwatch(struct client_link *l);
/* A QUIC attempt takes the session from the link's TCP connection: that
 * one carries the data until the new tunnel opens (client_tcp_old_close)
 * or the attempt fails (client_tcp_take_back). */
void client_tcp_retire(struct client_link *l);
/* The QUIC connection that took over failed before its tunnel opened and
 * is gone (link->tp empty): the retired TCP connection is the link's
 * again, attached as before. Returns 1 if it was. */
int client_tcp_take_back(struct client_link *l);
void client_tcp_old_close(struct client_link *l);
/* Queues an IP packet on the retired TCP connection while the new tunnel
 * opens. Returns 0 when it took it. */
int client_tcp_old_queue_ip(struct client_link *l, const uint8_t *pkt,
                            size_t len);
/* Writes what the retired connection has queued (once per TUN batch). */
void client_tcp_old_flush(struct client_link *l);
/* A tunnel opened on |l|: counts and audits a change of transport, and
 * on TCP (transport = auto) schedules the QUIC probes. */
void client_tcp_tunnel_opened(struct client_link *l);

/* --- src/client_session.c ---------------------------------------------- */

int client_sess_init(struct client *cl);   /* 0 or JVPN_ERR_*; logs why */
void client_sess_free(struct client *cl);

/* quic_conn callbacks of link |l|: the jvpn-attach header of its request
 * (0: birth), the server's acceptance, and its refusal. */
long client_sess_attach_header(struct client_link *l, char *buf, size_t len,
                               char *version, size_t version_len);
void client_sess_opened(struct client_link *l, const char *session,
                        size_t len, const char *version, size_t version_len);
void client_sess_refused(struct client_link *l, int status);
/* |l|'s connection ended (the session lives on). */
void client_sess_conn_ended(struct client_link *l, const char *why);
/* |l|'s connection moved to a new path (QUIC migration). */
void client_sess_path_changed(struct client_link *l, const char *local);
/* Sends ACTIVATE on standby |l| (a fresh nonce, a proof bound to its
 * connection), flagged as a failover when the active is dead. Returns 0
 * or a JVPN_ERR_*. */
int client_sess_activate(struct client_link *l, int failover);
/* ACTIVATE_RESULT arrived on |l|. */
void client_sess_activate_result(struct client_link *l, const uint8_t *v,
                                 size_t len);
/* Feeds the session core an event (src/client_uplink.c: the failover
 * path) and emits its records. */
void client_sess_event(struct client *cl, const struct jvpn_session_event *ev);
/* Emits audit records made elsewhere (the uplink core's), stamped with
 * the session. */
/* An INFO record |event| with a printf-style detail (bounded), in the
 * session's audit trail. */
void client_audit_info(struct client *cl, const char *event, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
void client_sess_audit(struct client *cl, struct jvpn_audit_record *r,
                       size_t n);
/* Nonzero while the session is recovering (fast reattach attempts). */
int client_sess_recovering(const struct client *cl);
/* Appends the session's state to a status answer. */
void client_sess_status(struct client *cl, struct glue_buf *b, int json);

/* --- src/client_dns.c --------------------------------------------------- */

/* A DNS_ASSIGN value from the server: kept, logged and audited when it
 * changes (ignored with "dns = off"). Returns 0, or JVPN_ERR_MALFORMED
 * for a value that ends inside a field (the stream is then aborted, RFC
 * 9297 3.3); any other fault only drops the capsule, counted. */
int client_dns_capsule(struct client *cl, const uint8_t *v, size_t len);
/* Full-tunnel mode went on or off: systemd-resolved's "~." and default
 * route follow (src/client_host.c calls it). */
void client_dns_refresh(struct client *cl);
/* Appends the DNS configuration to a status answer. */
void client_dns_status(const struct client *cl, struct glue_buf *b, int json);
/* --- src/client_host.c ------------------------------------------------- */

/* The server's addresses changed (src/client_lookup.c): the full tunnel's
 * rules and the kill switch follow. */
void client_server_addrs(struct client *cl);
/* A ROUTE_ADVERTISEMENT: routes installed or withdrawn, full-tunnel mode on
 * or off per family. Returns 0 or JVPN_ERR_MALFORMED. */
int client_routes_advertised(struct client *cl, const uint8_t *v, size_t len);
/* 1 if a downlink packet's source lies in an advertised route that the
 * config admits (WireGuard's AllowedIPs, client side). */
int client_routes_source_ok(const struct client *cl, const struct ip_info *ip);
/* At start-up, as root: stale full-tunnel rules flushed, include ranges. */
void client_routes_prepare(struct client *cl);
/* At start-up, as root: the kill switch in place (kill_switch = on).
 * Returns 0, or -1 (logged) when the client must not run without it. */
int client_kill_switch_prepare(struct client *cl);
/* At exit: full-tunnel mode off, its rules and routes removed (audited). */
void client_full_tunnel_done(struct client *cl);
/* At exit: the kill switch removed (audited). */
void client_kill_switch_done(struct client *cl);
/* At start-up, as root: picks the DNS back end, connecting to
 * systemd-resolved or opening /etc/resolv.conf for the configuration to
 * come (and undoes what a crashed run left in the file). */
void client_dns_prepare(struct client *cl);
/* At exit: resolved's link reverted, or the file as it was. */
void client_dns_done(struct client *cl);
/* --- src/client_lookup.c: the server's addresses ------------------------- */

/* Sets up the address list: an address literal is the whole list at
 * once; a name is looked up when a link first connects. Call before
 * client_up_init(). */
void client_lookup_init(struct client *cl);
/* Cancels a lookup in flight (at shutdown). */
void client_lookup_free(struct client *cl);
/* Whether |l|, which can reach addresses of families |fams| (HE_FAM_*),
 * may connect now: 1 (cl->he holds an address to try), 0 (it waits for a
 * lookup; hooks.link_connect follows when that ends) or JVPN_ERR_AGAIN
 * (nothing to try yet: back off). */
int client_lookup_ready(struct client_link *l, unsigned fams);
/* Appends the address list and lookups to a status answer. */
void client_lookup_status(struct client *cl, struct glue_buf *b, int json);

/* --- src/client_uplink.c: multi-path ------------------------------------ */

/* Sets up the uplink set and binds each link to its [uplink] (multi-path
 * mode only). Returns 0 or a JVPN_ERR_* (logged). */
int client_up_init(struct client *cl);
/* |l|'s interface and its local address of |family| now, in |ss|: an
 * [uplink] by address finds its interface (if the address is of
 * |family|), one by interface its first address of |family|. Returns 0
 * or JVPN_ERR_NOTFOUND. */
int client_up_local(struct client_link *l, int family,
                    struct sockaddr_storage *ss, socklen_t *len);
/* Opens socket |slot| of |l| on its uplink, from its address of |family|.
 * Returns 0 or JVPN_ERR_*. */
int client_up_sock_open(struct client_link *l, int slot, int family);
/* The families of |l|'s uplink addresses (HE_FAM_*). */
unsigned client_up_families(struct client_link *l);
/* Nonzero if |l| should have a connection now (its link is up, and it
 * is the one to start a session or the session exists). */
int client_up_wants_conn(const struct client_link *l);
/* Link |l| got an attachment accepted in |role|. */
void client_up_attached(struct client_link *l, enum jvpn_att_role role);
/* Link |l|'s attachment is gone (its connection ended). */
void client_up_lost(struct client_link *l);
/* The server refused the activation of |l| with |status|. */
void client_up_refused(struct client_link *l, int status);
/* The server accepted the activation of |l|. */
void client_up_activated(struct client_link *l);
/* Netlink reported a change: re-reads the uplinks' link states. */
void client_up_netmon(struct client *cl);
/* Measures every link and decides now. */
void client_up_tick(struct client *cl);
/* Appends the uplinks to a status answer. */
void client_up_status(struct client *cl, struct glue_buf *b, int json);

#endif /* SRC_CLIENT_INT_H */
