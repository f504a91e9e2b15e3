/* jvpn-quic: what the session store back ends share (src/store_common.h). */
#include "src/store_common.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "jvpn/errors.h"
#include "src/store_record.h"

uint64_t store_common_now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void store_common_note_write(struct jvpn_store_stats *st, uint64_t t0, int ok) {
  uint64_t dt = store_common_now_ns() - t0;

  if (!ok) {
    st->write_errors++;
    return;
  }
  st->write_ns_total += dt;
  if (dt > st->write_ns_max)
    st->write_ns_max = dt;
}

long store_common_seal(uint8_t *out, size_t cap,
                       const struct jvpn_store_record *r,
                       const uint8_t key[JVPN_STORE_KEY_LEN]) {
  uint8_t nonce[STORE_RECORD_NONCE_LEN];

  if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
    return JVPN_ERR_SYSTEM;
  return store_record_encode(out, cap, r, key, nonce);
}

static void skipped(struct jvpn_store_stats *st, jvpn_store_skip_fn sk,
                    void *arg, const uint8_t *id, enum jvpn_store_skip why,
                    const char *detail) {
  st->skipped[why]++;
  if (sk != NULL)
    sk(arg, id, why, detail);
}

int store_common_read(const uint8_t *in, size_t len, const uint8_t *id,
                      const uint8_t key[JVPN_STORE_KEY_LEN],
                      struct jvpn_store_record *r, struct jvpn_store_stats *st,
                      jvpn_store_skip_fn sk, void *arg) {
  enum jvpn_store_skip why;
  const char *detail;

  if (store_record_decode(in, len, key, r, &why, &detail) != 0) {
    skipped(st, sk, arg, id, why, detail);
    return -1;
  }
  if (id == NULL || memcmp(id, r->id, JVPN_SESSION_ID_LEN) != 0) {
    jvpn_wipe(r, sizeof(*r));
    skipped(st, sk, arg, id, JVPN_STORE_SKIP_MALFORMED,
            "key is not the record's ID");
    return -1;
  }
  return 0;
}

int store_common_list_push(struct store_common_list *l,
                           const struct jvpn_store_record *r) {
  struct jvpn_store_record *nv;

  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;

    /* Not realloc: the old array's secrets are wiped before it goes. */
    nv = calloc(cap, sizeof(*nv));
    if (nv == NULL)
      return JVPN_ERR_NOMEM;
    if (l->n > 0)
      memcpy(nv, l->v, l->n * sizeof(*nv));
    if (l->v != NULL) {
      jvpn_wipe(l->v, l->n * sizeof(*l->v));
      free(l->v);
    }
    l->v = nv;
    l->cap = cap;
  }
  l->v[l->n++] = *r;
  return 0;
}

int store_common_list_deliver(struct store_common_list *l, int err,
                              struct jvpn_store_stats *st,
                              jvpn_store_load_fn fn, void *arg) {
  size_t i;

  for (i = 0; i < l->n; i++) {
    if (err == 0) {
      st->loaded++;
      if (fn != NULL)
        fn(arg, &l->v[i]);
    }
    jvpn_wipe(&l->v[i], sizeof(l->v[i]));
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
  return err;
}
