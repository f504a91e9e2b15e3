/* Unit tests for src/b64: both forms against RFC 4648's vectors, and every
 * way a decoder must refuse a text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jvpn/errors.h"
#include "src/b64.h"

#define N_FORMS 2
static const enum jvpn_b64_form forms[N_FORMS] = {JVPN_B64_STD, JVPN_B64_URL};

/* RFC 4648 section 10; the URL form is the same text without its '='
 * (section 5 differs only in characters 62 and 63, none of which appear
 * here: see test_alphabet_differences). */
static const struct {
  const char *in, *std, *url;
} rfc_vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define N_RFC (sizeof(rfc_vectors) / sizeof(rfc_vectors[0]))

static int decode(const char *s, size_t n, enum jvpn_b64_form form) {
  uint8_t out[64];

  assert_true(n <= sizeof(out));
  return jvpn_b64_decode(s, strlen(s), out, n, form);
}

static void test_rfc_encode(void **state) {
  char out[16];
  size_t i, n, len;

  (void)state;
  for (i = 0; i < N_RFC; i++) {
    n = strlen(rfc_vectors[i].in);
    /* the encoder writes exactly its length: no NUL, nothing past it */
    memset(out, '#', sizeof(out));
    len = jvpn_b64_encode((const uint8_t *)rfc_vectors[i].in, n, out,
                          JVPN_B64_STD);
    assert_int_equal(len, strlen(rfc_vectors[i].std));
    assert_int_equal(len, jvpn_b64_len(n, JVPN_B64_STD));
    assert_memory_equal(out, rfc_vectors[i].std, len);
    assert_int_equal(out[len], '#');

    memset(out, '#', sizeof(out));
    len = jvpn_b64_encode((const uint8_t *)rfc_vectors[i].in, n, out,
                          JVPN_B64_URL);
    assert_int_equal(len, strlen(rfc_vectors[i].url));
    assert_int_equal(len, jvpn_b64_len(n, JVPN_B64_URL));
    assert_memory_equal(out, rfc_vectors[i].url, len);
    assert_int_equal(out[len], '#');
  }
}

static void test_rfc_decode(void **state) {
  uint8_t out[16];
  size_t i, n;

  (void)state;
  for (i = 0; i < N_RFC; i++) {
    n = strlen(rfc_vectors[i].in);
    memset(out, 0, sizeof(out));
    assert_int_equal(jvpn_b64_decode(rfc_vectors[i].std,
                                     strlen(rfc_vectors[i].std), out, n,
                                     JVPN_B64_STD),
                     0);
    assert_memory_equal(out, rfc_vectors[i].in, n);
    memset(out, 0, sizeof(out));
    assert_int_equal(jvpn_b64_decode(rfc_vectors[i].url,
                                     strlen(rfc_vectors[i].url), out, n,
                                     JVPN_B64_URL),
                     0);
    assert_memory_equal(out, rfc_vectors[i].in, n);
  }
}

/* Values 62 and 63 are where the forms differ; each refuses the other's. */
static void test_alphabet_differences(void **state) {
  static const uint8_t all62[3] = {0xfb, 0xef, 0xbe}; /* 62 62 62 62 */
  static const uint8_t all63[3] = {0xff, 0xff, 0xff}; /* 63 63 63 63 */
  static const uint8_t tail[2] = {0xfb, 0xff};        /* 62 63 60 */
  char out[8];
  uint8_t back[3];

  (void)state;
  assert_int_equal(jvpn_b64_encode(all62, 3, out, JVPN_B64_STD), 4);
  assert_memory_equal(out, "++++", 4);
  assert_int_equal(jvpn_b64_encode(all62, 3, out, JVPN_B64_URL), 4);
  assert_memory_equal(out, "----", 4);
  assert_int_equal(jvpn_b64_encode(all63, 3, out, JVPN_B64_STD), 4);
  assert_memory_equal(out, "////", 4);
  assert_int_equal(jvpn_b64_encode(all63, 3, out, JVPN_B64_URL), 4);
  assert_memory_equal(out, "____", 4);
  assert_int_equal(jvpn_b64_encode(tail, 2, out, JVPN_B64_STD), 4);
  assert_memory_equal(out, "+/8=", 4);
  assert_int_equal(jvpn_b64_encode(tail, 2, out, JVPN_B64_URL), 3);
  assert_memory_equal(out, "-_8", 3);

  assert_int_equal(jvpn_b64_decode("+/8=", 4, back, 2, JVPN_B64_STD), 0);
  assert_memory_equal(back, tail, 2);
  assert_int_equal(jvpn_b64_decode("-_8", 3, back, 2, JVPN_B64_URL), 0);
  assert_memory_equal(back, tail, 2);
  assert_int_equal(decode("-_8=", 2, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("+_8=", 2, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("-/8=", 2, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("+/8", 2, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("+_8", 2, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("-/8", 2, JVPN_B64_URL), JVPN_ERR_MALFORMED);
}

/* Every byte value in every data position: exactly the form's 64
 * characters are accepted. */
static void test_every_byte(void **state) {
  static const char *const alphabets[N_FORMS] = {
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"};
  char text[4];
  uint8_t out[3];
  size_t f, pos;
  int c;

  (void)state;
  for (f = 0; f < N_FORMS; f++) {
    for (pos = 0; pos < 4; pos++) {
      for (c = 0; c < 256; c++) {
        const char *hit = c != 0 ? strchr(alphabets[f], c) : NULL;
        int rv;

        memcpy(text, "AAAA", 4);
        text[pos] = (char)c;
        rv = jvpn_b64_decode(text, 4, out, 3, forms[f]);
        if (hit != NULL) {
          assert_int_equal(rv, 0);
          /* the character's value lands in the right six bits */
          assert_int_equal(
              (out[0] << 16 | out[1] << 8 | out[2]) >> (18 - 6 * pos) & 0x3f,
              hit - alphabets[f]);
        } else {
          assert_int_equal(rv, JVPN_ERR_MALFORMED);
        }
      }
    }
  }
}

/* The length must be the encoder's for the expected byte count. */
static void test_rejects_length(void **state) {
  uint8_t out[8];

  (void)state;
  /* one character short or long, in both forms */
  assert_int_equal(decode("Zm9vYg=", 4, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm9vYg===", 4, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm9vY", 4, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm9vYgA", 4, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  /* a valid text of another byte count */
  assert_int_equal(decode("Zm9vYmE=", 4, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm9vYmE", 4, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  /* nothing is not the encoding of something, and vice versa */
  assert_int_equal(decode("", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("", 1, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("====", 0, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("AA", 0, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  /* the length given, not a NUL, ends the text: a NUL inside is a byte */
  assert_int_equal(jvpn_b64_decode("Zm8\0", 4, out, 2, JVPN_B64_STD),
                   JVPN_ERR_MALFORMED);
  assert_int_equal(jvpn_b64_decode("Zm9vY\0", 6, out, 4, JVPN_B64_URL),
                   JVPN_ERR_MALFORMED);
  /* and a NUL-free prefix of a longer buffer decodes on its own */
  assert_int_equal(jvpn_b64_decode("Zm9vYmFy", 4, out, 3, JVPN_B64_URL), 0);
  assert_memory_equal(out, "foo", 3);
}

static void test_rejects_padding(void **state) {
  (void)state;
  /* missing: the URL text in the standard form */
  assert_int_equal(decode("Zg", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm8", 2, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  /* present: the standard text in the URL form */
  assert_int_equal(decode("Zg==", 1, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm8=", 2, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zg=", 1, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  /* too little or too much of it in the right length */
  assert_int_equal(decode("ZgA=", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zg=A", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm==", 2, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Z===", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  /* padding where data belongs, or a full group of it */
  assert_int_equal(decode("Zm9v====", 3, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Z=9v", 3, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zm9=", 3, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("=m9v", 3, JVPN_B64_URL), JVPN_ERR_MALFORMED);
  /* something else in the padding's place */
  assert_int_equal(decode("Zg.=", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
  assert_int_equal(decode("Zg= ", 1, JVPN_B64_STD), JVPN_ERR_MALFORMED);
}

/* The bits the last character carries past the data must be zero, so
 * "Zg" is the one spelling of "f": of the 64 characters that may follow
 * 'Z' for one byte only 4 leave its 4 spare bits clear, and 16 for two
 * bytes leave 2 bits clear. */
static void test_rejects_trailing_bits(void **state) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char text[4];
  uint8_t out[2];
  size_t f;
  int v, ok1, ok2;

  (void)state;
  for (f = 0; f < N_FORMS; f++) {
    ok1 = ok2 = 0;
    for (v = 0; v < 64; v++) {
      char c = alphabet[v];

      if (forms[f] == JVPN_B64_URL && v >= 62)
        c = v == 62 ? '-' : '_';
      /* the URL form reads only the characters before the '=' */
      memcpy(text, "ZA==", 4);
      text[1] = c;
      if (jvpn_b64_decode(text, jvpn_b64_len(1, forms[f]), out, 1, forms[f]) ==
          0) {
        assert_int_equal(v & 0xf, 0);
        ok1++;
      } else {
        assert_int_not_equal(v & 0xf, 0);
      }
      memcpy(text, "ZmA=", 4);
      text[2] = c;
      if (jvpn_b64_decode(text, jvpn_b64_len(2, forms[f]), out, 2, forms[f]) ==
          0) {
        assert_int_equal(v & 0x3, 0);
        ok2++;
      } else {
        assert_int_not_equal(v & 0x3, 0);
      }
    }
    assert_int_equal(ok1, 4);
    assert_int_equal(ok2, 16);
  }
  /* the spare bits of a whole group are none: every character counts */
  assert_int_equal(decode("Zm9w", 3, JVPN_B64_STD), 0);
}

static void test_round_trip(void **state) {
  uint8_t in[40], out[40];
  char text[64];
  size_t f, n, i, len;

  (void)state;
  for (f = 0; f < N_FORMS; f++) {
    for (n = 0; n <= sizeof(in); n++) {
      for (i = 0; i < n; i++)
        in[i] = (uint8_t)(i * 97 + n * 31 + f);
      len = jvpn_b64_encode(in, n, text, forms[f]);
      assert_int_equal(len, jvpn_b64_len(n, forms[f]));
      if (forms[f] == JVPN_B64_STD)
        assert_int_equal(len % 4, 0);
      else
        assert_int_not_equal(len % 4, 1); /* never a lone character */
      memset(out, 0, sizeof(out));
      assert_int_equal(jvpn_b64_decode(text, len, out, n, forms[f]), 0);
      assert_memory_equal(out, in, n);
    }
  }
  /* the sizes the callers use: pins, session IDs, proofs */
  assert_int_equal(jvpn_b64_len(32, JVPN_B64_STD), 44);
  assert_int_equal(jvpn_b64_len(16, JVPN_B64_URL), 22);
  assert_int_equal(jvpn_b64_len(32, JVPN_B64_URL), 43);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_encode),
      cmocka_unit_test(test_rfc_decode),
      cmocka_unit_test(test_alphabet_differences),
      cmocka_unit_test(test_every_byte),
      cmocka_unit_test(test_rejects_length),
      cmocka_unit_test(test_rejects_padding),
      cmocka_unit_test(test_rejects_trailing_bits),
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
