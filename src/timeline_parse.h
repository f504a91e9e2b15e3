/*
 * src/timeline_parse: times and session IDs as `jvpn-quic timeline`'s
 * command line and the audit log spell them.
 */
#ifndef SRC_TIMELINE_PARSE_H
#define SRC_TIMELINE_PARSE_H

#include <stdint.h>

/* Parses "2026-11-25T17:53:29.994Z" (RFC 3339: fraction optional, 'Z' or
 * an offset "+hh:mm", 't' and 'z' too) or a time relative to |now_ms|:
 * "-10m", "-90s", "-2h", "-1d" (also "now"). Returns 0 or
 * JVPN_ERR_MALFORMED. */
int tl_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/* The RFC 3339 form alone (the log's "ts"). */
int tl_parse_rfc3339(const char *s, int64_t *out_ms);

/* Normalises a --session argument to the lowercase hex prefix it names:
 * 22 base64url characters (status) decode to the full 32 hex digits;
 * 4 to 32 hex digits are a prefix. Returns 0 or JVPN_ERR_MALFORMED. */
int tl_session_filter(const char *arg, char hex_out[33]);

/* The base64url spelling (as status prints it) of a 32-digit lowercase
 * hex ID (as the log spells it). Returns 0 or JVPN_ERR_MALFORMED. */
int tl_session_b64(const char *hex, char b64[23]);

#endif /* SRC_TIMELINE_PARSE_H */
