/* src/policy.c: being written */
