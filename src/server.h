/*
 * src/server: the jvpn-quic server program: QUIC listeners, one TUN device
 * shared by all clients, pin-based admission, address assignment and
 * routing by inner destination address.
 */
#ifndef SRC_SERVER_H
#define SRC_SERVER_H

/* Runs the server with the config at |config_path|; |verbosity| is added to
 * the config's log level (-v = +1, -q = -1). The control socket listens on
 * |control_path| (NULL: CONTROL_DEFAULT_DIR "/server.sock"; "none": off). It runs until SIGINT/SIGTERM. Returns the
 * process exit code (0 after a clean shutdown, 1 on a runtime failure, 2
 * on a usage or configuration error). */
int jvpn_server_run(const char *config_path, int verbosity,
                    const char *control_path);

#endif /* SRC_SERVER_H */
