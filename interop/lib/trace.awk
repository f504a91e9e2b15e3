# interop/lib/trace.awk: facts about one test case's capture, for the
# checks in interop/run-local.sh (which says what each case requires).
#
# Input: "tshark -T fields" lines, tab-separated, multiple values joined
# by "," (one value per QUIC packet of a coalesced datagram), in the field
# order of IOP_TSHARK_FIELDS in interop/lib/checks.sh. -v server=ADDR
# tells the directions apart (the client's address changes when the sim
# rebinds it; the server's does not).
#
# Output: "key=value" lines (see the END block).

function nsplit(s, a) { if (s == "") { delete a; return 0 } return split(s, a, ",") }
function hexnorm(s) { gsub(/:/, "", s); return tolower(s) }
function addset(setname, v) { if (!((setname, v) in seen)) { seen[setname, v] = 1; sets[setname] = sets[setname] (sets[setname] == "" ? "" : " ") v } }

BEGIN { FS = "\t"; amp = "nohandshake"; allowed = 0; tol = 0; amp_open = 1 }
{
  from_s = ($3 == server)
  size = $7 - 8
  ntypes = nsplit($9, t)
  if (ntypes == 0 && $30 != "") {
    # QUIC v2 (and its drafts) renumbered the long packet types.
    ntypes = nsplit($30, t)
    for (i = 1; i <= ntypes; i++) t[i] = (t[i] == 0 ? 3 : t[i] - 1)
  }
  nver = nsplit($10, ver); nscid = nsplit($11, scid); ndcid = nsplit($12, dcid)
  # tshark 4.0 files draft v2 packets under the v1 field, v2 numbering.
  if ($9 != "")
    for (i = 1; i <= ntypes; i++)
      if (ver[i] == "0x709a50c4" || ver[i] == "0x6b3343cf") t[i] = (t[i] == 0 ? 3 : t[i] - 1)
  nhf = nsplit($17, hf)
  short = (nhf > 0 && hf[nhf] == 0)
  first = (ntypes > 0 && hf[1] == 1) ? t[1] : (short ? "short" : "none")

  for (i = 1; i <= ntypes; i++) {
    if (from_s && t[i] == 0) { addset("scid", scid[i]); addset("ver", ver[i]) }
    if (from_s && t[i] == 3) retries++
    if (!from_s && t[i] == 1) { zrtt_pkts++ }
  }
  if (!from_s && ntypes > 0) for (i = 1; i <= ntypes; i++) if (t[i] == 1) zrtt_bytes += size
  if (from_s && $15 != "") { n = nsplit($15, a); for (i = 1; i <= n; i++) rtok[hexnorm(a[i])] = 1 }
  if (!from_s && $14 != "") { n = nsplit($14, a); for (i = 1; i <= n; i++) if (hexnorm(a[i]) in rtok) retry_used++ }
  if (!from_s && first == "short") c1rtt_bytes += size

  if (short && $16 != "") {
    n = nsplit($16, kp); k = kp[n]
    if (k == "1" || k == "True") { if (from_s) s_kp1++; else c_kp1++ }
    else { if (from_s) s_kp0++; else c_kp0++ }
  }

  # TLS: handshake types 1 ClientHello, 2 ServerHello, 11 Certificate.
  # (field 19, the Cipher Suites node, only counts them.)
  if ($20 != "" && !from_s) { n = nsplit($20, a); for (i = 1; i <= n; i++) addset("chs", a[i]) }
  if ($20 != "" && from_s) { n = nsplit($20, a); for (i = 1; i <= n; i++) addset("shs", a[i]) }
  if ($21 != "" && from_s) cert_msgs++
  if ($22 != "" && from_s) psk_selected++
  if ($23 != "" && !from_s) { n = nsplit($23, a); for (i = 1; i <= n; i++) addset("alpn", a[i]) }

  # Paths, as the runner's TestCasePortRebinding: the server's datagrams
  # in order, a path being (source, destination) address:port; a move to
  # a path never used before must carry a PATH_CHALLENGE in its very
  # first datagram there (that challenge is then owed a PATH_RESPONSE); a
  # return to a path used before is not a move and does not update the
  # path the next move is measured from.
  nft = nsplit($31, ft)
  # DATAGRAM frames (RFC 9221: types 0x30 and 0x31), each way.
  for (i = 1; i <= nft; i++) if (ft[i] == 48 || ft[i] == 49) { if (from_s) s_dgram++; else c_dgram++ }
  elic = 0
  for (i = 1; i <= nft; i++) if (ft[i] != 0 && ft[i] != 2 && ft[i] != 3 && ft[i] != 28 && ft[i] != 29) elic = 1
  if (from_s && (ntypes > 0 || short)) {
    addset("caddr", $4)
    path = $3 ":" $5 ">" $4 ":" $6
    if (last_path == "") last_path = path
    else if (path != last_path && !(path in used_path)) {
      used_path[last_path] = 1; last_path = path; migrations++
      # No frame at all: tshark could not decrypt it (a short header with
      # a zero-length DCID, as quic-go's clients use, on a new address
      # cannot be tied to its connection), which is not "ACK-only".
      if ($24 == "") { no_challenge++; if (nft == 0) undecrypted++; else if (!elic) ack_first++ }
      else { nsplit($24, a); owed[hexnorm(a[1])] = 1 }
    }
    if ($24 != "") { n = nsplit($24, a); for (i = 1; i <= n; i++) chal[hexnorm(a[i])] = 1 }
  }
  if (!from_s && $25 != "") { n = nsplit($25, a); for (i = 1; i <= n; i++) resp[hexnorm(a[i])] = 1 }
  # Active migration, as the runner's TestCaseConnectionMigration: the
  # client's first datagram on a path it never used must not carry the
  # DCID its datagrams had when it last moved (or began). Apart, the
  # RFC 9000 9.5 reading: not the DCID of its datagram just before.
  if (!from_s && (ntypes > 0 || short)) {
    cpath = $3 ":" $5 ">" $4 ":" $6
    d = (ndcid > 0) ? dcid[1] : ""
    if (clast == "") { clast = cpath; cdcid = d }
    else if (cpath != clast && !(cpath in cused)) {
      cused[clast] = 1; clast = cpath; cmoves++
      if (d == cdcid) cm_same_dcid++
      if (d != "" && d == prev_dcid) cm_kept_dcid++
      cdcid = d
    }
    if (d != "") prev_dcid = d
  }

  # ECN (IP header) of QUIC datagrams, and ACK frames that carry ECN counts.
  if (ntypes > 0 || short) {
    e = ($8 == "" ? 0 : $8)
    if (from_s) s_ecn[e]++; else c_ecn[e]++
    if (e == 0 && nft > 0) {
      probe = 1
      for (i = 1; i <= nft; i++) if (ft[i] != 0 && ft[i] != 1) probe = 0
      if (probe) { if (from_s) s_noecn_probe++; else c_noecn_probe++ }
    }
    if ($26 != "" || $27 != "") { if (from_s) s_ackecn++; else c_ackecn++ }
  }

  # Amplification: the runner's rule, from the first datagram until the
  # client's first Handshake packet.
  if (amp_open && first != "none") {
    if (!from_s) {
      if (first == 2) { amp = "ok"; amp_open = 0 }
      else if (first == 0) { allowed += 3 * size; tol += 4 * size; c_init_bytes += size }
    } else {
      s_pre_bytes += size
      if (size >= tol) { amp = "violated"; amp_open = 0 }
      allowed -= size; tol -= size
    }
  }
  if (from_s && $28 != "") {
    n = nsplit($28, a); nsplit($29, b)
    for (i = 1; i <= n; i++) if (a[i] + b[i] > max_crypto) max_crypto = a[i] + b[i]
  }
}
END {
  print "c_dgram=" c_dgram + 0
  print "s_dgram=" s_dgram + 0
  nh = split(sets["scid"], tmp, " ")
  # Owed challenges (first on a new path) without a PATH_RESPONSE; and,
  # for the reason only, every other challenge left unanswered (most went
  # to a path the sim had dropped).
  unresp = 0; nch = 0; other = 0
  for (c in chal) { nch++; if (!(c in resp) && !(c in owed)) other++ }
  for (c in owed) if (!(c in resp)) unresp++
  used_path[last_path] = 1
  npaths = 0
  for (pth in used_path) if (pth != "") npaths++
  print "handshakes=" nh
  print "versions=" sets["ver"]
  print "retries=" retries + 0
  print "retry_token_used=" retry_used + 0
  print "zrtt_pkts=" zrtt_pkts + 0
  print "zrtt_bytes=" zrtt_bytes + 0
  print "c1rtt_bytes=" c1rtt_bytes + 0
  print "c_kp0=" c_kp0 + 0; print "c_kp1=" c_kp1 + 0
  print "s_kp0=" s_kp0 + 0; print "s_kp1=" s_kp1 + 0
  print "ch_suites=" sets["chs"]
  print "sh_suites=" sets["shs"]
  print "alpn=" sets["alpn"]
  print "cert_msgs=" cert_msgs + 0
  print "psk_selected=" psk_selected + 0
  print "paths=" npaths
  print "caddrs=" split(sets["caddr"], tmp, " ")
  print "migrations=" migrations + 0
  print "no_challenge=" no_challenge + 0
  print "challenges=" nch
  print "unresponded=" unresp
  print "unanswered_other=" other
  print "ack_first=" ack_first + 0
  print "undecrypted=" undecrypted + 0
  print "cmoves=" cmoves + 0
  print "cm_same_dcid=" cm_same_dcid + 0
  print "cm_kept_dcid=" cm_kept_dcid + 0
  print "c_ecn=" c_ecn[0] + 0 "/" c_ecn[1] + 0 "/" c_ecn[2] + 0 "/" c_ecn[3] + 0
  print "s_ecn=" s_ecn[0] + 0 "/" s_ecn[1] + 0 "/" s_ecn[2] + 0 "/" s_ecn[3] + 0
  print "c_noecn_probe=" c_noecn_probe + 0
  print "s_noecn_probe=" s_noecn_probe + 0
  print "c_ackecn=" c_ackecn + 0
  print "s_ackecn=" s_ackecn + 0
  print "amp=" amp
  print "amp_client_initial=" c_init_bytes + 0
  print "amp_server_sent=" s_pre_bytes + 0
  print "max_crypto=" max_crypto + 0
}
