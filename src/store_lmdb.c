/* jvpn-quic: the session store in LMDB (src/store_lmdb.h). */
#include "src/store_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "src/store_common.h"
#include "src/store_record.h"

struct store_lmdb {
  struct jvpn_store pub; /* first: the interface points back here */
  MDB_env *env;
  MDB_dbi dbi;
  int lock_fd;
  uint8_t key[JVPN_STORE_KEY_LEN];
  struct jvpn_store_stats st;
  MDB_txn *batch;   /* between begin and commit: the open transaction */
  int batch_failed; /* a write in it failed: commit aborts it */
};

/* A put (|val| not NULL) or delete in |txn|. */
static int write_in(struct store_lmdb *s, MDB_txn *txn, const uint8_t *id,
                    const void *val, size_t len) {
  MDB_val k = {.mv_size = JVPN_SESSION_ID_LEN, .mv_data = (void *)id};
  MDB_val v = {.mv_size = len, .mv_data = (void *)val};
  int rc = val != NULL ? mdb_put(txn, s->dbi, &k, &v, 0)
                       : mdb_del(txn, s->dbi, &k, NULL);

  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One write: into the open batch, else a transaction of its own. */
static int write_txn(struct store_lmdb *s, const uint8_t *id, const void *val,
                     size_t len) {
  MDB_txn *txn;
  int rc;

  if (s->batch != NULL) {
    if (s->batch_failed)
      return MDB_BAD_TXN;
    rc = write_in(s, s->batch, id, val, len);
    s->batch_failed = rc != 0;
    return rc;
  }
  rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0)
    return rc;
  rc = write_in(s, txn, id, val, len);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return rc;
  }
  return mdb_txn_commit(txn);
}

static int lmdb_begin(void *impl) {
  struct store_lmdb *s = impl;

  if (s->batch != NULL)
    return JVPN_ERR_INVAL;
  s->batch_failed = 0;
  return mdb_txn_begin(s->env, NULL, 0, &s->batch) == 0 ? 0
                                                        : JVPN_ERR_SYSTEM;
}

static int lmdb_commit(void *impl) {
  struct store_lmdb *s = impl;
  MDB_txn *txn = s->batch;
  uint64_t t0;
  int rc;

  if (txn == NULL)
    return JVPN_ERR_INVAL;
  s->batch = NULL;
  if (s->batch_failed) {
    mdb_txn_abort(txn);
    return JVPN_ERR_SYSTEM;
  }
  t0 = store_common_now_ns();
  rc = mdb_txn_commit(txn);
  store_common_note_write(&s->st, t0, rc == 0);
  return rc == 0 ? 0 : rc == MDB_MAP_FULL ? JVPN_ERR_FULL : JVPN_ERR_SYSTEM;
}

static int lmdb_put(void *impl, const struct jvpn_store_record *r) {
  struct store_lmdb *s = impl;
  uint8_t buf[STORE_RECORD_MAX];
  uint64_t t0 = store_common_now_ns();
  long n;
  int rc;

  n = store_common_seal(buf, sizeof(buf), r, s->key);
  if (n < 0) {
    store_common_note_write(&s->st, t0, 0);
    return (int)n;
  }
  rc = write_txn(s, r->id, buf, (size_t)n);
  jvpn_wipe(buf, sizeof(buf));
  store_common_note_write(&s->st, t0, rc == 0);
  if (rc != 0)
    return rc == MDB_MAP_FULL ? JVPN_ERR_FULL : JVPN_ERR_SYSTEM;
  s->st.writes++;
  return 0;
}

static int lmdb_del(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN]) {
  struct store_lmdb *s = impl;
  uint64_t t0 = store_common_now_ns();
  int rc = write_txn(s, id, NULL, 0);

  store_common_note_write(&s->st, t0, rc == 0);
  if (rc != 0)
    return JVPN_ERR_SYSTEM;
  s->st.deletes++;
  return 0;
}

/* Records are decoded inside the read transaction and handed out after
 * it ended, so a callback may write. */
static int lmdb_load(void *impl, jvpn_store_load_fn fn, jvpn_store_skip_fn sk,
                     void *arg) {
  struct store_lmdb *s = impl;
  struct store_common_list l = {NULL, 0, 0};
  struct jvpn_store_record r;
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc, err = 0;

  rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return JVPN_ERR_SYSTEM;
  rc = mdb_cursor_open(txn, s->dbi, &cur);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return JVPN_ERR_SYSTEM;
  }
  while (err == 0 && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    const uint8_t *id = k.mv_size == JVPN_SESSION_ID_LEN ? k.mv_data : NULL;

    if (store_common_read(v.mv_data, v.mv_size, id, s->key, &r, &s->st, sk,
                          arg) != 0)
      continue;
    err = store_common_list_push(&l, &r);
    jvpn_wipe(&r, sizeof(r));
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return store_common_list_deliver(&l, err, &s->st, fn, arg);
}

static const struct jvpn_store_stats *lmdb_stats(void *impl) {
  return &((struct store_lmdb *)impl)->st;
}

static void lmdb_close(void *impl) {
  struct store_lmdb *s = impl;

  if (s->batch != NULL)
    mdb_txn_abort(s->batch);
  if (s->env != NULL)
    mdb_env_close(s->env);
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  jvpn_wipe(s->key, sizeof(s->key));
  free(s);
}

static const struct jvpn_store_ops lmdb_ops = {
    .name = "lmdb",
    .put = lmdb_put,
    .del = lmdb_del,
    .load = lmdb_load,
    .stats = lmdb_stats,
    .close = lmdb_close,
    .begin = lmdb_begin,
    .commit = lmdb_commit,
};

/* Gives |dir| and the files LMDB made in it to the daemon's user. */
static int give_to(const char *dir, uid_t owner, gid_t group, char *why,
                   size_t whylen) {
  static const char *const names[] = {"", "/data.mdb", "/lock.mdb",
                                      "/jvpn.lock"};
  char path[4096];
  size_t i;

  if (owner == (uid_t)-1)
    return 0;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    snprintf(path, sizeof(path), "%s%s", dir, names[i]);
    if (chown(path, owner, group) != 0) {
      snprintf(why, whylen, "chown %s: %s", path, strerror(errno));
      return JVPN_ERR_SYSTEM;
    }
  }
  return 0;
}

int store_lmdb_open(struct jvpn_store **out, const char *dir,
                    const uint8_t key[JVPN_STORE_KEY_LEN], uid_t owner,
                    gid_t group, char *why, size_t whylen) {
  struct store_lmdb *s;
  char path[4096];
  MDB_txn *txn;
  int rc;

  *out = NULL;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(why, whylen, "mkdir %s: %s", dir, strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return JVPN_ERR_NOMEM;
  s->pub.ops = &lmdb_ops;
  s->pub.impl = s;
  memcpy(s->key, key, sizeof(s->key));
  snprintf(path, sizeof(path), "%s/jvpn.lock", dir);
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(why, whylen, "%s: %s", path,
             s->lock_fd >= 0 && errno == EWOULDBLOCK
                 ? "held by another server (one store per server)"
                 : strerror(errno));
    rc = JVPN_ERR_SYSTEM;
    goto fail;
  }
  rc = mdb_env_create(&s->env);
  if (rc == 0)
    rc = mdb_env_set_mapsize(s->env, STORE_LMDB_MAP_SIZE);
  if (rc == 0)
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
  if (rc == 0)
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc == 0) {
    rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  if (rc != 0) {
    snprintf(why, whylen, "LMDB in %s: %s", dir, mdb_strerror(rc));
    rc = JVPN_ERR_SYSTEM;
    goto fail;
  }
  rc = give_to(dir, owner, group, why, whylen);
  if (rc != 0)
    goto fail;
  *out = &s->pub;
  return 0;

fail:
  lmdb_close(s);
  return rc;
}
