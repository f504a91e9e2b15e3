/*
 * src/keygen: the "genkey" and "pin" subcommands.
 */
#ifndef SRC_KEYGEN_H
#define SRC_KEYGEN_H

/* jvpn-quic genkey [--name CN] DIR: writes DIR/key.pem and DIR/cert.pem,
 * prints the pin on stdout. Returns the process exit code (0, 1 on
 * failure, 2 on usage error). */
int jvpn_cmd_genkey(int argc, char **argv);

/* jvpn-quic pin CERT: prints the certificate's pin. Exit code as above. */
int jvpn_cmd_pin(int argc, char **argv);

#endif /* SRC_KEYGEN_H */
