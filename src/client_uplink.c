/* src/client_uplink: being written. */
#include "src/client_int.h"
