/* interop/jvpn_interop.c: being written (interop/README.md). */
#include "interop/interop.h"
int main(void) { return 127; }
