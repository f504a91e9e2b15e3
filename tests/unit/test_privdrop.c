/*
 * tests/unit/test_privdrop: a daemon really gives up root. Each drop runs
 * in a child process (it cannot be undone); the child reports what it
 * sees through its exit status. Needs root, as the daemons do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cap-ng.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jvpn/errors.h"
#include "src/privdrop.h"

#define DROP_USER "nobody"

/* Exit codes of the child: which check failed. */
enum child_result {
  CHILD_OK = 0,
  CHILD_DROP_FAILED,
  CHILD_WRONG_UID,
  CHILD_STILL_ROOT,
  CHILD_CAPS_WRONG,
  CHILD_NO_NNP,
  CHILD_GROUPS,
};

static int child_checks(enum privdrop_keep keep) {
  const struct passwd *pw = getpwnam(DROP_USER);
  char why[160];

  if (privdrop_become(DROP_USER, keep, why, sizeof(why)) != 0)
    return CHILD_DROP_FAILED;
  if (pw == NULL || getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
      getgid() != pw->pw_gid)
    return CHILD_WRONG_UID;
  if (setuid(0) == 0 || seteuid(0) == 0)
    return CHILD_STILL_ROOT;
  if (getgroups(0, NULL) != 0)
    return CHILD_GROUPS;
  capng_clear(CAPNG_SELECT_BOTH);
  if (capng_get_caps_process() != 0)
    return CHILD_CAPS_WRONG;
  if (capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) !=
          (keep == PRIVDROP_KEEP_NET_ADMIN) ||
      capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN) ||
      capng_have_capability(CAPNG_PERMITTED, CAP_SETUID) ||
      capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_RAW) ||
      capng_have_capability(CAPNG_BOUNDING_SET, CAP_SYS_ADMIN))
    return CHILD_CAPS_WRONG;
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
    return CHILD_NO_NNP;
  return CHILD_OK;
}

static int run_child(enum privdrop_keep keep) {
  int status = -1;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0)
    _exit(child_checks(keep));
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void test_client_keeps_net_admin_only(void **state) {
  (void)state;
  assert_int_equal(run_child(PRIVDROP_KEEP_NET_ADMIN), CHILD_OK);
}

static void test_server_keeps_nothing(void **state) {
  (void)state;
  assert_int_equal(run_child(PRIVDROP_KEEP_NONE), CHILD_OK);
}

/* Refusals come before any change: this process is still root after. */
static void test_refusals_change_nothing(void **state) {
  char why[160];

  (void)state;
  assert_int_equal(privdrop_become("no-such-user-jvpn", PRIVDROP_KEEP_NONE,
                                   why, sizeof(why)),
                   JVPN_ERR_NOTFOUND);
  assert_non_null(strstr(why, "no-such-user-jvpn"));
  assert_int_equal(privdrop_become("root", PRIVDROP_KEEP_NONE, why,
                                   sizeof(why)),
                   JVPN_ERR_INVAL);
  assert_non_null(strstr(why, "is root"));
  assert_int_equal(geteuid(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_keeps_net_admin_only),
      cmocka_unit_test(test_server_keeps_nothing),
      cmocka_unit_test(test_refusals_change_nothing),
  };

  if (geteuid() != 0) {
    fprintf(stderr, "test_privdrop needs root (the daemons start as root)\n");
    return 1;
  }
  if (getpwnam(DROP_USER) == NULL) {
    fprintf(stderr, "test_privdrop needs the user \"" DROP_USER "\"\n");
    return 1;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
