/* libFuzzer harness for src/config: both file kinds on every input. */
#include <stddef.h>
#include <stdint.h>

#include "src/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct jvpn_server_conf s;
  struct jvpn_client_conf c;
  struct jvpn_config_error err;

  /* The parser must stay within |size|: |data| is not NUL-terminated. */
  if (jvpn_config_parse_server(&s, (const char *)data, size, "fuzz", &err) == 0)
    jvpn_server_conf_free(&s);
  (void)jvpn_config_parse_client(&c, (const char *)data, size, "fuzz", &err);
  return 0;
}
