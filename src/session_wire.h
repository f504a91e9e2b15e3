/* src/session_wire.h: being written */
