/*
 * interop/interop: the interop endpoint (interop/README.md): options,
 * the per-stream send ring both roles use, and the two roles.
 */
#ifndef INTEROP_INTEROP_H
#define INTEROP_INTEROP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "interop/interop_parse.h"
#include "quic/quic_conn.h"

/* Exit statuses of the endpoint contract. */
#define INTEROP_EXIT_OK 0
#define INTEROP_EXIT_FAIL 1
#define INTEROP_EXIT_UNSUPPORTED 127

#define INTEROP_MAX_URLS 1024
#define INTEROP_MAX_PREFERRED 2        /* --preferred: IPv4 and IPv6 */
#define INTEROP_RING_SIZE (256 * 1024) /* bytes in flight per stream */
#define INTEROP_KEEPALIVE_MS 10000     /* PING when quiet this long */
#define INTEROP_IDLE_MS 30000          /* idle timeout: 3 keep-alives */
#define INTEROP_PATIENT_IDLE_MS 130000 /* handshakeloss: ngtcp2 (0.12.1
                                        * when measured) probed a lost
                                        * Handshake flight
                                        * one packet at a time, after 1,
                                        * 3, 7, 15, 31, 63, 127 s; with
                                        * 30 s idle, four lost probes in
                                        * a row ended the connection on
                                        * both sides (about one in 50
                                        * connections). 130 s lets the
                                        * seventh probe arrive */
#define INTEROP_HANDSHAKE_MS 240000    /* ms: no handshake runs out before
                                        * its idle timeout does, nor
                                        * before the runner's 300 s bound
                                        * on handshakeloss */
#define INTEROP_DGRAM_DEFAULT 50       /* datagram case: count */
#define INTEROP_DGRAM_LEN 100          /* bytes per datagram */
#define INTEROP_DGRAM_GAP_MS 2         /* ms between datagrams */
#define INTEROP_DGRAM_WAIT_MS 10000    /* ms to wait for the echoes */
#define INTEROP_TICKET_WAIT_MS 2000    /* ms: resumption waits for one */

struct interop_opts {
  int is_server;
  enum interop_case tc;
  const char *alpn;             /* "h3" or "hq-interop": interop_case_alpn
                                 * of the case and $INTEROP_ALPN */
  const char *listen;           /* server: ADDR:PORT */
  const char *preferred[INTEROP_MAX_PREFERRED]; /* server: --preferred
                                 * ADDR:PORT, at most one per family;
                                 * used in connectionmigration only */
  size_t npreferred;
  const char *cert, *key, *www; /* server */
  const char *downloads;        /* client */
  const char *qlog_dir;
  FILE *keylog;                 /* opened from --keylog; owned by main */
  const char *urls[INTEROP_MAX_URLS];
  size_t nurls;
};

/* GnuTLS priority (NULL = default) of a test case. */
const char *interop_tls_priority(enum interop_case tc);

/* Sets |cfg|'s keep-alive, idle and handshake timeouts for test case
 * |tc|: the runner's handshakeloss (multiconnect at the endpoints) gets
 * INTEROP_PATIENT_IDLE_MS, as do the peers under interop/peers/. */
void interop_conn_timeouts(struct quic_conn_config *cfg,
                           enum interop_case tc);

/* Bytes of one stream waiting for the peer's acknowledgement: quic_conn
 * and quic/h3_files keep pointers into the data until then, so it stays put in a
 * ring of INTEROP_RING_SIZE; offsets count from the start of the data. */
struct interop_ring {
  uint8_t *buf;                 /* owned */
  uint64_t acked, sent, filled; /* acked <= sent <= filled */
};

int interop_ring_init(struct interop_ring *r); /* 0 or JVPN_ERR_NOMEM */
void interop_ring_free(struct interop_ring *r);
/* Appends up to the free room from |fd|: bytes read, 0 at end of file
 * (or no room: check interop_ring_room first), or JVPN_ERR_SYSTEM. */
long interop_ring_fill_fd(struct interop_ring *r, int fd);
size_t interop_ring_room(const struct interop_ring *r);
/* Unsent bytes as at most 2 vectors; returns the count. */
size_t interop_ring_unsent(const struct interop_ring *r,
                           struct quic_vec *vec, size_t max);

/* Writes all of |data| to |fd|. Returns 0 or JVPN_ERR_SYSTEM. */
int interop_write_all(int fd, const uint8_t *data, size_t len);

int interop_server_run(const struct interop_opts *o);
int interop_client_run(const struct interop_opts *o);

#endif /* INTEROP_INTEROP_H */
