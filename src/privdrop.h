/*
 * src/privdrop: a daemon gives up root once its TUN device, sockets,
 * control socket and audit log are open (docs/decisions.md D27).
 */
#ifndef SRC_PRIVDROP_H
#define SRC_PRIVDROP_H

#include <stddef.h>

/* The one capability a daemon may keep. */
enum privdrop_keep {
  PRIVDROP_KEEP_NONE,      /* the server: nothing privileged after start */
  PRIVDROP_KEEP_NET_ADMIN, /* the client: addresses, routes, MTU at run time */
};

/* Becomes |user| (its uid and primary group, no supplementary groups)
 * keeping only |keep| (effective and permitted; the bounding set is
 * cleared) and sets NO_NEW_PRIVS. Returns 0; JVPN_ERR_NOTFOUND if there is
 * no such user, JVPN_ERR_INVAL if it is root, JVPN_ERR_SYSTEM if a step
 * failed: then |why| says which and the process must not go on. */
int privdrop_become(const char *user, enum privdrop_keep keep, char *why,
                    size_t whylen);

#endif /* SRC_PRIVDROP_H */
