/* src/control.c: being written */
