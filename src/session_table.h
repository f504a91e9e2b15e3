/* src/session_table.h: being written */
