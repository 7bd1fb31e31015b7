/* Unit tests for conf/cfg.c: every value type, every error message, reporting
 * of all errors, trunk sections, defaults, the print -> parse round trip, the
 * reference (and that docs/config.md is current) and conf/faxd.conf.example.
 *
 * Also a tool: `test_cfg --print-reference` writes docs/config.md's text and
 * `test_cfg --print-defaults` writes cfg_print() of the defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_int.h"
#include "fax/cfg.h"
#include "fax/fx.h"

/* ---- helpers ---- */

static char g_err[16384];

static cfg_t *parse_ok(const char *text)
{
    cfg_t *c = NULL;
    int rc = cfg_parse("x.conf", text, strlen(text), &c, g_err, sizeof g_err);
    if (rc != 0)
        fprintf(stderr, "unexpected errors:\n%s\n", g_err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    assert_string_equal(g_err, "");
    return c;
}

/* Parses text, which must fail with exactly the expected error text. */
static void expect_err(const char *text, const char *expected)
{
    cfg_t *c = (cfg_t *)(uintptr_t)0x1; /* must stay untouched */
    int rc = cfg_parse("x.conf", text, strlen(text), &c, g_err, sizeof g_err);
    assert_int_equal(rc, FX_EPARSE);
    assert_ptr_equal(c, (cfg_t *)(uintptr_t)0x1);
    assert_string_equal(g_err, expected);
}

static char *print_to_string(const cfg_t *c, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    if (c != NULL)
        cfg_print(c, f);
    else
        cfg_print_reference(f);
    fclose(f);
    if (len != NULL)
        *len = n;
    return buf;
}

/* Absolute path of a file in the source tree, found from this file's path
 * (CMake compiles it by absolute path). */
static void src_path(char *out, size_t len, const char *rel)
{
    const char *me = __FILE__;
    const char *tail = strstr(me, "tests/unit/test_cfg.c");
    assert_non_null(tail);
    snprintf(out, len, "%.*s%s", (int)(tail - me), me, rel);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 4096;
            buf = fx_realloc(buf, cap);
        }
        buf[n++] = (char)ch;
    }
    fclose(f);
    if (buf == NULL)
        buf = fx_malloc(1);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- the tables themselves ---- */

static void check_table(const cfg__setting_t *tab, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cfg__setting_t *s = &tab[i];
        assert_non_null(s->help);
        assert_true(strlen(s->help) > 5);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s->name, tab[j].name);
        if (s->type == CFG__TY_INT) {
            assert_true(s->min <= s->def && s->def <= s->max);
        }
        if (s->type == CFG__TY_STRING) {
            assert_non_null(s->def_str);
            assert_true(strlen(s->def_str) < s->size);
        }
        if (s->type == CFG__TY_ENUM) {
            assert_non_null(s->names);
        }
    }
}

static void test_tables(void **state)
{
    (void)state;
    check_table(cfg__settings, cfg__n_settings);
    check_table(cfg__trunk_settings, cfg__n_trunk_settings);
    /* Our printing names agree with fx's parsers. */
    static const char *const levels[] = { "err", "warn", "notice", "info", "debug" };
    for (int i = 0; i < 5; i++) {
        fx_log_level_t l;
        assert_int_equal(fx_log_level_parse(levels[i], &l), 0);
        assert_int_equal(l, i);
    }
    unsigned seen = 0;
    for (size_t i = 0; cfg__facility_names[i] != NULL; i++) {
        unsigned bit = 0;
        assert_int_equal(fx_log_facilities_parse(cfg__facility_names[i], &bit), 0);
        assert_int_equal(bit & (bit - 1), 0); /* exactly one bit */
        assert_int_not_equal(bit, 0);
        assert_int_equal(seen & bit, 0);
        seen |= bit;
    }
    assert_string_equal(cfg_t38_policy_name(CFG_T38_NEVER), "never");
    assert_string_equal(cfg_t38_policy_name(CFG_T38_PREFER), "prefer");
    assert_string_equal(cfg_t38_policy_name(CFG_T38_REQUIRE), "require");
    assert_string_equal(cfg_t38_policy_name((cfg_t38_policy_t)7), "?");
    assert_string_equal(cfg_udptl_ec_name(CFG_UDPTL_EC_NONE), "none");
    assert_string_equal(cfg_udptl_ec_name(CFG_UDPTL_EC_REDUNDANCY), "redundancy");
    assert_string_equal(cfg_udptl_ec_name(CFG_UDPTL_EC_FEC), "fec");
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
    (void)state;
    cfg_t d;
    cfg_defaults(&d);
    assert_string_equal(d.node_name, "faxgate");
    assert_string_equal(d.spool_dir, "/var/spool/faxgate");
    assert_string_equal(d.control_socket, "/run/faxgate/faxd.sock");
    assert_int_equal(d.log_level, FX_LOG_INFO);
    assert_int_equal(d.log_facilities, FX_FAC_ALL);
    assert_int_equal(d.media_loops, 0);
    assert_string_equal(d.sip_address, "127.0.0.1");
    assert_int_equal(d.sip_port, 5060);
    assert_true(d.sip_udp);
    assert_true(d.sip_tcp);
    assert_string_equal(d.sip_user_agent, "Faxgate");
    assert_int_equal(d.session_expires, 0);
    assert_string_equal(d.media_address, "127.0.0.1");
    assert_int_equal(d.rtp_port_min, 20000);
    assert_int_equal(d.rtp_port_max, 29999);
    assert_int_equal(d.playout_delay_ms, 60);
    assert_string_equal(d.local_ident, "");
    assert_string_equal(d.header_info, "");
    assert_true(d.ecm);
    assert_int_equal(d.max_rate, 14400);
    assert_int_equal(d.t38_policy, CFG_T38_PREFER);
    assert_false(d.t38_reinvite);
    assert_int_equal(d.udptl_ec, CFG_UDPTL_EC_REDUNDANCY);
    assert_int_equal(d.udptl_redundancy, 3);
    assert_int_equal(d.t38_max_datagram, 400);
    assert_int_equal(d.phase_e_timeout, 900);
    assert_int_equal(d.t1_timeout, 35);
    assert_int_equal(d.n_trunks, 0);

    /* An empty file (or only comments) gives exactly the defaults. */
    cfg_t *c = parse_ok("# nothing here\n\n   \n\t# indented comment\n");
    fx_strlcpy(d.path, "x.conf", sizeof d.path);
    assert_memory_equal(c, &d, sizeof d);
    cfg_free(c);
    c = parse_ok("");
    assert_memory_equal(c, &d, sizeof d);
    cfg_free(c);
    cfg_free(NULL);
}

static void test_trunk_defaults(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("[trunk a]\nhost = sip.example.com\n");
    assert_int_equal(c->n_trunks, 1);
    const cfg_trunk_t *t = &c->trunks[0];
    assert_string_equal(t->name, "a");
    assert_string_equal(t->host, "sip.example.com");
    assert_int_equal(t->port, 5060);
    assert_string_equal(t->transport, "udp");
    assert_string_equal(t->username, "");
    assert_string_equal(t->password, "");
    assert_string_equal(t->realm, "");
    assert_string_equal(t->from_user, "");
    assert_false(t->do_register);
    assert_int_equal(t->register_expires, 600);
    assert_int_equal(t->t38, CFG_T38_PREFER);
    assert_string_equal(t->prefix, "");
    cfg_free(c);
}

/* ---- value types ---- */

static void test_strings(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("node_name = fax one   \n"
                        "local_ident = \"+1 555 0100\"\n"
                        "header_info = \"  Clinic \\\"North\\\" \\\\ #1  \"   # comment\n"
                        "sip_user_agent=Faxgate/1.0 # not a comment\n"
                        "spool_dir =\n"
                        "control_socket = \"\"\n");
    assert_string_equal(c->node_name, "fax one");
    assert_string_equal(c->local_ident, "+1 555 0100");
    assert_string_equal(c->header_info, "  Clinic \"North\" \\ #1  ");
    assert_string_equal(c->sip_user_agent, "Faxgate/1.0 # not a comment");
    assert_string_equal(c->spool_dir, "");
    assert_string_equal(c->control_socket, "");
    cfg_free(c);

    /* Exactly the capacity is fine, one more is not. */
    char buf[256];
    snprintf(buf, sizeof buf, "node_name = %063d\n", 0);
    c = parse_ok(buf);
    assert_int_equal(strlen(c->node_name), 63);
    cfg_free(c);
    snprintf(buf, sizeof buf, "node_name = %064d\n", 0);
    expect_err(buf, "x.conf:1: node_name: value is 64 characters long, the limit is 63");
    expect_err("local_ident = 123456789012345678901\n",
               "x.conf:1: local_ident: value is 21 characters long, the limit is 20");
    /* Quoted values: errors. */
    expect_err("node_name = \"abc\n", "x.conf:1: node_name: missing closing '\"'");
    expect_err("node_name = \"abc\\\"\n", "x.conf:1: node_name: missing closing '\"'");
    expect_err("node_name = \"ab\\nc\"\n",
               "x.conf:1: node_name: unknown escape '\\n' in quoted value (only \\\" and \\\\)");
    expect_err("node_name = \"abc\" def\n",
               "x.conf:1: node_name: unexpected text after the closing '\"'");
    /* String choices: transport. */
    c = parse_ok("[trunk t]\nhost = h\ntransport = TCP\n");
    assert_string_equal(c->trunks[0].transport, "tcp");
    cfg_free(c);
    expect_err("[trunk t]\nhost = h\ntransport = tls\n",
               "x.conf:3: transport: 'tls' is not one of udp, tcp");
}

static void test_ints(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("sip_port = 5062\nmedia_loops=+4\nrtp_port_min = 01024\n"
                        "rtp_port_max = 65535\nudptl_redundancy = 0\n");
    assert_int_equal(c->sip_port, 5062);
    assert_int_equal(c->media_loops, 4);
    assert_int_equal(c->rtp_port_min, 1024);
    assert_int_equal(c->rtp_port_max, 65535);
    assert_int_equal(c->udptl_redundancy, 0);
    cfg_free(c);
    c = parse_ok("sip_port = \"1\"\n");
    assert_int_equal(c->sip_port, 1);
    cfg_free(c);
    expect_err("\n\nsip_port = 70000\n", "x.conf:3: sip_port: 70000 is out of range 1..65535");
    expect_err("sip_port = 0\n", "x.conf:1: sip_port: 0 is out of range 1..65535");
    expect_err("sip_port = -5\n", "x.conf:1: sip_port: -5 is out of range 1..65535");
    expect_err("sip_port = 99999999999999999999999\n",
               "x.conf:1: sip_port: 99999999999999999999999 is out of range 1..65535");
    expect_err("sip_port = 50a\n", "x.conf:1: sip_port: '50a' is not a whole number");
    expect_err("sip_port = 0x50\n", "x.conf:1: sip_port: '0x50' is not a whole number");
    expect_err("sip_port = 5 0\n", "x.conf:1: sip_port: '5 0' is not a whole number");
    expect_err("sip_port = +\n", "x.conf:1: sip_port: '+' is not a whole number");
    expect_err("sip_port =\n", "x.conf:1: sip_port: missing value");
    expect_err("udptl_redundancy = 9\n",
               "x.conf:1: udptl_redundancy: 9 is out of range 0..8");
    expect_err("[trunk t]\nhost = h\nregister_expires = 10\n",
               "x.conf:3: register_expires: 10 is out of range 60..86400");
}

static void test_bools(void **state)
{
    (void)state;
    static const char *const yes[] = { "yes", "true", "on", "1", "YES", "True", "On" };
    static const char *const no[] = { "no", "false", "off", "0", "NO", "False", "oFF" };
    char buf[128];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(buf, sizeof buf, "ecm = no\nt38_reinvite = %s\n", yes[i]);
        cfg_t *c = parse_ok(buf);
        assert_true(c->t38_reinvite);
        assert_false(c->ecm);
        cfg_free(c);
        snprintf(buf, sizeof buf, "ecm = %s\nt38_reinvite = yes\n", no[i]);
        c = parse_ok(buf);
        assert_false(c->ecm);
        cfg_free(c);
    }
    cfg_t *c = parse_ok("[trunk t]\nhost = h\nregister = on\n");
    assert_true(c->trunks[0].do_register);
    cfg_free(c);
    expect_err("ecm = maybe\n",
               "x.conf:1: ecm: 'maybe' is not a boolean (use yes/no, true/false, on/off or 1/0)");
    expect_err("ecm = 2\n",
               "x.conf:1: ecm: '2' is not a boolean (use yes/no, true/false, on/off or 1/0)");
    expect_err("ecm =\n", "x.conf:1: ecm: missing value");
}

static void test_enums(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("t38_policy = require\nudptl_ec = fec\n");
    assert_int_equal(c->t38_policy, CFG_T38_REQUIRE);
    assert_int_equal(c->udptl_ec, CFG_UDPTL_EC_FEC);
    cfg_free(c);
    c = parse_ok("t38_policy = Never\nudptl_ec = NONE\n[trunk t]\nhost = h\nt38 = require\n");
    assert_int_equal(c->t38_policy, CFG_T38_NEVER);
    assert_int_equal(c->udptl_ec, CFG_UDPTL_EC_NONE);
    assert_int_equal(c->trunks[0].t38, CFG_T38_REQUIRE);
    cfg_free(c);
    expect_err("t38_policy = sometimes\n",
               "x.conf:1: t38_policy: 'sometimes' is not one of never, prefer, require");
    expect_err("udptl_ec = parity\n",
               "x.conf:1: udptl_ec: 'parity' is not one of none, redundancy, fec");
    expect_err("t38_policy =\n", "x.conf:1: t38_policy: missing value");
}

static void test_log_settings(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("log_level = debug\nlog_facilities = sip,t38\n");
    assert_int_equal(c->log_level, FX_LOG_DEBUG);
    assert_int_equal(c->log_facilities, FX_FAC_SIP | FX_FAC_T38);
    cfg_free(c);
    c = parse_ok("log_level = ERR\nlog_facilities = sip, queue ,db\n");
    assert_int_equal(c->log_level, FX_LOG_ERR);
    assert_int_equal(c->log_facilities, FX_FAC_SIP | FX_FAC_QUEUE | FX_FAC_DB);
    cfg_free(c);
    c = parse_ok("log_facilities = all\n");
    assert_int_equal(c->log_facilities, FX_FAC_ALL);
    cfg_free(c);
    c = parse_ok("log_facilities =\n");
    assert_int_equal(c->log_facilities, 0);
    cfg_free(c);
    expect_err("log_level = loud\n",
               "x.conf:1: log_level: 'loud' is not one of err, warn, notice, info, debug");
    expect_err("log_facilities = sip,foo,t38\n",
               "x.conf:1: log_facilities: unknown facility 'foo' (use all or a comma list of "
               "sip, t38, t30, modem, atio, queue, route, db, conf, rtp, main, ctl)");
    expect_err("log_level =\n", "x.conf:1: log_level: missing value");
}

/* ---- syntax and messages ---- */

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_err("\n\n\n\nsip_port 5060\n", "x.conf:5: expected 'key = value'");
    expect_err("= 5\n", "x.conf:1: expected 'key = value'");
    expect_err("sip-port = 5\n", "x.conf:1: expected 'key = value'");
    expect_err("sip_port = 5060\nsip_port = 5062\n",
               "x.conf:2: sip_port: set twice (first on line 1)");
    expect_err("\xef\xbb\xbfsip_port = 5\x01\n", "x.conf:1: control character 0x01 in line");
    const char nul[] = "sip_port = 5\0\nsip_tcp = no\n";
    cfg_t *c = NULL;
    assert_int_equal(cfg_parse("x.conf", nul, sizeof nul - 1, &c, g_err, sizeof g_err),
                     FX_EPARSE);
    assert_string_equal(g_err, "x.conf:1: control character 0x00 in line");
    /* BOM, CRLF, blanks around everything, no final newline. */
    c = parse_ok("\xef\xbb\xbf# hi\r\n\t sip_port\t=\t5062 \r\n  sip_tcp=no");
    assert_int_equal(c->sip_port, 5062);
    assert_false(c->sip_tcp);
    cfg_free(c);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    cfg_t *c = NULL;
    const char *text = "\n\n\n\n\n\n\n\n\n\n\nsip_prot = 5062\n";
    assert_int_equal(cfg_parse("/etc/faxd.conf", text, strlen(text), &c, g_err, sizeof g_err),
                     FX_EPARSE);
    assert_string_equal(g_err,
                        "/etc/faxd.conf:12: unknown setting 'sip_prot' (did you mean 'sip_port'?)");
    expect_err("log_levle = info\n",
               "x.conf:1: unknown setting 'log_levle' (did you mean 'log_level'?)");
    expect_err("rtp_port_mn = 3\n",
               "x.conf:1: unknown setting 'rtp_port_mn' (did you mean 'rtp_port_min'?)");
    expect_err("fish = 3\n", "x.conf:1: unknown setting 'fish'");
    expect_err("e = 3\n", "x.conf:1: unknown setting 'e'");
    expect_err("[trunk t]\nhost = h\nusrname = bob\n",
               "x.conf:3: unknown trunk setting 'usrname' (did you mean 'username'?)");
    expect_err("[trunk t]\nhost = h\ncolour = red\n", "x.conf:3: unknown trunk setting 'colour'");
    expect_err("host = h\n",
               "x.conf:1: 'host' is a trunk setting: put it after a '[trunk NAME]' line");
    expect_err("[trunk t]\nhost = h\nsip_port = 5\n",
               "x.conf:3: 'sip_port' is not a trunk setting (global settings go before the "
               "first section)");
    /* `do_register` is the field; the file spells it `register`. */
    expect_err("[trunk t]\nhost = h\ndo_register = yes\n",
               "x.conf:3: unknown trunk setting 'do_register' (did you mean 'register'?)");
}

static void test_long_lines(void **state)
{
    (void)state;
    /* 4096 characters is the limit; lines may be far longer and are skipped. */
    size_t big = 100000;
    char *text = fx_malloc(big + 64);
    memset(text, ' ', big);
    memcpy(text, "header_info = x", 15);
    memcpy(text + big, "\nsip_port = 1\n", 15);
    cfg_t *c = NULL;
    assert_int_equal(cfg_parse("x.conf", text, strlen(text), &c, g_err, sizeof g_err),
                     FX_EPARSE);
    assert_string_equal(g_err, "x.conf:1: line is longer than 4096 characters");

    /* Exactly 4096: trailing blanks are trimmed and it parses. */
    memset(text, ' ', 4096);
    memcpy(text, "header_info = x", 15);
    text[4096] = '\0';
    c = parse_ok(text);
    assert_string_equal(c->header_info, "x");
    cfg_free(c);
    /* 4097 (CR is not counted). */
    memset(text, ' ', 4097);
    memcpy(text, "header_info = x", 15);
    memcpy(text + 4097, "\r\n", 3);
    expect_err(text, "x.conf:1: line is longer than 4096 characters");
    text[4096] = '\r';
    text[4097] = '\n';
    text[4098] = '\0';
    c = parse_ok(text);
    cfg_free(c);
    free(text);

    /* Too large a buffer is refused before parsing. */
    size_t huge = CFG__FILE_MAX + 1;
    text = fx_calloc(1, huge);
    assert_int_equal(cfg_parse("x.conf", text, huge, &c, g_err, sizeof g_err), FX_EPARSE);
    assert_string_equal(g_err, "x.conf: file is larger than 1048576 bytes");
    free(text);
}

static void test_sections(void **state)
{
    (void)state;
    expect_err("[trunk a\n", "x.conf:1: expected ']' at the end of the section header");
    expect_err("[sip]\nfoo = bar\n",
               "x.conf:1: unknown section '[sip]' (expected '[trunk NAME]')");
    expect_err("[trunks a]\n",
               "x.conf:1: unknown section '[trunks a]' (expected '[trunk NAME]')");
    expect_err("[trunk]\nhost = h\n", "x.conf:1: trunk section needs a name: '[trunk NAME]'");
    expect_err("[trunk a b]\nhost = h\n",
               "x.conf:1: trunk name 'a b' may hold only letters, digits, '_', '-' and '.'");
    expect_err("[trunk 0123456789012345678901234567890123]\nhost = h\n",
               "x.conf:1: trunk name '0123456789012345678901234567890123' is longer than 31 "
               "characters");
    expect_err("[trunk a]\nhost = h\n[trunk b]\nhost = h\n[trunk a]\nhost = h\n",
               "x.conf:5: duplicate trunk 'a' (first defined on line 1)");
    expect_err("[trunk a]\nport = 5061\n", "x.conf:1: trunk 'a': host is required");
    /* Keys under a bad header are still checked. */
    expect_err("[trunk]\nhost = h\nport = 0\n",
               "x.conf:1: trunk section needs a name: '[trunk NAME]'\n"
               "x.conf:3: port: 0 is out of range 1..65535");

    /* Too many trunks. */
    char text[8192];
    size_t used = 0;
    for (int i = 0; i <= CFG_MAX_TRUNKS; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "[trunk t%d]\nhost = h%d\n", i,
                                 i);
    expect_err(text, "x.conf:33: too many trunks (at most 16)");
    /* Exactly the maximum is fine. */
    text[strstr(text, "[trunk t16]") - text] = '\0';
    cfg_t *c = parse_ok(text);
    assert_int_equal(c->n_trunks, CFG_MAX_TRUNKS);
    assert_string_equal(c->trunks[15].host, "h15");
    cfg_free(c);
}

static void test_trunks(void **state)
{
    (void)state;
    cfg_t *c = parse_ok("sip_port = 5062\n"
                        "[trunk main]\n"
                        "host = sip.example.com\n"
                        "port = 5080\n"
                        "transport = tcp\n"
                        "username = alice\n"
                        "password = \"s3cr#t \\\"x\\\"\"\n"
                        "realm = example.com\n"
                        "from_user = 15550100\n"
                        "register = yes\n"
                        "register_expires = 3600\n"
                        "t38 = never\n"
                        "[ trunk  intl ]\n"
                        "host = 192.0.2.1\n"
                        "prefix = 00\n"
                        "[trunk intl-uk.2]\n"
                        "host = 192.0.2.2\n"
                        "prefix = 0044\n");
    assert_int_equal(c->sip_port, 5062);
    assert_int_equal(c->n_trunks, 3);
    const cfg_trunk_t *t = &c->trunks[0];
    assert_string_equal(t->name, "main");
    assert_string_equal(t->host, "sip.example.com");
    assert_int_equal(t->port, 5080);
    assert_string_equal(t->transport, "tcp");
    assert_string_equal(t->username, "alice");
    assert_string_equal(t->password, "s3cr#t \"x\"");
    assert_string_equal(t->realm, "example.com");
    assert_string_equal(t->from_user, "15550100");
    assert_true(t->do_register);
    assert_int_equal(t->register_expires, 3600);
    assert_int_equal(t->t38, CFG_T38_NEVER);
    assert_string_equal(c->trunks[1].name, "intl");
    assert_int_equal(c->trunks[1].port, 5060);
    assert_string_equal(c->trunks[2].name, "intl-uk.2");

    /* Longest prefix wins; the empty prefix catches the rest. */
    assert_ptr_equal(cfg_trunk_for(c, "0044207946"), &c->trunks[2]);
    assert_ptr_equal(cfg_trunk_for(c, "0049301234"), &c->trunks[1]);
    assert_ptr_equal(cfg_trunk_for(c, "5551234"), &c->trunks[0]);
    assert_ptr_equal(cfg_trunk_for(c, ""), &c->trunks[0]);
    assert_null(cfg_trunk_for(c, NULL));
    assert_ptr_equal(cfg_trunk_by_name(c, "intl"), &c->trunks[1]);
    assert_ptr_equal(cfg_trunk_by_name(c, "main"), &c->trunks[0]);
    assert_null(cfg_trunk_by_name(c, "Main"));
    assert_null(cfg_trunk_by_name(c, "nope"));
    assert_null(cfg_trunk_by_name(c, NULL));
    cfg_free(c);

    /* Without a catch-all, an unmatched number has no trunk. */
    c = parse_ok("[trunk a]\nhost = h\nprefix = 1\n[trunk b]\nhost = h\nprefix = 1\n");
    assert_null(cfg_trunk_for(c, "2"));
    assert_ptr_equal(cfg_trunk_for(c, "15"), &c->trunks[0]); /* tie: first declared */
    cfg_free(c);
    c = parse_ok("");
    assert_null(cfg_trunk_for(c, "1"));
    cfg_free(c);
}

static void test_cross_checks(void **state)
{
    (void)state;
    expect_err("rtp_port_min = 30000\nrtp_port_max = 30000\n",
               "x.conf:2: rtp_port_min (30000) must be below rtp_port_max (30000): the range "
               "needs at least 2 ports");
    expect_err("rtp_port_min = 40000\n",
               "x.conf:1: rtp_port_min (40000) must be below rtp_port_max (29999): the range "
               "needs at least 2 ports");
    cfg_t *c = parse_ok("rtp_port_min = 30000\nrtp_port_max = 30001\n");
    cfg_free(c);
    expect_err("\nmax_rate = 5000\n",
               "x.conf:2: max_rate: 5000 is not one of 2400, 4800, 7200, 9600, 12000, 14400");
    static const int rates[] = { 2400, 4800, 7200, 9600, 12000, 14400 };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "max_rate = %d\n", rates[i]);
        c = parse_ok(buf);
        assert_int_equal(c->max_rate, rates[i]);
        cfg_free(c);
    }
    expect_err("local_ident = +1 555 \xc3\xa9\n",
               "x.conf:1: local_ident: must be printable ASCII (T.30 clause 5.3.6.2.4)");
    c = parse_ok("local_ident = 12345678901234567890\n");
    assert_string_equal(c->local_ident, "12345678901234567890");
    cfg_free(c);
    expect_err("session_expires = 30\n",
               "x.conf:1: session_expires: 30 is below the RFC 4028 minimum of 90 seconds (0 "
               "turns the timer off)");
    c = parse_ok("session_expires = 90\n");
    assert_int_equal(c->session_expires, 90);
    cfg_free(c);
    expect_err("sip_udp = no\nsip_tcp = off\n",
               "x.conf:2: sip_udp and sip_tcp are both off: SIP would listen nowhere");

    /* media_address follows sip_address unless set. */
    c = parse_ok("sip_address = 192.0.2.7\n");
    assert_string_equal(c->media_address, "192.0.2.7");
    cfg_free(c);
    c = parse_ok("media_address = \"\"\nsip_address = 192.0.2.7\n");
    assert_string_equal(c->media_address, "192.0.2.7");
    cfg_free(c);
    c = parse_ok("sip_address = 192.0.2.7\nmedia_address = 198.51.100.1\n");
    assert_string_equal(c->media_address, "198.51.100.1");
    cfg_free(c);
}

/* Every error of a file is reported, in line order, cross checks last. */
static void test_all_errors(void **state)
{
    (void)state;
    expect_err("sip_prot = 5062\n"
               "sip_port = 70000\n"
               "# fine\n"
               "ecm = perhaps\n"
               "garbage\n"
               "max_rate = 5000\n"
               "[trunk a]\n"
               "port = 1\n"
               "[trunk a]\n"
               "host = x\n",
               "x.conf:1: unknown setting 'sip_prot' (did you mean 'sip_port'?)\n"
               "x.conf:2: sip_port: 70000 is out of range 1..65535\n"
               "x.conf:4: ecm: 'perhaps' is not a boolean (use yes/no, true/false, on/off or "
               "1/0)\n"
               "x.conf:5: expected 'key = value'\n"
               "x.conf:9: duplicate trunk 'a' (first defined on line 7)\n"
               "x.conf:6: max_rate: 5000 is not one of 2400, 4800, 7200, 9600, 12000, 14400\n"
               "x.conf:7: trunk 'a': host is required");
}

static void test_error_buffer(void **state)
{
    (void)state;
    const char *text = "a = 1\nb = 2\nc = 3\n";
    cfg_t *c = NULL;
    /* Room for the first line only: later lines are dropped whole. */
    char small[40];
    assert_int_equal(cfg_parse("x.conf", text, strlen(text), &c, small, sizeof small),
                     FX_EPARSE);
    assert_string_equal(small, "x.conf:1: unknown setting 'a'");
    /* Not even room for the first line: it is cut. */
    char tiny[8];
    assert_int_equal(cfg_parse("x.conf", text, strlen(text), &c, tiny, sizeof tiny), FX_EPARSE);
    assert_string_equal(tiny, "x.conf:");
    /* No buffer at all. */
    assert_int_equal(cfg_parse("x.conf", text, strlen(text), &c, NULL, 0), FX_EPARSE);
    assert_int_equal(cfg_parse("x.conf", text, strlen(text), &c, tiny, 0), FX_EPARSE);
    assert_null(c);
    /* Success clears the buffer. */
    strcpy(g_err, "stale");
    c = parse_ok("");
    cfg_free(c);
    /* Values quoted in messages are shortened. */
    char buf[256];
    snprintf(buf, sizeof buf, "sip_port = 9%0100d\n", 0);
    expect_err(buf, "x.conf:1: sip_port: 9000000000000000000000000000000000000000000000000000"
                    "00000... is out of range 1..65535");
}

/* ---- files ---- */

static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/test_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "sip_port = 5070\n\nsip_port = 5\n";
    assert_int_equal(fx_write_all(fd, text, strlen(text)), 0);
    close(fd);
    cfg_t *c = NULL;
    assert_int_equal(cfg_load(path, &c, g_err, sizeof g_err), FX_EPARSE);
    char want[256];
    snprintf(want, sizeof want, "%s:3: sip_port: set twice (first on line 1)", path);
    assert_string_equal(g_err, want);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(fx_write_all(fd, "sip_port = 5070\n", 16), 0);
    close(fd);
    assert_int_equal(cfg_load(path, &c, g_err, sizeof g_err), 0);
    assert_int_equal(c->sip_port, 5070);
    assert_string_equal(c->path, path);
    cfg_free(c);
    unlink(path);

    c = NULL;
    assert_int_equal(cfg_load("/nonexistent/faxd.conf", &c, g_err, sizeof g_err), -ENOENT);
    assert_null(c);
    assert_string_equal(g_err, "/nonexistent/faxd.conf: cannot open: No such file or directory");
    /* A directory opens but cannot be read. */
    assert_int_equal(cfg_load("/", &c, g_err, sizeof g_err), -EISDIR);
    assert_null(c);
}

/* Every setting set away from its default (strings with the characters that
 * force quoting), printed, parsed back: the same struct, byte for byte. */
static void test_round_trip(void **state)
{
    (void)state;
    cfg_t *a = parse_ok("node_name = \" lead and trail \"\n"
                        "spool_dir = /srv/fax spool\n"
                        "control_socket = \"\"\n"
                        "log_level = notice\n"
                        "log_facilities = sip,t38,ctl\n"
                        "media_loops = 3\n"
                        "sip_address = ::1\n"
                        "sip_port = 5062\n"
                        "sip_udp = no\n"
                        "sip_user_agent = \"\\\"quoted\\\" back\\\\slash\"\n"
                        "session_expires = 1800\n"
                        "rtp_port_min = 40000\n"
                        "rtp_port_max = 40100\n"
                        "playout_delay_ms = 0\n"
                        "local_ident = \"+1 555 0100\"\n"
                        "header_info = Clinic #3\ttab\n"
                        "ecm = no\n"
                        "max_rate = 9600\n"
                        "t38_policy = require\n"
                        "t38_reinvite = yes\n"
                        "udptl_ec = fec\n"
                        "udptl_redundancy = 5\n"
                        "t38_max_datagram = 1000\n"
                        "phase_e_timeout = 60\n"
                        "t1_timeout = 40\n"
                        "[trunk one]\n"
                        "host = sip.example.com\n"
                        "password = \"#x\\\\\"\n"
                        "register = yes\n"
                        "prefix = 1\n"
                        "[trunk two]\n"
                        "host = h2\n"
                        "transport = tcp\n"
                        "t38 = never\n");
    size_t len;
    char *text = print_to_string(a, &len);
    cfg_t *b = NULL;
    int rc = cfg_parse("x.conf", text, len, &b, g_err, sizeof g_err);
    if (rc != 0)
        fprintf(stderr, "%s\n---\n%s\n", text, g_err);
    assert_int_equal(rc, 0);
    assert_memory_equal(a, b, sizeof *a);
    /* And printing again gives the same text. */
    char *again = print_to_string(b, NULL);
    assert_string_equal(text, again);
    /* The output names every key and says which need a restart. */
    for (size_t i = 0; i < cfg__n_settings; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s = ", cfg__settings[i].name);
        assert_non_null(strstr(text, key));
    }
    assert_non_null(strstr(text, "\n# Port SIP listens on (restart to change)\nsip_port = 5062\n"));
    assert_non_null(strstr(text, "\n[trunk two]\n"));
    assert_non_null(strstr(text, "\nregister = yes\n"));
    free(text);
    free(again);
    cfg_free(a);
    cfg_free(b);

    /* The defaults round-trip too. */
    cfg_t d;
    cfg_defaults(&d);
    fx_strlcpy(d.path, "x.conf", sizeof d.path);
    text = print_to_string(&d, &len);
    assert_int_equal(cfg_parse("x.conf", text, len, &b, g_err, sizeof g_err), 0);
    assert_memory_equal(&d, b, sizeof d);
    free(text);
    cfg_free(b);
}

static void test_reference(void **state)
{
    (void)state;
    char *ref = print_to_string(NULL, NULL);
    for (size_t i = 0; i < cfg__n_settings; i++) {
        char cell[80];
        snprintf(cell, sizeof cell, "\n| `%s` | %s | ", cfg__settings[i].name,
                 cfg__type_name(cfg__settings[i].type));
        assert_non_null(strstr(ref, cell));
    }
    for (size_t i = 0; i < cfg__n_trunk_settings; i++) {
        char cell[80];
        snprintf(cell, sizeof cell, "\n| `%s` | %s | ", cfg__trunk_settings[i].name,
                 cfg__type_name(cfg__trunk_settings[i].type));
        assert_non_null(strstr(ref, cell));
    }
    assert_non_null(strstr(ref, "| `sip_port` | int | `5060` | 1..65535 | restart | Port SIP "
                                "listens on |\n"));
    assert_non_null(strstr(ref, "| `t38_policy` | enum | `prefer` | never, prefer, require | "
                                "yes | "));
    assert_non_null(strstr(ref, "| `media_address` | string | (empty) | up to 63 characters | "));

    /* docs/config.md is this output; regenerate with --print-reference. */
    char path[1024];
    src_path(path, sizeof path, "docs/config.md");
    size_t n;
    char *doc = read_all(path, &n);
    if (strcmp(doc, ref) != 0)
        fail_msg("docs/config.md is stale: run test_cfg --print-reference > docs/config.md");
    free(doc);
    free(ref);
}

static void test_example_file(void **state)
{
    (void)state;
    char path[1024];
    src_path(path, sizeof path, "conf/faxd.conf.example");
    cfg_t *c = NULL;
    int rc = cfg_load(path, &c, g_err, sizeof g_err);
    if (rc != 0)
        fail_msg("%s", g_err);
    assert_true(c->n_trunks >= 1);
    cfg_free(c);
    /* Every key is set (not only mentioned in a comment). */
    size_t n;
    char *text = read_all(path, &n);
    for (size_t i = 0; i < cfg__n_settings; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s = ", cfg__settings[i].name);
        if (strstr(text, key) == NULL)
            fail_msg("example lacks %s", cfg__settings[i].name);
    }
    for (size_t i = 0; i < cfg__n_trunk_settings; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s = ", cfg__trunk_settings[i].name);
        if (strstr(text, key) == NULL)
            fail_msg("example lacks trunk key %s", cfg__trunk_settings[i].name);
    }
    free(text);
}

static void test_restart_needed(void **state)
{
    (void)state;
    cfg_t *a = parse_ok("log_level = info\n[trunk a]\nhost = h\n");
    cfg_t *b = parse_ok("log_level = debug\nheader_info = x\n[trunk a]\nhost = other\n");
    char names[128];
    assert_int_equal(cfg_restart_needed(a, b, names, sizeof names), 0);
    assert_string_equal(names, "");
    cfg_free(b);
    b = parse_ok("sip_port = 5070\nspool_dir = /x\nlog_level = debug\n");
    assert_int_equal(cfg_restart_needed(a, b, names, sizeof names), 2);
    assert_string_equal(names, "spool_dir, sip_port");
    assert_int_equal(cfg_restart_needed(a, b, NULL, 0), 2);
    char tiny[5];
    assert_int_equal(cfg_restart_needed(a, b, tiny, sizeof tiny), 2);
    assert_string_equal(tiny, "spoo");
    cfg_free(a);
    cfg_free(b);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print-reference") == 0) {
        cfg_print_reference(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--print-defaults") == 0) {
        cfg_t d;
        cfg_defaults(&d);
        cfg_print(&d, stdout);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_trunk_defaults), cmocka_unit_test(test_strings),
        cmocka_unit_test(test_ints),         cmocka_unit_test(test_bools),
        cmocka_unit_test(test_enums),        cmocka_unit_test(test_log_settings),
        cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_long_lines),   cmocka_unit_test(test_sections),
        cmocka_unit_test(test_trunks),       cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_all_errors),   cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_load),         cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reference),    cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_restart_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
