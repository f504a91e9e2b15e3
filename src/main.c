/*
 * jvpn-quic: one program, several subcommands.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <config.h> /* autoconf's, not src/config.h */
#include "quic/tls_identity.h"
#include "src/client.h"
#include "src/ctl_cmd.h"
#include "src/keygen.h"
#include "src/server.h"
#include "src/timeline_cmd.h"

static const char usage[] =
    "usage: jvpn-quic COMMAND [OPTIONS]\n"
    "\n"
    "A VPN that carries IP packets as HTTP Datagrams over QUIC (MASQUE\n"
    "CONNECT-IP on HTTP/3), with WireGuard-style key pins.\n"
    "\n"
    "commands:\n"
    "  server -c FILE [-v|-q]   run a server (see docs/config.md)\n"
    "  client -c FILE [-v|-q]   run a client\n"
    "  client --down [--keep-kill-switch] -c FILE\n"
    "                           remove a stopped client's kill switch (unless\n"
    "                           kept), full-tunnel rules, resolv.conf lines\n"
    "  genkey [--name NAME] DIR write DIR/key.pem and DIR/cert.pem, print the pin\n"
    "  pin CERT                 print the pin of a certificate\n"
    "  status [--json] [-s SOCKET]  show a running server's or client's state\n"
    "  events -f FILE [-n N] [--follow]  print (and follow) the audit log\n"
    "  timeline [--session ID] [--since T] [--until T] AUDIT.jsonl -o FILE.svg\n"
    "                           draw the audit log's sessions as a picture\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file\n"
    "  -v, --verbose       more logging (repeat for trace)\n"
    "  -q, --quiet         less logging\n"
    "      --control PATH  control socket (default /run/jvpn-quic/ROLE.sock;\n"
    "                      'none' disables it)\n"
    "  -h, --help          this text\n"
    "      --version       print the version\n"
    "\n"
    "exit status: 0 success, 1 runtime failure, 2 usage or configuration "
    "error\n";

static int run_daemon(int argc, char **argv, int is_server) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"verbose", no_argument, NULL, 'v'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"control", required_argument, NULL, 'C'},
      {"down", no_argument, NULL, 'D'},
      {"keep-kill-switch", no_argument, NULL, 'K'},
      {NULL, 0, NULL, 0},
  };
  const char *config = NULL, *control = NULL;
  int verbosity = 0, ch, down = 0, keep_ks = 0;

  optind = 1;
  while ((ch = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case 'C': control = optarg; break;
    case 'D': down = 1; break;
    case 'K': keep_ks = 1; break;
    case 'v': verbosity++; break;
    case 'q': verbosity--; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return 2;
    }
  }
  if (config == NULL || optind != argc) {
    fprintf(stderr, "jvpn-quic %s: -c FILE is required%s\n", argv[0],
            optind != argc ? " (and takes no other arguments)" : "");
    return 2;
  }
  if (down && is_server) {
    fputs("jvpn-quic server: --down is a client option\n", stderr);
    return 2;
  }
  if (keep_ks && !down) {
    fputs("jvpn-quic: --keep-kill-switch goes with client --down\n", stderr);
    return 2;
  }
  if (down)
    return jvpn_client_down(config, keep_ks);
  return is_server ? jvpn_server_run(config, verbosity, control)
                   : jvpn_client_run(config, verbosity, control);
}

int main(int argc, char **argv) {
  const char *cmd;
  int rc;

  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("jvpn-quic %s\n", PACKAGE_VERSION);
    return 0;
  }
  /* A reader of the audit pipe or the control socket may go away; that is
   * an error to handle, never a reason to die. */
  signal(SIGPIPE, SIG_IGN);
  if (tls_identity_global_init() != 0) {
    fprintf(stderr, "jvpn-quic: cannot initialise GnuTLS\n");
    return 1;
  }
  if (strcmp(cmd, "server") == 0)
    rc = run_daemon(argc - 1, argv + 1, 1);
  else if (strcmp(cmd, "client") == 0)
    rc = run_daemon(argc - 1, argv + 1, 0);
  else if (strcmp(cmd, "genkey") == 0)
    rc = jvpn_cmd_genkey(argc - 1, argv + 1);
  else if (strcmp(cmd, "pin") == 0)
    rc = jvpn_cmd_pin(argc - 1, argv + 1);
  else if (strcmp(cmd, "status") == 0)
    rc = jvpn_cmd_status(argc - 1, argv + 1);
  else if (strcmp(cmd, "events") == 0)
    rc = jvpn_cmd_events(argc - 1, argv + 1);
  else if (strcmp(cmd, "timeline") == 0)
    rc = jvpn_cmd_timeline(argc - 1, argv + 1);
  else {
    fprintf(stderr, "jvpn-quic: unknown command '%s'\n\n%s", cmd, usage);
    rc = 2;
  }
  tls_identity_global_deinit();
  return rc;
}
