/* src/audit.c: being written */
