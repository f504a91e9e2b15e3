/*
 * src/happy_eyeballs: the order in which the client tries the server's
 * addresses (RFC 8305, Happy Eyeballs version 2), without I/O or a clock.
 *
 * The resolver's answer is kept whole: duplicates dropped, the families
 * interleaved starting with the preferred one (IPv6 unless IPv4 won the
 * latest race), each family in the resolver's own order (RFC 6724). An
 * address an attempt failed to reach is skipped until every address a
 * connection could use has failed; then the name is looked up again, or,
 * if the last lookup is too recent, the addresses are tried once more.
 * The address of the connection that won goes first next time.
 *
 * Bounds: JVPN_HE_ADDRS_MAX addresses of one answer (include/jvpn/proto.h).
 */
#ifndef SRC_HAPPY_EYEBALLS_H
#define SRC_HAPPY_EYEBALLS_H

#include <stddef.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/socket.h>

#include "jvpn/proto.h"

/* Families an attempt may use, as a mask (an uplink has addresses of some
 * families only). */
#define HE_FAM_V4 1u
#define HE_FAM_V6 2u
#define HE_FAM_ANY (HE_FAM_V4 | HE_FAM_V6)

struct he_addr {
  struct sockaddr_storage sa;
  socklen_t len;
  int failed; /* an attempt to it ended without a handshake */
};

/* The server's addresses in the order attempts try them. */
struct he_list {
  struct he_addr a[JVPN_HE_ADDRS_MAX];
  size_t n;
  int first_family;   /* AF_INET6, or AF_INET after IPv4 won */
  int fixed;          /* an address literal: never looked up */
  uint64_t answer_ms; /* when the answer was set (0: never) */
  uint64_t asked_ms;  /* when a lookup last started (0: never) */
};

/* What the list needs before the next connection attempt. */
enum he_need {
  HE_READY = 0, /* an address is ready to try */
  HE_RETRY,     /* every address failed; try them again (he_list_retry) */
  HE_LOOKUP,    /* look the name up first */
  HE_WAIT,      /* no answer yet and too soon to ask again: back off */
};

/* An empty list preferring IPv6. */
void he_list_init(struct he_list *l);

/* Replaces the addresses with the IPv4 and IPv6 ones of |ai| (a
 * getaddrinfo() answer, borrowed), in the order above; other families and
 * duplicates are dropped, addresses beyond JVPN_HE_ADDRS_MAX too. Stamps
 * the answer with |now_ms|. Returns the number kept; 0 leaves the list as
 * it was. */
size_t he_list_set(struct he_list *l, const struct addrinfo *ai,
                   uint64_t now_ms);

/* Notes that a lookup starts at |now_ms|. */
void he_list_asked(struct he_list *l, uint64_t now_ms);

/* What an attempt with families |fams| needs at |now_ms|: the answer is
 * missing, older than JVPN_RESOLVE_LIFETIME_MS or all failed (HE_LOOKUP,
 * at most once per JVPN_RESOLVE_MIN_GAP_MS); an address literal is never
 * looked up. */
enum he_need he_list_need(const struct he_list *l, unsigned fams,
                          uint64_t now_ms);

/* Index of the first address at or after |from| of a family in |fams|
 * that has not failed, or -1. */
int he_list_next(const struct he_list *l, size_t from, unsigned fams);

/* An attempt to |sa| ended without a handshake (unknown addresses, from
 * an older answer, are ignored). */
void he_list_failed(struct he_list *l, const struct sockaddr *sa);

/* A connection to |sa| completed its handshake: it goes first from now
 * on, its family is preferred, and the failures are forgotten. */
void he_list_won(struct he_list *l, const struct sockaddr *sa);

/* Forgets the failures: the next round tries every address again. */
void he_list_retry(struct he_list *l);

/* Families present in the list (HE_FAM_*). */
unsigned he_list_families(const struct he_list *l);

/* HE_FAM_V4, HE_FAM_V6, or 0 for another family. */
unsigned he_family_bit(int family);

/* ms to wait for an answer to an attempt before the next address races
 * it: twice the path's smoothed RTT |srtt_ms| (0: unknown, then
 * JVPN_HE_ATTEMPT_DELAY_MS), within JVPN_HE_ATTEMPT_DELAY_MIN_MS and
 * JVPN_HE_ATTEMPT_DELAY_MAX_MS (RFC 8305 5). */
unsigned he_attempt_delay_ms(unsigned srtt_ms);

#endif /* SRC_HAPPY_EYEBALLS_H */
