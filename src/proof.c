/* src/proof.c: being written */
