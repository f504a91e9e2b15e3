/*
 * tests/unit/quic_pair: a real client quic_conn and a real server
 * quic_conn in one process, with no sockets and a hand-advanced clock,
 * for tests/unit/test_quic_conn.
 *
 *   client conn --ops->send--> [ fake network ring ] --quic_conn_read--> server
 *   client conn <--quic_conn_read-- [ fake network ] <--ops->send-- server
 *
 * Each side's ops->send splits GSO batches into packets and queues them;
 * pump() delivers the queue (never from inside a callback, so nothing
 * re-enters a conn), writes both sides, and when the network is empty
 * moves the clock to the earlier expiry and runs the timers. Addresses are
 * fake (198.18.0.0/15); no packet leaves the process. The identities are
 * made once per run (quic_pair_group_setup).
 *
 * Include after cmocka.h: the helpers assert with cmocka.
 */
#ifndef TESTS_UNIT_QUIC_PAIR_H
#define TESTS_UNIT_QUIC_PAIR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"
#include "quic/quic_conn.h"

#define NET_SLOTS 1024 /* packets in flight, both ways */
#define REC_MAX 8      /* capsules / packets recorded */
#define CID_MAX 32     /* server CIDs tracked */
#define FNV_OFFSET 0xcbf29ce484222325ULL /* fnv()'s start */

/* --- identities (made once per run) ------------------------------------- */

enum { ID_SERVER, ID_CLIENT, ID_STRANGER, ID_COUNT };

struct quic_pair_ids {
  char base[64];
  char dir[ID_COUNT][96];
  struct quic_cred *cred[ID_COUNT];
  uint8_t pin[ID_COUNT][JVPN_PIN_LEN];
};
extern struct quic_pair_ids ids;

/* --- the fake network and the two endpoints ----------------------------- */

struct rec {
  uint64_t type;
  size_t len;
  uint8_t data[QUIC_TXQ_SLOT];
};

struct pair;

/* One side: its conn, what it accepts, and every event it saw. */
struct endpoint {
  struct pair *pair;
  struct quic_conn *qc;
  int is_server;
  const uint8_t *accept_pin; /* the only pin verify_peer accepts */
  int answer_requests;       /* server: ADDRESS_ASSIGN + routes */
  int tunnel_status;         /* server: tunnel_request's answer */
  int refuse_sends;          /* ops->send answers JVPN_ERR_AGAIN n times */
  int verify_calls;
  uint8_t seen_pin[JVPN_PIN_LEN];
  int tunnel_requests, tunnel_opens;
  int send_attach;           /* client: send a jvpn-attach header */
  int attach_seen;           /* server: the request carried one */
  char attach[64], req_version[8]; /* server: the request's values */
  size_t attach_len, req_version_len;
  char session[64];          /* client: jvpn-session received */
  size_t session_len;
  char version[24];          /* client: jvpn-version received */
  size_t version_len;
  int refused_status;        /* client: non-200 status seen */
  int closed_calls;
  enum quic_conn_end why;
  char detail[256];
  size_t ncap;
  struct rec cap[REC_MAX]; /* capsules received */
  size_t nsent;
  struct rec sent[REC_MAX]; /* capsules sent from the callback */
  int send_rv;              /* worst quic_conn_send_capsule result */
  uint64_t nip;
  struct rec ip[REC_MAX]; /* first IP packets received */
  uint64_t ip_hash;       /* FNV-1a over every packet, in order */
  struct quic_cid cids[CID_MAX];
  size_t ncids;
  int cid_errors; /* unknown removals, overflow */
};

struct net_pkt {
  int to_server;
  size_t len;
  uint8_t data[JVPN_QUIC_MAX_UDP_PAYLOAD];
};

struct pair {
  struct endpoint cli, srv;
  struct quic_cred *cli_cred;
  uint64_t now;
  struct sockaddr_in caddr, saddr;
  struct net_pkt *net; /* ring of NET_SLOTS */
  size_t head, tail;
  int blackhole; /* the network drops everything */
  int blackhole_up; /* it drops the client's packets only */
  int no_silence;   /* both ends: quic_silence_policy.disabled */
  int keep_nghttp3; /* both ends: quic_conn_config.keep_nghttp3 */
  size_t net_overflow, net_oversize, bad_path, net_dropped;
};

struct fixture {
  struct pair p[2];
};

typedef int (*pair_cond)(const struct pair *p);

/* FNV-1a over |d|, its length mixed in first, continuing from |h|. */
uint64_t fnv(uint64_t h, const uint8_t *d, size_t len);
/* Queues a packet on the fake network (dropped as the pair's blackhole
 * flags say, or counted when the ring is full). */
void net_push(struct pair *p, int to_server, const uint8_t *d, size_t len);
/* Defaults: the client has the known identity and expects the server's;
 * the server admits the client's pin and answers address requests. */
void pair_init(struct pair *p);
/* Frees both conns; returns nonzero if the server's CID bookkeeping (the
 * cid_add/cid_remove contract) went wrong. */
int pair_free(struct pair *p);
/* Creates the client conn; the server's comes with its first packet. */
void pair_start(struct pair *p);
/* Hands one queued packet to its receiver. */
void net_deliver(struct pair *p, const struct net_pkt *m);
/* Lets both conns write what is due. */
void write_both(struct pair *p);
/* Runs the expiry of each conn whose deadline passed. */
void run_timers(struct pair *p);
/* Runs the network until |done| holds (NULL: until nothing is in flight
 * and no timer is due soon). Returns whether it held. */
int pump(struct pair *p, pair_cond done);
/* Conditions for pump(). */
int tunnel_ready(const struct pair *p);  /* the client has its capsules */
int both_closed(const struct pair *p);
int client_closed(const struct pair *p);
int both_settled(const struct pair *p);  /* PMTUD done on both ends */
/* Opens the tunnel and lets PMTUD settle on both ends (the loop network
 * carries 1452-byte packets), so datagrams are full size. */
void pair_open(struct pair *p);
/* A valid IPv4/UDP packet of |len| bytes whose payload depends on |seq|,
 * from the client's inner address (|upstream|) or to it. */
void build_ipv4(uint8_t *pkt, size_t len, int upstream, uint32_t seq);
/* cmocka fixtures: the identities, once per group; two fresh pairs in a
 * struct fixture, per test. */
int quic_pair_group_setup(void **state);
int quic_pair_group_teardown(void **state);
int quic_pair_setup(void **state);
int quic_pair_teardown(void **state);

#endif /* TESTS_UNIT_QUIC_PAIR_H */
