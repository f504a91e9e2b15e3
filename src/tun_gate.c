/*
 * src/tun_gate: when the server may stop reading its TUN device (see the
 * header for the policy).
 */
#include "src/tun_gate.h"

#include <stddef.h>

void tun_gate_route(struct tun_gate *g, const void *dest, uint64_t now) {
  if (g->last_dest != NULL && g->last_dest != dest)
    g->shared_until = now + TUN_GATE_SHARED_MS;
  g->last_dest = dest;
}

int tun_gate_busy(struct tun_gate *g, const void *dest, uint64_t now) {
  if (g->pauser != NULL)
    return 1;
  if (now < g->shared_until) {
    g->pauses_refused++;
    return 0;
  }
  g->pauser = dest;
  g->resume_at = now + TUN_GATE_PAUSE_MAX_MS;
  g->pauses++;
  return 1;
}

int tun_gate_paused(const struct tun_gate *g) { return g->pauser != NULL; }

uint64_t tun_gate_resume_at(const struct tun_gate *g) {
  return g->pauser != NULL ? g->resume_at : 0;
}

static int end_pause(struct tun_gate *g) {
  g->pauser = NULL;
  g->resume_at = 0;
  return 1;
}

int tun_gate_drained(struct tun_gate *g, const void *dest) {
  return g->pauser != NULL && g->pauser == dest ? end_pause(g) : 0;
}

int tun_gate_expire(struct tun_gate *g, uint64_t now) {
  return g->pauser != NULL && now >= g->resume_at ? end_pause(g) : 0;
}

int tun_gate_forget(struct tun_gate *g, const void *dest) {
  if (g->last_dest == dest)
    g->last_dest = NULL;
  return tun_gate_drained(g, dest);
}
