/* jvpn-quic: the "genkey" and "pin" subcommands.
 *
 * Both take argv with argv[0] naming the subcommand ("genkey", "pin"), as
 * main() passes it after the program name. */
#include "src/keygen.h"

#include <stdio.h>
#include <string.h>

#include "jvpn/errors.h"
#include "jvpn/proto.h"
#include "quic/tls_identity.h"
#include "src/cli.h"
#include "src/pin.h"

#define KEYGEN_DEFAULT_NAME "jvpn"
#define KEYGEN_NAME_MAX 64 /* bytes: X.520 ub-common-name */

static const char genkey_usage[] =
    "usage: jvpn-quic genkey [--name NAME] DIR\n";
static const char pin_usage[] = "usage: jvpn-quic pin CERT\n";

/* The name goes into the CN and a DNS subjectAltName, so it must be a
 * host name: letters, digits, '-' and '.'. */
static int name_ok(const char *name) {
  size_t n = strlen(name), i;

  if (n == 0 || n > KEYGEN_NAME_MAX)
    return 0;
  for (i = 0; i < n; i++) {
    char c = name[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

/* Takes argv[*i], which is none of the command's options: "--" ends the
 * options, another "-x" is unknown, and the first operand goes to
 * *operand while a second one is one too many. Returns 0 to go on (with
 * *i at argc once "--" has taken the rest), or the usage exit code. */
static int take_operand(int argc, char **argv, int *i, const char *usage,
                        const char **operand) {
  const char *a = argv[*i];

  if (strcmp(a, "--") == 0) {
    if (++*i < argc && *operand == NULL)
      *operand = argv[(*i)++];
    if (*i < argc)
      return cli_usage_error(usage, "unexpected argument", argv[*i]);
    return 0;
  }
  if (a[0] == '-' && a[1] != '\0')
    return cli_usage_error(usage, "unknown option", a);
  if (*operand != NULL)
    return cli_usage_error(usage, "unexpected argument", a);
  *operand = a;
  return 0;
}

static int print_pin(const uint8_t pin[JVPN_PIN_LEN]) {
  char text[JVPN_PIN_STR_LEN];

  jvpn_pin_format(pin, text);
  if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "jvpn-quic: cannot write to stdout\n");
    return 1;
  }
  return 0;
}

int jvpn_cmd_genkey(int argc, char **argv) {
  const char *name = KEYGEN_DEFAULT_NAME, *dir = NULL;
  uint8_t pin[JVPN_PIN_LEN];
  char err[512];
  int i, rv;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(genkey_usage, stdout);
      return 0;
    } else if (strcmp(a, "--name") == 0) {
      if (++i >= argc)
        return cli_usage_error(genkey_usage, "--name needs a value", NULL);
      name = argv[i];
    } else if (strncmp(a, "--name=", 7) == 0) {
      name = a + 7;
    } else if ((rv = take_operand(argc, argv, &i, genkey_usage, &dir)) != 0) {
      return rv;
    }
  }
  if (dir == NULL || dir[0] == '\0')
    return cli_usage_error(genkey_usage, "missing DIR", NULL);
  if (!name_ok(name))
    return cli_usage_error(genkey_usage,
                           "NAME must be a host name (letters, digits, '-', "
                           "'.'; at most 64)",
                           name);

  err[0] = '\0';
  rv = tls_identity_generate(dir, name, pin, err, sizeof(err));
  if (rv < 0) {
    fprintf(stderr, "jvpn-quic: genkey: %s\n",
            err[0] ? err : jvpn_strerror(rv));
    return 1;
  }
  fprintf(stderr,
          "jvpn-quic: wrote %s/key.pem (private, mode 0600) and "
          "%s/cert.pem (CN %s); the pin is on stdout\n",
          dir, dir, name);
  return print_pin(pin);
}

int jvpn_cmd_pin(int argc, char **argv) {
  const char *cert = NULL;
  uint8_t pin[JVPN_PIN_LEN];
  char err[512];
  int i, rv;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(pin_usage, stdout);
      return 0;
    } else if ((rv = take_operand(argc, argv, &i, pin_usage, &cert)) != 0) {
      return rv;
    }
  }
  if (cert == NULL || cert[0] == '\0')
    return cli_usage_error(pin_usage, "missing CERT", NULL);

  err[0] = '\0';
  rv = tls_identity_pin_file(cert, pin, err, sizeof(err));
  if (rv < 0) {
    fprintf(stderr, "jvpn-quic: pin: %s\n", err[0] ? err : jvpn_strerror(rv));
    return 1;
  }
  return print_pin(pin);
}
