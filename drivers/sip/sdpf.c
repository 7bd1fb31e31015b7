/* sdpf: SDP for fax calls (see sdpf.h).  Reading goes through sofia-sip's SDP
 * parser (RFC 4566 syntax); this file then picks the streams a fax call can use
 * and reads the T.38 attributes (T.38 Annex D.2.3, RFC 4612 section 3) itself,
 * because sofia-sip keeps them as uninterpreted a= lines.  Writing is plain
 * snprintf. */
#include <sofia-sip/su_config.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fax/fx.h"
#include "sdpf.h"

/* An SDP body for one or two streams is a few hundred bytes; anything near this
 * size is not a fax call (and would only make the parser work). */
#define SDPF_MAX_BODY 65536

/* Bounds for the numbers we accept; each rejection names the bound. */
#define SDPF_MAX_T38_VERSION 255u
#define SDPF_MAX_BITRATE 1000000u /* T.38 tops out at 33600 (V.34) */
#define SDPF_MAX_BUFFER 1048576u
#define SDPF_MAX_DATAGRAM 65535u  /* a UDP payload cannot be larger */
#define SDPF_MAX_PTIME 1000u      /* RFC 4566 section 6: ms of media per packet */

/* ---------------------------------------------------------------- reasons */

/* Writes a reason to why[], keeping it fit for a SIP Warning header's quoted
 * string and a reason phrase (RFC 3261 25.1: no CR/LF; no '"' or '\' so nobody
 * must escape it): anything else is replaced by '?' or '\''. */
static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
        for (char *c = why; *c != '\0'; c++) {
            unsigned char u = (unsigned char)*c;
            if (u == '"')
                *c = '\'';
            else if (u < 0x20 || u > 0x7e || u == '\\')
                *c = '?';
        }
    }
    return FX_EPARSE;
}

/* ---------------------------------------------------------------- numbers */

enum { NUM_OK = 0, NUM_NAN = -1, NUM_RANGE = -2 };

/* A decimal number with optional blanks around it, nothing else (no sign, no
 * hex, no trailing junk, which strtoul would let through).  Saturates instead of
 * overflowing, so any long run of digits is simply out of range. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (s == NULL)
        return NUM_NAN;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return NUM_NAN;
    unsigned long v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v <= hi)
            v = v * 10 + (unsigned long)(*s - '0');
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0')
        return NUM_NAN;
    if (v < lo || v > hi)
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

/* Compares an attribute value, ignoring blanks around it and case. */
static bool value_is(const char *v, const char *word)
{
    if (v == NULL)
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(word);
    if (strncasecmp(v, word, n) != 0)
        return false;
    for (v += n; *v == ' ' || *v == '\t'; v++)
        ;
    return *v == '\0';
}

/* ---------------------------------------------------------------- names */

const char *sdpf_ec_name(sdpf_ec_t ec)
{
    switch (ec) {
    case SDPF_EC_NONE:
        return "none";
    case SDPF_EC_REDUNDANCY:
        return "redundancy";
    case SDPF_EC_FEC:
        return "fec";
    }
    return "?";
}

const char *sdpf_rate_mgmt_name(sdpf_rate_mgmt_t rm)
{
    switch (rm) {
    case SDPF_RM_TRANSFERRED_TCF:
        return "transferredTCF";
    case SDPF_RM_LOCAL_TCF:
        return "localTCF";
    }
    return "?";
}

const char *sdpf_dir_name(sdpf_dir_t dir)
{
    switch (dir) {
    case SDPF_DIR_SENDRECV:
        return "sendrecv";
    case SDPF_DIR_SENDONLY:
        return "sendonly";
    case SDPF_DIR_RECVONLY:
        return "recvonly";
    case SDPF_DIR_INACTIVE:
        return "inactive";
    }
    return "?";
}

/* ---------------------------------------------------------------- reading */

static const char *media_label(const sdp_media_t *m)
{
    return m->m_type == sdp_media_audio ? "audio" : "image";
}

/* Connection address of a stream: its own c= or else the session's
 * (RFC 4566 section 5.7).  Only unicast numeric IN IP4/IP6 addresses: we have
 * no resolver on the media path.  Also applies the old hold convention. */
static int read_connection(const sdp_session_t *sdp, const sdp_media_t *m, sdpf_media_t *out,
                           char *why, size_t whylen)
{
    const sdp_connection_t *c = m->m_connections != NULL ? m->m_connections : sdp->sdp_connection;
    const char *lab = media_label(m);

    if (c == NULL || c->c_address == NULL || c->c_address[0] == '\0')
        return fail(why, whylen, "no connection address for m=%s", lab);
    if (c->c_nettype != sdp_net_in)
        return fail(why, whylen, "connection for m=%s is not IN", lab);
    if (c->c_mcast)
        return fail(why, whylen, "multicast connection address for m=%s not supported", lab);

    int family;
    const char *fname;
    if (c->c_addrtype == sdp_addr_ip4)
        family = AF_INET, fname = "IP4";
    else if (c->c_addrtype == sdp_addr_ip6)
        family = AF_INET6, fname = "IP6";
    else
        return fail(why, whylen, "connection for m=%s is neither IP4 nor IP6", lab);

    unsigned char bin[16];
    if (strlen(c->c_address) >= sizeof out->addr || inet_pton(family, c->c_address, bin) != 1)
        return fail(why, whylen, "connection address for m=%s is not a numeric %s address", lab,
                    fname);
    fx_strlcpy(out->addr, c->c_address, sizeof out->addr);

    /* RFC 3264 section 8.4: an address of 0.0.0.0 (RFC 2543 hold) means "do not
     * send to me"; treat it as the peer withdrawing its receive direction. */
    static const unsigned char zero[16];
    if (memcmp(bin, zero, family == AF_INET ? 4 : 16) == 0) {
        if (out->dir == SDPF_DIR_SENDRECV)
            out->dir = SDPF_DIR_SENDONLY;
        else if (out->dir == SDPF_DIR_RECVONLY)
            out->dir = SDPF_DIR_INACTIVE;
    }
    return 0;
}

/* Port, direction and address: what every stream has. */
static int read_common(const sdp_session_t *sdp, const sdp_media_t *m, int index,
                       sdpf_media_t *out, char *why, size_t whylen)
{
    /* RFC 4566 section 5.14: a port is 16 bits; 0 was screened out by the caller. */
    if (m->m_port > 65535)
        return fail(why, whylen, "m=%s port %lu out of range (1..65535)", media_label(m),
                    m->m_port);
    out->present = true;
    out->index = index;
    out->port = (uint16_t)m->m_port;
    /* sofia-sip folds a=sendrecv/sendonly/recvonly/inactive, session level then
     * media level, into m_mode (RFC 4566 section 6). */
    switch (m->m_mode & sdp_sendrecv) {
    case sdp_sendonly:
        out->dir = SDPF_DIR_SENDONLY;
        break;
    case sdp_recvonly:
        out->dir = SDPF_DIR_RECVONLY;
        break;
    case sdp_inactive:
        out->dir = SDPF_DIR_INACTIVE;
        break;
    default:
        out->dir = SDPF_DIR_SENDRECV;
        break;
    }
    return read_connection(sdp, m, out, why, whylen);
}

/* An rtpmap is G.711 law X if it names the encoding at 8000 Hz, mono
 * (RFC 3551 section 4.5.14; encoding names are case-insensitive, RFC 4855). */
static bool rtpmap_is(const sdp_rtpmap_t *rm, const char *enc)
{
    if (rm->rm_encoding == NULL || strcasecmp(rm->rm_encoding, enc) != 0 || rm->rm_rate != 8000)
        return false;
    return rm->rm_params == NULL || rm->rm_params[0] == '\0' || strcmp(rm->rm_params, "1") == 0;
}

static int read_audio(const sdp_session_t *sdp, const sdp_media_t *m, int index,
                      sdpf_media_t *out, char *why, size_t whylen)
{
    int rc = read_common(sdp, m, index, out, why, whylen);
    if (rc != 0)
        return rc;

    /* sofia-sip turns the m= format list into rtpmaps in the offered order, the
     * static ones (RFC 3551 table 4) filled in, a=rtpmap lines merged in. */
    for (const sdp_rtpmap_t *rm = m->m_rtpmaps; rm != NULL; rm = rm->rm_next) {
        int pt = (int)rm->rm_pt;
        if (out->n_pt < (int)(sizeof out->pt / sizeof out->pt[0]))
            out->pt[out->n_pt++] = pt;
        if (out->pt_pcmu < 0 && rtpmap_is(rm, "PCMU"))
            out->pt_pcmu = pt;
        else if (out->pt_pcma < 0 && rtpmap_is(rm, "PCMA"))
            out->pt_pcma = pt;
        else if (out->pt_tevent < 0 && rtpmap_is(rm, "telephone-event"))
            out->pt_tevent = pt; /* RFC 4733 section 7.1.1 */
    }

    for (const sdp_attribute_t *a = m->m_attributes; a != NULL; a = a->a_next) {
        if (a->a_name == NULL || strcasecmp(a->a_name, "ptime") != 0)
            continue;
        unsigned long v;
        int r = parse_uint(a->a_value, 1, SDPF_MAX_PTIME, &v);
        if (r == NUM_NAN)
            return fail(why, whylen, "ptime not a number");
        if (r == NUM_RANGE)
            return fail(why, whylen, "ptime out of range (1..%u)", SDPF_MAX_PTIME);
        out->ptime = (unsigned)v;
        break;
    }
    return 0;
}

/* The T.38 attributes of T.38 Annex D.2.3 / RFC 4612 section 3, with the other
 * spellings met in the field. */
enum {
    T38A_VERSION,
    T38A_BITRATE,
    T38A_FILLBIT,
    T38A_MMR,
    T38A_JBIG,
    T38A_RATEMGMT,
    T38A_MAXBUF,
    T38A_MAXDGRAM,
    T38A_UDPEC,
    T38A_N
};

static const char *const t38_canon[T38A_N] = {
    "T38FaxVersion",         "T38MaxBitRate",        "T38FaxFillBitRemoval",
    "T38FaxTranscodingMMR",  "T38FaxTranscodingJBIG", "T38FaxRateManagement",
    "T38FaxMaxBuffer",       "T38FaxMaxDatagram",    "T38FaxUdpEC",
};

static int t38_attr_id(const char *name)
{
    for (int i = 0; i < T38A_N; i++) {
        if (strcasecmp(name, t38_canon[i]) == 0)
            return i;
    }
    /* T.38 (1998) Annex D and some gateways (older Cisco IOS, Patton) write the
     * bit rate with "Fax" in it. */
    if (strcasecmp(name, "T38FaxMaxBitRate") == 0)
        return T38A_BITRATE;
    return -1;
}

/* A boolean T.38 attribute: present without a value means true (RFC 4612
 * section 3, T.38 Annex D.2.3 of 1998); later editions write :1 or :0. */
static int read_bool(const char *v, const char *name, bool *out, char *why, size_t whylen)
{
    if (v == NULL || value_is(v, "") || value_is(v, "1") || value_is(v, "true"))
        *out = true;
    else if (value_is(v, "0") || value_is(v, "false"))
        *out = false;
    else
        return fail(why, whylen, "%s not a boolean (0 or 1)", name);
    return 0;
}

static int read_num(const char *v, const char *name, unsigned long hi, unsigned long *out,
                    char *why, size_t whylen)
{
    int r = parse_uint(v, 0, hi, out);
    if (r == NUM_NAN)
        return fail(why, whylen, "%s not a number", name);
    if (r == NUM_RANGE)
        return fail(why, whylen, "%s out of range (0..%lu)", name, hi);
    return 0;
}

static int read_t38_attr(int id, const char *v, sdpf_t38_t *t, char *why, size_t whylen)
{
    const char *name = t38_canon[id];
    unsigned long n = 0;
    int rc = 0;

    switch (id) {
    case T38A_VERSION:
        if ((rc = read_num(v, name, SDPF_MAX_T38_VERSION, &n, why, whylen)) == 0)
            t->version = (int)n;
        break;
    case T38A_BITRATE:
        if ((rc = read_num(v, name, SDPF_MAX_BITRATE, &n, why, whylen)) == 0)
            t->max_bitrate = (unsigned)n;
        break;
    case T38A_MAXBUF:
        if ((rc = read_num(v, name, SDPF_MAX_BUFFER, &n, why, whylen)) == 0)
            t->max_buffer = (unsigned)n;
        break;
    case T38A_MAXDGRAM:
        if ((rc = read_num(v, name, SDPF_MAX_DATAGRAM, &n, why, whylen)) == 0)
            t->max_datagram = (unsigned)n;
        break;
    case T38A_FILLBIT:
        rc = read_bool(v, name, &t->fill_bit_removal, why, whylen);
        break;
    case T38A_MMR:
        rc = read_bool(v, name, &t->transcoding_mmr, why, whylen);
        break;
    case T38A_JBIG:
        rc = read_bool(v, name, &t->transcoding_jbig, why, whylen);
        break;
    case T38A_RATEMGMT:
        if (value_is(v, "transferredTCF"))
            t->rate_mgmt = SDPF_RM_TRANSFERRED_TCF;
        else if (value_is(v, "localTCF"))
            t->rate_mgmt = SDPF_RM_LOCAL_TCF;
        else
            rc = fail(why, whylen, "%s must be localTCF or transferredTCF", name);
        break;
    case T38A_UDPEC:
        if (value_is(v, "t38UDPRedundancy"))
            t->udp_ec = SDPF_EC_REDUNDANCY;
        else if (value_is(v, "t38UDPFEC"))
            t->udp_ec = SDPF_EC_FEC;
        else if (value_is(v, "t38UDPNoEC")) /* not in T.38, but sent by some gateways */
            t->udp_ec = SDPF_EC_NONE;
        else
            rc = fail(why, whylen, "%s must be t38UDPRedundancy, t38UDPFEC or t38UDPNoEC", name);
        break;
    default:
        break;
    }
    return rc;
}

/* Reads the T38Fax* attributes of one attribute list; the first occurrence of
 * each wins (seen[] is shared between media and session level, media first). */
static int read_t38_list(const sdp_attribute_t *a, bool seen[T38A_N], sdpf_t38_t *t,
                         char *why, size_t whylen)
{
    for (; a != NULL; a = a->a_next) {
        if (a->a_name == NULL)
            continue;
        int id = t38_attr_id(a->a_name);
        if (id < 0 || seen[id])
            continue;
        seen[id] = true;
        int rc = read_t38_attr(id, a->a_value, t, why, whylen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool has_t38_format(const sdp_media_t *m)
{
    for (const sdp_list_t *l = m->m_format; l != NULL; l = l->l_next) {
        if (l->l_text != NULL && strcasecmp(l->l_text, "t38") == 0)
            return true;
    }
    return false;
}

static int read_t38(const sdp_session_t *sdp, const sdp_media_t *m, int index, sdpf_media_t *out,
                    char *why, size_t whylen)
{
    int rc = read_common(sdp, m, index, out, why, whylen);
    if (rc != 0)
        return rc;

    /* Absent attributes: version 0, rate management transferredTCF (the only one
     * for UDPTL, T.38 clause 9.2), everything else "not stated" (0 / false / no
     * error correction).  A few peers put the attributes at session level. */
    memset(&out->t38, 0, sizeof out->t38);
    out->t38.rate_mgmt = SDPF_RM_TRANSFERRED_TCF;
    out->t38.udp_ec = SDPF_EC_NONE;
    bool seen[T38A_N] = { false };
    rc = read_t38_list(m->m_attributes, seen, &out->t38, why, whylen);
    if (rc == 0)
        rc = read_t38_list(sdp->sdp_attributes, seen, &out->t38, why, whylen);
    return rc;
}

static void media_init(sdpf_media_t *m)
{
    memset(m, 0, sizeof *m);
    m->index = -1;
    m->pt_pcmu = m->pt_pcma = m->pt_tevent = -1;
}

/* The checks after sofia-sip has parsed the text: pick the streams, read them. */
static int read_session(const sdp_session_t *sdp, sdpf_desc_t *d, char *why, size_t whylen)
{
    if (sdp->sdp_origin == NULL)
        return fail(why, whylen, "no o= line"); /* mandatory, RFC 4566 section 5.2 */
    const sdp_origin_t *o = sdp->sdp_origin;
    fx_strlcpy(d->origin_user, o->o_username != NULL ? o->o_username : "", sizeof d->origin_user);
    d->sess_id = o->o_id;
    d->sess_version = o->o_version;

    int index = 0;
    for (const sdp_media_t *m = sdp->sdp_media; m != NULL; m = m->m_next, index++) {
        d->n_media++;
        /* RFC 3264 section 6: port 0 marks a rejected (or removed) stream. */
        if (m->m_port == 0)
            continue;
        int rc = 0;
        if (m->m_type == sdp_media_audio && m->m_proto == sdp_proto_rtp) {
            if (!d->audio.present)
                rc = read_audio(sdp, m, index, &d->audio, why, whylen);
        } else if (m->m_type == sdp_media_image && m->m_proto == sdp_proto_udptl &&
                   has_t38_format(m)) {
            if (!d->t38.present)
                rc = read_t38(sdp, m, index, &d->t38, why, whylen);
        }
        if (rc != 0)
            return rc;
    }

    bool g711 = d->audio.present && (d->audio.pt_pcmu >= 0 || d->audio.pt_pcma >= 0);
    if (!g711 && !d->t38.present)
        return fail(why, whylen, "no usable media: need PCMU/PCMA audio or image/t38");
    return 0;
}

/* RFC 4566 section 9 token characters. */
static bool is_token(char c)
{
    return c != '\0' && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-!#$%&'*+.^_`{|}~", c) != NULL;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One m= line, after "m=": RFC 4566 section 5.14,
 *   media SP port ["/" integer] SP proto 1*(SP fmt), proto = token *("/" token),
 * with runs of blanks for SP as sofia-sip's non-strict mode allows. */
static bool media_line_ok(const char *p, const char *end)
{
    if (p == end || !is_token(*p))
        return false;
    while (p < end && is_token(*p))
        p++;
    if (p == end || !is_blank(*p))
        return false;
    while (p < end && is_blank(*p))
        p++;
    for (int part = 0; part < 2; part++) { /* port, then optional "/" count */
        if (p == end || *p < '0' || *p > '9')
            return false;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == end || *p != '/')
            break;
        if (part == 1)
            return false;
        p++;
    }
    if (p == end || !is_blank(*p))
        return false;
    while (p < end && is_blank(*p))
        p++;
    for (;;) { /* proto */
        if (p == end || !is_token(*p))
            return false;
        while (p < end && is_token(*p))
            p++;
        if (p == end || *p != '/')
            break;
        p++;
    }
    int n_fmt = 0;
    while (p < end) { /* formats, at least one; blanks may trail */
        if (!is_blank(*p))
            return false;
        while (p < end && is_blank(*p))
            p++;
        if (p < end && is_token(*p))
            n_fmt++;
        while (p < end && is_token(*p))
            p++;
    }
    return n_fmt > 0;
}

/* XXX: sofia-sip 1.12.11 (Debian 12) loops forever, allocating, on a non-RTP m=
 * line whose format list holds a non-token character, or is only blanks with a
 * tab among them (parse_media() does not check token() for NULL; later forks
 * fixed it); found by fuzz_sdp.  So every m=
 * line must match the RFC 4566 grammar before sofia-sip sees it.  Lines are split
 * and leading blanks skipped as in sofia-sip's non-strict mode. */
static bool media_lines_ok(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '\r' && text[end] != '\n')
            end++;
        size_t s = i;
        while (s < end && is_blank(text[s]))
            s++;
        if (end - s >= 2 && text[s] == 'm' && text[s + 1] == '=' &&
            !media_line_ok(text + s + 2, text + end))
            return false;
        i = end + 1;
    }
    return true;
}

int sdpf_parse(const char *text, size_t len, sdpf_desc_t *out, char *why, size_t whylen)
{
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (text == NULL || len == 0)
        return fail(why, whylen, "empty SDP body");
    if (len > SDPF_MAX_BODY)
        return fail(why, whylen, "SDP body too large (over %d bytes)", SDPF_MAX_BODY);
    /* sofia-sip would silently stop at a NUL and parse the part before it. */
    if (memchr(text, '\0', len) != NULL)
        return fail(why, whylen, "SDP contains a NUL byte");
    if (!media_lines_ok(text, len))
        return fail(why, whylen, "malformed m= line");

    sdpf_desc_t d;
    memset(&d, 0, sizeof d);
    media_init(&d.audio);
    media_init(&d.t38);

    /* Not sdp_f_strict: real peers send blanks and odd case it would refuse.
     * sdp_f_c_missing and sdp_f_insane: we check o= and c= ourselves, only for
     * the streams we use, so a stray video line without c= does not fail a fax. */
    su_home_t home[1] = { SU_HOME_INIT(home[0]) };
    sdp_parser_t *p =
        sdp_parse(home, text, (issize_t)len, sdp_f_c_missing | sdp_f_insane);
    int rc;
    sdp_session_t *sdp = sdp_session(p);
    if (sdp == NULL) {
        const char *e = sdp_parsing_error(p);
        rc = fail(why, whylen, "SDP syntax: %s", e != NULL ? e : "unparsable");
    } else {
        rc = read_session(sdp, &d, why, whylen);
    }
    sdp_parser_free(p);
    su_home_deinit(home);

    if (rc == 0 && out != NULL)
        *out = d;
    return rc;
}

/* ---------------------------------------------------------------- T.38 answer */

void sdpf_t38_defaults(sdpf_t38_t *t)
{
    memset(t, 0, sizeof *t);
    t->version = 0;
    t->max_bitrate = 14400; /* V.17, the fastest rate SpanDSP's T.38 gateway uses */
    t->rate_mgmt = SDPF_RM_TRANSFERRED_TCF;
    t->max_buffer = 2000;
    t->max_datagram = 400;
    t->udp_ec = SDPF_EC_REDUNDANCY;
}

void sdpf_t38_answer(const sdpf_t38_t *offer, const sdpf_t38_t *ours, sdpf_t38_t *answer)
{
    memset(answer, 0, sizeof *answer);
    /* T.38 Annex D.2.3 / RFC 4612 section 3: the answerer may lower the version
     * and the bit rate, never raise them. */
    answer->version = offer->version < ours->version ? offer->version : ours->version;
    if (offer->max_bitrate == 0)
        answer->max_bitrate = ours->max_bitrate;
    else if (ours->max_bitrate == 0)
        answer->max_bitrate = offer->max_bitrate;
    else
        answer->max_bitrate =
            offer->max_bitrate < ours->max_bitrate ? offer->max_bitrate : ours->max_bitrate;
    /* Rate management is not negotiable: the answer echoes the offer. */
    answer->rate_mgmt = offer->rate_mgmt;
    /* T38FaxUdpEC: the answerer may pick a scheme only from what was offered;
     * redundancy is the one every UDPTL end must handle (T.38 Annex D.2.3). */
    if (offer->udp_ec == SDPF_EC_NONE)
        answer->udp_ec = SDPF_EC_NONE;
    else if (offer->udp_ec == SDPF_EC_FEC && ours->udp_ec == SDPF_EC_FEC)
        answer->udp_ec = SDPF_EC_FEC;
    else
        answer->udp_ec = SDPF_EC_REDUNDANCY;
    /* Buffer and datagram sizes are declarative: each side states what IT can
     * receive (RFC 4612 section 3), so the answer carries ours. */
    answer->max_buffer = ours->max_buffer;
    answer->max_datagram = ours->max_datagram;
    /* Optional capabilities hold only when both ends have them. */
    answer->fill_bit_removal = offer->fill_bit_removal && ours->fill_bit_removal;
    answer->transcoding_mmr = offer->transcoding_mmr && ours->transcoding_mmr;
    answer->transcoding_jbig = offer->transcoding_jbig && ours->transcoding_jbig;
}

/* ---------------------------------------------------------------- writing */

typedef struct {
    char *buf;
    size_t cap, len;
    bool full;
} sdpf_out_t;

static void put(sdpf_out_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sdpf_out_t *w, const char *fmt, ...)
{
    if (w->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len) {
        w->full = true;
        return;
    }
    w->len += (size_t)n;
}

static bool user_ok(const char *u)
{
    if (strlen(u) > 64)
        return false;
    for (; *u != '\0'; u++) {
        unsigned char c = (unsigned char)*u;
        if (c <= 0x20 || c >= 0x7f) /* RFC 4566 section 5.2: no spaces in username */
            return false;
    }
    return true;
}

static void put_audio(sdpf_out_t *w, const sdpf_local_t *l, bool active)
{
    int first = l->offer_pcma_first ? l->pt_pcma : l->pt_pcmu;
    int second = l->offer_pcma_first ? l->pt_pcmu : l->pt_pcma;
    const char *fname = l->offer_pcma_first ? "PCMA" : "PCMU";
    const char *sname = l->offer_pcma_first ? "PCMU" : "PCMA";

    if (!active) {
        /* RFC 3264 section 6: a rejected stream keeps its m= line with port 0
         * and at least one format. */
        int pt = first >= 0 && first <= 127 ? first : second >= 0 && second <= 127 ? second : 0;
        put(w, "m=audio 0 RTP/AVP %d\r\n", pt);
        return;
    }
    put(w, "m=audio %u RTP/AVP", (unsigned)l->audio_port);
    if (first >= 0)
        put(w, " %d", first);
    if (second >= 0)
        put(w, " %d", second);
    put(w, "\r\n");
    if (first >= 0)
        put(w, "a=rtpmap:%d %s/8000\r\n", first, fname);
    if (second >= 0)
        put(w, "a=rtpmap:%d %s/8000\r\n", second, sname);
    put(w, "a=ptime:20\r\n"); /* RFC 3551 section 4.5: 20 ms default for G.711 */
    put(w, "a=sendrecv\r\n");
}

static void put_t38(sdpf_out_t *w, const sdpf_local_t *l, bool active)
{
    if (!active) {
        put(w, "m=image 0 udptl t38\r\n");
        return;
    }
    const sdpf_t38_t *t = &l->t38p;
    /* RFC 4612 section 3 / T.38 Annex D.2.3, in the order the Annex lists them. */
    put(w, "m=image %u udptl t38\r\n", (unsigned)l->t38_port);
    put(w, "a=T38FaxVersion:%d\r\n", t->version);
    put(w, "a=T38MaxBitRate:%u\r\n", t->max_bitrate);
    /* Booleans in the presence-only form every version of T.38 Annex D accepts;
     * some older gateways read "a=T38FaxFillBitRemoval:0" as true. */
    if (t->fill_bit_removal)
        put(w, "a=T38FaxFillBitRemoval\r\n");
    if (t->transcoding_mmr)
        put(w, "a=T38FaxTranscodingMMR\r\n");
    if (t->transcoding_jbig)
        put(w, "a=T38FaxTranscodingJBIG\r\n");
    put(w, "a=T38FaxRateManagement:%s\r\n",
        t->rate_mgmt == SDPF_RM_LOCAL_TCF ? "localTCF" : "transferredTCF");
    put(w, "a=T38FaxMaxBuffer:%u\r\n", t->max_buffer);
    put(w, "a=T38FaxMaxDatagram:%u\r\n", t->max_datagram);
    if (t->udp_ec == SDPF_EC_REDUNDANCY)
        put(w, "a=T38FaxUdpEC:t38UDPRedundancy\r\n");
    else if (t->udp_ec == SDPF_EC_FEC)
        put(w, "a=T38FaxUdpEC:t38UDPFEC\r\n");
}

int sdpf_build(const sdpf_local_t *l, char *out, size_t cap)
{
    if (l == NULL || out == NULL)
        return -EINVAL;
    if (!l->audio && !l->t38)
        return -EINVAL;
    if ((l->audio && l->reject_audio_line) || (l->t38 && l->reject_t38_line))
        return -EINVAL;
    if (l->audio) {
        if (l->audio_port == 0 || l->pt_pcmu > 127 || l->pt_pcma > 127 ||
            (l->pt_pcmu < 0 && l->pt_pcma < 0) || l->pt_pcmu == l->pt_pcma)
            return -EINVAL;
    }
    if (l->t38 && l->t38_port == 0)
        return -EINVAL;

    const char *user = l->user != NULL && l->user[0] != '\0' ? l->user : "-";
    if (!user_ok(user) || l->addr == NULL)
        return -EINVAL;
    unsigned char bin[16];
    const char *ipv;
    if (inet_pton(AF_INET, l->addr, bin) == 1)
        ipv = "IP4";
    else if (inet_pton(AF_INET6, l->addr, bin) == 1)
        ipv = "IP6";
    else
        return -EINVAL;

    sdpf_out_t w = { .buf = out, .cap = cap, .len = 0, .full = cap == 0 };
    /* RFC 4566 section 5: v, o, s, c, t in this order, then the media. */
    put(&w, "v=0\r\n");
    put(&w, "o=%s %llu %llu IN %s %s\r\n", user, (unsigned long long)l->sess_id,
        (unsigned long long)l->sess_version, ipv, l->addr);
    put(&w, "s=faxgate\r\n");
    put(&w, "c=IN %s %s\r\n", ipv, l->addr);
    put(&w, "t=0 0\r\n");

    bool want_audio = l->audio || l->reject_audio_line;
    bool want_t38 = l->t38 || l->reject_t38_line;
    if (l->t38_first) {
        if (want_t38)
            put_t38(&w, l, l->t38);
        if (want_audio)
            put_audio(&w, l, l->audio);
    } else {
        if (want_audio)
            put_audio(&w, l, l->audio);
        if (want_t38)
            put_t38(&w, l, l->t38);
    }
    if (w.full) {
        if (cap > 0)
            out[0] = '\0';
        return FX_ERANGE;
    }
    return (int)w.len;
}
