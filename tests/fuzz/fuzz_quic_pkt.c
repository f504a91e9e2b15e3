/*
 * tests/fuzz/fuzz_quic_pkt: what a server reads of a packet before any
 * connection exists (quic/quic_pkt): its version and connection IDs, and
 * whether it is a client's first Initial. Every byte comes off the
 * network unauthenticated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "quic/quic_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct quic_pkt_ids ids;
  struct quic_initial in;
  uint8_t out[256];
  int rv;

  rv = quic_pkt_decode_ids(&ids, data, size);
  if (rv == QUIC_PKT_VERSION_UNSUPPORTED) {
    if (ids.dcid.len > QUIC_CID_MAX || ids.scid.len > QUIC_CID_MAX)
      abort();
    (void)quic_pkt_write_vn(out, sizeof(out), &ids);
  } else if (rv == QUIC_PKT_OK) {
    if (ids.dcid.len > QUIC_CID_MAX)
      abort();
  } else if (rv != JVPN_ERR_MALFORMED) {
    abort();
  }
  if (quic_pkt_accept(&in, data, size) == 0) {
    /* The token must lie inside the packet. */
    if (in.token_len &&
        (in.token < data || in.token + in.token_len > data + size))
      abort();
  }
  return 0;
}
