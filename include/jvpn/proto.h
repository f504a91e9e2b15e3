/*
 * jvpn-quic: every wire constant and limit, with its unit.
 *
 * Nothing else in the tree spells a protocol number or a bound; a reader
 * finds here what the program sends, what it accepts and how much of it.
 */
#ifndef JVPN_PROTO_H
#define JVPN_PROTO_H

#include <stdint.h>

/* --- QUIC / HTTP/3 ------------------------------------------------------- */
/* Congestion controllers (config "cc"). */
enum jvpn_cc { JVPN_CC_CUBIC = 0, JVPN_CC_RENO, JVPN_CC_BBR };

#define JVPN_ALPN "h3"
#define JVPN_DEFAULT_PORT 443
#define JVPN_QUIC_V1 0x00000001u       /* RFC 9000 */
#define JVPN_QUIC_V2 0x6b3343cfu       /* RFC 9369; preferred (RFC 9368) */
#define JVPN_QUIC_SCID_LEN 16          /* bytes: our connection IDs */
#define JVPN_QUIC_MAX_UDP_PAYLOAD 1452 /* bytes: 1500 - IPv6(40) - UDP(8) */
#define JVPN_QUIC_MIN_UDP_PAYLOAD 1200 /* bytes: RFC 9000 14.1 */
/* ms: default PING interval when idle; keeps NAT mappings open and lets
 * both ends see a dead path quickly. The idle timeout is this times
 * JVPN_QUIC_IDLE_KEEPALIVES, well inside the session's transport-loss TTL
 * (15 s by default), so a dead connection is noticed while the session
 * can still be saved. */
#define JVPN_QUIC_KEEPALIVE_MS 1000
#define JVPN_QUIC_IDLE_KEEPALIVES 3
/* ms: the server's PING interval when idle. The client's keep-alives
 * (every JVPN_QUIC_KEEPALIVE_MS) keep the NAT mapping and both idle
 * timers fresh; the server pings only when they stop coming, so an idle
 * session costs it one PING and one ACK per second, not two of each
 * (issue 15: the idle cost of 10,000 sessions). */
#define JVPN_QUIC_SERVER_KEEPALIVE_MS 2500
/* A quiet tunnel's keep-alive (docs/decisions.md D47). After
 * JVPN_QUIET_AFTER_MS without an IP packet either way, a client asks the
 * server for a longer keep-alive (KEEPALIVE capsule, with the address it
 * sends from); the server grants JVPN_QUIET_KEEPALIVE_NAT_MS when it sees
 * another address (a NAT, which may forget a mapping after 5 s) or
 * JVPN_QUIET_KEEPALIVE_OPEN_MS when it sees the client's own (a stateful
 * firewall at worst, whose UDP timeouts are 30 s and more), at most what
 * the client asked for. Both then time the connection out after
 * JVPN_QUIC_IDLE_KEEPALIVES keep-alives; the client returns to its usual
 * keep-alive with its next IP packet. QUIC's max_idle_timeout is
 * JVPN_QUIC_IDLE_MAX_MS, longer than any idle timeout agreed on. */
#define JVPN_QUIET_AFTER_MS 30000
#define JVPN_QUIET_KEEPALIVE_NAT_MS 4000
#define JVPN_QUIET_KEEPALIVE_OPEN_MS 25000
/* ms: behind a NAT, a client that refreshes its mapping itself pings at
 * the open path's interval and refreshes this often (D52): 2 s under the
 * 5 s a NAT may keep an idle mapping, room for a late timer. */
#define JVPN_QUIET_NAT_REFRESH_MS 3000
#define JVPN_QUIC_IDLE_MAX_MS 120000
#define JVPN_QUIC_REATTACH_HANDSHAKE_MS 2000 /* ms: a recovery attempt */
/* ms: IP packets that wait this long (or 10 smoothed RTTs, if longer) for
 * room in the congestion window mean the connection is stuck: it is
 * closed so the session moves to a new one (a watchdog: a lost packet's
 * probe timeout normally frees the window long before). */
#define JVPN_QUIC_STALL_MS 1500
/* ms: the same right after an outage ended (or 4 smoothed RTTs, if
 * longer): the window is then held by packets lost in the outage, and a
 * new connection beats ngtcp2's backed-off probe timeout. */
#define JVPN_QUIC_POST_OUTAGE_STALL_MS 80
#define JVPN_QUIC_HANDSHAKE_TIMEOUT_MS 10000
/* Path MTU: packets start at 1200 bytes and PMTUD (ngtcp2's probes of
 * 1406, 1342, 1232 and 1444 bytes, three tries each) raises them. A path
 * is "settled" this long after it began (the longer of the two): until
 * then an IP packet too big for a datagram rides the request stream
 * instead of earning a Packet Too Big. */
#define JVPN_QUIC_PMTUD_SETTLE_MS 2000
#define JVPN_QUIC_PMTUD_SETTLE_PTOS 16
/* Full-size datagrams lost in a row, over at least 3 PTOs, none
 * acknowledged since and the peer heard meanwhile: the path MTU shrank
 * silently. (A TCP sender stalled by the loss sends one segment per
 * retransmission timeout, so the count stays small.) */
#define JVPN_QUIC_PMTU_BH_LOSSES 6
/* Receive silence (quic/quic_silence, docs/decisions.md D23): a receiving
 * end that hears nothing for max(ARRIVALS x the stream's inter-arrival,
 * 2 x srtt, FLOOR) probes the path with a PING every PROBE ms, for at most
 * GIVEUP ms (the idle timeout's business after that). Arrivals further
 * apart than STREAM_GAP are no stream to watch (keep-alives). */
#define JVPN_SILENCE_ARRIVALS 4
#define JVPN_SILENCE_FLOOR_MS 20
#define JVPN_SILENCE_PROBE_MS 25
/* The HTTP/2 fallback (docs/decisions.md D39): a QUIC handshake or a
 * receive silence this long starts a TCP attempt; while on TCP, QUIC is
 * tried again this often. */
#define JVPN_TCP_FALLBACK_MS 300
#define JVPN_QUIC_PROBE_MS 1000
#define JVPN_TCP_ACCEPT_BATCH 16 /* accepts per listener wake-up */
#define JVPN_SILENCE_STREAM_GAP_MS 100
#define JVPN_SILENCE_GIVEUP_MS 3000
/* A silence is an outage once this many probes went unanswered (a live
 * peer that merely stopped streaming acknowledges the first one). */
#define JVPN_SILENCE_CONFIRM_PROBES 3
/* Arrivals in a row, each within STREAM_GAP of the last, that make a
 * stream worth watching (not a request and its answer). */
#define JVPN_SILENCE_STREAM_ARRIVALS 8
/* bytes: a probe (a PING packet with its ACK, about 115 bytes); below
 * ROOMY bytes of congestion window left, probes go at twice the interval. */
#define JVPN_SILENCE_PROBE_BYTES 128
#define JVPN_SILENCE_ROOMY_BYTES 4096
#define JVPN_QUIC_MAX_DATAGRAM_FRAME 65535 /* bytes: transport parameter */
#define JVPN_QUIC_STREAM_WINDOW (256 * 1024)   /* bytes per stream */
#define JVPN_QUIC_CONN_WINDOW (1024 * 1024)    /* bytes per connection */
#define JVPN_QUIC_MAX_STREAMS_BIDI 4
#define JVPN_QUIC_MAX_STREAMS_UNI 8
/* connection IDs each end accepts from the other: 3 spare for migrations.
 * Each one the server issues costs it a routing entry and ngtcp2 state for
 * the connection's life (issue 15: 8 cost ~1 KB per idle session). */
#define JVPN_QUIC_ACTIVE_CID_LIMIT 4

/* HTTP/3 SETTINGS identifiers (RFC 9114 7.2.4, RFC 9220, RFC 9297). */
#define JVPN_H3_FRAME_SETTINGS 0x04
#define JVPN_H3_STREAM_CONTROL 0x00
#define JVPN_H3_SETTING_ENABLE_CONNECT_PROTOCOL 0x08
#define JVPN_H3_SETTING_H3_DATAGRAM 0x33

/* HTTP/3 error codes (RFC 9114 8.1, RFC 9297 5). */
#define JVPN_H3_NO_ERROR 0x100
#define JVPN_H3_GENERAL_PROTOCOL_ERROR 0x101
#define JVPN_H3_INTERNAL_ERROR 0x102
#define JVPN_H3_STREAM_CREATION_ERROR 0x103
#define JVPN_H3_CLOSED_CRITICAL_STREAM 0x104
#define JVPN_H3_FRAME_UNEXPECTED 0x105
#define JVPN_H3_FRAME_ERROR 0x106
#define JVPN_H3_ID_ERROR 0x108
#define JVPN_H3_SETTINGS_ERROR 0x109
#define JVPN_H3_MISSING_SETTINGS 0x10a
#define JVPN_H3_REQUEST_REJECTED 0x10b
#define JVPN_H3_MESSAGE_ERROR 0x10e
#define JVPN_H3_DATAGRAM_ERROR 0x33

/* --- Capsules (RFC 9297 3.2, RFC 9484 4.7) -------------------------------- */
#define JVPN_CAPSULE_DATAGRAM 0x00
#define JVPN_CAPSULE_ADDRESS_ASSIGN 0x01
#define JVPN_CAPSULE_ADDRESS_REQUEST 0x02
#define JVPN_CAPSULE_ROUTE_ADVERTISEMENT 0x03
/* Warm-standby activation (docs/protocol.md 8), from the provisional
 * range ("JV"): a standby asks to become the session's active
 * attachment, the server answers on the same stream. */
#define JVPN_CAPSULE_ACTIVATE 0x4a56
#define JVPN_CAPSULE_ACTIVATE_RESULT 0x4a57
/* A quiet tunnel's keep-alive (docs/protocol.md 4.2): the client asks, the
 * server answers with the interval both use. */
#define JVPN_CAPSULE_KEEPALIVE 0x4a58
#define JVPN_CAPSULE_KEEPALIVE_RESULT 0x4a59
/* ... and, when it granted a NAT's short interval, offers a longer QUIC
 * keep-alive to a client that refreshes its NAT mapping with a datagram
 * of JVPN_NAT_REFRESH_LEN bytes at that interval (docs/decisions.md D52).
 * The server's UDP sockets drop datagrams shorter than
 * JVPN_QUIC_MIN_DATAGRAM in the kernel (a stateless reset, the smallest
 * QUIC packet, has 21 bytes: RFC 9000 10.3), so a refresh never wakes it. */
#define JVPN_CAPSULE_NAT_REFRESH 0x4a5a
#define JVPN_NAT_REFRESH_LEN 1
#define JVPN_QUIC_MIN_DATAGRAM 21
/* DNS configuration (draft-ietf-masque-connect-ip-dns-05 3.4 and 6; docs/
 * protocol.md 4.1): the draft's provisional value, to be replaced by a
 * smaller one when the draft is approved. */
#define JVPN_CAPSULE_DNS_ASSIGN 0x1ace79ec
/* bytes: largest value of a known capsule we buffer; unknown ones are
 * skipped without buffering whatever their length. */
#define JVPN_CAPSULE_MAX_VALUE 4096
#define JVPN_CIP_MAX_ADDRS 8     /* addresses in one ADDRESS_* capsule */
#define JVPN_CIP_MAX_ROUTES 64   /* ranges in one ROUTE_ADVERTISEMENT */
/* DNS_ASSIGN: nameserver addresses (a nameserver reachable by name only
 * counts one), and names in each domain list, kept from one capsule; and
 * the longest domain name in bytes, a final dot not counted (RFC 1035
 * 2.3.4: 255 octets on the wire are 253 characters of text). */
#define JVPN_DNS_MAX_SERVERS 8
#define JVPN_DNS_MAX_DOMAINS 8
#define JVPN_DNS_NAME_MAX 253
#define JVPN_DNS_NAME_SIZE (JVPN_DNS_NAME_MAX + 2) /* a final dot, a NUL */

/* CONNECT-IP request (RFC 9484 3). */
#define JVPN_CIP_PATH "/.well-known/masque/ip/*/*/"
#define JVPN_CIP_PROTOCOL "connect-ip"
#define JVPN_CIP_CONTEXT_IP 0 /* context ID of a full IP packet */

/* --- Tunnel -------------------------------------------------------------- */
#define JVPN_TUN_DEFAULT_MTU 1400 /* bytes: fits a 1500-byte underlay */
#define JVPN_TUN_MIN_MTU 576      /* bytes: IPv4 minimum */
#define JVPN_TUN_MIN_MTU_V6 1280  /* bytes: IPv6 minimum (RFC 8200 5) */
#define JVPN_TUN_MAX_MTU 9000
#define JVPN_TUN_BATCH 64        /* packets read from TUN per wake-up */
#define JVPN_UDP_RX_BATCH 32     /* datagrams per recvmmsg */
#define JVPN_UDP_RX_BUF 65536    /* bytes per receive slot (GRO) */
#define JVPN_GSO_MAX_SEGS 64     /* QUIC packets per GSO send */
#define JVPN_MAX_PACKET 65535    /* bytes: largest IP packet */
#define JVPN_VNET_HDR_LEN 10     /* bytes: struct virtio_net_hdr */
#define JVPN_TUN_BUF (JVPN_VNET_HDR_LEN + JVPN_MAX_PACKET) /* bytes */
#define JVPN_GRO_FLOWS 8         /* TCP flows coalesced at once per TUN */

/* --- Server -------------------------------------------------------------- */
#define JVPN_MAX_LISTEN 4        /* listen addresses */
#define JVPN_MAX_PEERS 12288     /* allowed clients in one config */
#define JVPN_MAX_ROUTES 64       /* advertised routes */
#define JVPN_MAX_CONNS 16384     /* concurrent QUIC connections */
#define JVPN_RESET_RATE 100      /* stateless resets sent per second */
#define JVPN_VN_RATE 100         /* Version Negotiation packets per second */
/* Address validation (RFC 9000 8.1): with "retry = auto", over this many
 * new connections in a second every further client first proves its
 * address with a Retry round trip; tokens live JVPN_RETRY_TOKEN_TTL_S. */
#define JVPN_RETRY_AUTO_RATE 50
/* ... or while this many connections are half-open (no authenticated
 * client yet). */
#define JVPN_RETRY_AUTO_HALFOPEN 256
/* Half-open connections one source (an IPv4 address, an IPv6 /64) may
 * hold; a new one past it replaces that source's oldest (src/halfopen.h). */
#define JVPN_HALFOPEN_PER_SOURCE 32
/* Live connections one client pin may hold: twice what a client uses at
 * most (4 uplinks x 3 racing attempts, reconnects still fading out); past
 * it the handshake is refused. */
#define JVPN_CONNS_PER_PIN 32
#define JVPN_RETRY_TOKEN_TTL_S 10
/* s: a NEW_TOKEN (given to every client once its handshake is done) lets
 * its next connection skip the Retry for this long: a reattach within the
 * session's lifetime does. */
#define JVPN_NEW_TOKEN_TTL_S (24 * 3600)
#define JVPN_NEW_TOKEN_MAX 128   /* bytes: a client keeps one this long */

/* --- Client: finding the server (RFC 8305, docs/decisions.md D34) -------- */
/* ms a lookup of the server's name may take; then the waiting connections
 * back off (a late answer still counts when it arrives). */
#define JVPN_RESOLVE_TIMEOUT_MS 5000
/* ms an answer is used before a new connection looks the name up again
 * (getaddrinfo gives no TTL). */
#define JVPN_RESOLVE_LIFETIME_MS 60000
/* ms at least between two lookups: when every address failed sooner, they
 * are tried again instead. */
#define JVPN_RESOLVE_MIN_GAP_MS 1000
#define JVPN_HE_ADDRS_MAX 16     /* addresses kept of one answer */
/* Connection attempts in flight per link (the first and its racers). */
#define JVPN_HE_ATTEMPTS_MAX 3
/* ms an attempt waits for an answer before the next address races it,
 * when the path's RTT is unknown; else twice the RTT, within MIN..MAX. */
#define JVPN_HE_ATTEMPT_DELAY_MS 250
#define JVPN_HE_ATTEMPT_DELAY_MIN_MS 100
#define JVPN_HE_ATTEMPT_DELAY_MAX_MS 2000

/* --- Identity ------------------------------------------------------------ */
#define JVPN_PIN_LEN 32          /* bytes: SHA-256 of the SPKI */
#define JVPN_PIN_PREFIX "sha256//"
#define JVPN_PIN_STR_LEN 53      /* "sha256//" + 44 base64 chars + NUL */

/* --- Config -------------------------------------------------------------- */
#define JVPN_CONFIG_MAX_BYTES (1024 * 1024) /* bytes: largest config file */
#define JVPN_CONFIG_MAX_LINE 1024           /* bytes per line */

#endif /* JVPN_PROTO_H */
