/*
 * src/cli: what the subcommands (src/keygen.c, src/ctl_cmd.c) share in
 * reading their command lines, and the "timeline" command.
 */
#ifndef SRC_CLI_H
#define SRC_CLI_H

/* Prints "jvpn-quic: WHY: ARG" (or without ": ARG" when |arg| is NULL;
 * nothing when |why| is NULL) and then |usage| on stderr. Returns 2, the
 * exit code for a usage error. */
int cli_usage_error(const char *usage, const char *why, const char *arg);

/* jvpn-quic timeline [--session ID] [--since T] [--until T]
 * [--detail auto|full|overview] AUDIT.jsonl -o FILE.svg: draws the audit
 * log's sessions (src/timeline_svg.h). argv[0] names the subcommand.
 * Exit code 0, 1 (unreadable log, nothing to draw, write error), 2
 * (usage). */
int jvpn_cmd_timeline(int argc, char **argv);

#endif /* SRC_CLI_H */
