/*
 * src/ctl_cmd: the "status" and "events" commands, which read what a
 * running daemon offers (its control socket, src/control.h, and its audit
 * log).
 *
 * Both take argv with argv[0] naming the subcommand, as main() passes it
 * after the program name.
 */
#ifndef SRC_CTL_CMD_H
#define SRC_CTL_CMD_H

/* jvpn-quic status [--json] [-s SOCKET]: prints the daemon's status.
 * Exit code 0, 1 (no daemon / error), 2 (usage). */
int jvpn_cmd_status(int argc, char **argv);

/* jvpn-quic events [-f FILE] [-n N] [--follow]: prints the audit log
 * (JSON lines), following it as it grows (like tail -f) until SIGINT. */
int jvpn_cmd_events(int argc, char **argv);

#endif /* SRC_CTL_CMD_H */
