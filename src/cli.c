/* jvpn-quic: command-line helpers of the subcommands. */
#include "src/cli.h"

#include <stdio.h>

int cli_usage_error(const char *usage, const char *why, const char *arg) {
  if (why != NULL)
    fprintf(stderr, "jvpn-quic: %s%s%s\n", why, arg ? ": " : "",
            arg ? arg : "");
  fputs(usage, stderr);
  return 2;
}
