/*
 * src/store_lmdb: the embedded session store (D41): one LMDB environment
 * in the server's state directory, one record per session keyed by its
 * ID (src/store_record.h), one write transaction per change.
 *
 * Write policy: every put and delete is its own transaction, committed
 * with LMDB's default durability (the data pages are written, then
 * fdatasync, then the meta page): after a crash or kill -9 the store holds
 * either the old record or the new one, never half of one, and a change
 * that was acknowledged is on disk.
 */
#ifndef SRC_STORE_LMDB_H
#define SRC_STORE_LMDB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jvpn/store.h"

#define STORE_LMDB_MAP_SIZE (64u << 20) /* bytes: ~200,000 records */

/* Opens (creating it, mode 0700) the state directory |dir| and the LMDB
 * environment in it (data.mdb, lock.mdb, mode 0600), and takes an
 * exclusive lock on |dir|/jvpn.lock so that two servers never share one
 * store. Records are sealed with |key|. When |owner| is not (uid_t)-1,
 * the directory and its files are given to |owner|:|group| (the user the
 * daemon becomes). Opened before the privilege drop; LMDB keeps its file
 * descriptors. Returns 0 or a JVPN_ERR_*, |why| says what failed. */
int store_lmdb_open(struct jvpn_store **out, const char *dir,
                    const uint8_t key[JVPN_STORE_KEY_LEN], uid_t owner,
                    gid_t group, char *why, size_t whylen);

#endif /* SRC_STORE_LMDB_H */
