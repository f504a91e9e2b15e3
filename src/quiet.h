/*
 * jvpn-quic: a quiet tunnel's keep-alive (docs/decisions.md D47).
 *
 * A tunnel that carried no IP packet for JVPN_QUIET_AFTER_MS keeps only
 * its NAT mapping and its liveness to care for, and a keep-alive a second
 * costs a server with 10,000 such clients half a core. Such a client asks
 * for a longer interval in a KEEPALIVE capsule naming the address it sends
 * from; the server compares it with the address it sees and grants what
 * the path between them allows (jvpn_quiet_grant). Both ends then use the
 * granted interval and time the connection out after
 * JVPN_QUIC_IDLE_KEEPALIVES of them; the client's next IP packet brings
 * its usual keep-alive back. Behind a NAT the server offers the open
 * path's keep-alive to a client that keeps the mapping with a one-byte
 * datagram at the NAT's interval instead (D52).
 *
 * struct jvpn_quiet is the client's side: it watches the tunnel's packet
 * counters and says when to ask. Pure: no clock, no I/O.
 */
#ifndef JVPN_QUIET_H
#define JVPN_QUIET_H

#include <stdint.h>
#include <sys/socket.h>

struct jvpn_quiet {
  uint64_t packets;    /* the tunnel's IP packets, both ways, when seen */
  uint64_t since_ms;   /* when that count last changed */
  unsigned granted_ms; /* the interval in force; 0: the usual one */
  int asked;           /* a KEEPALIVE awaits its result */
  unsigned refresh_ms; /* a NAT refresh in force (D52): its interval */
};

/* An IP packet went through: the quiet period starts over, and a grant
 * in force ends. */
void jvpn_quiet_reset(struct jvpn_quiet *q, uint64_t packets,
                      uint64_t now_ms);

/* A new connection or path: a grant (made for the old path) ends, the
 * quiet period goes on (it is the tunnel's, not the connection's: a quiet
 * tunnel that reattached asks again at once). The first call starts it. */
void jvpn_quiet_new_path(struct jvpn_quiet *q, uint64_t packets,
                         uint64_t now_ms);

/* Looks at the tunnel's packet count at |now_ms|. Returns 1 when the
 * tunnel has been quiet for JVPN_QUIET_AFTER_MS and neither a grant nor a
 * request is outstanding: the caller sends KEEPALIVE and sets |asked|. */
int jvpn_quiet_due(struct jvpn_quiet *q, uint64_t packets, uint64_t now_ms);

/* The server's answer to a client that asks for at most |want_ms| and
 * says it sends from |said|, seen from |seen|: JVPN_QUIET_KEEPALIVE_OPEN_MS
 * when both are the same address and port, else (a NAT between)
 * JVPN_QUIET_KEEPALIVE_NAT_MS; never more than |want_ms|, never less than
 * JVPN_QUIC_KEEPALIVE_MS. */
unsigned jvpn_quiet_grant(uint64_t want_ms, const struct sockaddr *said,
                          const struct sockaddr *seen);

/* Writes the KEEPALIVE value asking for JVPN_QUIET_KEEPALIVE_OPEN_MS at
 * most, from |local| (the address the client sends from) into |buf|.
 * Returns its length or a JVPN_ERR_*. */
long jvpn_quiet_request(uint8_t *buf, size_t len, const struct sockaddr *local,
                        socklen_t local_len);

/* A KEEPALIVE_RESULT value arrived: returns the interval to use now
 * (recorded as granted), 0 when nothing was asked (an answer of the
 * past), or JVPN_ERR_MALFORMED. */
long jvpn_quiet_result(struct jvpn_quiet *q, const uint8_t *v, size_t len);

/* The server's offer to a client it granted |granted_ms| after it asked
 * for at most |want_ms| (D52): the QUIC keep-alive the client may use
 * while it refreshes its NAT mapping every |*refresh_ms| (never longer
 * than the grant) with a datagram the server's kernel drops; 0 when the
 * grant needs no refresh (an open path's, or all the client wanted). */
unsigned jvpn_quiet_refresh_offer(uint64_t want_ms, unsigned granted_ms,
                                  unsigned *refresh_ms);

/* A NAT_REFRESH value arrived: returns the keep-alive to use now and
 * records the refresh interval (never longer than the grant it refines),
 * 0 when no grant is in force (an offer of the past), or
 * JVPN_ERR_MALFORMED. */
long jvpn_quiet_nat_refresh(struct jvpn_quiet *q, const uint8_t *v,
                            size_t len);

/* The idle timeout that goes with keep-alive interval |keepalive_ms|. */
unsigned jvpn_quiet_idle_ms(unsigned keepalive_ms);

#endif /* JVPN_QUIET_H */
