/*
 * quic/quic_path: the path a connection uses (see quic_path.c). Internal
 * to quic/quic_conn.
 */
#ifndef QUIC_QUIC_PATH_H
#define QUIC_QUIC_PATH_H

#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

struct quic_conn;

/* A new path (or connection) begins: PMTUD probes it for a while, and no
 * full-size loss is held against it yet. */
void quic_path_watch_reset(struct quic_conn *c);

/* Nonzero while PMTUD may still raise the path's packet size. */
int quic_path_young(const struct quic_conn *c);

/* Starts the watch afresh when the path changed without a validation. */
void quic_path_track(struct quic_conn *c);

/* Nonzero, once per path, when full-size datagrams vanish while small
 * packets get through: the MTU shrank without a Packet Too Big. */
int quic_path_black_hole(struct quic_conn *c, uint64_t now);

/* ngtcp2's path_validation and select_preferred_addr callbacks. */
int quic_path_validation_cb(ngtcp2_conn *conn, uint32_t flags,
                            const ngtcp2_path *path,
                            const ngtcp2_path *old_path,
                            ngtcp2_path_validation_result res, void *ud);
int quic_path_select_preferred_cb(ngtcp2_conn *conn, ngtcp2_path *dest,
                                  const ngtcp2_preferred_addr *paddr,
                                  void *ud);

#endif /* QUIC_QUIC_PATH_H */
