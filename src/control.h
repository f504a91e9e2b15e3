/*
 * src/control: the local control socket of a running server or client
 * (its one client is the "status" command, src/ctl_cmd.h).
 *
 * A Unix stream socket (mode 0600, in a directory of mode 0700) on the
 * program's libuv loop. Protocol: the client writes one request line
 * ("status\n" or "status json\n"), the daemon answers with the text the
 * status callback produced and closes. Bounded: at most CONTROL_MAX_CLIENTS
 * connections at once, requests of at most 64 bytes, 2 s to send one,
 * answers of at most CONTROL_ANSWER_MAX bytes (a longer one is replaced by
 * an error line).
 */
#ifndef SRC_CONTROL_H
#define SRC_CONTROL_H

#include <stddef.h>

#include <uv.h>

#define CONTROL_MAX_CLIENTS 8
#define CONTROL_ANSWER_MAX (4 * 1024 * 1024) /* bytes */
#define CONTROL_DEFAULT_DIR "/run/jvpn-quic"

struct control;

/* Writes the status into a buffer the callback allocates with malloc()
 * (*out, *len); |json| selects JSON over text. Returns 0 or an error. */
typedef int (*control_status_fn)(void *user, int json, char **out,
                                 size_t *len);

/* Listens on |path| (an existing stale socket file is replaced; a live
 * one is an error: JVPN_ERR_EXISTS). Returns 0 or a JVPN_ERR_*. */
int control_open(struct control **pc, uv_loop_t *loop, const char *path,
                 control_status_fn fn, void *user);
/* Stops listening, closes connections and unlinks the socket file. The
 * memory is released from libuv close callbacks; run the loop once more. */
void control_close(struct control *c);

#endif /* SRC_CONTROL_H */
