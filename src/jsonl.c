/* jvpn-quic: a reader of flat JSON objects (RFC 8259), one per line. */
#include "src/jsonl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/audit.h"
#include "jvpn/errors.h"

/* The input being read and the buffer its strings are unescaped into.
 * Unescaped text is never longer than its source, so the buffer (as long
 * as the line, plus one) always has room, NULs included: each value ends
 * at a quote, a comma or a brace that its NUL can take the place of. */
struct cur {
  const unsigned char *s;
  size_t n, i;
  char *out;
  size_t o;
};

static void skip_ws(struct cur *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
                         c->s[c->i] == '\n' || c->s[c->i] == '\r'))
    c->i++;
}

static int eat(struct cur *c, char ch) {
  skip_ws(c);
  if (c->i >= c->n || c->s[c->i] != (unsigned char)ch)
    return 0;
  c->i++;
  return 1;
}

static int hex4(struct cur *c, unsigned *v) {
  size_t k;

  if (c->n - c->i < 4)
    return -1;
  *v = 0;
  for (k = 0; k < 4; k++) {
    unsigned char h = c->s[c->i + k];
    int d = h >= '0' && h <= '9'   ? h - '0'
            : h >= 'a' && h <= 'f' ? h - 'a' + 10
            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                   : -1;

    if (d < 0)
      return -1;
    *v = *v << 4 | (unsigned)d;
  }
  c->i += 4;
  return 0;
}

static void put_utf8(struct cur *c, unsigned cp) {
  char *p = c->out + c->o;

  if (cp < 0x80) {
    p[0] = (char)cp;
    c->o += 1;
  } else if (cp < 0x800) {
    p[0] = (char)(0xc0 | cp >> 6);
    p[1] = (char)(0x80 | (cp & 0x3f));
    c->o += 2;
  } else if (cp < 0x10000) {
    p[0] = (char)(0xe0 | cp >> 12);
    p[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    p[2] = (char)(0x80 | (cp & 0x3f));
    c->o += 3;
  } else {
    p[0] = (char)(0xf0 | cp >> 18);
    p[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    p[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    p[3] = (char)(0x80 | (cp & 0x3f));
    c->o += 4;
  }
}

/* After "\u": one code point, a surrogate pair taken whole. */
static int unescape_u(struct cur *c) {
  unsigned hi, lo;
  size_t back;

  if (hex4(c, &hi) < 0)
    return -1;
  if (hi >= 0xd800 && hi <= 0xdbff) {
    back = c->i;
    if (c->n - c->i >= 2 && c->s[c->i] == '\\' && c->s[c->i + 1] == 'u') {
      c->i += 2;
      if (hex4(c, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
        put_utf8(c, 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
        return 0;
      }
    }
    c->i = back;
    hi = 0xfffd;
  } else if ((hi >= 0xdc00 && hi <= 0xdfff) || hi == 0) {
    hi = 0xfffd; /* a lone surrogate; a NUL would cut the C string */
  }
  put_utf8(c, hi);
  return 0;
}

static int unescape(struct cur *c) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *p;

  if (c->i >= c->n)
    return -1;
  if (c->s[c->i] == 'u') {
    c->i++;
    return unescape_u(c);
  }
  p = memchr(from, c->s[c->i], sizeof(from) - 1);
  if (p == NULL)
    return -1;
  c->out[c->o++] = to[p - from];
  c->i++;
  return 0;
}

/* A string at the cursor, unescaped into the buffer; *val points at it. */
static int string(struct cur *c, const char **val) {
  size_t run;

  if (!eat(c, '"'))
    return -1;
  *val = c->out + c->o;
  while (c->i < c->n && c->s[c->i] != '"') {
    unsigned char ch = c->s[c->i];

    if (ch == '\\') {
      c->i++;
      if (unescape(c) < 0)
        return -1;
    } else if (ch < 0x20 || ch == 0x7f) {
      return -1;
    } else if (ch < 0x80) {
      c->out[c->o++] = (char)ch;
      c->i++;
    } else if ((run = jvpn_utf8_seq(c->s + c->i, c->n - c->i)) > 0) {
      memcpy(c->out + c->o, c->s + c->i, run);
      c->o += run;
      c->i += run;
    } else {
      return -1;
    }
  }
  if (c->i >= c->n)
    return -1;
  c->i++;
  c->out[c->o++] = '\0';
  return 0;
}

static size_t digits(struct cur *c) {
  size_t k = 0;

  while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
    c->i++;
    k++;
  }
  return k;
}

/* RFC 8259 section 6's grammar, checked; the text is kept. */
static int number(struct cur *c) {
  size_t start = c->i;

  if (c->i < c->n && c->s[c->i] == '-')
    c->i++;
  if (c->i < c->n && c->s[c->i] == '0')
    c->i++;
  else if (digits(c) == 0)
    return -1;
  if (c->i < c->n && c->s[c->i] == '.') {
    c->i++;
    if (digits(c) == 0)
      return -1;
  }
  if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
    c->i++;
    if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
      c->i++;
    if (digits(c) == 0)
      return -1;
  }
  return (int)(c->i - start);
}

static int literal(struct cur *c) {
  static const char *const words[] = {"true", "false", "null"};
  size_t k, len;

  for (k = 0; k < 3; k++) {
    len = strlen(words[k]);
    if (c->n - c->i >= len && memcmp(c->s + c->i, words[k], len) == 0) {
      c->i += len;
      return (int)len;
    }
  }
  return -1;
}

/* A value that is not a string: its source text, copied. */
static int scalar(struct cur *c, struct jsonl_field *f) {
  size_t start;
  int len;

  skip_ws(c);
  start = c->i;
  if (c->i < c->n && (c->s[c->i] == '-' ||
                      (c->s[c->i] >= '0' && c->s[c->i] <= '9'))) {
    f->type = JSONL_NUMBER;
    len = number(c);
  } else {
    f->type = JSONL_LITERAL;
    len = literal(c);
  }
  if (len < 0)
    return -1;
  f->val = c->out + c->o;
  memcpy(c->out + c->o, c->s + start, (size_t)len);
  c->o += (size_t)len;
  c->out[c->o++] = '\0';
  return 0;
}

static int member(struct cur *c, struct jsonl_obj *o) {
  struct jsonl_field *f;

  if (o->n == JSONL_FIELDS_MAX)
    return JVPN_ERR_OVERSIZE;
  f = &o->f[o->n];
  if (string(c, &f->key) < 0 || !eat(c, ':'))
    return JVPN_ERR_MALFORMED;
  skip_ws(c);
  if (c->i < c->n && c->s[c->i] == '"') {
    f->type = JSONL_STRING;
    if (string(c, &f->val) < 0)
      return JVPN_ERR_MALFORMED;
  } else if (scalar(c, f) < 0) {
    return JVPN_ERR_MALFORMED;
  }
  o->n++;
  return 0;
}

int jsonl_parse(struct jsonl_obj *o, const char *line, size_t len) {
  struct cur c = {(const unsigned char *)line, len, 0, o->buf, 0};
  int rv;

  o->n = 0;
  if (len > JSONL_LINE_MAX)
    return JVPN_ERR_OVERSIZE;
  if (!eat(&c, '{'))
    return JVPN_ERR_MALFORMED;
  if (!eat(&c, '}')) {
    do {
      if ((rv = member(&c, o)) < 0)
        return rv;
    } while (eat(&c, ','));
    if (!eat(&c, '}'))
      return JVPN_ERR_MALFORMED;
  }
  skip_ws(&c);
  return c.i == c.n ? 0 : JVPN_ERR_MALFORMED;
}

static const struct jsonl_field *find(const struct jsonl_obj *o,
                                      const char *key) {
  int k;

  for (k = 0; k < o->n; k++)
    if (strcmp(o->f[k].key, key) == 0)
      return &o->f[k];
  return NULL;
}

const char *jsonl_str(const struct jsonl_obj *o, const char *key) {
  const struct jsonl_field *f = find(o, key);

  return f != NULL && f->type == JSONL_STRING ? f->val : NULL;
}

int jsonl_u64(const struct jsonl_obj *o, const char *key, uint64_t *v) {
  const struct jsonl_field *f = find(o, key);
  unsigned long long x;
  char *end;

  if (f == NULL || f->type != JSONL_NUMBER || f->val[0] == '-')
    return JVPN_ERR_NOTFOUND;
  errno = 0;
  x = strtoull(f->val, &end, 10);
  if (errno != 0 || *end != '\0')
    return JVPN_ERR_NOTFOUND;
  *v = x;
  return 0;
}
