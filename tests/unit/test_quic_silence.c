/* tests/unit/test_quic_silence: the receive-silence detector, with a
 * hand-advanced clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jvpn/proto.h"
#include "quic/quic_silence.h"

#define MS 1000000ull

/* Feeds |n| arrivals |gap_ms| apart from |*t|; leaves *t at the last. */
static void stream(struct quic_silence *s, uint64_t *t, int n,
                   uint64_t gap_ms) {
  int i;

  for (i = 0; i < n; i++) {
    *t += gap_ms * MS;
    assert_int_equal(quic_silence_on_rx(s, *t), 0);
  }
}

/* A 200 packets/s stream: silence after max(4 x 5 ms, 2 x srtt, 20 ms),
 * then a probe every 25 ms; three unanswered make it an outage; the first
 * packet back ends it and says how long it lasted. */
static void test_stream_silence(void **state) {
  struct quic_silence s;
  uint64_t t = 1000 * MS, srtt = 2 * MS, due;

  (void)state;
  quic_silence_init(&s, NULL);
  assert_true(quic_silence_deadline(&s, srtt) == UINT64_MAX);
  stream(&s, &t, 50, 5);
  assert_true(quic_silence_threshold(&s, srtt) == 20 * MS);
  due = quic_silence_deadline(&s, srtt);
  assert_true(due == t + 20 * MS);
  assert_false(quic_silence_probe_due(&s, due - 1, srtt, 0));
  assert_true(quic_silence_probe_due(&s, due, srtt, 0));
  assert_false(quic_silence_outage(&s));
  /* Rate-limited: the next one 25 ms later, not before. */
  assert_false(quic_silence_probe_due(&s, due + 24 * MS, srtt, 0));
  assert_true(quic_silence_deadline(&s, srtt) == due + 25 * MS);
  assert_true(quic_silence_probe_due(&s, due + 25 * MS, srtt, 0));
  assert_false(quic_silence_outage(&s));
  assert_true(quic_silence_probe_due(&s, due + 50 * MS, srtt, 0));
  assert_true(quic_silence_outage(&s));
  assert_true(quic_silence_outage_began(&s));
  assert_int_equal(s.episodes, 1);
  assert_true(quic_silence_probe_due(&s, due + 75 * MS, srtt, 1));
  assert_false(quic_silence_outage_began(&s));
  /* A sender short of window probes at half the rate. */
  assert_true(quic_silence_deadline(&s, srtt) == due + 125 * MS);
  /* Traffic back after 300 ms of silence: reported, and the rhythm of
   * the stream is kept (the long gap does not count). */
  assert_true(quic_silence_on_rx(&s, t + 300 * MS) == 300 * MS);
  assert_true(quic_silence_threshold(&s, srtt) == 20 * MS);
  assert_int_equal(s.episodes, 1);
}

/* The RTT multiple and the floor bound the threshold from below. */
static void test_threshold_floors(void **state) {
  struct quic_silence s;
  uint64_t t = 0;

  (void)state;
  quic_silence_init(&s, NULL);
  stream(&s, &t, 20, 1);
  assert_true(quic_silence_threshold(&s, 0) == JVPN_SILENCE_FLOOR_MS * MS);
  assert_true(quic_silence_threshold(&s, 40 * MS) == 80 * MS);
  stream(&s, &t, 200, 50); /* a 20 packets/s stream: 4 x 50 ms */
  assert_true(quic_silence_threshold(&s, 1 * MS) > 190 * MS);
}

/* A peer that merely stopped streaming answers the first probe: no
 * outage, nothing reported. */
static void test_peer_stopped(void **state) {
  struct quic_silence s;
  uint64_t t = 0, due;

  (void)state;
  quic_silence_init(&s, NULL);
  stream(&s, &t, 20, 5);
  due = quic_silence_deadline(&s, 1 * MS);
  assert_true(quic_silence_probe_due(&s, due, 1 * MS, 0));
  assert_int_equal(quic_silence_on_rx(&s, due + 2 * MS), 0); /* its ACK */
  assert_false(quic_silence_outage(&s));
  assert_int_equal(s.episodes, 0);
  /* Its answer is no stream: no probing it again and again. */
  assert_true(quic_silence_deadline(&s, 1 * MS) == UINT64_MAX);
}

/* A request and its answer are no stream; eight arrivals in a row are. */
static void test_stream_needs_arrivals(void **state) {
  struct quic_silence s;
  uint64_t t = 0;

  (void)state;
  quic_silence_init(&s, NULL);
  stream(&s, &t, JVPN_SILENCE_STREAM_ARRIVALS, 10);
  assert_true(quic_silence_deadline(&s, 1 * MS) == UINT64_MAX);
  stream(&s, &t, 1, 10);
  assert_true(quic_silence_deadline(&s, 1 * MS) != UINT64_MAX);
}

/* "silence_detect = off": never a probe. */
static void test_disabled(void **state) {
  struct quic_silence_policy pol = {.disabled = 1};
  struct quic_silence s;
  uint64_t t = 0;

  (void)state;
  quic_silence_init(&s, &pol);
  stream(&s, &t, 100, 5);
  assert_true(quic_silence_deadline(&s, 1 * MS) == UINT64_MAX);
  assert_false(quic_silence_probe_due(&s, t + 1000 * MS, 1 * MS, 0));
}

/* Keep-alives (1 s apart) are no stream: nothing to miss, no probe. */
static void test_keepalives_are_no_stream(void **state) {
  struct quic_silence s;
  uint64_t t = 0;

  (void)state;
  quic_silence_init(&s, NULL);
  stream(&s, &t, 10, 1000);
  assert_true(quic_silence_deadline(&s, 1 * MS) == UINT64_MAX);
  assert_false(quic_silence_probe_due(&s, t + 5000 * MS, 1 * MS, 0));
  /* A stream that pauses for longer than a stream's gap stops being one. */
  stream(&s, &t, 10, 5);
  assert_true(quic_silence_deadline(&s, 1 * MS) != UINT64_MAX);
  t += 500 * MS;
  /* The pause was noticed (probes went out), then packets resumed. */
  assert_true(quic_silence_probe_due(&s, t, 1 * MS, 0));
  assert_true(quic_silence_probe_due(&s, t + 25 * MS, 1 * MS, 0));
  assert_true(quic_silence_probe_due(&s, t + 50 * MS, 1 * MS, 0));
  assert_true(quic_silence_on_rx(&s, t + 51 * MS) > 0);
}

/* Probing stops after giveup_ms of silence; the idle timeout takes over. */
static void test_giveup(void **state) {
  struct quic_silence_policy pol = {.giveup_ms = 100};
  struct quic_silence s;
  uint64_t t = 0, now;
  int probes = 0;

  (void)state;
  quic_silence_init(&s, &pol);
  stream(&s, &t, 10, 5);
  for (now = t; now < t + 1000 * MS; now += 1 * MS)
    probes += quic_silence_probe_due(&s, now, 1 * MS, 0);
  assert_true(probes >= 3 && probes <= 5);
  assert_true(quic_silence_deadline(&s, 1 * MS) == UINT64_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stream_silence),
      cmocka_unit_test(test_threshold_floors),
      cmocka_unit_test(test_peer_stopped),
      cmocka_unit_test(test_stream_needs_arrivals),
      cmocka_unit_test(test_disabled),
      cmocka_unit_test(test_keepalives_are_no_stream),
      cmocka_unit_test(test_giveup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
