/* jvpn-quic: error messages into caller buffers. */
#include "src/errmsg.h"

#include <stdarg.h>
#include <stdio.h>

#include "jvpn/errors.h"

int jvpn_errmsg(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (err != NULL && errlen > 0) {
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* truncation is harmless */
    va_end(ap);
  }
  return JVPN_ERR_INVAL;
}
