/*
 * src/cli: what the subcommands (src/keygen.c, src/ctl_cmd.c) share in
 * reading their command lines.
 */
#ifndef SRC_CLI_H
#define SRC_CLI_H

/* Prints "jvpn-quic: WHY: ARG" (or without ": ARG" when |arg| is NULL;
 * nothing when |why| is NULL) and then |usage| on stderr. Returns 2, the
 * exit code for a usage error. */
int cli_usage_error(const char *usage, const char *why, const char *arg);

#endif /* SRC_CLI_H */
