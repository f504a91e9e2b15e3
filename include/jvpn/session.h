/* include/jvpn/session.h: being written */
