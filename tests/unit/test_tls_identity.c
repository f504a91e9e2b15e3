/* tests/unit/test_tls_identity: keys, certificates, pins, credentials and
 * secrets derived from the key file (quic/tls_identity). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jvpn/errors.h"
#include "quic/tls_identity.h"

static char dir[64], key[96], cert[96];

static int setup(void **state) {
  uint8_t pin[JVPN_PIN_LEN];
  char err[256];

  (void)state;
  if (tls_identity_global_init() != 0)
    return -1;
  snprintf(dir, sizeof(dir), "/tmp/test_tls_identity.XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  strcat(dir, "/id");
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  return tls_identity_generate(dir, "test", pin, err, sizeof(err));
}

static int teardown(void **state) {
  char *base = strrchr(dir, '/');

  (void)state;
  (void)unlink(key);
  (void)unlink(cert);
  (void)rmdir(dir);
  *base = '\0';
  (void)rmdir(dir);
  tls_identity_global_deinit();
  return 0;
}

/* The pin printed at generation is the certificate file's pin, and an
 * existing key is never overwritten. */
static void test_generate_and_pin(void **state) {
  uint8_t pin[JVPN_PIN_LEN], again[JVPN_PIN_LEN];
  char err[256];
  struct stat st;

  (void)state;
  assert_int_equal(tls_identity_pin_file(cert, pin, err, sizeof(err)), 0);
  assert_int_equal(tls_identity_generate(dir, "test", again, err,
                                         sizeof(err)),
                   JVPN_ERR_EXISTS);
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

/* A key file that group or others may read is refused, as ssh does; a
 * missing one is an error with its name. */
static void test_key_private(void **state) {
  struct quic_cred *cred = NULL;
  char err[320];

  (void)state;
  assert_int_equal(tls_identity_key_private(key, err, sizeof(err)), 0);
  assert_int_equal(tls_identity_cred_load(&cred, cert, key, err, sizeof(err)),
                   0);
  assert_non_null(cred);
  tls_identity_cred_del(cred);
  assert_int_equal(chmod(key, 0640), 0);
  assert_int_equal(tls_identity_key_private(key, err, sizeof(err)),
                   JVPN_ERR_DENIED);
  assert_non_null(strstr(err, "chmod 600"));
  assert_int_equal(chmod(key, 0604), 0);
  assert_int_equal(tls_identity_key_private(key, err, sizeof(err)),
                   JVPN_ERR_DENIED);
  assert_int_equal(chmod(key, 0600), 0);
  assert_int_equal(tls_identity_key_private("/nonexistent/key.pem", err,
                                            sizeof(err)),
                   JVPN_ERR_SYSTEM);
  assert_int_equal(tls_identity_key_private("/tmp", err, sizeof(err)),
                   JVPN_ERR_DENIED);
  tls_identity_cred_del(NULL);
}

/* Secrets from the key file: the same for the same label (they survive a
 * restart), different for another label. */
static void test_derive_secret(void **state) {
  uint8_t a[32], b[32], c[32];

  (void)state;
  assert_int_equal(tls_identity_derive_secret(key, "label one", a), 0);
  assert_int_equal(tls_identity_derive_secret(key, "label one", b), 0);
  assert_int_equal(tls_identity_derive_secret(key, "label two", c), 0);
  assert_memory_equal(a, b, sizeof(a));
  assert_memory_not_equal(a, c, sizeof(a));
  assert_int_equal(tls_identity_derive_secret("/nonexistent", "x", a),
                   JVPN_ERR_SYSTEM);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generate_and_pin),
      cmocka_unit_test(test_key_private),
      cmocka_unit_test(test_derive_secret),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
