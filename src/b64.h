/*
 * src/b64: base64 (RFC 4648) in the two forms jvpn-quic writes: the
 * standard alphabet padded with '=' (section 4; "sha256//" pins) and the
 * URL-safe alphabet without padding (section 5; session IDs and proofs in
 * HTTP header values).
 *
 * Decoding is strict so that every value has exactly one spelling: the
 * length must be the one the encoder writes for the expected number of
 * bytes, only the form's own alphabet is accepted, the padding must be
 * exactly what the standard form needs (and absent in the URL form), and
 * the unused low bits of the last character must be zero. No whitespace or
 * line breaks are skipped. Lookups are not constant-time: public values
 * only.
 */
#ifndef SRC_B64_H
#define SRC_B64_H

#include <stddef.h>
#include <stdint.h>

enum jvpn_b64_form {
  JVPN_B64_STD, /* "+/", '=' pads to a multiple of 4 characters */
  JVPN_B64_URL, /* "-_", no padding */
};

/* Characters (no NUL) that the encoding of |n| bytes takes in |form|. */
size_t jvpn_b64_len(size_t n, enum jvpn_b64_form form);

/* Writes the jvpn_b64_len(n, form) characters that encode the |n| bytes at
 * |in| to |out|, without a NUL. Returns their count. */
size_t jvpn_b64_encode(const uint8_t *in, size_t n, char *out,
                       enum jvpn_b64_form form);

/* Decodes the |slen| characters at |s| (need not be NUL-terminated) into
 * exactly |n| bytes at |out|. Returns 0 or JVPN_ERR_MALFORMED (see above);
 * on error |out| may be partly written. */
int jvpn_b64_decode(const char *s, size_t slen, uint8_t *out, size_t n,
                    enum jvpn_b64_form form);

#endif /* SRC_B64_H */
