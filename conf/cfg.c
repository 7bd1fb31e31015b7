/* cfg: faxd's settings table, parser and printers (see include/fax/cfg.h).
 *
 * Every setting is one row of cfg__settings[] or cfg__trunk_settings[]
 * (STYLE.md 9, as nginx's command tables and Redis' standardConfig): the
 * defaults, the parser, cfg_print() and cfg_print_reference() all walk the rows,
 * so adding a setting means adding a struct field and one row. Checks that
 * involve several settings live in check_cross() below. */
#include "fax/cfg.h"

#include "cfg_int.h"
#include "fax/fx.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- names ---- */

static const char *const t38_names[] = { "never", "prefer", "require", NULL };
static const char *const ec_names[] = { "none", "redundancy", "fec", NULL };
static const char *const transport_names[] = { "udp", "tcp", NULL };
/* Lower-case spellings of fx_log_level_t, in its order; parsing itself goes
 * through fx_log_level_parse() (the unit test checks the two agree). */
static const char *const level_names[] = { "err", "warn", "notice", "info", "debug", NULL };
/* Parsing goes through fx_log_facilities_parse(); this list is for printing
 * and messages (the unit test checks each name maps to one distinct bit). */
const char *const cfg__facility_names[] = { "sip",   "t38",  "t30", "modem", "atio", "queue",
                                            "route", "db",   "conf", "rtp",  "main", "ctl",
                                            NULL };

/* Modem rates T.30 can negotiate: V.27 ter 2400/4800, V.29 7200/9600,
 * V.17 7200..14400 (T.30 Table 2, DIS/DCS bits 11-14). */
static const int valid_rates[] = { 2400, 4800, 7200, 9600, 12000, 14400 };

/* RFC 4028 clause 5: Min-SE, and so any Session-Expires, is at least 90 s. */
#define CFG_SE_MIN 90

const char *cfg_t38_policy_name(cfg_t38_policy_t p)
{
    if ((unsigned)p < 3)
        return t38_names[p];
    return "?";
}

const char *cfg_udptl_ec_name(cfg_udptl_ec_t e)
{
    if ((unsigned)e < 3)
        return ec_names[e];
    return "?";
}

const char *cfg__type_name(cfg__type_t t)
{
    switch (t) {
    case CFG__TY_STRING: return "string";
    case CFG__TY_INT: return "int";
    case CFG__TY_BOOL: return "bool";
    case CFG__TY_ENUM: return "enum";
    case CFG__TY_LOGLEVEL: return "loglevel";
    case CFG__TY_FACILITIES: return "facilities";
    }
    return "?";
}

/* ---- the tables ---- */

/* Compile-time check inside an initializer: 0, or a negative array size. */
#define CFG__ASSERT0(cond) (0 * sizeof(char[(cond) ? 1 : -1]))
#define CFG__FSIZE(st, f) sizeof(((st *)0)->f)
#define CFG__AT(st, f) .offset = offsetof(st, f), .size = CFG__FSIZE(st, f)

#define CFG__STR(st, key, f, dflt, choices, rel, hlp)                                            \
    { .name = key, .type = CFG__TY_STRING, CFG__AT(st, f), .def_str = dflt, .names = choices,   \
      .reloadable = rel, .help = hlp }
#define CFG__INT(st, key, f, dflt, lo, hi, rel, hlp)                                             \
    { .name = key, .type = CFG__TY_INT, .offset = offsetof(st, f),                              \
      .size = CFG__FSIZE(st, f) + CFG__ASSERT0(CFG__FSIZE(st, f) == sizeof(int)), .def = dflt,  \
      .min = lo, .max = hi, .reloadable = rel, .help = hlp }
#define CFG__BOOL(st, key, f, dflt, rel, hlp)                                                    \
    { .name = key, .type = CFG__TY_BOOL, .offset = offsetof(st, f),                             \
      .size = CFG__FSIZE(st, f) + CFG__ASSERT0(CFG__FSIZE(st, f) == sizeof(bool)), .def = dflt, \
      .reloadable = rel, .help = hlp }
#define CFG__ENUM(st, key, f, dflt, nm, rel, hlp)                                                \
    { .name = key, .type = CFG__TY_ENUM, .offset = offsetof(st, f),                             \
      .size = CFG__FSIZE(st, f) + CFG__ASSERT0(CFG__FSIZE(st, f) == sizeof(int)), .def = dflt,  \
      .names = nm, .reloadable = rel, .help = hlp }
#define CFG__OTHER(st, key, ty, f, dflt, rel, hlp)                                               \
    { .name = key, .type = ty, .offset = offsetof(st, f),                                       \
      .size = CFG__FSIZE(st, f) + CFG__ASSERT0(CFG__FSIZE(st, f) == sizeof(int)), .def = dflt,  \
      .reloadable = rel, .help = hlp }

const cfg__setting_t cfg__settings[] = {
    /* node and files */
    CFG__STR(cfg_t, "node_name", node_name, "faxgate", NULL, false,
             "Name of this node in logs, job IDs and the shared archive"),
    CFG__STR(cfg_t, "spool_dir", spool_dir, "/var/spool/faxgate", NULL, false,
             "Spool directory, owned by the fax user, mode 0700"),
    CFG__STR(cfg_t, "control_socket", control_socket, "/run/faxgate/faxd.sock", NULL, false,
             "Unix socket that faxctl talks to"),
    CFG__STR(cfg_t, "db_dsn", db_dsn, "", NULL, false,
             "PostgreSQL archive as a libpq connection string, e.g. \"host=/run/postgresql "
             "dbname=faxgate\"; empty means no archive"),
    /* cluster (docs/cluster.md) */
    CFG__BOOL(cfg_t, "cluster", cluster, false, false,
              "Run as one node of a cluster: outbound jobs are mirrored to db_dsn and nodes "
              "take over the jobs of a node whose lease expired (needs db_dsn)"),
    CFG__INT(cfg_t, "lease_seconds", lease_seconds, 30, 3, 3600, false,
             "Cluster: length of this node's lease; it is renewed every third of it, and a "
             "node whose lease expired loses its pending jobs to the others"),
    /* logging */
    CFG__OTHER(cfg_t, "log_level", CFG__TY_LOGLEVEL, log_level, FX_LOG_INFO, true,
               "Most detailed level logged"),
    CFG__OTHER(cfg_t, "log_facilities", CFG__TY_FACILITIES, log_facilities, FX_FAC_ALL, true,
               "Comma list of facilities logged below warn (err and warn always pass)"),
    /* loops */
    CFG__INT(cfg_t, "media_loops", media_loops, 0, 0, 64, false,
             "Media loop threads; 0 means one per CPU core"),
    /* SIP */
    CFG__STR(cfg_t, "sip_address", sip_address, "127.0.0.1", NULL, false,
             "Address SIP listens on"),
    CFG__INT(cfg_t, "sip_port", sip_port, 5060, 1, 65535, false, "Port SIP listens on"),
    CFG__BOOL(cfg_t, "sip_udp", sip_udp, true, false, "Listen for SIP over UDP"),
    CFG__BOOL(cfg_t, "sip_tcp", sip_tcp, true, false, "Listen for SIP over TCP"),
    CFG__STR(cfg_t, "sip_user_agent", sip_user_agent, "Faxgate", NULL, true,
             "Text of our User-Agent and Server headers"),
    CFG__INT(cfg_t, "session_expires", session_expires, 0, 0, 86400, true,
             "RFC 4028 session timer in seconds; 0 is off, else at least 90"),
    /* media */
    CFG__STR(cfg_t, "media_address", media_address, "", NULL, false,
             "Address for RTP and UDPTL; empty means the same as sip_address"),
    CFG__STR(cfg_t, "sdp_address", sdp_address, "", NULL, true,
             "Address announced in SDP (c= and o= lines), e.g. the public address of a NAT "
             "that keeps ports; empty means media_address"),
    CFG__INT(cfg_t, "rtp_port_min", rtp_port_min, 20000, 1024, 65535, false,
             "Lowest UDP port for RTP and UDPTL"),
    CFG__INT(cfg_t, "rtp_port_max", rtp_port_max, 29999, 1024, 65535, false,
             "Highest UDP port for RTP and UDPTL"),
    CFG__INT(cfg_t, "playout_delay_ms", playout_delay_ms, 60, 0, 1000, true,
             "Jitter buffer hold for received audio, in milliseconds"),
    CFG__INT(cfg_t, "media_timeout", media_timeout, 30, 5, 600, true,
             "Seconds without any RTP or UDPTL packet from the far end before a call is ended"),
    /* fax */
    CFG__STR(cfg_t, "local_ident", local_ident, "", NULL, true,
             "Our fax identity (TSI/CSI): up to 20 printable ASCII characters, e.g. "
             "\"+1 555 0100\""),
    CFG__STR(cfg_t, "header_info", header_info, "", NULL, true,
             "Text of the header line printed at the top of each page we send"),
    CFG__BOOL(cfg_t, "ecm", ecm, true, true,
              "Use T.30 error correction mode (Annex A) when the far end offers it"),
    CFG__INT(cfg_t, "max_rate", max_rate, 14400, 2400, 14400, true,
             "Highest modem rate in bit/s: 2400, 4800, 7200, 9600, 12000 or 14400"),
    CFG__ENUM(cfg_t, "t38_policy", t38_policy, CFG_T38_PREFER, t38_names, true,
              "T.38 use: never (audio only), prefer (fall back to audio), require"),
    CFG__BOOL(cfg_t, "t38_reinvite", t38_reinvite, false, true,
              "Send the re-INVITE to T.38 ourselves on CED/V.21 detection"),
    CFG__ENUM(cfg_t, "udptl_ec", udptl_ec, CFG_UDPTL_EC_REDUNDANCY, ec_names, true,
              "UDPTL error correction we offer (T.38 T38FaxUdpEC)"),
    CFG__INT(cfg_t, "udptl_redundancy", udptl_redundancy, 3, 0, 8, true,
             "Secondary IFP packets carried in each UDPTL datagram with redundancy"),
    CFG__INT(cfg_t, "t38_max_datagram", t38_max_datagram, 400, 100, 1400, true,
             "T38FaxMaxDatagram we announce in SDP, in bytes"),
    CFG__INT(cfg_t, "phase_e_timeout", phase_e_timeout, 900, 60, 86400, true,
             "Hard limit on the length of one fax call, in seconds"),
    CFG__INT(cfg_t, "t1_timeout", t1_timeout, 35, 10, 120, true,
             "T.30 timer T1 in seconds (clause 5.4.3.3: 35 +-5)"),
    /* outbound queue */
    CFG__INT(cfg_t, "max_tries", max_tries, 3, 1, 100, true,
             "Calls that connected, per recipient, before a job gives up"),
    CFG__INT(cfg_t, "max_dials", max_dials, 12, 1, 1000, true,
             "Calls placed, per recipient, before a job gives up"),
    CFG__INT(cfg_t, "retry_busy", retry_busy, 180, 0, 86400, true,
             "Seconds before a retry after a busy signal"),
    CFG__INT(cfg_t, "retry_noanswer", retry_noanswer, 300, 0, 86400, true,
             "Seconds before a retry after no answer"),
    CFG__INT(cfg_t, "retry_nofax", retry_nofax, 300, 0, 86400, true,
             "Seconds before a retry when the far end answered but no fax machine did"),
    CFG__INT(cfg_t, "retry_protocol", retry_protocol, 60, 0, 86400, true,
             "Seconds before a retry after a fax that ended early (protocol error)"),
    CFG__INT(cfg_t, "dest_concurrency", dest_concurrency, 1, 1, 100, true,
             "Calls at once to one destination number"),
    CFG__INT(cfg_t, "max_outbound_calls", max_outbound_calls, 8, 1, 1000, true,
             "Outbound calls at once in all"),
    CFG__INT(cfg_t, "job_lifetime", job_lifetime, 10800, 60, 2592000, true,
             "Seconds a job may wait before it fails (its kill time)"),
    CFG__BOOL(cfg_t, "test_clock", test_clock, false, false,
              "Tests only: the outbound queue's clock moves only by `faxctl clock +SECONDS`"),
};
const size_t cfg__n_settings = sizeof cfg__settings / sizeof cfg__settings[0];

const cfg__setting_t cfg__trunk_settings[] = {
    CFG__STR(cfg_trunk_t, "host", host, "", NULL, true,
             "Proxy or registrar host (required)"),
    CFG__INT(cfg_trunk_t, "port", port, 5060, 1, 65535, true, "Port of the host"),
    CFG__STR(cfg_trunk_t, "transport", transport, "udp", transport_names, true,
             "SIP transport to the host"),
    CFG__STR(cfg_trunk_t, "username", username, "", NULL, true,
             "Digest user name (and From user); empty means no authentication"),
    CFG__STR(cfg_trunk_t, "password", password, "", NULL, true, "Digest password"),
    CFG__STR(cfg_trunk_t, "realm", realm, "", NULL, true,
             "Digest realm; empty accepts any realm the server names"),
    CFG__STR(cfg_trunk_t, "from_user", from_user, "", NULL, true,
             "User part of our caller ID; empty means username"),
    CFG__BOOL(cfg_trunk_t, "register", do_register, false, true,
              "Send REGISTER to the host (RFC 3261 clause 10)"),
    CFG__INT(cfg_trunk_t, "register_expires", register_expires, 600, 60, 86400, true,
             "Expires we ask for in REGISTER, in seconds"),
    CFG__ENUM(cfg_trunk_t, "t38", t38, CFG_T38_PREFER, t38_names, true,
              "T.38 use on this trunk: never, prefer or require"),
    CFG__STR(cfg_trunk_t, "prefix", prefix, "", NULL, true,
             "Numbers starting with this go to this trunk; empty matches any number"),
};
const size_t cfg__n_trunk_settings = sizeof cfg__trunk_settings / sizeof cfg__trunk_settings[0];

#define N_GLOBAL (sizeof cfg__settings / sizeof cfg__settings[0])
#define N_TRUNK (sizeof cfg__trunk_settings / sizeof cfg__trunk_settings[0])

/* ---- field access ---- */

static int get_int(const cfg__setting_t *s, const void *base)
{
    int v;
    memcpy(&v, (const char *)base + s->offset, sizeof v);
    return v;
}

static void set_int(const cfg__setting_t *s, void *base, int v)
{
    memcpy((char *)base + s->offset, &v, sizeof v);
}

static bool get_bool(const cfg__setting_t *s, const void *base)
{
    bool v;
    memcpy(&v, (const char *)base + s->offset, sizeof v);
    return v;
}

static void set_bool(const cfg__setting_t *s, void *base, bool v)
{
    memcpy((char *)base + s->offset, &v, sizeof v);
}

static const char *get_str(const cfg__setting_t *s, const void *base)
{
    return (const char *)base + s->offset;
}

/* Zero-fills the whole field first, so two structs holding the same settings
 * are byte-identical (the round-trip test and cfg_restart_needed rely on it). */
static void set_str(const cfg__setting_t *s, void *base, const char *v)
{
    char *dst = (char *)base + s->offset;
    memset(dst, 0, s->size);
    fx_strlcpy(dst, v, s->size);
}

static void apply_defaults(const cfg__setting_t *tab, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        const cfg__setting_t *s = &tab[i];
        switch (s->type) {
        case CFG__TY_STRING: set_str(s, base, s->def_str); break;
        case CFG__TY_BOOL: set_bool(s, base, s->def != 0); break;
        case CFG__TY_INT:
        case CFG__TY_ENUM:
        case CFG__TY_LOGLEVEL:
        case CFG__TY_FACILITIES: set_int(s, base, (int)s->def); break;
        }
    }
}

static void trunk_defaults(cfg_trunk_t *t)
{
    memset(t, 0, sizeof *t);
    apply_defaults(cfg__trunk_settings, N_TRUNK, t);
}

static void resolve(cfg_t *c)
{
    if (c->media_address[0] == '\0') {
        memset(c->media_address, 0, sizeof c->media_address);
        fx_strlcpy(c->media_address, c->sip_address, sizeof c->media_address);
    }
}

void cfg_defaults(cfg_t *c)
{
    memset(c, 0, sizeof *c);
    apply_defaults(cfg__settings, N_GLOBAL, c);
    resolve(c);
}

void cfg_free(cfg_t *c)
{
    free(c);
}

/* ---- small string helpers (locale-free) ---- */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static char *trim(char *s)
{
    while (is_blank(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Copies s for a message, cut to 60 bytes with "..." so one bad value cannot
 * push the other messages out of the caller's buffer. */
static const char *shorten(const char *s, char out[72])
{
    size_t n = strlen(s);
    if (n <= 60)
        return s;
    memcpy(out, s, 57);
    memcpy(out + 57, "...", 4);
    return out;
}

/* Optimal string alignment distance (Levenshtein plus adjacent transposition,
 * so "sip_prot" is 1 from "sip_port"). Long strings are never close. */
static unsigned edit_distance(const char *a, const char *b)
{
    enum { MAXL = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXL || lb > MAXL)
        return UINT_MAX;
    unsigned short d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (unsigned short)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (unsigned short)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v)
                v = d[i][j - 1] + 1u;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned short)v;
        }
    }
    return d[la][lb];
}

static const cfg__setting_t *find_setting(const cfg__setting_t *tab, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i].name, key) == 0)
            return &tab[i];
    return NULL;
}

/* Nearest key within a distance that still looks like a typo, or NULL. */
static const char *suggest(const cfg__setting_t *tab, size_t n, const char *key)
{
    size_t len = strlen(key);
    unsigned limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    unsigned best = UINT_MAX;
    const char *name = NULL;
    for (size_t i = 0; i < n; i++) {
        /* The distance is at least the difference in length: skip early. */
        size_t ln = strlen(tab[i].name);
        if ((ln > len ? ln - len : len - ln) > limit)
            continue;
        unsigned d = edit_distance(key, tab[i].name);
        if (d < best) {
            best = d;
            name = tab[i].name;
        }
    }
    return best <= limit && best < len ? name : NULL;
}

/* ---- the parser ---- */

typedef enum {
    SEC_GLOBAL = 0, /* before any section */
    SEC_TRUNK,      /* in a good [trunk NAME]: keys go to trunks[cur] */
    SEC_SCRATCH,    /* in a bad [trunk ...]: keys are checked, then dropped */
    SEC_IGNORE,     /* in an unknown section: keys are skipped */
} section_t;

typedef struct parser {
    const char *name; /* file name for messages */
    char *err;
    size_t errlen, errused;
    bool errfull;
    int nerr;
    cfg_t *c;
    section_t sec;
    int cur;                               /* trunk index in SEC_TRUNK */
    int glines[N_GLOBAL];                  /* line each setting was set on, 0 = default */
    int tlines[CFG_MAX_TRUNKS][N_TRUNK];   /* same for each trunk */
    int theader[CFG_MAX_TRUNKS];           /* line of each trunk's [trunk NAME] */
    cfg_trunk_t scratch;
    int slines[N_TRUNK];
} parser_t;

static void perr(parser_t *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Adds one `file:line: message` line to the caller's buffer. Lines that no
 * longer fit are counted but dropped; the first one is cut rather than lost. */
static void perr(parser_t *p, int line, const char *fmt, ...)
{
    char msg[1024], full[1700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->nerr++;
    if (p->err == NULL || p->errlen == 0 || p->errfull)
        return;
    int n;
    if (line > 0)
        n = snprintf(full, sizeof full, "%s%s:%d: %s", p->errused ? "\n" : "", p->name, line,
                     msg);
    else
        n = snprintf(full, sizeof full, "%s%s: %s", p->errused ? "\n" : "", p->name, msg);
    if (n < 0)
        return;
    size_t len = strlen(full);
    if (p->errused + len + 1 > p->errlen) {
        p->errfull = true;
        if (p->errused > 0)
            return;
    }
    p->errused += fx_strlcpy(p->err + p->errused, full, p->errlen - p->errused);
    if (p->errused >= p->errlen)
        p->errused = p->errlen - 1;
}

static void join_names(const char *const *names, char *out, size_t len)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; names[i] != NULL; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

static int name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcasecmp(names[i], v) == 0)
            return i;
    return -1;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1", NULL };
    static const char *const no[] = { "no", "false", "off", "0", NULL };
    if (name_index(yes, v) >= 0) {
        *out = true;
        return 0;
    }
    if (name_index(no, v) >= 0) {
        *out = false;
        return 0;
    }
    return FX_EPARSE;
}

/* Decimal only: a leading 0 is not octal. */
static int parse_long(const char *v, long long *out)
{
    const char *p = v;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return FX_EPARSE;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return FX_EPARSE;
    errno = 0;
    long long x = strtoll(v, NULL, 10);
    if (errno == ERANGE)
        return FX_ERANGE;
    *out = x;
    return 0;
}

/* Stores text v into setting s of base, or reports why it cannot. */
static void set_value(parser_t *p, int line, const cfg__setting_t *s, void *base, const char *v)
{
    char shortv[72], list[160];
    const char *sv = shorten(v, shortv);
    if (v[0] == '\0' && s->type != CFG__TY_STRING && s->type != CFG__TY_FACILITIES) {
        perr(p, line, "%s: missing value", s->name);
        return;
    }
    switch (s->type) {
    case CFG__TY_STRING: {
        size_t n = strlen(v);
        if (n >= s->size) {
            perr(p, line, "%s: value is %zu characters long, the limit is %zu", s->name, n,
                 s->size - 1);
            return;
        }
        if (s->names != NULL) {
            int i = name_index(s->names, v);
            if (i < 0) {
                join_names(s->names, list, sizeof list);
                perr(p, line, "%s: '%s' is not one of %s", s->name, sv, list);
                return;
            }
            v = s->names[i]; /* canonical spelling */
        }
        set_str(s, base, v);
        return;
    }
    case CFG__TY_INT: {
        long long x = 0;
        int rc = parse_long(v, &x);
        if (rc == FX_EPARSE) {
            perr(p, line, "%s: '%s' is not a whole number", s->name, sv);
            return;
        }
        if (rc == FX_ERANGE || x < s->min || x > s->max) {
            perr(p, line, "%s: %s is out of range %ld..%ld", s->name, sv, s->min, s->max);
            return;
        }
        set_int(s, base, (int)x);
        return;
    }
    case CFG__TY_BOOL: {
        bool b;
        if (parse_bool(v, &b) != 0) {
            perr(p, line, "%s: '%s' is not a boolean (use yes/no, true/false, on/off or 1/0)",
                 s->name, sv);
            return;
        }
        set_bool(s, base, b);
        return;
    }
    case CFG__TY_ENUM: {
        int i = name_index(s->names, v);
        if (i < 0) {
            join_names(s->names, list, sizeof list);
            perr(p, line, "%s: '%s' is not one of %s", s->name, sv, list);
            return;
        }
        set_int(s, base, i);
        return;
    }
    case CFG__TY_LOGLEVEL: {
        fx_log_level_t l;
        if (fx_log_level_parse(v, &l) != 0) {
            join_names(level_names, list, sizeof list);
            perr(p, line, "%s: '%s' is not one of %s", s->name, sv, list);
            return;
        }
        set_int(s, base, (int)l);
        return;
    }
    case CFG__TY_FACILITIES: {
        unsigned bits;
        if (fx_log_facilities_parse(v, &bits) != 0) {
            /* Name the first word fx did not know, for a precise message. */
            char word[72] = "";
            const char *q = v;
            while (*q) {
                q += strspn(q, ", ");
                size_t n = strcspn(q, ", ");
                if (n == 0)
                    break;
                char one[72];
                size_t k = n < sizeof one - 1 ? n : sizeof one - 1;
                memcpy(one, q, k);
                one[k] = '\0';
                unsigned dummy;
                if (n >= sizeof one - 1 || fx_log_facilities_parse(one, &dummy) != 0) {
                    fx_strlcpy(word, shorten(one, shortv), sizeof word);
                    break;
                }
                q += n;
            }
            join_names(cfg__facility_names, list, sizeof list);
            perr(p, line, "%s: unknown facility '%s' (use all or a comma list of %s)", s->name,
                 word, list);
            return;
        }
        set_int(s, base, (int)bits);
        return;
    }
    }
}

/* Takes the value after '=' (trimmed) and unquotes it in place: "..." with \"
 * and \\ escapes, then only blanks or a # comment may follow. Returns NULL
 * after reporting a malformed quoted value. */
static char *unquote(parser_t *p, int line, const char *key, char *v)
{
    if (v[0] != '"')
        return v;
    char *w = v;
    const char *r = v + 1;
    while (*r != '\0' && *r != '"') {
        if (*r == '\\') {
            r++;
            if (*r == '"' || *r == '\\') {
                *w++ = *r++;
            } else if (*r == '\0') {
                break;
            } else {
                perr(p, line, "%s: unknown escape '\\%c' in quoted value (only \\\" and \\\\)",
                     key, *r);
                return NULL;
            }
        } else {
            *w++ = *r++;
        }
    }
    if (*r != '"') {
        perr(p, line, "%s: missing closing '\"'", key);
        return NULL;
    }
    r++;
    while (is_blank(*r))
        r++;
    if (*r != '\0' && *r != '#') {
        perr(p, line, "%s: unexpected text after the closing '\"'", key);
        return NULL;
    }
    *w = '\0';
    return v;
}

static bool valid_trunk_name(const char *s)
{
    for (; *s; s++)
        if (!is_key_char(*s) && *s != '-' && *s != '.')
            return false;
    return true;
}

static void parse_section(parser_t *p, int line, char *s)
{
    char shortv[72];
    size_t n = strlen(s);
    if (s[n - 1] != ']') {
        perr(p, line, "expected ']' at the end of the section header");
        p->sec = SEC_IGNORE;
        return;
    }
    s[n - 1] = '\0';
    char *in = trim(s + 1);
    if (strncmp(in, "trunk", 5) != 0 || (in[5] != '\0' && !is_blank(in[5]))) {
        perr(p, line, "unknown section '[%s]' (expected '[trunk NAME]')", shorten(in, shortv));
        p->sec = SEC_IGNORE;
        return;
    }
    char *name = trim(in + 5);
    /* A bad header still gets its keys checked, in a scratch trunk. */
    p->sec = SEC_SCRATCH;
    trunk_defaults(&p->scratch);
    memset(p->slines, 0, sizeof p->slines);
    if (name[0] == '\0') {
        perr(p, line, "trunk section needs a name: '[trunk NAME]'");
        return;
    }
    if (strlen(name) >= sizeof p->scratch.name) {
        perr(p, line, "trunk name '%s' is longer than %zu characters", shorten(name, shortv),
             sizeof p->scratch.name - 1);
        return;
    }
    if (!valid_trunk_name(name)) {
        perr(p, line, "trunk name '%s' may hold only letters, digits, '_', '-' and '.'", name);
        return;
    }
    for (int i = 0; i < p->c->n_trunks; i++) {
        if (strcmp(p->c->trunks[i].name, name) == 0) {
            perr(p, line, "duplicate trunk '%s' (first defined on line %d)", name, p->theader[i]);
            return;
        }
    }
    if (p->c->n_trunks >= CFG_MAX_TRUNKS) {
        perr(p, line, "too many trunks (at most %d)", CFG_MAX_TRUNKS);
        return;
    }
    int i = p->c->n_trunks++;
    cfg_trunk_t *t = &p->c->trunks[i];
    trunk_defaults(t);
    fx_strlcpy(t->name, name, sizeof t->name);
    p->theader[i] = line;
    p->cur = i;
    p->sec = SEC_TRUNK;
}

static void parse_line(parser_t *p, int line, char *raw)
{
    char shortv[72];
    char *s = trim(raw);
    if (s[0] == '\0' || s[0] == '#')
        return;
    if (s[0] == '[') {
        parse_section(p, line, s);
        return;
    }
    char *k = s;
    while (is_key_char(*s))
        s++;
    size_t klen = (size_t)(s - k);
    while (is_blank(*s))
        s++;
    if (klen == 0 || *s != '=') {
        perr(p, line, "expected 'key = value'");
        return;
    }
    char *v = trim(s + 1);
    k[klen] = '\0';
    if (p->sec == SEC_IGNORE)
        return;

    const cfg__setting_t *tab = cfg__settings;
    size_t n = N_GLOBAL;
    void *base = p->c;
    int *lines = p->glines;
    if (p->sec == SEC_TRUNK) {
        tab = cfg__trunk_settings;
        n = N_TRUNK;
        base = &p->c->trunks[p->cur];
        lines = p->tlines[p->cur];
    } else if (p->sec == SEC_SCRATCH) {
        tab = cfg__trunk_settings;
        n = N_TRUNK;
        base = &p->scratch;
        lines = p->slines;
    }
    const cfg__setting_t *st = find_setting(tab, n, k);
    if (st == NULL) {
        const char *key = shorten(k, shortv);
        if (tab == cfg__settings && find_setting(cfg__trunk_settings, N_TRUNK, k) != NULL) {
            perr(p, line, "'%s' is a trunk setting: put it after a '[trunk NAME]' line", key);
        } else if (tab != cfg__settings && find_setting(cfg__settings, N_GLOBAL, k) != NULL) {
            perr(p, line,
                 "'%s' is not a trunk setting (global settings go before the first section)",
                 key);
        } else {
            /* The search costs a little; skip it when the message is dropped. */
            bool shown = p->err != NULL && p->errlen > 0 && !p->errfull;
            const char *near = shown ? suggest(tab, n, k) : NULL;
            if (near != NULL)
                perr(p, line, "unknown %ssetting '%s' (did you mean '%s'?)",
                     tab == cfg__settings ? "" : "trunk ", key, near);
            else
                perr(p, line, "unknown %ssetting '%s'", tab == cfg__settings ? "" : "trunk ",
                     key);
        }
        return;
    }
    size_t idx = (size_t)(st - tab);
    if (lines[idx] != 0) {
        perr(p, line, "%s: set twice (first on line %d)", st->name, lines[idx]);
        return;
    }
    lines[idx] = line;
    v = unquote(p, line, st->name, v);
    if (v != NULL)
        set_value(p, line, st, base, v);
}

static int gline(const parser_t *p, const char *key)
{
    const cfg__setting_t *s = find_setting(cfg__settings, N_GLOBAL, key);
    if (s == NULL)
        FX_PANIC("cfg: no setting %s in the table", key);
    return p->glines[s - cfg__settings];
}

static int later(int a, int b)
{
    return a > b ? a : b;
}

/* Rules that involve more than one setting, or more than its bounds. */
static void check_cross(parser_t *p)
{
    cfg_t *c = p->c;
    /* RFC 3550 clause 11: RTP takes an even port and RTCP the next one, so one
     * session needs two ports. */
    if (c->rtp_port_min >= c->rtp_port_max)
        perr(p, later(gline(p, "rtp_port_min"), gline(p, "rtp_port_max")),
             "rtp_port_min (%d) must be below rtp_port_max (%d): the range needs at least 2 "
             "ports",
             c->rtp_port_min, c->rtp_port_max);
    bool rate_ok = false;
    for (size_t i = 0; i < sizeof valid_rates / sizeof valid_rates[0]; i++)
        rate_ok |= c->max_rate == valid_rates[i];
    if (!rate_ok)
        perr(p, gline(p, "max_rate"),
             "max_rate: %d is not one of 2400, 4800, 7200, 9600, 12000, 14400", c->max_rate);
    /* T.30 clause 5.3.6.2.4: the identity is 20 characters (digits, '+' and
     * space in the standard; we accept any printable ASCII). The length is
     * already bounded by the field (21 bytes). */
    for (const char *q = c->local_ident; *q; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
            perr(p, gline(p, "local_ident"),
                 "local_ident: must be printable ASCII (T.30 clause 5.3.6.2.4)");
            break;
        }
    }
    if (c->session_expires != 0 && c->session_expires < CFG_SE_MIN)
        perr(p, gline(p, "session_expires"),
             "session_expires: %d is below the RFC 4028 minimum of %d seconds (0 turns the "
             "timer off)",
             c->session_expires, CFG_SE_MIN);
    /* cluster: the jobs and leases live in PostgreSQL (docs/cluster.md). */
    if (c->cluster && c->db_dsn[0] == '\0')
        perr(p, later(gline(p, "cluster"), gline(p, "db_dsn")),
             "cluster = yes needs db_dsn: the nodes share their jobs through PostgreSQL");
    if (!c->sip_udp && !c->sip_tcp)
        perr(p, later(gline(p, "sip_udp"), gline(p, "sip_tcp")),
             "sip_udp and sip_tcp are both off: SIP would listen nowhere");
    for (int i = 0; i < c->n_trunks; i++)
        if (c->trunks[i].host[0] == '\0')
            perr(p, p->theader[i], "trunk '%s': host is required", c->trunks[i].name);
    resolve(c);
}

static void parse_text(parser_t *p, const char *text, size_t len)
{
    size_t pos = 0;
    /* A UTF-8 byte order mark is harmless; some editors add one. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    char *line = fx_malloc(CFG__LINE_MAX + 1);
    int lineno = 0;
    while (pos < len) {
        lineno++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL ? 1 : 0);
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (n > CFG__LINE_MAX) {
            perr(p, lineno, "line is longer than %d characters", CFG__LINE_MAX);
            continue;
        }
        /* Tabs are blanks; other control bytes (NUL included) have no place
         * in a settings file and would garble messages. */
        size_t bad = 0;
        while (bad < n &&
               (((unsigned char)start[bad] >= 0x20 && start[bad] != 0x7f) || start[bad] == '\t'))
            bad++;
        if (bad < n) {
            perr(p, lineno, "control character 0x%02x in line", (unsigned char)start[bad]);
            continue;
        }
        memcpy(line, start, n);
        line[n] = '\0';
        parse_line(p, lineno, line);
    }
    free(line);
    check_cross(p);
}

int cfg_parse(const char *name, const char *text, size_t len, cfg_t **out, char *err,
              size_t errlen)
{
    parser_t *p = fx_calloc(1, sizeof *p);
    p->name = name != NULL ? name : "(config)";
    p->err = err;
    p->errlen = err != NULL ? errlen : 0;
    if (p->errlen > 0)
        err[0] = '\0';
    p->c = fx_calloc(1, sizeof *p->c);
    apply_defaults(cfg__settings, N_GLOBAL, p->c);
    fx_strlcpy(p->c->path, p->name, sizeof p->c->path);

    if (len > CFG__FILE_MAX)
        perr(p, 0, "file is larger than %d bytes", CFG__FILE_MAX);
    else
        parse_text(p, text, len);

    int rc = 0;
    if (p->nerr > 0) {
        cfg_free(p->c);
        rc = FX_EPARSE;
    } else {
        *out = p->c;
    }
    free(p);
    return rc;
}

int cfg_load(const char *path, cfg_t **out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int rc = -errno;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot open: %s", path, fx_strerror(rc));
        return rc;
    }
    /* Read one byte past the limit so an oversized file is told apart. */
    char *buf = fx_malloc(CFG__FILE_MAX + 1);
    size_t n = fread(buf, 1, CFG__FILE_MAX + 1, f);
    int rc = 0;
    if (ferror(f)) {
        rc = errno != 0 ? -errno : -EIO;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot read: %s", path, fx_strerror(rc));
    }
    fclose(f);
    if (rc == 0)
        rc = cfg_parse(path, buf, n, out, err, errlen);
    free(buf);
    return rc;
}

/* ---- printing ---- */

/* Text of a value as the parser reads it back. Strings are quoted when they
 * would not survive unquoted (empty, edge blanks, a leading quote) or hold '#'
 * (which a reader would take for a comment). */
static void format_value(const cfg__setting_t *s, const void *base, bool file_syntax, char *out,
                         size_t len)
{
    out[0] = '\0';
    switch (s->type) {
    case CFG__TY_STRING: {
        const char *v = get_str(s, base);
        size_t n = strlen(v);
        bool quote = file_syntax && (n == 0 || is_blank(v[0]) || is_blank(v[n - 1]) ||
                                     v[0] == '"' || strchr(v, '#') != NULL);
        if (!quote) {
            fx_strlcpy(out, v, len);
            return;
        }
        size_t w = 0;
        out[w++] = '"';
        for (; *v && w + 4 < len; v++) {
            if (*v == '"' || *v == '\\')
                out[w++] = '\\';
            out[w++] = *v;
        }
        out[w++] = '"';
        out[w] = '\0';
        return;
    }
    case CFG__TY_INT: snprintf(out, len, "%d", get_int(s, base)); return;
    case CFG__TY_BOOL: fx_strlcpy(out, get_bool(s, base) ? "yes" : "no", len); return;
    case CFG__TY_ENUM: {
        int v = get_int(s, base);
        int count = 0;
        while (s->names[count] != NULL)
            count++;
        fx_strlcpy(out, v >= 0 && v < count ? s->names[v] : "?", len);
        return;
    }
    case CFG__TY_LOGLEVEL: {
        int v = get_int(s, base);
        fx_strlcpy(out, v >= 0 && v <= FX_LOG_DEBUG ? level_names[v] : "?", len);
        return;
    }
    case CFG__TY_FACILITIES: {
        unsigned v = (unsigned)get_int(s, base);
        if (v == FX_FAC_ALL) {
            fx_strlcpy(out, "all", len);
            return;
        }
        /* XXX: bits no name covers (only reachable from a hand-built cfg_t)
         * are not printed. */
        size_t used = 0;
        for (size_t i = 0; cfg__facility_names[i] != NULL; i++) {
            unsigned bit;
            if (fx_log_facilities_parse(cfg__facility_names[i], &bit) != 0 || (v & bit) == 0)
                continue;
            int n = snprintf(out + used, len - used, "%s%s", used ? "," : "",
                             cfg__facility_names[i]);
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
        }
        return;
    }
    }
}

static void print_table(const cfg__setting_t *tab, size_t n, const void *base, FILE *f)
{
    char val[1100];
    for (size_t i = 0; i < n; i++) {
        const cfg__setting_t *s = &tab[i];
        format_value(s, base, true, val, sizeof val);
        fprintf(f, "\n# %s%s\n%s = %s\n", s->help, s->reloadable ? "" : " (restart to change)",
                s->name, val);
    }
}

void cfg_print(const cfg_t *c, FILE *f)
{
    fprintf(f, "# faxd settings%s%s\n", c->path[0] ? " from " : "", c->path);
    fprintf(f, "# Every setting with its value; this output is a valid settings file.\n");
    print_table(cfg__settings, N_GLOBAL, c, f);
    for (int i = 0; i < c->n_trunks && i < CFG_MAX_TRUNKS; i++) {
        fprintf(f, "\n[trunk %s]\n", c->trunks[i].name);
        print_table(cfg__trunk_settings, N_TRUNK, &c->trunks[i], f);
    }
}

/* Markdown table cells: '|' would end the cell. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void reference_table(const cfg__setting_t *tab, size_t n, const void *defaults, FILE *f)
{
    char val[1100], allowed[200];
    fprintf(f, "| Setting | Type | Default | Allowed | Reload | Description |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const cfg__setting_t *s = &tab[i];
        format_value(s, defaults, false, val, sizeof val);
        switch (s->type) {
        case CFG__TY_STRING:
            if (s->names != NULL)
                join_names(s->names, allowed, sizeof allowed);
            else
                snprintf(allowed, sizeof allowed, "up to %zu characters", s->size - 1);
            break;
        case CFG__TY_INT: snprintf(allowed, sizeof allowed, "%ld..%ld", s->min, s->max); break;
        case CFG__TY_BOOL: fx_strlcpy(allowed, "yes, no", sizeof allowed); break;
        case CFG__TY_ENUM: join_names(s->names, allowed, sizeof allowed); break;
        case CFG__TY_LOGLEVEL: join_names(level_names, allowed, sizeof allowed); break;
        case CFG__TY_FACILITIES:
            fx_strlcpy(allowed, "all, or a comma list of: ", sizeof allowed);
            join_names(cfg__facility_names, allowed + strlen(allowed),
                       sizeof allowed - strlen(allowed));
            break;
        }
        fprintf(f, "| `%s` | %s | ", s->name, cfg__type_name(s->type));
        if (val[0] != '\0') {
            fputc('`', f);
            md_cell(f, val);
            fputc('`', f);
        } else {
            fputs("(empty)", f);
        }
        fputs(" | ", f);
        md_cell(f, allowed);
        fprintf(f, " | %s | ", s->reloadable ? "yes" : "restart");
        md_cell(f, s->help);
        fputs(" |\n", f);
    }
}

static const char reference_intro[] =
    "# faxd settings reference\n"
    "\n"
    "<!-- Generated from the settings table in conf/cfg.c by cfg_print_reference(); do not\n"
    "     edit by hand. Regenerate from a build directory with\n"
    "         ./faxd --print-reference > <source>/docs/config.md\n"
    "     (or tests/test_cfg --print-reference, which needs no faxd build).\n"
    "     The test_cfg unit test fails while this file is out of date. -->\n"
    "\n"
    "## File syntax\n"
    "\n"
    "- One `key = value` per line. Blank lines and lines starting with `#` are ignored;\n"
    "  `#` elsewhere is part of the value, except after a quoted value.\n"
    "- A value is the rest of the line with blanks trimmed at both ends. A value in double\n"
    "  quotes keeps its blanks and may use `\\\"` and `\\\\`: `local_ident = \"+1 555 0100\"`.\n"
    "- Booleans: `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`. Numbers are decimal.\n"
    "  Names (booleans, enums, levels, facilities, transports) are case-insensitive.\n"
    "- Global settings come first. Each `[trunk NAME]` line starts a SIP trunk section\n"
    "  holding the trunk settings below; NAME is up to 31 letters, digits, `_`, `-`, `.`.\n"
    "- Each setting may appear once per scope. Lines are at most 4096 characters.\n"
    "- Every error is reported, one per line, as `file:line: message`, e.g.\n"
    "  `/etc/faxd.conf:12: unknown setting 'sip_prot' (did you mean 'sip_port'?)`.\n"
    "- `faxd --print-config` writes the settings in use in this syntax.\n"
    "- Reload: settings marked `yes` take effect on SIGHUP for new calls; the others need a\n"
    "  restart.\n"
    "\n"
    "## Global settings\n"
    "\n";

static const char reference_trunks[] =
    "\n"
    "## Trunk settings (`[trunk NAME]` sections)\n"
    "\n"
    "Outbound calls go to the trunk whose `prefix` is the longest match of the number.\n"
    "At most 16 trunks.\n"
    "\n";

static const char reference_rules[] =
    "\n"
    "## Checks across settings\n"
    "\n"
    "- `rtp_port_min` must be below `rtp_port_max`: a session needs an RTP and an RTCP port\n"
    "  (RFC 3550 clause 11).\n"
    "- `max_rate` is one of 2400, 4800 (V.27 ter), 7200, 9600 (V.29, V.17), 12000, 14400\n"
    "  (V.17).\n"
    "- `local_ident` is printable ASCII, at most 20 characters (T.30 clause 5.3.6.2.4).\n"
    "- `session_expires` is 0 or at least 90 (RFC 4028 clause 5).\n"
    "- `sip_udp` and `sip_tcp` are not both off.\n"
    "- Every trunk has a `host`; trunk names are unique.\n"
    "- An empty `media_address` takes the value of `sip_address`.\n";

void cfg_print_reference(FILE *f)
{
    cfg_t d;
    cfg_trunk_t t;
    memset(&d, 0, sizeof d);
    apply_defaults(cfg__settings, N_GLOBAL, &d); /* media_address stays empty here */
    trunk_defaults(&t);
    fputs(reference_intro, f);
    reference_table(cfg__settings, N_GLOBAL, &d, f);
    fputs(reference_trunks, f);
    reference_table(cfg__trunk_settings, N_TRUNK, &t, f);
    fputs(reference_rules, f);
}

/* ---- lookups ---- */

const cfg_trunk_t *cfg_trunk_for(const cfg_t *c, const char *number)
{
    if (c == NULL || number == NULL)
        return NULL;
    const cfg_trunk_t *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < c->n_trunks && i < CFG_MAX_TRUNKS; i++) {
        const cfg_trunk_t *t = &c->trunks[i];
        size_t n = strlen(t->prefix);
        if (strncmp(number, t->prefix, n) != 0)
            continue;
        /* Longest prefix wins; on a tie the trunk declared first. */
        if (best == NULL || n > best_len) {
            best = t;
            best_len = n;
        }
    }
    return best;
}

const cfg_trunk_t *cfg_trunk_by_name(const cfg_t *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (int i = 0; i < c->n_trunks && i < CFG_MAX_TRUNKS; i++)
        if (strcmp(c->trunks[i].name, name) == 0)
            return &c->trunks[i];
    return NULL;
}

int cfg_restart_needed(const cfg_t *running, const cfg_t *loaded, char *names, size_t len)
{
    int count = 0;
    size_t used = 0;
    if (names != NULL && len > 0)
        names[0] = '\0';
    for (size_t i = 0; i < N_GLOBAL; i++) {
        const cfg__setting_t *s = &cfg__settings[i];
        if (s->reloadable)
            continue;
        bool same;
        if (s->type == CFG__TY_STRING)
            same = strncmp(get_str(s, running), get_str(s, loaded), s->size) == 0;
        else
            same = memcmp((const char *)running + s->offset, (const char *)loaded + s->offset,
                          s->size) == 0;
        if (same)
            continue;
        count++;
        if (names != NULL && len > used) {
            int n = snprintf(names + used, len - used, "%s%s", used ? ", " : "", s->name);
            if (n > 0)
                used = (size_t)n >= len - used ? len - 1 : used + (size_t)n;
        }
    }
    return count;
}
