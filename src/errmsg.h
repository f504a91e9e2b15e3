/*
 * src/errmsg: the text that goes with an error code, for functions that
 * take an optional caller buffer (char *err, size_t errlen) for it.
 */
#ifndef SRC_ERRMSG_H
#define SRC_ERRMSG_H

#include <stddef.h>

/* Formats the message into |err| (NUL-terminated, truncated to |errlen|;
 * nothing when |err| is NULL or |errlen| is 0). Returns JVPN_ERR_INVAL, so
 * that a validator can end with "return jvpn_errmsg(...)". */
int jvpn_errmsg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* SRC_ERRMSG_H */
