/*
 * jvpn-quic: one error space.
 *
 * Functions return 0 (or a length) on success and a negative JVPN_ERR_* on
 * failure. Codes below JVPN_ERR_FATAL end the object that returned them
 * (connection, device, program); codes above it are recoverable: the input
 * is dropped and counted, and the caller goes on.
 */
#ifndef JVPN_ERRORS_H
#define JVPN_ERRORS_H

enum jvpn_err {
  JVPN_OK = 0,
  /* recoverable */
  JVPN_ERR_AGAIN = -1,        /* would block; retry when ready */
  JVPN_ERR_TRUNCATED = -2,    /* input ends before the structure does */
  JVPN_ERR_MALFORMED = -3,    /* input violates the format */
  JVPN_ERR_OVERSIZE = -4,     /* input exceeds a stated bound */
  JVPN_ERR_NOSPACE = -5,      /* output buffer too small */
  JVPN_ERR_NOTFOUND = -6,     /* no such entry */
  JVPN_ERR_EXISTS = -7,       /* entry already present */
  JVPN_ERR_DENIED = -8,       /* policy or identity refuses it */
  JVPN_ERR_INVAL = -9,        /* invalid argument or value */
  JVPN_ERR_FULL = -10,        /* table or pool exhausted */
  JVPN_ERR_UNSUPPORTED = -11, /* valid but not supported here */
  /* fatal */
  JVPN_ERR_FATAL = -100,
  JVPN_ERR_NOMEM = -101,      /* allocation failed */
  JVPN_ERR_SYSTEM = -102,     /* a system call failed; errno says why */
  JVPN_ERR_TLS = -103,        /* TLS library failure */
  JVPN_ERR_QUIC = -104,       /* QUIC library failure */
  JVPN_ERR_H3 = -105,         /* HTTP/3 library failure */
  JVPN_ERR_CONFIG = -106,     /* configuration unusable */
  JVPN_ERR_PROTO = -107,      /* peer violated the protocol */
};

/* Returns a static, human-readable description of |err|. */
const char *jvpn_strerror(int err);

/* Returns nonzero if |err| ends the object that returned it. */
static inline int jvpn_err_is_fatal(int err) { return err <= JVPN_ERR_FATAL; }

#endif /* JVPN_ERRORS_H */
