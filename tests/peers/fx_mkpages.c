/* fx_mkpages: writes a multi-page TIFF Class F test document for fax tests.
 *
 *   fx_mkpages OUT.tif --pages N [--standard|--fine] [--lines L] [--seed S] [--dense] [--t6]
 *
 * Pages are 1728 pixels wide (T.4 clause 2.2, A4 at R8), 204x196 dpi (--fine, default)
 * or 204x98 dpi (--standard), coded T.4 1-D MH (default) or T.6 MMR (--t6), FillOrder
 * LSB2MSB, with PageNumber and ImageDescription tags; SpanDSP 0.0.6 sends such files
 * as they are. Default 400 rows per page (an A4 page is 2286 rows at fine, 1143 at
 * standard; T.4 clause 2.1) so a test page goes through quickly. The same options give
 * the same file, byte for byte. Exit 0 on success, 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_faxtiff.h"

static void usage(void)
{
    fprintf(stderr, "usage: fx_mkpages OUT.tif --pages N [--standard|--fine] [--lines L]"
                    " [--seed S] [--dense] [--t6]\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return FX_EPARSE;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    fxt_gen_opts_t o = {.pages = 1, .lines = 400, .fine = 1, .t6 = 0, .dense = 0, .seed = 1};
    const char *out = NULL;
    int have_pages = 0;
    long v;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--pages") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, FXT_MAX_PAGES, &v) < 0)
                goto bad;
            o.pages = (int)v;
            have_pages = 1;
        } else if (!strcmp(a, "--lines") && i + 1 < argc) {
            if (parse_int(argv[++i], 64, FXT_MAX_LENGTH, &v) < 0)
                goto bad;
            o.lines = (int)v;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            if (parse_int(argv[++i], 0, 0xFFFFFFFFL, &v) < 0)
                goto bad;
            o.seed = (uint32_t)v;
        } else if (!strcmp(a, "--standard")) {
            o.fine = 0;
        } else if (!strcmp(a, "--fine")) {
            o.fine = 1;
        } else if (!strcmp(a, "--dense")) {
            o.dense = 1;
        } else if (!strcmp(a, "--t6")) {
            o.t6 = 1;
        } else if (a[0] != '-' && !out) {
            out = a;
        } else {
            goto bad;
        }
    }
    if (!out || !have_pages)
        goto bad;
    rc = fxt_write_doc(out, &o);
    if (rc < 0) {
        fprintf(stderr, "fx_mkpages: %s: %s\n", out, fx_strerror(rc));
        return 2;
    }
    printf("%s pages=%d lines=%d res=204x%d coding=%s seed=%u%s\n", out, o.pages, o.lines,
           o.fine ? 196 : 98, o.t6 ? "T.6" : "T.4-1D", (unsigned)o.seed, o.dense ? " dense" : "");
    return 0;
bad:
    usage();
    return 2;
}
