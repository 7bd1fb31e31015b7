/* arc_map: spool record -> archive row mapping, the audit hash chain and
 * small string helpers (see arc_int.h). Pure: no database, no globals.
 *
 * Records are read back from the spool, so they are treated as hostile bytes
 * (STYLE.md 7): numbers are parsed with full checks, strings are copied whole
 * (the spool bounds them at 64 KiB) and escaped wherever they enter JSON or an
 * array literal. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "arc_int.h"
#include "fax/fx.h"

/* ---- strings ---- */

void arc__sb_init(arc__sb_t *b)
{
    b->cap = 64;
    b->len = 0;
    b->s = fx_malloc(b->cap);
    b->s[0] = '\0';
}

void arc__sb_addn(arc__sb_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap *= 2;
        b->s = fx_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void arc__sb_add(arc__sb_t *b, const char *s)
{
    arc__sb_addn(b, s, strlen(s));
}

void arc__sb_addf(arc__sb_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        arc__sb_addn(b, small, (size_t)n);
        return;
    }
    char *big = fx_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    arc__sb_addn(b, big, (size_t)n);
    free(big);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 clause 4), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3) {
        unsigned cp = (c & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    } else if (n == 4) {
        unsigned cp = (c & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
        if (cp < 0x10000 || cp > 0x10ffff)
            return 0;
    }
    return n;
}

void arc__utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p != '\0') {
        size_t n = utf8_seq(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void arc__sb_json_str(arc__sb_t *b, const char *s)
{
    /* RFC 8259 clause 7: quotation mark, reverse solidus and the control
     * characters U+0000..U+001F must be escaped. Bytes >= 0x80 that are not
     * valid UTF-8 would make PostgreSQL reject the jsonb, so they are replaced
     * by U+FFFD; the spool's values are not promised to be UTF-8. */
    arc__sb_add(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            arc__sb_addn(b, e, 2);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            arc__sb_addf(b, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            arc__sb_addn(b, (const char *)p, 1);
            p++;
        } else {
            size_t n = utf8_seq(p);
            if (n > 0) {
                arc__sb_addn(b, (const char *)p, n);
                p += n;
            } else {
                arc__sb_add(b, "\\ufffd");
                p++;
            }
        }
    }
    arc__sb_add(b, "\"");
}

void arc__sb_fini(arc__sb_t *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

void arc__hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- markers ---- */

static bool is_id(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789ABCDEF") == 16;
}

static bool is_final_folder(const char *s)
{
    return strcmp(s, "incoming") == 0 || strcmp(s, "done") == 0 || strcmp(s, "failed") == 0;
}

int arc__marker_name(const char *folder, const char *id, char *buf, size_t len)
{
    if (folder == NULL || id == NULL || !is_id(id) || !is_final_folder(folder))
        return -EINVAL;
    int n = snprintf(buf, len, "%s.%s", id, folder);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int arc__marker_parse(const char *name, char id[17], char *folder, size_t flen)
{
    if (strlen(name) < 18 || name[16] != '.')
        return -EINVAL;
    memcpy(id, name, 16);
    id[16] = '\0';
    if (!is_id(id) || !is_final_folder(name + 17))
        return -EINVAL;
    fx_strlcpy(folder, name + 17, flen);
    return 0;
}

/* ---- hash chain ---- */

void arc__chain_hash(const uint8_t prev[SHA256_DIGEST_LEN], const char *fax_id, uint64_t at_ms,
                     const char *kind, const char *detail, uint8_t out[SHA256_DIGEST_LEN])
{
    /* NUL separators keep the fields apart: ("AB","C") and ("A","BC") differ. */
    static const uint8_t zero = 0;
    uint8_t at[8];
    for (int i = 0; i < 8; i++)
        at[i] = (uint8_t)(at_ms >> (56 - 8 * i));
    fx_sha256_t c;
    fx_sha256_init(&c);
    fx_sha256_update(&c, prev, SHA256_DIGEST_LEN);
    fx_sha256_update(&c, fax_id, strlen(fax_id));
    fx_sha256_update(&c, &zero, 1);
    fx_sha256_update(&c, at, sizeof at);
    fx_sha256_update(&c, kind, strlen(kind));
    fx_sha256_update(&c, &zero, 1);
    fx_sha256_update(&c, detail, strlen(detail));
    fx_sha256_final(&c, out);
}

/* ---- record mapping ---- */

const char *arc__event_kind(const char *t)
{
    /* Job events come from faxd/job.c and faxd/queue.c; most name a
     * recipient first ("rcpt=0 ..."). Order matters: the first match wins. */
    static const struct {
        const char *needle, *kind;
    } k[] = {
        { "submitted", "submitted" }, { "recovered", "recovered" }, { "gave up", "gave_up" },
        { " dial ", "dial" },         { "connected", "connected" }, { "confirmed before", "recovered" },
        { " page ", "page" },         { " sent,", "sent" },         { "call failed", "failed" },
        { "retry", "retry" },         { "cancel", "cancel" },       { "interrupted", "interrupted" },
        { " -> ", "state" },
    };
    char pad[512];
    snprintf(pad, sizeof pad, " %s ", t);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strstr(pad, k[i].needle) != NULL)
            return k[i].kind;
    return "note";
}

static const char *get(const spool_rec_t *r, const char *k)
{
    const char *v = spool_rec_get(r, k);
    return v != NULL ? v : "";
}

/* Unsigned decimal with nothing after it; 0 or FX_EPARSE. */
static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return FX_EPARSE;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return FX_EPARSE;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    uint64_t v;
    if (parse_u64(s, &v) < 0 || v > 1000000)
        return FX_EPARSE;
    *out = (int)v;
    return 0;
}

/* "sip:15551234@host:port" -> "15551234"; "tel:+1555" -> "+1555"; else as is. */
static char *number_of(const char *dest)
{
    const char *p = dest;
    if (strncmp(p, "sip:", 4) == 0 || strncmp(p, "sips:", 5) == 0) {
        p = strchr(p, ':') + 1;
        const char *at = strchr(p, '@');
        return at != NULL ? fx_strndup(p, (size_t)(at - p)) : fx_strdup(p);
    }
    if (strncmp(p, "tel:", 4) == 0)
        return fx_strndup(p + 4, strcspn(p + 4, ";"));
    return fx_strdup(p);
}

/* Adds s to a PostgreSQL array literal under construction (quoted element,
 * '"' and '\' escaped: PostgreSQL 15 docs 8.15.6 "Array Input and Output Syntax"). */
static void array_add(arc__sb_t *b, const char *s)
{
    if (s[0] == '\0')
        return;
    arc__sb_add(b, b->len > 1 ? ",\"" : "\"");
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            arc__sb_add(b, "\\");
        arc__sb_addn(b, p, 1);
    }
    arc__sb_add(b, "\"");
}

static void add_event(arc__fax_t *f, uint64_t at, const char *kind, const char *detail)
{
    f->events = fx_realloc(f->events, (size_t)(f->n_events + 1) * sizeof *f->events);
    f->events[f->n_events].at_ms = at;
    f->events[f->n_events].kind = fx_strdup(kind);
    f->events[f->n_events].detail = fx_strdup(detail);
    f->n_events++;
}

static int map_received(const spool_rec_t *r, arc__fax_t *f, char *why, size_t wl)
{
    uint64_t t;
    if (parse_u64(spool_rec_get(r, "time_ms"), &t) < 0) {
        snprintf(why, wl, "received record: bad or missing time_ms");
        return FX_ECORRUPT;
    }
    if (parse_int(spool_rec_get(r, "pages"), &f->pages) < 0) {
        snprintf(why, wl, "received record: bad or missing pages");
        return FX_ECORRUPT;
    }
    f->direction = "in";
    f->from_number = fx_strdup(get(r, "from"));
    f->to_number = fx_strdup(get(r, "to"));
    f->remote_ident = fx_strdup(get(r, "remote_ident"));
    f->result = fx_strdup(spool_rec_get(r, "result") ? get(r, "result") : "failed");
    f->reason = fx_strdup(get(r, "reason"));
    f->ended_ms = t;
    /* The call began duration_s before the record was written. */
    double dur = atof(get(r, "duration_s"));
    f->started_ms = dur > 0 && dur < 86400.0 && (uint64_t)(dur * 1000.0) <= t
                       ? t - (uint64_t)(dur * 1000.0)
                       : t;

    arc__sb_t j;
    arc__sb_init(&j);
    static const char *const num_keys[] = { "rate", "code" };
    static const char *const str_keys[] = { "ecm", "mode", "compression", "resolution",
                                            "recovered" };
    arc__sb_add(&j, "{");
    bool first = true;
    for (size_t i = 0; i < sizeof num_keys / sizeof num_keys[0]; i++) {
        const char *v = spool_rec_get(r, num_keys[i]);
        char *end;
        if (v == NULL || v[0] == '\0')
            continue;
        long n = strtol(v, &end, 10);
        if (*end != '\0')
            continue;
        arc__sb_addf(&j, "%s\"%s\":%ld", first ? "" : ",", num_keys[i], n);
        first = false;
    }
    if (dur > 0 && dur < 86400.0) {
        arc__sb_addf(&j, "%s\"duration_s\":%.1f", first ? "" : ",", dur);
        first = false;
    }
    for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++) {
        const char *v = spool_rec_get(r, str_keys[i]);
        if (v == NULL)
            continue;
        arc__sb_addf(&j, "%s\"%s\":", first ? "" : ",", str_keys[i]);
        arc__sb_json_str(&j, v);
        first = false;
    }
    arc__sb_add(&j, "}");
    f->t30_json = j.s;

    arc__sb_t n;
    arc__sb_init(&n);
    arc__sb_add(&n, "{");
    array_add(&n, f->from_number);
    array_add(&n, f->to_number);
    arc__sb_add(&n, "}");
    f->numbers = n.s;

    char line[600];
    snprintf(line, sizeof line, "call answered from=%s to=%s", f->from_number, f->to_number);
    add_event(f, f->started_ms, "answered", line);
    snprintf(line, sizeof line, "received result=%s pages=%d remote=\"%s\" reason=\"%s\"",
             f->result, f->pages, f->remote_ident, f->reason);
    add_event(f, f->ended_ms, "received", line);
    if (strcmp(get(r, "recovered"), "yes") == 0)
        add_event(f, f->ended_ms, "recovered", "kept after a stop cut the reception off");
    return 0;
}

static int map_job(const spool_rec_t *r, arc__fax_t *f, char *why, size_t wl)
{
    uint64_t created;
    int nr, pages_total = 0;
    if (parse_u64(spool_rec_get(r, "created_ms"), &created) < 0
        || parse_int(spool_rec_get(r, "n_rcpt"), &nr) < 0 || nr < 1 || nr > 1000) {
        snprintf(why, wl, "job record: bad or missing created_ms or n_rcpt");
        return FX_ECORRUPT;
    }
    parse_int(spool_rec_get(r, "pages_total"), &pages_total);
    f->direction = "out";
    f->from_number = fx_strdup(get(r, "owner"));
    f->result = fx_strdup(spool_rec_get(r, "state") ? get(r, "state") : "failed");
    f->started_ms = created;
    f->ended_ms = created;

    arc__sb_t to, reason, j, nums;
    arc__sb_init(&to);
    arc__sb_init(&reason);
    arc__sb_init(&j);
    arc__sb_init(&nums);
    arc__sb_add(&nums, "{");
    array_add(&nums, f->from_number);
    arc__sb_addf(&j, "{\"pages_total\":%d,\"priority\":", pages_total);
    int prio = 0;
    parse_int(spool_rec_get(r, "priority"), &prio);
    arc__sb_addf(&j, "%d,\"recipients\":[", prio);
    int min_pages = -1;
    for (int i = 0; i < nr; i++) {
        char k[64];
#define RG(name) (snprintf(k, sizeof k, "rcpt.%d." name, i), get(r, k))
        const char *dest = RG("dest");
        if (dest[0] == '\0') {
            snprintf(why, wl, "job record: recipient %d has no dest", i);
            arc__sb_fini(&to);
            arc__sb_fini(&reason);
            arc__sb_fini(&j);
            arc__sb_fini(&nums);
            return FX_ECORRUPT;
        }
        char *num = number_of(dest);
        if (i > 0)
            arc__sb_add(&to, ",");
        arc__sb_add(&to, num);
        array_add(&nums, num);
        free(num);
        int pages = 0;
        parse_int(RG("pages"), &pages);
        if (min_pages < 0 || pages < min_pages)
            min_pages = pages;
        const char *fr = RG("final_reason");
        const char *why_txt = fr[0] != '\0' ? fr : RG("reason");
        if (why_txt[0] != '\0') {
            if (reason.len > 0)
                arc__sb_add(&reason, "; ");
            if (nr > 1)
                arc__sb_addf(&reason, "rcpt %d: ", i);
            arc__sb_add(&reason, why_txt);
        }
        if (i == 0)
            f->remote_ident = fx_strdup(RG("remote_ident"));
        arc__sb_add(&j, i > 0 ? ",{\"dest\":" : "{\"dest\":");
        arc__sb_json_str(&j, dest);
        static const char *const skeys[] = { "state", "fail", "remote_ident", "mode", "ecm",
                                             "reason", "final_reason" };
        for (size_t s = 0; s < sizeof skeys / sizeof skeys[0]; s++) {
            snprintf(k, sizeof k, "rcpt.%d.%s", i, skeys[s]);
            arc__sb_addf(&j, ",\"%s\":", skeys[s]);
            arc__sb_json_str(&j, get(r, k));
        }
        static const char *const nkeys[] = { "tries", "dials", "pages", "rate" };
        for (size_t s = 0; s < sizeof nkeys / sizeof nkeys[0]; s++) {
            int v = 0;
            snprintf(k, sizeof k, "rcpt.%d.%s", i, nkeys[s]);
            parse_int(spool_rec_get(r, k), &v);
            arc__sb_addf(&j, ",\"%s\":%d", nkeys[s], v);
        }
        arc__sb_add(&j, "}");
#undef RG
    }
    arc__sb_add(&j, "]}");
    arc__sb_add(&nums, "}");
    f->pages = min_pages < 0 ? 0 : min_pages;
    f->to_number = to.s;
    f->reason = reason.s;
    f->t30_json = j.s;
    f->numbers = nums.s;
    if (f->remote_ident == NULL)
        f->remote_ident = fx_strdup("");

    /* Events "<ms> <text>" in file order (faxd/queue.c job_to_rec). */
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->keys[i], "event") != 0)
            continue;
        const char *v = r->values[i];
        char *end;
        errno = 0;
        unsigned long long at = strtoull(v, &end, 10);
        if (errno != 0 || end == v || *end != ' ') {
            /* Keep what cannot be parsed, dated at the job's creation. */
            add_event(f, created, "note", v);
            continue;
        }
        add_event(f, at, arc__event_kind(end + 1), end + 1);
        if (at > f->ended_ms)
            f->ended_ms = at;
    }
    return 0;
}

int arc__map_rec(const spool_rec_t *r, const char *folder, const char *default_node,
                 arc__fax_t *f, char *why, size_t wl)
{
    memset(f, 0, sizeof *f);
    const char *id = spool_rec_get(r, "id");
    const char *kind = spool_rec_get(r, "kind");
    if (id == NULL || !is_id(id)) {
        snprintf(why, wl, "record has no valid id");
        return FX_ECORRUPT;
    }
    fx_strlcpy(f->id, id, sizeof f->id);
    f->node = fx_strdup(spool_rec_get(r, "node") ? get(r, "node") : default_node);
    int rc;
    if (kind != NULL && strcmp(kind, "received") == 0) {
        rc = map_received(r, f, why, wl);
    } else if (kind != NULL && strcmp(kind, "send") == 0) {
        rc = map_job(r, f, why, wl);
    } else {
        snprintf(why, wl, "record kind '%.40s' is not archived", kind ? kind : "");
        rc = FX_ECORRUPT;
    }
    if (rc < 0) {
        arc__fax_fini(f);
        return rc;
    }
    f->image = fx_strdup(get(r, "image"));
    (void)folder;
    /* The document for full-text search: everything a person may look for.
     * OCR text joins it later (routing/). */
    arc__sb_t d;
    arc__sb_init(&d);
    arc__sb_addf(&d, "%s %s %s %s %s %s %s", f->id, f->node, f->from_number, f->to_number,
                 f->remote_ident, f->result, f->reason);
    f->doc = d.s;
    /* PostgreSQL text must be valid in the database encoding (UTF8). */
    char *fields[] = { f->node, f->from_number, f->to_number, f->remote_ident, f->result,
                       f->reason, f->doc, f->numbers, f->image };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        arc__utf8_clean(fields[i]);
    for (int i = 0; i < f->n_events; i++)
        arc__utf8_clean(f->events[i].detail);
    return 0;
}

void arc__fax_fini(arc__fax_t *f)
{
    free(f->node);
    free(f->from_number);
    free(f->to_number);
    free(f->remote_ident);
    free(f->result);
    free(f->reason);
    free(f->t30_json);
    free(f->doc);
    free(f->numbers);
    free(f->image);
    for (int i = 0; i < f->n_events; i++) {
        free(f->events[i].kind);
        free(f->events[i].detail);
    }
    free(f->events);
    memset(f, 0, sizeof *f);
}

/* ---- page digests ---- */

int arc__tiff_pages(const char *path, arc__page_t **pages, int *n)
{
    *pages = NULL;
    *n = 0;
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandler(NULL);
    TIFF *t = TIFFOpen(path, "r");
    if (t == NULL)
        return FX_ECORRUPT;
    int rc = 0;
    tmsize_t cap = 0;
    uint8_t *buf = NULL;
    do {
        arc__page_t p;
        memset(&p, 0, sizeof p);
        p.page = *n + 1;
        if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &p.width)
            || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &p.length)) {
            rc = FX_ECORRUPT;
            break;
        }
        fx_sha256_t c;
        fx_sha256_init(&c);
        uint8_t wl[8];
        for (int i = 0; i < 4; i++) {
            wl[i] = (uint8_t)(p.width >> (24 - 8 * i));
            wl[4 + i] = (uint8_t)(p.length >> (24 - 8 * i));
        }
        fx_sha256_update(&c, wl, sizeof wl);
        uint32_t strips = TIFFNumberOfStrips(t);
        uint64_t *counts = NULL;
        if (!TIFFGetField(t, TIFFTAG_STRIPBYTECOUNTS, &counts) || counts == NULL) {
            rc = FX_ECORRUPT;
            break;
        }
        for (uint32_t s = 0; s < strips && rc == 0; s++) {
            /* A hostile file can claim any size; fax pages are well below 64 MiB. */
            if (counts[s] > (64u << 20)) {
                rc = FX_ECORRUPT;
                break;
            }
            if ((tmsize_t)counts[s] > cap) {
                cap = (tmsize_t)counts[s];
                buf = fx_realloc(buf, (size_t)cap);
            }
            tmsize_t got = TIFFReadRawStrip(t, s, buf, (tmsize_t)counts[s]);
            if (got < 0)
                rc = FX_ECORRUPT;
            else
                fx_sha256_update(&c, buf, (size_t)got);
        }
        fx_sha256_final(&c, p.sha256);
        if (rc < 0)
            break;
        *pages = fx_realloc(*pages, (size_t)(*n + 1) * sizeof **pages);
        (*pages)[(*n)++] = p;
    } while (TIFFReadDirectory(t));
    free(buf);
    TIFFClose(t);
    if (rc < 0) {
        free(*pages);
        *pages = NULL;
        *n = 0;
    }
    return rc;
}
