/*
 * src/sandbox: a seccomp-BPF allow-list of the system calls a daemon makes
 * once its TUN device, sockets, control socket and audit log are open
 * (docs/decisions.md D32). Applied right after the daemon drops root.
 */
#ifndef SRC_SANDBOX_H
#define SRC_SANDBOX_H

#include <stddef.h>

/* Which daemon: the client also opens sockets (new paths, netlink,
 * resolver) and asks for interface flags at run time. */
enum sandbox_role {
  SANDBOX_SERVER,
  SANDBOX_CLIENT,
  SANDBOX_SERVER_NODE, /* a server of several sharing a store (D44): it
                        * also reconnects to the store and routes its
                        * sessions' addresses */
};

/* What happens to a system call outside the list. */
enum sandbox_action {
  SANDBOX_KILL, /* the whole process dies of SIGSYS (audit: type=1326) */
  SANDBOX_LOG,  /* the call goes through and the kernel logs it */
};

/* Loads |role|'s allow-list into every thread of the process, for good:
 * it cannot be lifted, and it sets NO_NEW_PRIVS. Calls of another ABI
 * (i386, x32) get |action| too. On success *|nsyscalls| is the number of
 * system calls allowed (some only with the arguments the daemon uses) and
 * 0 is returned; JVPN_ERR_SYSTEM with |why| filled in if the filter could
 * not be built or loaded (then no filter is in place, though
 * NO_NEW_PRIVS may be). */
int sandbox_apply(enum sandbox_role role, enum sandbox_action action,
                  unsigned *nsyscalls, char *why, size_t whylen);

#endif /* SRC_SANDBOX_H */
