/*
 * src/tun_gate: when the server may stop reading its TUN device.
 *
 * The server reads every client's downlink from one TUN device and queues
 * each packet on its client's connection (a bounded queue per client). A
 * queue fills when its client's path is slow, lossy or dead. Pausing TUN
 * reads then lets the kernel hold the excess and the sender's TCP feel the
 * pressure, which is what a single busy download wants; but a pause stops
 * every client's downlink, so one slow or silent client would stall all the
 * others. The gate allows a pause only while one client has the downlink to
 * itself (no other client got a packet within TUN_GATE_SHARED_MS) and for
 * at most TUN_GATE_PAUSE_MAX_MS; otherwise reads go on and the full queue
 * drops its own client's packets, and only those (docs/decisions.md D28).
 *
 * Sans-I/O: the caller passes the time and starts or stops reading as the
 * gate says. Clients are opaque pointers, never dereferenced.
 */
#ifndef SRC_TUN_GATE_H
#define SRC_TUN_GATE_H

#include <stdint.h>

#define TUN_GATE_SHARED_MS 100   /* another client's traffic this recent:
                                  * the downlink is shared, no pauses */
#define TUN_GATE_PAUSE_MAX_MS 5  /* longest pause; reads resume then */

struct tun_gate {
  const void *last_dest;  /* client of the last packet routed */
  uint64_t shared_until;  /* the downlink is shared until then */
  const void *pauser;     /* client whose queue paused reads, or NULL */
  uint64_t resume_at;     /* a pause ends by then at the latest */
  uint64_t pauses;        /* pauses begun */
  uint64_t pauses_refused; /* busy queues that did not pause (shared) */
};

/* A packet from the TUN device was routed to |dest| at |now| (ms). */
void tun_gate_route(struct tun_gate *g, const void *dest, uint64_t now);

/* |dest|'s queue is busy at |now|. Returns 1 when reads pause (until
 * tun_gate_resume_at()), 0 when they go on. */
int tun_gate_busy(struct tun_gate *g, const void *dest, uint64_t now);

/* Nonzero while reads are paused. */
int tun_gate_paused(const struct tun_gate *g);

/* When the current pause ends at the latest (ms); 0 when not paused. */
uint64_t tun_gate_resume_at(const struct tun_gate *g);

/* |dest|'s queue is no longer busy. Returns 1 when that ends the pause
 * (the caller reads again). */
int tun_gate_drained(struct tun_gate *g, const void *dest);

/* The time has come (|now|): returns 1 when that ends the pause. */
int tun_gate_expire(struct tun_gate *g, uint64_t now);

/* |dest| is gone: forgets it. Returns 1 when that ends the pause. */
int tun_gate_forget(struct tun_gate *g, const void *dest);

#endif /* SRC_TUN_GATE_H */
