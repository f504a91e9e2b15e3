/* jvpn-quic: SPKI SHA-256 pins as text. */
#include "src/pin.h"

#include <string.h>

#include "jvpn/errors.h"
#include "src/b64.h"

/* 32 bytes are ten 3-byte groups (40 chars) and a 2-byte tail (3 chars and
 * one '='). */
#define PIN_B64_LEN 44
#define PIN_PREFIX_LEN (sizeof(JVPN_PIN_PREFIX) - 1)

void jvpn_pin_format(const uint8_t pin[JVPN_PIN_LEN],
                     char out[JVPN_PIN_STR_LEN]) {
  char *b64 = out + PIN_PREFIX_LEN;

  memcpy(out, JVPN_PIN_PREFIX, PIN_PREFIX_LEN);
  b64[jvpn_b64_encode(pin, JVPN_PIN_LEN, b64, JVPN_B64_STD)] = '\0';
}

int jvpn_pin_parse(const char *text, uint8_t pin[JVPN_PIN_LEN]) {
  uint8_t tmp[JVPN_PIN_LEN];

  if (text == NULL)
    return JVPN_ERR_MALFORMED;
  if (strncmp(text, JVPN_PIN_PREFIX, PIN_PREFIX_LEN) == 0)
    text += PIN_PREFIX_LEN;
  /* strnlen: a text longer than a pin is refused without reading it all.
   * The decoder refuses nonzero padding bits, so a pin has one spelling. */
  if (jvpn_b64_decode(text, strnlen(text, PIN_B64_LEN + 1), tmp, JVPN_PIN_LEN,
                      JVPN_B64_STD) < 0)
    return JVPN_ERR_MALFORMED;
  memcpy(pin, tmp, JVPN_PIN_LEN);
  return 0;
}

int jvpn_pin_equal(const uint8_t a[JVPN_PIN_LEN],
                   const uint8_t b[JVPN_PIN_LEN]) {
  /* volatile keeps the compiler from turning the loop into an early-exit
   * memcmp. */
  volatile uint8_t diff = 0;
  size_t i;

  for (i = 0; i < JVPN_PIN_LEN; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

void jvpn_pin_short(const uint8_t pin[JVPN_PIN_LEN], char out[9]) {
  char full[PIN_B64_LEN];

  (void)jvpn_b64_encode(pin, JVPN_PIN_LEN, full, JVPN_B64_STD); /* fills it */
  memcpy(out, full, 8);
  out[8] = '\0';
}
