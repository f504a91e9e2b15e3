/*
 * src/server_pins: what the server keeps per client pin (its [peer]):
 * how many live connections it has and its current session, so that a
 * handshake's pin limit and a birth's supersede look one entry up instead
 * of walking every connection and session (issue 15: at 10,000 sessions
 * those walks were a third of a birth's cost).
 *
 * One entry per peer of the running list, at the peer's index; a reload
 * counts afresh (srv_pins_rebuild). A connection of a peer a reload
 * removed has no entry: it is closing anyway.
 */
#include <stdlib.h>
#include <string.h>

#include "jvpn/errors.h"
#include "src/server_int.h"

struct srv_pin *srv_pin_of(struct server *srv,
                           const struct jvpn_peer_conf *peer) {
  const struct jvpn_peer_conf *first = srv->conf.peers;

  if (peer == NULL || srv->pins == NULL || peer < first ||
      peer >= first + srv->conf.npeers)
    return NULL;
  return &srv->pins[peer - first];
}

int srv_pins_init(struct server *srv) {
  srv->pins = calloc(srv->conf.npeers ? srv->conf.npeers : 1,
                     sizeof(*srv->pins));
  return srv->pins ? 0 : JVPN_ERR_NOMEM;
}

void srv_pins_free(struct server *srv) {
  free(srv->pins);
  srv->pins = NULL;
}

void srv_pin_conn_add(struct sclient *sc) {
  struct srv_pin *p = srv_pin_of(sc->srv, sc->peer);

  if (p == NULL || sc->pin_counted)
    return;
  p->conns++;
  sc->pin_counted = 1;
}

void srv_pin_conn_del(struct sclient *sc) {
  struct srv_pin *p = srv_pin_of(sc->srv, sc->peer);

  if (p != NULL && sc->pin_counted && p->conns > 0)
    p->conns--;
  sc->pin_counted = 0;
}

int srv_pins_rebuild(struct server *srv) {
  struct srv_pin *fresh =
      calloc(srv->conf.npeers ? srv->conf.npeers : 1, sizeof(*fresh));
  struct srv_session *ss;
  struct sclient *sc;

  free(srv->pins);
  srv->pins = NULL; /* sized for the old list: no entries rather than those */
  if (fresh == NULL)
    return JVPN_ERR_NOMEM;
  srv->pins = fresh;
  for (sc = srv->clients; sc; sc = sc->next) {
    struct srv_pin *p = srv_pin_of(srv, sc->peer);

    if (p != NULL && sc->pin_counted)
      p->conns++;
    else
      sc->pin_counted = 0;
  }
  for (ss = srv->sess_list; ss; ss = ss->next) {
    struct srv_pin *p = srv_pin_of(srv, ss->peer);

    if (p != NULL && !ss->terminated)
      p->sess = ss;
  }
  return 0;
}
