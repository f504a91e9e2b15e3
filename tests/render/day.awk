# Writes a server audit log of one made-up day: N sessions (-v n=40)
# born through the day, with NAT rebindings, dead paths and reattaches,
# TCP fallbacks, refused forged reattaches, flap limits and their ends.
# Deterministic (a fixed seed), for tests/render/timeline.sh.
function ts(t,   s) {
  s = strftime("%Y-%m-%dT%H:%M:%S", int(t / 1000), 1)
  return sprintf("%s.%03dZ", s, t % 1000)
}
function rec(t, sid, body) {
  printf "{\"ts\":\"%s\",\"mono_ms\":%d,\"node\":\"server\",\"session\":\"%s\",%s,\"policy_version\":1698347398}\n", ts(t), t - day0, sid, body
}
function tr(t, sid, from, to, why, att, peer) {
  rec(t, sid, sprintf("\"kind\":\"transition\",\"event\":\"transition\",\"state_version\":%d,\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"%s%s", ++ver[sid], from, to, why, att ? ",\"to_attachment\":" att : "", peer != "" ? ",\"peer\":\"" peer "\"" : ""))
}
function sw(t, sid, why, from, to, peer, detail) {
  rec(t, sid, sprintf("\"kind\":\"switch\",\"event\":\"switch\",\"state_version\":%d,\"reason\":\"%s\",\"from_attachment\":%d,\"to_attachment\":%d,\"peer\":\"%s\",\"detail\":\"%s\"", ver[sid], why, from, to, peer, detail))
}
function ev(t, sid, kind, event, why, att, peer, detail) {
  rec(t, sid, sprintf("\"kind\":\"%s\",\"event\":\"%s\",\"state_version\":%d,\"reason\":\"%s\"%s,\"peer\":\"%s\",\"detail\":\"%s\"", kind, event, ver[sid], why, att ? ",\"to_attachment\":" att : "", peer, detail))
}
BEGIN {
  srand(17)
  if (n == 0) n = 40
  day0 = 1795564800000 # 2026-11-25T00:00:00Z
  for (i = 0; i < n; i++) {
    sid = sprintf("%08x%08x%08x%08x", int(rand() * 4294967295), i, int(rand() * 4294967295), i * 7919)
    t = day0 + int(i * 86400000 / n) + int(rand() * 600000)
    port = 20000 + int(rand() * 40000)
    peer = "198.18." (i % 200) ".1:" port
    att = 1
    ev(t, sid, "info", "session_born", "SESSION_BORN", 0, "", "server")
    tr(t, sid, "BIRTH", "ATTACHED", "HANDSHAKE_OK", att, peer)
    end = t + 3600000 + int(rand() * 10 * 3600000)
    while (t < end) {
      t += 60000 + int(rand() * 5400000)
      if (t >= end) break
      r = rand()
      if (r < 0.45) {
        peer = "198.18." (i % 200) ".1:" 20000 + int(rand() * 40000)
        sw(t, sid, "NAT_REBIND", att, att, peer, "client port changed")
      } else if (r < 0.75) {
        tr(t, sid, "ATTACHED", "RECOVERING", "TRANSPORT_DEAD", 0, "")
        t += 2000 + int(rand() * 600000)
        att++
        tr(t, sid, "RECOVERING", "ATTACHED", "REATTACH_ACCEPT", att, peer)
        sw(t, sid, "REATTACH_ACCEPT", att - 1, att, peer, "reattach")
        if (rand() < 0.4) {
          ev(t, sid, "info", "transport_switch", "TCP_FALLBACK", att, peer, "quic -> tcp")
          t += 300000 + int(rand() * 1800000)
          ev(t, sid, "info", "transport_switch", "QUIC_RETURN", att, peer, "tcp -> quic")
        }
      } else if (r < 0.85) {
        ev(t, sid, "security", "attach_refused", "BAD_PROOF", att, "203.0.113." int(rand() * 250) ":" 1024 + int(rand() * 60000), "reattach: proof does not verify")
      } else if (r < 0.95) {
        for (k = 0; k < 6; k++)
          sw(t + k * 400, sid, "NAT_REBIND", att, att, "198.18." (i % 200) ".1:" 20000 + k, "client port changed")
        t += 2400
        tr(t, sid, "ATTACHED", "DEGRADED", "POLICY_FLAP_LIMIT", att, "")
        t += 30000 + int(rand() * 120000)
        tr(t, sid, "DEGRADED", "ATTACHED", "HEALTH_RECOVERED", att, "")
      } else {
        tr(t, sid, "ATTACHED", "VOLATILE", "VOLATILITY_SIGNAL", att, "")
        t += 5000 + int(rand() * 60000)
        tr(t, sid, "VOLATILE", "ATTACHED", "HEALTH_RECOVERED", att, "")
      }
    }
    if (end < day0 + 86400000) {
      tr(end, sid, "ATTACHED", "RECOVERING", "TRANSPORT_DEAD", 0, "")
      tr(end + 15000, sid, "RECOVERING", "TERMINATED", "TTL_TRANSPORT_LOSS_EXPIRED", 0, "")
    }
  }
}
