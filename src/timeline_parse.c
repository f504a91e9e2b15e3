/* jvpn-quic: times and session IDs as the timeline's user and the audit
 * log spell them. */
#include "src/timeline_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jvpn/errors.h"
#include "src/b64.h"

/* |n| decimal digits at *s, advancing it. */
static int digits_at(const char **s, int n, int *out) {
  int v = 0;

  while (n-- > 0) {
    if (**s < '0' || **s > '9')
      return -1;
    v = v * 10 + (*(*s)++ - '0');
  }
  *out = v;
  return 0;
}

static int expect(const char **s, const char *any) {
  if (**s == '\0' || strchr(any, **s) == NULL)
    return -1;
  (*s)++;
  return 0;
}

/* ".123" (any number of digits; milliseconds kept). */
static int fraction(const char **s, int *ms) {
  int scale = 100;

  *ms = 0;
  if (**s != '.')
    return 0;
  (*s)++;
  if (**s < '0' || **s > '9')
    return -1;
  for (; **s >= '0' && **s <= '9'; (*s)++, scale /= 10)
    *ms += (**s - '0') * scale;
  return 0;
}

/* "Z" or "+hh:mm" / "-hh:mm": the offset east of UTC in seconds. */
static int offset(const char **s, long *off) {
  int h, m, sign;

  if (**s == 'Z' || **s == 'z') {
    (*s)++;
    *off = 0;
    return 0;
  }
  if (**s != '+' && **s != '-')
    return -1;
  sign = *(*s)++ == '-' ? -1 : 1;
  if (digits_at(s, 2, &h) < 0 || expect(s, ":") < 0 ||
      digits_at(s, 2, &m) < 0 || h > 23 || m > 59)
    return -1;
  *off = sign * (h * 3600L + m * 60L);
  return 0;
}

int tl_parse_rfc3339(const char *s, int64_t *out) {
  struct tm tm;
  int y, mo, d, h, mi, sec, ms;
  long off;
  time_t t;

  if (digits_at(&s, 4, &y) < 0 || expect(&s, "-") < 0 ||
      digits_at(&s, 2, &mo) < 0 || expect(&s, "-") < 0 ||
      digits_at(&s, 2, &d) < 0 || expect(&s, "Tt ") < 0 ||
      digits_at(&s, 2, &h) < 0 || expect(&s, ":") < 0 ||
      digits_at(&s, 2, &mi) < 0 || expect(&s, ":") < 0 ||
      digits_at(&s, 2, &sec) < 0 || fraction(&s, &ms) < 0 ||
      offset(&s, &off) < 0 || *s != '\0')
    return JVPN_ERR_MALFORMED;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return JVPN_ERR_MALFORMED;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  t = timegm(&tm);
  *out = ((int64_t)t - off) * 1000 + ms;
  return 0;
}

static int relative(const char *s, int64_t now_ms, int64_t *out) {
  static const char units[] = "smhd";
  static const int64_t unit_ms[] = {1000, 60000, 3600000, 86400000};
  const char *u;
  char *end;
  long long n;

  if (strcmp(s, "now") == 0) {
    *out = now_ms;
    return 0;
  }
  if (s[0] != '-' || s[1] < '0' || s[1] > '9')
    return JVPN_ERR_MALFORMED;
  errno = 0;
  n = strtoll(s + 1, &end, 10);
  if (errno != 0 || *end == '\0' || end[1] != '\0' ||
      (u = strchr(units, *end)) == NULL || n > 100000LL * 86400)
    return JVPN_ERR_MALFORMED;
  *out = now_ms - n * unit_ms[u - units];
  return 0;
}

int tl_parse_time(const char *s, int64_t now_ms, int64_t *out_ms) {
  if (s[0] == '-' || strcmp(s, "now") == 0)
    return relative(s, now_ms, out_ms);
  return tl_parse_rfc3339(s, out_ms);
}

static int hex_val(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static void bytes_to_hex(const uint8_t *b, size_t n, char *out) {
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = "0123456789abcdef"[b[i] >> 4];
    out[2 * i + 1] = "0123456789abcdef"[b[i] & 15];
  }
  out[2 * n] = '\0';
}

int tl_session_filter(const char *arg, char hex_out[33]) {
  uint8_t id[16];
  size_t n = strlen(arg), i;

  if (n == 22 && jvpn_b64_decode(arg, n, id, sizeof(id), JVPN_B64_URL) == 0) {
    bytes_to_hex(id, sizeof(id), hex_out);
    return 0;
  }
  if (n < 4 || n > 32)
    return JVPN_ERR_MALFORMED;
  for (i = 0; i < n; i++) {
    if (hex_val(arg[i]) < 0)
      return JVPN_ERR_MALFORMED;
    hex_out[i] = "0123456789abcdef"[hex_val(arg[i])];
  }
  hex_out[n] = '\0';
  return 0;
}

int tl_session_b64(const char *hex, char b64[23]) {
  uint8_t id[16];
  size_t i;

  if (strlen(hex) != 32)
    return JVPN_ERR_MALFORMED;
  for (i = 0; i < 32; i += 2) {
    if (hex_val(hex[i]) < 0 || hex_val(hex[i + 1]) < 0 ||
        (hex[i] >= 'A' && hex[i] <= 'F') ||
        (hex[i + 1] >= 'A' && hex[i + 1] <= 'F'))
      return JVPN_ERR_MALFORMED;
    id[i / 2] = (uint8_t)(hex_val(hex[i]) << 4 | hex_val(hex[i + 1]));
  }
  b64[jvpn_b64_encode(id, sizeof(id), b64, JVPN_B64_URL)] = '\0';
  return 0;
}
