/* src/session_wire.c: being written */
