/*
 * src/server_reload: the server's SIGHUP (see src/server_reload.c for
 * what a reload changes and what waits for a restart).
 */
#ifndef SRC_SERVER_RELOAD_H
#define SRC_SERVER_RELOAD_H

struct server;

/* Re-reads the configuration file and applies it; logs and audits what
 * happened. A file that does not parse changes nothing. */
void srv_reload(struct server *srv);

/* Frees the peer lists earlier reloads replaced once nothing refers to
 * them (|all|: every one, at exit). */
void srv_retired_peers_sweep(struct server *srv, int all);

#endif /* SRC_SERVER_RELOAD_H */
