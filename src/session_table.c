/* src/session_table.c: being written */
