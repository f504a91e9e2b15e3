/* interop/interop_client.c: being written (interop/README.md). */
#include "interop/interop.h"
