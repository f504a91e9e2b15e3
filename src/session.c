/* src/session.c: being written */
