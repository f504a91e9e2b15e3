/*
 * src/jsonl: a reader of the flat JSON objects the audit log is made of
 * (one per line, src/audit.c): string, number, true, false and null
 * values, no nested objects or arrays. Strings are unescaped into valid
 * UTF-8 (\uXXXX escapes, surrogate pairs included; a lone surrogate
 * and U+0000 become U+FFFD); raw bytes must be valid UTF-8 and no control
 * character. Anything else is JVPN_ERR_MALFORMED: a reader counts the
 * line and goes on. Public input only: nothing here is constant-time.
 */
#ifndef SRC_JSONL_H
#define SRC_JSONL_H

#include <stddef.h>
#include <stdint.h>

#define JSONL_LINE_MAX 4096 /* bytes: the writer's longest line (PIPE_BUF) */
#define JSONL_FIELDS_MAX 32

enum jsonl_type { JSONL_STRING, JSONL_NUMBER, JSONL_LITERAL };

struct jsonl_field {
  const char *key, *val; /* NUL-terminated, in the object's buffer */
  enum jsonl_type type;  /* a number or literal keeps its source text */
};

struct jsonl_obj {
  struct jsonl_field f[JSONL_FIELDS_MAX];
  int n;
  char buf[JSONL_LINE_MAX + 1];
};

/* Parses the |len| bytes at |line| (a trailing '\n' or "\r\n" and
 * surrounding spaces allowed) into |o|. Returns 0, JVPN_ERR_OVERSIZE
 * (longer than JSONL_LINE_MAX or more than JSONL_FIELDS_MAX fields) or
 * JVPN_ERR_MALFORMED. A key given twice keeps its first value. */
int jsonl_parse(struct jsonl_obj *o, const char *line, size_t len);

/* The value of |key| if it is a string, or NULL. */
const char *jsonl_str(const struct jsonl_obj *o, const char *key);

/* The value of |key| if it is a non-negative integer that fits: 0, or
 * JVPN_ERR_NOTFOUND (absent, another type, a fraction, out of range). */
int jsonl_u64(const struct jsonl_obj *o, const char *key, uint64_t *v);

#endif /* SRC_JSONL_H */
