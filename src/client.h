/*
 * src/client: the jvpn-quic client program: one QUIC connection to the
 * server, a TUN device configured from the server's capsules, and
 * reconnection with backoff while the TUN device stays up.
 */
#ifndef SRC_CLIENT_H
#define SRC_CLIENT_H

/* Runs the client with the config at |config_path|; |verbosity| is added to
 * the config's log level (-v = +1, -q = -1). The control socket listens on
 * |control_path| (NULL: CONTROL_DEFAULT_DIR "/client.sock"; "none": off). It runs until SIGINT/SIGTERM (exit 0),
 * until the server refuses our certificate (exit 1), or exits 2 on a
 * usage or configuration error. */
int jvpn_client_run(const char *config_path, int verbosity,
                    const char *control_path);

/* `jvpn-quic client --down`: removes what a client that is no longer
 * running may have left: its kill switch table (unless |keep_kill_switch|:
 * `--keep-kill-switch`, for a service manager about to restart it), its
 * full-tunnel rules (the config's rule_priority) and its lines in
 * /etc/resolv.conf. Returns 0, 1 on a failure (said on stderr) or 2 on a
 * configuration error. */
int jvpn_client_down(const char *config_path, int keep_kill_switch);

#endif /* SRC_CLIENT_H */
