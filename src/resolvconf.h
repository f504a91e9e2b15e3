/*
 * src/resolvconf: the server's DNS configuration in /etc/resolv.conf, for
 * hosts where no resolver manager owns that file (docs/decisions.md D37).
 *
 * The file is opened (and read) at start-up, as root; the daemon writes
 * through that descriptor after it dropped root. What it writes starts
 * with a marker line and keeps the file as it was below, each line behind
 * "#jvpn-orig: ", so the original survives a crash: the next start, or
 * `jvpn-quic client --down`, finds the marker and puts the original back.
 * A clean stop puts it back too. When /etc/resolv.conf is a link into
 * systemd-resolved's directory, resolved owns it and it is left alone.
 * Any other link is followed (resolvconf's into /run/resolvconf: its
 * target is written); a file that another program has since renamed a
 * new one over is not written, nor put back (docs/decisions.md D38).
 */
#ifndef SRC_RESOLVCONF_H
#define SRC_RESOLVCONF_H

#include <stddef.h>

#include "quic/connect_ip_dns.h"

#define RESOLV_CONF_PATH "/etc/resolv.conf"
#define RESOLV_CONF_MARKER "# jvpn-quic: DNS through the VPN"
#define RESOLV_CONF_ORIG "#jvpn-orig: "
#define RESOLV_CONF_MAX 65536 /* bytes of the original kept */

struct resolv_conf {
  int fd;         /* the file, or -1 */
  char *orig;     /* what it held before us (owned) */
  size_t orig_len;
  int written;    /* ours is in it now */
};

/* Opens |path| for later writes and keeps its content (the original one if
 * a crashed run left its own). Returns 0; JVPN_ERR_NOTFOUND when a resolver
 * manager owns the file (|why| says which); JVPN_ERR_SYSTEM or
 * JVPN_ERR_OVERSIZE otherwise (|why| says why). |rc| is usable either way
 * (fd -1 then). */
int resolv_conf_open(struct resolv_conf *rc, const char *path, char *why,
                     size_t whylen);

/* Writes |c|'s plain-DNS servers (at most 3, port 53) and search domains
 * above the original. Returns 0; JVPN_ERR_NOTFOUND when |c| has no server
 * the file can name (the original is put back); JVPN_ERR_EXISTS when the
 * file opened is no longer the path's (replaced: nothing written);
 * JVPN_ERR_SYSTEM. */
int resolv_conf_apply(struct resolv_conf *rc, const struct cip_dns_config *c);

/* Puts the original back (no-op when ours is not in it, or when the file
 * was replaced). */
int resolv_conf_restore(struct resolv_conf *rc);

/* Restores and frees. */
void resolv_conf_close(struct resolv_conf *rc);

/* `client --down`: if |path| holds what a client wrote, puts the original
 * back. Returns 1 when it did, 0 when there was nothing to undo, or a
 * JVPN_ERR_*. */
int resolv_conf_recover(const char *path);

#endif /* SRC_RESOLVCONF_H */
