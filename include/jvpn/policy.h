/* include/jvpn/policy.h: being written */
