/*
 * src/config: the server and client configuration files.
 *
 * INI-style text: "[section]" headers, "key = value" lines, '#' comments.
 * The format and every key are documented in docs/config.md. Parsing never
 * touches the file system beyond reading the file itself (key and
 * certificate paths are checked when used), so the parser is fuzzable.
 * Every error names the file, the line and the problem.
 */
#ifndef SRC_CONFIG_H
#define SRC_CONFIG_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "jvpn/policy.h"
#include "quic/quic_lb.h"
#include "jvpn/uplink.h"
#include "jvpn/proto.h"

#define JVPN_PATH_MAX 4096
#define JVPN_USER_MAX 33   /* a system user name: 32 characters */
#define JVPN_NAME_MAX 64
#define JVPN_HOST_MAX 256

struct jvpn_prefix {
  int family;       /* AF_INET, AF_INET6; 0 = unset */
  uint8_t addr[16]; /* IPv4 in the first 4 bytes */
  uint8_t plen;
};

struct jvpn_config_error {
  char file[256];
  unsigned line;    /* 0 when the problem is not tied to a line */
  char msg[256];
};

struct jvpn_peer_conf {
  char name[JVPN_NAME_MAX];   /* operator's label; defaults to the pin */
  uint8_t pin[JVPN_PIN_LEN];
  struct jvpn_prefix addr4;   /* fixed inner IPv4 (/32) or unset */
  struct jvpn_prefix addr6;   /* fixed inner IPv6 (/128) or unset */
};


/* When the server makes a new client prove its address with a Retry
 * round trip (RFC 9000 8.1.2): over JVPN_RETRY_AUTO_RATE new connections a
 * second, always, or never. */
enum jvpn_retry { JVPN_RETRY_AUTO = 0, JVPN_RETRY_ALWAYS, JVPN_RETRY_NEVER };

/* The daemon's seccomp allow-list after start-up (docs/decisions.md D29):
 * a call outside it kills the process, is only logged, or no filter. */
enum jvpn_seccomp { JVPN_SECCOMP_ON = 0, JVPN_SECCOMP_OFF, JVPN_SECCOMP_LOG };

/* Client: whether an advertised default route sends all traffic of its
 * family through the tunnel (policy routing, docs/decisions.md D35). */
enum jvpn_full_tunnel { JVPN_FULL_TUNNEL_AUTO = 0, JVPN_FULL_TUNNEL_OFF };
/* Client: which transport carries the session (docs/decisions.md D39):
 * QUIC with HTTP/2 over TCP as the fallback, or one of them only. */
enum jvpn_transport {
  JVPN_TRANSPORT_AUTO = 0,
  JVPN_TRANSPORT_QUIC,
  JVPN_TRANSPORT_TCP,
};
/* Client: where the server's DNS configuration goes (docs/decisions.md
 * D38): systemd-resolved when it runs, else /etc/resolv.conf; or only
 * one of them. */
enum jvpn_dns_backend {
  JVPN_DNS_BACKEND_AUTO = 0,
  JVPN_DNS_BACKEND_RESOLVED,
  JVPN_DNS_BACKEND_FILE,
};
#define JVPN_ROUTING_TABLE_DEFAULT 27254 /* "jv" */
#define JVPN_RULE_PRIORITY_DEFAULT 27250 /* and the next two */

/* Where the server keeps its sessions across restarts (D41). */
enum jvpn_store_kind { JVPN_STORE_LMDB = 0, JVPN_STORE_OFF, JVPN_STORE_REDIS };
#define JVPN_NODE_ID_MAX 64        /* node_id: [A-Za-z0-9._-]{1,63} */
#define JVPN_LEASE_MS_DEFAULT 3000 /* a node's lease on its sessions (D44) */
#define JVPN_LEASE_MS_MIN 500
#define JVPN_LEASE_MS_MAX 60000
#define JVPN_STATE_DIR_DEFAULT "/var/lib/jvpn-quic"

struct jvpn_server_conf {
  struct sockaddr_storage listen[JVPN_MAX_LISTEN];
  socklen_t listen_len[JVPN_MAX_LISTEN];
  size_t nlisten;             /* default: 0.0.0.0:443 and [::]:443 */
  char key_file[JVPN_PATH_MAX];
  char cert_file[JVPN_PATH_MAX];
  struct jvpn_prefix pool4;   /* at least one pool is required */
  struct jvpn_prefix pool6;
  struct jvpn_prefix routes[JVPN_MAX_ROUTES]; /* advertised to clients */
  size_t nroutes;
  /* dns and dns_search lines, config order: told to clients in a
   * DNS_ASSIGN capsule (docs/protocol.md 4.1); addresses are /32, /128 */
  struct jvpn_prefix dns[JVPN_DNS_MAX_SERVERS];
  size_t ndns;
  char dns_search[JVPN_DNS_MAX_DOMAINS][JVPN_DNS_NAME_SIZE];
  size_t ndns_search;
  char tun_name[IFNAMSIZ];    /* default "jvpn0" */
  unsigned mtu;               /* default JVPN_TUN_DEFAULT_MTU */
  int tun_offload;            /* TUN offloads (tun/vnet.h); default on */
  enum jvpn_cc cc;
  enum jvpn_retry retry;      /* default auto */
  int log_level;              /* JVPN_LOG_*; default INFO */
  char user[JVPN_USER_MAX];   /* run as this user after start-up; "" =
                               * stay root (docs/config.md) */
  enum jvpn_seccomp seccomp;  /* default on */
  struct quic_lb lb;          /* quic_lb_server_id / quic_lb_config_id:
                               * connection IDs name this server (off:
                               * random) */
  int tcp;                    /* HTTP/2 over TCP on each listen address's
                               * port too ("tcp = on", the default) */
  char audit_log[JVPN_PATH_MAX]; /* audit JSON lines: a path, "stderr",
                                  * or "" (none) */
  struct sockaddr_storage metrics; /* the Prometheus endpoint (HTTP) ... */
  socklen_t metrics_len;           /* ... 0: none, the default */
  int metrics_per_session;         /* series per session too (capped) */
  enum jvpn_store_kind store;    /* default lmdb */
  char state_dir[JVPN_PATH_MAX]; /* default JVPN_STATE_DIR_DEFAULT */
  /* store = redis: several nodes share sessions (D44) */
  char redis[JVPN_PATH_MAX];     /* "host:port", "[v6]:port", "unix:/path" */
  char node_id[JVPN_NODE_ID_MAX]; /* this node's name in the store */
  unsigned lease_ms;             /* default JVPN_LEASE_MS_DEFAULT */
  struct jvpn_peer_conf *peers; /* owned; at least one */
  size_t npeers;
  uint32_t *peer_by_pin;      /* owned: indexes of |peers| in pin order,
                               * for jvpn_server_conf_peer's search */
  struct jvpn_policy policy;  /* [policy]; defaults, validated */
};

/* server = a, b, c: the address literals of several server nodes (D44) */
#define JVPN_SERVERS_MAX 8
#define JVPN_SERVER_LITERAL_MAX 46 /* INET6_ADDRSTRLEN */

struct jvpn_client_conf {
  char server_host[JVPN_HOST_MAX]; /* name or address literal (a list's
                                    * first) */
  uint16_t server_port;            /* default 443; a list's one port */
  char servers[JVPN_SERVERS_MAX][JVPN_SERVER_LITERAL_MAX]; /* a list */
  size_t nservers;                 /* 0: server_host alone */
  int server_shuffle;              /* server_order = shuffle */
  uint8_t server_pin[JVPN_PIN_LEN];
  char key_file[JVPN_PATH_MAX];
  char cert_file[JVPN_PATH_MAX];
  char tun_name[IFNAMSIZ];         /* default "jvpn0" */
  unsigned mtu;                    /* 0 = derive from the path */
  int tun_offload;                 /* as in the server's */
  enum jvpn_cc cc;
  int log_level;
  char audit_log[JVPN_PATH_MAX];   /* as in the server's */
  char user[JVPN_USER_MAX];        /* as in the server's (keeps
                                    * CAP_NET_ADMIN) */
  enum jvpn_seccomp seccomp;       /* as in the server's */
  enum jvpn_full_tunnel full_tunnel; /* default auto */
  uint32_t routing_table;          /* full tunnel's table */
  uint32_t rule_priority;          /* its rules: this and the next two */
  int kill_switch;                 /* nothing leaves outside the tunnel
                                    * (src/killswitch.h); default off */
  /* allow_route lines: when any is given, only advertised routes inside
   * one are installed and only their sources accepted (none: all) */
  struct jvpn_prefix allow_routes[JVPN_MAX_ROUTES];
  size_t nallow_routes;
  /* exclude lines: never through the tunnel (split tunnelling) */
  struct jvpn_prefix excludes[JVPN_MAX_ROUTES];
  size_t nexcludes;
  unsigned keepalive_ms;           /* QUIC keep-alive (NAT mappings);
                                    * default JVPN_QUIC_KEEPALIVE_MS */
  int dns;                         /* take the server's DNS configuration
                                    * ("dns = on", the default) or ignore
                                    * it (0) */
  enum jvpn_transport transport;   /* default auto */
  enum jvpn_dns_backend dns_backend; /* "dns_backend", default auto */
  struct jvpn_policy policy;       /* [policy]; defaults, validated */
  /* [uplink] sections, config order (docs/multipath.md); none = one path
   * that follows the routing table */
  struct jvpn_client_uplink {
    struct jvpn_uplink_cfg cfg;    /* name: the interface or the address */
    int by_address;                /* name is a local address literal */
  } uplinks[JVPN_UPLINK_MAX];
  size_t nuplinks;
  struct jvpn_uplink_policy uplink_policy; /* failover_* and
                                              metered_keepalive_ms of
                                              [policy]; validated */
};

/* Parses a server config held in memory. |filename| is used for messages
 * only. Returns 0, or JVPN_ERR_CONFIG with |err| filled in (and |c| left
 * freed). Free a parsed config with jvpn_server_conf_free(). */
int jvpn_config_parse_server(struct jvpn_server_conf *c, const char *text,
                             size_t len, const char *filename,
                             struct jvpn_config_error *err);
int jvpn_config_parse_client(struct jvpn_client_conf *c, const char *text,
                             size_t len, const char *filename,
                             struct jvpn_config_error *err);

/* Read |path| (at most JVPN_CONFIG_MAX_BYTES) and parse it. */
int jvpn_config_load_server(struct jvpn_server_conf *c, const char *path,
                            struct jvpn_config_error *err);
int jvpn_config_load_client(struct jvpn_client_conf *c, const char *path,
                            struct jvpn_config_error *err);

void jvpn_server_conf_free(struct jvpn_server_conf *c);

/* The [peer] of |c| with |pin|, or NULL. Linear; JVPN_MAX_PEERS bounds
 * it. */
const struct jvpn_peer_conf *
jvpn_server_conf_peer(const struct jvpn_server_conf *c, const uint8_t *pin);

/* Parses "a.b.c.d/n" or "x::y/n" (a bare address means a host prefix).
 * Host bits past the prefix are an error. Returns 0 or JVPN_ERR_MALFORMED. */
int jvpn_prefix_parse(const char *text, struct jvpn_prefix *p);

/* Parses "host:port", "[v6]:port" or "host" (port |defport|) into a
 * numeric socket address; host names are NOT resolved here (returns
 * JVPN_ERR_UNSUPPORTED for them so the caller may resolve). */
int jvpn_sockaddr_parse(const char *text, uint16_t defport,
                        struct sockaddr_storage *ss, socklen_t *len);

#endif /* SRC_CONFIG_H */
