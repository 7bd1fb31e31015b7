/* cfg: faxd's settings. Every setting is declared once in the table in
 * conf/cfg.c (name, type, default, bounds, offset, reloadable, help); the parser,
 * --check-config, --print-config and docs/config.md all come from it.
 *
 * File format: `key = value` lines, `#` comments, and `[trunk NAME]` sections
 * whose keys come from the trunk table. Unknown keys and bad values are errors
 * reported as `file:line: message`.
 *
 * Ownership: cfg_load() returns a cfg_t the caller frees with cfg_free().
 * A loaded cfg_t is immutable; a reload builds a new one and swaps it.
 * Threads: a loaded cfg_t may be read from any thread. */
#ifndef FAX_CFG_H
#define FAX_CFG_H

#include <stdbool.h>
#include <stdio.h>

#define CFG_MAX_TRUNKS 16

typedef enum { CFG_T38_NEVER = 0, CFG_T38_PREFER, CFG_T38_REQUIRE } cfg_t38_policy_t;
typedef enum { CFG_UDPTL_EC_NONE = 0, CFG_UDPTL_EC_REDUNDANCY, CFG_UDPTL_EC_FEC } cfg_udptl_ec_t;

const char *cfg_t38_policy_name(cfg_t38_policy_t p);
const char *cfg_udptl_ec_name(cfg_udptl_ec_t e);

/* A SIP trunk: where outbound calls go, with optional REGISTER and digest auth.
 * All fields public, read-only. */
typedef struct cfg_trunk {
    char name[32];
    char host[128];        /* proxy / registrar host */
    int port;              /* default 5060 */
    char transport[8];     /* "udp" or "tcp" */
    char username[64];     /* digest user (and From user); empty: no auth */
    char password[64];
    char realm[128];       /* empty: accept any realm the server names */
    char from_user[64];    /* caller id user part; empty: username */
    bool do_register;      /* send REGISTER */
    int register_expires;  /* seconds, default 600 */
    cfg_t38_policy_t t38;  /* default prefer */
    char prefix[16];       /* numbers starting with this go to this trunk ("" = any) */
} cfg_trunk_t;

/* All fields public, read-only. */
typedef struct cfg {
    char path[512];            /* file it came from */
    /* node and files */
    char node_name[64];        /* default "faxgate" */
    char spool_dir[512];       /* default /var/spool/faxgate */
    char control_socket[512];  /* default /run/faxgate/faxd.sock */
    char db_dsn[512];          /* PostgreSQL archive (libpq conninfo); "" = no archive */
    bool cluster;              /* cluster: jobs mirrored to db_dsn, taken over by peers */
    int lease_seconds;         /* cluster: node lease length, default 30, min 3 */
    /* logging */
    int log_level;             /* fx_log_level_t; default info */
    unsigned log_facilities;   /* FX_FAC_* bits; default all */
    /* loops */
    int media_loops;           /* 0 = one per core; 1..64 */
    /* SIP */
    char sip_address[64];      /* listen address, default 127.0.0.1 */
    int sip_port;              /* default 5060 */
    bool sip_udp;              /* default yes */
    bool sip_tcp;              /* default yes */
    char sip_user_agent[64];   /* default "Faxgate" */
    int session_expires;       /* RFC 4028 seconds, 0 = off; default 0 */
    /* media */
    char media_address[64];    /* default = sip_address */
    char sdp_address[64];      /* address written in our SDP (c=, o=), e.g. behind NAT;
                                * empty = media_address */
    int rtp_port_min;          /* default 20000 */
    int rtp_port_max;          /* default 29999 */
    int playout_delay_ms;      /* jitter buffer hold, default 60 */
    int media_timeout;         /* seconds without a media packet before a call is ended, 30 */
    /* fax */
    char local_ident[21];      /* TSI/CSI, T.30 5.3.6.2.4: 20 chars max */
    char header_info[50];      /* page header text */
    bool ecm;                  /* default yes */
    int max_rate;              /* 2400, 4800, 7200, 9600, 12000 or 14400; default 14400 */
    cfg_t38_policy_t t38_policy;   /* default prefer */
    bool t38_reinvite;         /* initiate the re-INVITE ourselves on CED/V.21; default no */
    cfg_udptl_ec_t udptl_ec;   /* default redundancy */
    int udptl_redundancy;      /* secondary IFPs per datagram, default 3, 0..8 */
    int t38_max_datagram;      /* our T38FaxMaxDatagram, default 400 */
    int phase_e_timeout;       /* hard per-call limit in seconds, default 900 */
    int t1_timeout;            /* T.30 T1 in seconds (clause 5.4.3.3: 35 +-5), default 35 */
    /* outbound queue (HylaFAX-style defaults) */
    int max_tries;             /* calls that connected, per recipient; default 3 */
    int max_dials;             /* calls placed, per recipient; default 12 */
    int retry_busy;            /* seconds; default 180 */
    int retry_noanswer;        /* seconds; default 300 */
    int retry_nofax;           /* seconds; default 300 */
    int retry_protocol;        /* seconds; default 60 */
    int dest_concurrency;      /* calls at once to one number; default 1 */
    int max_outbound_calls;    /* outbound calls at once; default 8 */
    int job_lifetime;          /* seconds a job may wait in all; default 10800 */
    bool test_clock;           /* tests only: the queue's clock moves by `faxctl clock` */
    /* trunks */
    int n_trunks;
    cfg_trunk_t trunks[CFG_MAX_TRUNKS];
} cfg_t;

/* Fills *c with every default (no file). */
void cfg_defaults(cfg_t *c);

/* Parses a whole file. On success *out is a new cfg_t (caller frees) and 0 is
 * returned. On failure returns FX_EPARSE (or -errno when the file cannot be
 * read), *out is untouched, and err receives every error, one per line, as
 * `file:line: message` (truncated to errlen). */
int cfg_load(const char *path, cfg_t **out, char *err, size_t errlen);

/* Same, from a buffer; `name` stands in for the file name in messages. */
int cfg_parse(const char *name, const char *text, size_t len, cfg_t **out, char *err,
              size_t errlen);

void cfg_free(cfg_t *c);

/* Writes every setting with its current value and help line, in file syntax. */
void cfg_print(const cfg_t *c, FILE *f);

/* Writes the settings reference (markdown table) for docs/config.md. */
void cfg_print_reference(FILE *f);

/* Returns the trunk whose prefix matches number best, or NULL. */
const cfg_trunk_t *cfg_trunk_for(const cfg_t *c, const char *number);
const cfg_trunk_t *cfg_trunk_by_name(const cfg_t *c, const char *name);

/* SIGHUP support: counts the settings marked "restart to change" whose values
 * differ between the running and a newly loaded config, and lists their names
 * (comma separated, truncated to len) in names (may be NULL). Trunks are all
 * reloadable. Returns 0 when the loaded config can be swapped in whole. */
int cfg_restart_needed(const cfg_t *running, const cfg_t *loaded, char *names, size_t len);

#endif
