/* libFuzzer harness for src/store_record: the stored session record is
 * read from disk, so it is untrusted. Every input is decoded as it is,
 * then once more resealed (a valid tag over its own bytes, as if the
 * attacker held the server key) so that the checks after the tag are
 * reached too; whatever decodes must encode back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include "src/store_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[JVPN_STORE_KEY_LEN] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

static void decode_and_check(const uint8_t *in, size_t len) {
  struct jvpn_store_record r;
  enum jvpn_store_skip why;
  const char *detail = NULL;
  uint8_t out[STORE_RECORD_MAX];
  long n;

  if (store_record_decode(in, len, key, &r, &why, &detail) != 0) {
    if (detail == NULL || (unsigned)why >= JVPN_STORE_SKIP_COUNT)
      abort();
    return;
  }
  n = store_record_encode(out, sizeof(out), &r, key,
                          in + len - STORE_RECORD_TAG_LEN - JVPN_SECRET_LEN -
                              STORE_RECORD_NONCE_LEN);
  if (n < 0 || (size_t)n != len || memcmp(out, in, len) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t buf[STORE_RECORD_MAX];
  size_t aad;

  decode_and_check(data, size);
  if (size < STORE_RECORD_MIN || size > STORE_RECORD_MAX)
    return 0;
  memcpy(buf, data, size);
  aad = size - STORE_RECORD_NONCE_LEN - JVPN_SECRET_LEN - STORE_RECORD_TAG_LEN;
  if (wc_ChaCha20Poly1305_Encrypt(key, buf + aad, buf, (word32)aad,
                                  data + aad + STORE_RECORD_NONCE_LEN,
                                  JVPN_SECRET_LEN,
                                  buf + aad + STORE_RECORD_NONCE_LEN,
                                  buf + size - STORE_RECORD_TAG_LEN) != 0)
    return 0;
  decode_and_check(buf, size);
  return 0;
}
