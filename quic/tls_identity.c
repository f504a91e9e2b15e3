/* jvpn-quic: keys, self-signed certificates and pins with GnuTLS. */
#include "quic/tls_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "quic/quic_conn_int.h"

#define CERT_SERIAL_LEN 16
#define CERT_BACKDATE_S 3600                   /* s: tolerates clock skew */
#define CERT_LIFETIME_S (3653L * 24 * 60 * 60) /* s: ten years */

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (errbuf == NULL || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

static int pin_of_crt(gnutls_x509_crt_t crt, uint8_t pin[JVPN_PIN_LEN]) {
  gnutls_pubkey_t pub;
  gnutls_datum_t spki = {NULL, 0};
  int rv = JVPN_ERR_TLS;

  if (gnutls_pubkey_init(&pub) < 0)
    return JVPN_ERR_TLS;
  if (gnutls_pubkey_import_x509(pub, crt, 0) < 0)
    goto out_pub;
  /* DER export of a public key is its SubjectPublicKeyInfo. */
  if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
    goto out_pub;
  if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, pin) == 0)
    rv = 0;
  gnutls_free(spki.data);
out_pub:
  gnutls_pubkey_deinit(pub);
  return rv;
}

int tls_identity_pin_der(const uint8_t *der, size_t len,
                         uint8_t pin[JVPN_PIN_LEN]) {
  gnutls_x509_crt_t crt;
  gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
  int rv;

  if (len > UINT_MAX)
    return JVPN_ERR_TLS;
  if (gnutls_x509_crt_init(&crt) < 0)
    return JVPN_ERR_TLS;
  rv = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0
           ? JVPN_ERR_TLS
           : pin_of_crt(crt, pin);
  gnutls_x509_crt_deinit(crt);
  return rv;
}

int tls_identity_pin_file(const char *cert_path, uint8_t pin[JVPN_PIN_LEN],
                          char *errbuf, size_t errlen) {
  gnutls_x509_crt_t crt;
  gnutls_datum_t d = {NULL, 0};
  int rv;

  if (gnutls_load_file(cert_path, &d) < 0) {
    seterr(errbuf, errlen, "cannot read %s: %s", cert_path, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  if (gnutls_x509_crt_init(&crt) < 0) {
    gnutls_free(d.data);
    seterr(errbuf, errlen, "out of memory");
    return JVPN_ERR_TLS;
  }
  /* The first certificate of a PEM file (a chain starts with the leaf);
   * DER is accepted too. */
  rv = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
  if (rv < 0)
    rv = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER);
  if (rv < 0) {
    seterr(errbuf, errlen, "%s: not a certificate: %s", cert_path,
           gnutls_strerror(rv));
    rv = JVPN_ERR_TLS;
  } else if ((rv = pin_of_crt(crt, pin)) < 0) {
    seterr(errbuf, errlen, "%s: cannot hash the public key", cert_path);
  }
  gnutls_x509_crt_deinit(crt);
  gnutls_free(d.data);
  return rv;
}

/* Builds and self-signs the certificate for |key|. Returns a GnuTLS code
 * and names the failing step in |*what|. */
static int make_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                     const char *name, const char **what) {
  uint8_t serial[CERT_SERIAL_LEN], keyid[64];
  size_t keyid_len = sizeof(keyid);
  time_t now = time(NULL);
  unsigned namelen = (unsigned)strlen(name);
  int rv;

  *what = "random serial";
  if ((rv = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
    return rv;
  /* DER integers are signed: keep it positive and exactly 16 bytes. */
  serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40);

  *what = "certificate fields";
  rv = gnutls_x509_crt_set_version(crt, 3);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
  if (rv >= 0)
    rv = gnutls_x509_crt_set_activation_time(crt, now - CERT_BACKDATE_S);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_expiration_time(crt, now + CERT_LIFETIME_S);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                       name, namelen);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_key(crt, key);
  if (rv < 0)
    return rv;

  *what = "certificate extensions";
  rv = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
                                              namelen, GNUTLS_FSAN_SET);
  if (rv >= 0)
    rv = gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len);
  if (rv >= 0)
    rv = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len);
  if (rv < 0)
    return rv;

  *what = "self-signature";
  return gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes |d| to the open |fd| durably and closes it. */
static int finish_file(int fd, const gnutls_datum_t *d) {
  int saved;

  if (write_all(fd, d->data, d->size) < 0 || fsync(fd) < 0) {
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return close(fd);
}

int tls_identity_generate(const char *dir, const char *name,
                          uint8_t pin[JVPN_PIN_LEN], char *errbuf,
                          size_t errlen) {
  char key_path[PATH_MAX], cert_path[PATH_MAX];
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  gnutls_datum_t key_pem = {NULL, 0}, cert_pem = {NULL, 0};
  const char *what = "key generation";
  int key_fd, cert_fd, rv, gtls;

  if ((size_t)snprintf(key_path, sizeof(key_path), "%s/key.pem", dir) >=
          sizeof(key_path) ||
      (size_t)snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir) >=
          sizeof(cert_path)) {
    seterr(errbuf, errlen, "%s: path too long", dir);
    errno = ENAMETOOLONG;
    return JVPN_ERR_SYSTEM;
  }
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
    seterr(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  /* Claiming the key file first refuses an overwrite before any work and
   * closes the race with a second genkey on the same directory. */
  key_fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (key_fd < 0) {
    if (errno == EEXIST) {
      seterr(errbuf, errlen, "%s exists; refusing to overwrite a key",
             key_path);
      return JVPN_ERR_EXISTS;
    }
    seterr(errbuf, errlen, "cannot create %s: %s", key_path, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }

  rv = JVPN_ERR_TLS;
  if (gnutls_x509_privkey_init(&key) < 0)
    goto fail_key_fd;
  if (gnutls_x509_crt_init(&crt) < 0)
    goto fail_key;
  gtls = gnutls_x509_privkey_generate2(
      key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
      NULL, 0);
  if (gtls >= 0)
    gtls = make_cert(crt, key, name, &what);
  if (gtls >= 0) {
    what = "PEM export";
    gtls = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                             GNUTLS_PKCS_PLAIN, &key_pem);
  }
  if (gtls >= 0)
    gtls = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem);
  if (gtls < 0) {
    seterr(errbuf, errlen, "%s failed: %s", what, gnutls_strerror(gtls));
    goto fail_crt;
  }
  if (pin_of_crt(crt, pin) < 0) {
    seterr(errbuf, errlen, "cannot hash the public key");
    goto fail_crt;
  }

  rv = JVPN_ERR_SYSTEM;
  if (finish_file(key_fd, &key_pem) < 0) {
    key_fd = -1;
    seterr(errbuf, errlen, "cannot write %s: %s", key_path, strerror(errno));
    goto fail_crt;
  }
  key_fd = -1;
  /* A certificate left from an older key is stale: replace it. */
  cert_fd = open(cert_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (cert_fd < 0 || finish_file(cert_fd, &cert_pem) < 0) {
    seterr(errbuf, errlen, "cannot write %s: %s", cert_path, strerror(errno));
    (void)unlink(cert_path); /* best effort; the error is already set */
    goto fail_crt;
  }
  rv = 0;

fail_crt:
  gnutls_free(cert_pem.data);
  if (key_pem.data != NULL) {
    gnutls_memset(key_pem.data, 0, key_pem.size);
    gnutls_free(key_pem.data);
  }
  gnutls_x509_crt_deinit(crt);
fail_key:
  /* Wipes the key material before freeing it. */
  gnutls_x509_privkey_deinit(key);
fail_key_fd:
  if (key_fd >= 0)
    close(key_fd);
  /* Leave no half identity: a key without its certificate, or an empty
   * key file that would block the next attempt. */
  if (rv < 0)
    (void)unlink(key_path);
  return rv;
}

int tls_identity_global_init(void) {
  return gnutls_global_init() < 0 ? JVPN_ERR_TLS : 0;
}

void tls_identity_global_deinit(void) { gnutls_global_deinit(); }

int tls_identity_cred_load(struct quic_cred **cred, const char *cert_file,
                           const char *key_file, char *errbuf,
                           size_t errlen) {
  struct quic_cred *c = calloc(1, sizeof(*c));
  int rv;

  *cred = NULL;
  if (c == NULL || gnutls_certificate_allocate_credentials(&c->gcred) != 0) {
    free(c);
    seterr(errbuf, errlen, "cannot allocate TLS credentials");
    return JVPN_ERR_TLS;
  }
  rv = gnutls_certificate_set_x509_key_file(c->gcred, cert_file, key_file,
                                            GNUTLS_X509_FMT_PEM);
  if (rv < 0) {
    seterr(errbuf, errlen, "cannot load certificate %s with key %s: %s",
           cert_file, key_file, gnutls_strerror(rv));
    tls_identity_cred_del(c);
    return JVPN_ERR_TLS;
  }
  *cred = c;
  return 0;
}

int tls_identity_cred_new_empty(struct quic_cred **cred) {
  struct quic_cred *c = calloc(1, sizeof(*c));

  *cred = NULL;
  if (c == NULL || gnutls_certificate_allocate_credentials(&c->gcred) != 0) {
    free(c);
    return JVPN_ERR_TLS;
  }
  *cred = c;
  return 0;
}

int tls_identity_key_private(const char *key_file, char *errbuf,
                             size_t errlen) {
  struct stat st;

  if (stat(key_file, &st) != 0) {
    seterr(errbuf, errlen, "cannot read private key %s: %s", key_file,
           strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  if (!S_ISREG(st.st_mode)) {
    seterr(errbuf, errlen, "private key %s is not a regular file", key_file);
    return JVPN_ERR_DENIED;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    seterr(errbuf, errlen,
           "private key %s is accessible by group or others (mode %04o); "
           "refusing it: chmod 600 %s",
           key_file, (unsigned)(st.st_mode & 07777), key_file);
    return JVPN_ERR_DENIED;
  }
  return 0;
}

void tls_identity_cred_del(struct quic_cred *cred) {
  if (cred == NULL)
    return;
  if (cred->gcred)
    gnutls_certificate_free_credentials(cred->gcred);
  free(cred);
}

int tls_identity_derive_secret(const char *key_file, const char *label,
                               uint8_t out[32]) {
  gnutls_datum_t key = {NULL, 0};
  int rv;

  if (gnutls_load_file(key_file, &key) < 0)
    return JVPN_ERR_SYSTEM;
  rv = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data, key.size, label,
                        strlen(label), out);
  gnutls_memset(key.data, 0, key.size);
  gnutls_free(key.data);
  return rv == 0 ? 0 : JVPN_ERR_TLS;
}

int tls_identity_random(void *buf, size_t len) {
  return gnutls_rnd(GNUTLS_RND_RANDOM, buf, len) == 0 ? 0 : JVPN_ERR_TLS;
}
