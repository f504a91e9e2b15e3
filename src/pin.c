/* jvpn-quic: SPKI SHA-256 pins as text. */
#include "src/pin.h"

#include <string.h>

#include "jvpn/errors.h"

/* 32 bytes are ten 3-byte groups (40 chars) and a 2-byte tail (3 chars and
 * one '='). */
#define PIN_B64_LEN 44
#define PIN_PREFIX_LEN (sizeof(JVPN_PIN_PREFIX) - 1)

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode_pin(const uint8_t pin[JVPN_PIN_LEN],
                           char out[PIN_B64_LEN + 1]) {
  size_t i, o = 0;

  for (i = 0; i + 3 <= JVPN_PIN_LEN; i += 3) {
    uint32_t v =
        (uint32_t)pin[i] << 16 | (uint32_t)pin[i + 1] << 8 | pin[i + 2];
    out[o++] = b64_alphabet[v >> 18 & 0x3f];
    out[o++] = b64_alphabet[v >> 12 & 0x3f];
    out[o++] = b64_alphabet[v >> 6 & 0x3f];
    out[o++] = b64_alphabet[v & 0x3f];
  }
  /* JVPN_PIN_LEN % 3 == 2 */
  {
    uint32_t v = (uint32_t)pin[i] << 16 | (uint32_t)pin[i + 1] << 8;
    out[o++] = b64_alphabet[v >> 18 & 0x3f];
    out[o++] = b64_alphabet[v >> 12 & 0x3f];
    out[o++] = b64_alphabet[v >> 6 & 0x3f];
    out[o++] = '=';
  }
  out[o] = '\0';
}

/* Returns the 6-bit value of |c|, or -1. Pins are public, so a table
 * lookup's timing does not matter here. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

void jvpn_pin_format(const uint8_t pin[JVPN_PIN_LEN],
                     char out[JVPN_PIN_STR_LEN]) {
  memcpy(out, JVPN_PIN_PREFIX, PIN_PREFIX_LEN);
  b64_encode_pin(pin, out + PIN_PREFIX_LEN);
}

int jvpn_pin_parse(const char *text, uint8_t pin[JVPN_PIN_LEN]) {
  uint8_t tmp[JVPN_PIN_LEN];
  int d[PIN_B64_LEN - 1];
  size_t i, o = 0;

  if (text == NULL)
    return JVPN_ERR_MALFORMED;
  if (strncmp(text, JVPN_PIN_PREFIX, PIN_PREFIX_LEN) == 0)
    text += PIN_PREFIX_LEN;
  if (strnlen(text, PIN_B64_LEN + 1) != PIN_B64_LEN ||
      text[PIN_B64_LEN - 1] != '=')
    return JVPN_ERR_MALFORMED;
  for (i = 0; i < PIN_B64_LEN - 1; i++) {
    d[i] = b64_value((unsigned char)text[i]);
    if (d[i] < 0)
      return JVPN_ERR_MALFORMED;
  }
  /* The last character before '=' carries 2 padding bits that must be
   * zero; otherwise two texts would name the same pin. */
  if (d[PIN_B64_LEN - 2] & 0x3)
    return JVPN_ERR_MALFORMED;
  for (i = 0; i + 4 <= PIN_B64_LEN - 1; i += 4) {
    uint32_t v = (uint32_t)d[i] << 18 | (uint32_t)d[i + 1] << 12 |
                 (uint32_t)d[i + 2] << 6 | (uint32_t)d[i + 3];
    tmp[o++] = (uint8_t)(v >> 16);
    tmp[o++] = (uint8_t)(v >> 8);
    tmp[o++] = (uint8_t)v;
  }
  {
    uint32_t v = (uint32_t)d[i] << 18 | (uint32_t)d[i + 1] << 12 |
                 (uint32_t)d[i + 2] << 6;
    tmp[o++] = (uint8_t)(v >> 16);
    tmp[o++] = (uint8_t)(v >> 8);
  }
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
  char full[PIN_B64_LEN + 1];

  b64_encode_pin(pin, full);
  memcpy(out, full, 8);
  out[8] = '\0';
}
