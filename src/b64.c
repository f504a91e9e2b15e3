/* jvpn-quic: base64, standard padded and URL-safe unpadded, decoded
 * strictly. */
#include "src/b64.h"

#include "jvpn/errors.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Characters that carry bits: ceil(4n / 3), written so that it cannot
 * overflow before the result does. */
static size_t data_chars(size_t n) {
  return n / 3 * 4 + (n % 3 * 4 + 2) / 3;
}

size_t jvpn_b64_len(size_t n, enum jvpn_b64_form form) {
  if (form == JVPN_B64_STD)
    return (n / 3 + (n % 3 != 0)) * 4;
  return data_chars(n);
}

size_t jvpn_b64_encode(const uint8_t *in, size_t n, char *out,
                       enum jvpn_b64_form form) {
  const char *alphabet = form == JVPN_B64_STD ? std_alphabet : url_alphabet;
  uint32_t acc = 0;
  unsigned bits = 0;
  size_t i, o = 0;

  for (i = 0; i < n; i++) {
    acc = acc << 8 | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = alphabet[acc >> bits & 0x3f];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0)
    out[o++] = alphabet[acc << (6 - bits) & 0x3f];
  if (form == JVPN_B64_STD)
    while (o % 4 != 0)
      out[o++] = '=';
  return o;
}

/* Returns the 6-bit value of |c| in |form|'s alphabet, or -1: the other
 * form's two characters are as wrong as any stray byte. */
static int b64_value(unsigned char c, enum jvpn_b64_form form) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (form == JVPN_B64_STD ? '+' : '-'))
    return 62;
  if (c == (form == JVPN_B64_STD ? '/' : '_'))
    return 63;
  return -1;
}

int jvpn_b64_decode(const char *s, size_t slen, uint8_t *out, size_t n,
                    enum jvpn_b64_form form) {
  size_t data = data_chars(n), i, o = 0;
  uint32_t acc = 0;
  unsigned bits = 0;

  /* |n| fixes the whole shape: how many characters carry bits and how
   * many '=' follow them. */
  if (slen != jvpn_b64_len(n, form))
    return JVPN_ERR_MALFORMED;
  for (i = data; i < slen; i++)
    if (s[i] != '=')
      return JVPN_ERR_MALFORMED;
  for (i = 0; i < data; i++) {
    int v = b64_value((unsigned char)s[i], form);

    if (v < 0)
      return JVPN_ERR_MALFORMED;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* Nonzero leftover bits would give a second spelling of the value. */
  if (acc != 0)
    return JVPN_ERR_MALFORMED;
  return 0;
}
