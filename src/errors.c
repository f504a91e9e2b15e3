/* jvpn-quic: error descriptions. */
#include "jvpn/errors.h"

const char *jvpn_strerror(int err) {
  switch (err) {
  case JVPN_OK: return "success";
  case JVPN_ERR_AGAIN: return "would block";
  case JVPN_ERR_TRUNCATED: return "truncated input";
  case JVPN_ERR_MALFORMED: return "malformed input";
  case JVPN_ERR_OVERSIZE: return "input exceeds limit";
  case JVPN_ERR_NOSPACE: return "output buffer too small";
  case JVPN_ERR_NOTFOUND: return "not found";
  case JVPN_ERR_EXISTS: return "already exists";
  case JVPN_ERR_DENIED: return "denied";
  case JVPN_ERR_INVAL: return "invalid argument";
  case JVPN_ERR_FULL: return "table or pool exhausted";
  case JVPN_ERR_UNSUPPORTED: return "unsupported";
  case JVPN_ERR_FATAL: return "fatal error";
  case JVPN_ERR_NOMEM: return "out of memory";
  case JVPN_ERR_SYSTEM: return "system call failed";
  case JVPN_ERR_TLS: return "TLS failure";
  case JVPN_ERR_QUIC: return "QUIC failure";
  case JVPN_ERR_H3: return "HTTP/3 failure";
  case JVPN_ERR_CONFIG: return "configuration error";
  case JVPN_ERR_PROTO: return "protocol violation by peer";
  default: return "unknown error";
  }
}
