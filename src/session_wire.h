/*
 * jvpn-quic: session header fields on the CONNECT-IP request and response
 * (ARCHITECTURE 4), parsed from untrusted bytes.
 *
 * Birth response:
 *   jvpn-session: <id>
 * Reattach, standby or activate request:
 *   jvpn-attach: v=1; sid=<id>; n=<nonce>; r=<role>; p=<proof>
 *
 * <id> is the 16-byte session ID and <proof> the 32-byte proof, both in
 * base64url (RFC 4648 section 5) without padding: 22 and 43 characters.
 * Trailing bits of the last character must be zero, so every value has one
 * spelling. <nonce> is decimal, 1..2^64-1, without leading zeros. <role> is
 * "reattach", "standby" or "activate". Parameters come in any order, each
 * exactly once; spaces or tabs may surround ';' and '=' and the whole
 * value; anything else (unknown or repeated parameters, other versions,
 * empty parameters) is malformed, so a typo fails closed.
 */
#ifndef JVPN_SESSION_WIRE_H
#define JVPN_SESSION_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "jvpn/proof.h"

#define JVPN_WIRE_SESSION_HEADER "jvpn-session"
/* The session's attach version (src/session_table.h check 8): the server
 * names it in every accepting response, the client repeats it on its next
 * attach request, so of two concurrent reattaches exactly one wins. */
#define JVPN_WIRE_VERSION_HEADER "jvpn-version"
#define JVPN_WIRE_VERSION_STR_LEN 21 /* 20 digits and a NUL */
#define JVPN_WIRE_ATTACH_HEADER "jvpn-attach"
#define JVPN_WIRE_ATTACH_MAX 256      /* bytes: longest jvpn-attach value */
#define JVPN_WIRE_SESSION_ID_CHARS 22 /* base64url of 16 bytes */
#define JVPN_WIRE_PROOF_CHARS 43      /* base64url of 32 bytes */
/* bytes, NUL included: the canonical form is at most 114 characters
 * ("v=1; sid=" 22, "; n=" 20 digits, "; r=reattach", "; p=" 43). */
#define JVPN_WIRE_ATTACH_STR_LEN 128
#define JVPN_WIRE_SESSION_ID_STR_LEN (JVPN_WIRE_SESSION_ID_CHARS + 1)

struct jvpn_wire_attach {
  uint8_t session_id[JVPN_SESSION_ID_LEN];
  uint64_t nonce; /* never 0 */
  enum jvpn_proof_role role;
  uint8_t proof[JVPN_PROOF_LEN];
};

/* Parses a jvpn-attach value of |len| bytes (need not be NUL-terminated).
 * Returns 0 and fills |out|, JVPN_ERR_OVERSIZE if |len| exceeds
 * JVPN_WIRE_ATTACH_MAX, or JVPN_ERR_MALFORMED. |out| is undefined on
 * error. */
int jvpn_wire_parse_attach(const char *v, size_t len,
                           struct jvpn_wire_attach *out);

/* Writes the canonical value "v=1; sid=..; n=..; r=..; p=.." and a NUL
 * into |buf| (JVPN_WIRE_ATTACH_STR_LEN always suffices). Returns the
 * length without the NUL, JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for nonce 0
 * or an unknown role. */
long jvpn_wire_format_attach(char *buf, size_t len,
                             const struct jvpn_wire_attach *a);

/* Parses a jvpn-session value. Returns 0 or JVPN_ERR_MALFORMED. */
int jvpn_wire_parse_session_id(const char *v, size_t len,
                               uint8_t id[JVPN_SESSION_ID_LEN]);

/* Writes the 22 characters and a NUL. Returns 22 or JVPN_ERR_NOSPACE. */
long jvpn_wire_format_session_id(char *buf, size_t len,
                                 const uint8_t id[JVPN_SESSION_ID_LEN]);

/* Parses a jvpn-version value: decimal 0..2^64-1, no leading zeros,
 * optional spaces or tabs around it. Returns 0 or JVPN_ERR_MALFORMED. */
int jvpn_wire_parse_version(const char *v, size_t len, uint64_t *out);

/* Writes |version| in decimal and a NUL. Returns the length or
 * JVPN_ERR_NOSPACE. */
long jvpn_wire_format_version(char *buf, size_t len, uint64_t version);

/* The ACTIVATE and ACTIVATE_RESULT capsule values (docs/protocol.md 8):
 *   ACTIVATE:        nonce (varint) | attach version (varint) |
 *                    flags (varint) | proof (32)
 *   ACTIVATE_RESULT: status (varint) | attach version (varint)
 * Varints must be minimal and nothing may follow the last field, so each
 * value has one spelling. The nonce is nonzero; the status is 0
 * (accepted) or an HTTP-like refusal code, 100..599. */
#define JVPN_WIRE_ACTIVATE_MAX (8 + 8 + 1 + JVPN_PROOF_LEN) /* bytes */
/* ACTIVATE flags: the client judged the active attachment dead, so this
 * is a failover, which the switch cooldown does not hold back (the switch
 * budget still applies). Other bits are malformed. */
#define JVPN_WIRE_ACTIVATE_FAILOVER 0x1
#define JVPN_WIRE_ACTIVATE_FLAGS JVPN_WIRE_ACTIVATE_FAILOVER
#define JVPN_WIRE_ACTIVATE_RESULT_MAX 16                /* bytes */

struct jvpn_wire_activate {
  uint64_t nonce; /* never 0 */
  uint64_t version;
  uint64_t flags; /* JVPN_WIRE_ACTIVATE_* */
  uint8_t proof[JVPN_PROOF_LEN];
};

struct jvpn_wire_activate_result {
  uint64_t status; /* 0 = accepted */
  uint64_t version;
};

/* Returns 0 and fills |out|, or JVPN_ERR_MALFORMED. */
int jvpn_wire_decode_activate(const uint8_t *v, size_t len,
                              struct jvpn_wire_activate *out);
/* Returns the length written, JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for
 * nonce 0 or a field beyond JVPN_VARINT_MAX. */
long jvpn_wire_encode_activate(uint8_t *buf, size_t len,
                               const struct jvpn_wire_activate *a);

/* Returns 0 and fills |out|, or JVPN_ERR_MALFORMED. */
int jvpn_wire_decode_activate_result(const uint8_t *v, size_t len,
                                     struct jvpn_wire_activate_result *out);
/* Returns the length written, JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for a
 * status outside 0 and 100..599 or a version beyond JVPN_VARINT_MAX. */
long jvpn_wire_encode_activate_result(
    uint8_t *buf, size_t len, const struct jvpn_wire_activate_result *r);

/* The KEEPALIVE and KEEPALIVE_RESULT capsule values (docs/protocol.md 4.2,
 * docs/decisions.md D47):
 *   KEEPALIVE:        longest interval wanted, ms (varint) | IP version
 *                     (1 byte, 4 or 6) | the client's address as it sends
 *                     from (4 or 16 bytes) | its UDP port (2 bytes)
 *   KEEPALIVE_RESULT: the interval both use, ms (varint)
 * Intervals lie within JVPN_QUIC_KEEPALIVE_MS..JVPN_QUIC_IDLE_MAX_MS /
 * (JVPN_QUIC_IDLE_KEEPALIVES + 1), varints are minimal and nothing follows
 * the last field. */
#define JVPN_WIRE_KEEPALIVE_MAX (4 + 1 + 16 + 2) /* bytes */
#define JVPN_WIRE_KEEPALIVE_RESULT_MAX 4        /* bytes */

struct jvpn_wire_keepalive {
  uint64_t want_ms;
  struct sockaddr_storage from; /* AF_INET or AF_INET6, with the port */
};

/* Returns 0 and fills |out|, or JVPN_ERR_MALFORMED. */
int jvpn_wire_decode_keepalive(const uint8_t *v, size_t len,
                               struct jvpn_wire_keepalive *out);
/* Returns the length written, JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for an
 * interval out of range or an address of another family. */
long jvpn_wire_encode_keepalive(uint8_t *buf, size_t len,
                                const struct jvpn_wire_keepalive *k);
/* Returns 0 and stores the interval, or JVPN_ERR_MALFORMED. */
int jvpn_wire_decode_keepalive_result(const uint8_t *v, size_t len,
                                      uint64_t *interval_ms);
/* Returns the length written, JVPN_ERR_NOSPACE or JVPN_ERR_INVAL. */
long jvpn_wire_encode_keepalive_result(uint8_t *buf, size_t len,
                                       uint64_t interval_ms);

/* The NAT_REFRESH capsule value (docs/protocol.md 4.2, docs/decisions.md
 * D52), the server's offer after a KEEPALIVE_RESULT granted for a NAT:
 *   the QUIC keep-alive interval to use instead, ms (varint) | the NAT
 *   refresh interval, ms (varint)
 * Both lie within the KEEPALIVE intervals' range, the refresh is shorter
 * than the keep-alive, varints are minimal and nothing follows. */
#define JVPN_WIRE_NAT_REFRESH_MAX (2 * JVPN_WIRE_KEEPALIVE_RESULT_MAX)

struct jvpn_wire_nat_refresh {
  uint64_t keepalive_ms;
  uint64_t refresh_ms;
};

/* Returns 0 and fills |out|, or JVPN_ERR_MALFORMED. */
int jvpn_wire_decode_nat_refresh(const uint8_t *v, size_t len,
                                 struct jvpn_wire_nat_refresh *out);
/* Returns the length written, JVPN_ERR_NOSPACE, or JVPN_ERR_INVAL for
 * intervals the decoder would refuse. */
long jvpn_wire_encode_nat_refresh(uint8_t *buf, size_t len,
                                  const struct jvpn_wire_nat_refresh *r);

#endif /* JVPN_SESSION_WIRE_H */
