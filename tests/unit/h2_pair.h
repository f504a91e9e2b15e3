/*
 * tests/unit/h2_pair: a real client h2_conn and a real server h2_conn over
 * a TCP connection on 127.0.0.1, with identities made for the run, for the
 * tests that drive the HTTP/2 fallback through real connections
 * (test_h2_conn, test_transport, test_tls_session).
 *
 *   client h2_conn --TLS 1.3 / HTTP/2 / CONNECT-IP--> server h2_conn
 *        (connect(), nonblocking)      (accept())
 *
 * run() polls both sockets and calls h2_conn_io(), advancing a hand-kept
 * clock by 1 ms per round (to the next timer when nothing arrived within
 * a real millisecond) and running the timers when due, until a condition
 * holds or a bound on rounds is reached (a failure).
 *
 * Include after cmocka.h: the helpers assert with cmocka.
 */
#ifndef TESTS_UNIT_H2_PAIR_H
#define TESTS_UNIT_H2_PAIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>

#include "jvpn/proto.h"
#include "quic/h2_conn.h"

#define ROUNDS 20000       /* poll rounds before run() gives up */
#define TICK_NS 1000000ULL /* the clock's step per round: 1 ms */
#define MAXREC 8           /* capsules recorded per side */
#define START_NS 1000000000000ULL

enum { SRV, CLI, STRANGER, NIDS };

/* The identities of the run (h2_pair_group_setup makes them). */
struct h2_ids {
  char dir[64];
  struct quic_cred *cred[NIDS];
  uint8_t pin[NIDS][JVPN_PIN_LEN];
};
extern struct h2_ids ids;

struct side {
  struct h2_conn *c;
  const uint8_t *accept_pin;
  uint8_t seen_pin[JVPN_PIN_LEN];
  int refuse_with; /* server: tunnel_request's status */
  int send_attach; /* client */
  int requests, opens, refused_status, closed;
  char attach[64], session[64];
  enum quic_conn_end why;
  char detail[160];
  size_t ncap;
  uint64_t cap_type[MAXREC];
  uint8_t cap_val[MAXREC][64];
  size_t cap_len[MAXREC];
  uint32_t nip, ip_bad; /* packets received; out of order or corrupt */
  int paused;           /* run() leaves this side alone */
};

struct pair {
  struct side srv, cli;
  uint64_t now;
  FILE *keylog; /* given to both connections (pair_start_keylog) */
};

/* The callbacks, recording into the struct side given as |user|. */
extern const struct quic_conn_ops ops;

/* Packet i: its number in the first 4 bytes, then bytes derived from it
 * (ip_packet checks that packets arrive so, in order). */
size_t make_packet(uint8_t *p, uint32_t i);

/* A listener on 127.0.0.1 (an ephemeral port, stored in |addr|). */
int listener(struct sockaddr_in *addr);
/* Creates |p|'s server (|server|) or client h2_conn on |fd| with identity
 * |id|. */
struct h2_conn *conn(struct pair *p, int server, int fd, int id);

/* Client |cid| and server |sid| identities; each side accepts the other's
 * real pin unless the test changes accept_pin afterwards. */
void pair_start(struct pair *p, int sid, int cid);
/* The same, both connections writing key log lines to |keylog|. */
void pair_start_keylog(struct pair *p, int sid, int cid, FILE *keylog);
void pair_end(struct pair *p);
/* Runs both sides until |done| (or any side closes, if |done| is NULL).
 * Returns nonzero if it held within the bound. */
int run(struct pair *p, int (*done)(struct pair *));
int both_open(struct pair *p);
int both_closed(struct pair *p);
/* pair_start(SRV, CLI) and run until the tunnel is open on both sides. */
void open_pair(struct pair *p);

/* cmocka group set-up and tear-down: the identities in a temporary
 * directory (TEST_H2_LOG in the environment: trace logs). */
int h2_pair_group_setup(void **state);
int h2_pair_group_teardown(void **state);

#endif /* TESTS_UNIT_H2_PAIR_H */
