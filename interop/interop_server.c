/* interop/interop_server.c: being written (interop/README.md). */
#include "interop/interop.h"
