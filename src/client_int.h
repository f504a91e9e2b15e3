/*
 * src/client_int: the client program's internal state, shared by
 * src/client.c (sockets, TUN, connections) and src/client_session.c (the
 * session layer: birth, reattach proofs, recovery, audit).
 */
#ifndef SRC_CLIENT_INT_H
#define SRC_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <uv.h>

#include "jvpn/audit.h"
#include "jvpn/proof.h"
#include "jvpn/session.h"
#include "quic/connect_ip.h"
#include "quic/quic_conn.h"
#include "quic/udp_sock.h"
#include "src/config.h"
#include "src/glue.h"
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

struct client_route {
  int family;
  uint8_t addr[16];
  uint8_t plen;
};

struct client {
  uv_loop_t *loop;
  struct jvpn_client_conf conf;
  gnutls_certificate_credentials_t cred;
  struct sockaddr_storage server;
  socklen_t server_len;
  char authority[JVPN_HOST_MAX + 8]; /* host:port, [v6]:port */
  /* Two sockets so a migration can validate the new path while the old
   * one still works; |active| is the one new connections use. */
  struct client_sock {
    struct client *cl;
    struct udp_sock s;
    uv_poll_t poll;
    int open;
  } socks[2];
  int active;
  int netmon_fd;
  uv_poll_t netmon_poll;
  uv_timer_t netmon_timer; /* debounces bursts of netlink messages */
  struct udp_rx_batch rx;
  struct tun_dev tun;
  uv_poll_t tun_poll;
  int tun_reading;
  struct quic_conn *qc;
  int conn_dead;
  uv_timer_t timer;      /* the connection's QUIC deadline */
  uv_timer_t reconnect;  /* backoff before the next connection */
  unsigned backoff_ms;
  /* what the TUN device carries now */
  int has4, has6, link_up;
  uint8_t addr4[4], addr6[16];
  struct client_route routes[CLIENT_MAX_ROUTES];
  size_t nroutes;
  unsigned mtu;
  struct glue_counters ctr;
  uv_signal_t sig_int, sig_term, sig_usr1;
  struct control *control;
  uint64_t connects;        /* connections made */
  int exit_code;
  unsigned last_srtt_ms;    /* smoothed RTT of the last connection */
  uint64_t tunnel_up_ms;    /* when a tunnel was last up (0 = never) */
  uint64_t failed_attempts; /* unanswered attempts since then */
  /* the session layer (src/client_session.c) */
  struct client_sess {
    int have;                      /* a session exists (after a birth) */
    uint8_t id[JVPN_SESSION_ID_LEN];
    char idstr[24];
    uint8_t secret[JVPN_SECRET_LEN]; /* wiped when forgotten */
    uint64_t version;              /* attach version the server gave */
    uint64_t nonce;                /* last nonce used (strictly rising) */
    uint64_t att;                  /* attachment ID of this connection */
    int attaching;                 /* this connection asked to reattach */
    struct jvpn_session core;      /* the client's copy of the state */
    uv_timer_t timer;              /* core deadlines */
    struct jvpn_audit *audit;
    uint64_t births, reattaches;
  } sess;
  int stopping;
  uint8_t tunbuf[JVPN_MAX_PACKET];
};


/* --- src/client_session.c ---------------------------------------------- */

int client_sess_init(struct client *cl);   /* 0 or JVPN_ERR_*; logs why */
void client_sess_free(struct client *cl);

/* quic_conn callbacks: the jvpn-attach header of a reattach (0: birth),
 * the server's acceptance, and its refusal. */
long client_sess_attach_header(struct client *cl, char *buf, size_t len,
                               char *version, size_t version_len);
void client_sess_opened(struct client *cl, const char *session, size_t len,
                        const char *version, size_t version_len);
void client_sess_refused(struct client *cl, int status);
/* The connection ended (the session lives on, recovering). */
void client_sess_conn_ended(struct client *cl, const char *why);
/* The connection moved to a new path (QUIC migration). */
void client_sess_path_changed(struct client *cl, const char *local);
/* Nonzero while the session is recovering (fast reattach attempts). */
int client_sess_recovering(const struct client *cl);
/* Appends the session's state to a status answer. */
void client_sess_status(struct client *cl, struct glue_buf *b, int json);

#endif /* SRC_CLIENT_INT_H */
