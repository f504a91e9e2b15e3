/*
 * src/pin: SPKI SHA-256 pins as text ("sha256//" + base64 of 32 bytes,
 * the form curl's --pinnedpubkey uses). Pure; no TLS library.
 */
#ifndef SRC_PIN_H
#define SRC_PIN_H

#include <stddef.h>
#include <stdint.h>

#include "jvpn/proto.h"

/* Writes the text form of |pin| (NUL-terminated) into |out|. */
void jvpn_pin_format(const uint8_t pin[JVPN_PIN_LEN],
                     char out[JVPN_PIN_STR_LEN]);

/* Parses a pin. Accepts "sha256//BASE64" and bare BASE64 (44 chars, with
 * padding). Returns 0 or JVPN_ERR_MALFORMED. */
int jvpn_pin_parse(const char *text, uint8_t pin[JVPN_PIN_LEN]);

/* Constant-time comparison; returns 1 if equal. */
int jvpn_pin_equal(const uint8_t a[JVPN_PIN_LEN],
                   const uint8_t b[JVPN_PIN_LEN]);

/* Short form for log prefixes: the first 8 base64 characters. */
void jvpn_pin_short(const uint8_t pin[JVPN_PIN_LEN], char out[9]);

#endif /* SRC_PIN_H */
