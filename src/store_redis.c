/* jvpn-quic: the session store of several nodes in Redis (src/store_redis.h,
 * docs/decisions.md D44). */
#include "src/store_redis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "jvpn/errors.h"
#include "src/store_common.h"
#include "src/store_record.h"

#define KEY_MAX 160   /* prefix + kind + 64 hex digits */
#define SCRIPT_ARGS 8 /* keys and arguments of one script, at most */
#define SCAN_COUNT "1000"
#define LOAD_BATCH 256 /* takes pipelined per round trip at load */
#define SCAN_ROUNDS 100000 /* SSCAN calls of one load, at most */

/* --- the scripts ---------------------------------------------------------- */

/* Decimal strings without leading zeros compare by length first: Lua's
 * numbers are doubles and would round 64-bit epochs and versions. */
#define LUA_LESS                                                               \
  "local function less(a, b)\n"                                                \
  "  return #a < #b or (#a == #b and a < b)\n"                                 \
  "end\n"

enum script_id { SC_PUT, SC_DEL, SC_TAKE, SC_CLAIM, SC_RENEW, SC_COUNT };

/* Return codes of the scripts, as the comments in them say. */
enum { PUT_OK = 0, PUT_FENCED = 1, PUT_STALE = 2 };
enum { TAKE_NONE = 0, TAKE_MINE = 1, TAKE_HELD = 2, TAKE_TAKEN = 3 };
enum { CLAIM_NEW = 0, CLAIM_HAD = 1, CLAIM_HELD = 2 };

/* clang-format off */
static const char *const scripts[SC_COUNT] = {
    /* put. KEYS: session, my owned set. ARGV: rec, node, epoch, ver, id,
     * att (1: a connection carries it at its owner) */
    [SC_PUT] = LUA_LESS
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  local cur = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'ver')\n"
    "  if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] then return 1 end\n"
    "  if less(ARGV[4], cur[3] or '0') then return 2 end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'owner', ARGV[2],\n"
    "           'epoch', ARGV[3], 'ver', ARGV[4], 'att', ARGV[6])\n"
    "redis.call('SADD', KEYS[2], ARGV[5])\n"
    "return 0\n",
    /* del. KEYS: session, my owned set. ARGV: node, epoch, id */
    [SC_DEL] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  local cur = redis.call('HMGET', KEYS[1], 'owner', 'epoch')\n"
    "  if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 1 end\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('SREM', KEYS[2], ARGV[3])\n"
    "return 0\n",
    /* take. KEYS: session. ARGV: node, epoch, id, lease key prefix, owned
     * set prefix. Returns {code, rec, pttl}. A record of this node under
     * an older epoch is its own at once: that epoch is dead. A live owner
     * keeps only a session a connection carries there (att 1): one whose
     * client left it (RECOVERING) goes to the node the client came to.
     * The taker has no connection for it yet: att 0 until it writes. */
    [SC_TAKE] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('SREM', ARGV[5] .. ARGV[1], ARGV[3])\n"
    "  return {0}\n"
    "end\n"
    "local cur = redis.call('HMGET', KEYS[1], 'rec', 'owner', 'epoch', 'att')\n"
    "local rec, owner, epoch = cur[1] or '', cur[2], cur[3]\n"
    "if owner == ARGV[1] and epoch == ARGV[2] then return {1, rec} end\n"
    "if owner and owner ~= ARGV[1] then\n"
    "  local lease = redis.call('GET', ARGV[4] .. owner)\n"
    "  if lease and lease == epoch and cur[4] ~= '0' then\n"
    "    return {2, '', redis.call('PTTL', ARGV[4] .. owner)}\n"
    "  end\n"
    "  redis.call('SREM', ARGV[5] .. owner, ARGV[3])\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', ARGV[2],\n"
    "           'att', '0')\n"
    "redis.call('SADD', ARGV[5] .. ARGV[1], ARGV[3])\n"
    "return {3, rec}\n",
    /* claim. KEYS: the pin's address, the address's pin. ARGV: pin,
     * address. Returns {code, address}. */
    [SC_CLAIM] =
    "local have = redis.call('GET', KEYS[1])\n"
    "if have then return {1, have} end\n"
    "local holder = redis.call('GET', KEYS[2])\n"
    "if holder and holder ~= ARGV[1] then return {2, ''} end\n"
    "redis.call('SET', KEYS[1], ARGV[2])\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "return {0, ARGV[2]}\n",
    /* renew. KEYS: my lease. ARGV: epoch, lease ms. A later epoch of this
     * node ID is a newer process: it keeps the lease. */
    [SC_RENEW] = LUA_LESS
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and less(ARGV[1], v) then return 1 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 0\n",
};
/* clang-format on */

/* --- the store ------------------------------------------------------------ */

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct store_redis {
  struct jvpn_store pub; /* first: the interface points back here */
  redisContext *ctx;
  enum conn_state state;
  uint64_t connect_t0; /* ns: when the connect in progress began */
  int answered;        /* the last command had an answer */
  int ever_up;
  int is_unix;
  char host[INET6_ADDRSTRLEN]; /* or the socket's path when is_unix */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int port;
  unsigned timeout_ms;
  char node[STORE_REDIS_NAME_MAX + 1];
  char epoch[24];
  char prefix[STORE_REDIS_NAME_MAX + 1];
  char lease_key[KEY_MAX], owned_key[KEY_MAX];
  char lease_prefix[KEY_MAX], owned_prefix[KEY_MAX];
  char sha[SC_COUNT][41]; /* "" until SCRIPT LOAD told it */
  uint8_t key[JVPN_STORE_KEY_LEN];
  struct jvpn_store_stats st;
  struct store_redis_stats rst;
};

static void hex(char *out, const uint8_t *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Exactly 2 * |n| lower-case hex digits into |out|. Returns 0 or -1. */
static int unhex(uint8_t *out, size_t n, const char *in, size_t len) {
  size_t i;

  if (len != 2 * n)
    return -1;
  for (i = 0; i < n; i++) {
    int hi = nibble(in[2 * i]), lo = nibble(in[2 * i + 1]);

    if (hi < 0 || lo < 0)
      return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* "<prefix>:<kind>:<hex of bytes>" */
static void key_of(const struct store_redis *s, char out[KEY_MAX],
                   const char *kind, const uint8_t *bytes, size_t n) {
  char h[2 * JVPN_PIN_LEN + 1];

  hex(h, bytes, n);
  snprintf(out, KEY_MAX, "%s:%s:%s", s->prefix, kind, h);
}

/* --- the connection ------------------------------------------------------- */

static void conn_drop(struct store_redis *s) {
  if (s->ctx != NULL)
    redisFree(s->ctx);
  s->ctx = NULL;
  s->state = CONN_DOWN;
  s->answered = 0;
}

static void conn_start(struct store_redis *s) {
  s->rst.connects++;
  s->ctx = s->is_unix ? redisConnectUnixNonBlock(s->path)
                      : redisConnectNonBlock(s->host, s->port);
  if (s->ctx == NULL || s->ctx->err != 0) {
    s->rst.connect_errors++;
    conn_drop(s);
    return;
  }
  s->state = CONN_CONNECTING;
  s->connect_t0 = store_common_now_ns();
}

/* The connect is done: from now on the context is hiredis's blocking
 * kind, each command bounded by the socket timeouts. */
static int conn_up(struct store_redis *s) {
  struct timeval tv = {.tv_sec = s->timeout_ms / 1000,
                       .tv_usec = (s->timeout_ms % 1000) * 1000};
  int fl = fcntl(s->ctx->fd, F_GETFL);

  if (fl < 0 || fcntl(s->ctx->fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
    return -1;
  s->ctx->flags |= REDIS_BLOCK;
  if (redisSetTimeout(s->ctx, tv) != REDIS_OK)
    return -1;
  s->state = CONN_UP;
  s->answered = 1;
  if (s->ever_up)
    s->rst.reconnects++;
  s->ever_up = 1;
  return 0;
}

/* Finishes the connect in progress, waiting for it up to what is left of
 * the timeout when |wait|, else not at all. One that outlived the
 * timeout is given up (the next renew starts another). */
static int conn_finish(struct store_redis *s, int wait) {
  uint64_t spent_ms = (store_common_now_ns() - s->connect_t0) / 1000000u;
  struct pollfd p = {.fd = s->ctx->fd, .events = POLLOUT};
  int left = spent_ms < s->timeout_ms ? (int)(s->timeout_ms - spent_ms) : 0;
  int n, soerr = 0;
  socklen_t len = sizeof(soerr);

  n = poll(&p, 1, wait ? left : 0);
  if (n == 0 && !wait && left > 0) /* not yet: a later call looks again */
    return JVPN_ERR_AGAIN;
  if (n <= 0 ||
      getsockopt(s->ctx->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
      soerr != 0 || conn_up(s) != 0) {
    s->rst.connect_errors++;
    conn_drop(s);
    return JVPN_ERR_AGAIN;
  }
  return 0;
}

/* 0 when connected. Only |may_start| callers begin a connect (renew and
 * load: once per call, so a down Redis is not hammered by every put). */
static int conn_ready(struct store_redis *s, int may_start, int wait) {
  if (s->state == CONN_UP)
    return 0;
  if (s->state == CONN_DOWN) {
    if (!may_start)
      return JVPN_ERR_AGAIN;
    conn_start(s);
    if (s->state == CONN_DOWN)
      return JVPN_ERR_AGAIN;
  }
  return conn_finish(s, wait);
}

/* --- commands ------------------------------------------------------------- */

/* One command; NULL when it failed or timed out (the connection is then
 * dropped: hiredis's context is unusable after an I/O error). */
static redisReply *command(struct store_redis *s, int argc, const char **argv,
                           const size_t *len) {
  redisReply *rep = redisCommandArgv(s->ctx, argc, argv, len);

  if (rep == NULL) {
    s->rst.io_errors++;
    conn_drop(s);
  }
  return rep;
}

/* A reply of a shape no script returns: the connection is not what we
 * think it is, so it is dropped. */
static int bad_reply(struct store_redis *s, redisReply *rep) {
  s->rst.bad_replies++;
  freeReplyObject(rep);
  conn_drop(s);
  return JVPN_ERR_AGAIN;
}

/* Redis answered with an error: WRONGTYPE means the key holds something
 * that is not ours (no retry helps); the others (LOADING, READONLY, OOM,
 * BUSY) pass. */
static int error_reply(struct store_redis *s, redisReply *rep) {
  int wrongtype = strncmp(rep->str, "WRONGTYPE", 9) == 0;

  s->rst.error_replies++;
  s->answered = 0;
  freeReplyObject(rep);
  return wrongtype ? JVPN_ERR_MALFORMED : JVPN_ERR_AGAIN;
}

static int load_script(struct store_redis *s, enum script_id id) {
  const char *argv[3] = {"SCRIPT", "LOAD", scripts[id]};
  size_t len[3] = {6, 4, strlen(scripts[id])};
  redisReply *rep;

  if (s->sha[id][0] != '\0')
    return 0;
  rep = command(s, 3, argv, len);
  if (rep == NULL)
    return JVPN_ERR_AGAIN;
  if (rep->type == REDIS_REPLY_ERROR)
    return error_reply(s, rep);
  if (rep->type != REDIS_REPLY_STRING || rep->len != 40)
    return bad_reply(s, rep);
  memcpy(s->sha[id], rep->str, 40);
  s->sha[id][40] = '\0';
  freeReplyObject(rep);
  return 0;
}

/* Runs script |id| with |nkeys| keys then arguments, |n| in all. Returns
 * 0 and the reply (not an error) in |*out|, or a JVPN_ERR_*. */
/* The EVALSHA command line of script |id| (loaded) in |argv|, |len|
 * (SCRIPT_ARGS + 3 each; |nk| holds the key count's text). Returns its
 * length. */
static int evalsha_argv(struct store_redis *s, enum script_id id, int nkeys,
                        int n, const char *const *args, const size_t *lens,
                        char nk[4], const char **argv, size_t *len) {
  int i;

  snprintf(nk, 4, "%d", nkeys);
  argv[0] = "EVALSHA", len[0] = 7;
  argv[1] = s->sha[id], len[1] = 40;
  argv[2] = nk, len[2] = strlen(nk);
  for (i = 0; i < n && i < SCRIPT_ARGS; i++) {
    argv[3 + i] = args[i];
    len[3 + i] = lens != NULL && lens[i] != 0 ? lens[i] : strlen(args[i]);
  }
  return 3 + i;
}

static int eval(struct store_redis *s, enum script_id id, int nkeys, int n,
                const char *const *args, const size_t *lens, redisReply **out) {
  const char *argv[SCRIPT_ARGS + 3];
  size_t len[SCRIPT_ARGS + 3];
  char nk[4];
  redisReply *rep;
  int i, rc;

  *out = NULL;
  rc = load_script(s, id);
  if (rc != 0)
    return rc;
  i = evalsha_argv(s, id, nkeys, n, args, lens, nk, argv, len) - 3;
  rep = command(s, 3 + i, argv, len);
  /* A restarted Redis lost its script cache: EVAL puts it back. */
  if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
      strncmp(rep->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(rep);
    argv[0] = "EVAL", len[0] = 4;
    argv[1] = scripts[id], len[1] = strlen(scripts[id]);
    rep = command(s, 3 + i, argv, len);
  }
  if (rep == NULL)
    return JVPN_ERR_AGAIN;
  if (rep->type == REDIS_REPLY_ERROR)
    return error_reply(s, rep);
  s->answered = 1;
  *out = rep;
  return 0;
}

/* A script that returns a code: the code (>= 0) or a JVPN_ERR_*. */
static long long eval_code(struct store_redis *s, enum script_id id, int nkeys,
                           int n, const char *const *args, const size_t *lens) {
  redisReply *rep;
  long long code;
  int rc = eval(s, id, nkeys, n, args, lens, &rep);

  if (rc != 0)
    return rc;
  if (rep->type != REDIS_REPLY_INTEGER)
    return bad_reply(s, rep);
  code = rep->integer;
  freeReplyObject(rep);
  return code;
}

/* --- the store's operations ----------------------------------------------- */

static int put_sealed(struct store_redis *s, const struct jvpn_store_record *r,
                      const uint8_t *rec, size_t len) {
  char skey[KEY_MAX], ver[24], id[2 * JVPN_SESSION_ID_LEN + 1];
  const char *att = r->active_attachment != 0 ? "1" : "0";
  const char *args[8] = {
      skey, s->owned_key, (const char *)rec, s->node, s->epoch, ver, id, att};
  size_t lens[8] = {0, 0, len, 0, 0, 0, 0, 0};
  long long code;

  key_of(s, skey, "s", r->id, JVPN_SESSION_ID_LEN);
  hex(id, r->id, JVPN_SESSION_ID_LEN);
  snprintf(ver, sizeof(ver), "%" PRIu64, r->state_version);
  code = eval_code(s, SC_PUT, 2, 8, args, lens);
  if (code == PUT_FENCED || code == PUT_STALE) {
    s->rst.fenced += code == PUT_FENCED;
    s->rst.stale += code == PUT_STALE;
    return JVPN_ERR_DENIED;
  }
  return code == PUT_OK ? 0 : code < 0 ? (int)code : JVPN_ERR_AGAIN;
}

/* A refusal by the fence is an answer, not a failed write: it is counted
 * in rst.fenced / rst.stale, not in write_errors. */
static void note_op(struct store_redis *s, uint64_t t0, int rc,
                    uint64_t *done) {
  if (rc == JVPN_ERR_DENIED)
    return;
  store_common_note_write(&s->st, t0, rc == 0);
  if (rc == 0)
    (*done)++;
}

static int redis_put(void *impl, const struct jvpn_store_record *r) {
  struct store_redis *s = impl;
  uint8_t buf[STORE_RECORD_MAX];
  uint64_t t0 = store_common_now_ns();
  long n;
  int rc;

  rc = conn_ready(s, 0, 0);
  if (rc == 0) {
    n = store_common_seal(buf, sizeof(buf), r, s->key);
    rc = n < 0 ? (int)n : put_sealed(s, r, buf, (size_t)n);
    jvpn_wipe(buf, sizeof(buf));
  }
  note_op(s, t0, rc, &s->st.writes);
  return rc;
}

static int redis_del(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN]) {
  struct store_redis *s = impl;
  char skey[KEY_MAX], idhex[2 * JVPN_SESSION_ID_LEN + 1];
  const char *args[5] = {skey, s->owned_key, s->node, s->epoch, idhex};
  uint64_t t0 = store_common_now_ns();
  long long code;
  int rc;

  rc = conn_ready(s, 0, 0);
  if (rc == 0) {
    key_of(s, skey, "s", id, JVPN_SESSION_ID_LEN);
    hex(idhex, id, JVPN_SESSION_ID_LEN);
    code = eval_code(s, SC_DEL, 2, 5, args, NULL);
    s->rst.fenced += code == PUT_FENCED;
    rc = code == PUT_OK       ? 0
         : code == PUT_FENCED ? JVPN_ERR_DENIED
         : code < 0           ? (int)code
                              : JVPN_ERR_AGAIN;
  }
  note_op(s, t0, rc, &s->st.deletes);
  return rc;
}

/* take's arguments for |id| into |args| (6), their text in |skey| and
 * |idhex|. */
static void take_args(struct store_redis *s,
                      const uint8_t id[JVPN_SESSION_ID_LEN], char skey[KEY_MAX],
                      char idhex[2 * JVPN_SESSION_ID_LEN + 1],
                      const char **args) {
  key_of(s, skey, "s", id, JVPN_SESSION_ID_LEN);
  hex(idhex, id, JVPN_SESSION_ID_LEN);
  args[0] = skey, args[1] = s->node, args[2] = s->epoch;
  args[3] = idhex, args[4] = s->lease_prefix, args[5] = s->owned_prefix;
}

/* take's reply |r| (not an error). Returns 0 with the sealed record in
 * |*rec|, |*len| (inside |*rep| = |r|, which the caller frees), or
 * JVPN_ERR_NOTFOUND, JVPN_ERR_EXISTS (|*held_ms| set), another JVPN_ERR_*
 * (|r| freed). */
static int take_reply(struct store_redis *s, redisReply *r, redisReply **rep,
                      const uint8_t **rec, size_t *len, uint64_t *held_ms) {
  redisReply **e = r->element;
  int rc;

  *rep = NULL;
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
      e[0]->type != REDIS_REPLY_INTEGER ||
      (e[0]->integer != TAKE_NONE &&
       (r->elements < 2 || e[1]->type != REDIS_REPLY_STRING)) ||
      (e[0]->integer == TAKE_HELD &&
       (r->elements < 3 || e[2]->type != REDIS_REPLY_INTEGER)))
    return bad_reply(s, r);
  switch (e[0]->integer) {
  case TAKE_NONE: rc = JVPN_ERR_NOTFOUND; break;
  case TAKE_HELD:
    s->rst.takes_refused++;
    if (held_ms != NULL)
      *held_ms = e[2]->integer > 0 ? (uint64_t)e[2]->integer : 0;
    rc = JVPN_ERR_EXISTS;
    break;
  case TAKE_TAKEN:
  case TAKE_MINE:
    s->rst.takes += e[0]->integer == TAKE_TAKEN;
    *rec = (const uint8_t *)e[1]->str;
    *len = e[1]->len;
    *rep = r;
    return 0;
  default: return bad_reply(s, r);
  }
  freeReplyObject(r);
  return rc;
}

/* Takes |id| (take's script): take_reply's results. */
static int take_raw(struct store_redis *s,
                    const uint8_t id[JVPN_SESSION_ID_LEN], redisReply **rep,
                    const uint8_t **rec, size_t *len, uint64_t *held_ms) {
  char skey[KEY_MAX], idhex[2 * JVPN_SESSION_ID_LEN + 1];
  const char *args[6];
  redisReply *r;
  int rc;

  take_args(s, id, skey, idhex, args);
  rc = eval(s, SC_TAKE, 1, 6, args, NULL, &r);
  if (rc != 0) {
    *rep = NULL;
    return rc;
  }
  return take_reply(s, r, rep, rec, len, held_ms);
}

static int redis_take(void *impl, const uint8_t id[JVPN_SESSION_ID_LEN],
                      struct jvpn_store_record *r, uint64_t *held_ms) {
  struct store_redis *s = impl;
  redisReply *rep;
  const uint8_t *rec;
  size_t len;
  int rc;

  rc = conn_ready(s, 0, 0);
  if (rc == 0)
    rc = take_raw(s, id, &rep, &rec, &len, held_ms);
  if (rc != 0)
    return rc;
  rc = store_common_read(rec, len, id, s->key, r, &s->st, NULL, NULL);
  freeReplyObject(rep);
  return rc == 0 ? 0 : JVPN_ERR_MALFORMED;
}

/* --- load ----------------------------------------------------------------- */

struct id_list {
  uint8_t (*v)[JVPN_SESSION_ID_LEN];
  size_t n, cap;
};

static int id_push(struct id_list *l, const uint8_t id[JVPN_SESSION_ID_LEN]) {
  void *nv;

  if (l->n == STORE_REDIS_LOAD_MAX)
    return JVPN_ERR_OVERSIZE;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 256;

    nv = realloc(l->v, cap * sizeof(*l->v));
    if (nv == NULL)
      return JVPN_ERR_NOMEM;
    l->v = nv;
    l->cap = cap;
  }
  memcpy(l->v[l->n++], id, JVPN_SESSION_ID_LEN);
  return 0;
}

static int id_cmp(const void *a, const void *b) {
  return memcmp(a, b, JVPN_SESSION_ID_LEN);
}

/* SSCAN may return a member twice: sorted, each once. */
static void id_unique(struct id_list *l) {
  size_t i, n = 0;

  if (l->n == 0)
    return;
  qsort(l->v, l->n, sizeof(*l->v), id_cmp);
  for (i = 1; i < l->n; i++)
    if (memcmp(l->v[i], l->v[n], JVPN_SESSION_ID_LEN) != 0)
      memcpy(l->v[++n], l->v[i], JVPN_SESSION_ID_LEN);
  l->n = n + 1;
}

/* One SSCAN page of my owned set: its IDs into |l|, the next cursor into
 * |cursor|. Members that are not session IDs are skipped and reported. */
static int scan_page(struct store_redis *s, char cursor[24], struct id_list *l,
                     jvpn_store_skip_fn sk, void *arg) {
  const char *argv[5] = {"SSCAN", s->owned_key, cursor, "COUNT", SCAN_COUNT};
  uint8_t id[JVPN_SESSION_ID_LEN];
  redisReply *rep, *c, *m;
  size_t i;
  int rc = 0;

  rep = command(s, 5, argv, NULL);
  if (rep == NULL)
    return JVPN_ERR_AGAIN;
  if (rep->type == REDIS_REPLY_ERROR)
    return error_reply(s, rep);
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
    return bad_reply(s, rep);
  c = rep->element[0];
  m = rep->element[1];
  if (c->type != REDIS_REPLY_STRING || c->len == 0 || c->len >= 24 ||
      m->type != REDIS_REPLY_ARRAY)
    return bad_reply(s, rep);
  memcpy(cursor, c->str, c->len + 1);
  for (i = 0; i < m->elements && rc == 0; i++) {
    redisReply *e = m->element[i];

    if (e->type != REDIS_REPLY_STRING ||
        unhex(id, sizeof(id), e->str, e->len) != 0) {
      s->st.skipped[JVPN_STORE_SKIP_MALFORMED]++;
      if (sk != NULL)
        sk(arg, NULL, JVPN_STORE_SKIP_MALFORMED,
           "owned set member is not a session ID");
      continue;
    }
    rc = id_push(l, id);
  }
  freeReplyObject(rep);
  return rc;
}

static int scan_owned(struct store_redis *s, struct id_list *l,
                      jvpn_store_skip_fn sk, void *arg) {
  char cursor[24] = "0";
  int round, rc;

  for (round = 0; round < SCAN_ROUNDS; round++) {
    rc = scan_page(s, cursor, l, sk, arg);
    if (rc != 0)
      return rc;
    if (strcmp(cursor, "0") == 0) {
      id_unique(l);
      return 0;
    }
  }
  return JVPN_ERR_OVERSIZE;
}

/* What the load makes of |id|'s take (take_reply's |rc|, |rep|, |rec|,
 * |len|): a record that decodes goes into |out|; one that does not is
 * skipped; one gone or held by a live node (it moved while this node was
 * away) is not this node's to load. */
static int load_one(struct store_redis *s,
                    const uint8_t id[JVPN_SESSION_ID_LEN], int rc,
                    redisReply *rep, const uint8_t *rec, size_t len,
                    struct store_common_list *out, jvpn_store_skip_fn sk,
                    void *arg) {
  struct jvpn_store_record r;

  if (rc == JVPN_ERR_NOTFOUND || rc == JVPN_ERR_EXISTS)
    return 0;
  if (rc == JVPN_ERR_MALFORMED) {
    s->st.skipped[JVPN_STORE_SKIP_MALFORMED]++;
    if (sk != NULL)
      sk(arg, id, JVPN_STORE_SKIP_MALFORMED, "not a session hash");
    return 0;
  }
  if (rc != 0)
    return rc;
  rc = store_common_read(rec, len, id, s->key, &r, &s->st, sk, arg);
  freeReplyObject(rep);
  if (rc != 0)
    return 0;
  rc = store_common_list_push(out, &r);
  jvpn_wipe(&r, sizeof(r));
  return rc;
}

/* Takes ids [|from|, |from| + |n|) of |ids| in one round trip: the
 * commands are pipelined, then the replies read in order (a load of
 * 10,000 sessions costs 10,000 / LOAD_BATCH round trips, not 10,000). */
static int load_batch(struct store_redis *s, const struct id_list *ids,
                      size_t from, size_t n, struct store_common_list *out,
                      jvpn_store_skip_fn sk, void *arg) {
  char skey[KEY_MAX], idhex[2 * JVPN_SESSION_ID_LEN + 1], nk[4];
  const char *args[6], *argv[SCRIPT_ARGS + 3];
  size_t i, len[SCRIPT_ARGS + 3];
  int rc = load_script(s, SC_TAKE), argc;

  for (i = 0; rc == 0 && i < n; i++) {
    take_args(s, ids->v[from + i], skey, idhex, args);
    argc = evalsha_argv(s, SC_TAKE, 1, 6, args, NULL, nk, argv, len);
    if (redisAppendCommandArgv(s->ctx, argc, argv, len) != REDIS_OK)
      rc = JVPN_ERR_NOMEM;
  }
  for (i = 0; rc == 0 && i < n; i++) {
    redisReply *r = NULL, *rep = NULL;
    const uint8_t *rec = NULL;
    size_t rlen = 0;

    if (redisGetReply(s->ctx, (void **)&r) != REDIS_OK || r == NULL) {
      s->rst.io_errors++;
      conn_drop(s);
      return JVPN_ERR_AGAIN;
    }
    /* An error reply (WRONGTYPE: not a session hash; NOSCRIPT: Redis
     * restarted under the load) is error_reply's to judge. */
    rc = r->type == REDIS_REPLY_ERROR
             ? error_reply(s, r)
             : take_reply(s, r, &rep, &rec, &rlen, NULL);
    rc = load_one(s, ids->v[from + i], rc, rep, rec, rlen, out, sk, arg);
  }
  if (rc != 0 && s->ctx != NULL)
    conn_drop(s); /* replies may be left unread */
  return rc;
}

static int redis_load(void *impl, jvpn_store_load_fn fn, jvpn_store_skip_fn sk,
                      void *arg) {
  struct store_redis *s = impl;
  struct store_common_list out = {NULL, 0, 0};
  struct id_list ids = {NULL, 0, 0};
  size_t i;
  int rc;

  rc = conn_ready(s, 1, 1);
  if (rc == 0)
    rc = scan_owned(s, &ids, sk, arg);
  for (i = 0; rc == 0 && i < ids.n; i += LOAD_BATCH)
    rc = load_batch(s, &ids, i,
                    ids.n - i < LOAD_BATCH ? ids.n - i : LOAD_BATCH, &out, sk,
                    arg);
  free(ids.v);
  return store_common_list_deliver(&out, rc, &s->st, fn, arg);
}

/* --- the cluster's operations --------------------------------------------- */

static int redis_renew(void *impl, uint64_t lease_ms) {
  struct store_redis *s = impl;
  char ms[24];
  const char *args[3] = {s->lease_key, s->epoch, ms};
  long long code;
  int rc;

  if (lease_ms == 0)
    return JVPN_ERR_INVAL;
  rc = conn_ready(s, 1, 0);
  if (rc != 0)
    return rc;
  snprintf(ms, sizeof(ms), "%" PRIu64, lease_ms);
  code = eval_code(s, SC_RENEW, 1, 3, args, NULL);
  if (code == 0) {
    s->rst.renewals++;
    return 0;
  }
  if (code == 1) {
    s->rst.superseded++;
    return JVPN_ERR_DENIED;
  }
  return code < 0 ? (int)code : JVPN_ERR_AGAIN;
}

static int claim_reply(struct store_redis *s, redisReply *rep, size_t alen,
                       uint8_t *got) {
  redisReply **e = rep->element;
  int rc;

  if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
      e[0]->type != REDIS_REPLY_INTEGER || e[1]->type != REDIS_REPLY_STRING ||
      e[0]->integer < CLAIM_NEW || e[0]->integer > CLAIM_HELD)
    return bad_reply(s, rep);
  if (e[0]->integer == CLAIM_HELD)
    rc = JVPN_ERR_EXISTS;
  else /* an address that is not one is the store's damage, not ours */
    rc = unhex(got, alen, e[1]->str, e[1]->len) == 0 ? 0 : JVPN_ERR_MALFORMED;
  freeReplyObject(rep);
  return rc;
}

static int redis_claim_addr(void *impl, const uint8_t pin[JVPN_PIN_LEN],
                            int family, const uint8_t *want, uint8_t *got) {
  struct store_redis *s = impl;
  int v6 = family == AF_INET6;
  size_t alen = v6 ? 16 : 4;
  char pkey[KEY_MAX], akey[KEY_MAX], pinhex[2 * JVPN_PIN_LEN + 1], ahex[33];
  const char *args[4] = {pkey, akey, pinhex, ahex};
  redisReply *rep;
  int rc;

  if (family != AF_INET && family != AF_INET6)
    return JVPN_ERR_INVAL;
  rc = conn_ready(s, 0, 0);
  if (rc != 0)
    return rc;
  key_of(s, pkey, v6 ? "pin6" : "pin4", pin, JVPN_PIN_LEN);
  key_of(s, akey, v6 ? "a6" : "a4", want, alen);
  hex(pinhex, pin, JVPN_PIN_LEN);
  hex(ahex, want, alen);
  rc = eval(s, SC_CLAIM, 2, 4, args, NULL, &rep);
  return rc != 0 ? rc : claim_reply(s, rep, alen, got);
}

static int redis_reachable(void *impl) {
  struct store_redis *s = impl;

  return s->state == CONN_UP && s->answered;
}

static const struct jvpn_store_stats *redis_stats(void *impl) {
  return &((struct store_redis *)impl)->st;
}

static void redis_close(void *impl) {
  struct store_redis *s = impl;

  conn_drop(s);
  jvpn_wipe(s->key, sizeof(s->key));
  free(s);
}

static const struct jvpn_store_ops redis_ops = {
    .name = "redis",
    .put = redis_put,
    .del = redis_del,
    .load = redis_load,
    .stats = redis_stats,
    .close = redis_close,
};

static const struct jvpn_store_cluster_ops redis_cluster_ops = {
    .renew = redis_renew,
    .take = redis_take,
    .claim_addr = redis_claim_addr,
    .reachable = redis_reachable,
};

const struct store_redis_stats *store_redis_stats(const struct jvpn_store *s) {
  if (s == NULL || s->ops != &redis_ops)
    return NULL;
  return &((const struct store_redis *)s->impl)->rst;
}

/* --- open ----------------------------------------------------------------- */

/* 1..63 bytes of [A-Za-z0-9._-], and ':' too when |colon|. */
static int name_ok(const char *n, int colon) {
  size_t i, len = strnlen(n, STORE_REDIS_NAME_MAX + 1);

  if (len == 0 || len > STORE_REDIS_NAME_MAX)
    return 0;
  for (i = 0; i < len; i++) {
    char c = n[i];

    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
          (colon && c == ':')))
      return 0;
  }
  return 1;
}

/* "unix:/path", "a.b.c.d:port" or "[v6]:port": literals only, so that a
 * connect never waits for a name lookup. */
static int parse_addr(struct store_redis *s, const char *addr) {
  const char *colon, *host = addr;
  size_t hlen;
  char *end;
  unsigned long port;
  uint8_t tmp[16];

  if (strncmp(addr, "unix:", 5) == 0) {
    if (addr[5] != '/' || strlen(addr + 5) >= sizeof(s->path))
      return -1;
    s->is_unix = 1;
    memcpy(s->path, addr + 5, strlen(addr + 5) + 1);
    return 0;
  }
  colon = strrchr(addr, ':');
  if (colon == NULL || colon == addr)
    return -1;
  hlen = (size_t)(colon - addr);
  if (addr[0] == '[') {
    if (colon[-1] != ']')
      return -1;
    host = addr + 1;
    hlen -= 2;
  }
  if (hlen == 0 || hlen >= sizeof(s->host))
    return -1;
  memcpy(s->host, host, hlen);
  s->host[hlen] = '\0';
  if (inet_pton(addr[0] == '[' ? AF_INET6 : AF_INET, s->host, tmp) != 1)
    return -1;
  port = strtoul(colon + 1, &end, 10);
  if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port == 0 ||
      port > 65535)
    return -1;
  s->port = (int)port;
  return 0;
}

static int configure(struct store_redis *s, const struct store_redis_conf *c,
                     char *why, size_t whylen) {
  const char *prefix = c->prefix != NULL ? c->prefix : "jvpn";

  if (c->addr == NULL || parse_addr(s, c->addr) != 0) {
    snprintf(why, whylen,
             "redis address \"%s\": want unix:/path, a.b.c.d:port or "
             "[v6]:port",
             c->addr != NULL ? c->addr : "");
    return JVPN_ERR_CONFIG;
  }
  if (c->node_id == NULL || !name_ok(c->node_id, 0)) {
    snprintf(why, whylen, "node ID \"%s\": want 1-63 of [A-Za-z0-9._-]",
             c->node_id != NULL ? c->node_id : "");
    return JVPN_ERR_CONFIG;
  }
  if (!name_ok(prefix, 1)) {
    snprintf(why, whylen,
             "redis key prefix \"%s\": want 1-63 of "
             "[A-Za-z0-9._:-]",
             prefix);
    return JVPN_ERR_CONFIG;
  }
  memcpy(s->node, c->node_id, strlen(c->node_id) + 1);
  memcpy(s->prefix, prefix, strlen(prefix) + 1);
  snprintf(s->epoch, sizeof(s->epoch), "%" PRIu64, c->epoch);
  snprintf(s->lease_prefix, KEY_MAX, "%s:node:", s->prefix);
  snprintf(s->owned_prefix, KEY_MAX, "%s:owned:", s->prefix);
  snprintf(s->lease_key, KEY_MAX, "%s%s", s->lease_prefix, s->node);
  snprintf(s->owned_key, KEY_MAX, "%s%s", s->owned_prefix, s->node);
  s->timeout_ms = c->timeout_ms != 0 ? c->timeout_ms : STORE_REDIS_TIMEOUT_MS;
  return 0;
}

int store_redis_open(struct jvpn_store **out,
                     const struct store_redis_conf *conf,
                     const uint8_t key[JVPN_STORE_KEY_LEN], char *why,
                     size_t whylen) {
  struct store_redis *s;
  int rc;

  *out = NULL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return JVPN_ERR_NOMEM;
  rc = configure(s, conf, why, whylen);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->pub.ops = &redis_ops;
  s->pub.impl = s;
  s->pub.cluster = &redis_cluster_ops;
  memcpy(s->key, key, sizeof(s->key));
  /* A first attempt now; a Unix socket (or a fast TCP peer) is connected
   * by the first command. Failing here is no error: renew retries. */
  (void)conn_ready(s, 1, 0);
  *out = &s->pub;
  return 0;
}
