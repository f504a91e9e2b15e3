/*
 * src/privdrop: see privdrop.h. libcap-ng changes the ids with
 * PR_SET_KEEPCAPS so that the one kept capability survives setuid().
 */
#include "src/privdrop.h"

#include <cap-ng.h>
#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "jvpn/errors.h"

/* After the change: the ids are the user's and root cannot come back. */
static int dropped_for_good(const struct passwd *pw) {
  uid_t r, e, s;
  gid_t rg, eg, sg;

  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0)
    return 0;
  if (r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid ||
      rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
    return 0;
  return setuid(0) != 0 && getgroups(0, NULL) == 0;
}

int privdrop_become(const char *user, enum privdrop_keep keep, char *why,
                    size_t whylen) {
  struct passwd *pw;
  int rc;

  errno = 0;
  pw = getpwnam(user);
  if (pw == NULL) {
    snprintf(why, whylen, "user \"%s\": %s", user,
             errno ? strerror(errno) : "no such user");
    return JVPN_ERR_NOTFOUND;
  }
  if (pw->pw_uid == 0) {
    snprintf(why, whylen, "user \"%s\" is root", user);
    return JVPN_ERR_INVAL;
  }
  capng_clear(CAPNG_SELECT_BOTH);
  if (keep == PRIVDROP_KEEP_NET_ADMIN &&
      capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
                   CAP_NET_ADMIN) != 0) {
    snprintf(why, whylen, "cannot keep CAP_NET_ADMIN");
    return JVPN_ERR_SYSTEM;
  }
  rc = capng_change_id((int)pw->pw_uid, (int)pw->pw_gid,
                       CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
  if (rc != 0) {
    snprintf(why, whylen, "changing to %s (uid %u) failed: libcap-ng %d",
             user, (unsigned)pw->pw_uid, rc);
    return JVPN_ERR_SYSTEM;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    snprintf(why, whylen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    return JVPN_ERR_SYSTEM;
  }
  if (!dropped_for_good(pw)) {
    snprintf(why, whylen, "still privileged after becoming %s", user);
    return JVPN_ERR_SYSTEM;
  }
  return 0;
}
