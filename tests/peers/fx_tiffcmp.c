/* fx_tiffcmp: compares a sent and a received multi-page fax TIFF page by page.
 *
 *   fx_tiffcmp SENT.tif RECEIVED.tif [--min-agree 0.995] [--max-length-diff N]
 *              [--rx-skip-rows N] [--allow-resolution-change]
 *
 * Checks page count, width, resolution (TIFF 6.0 XResolution/YResolution/ResolutionUnit,
 * classes as in T.4 clause 2.1 within 5%), length (rows; default exact, since SpanDSP
 * 0.0.6 writes exactly the rows it decoded) and the fraction of equal pixels over the
 * common area. A received page at another vertical resolution is a mismatch unless
 * --allow-resolution-change, which then maps received rows onto sent rows by the ratio.
 * --rx-skip-rows N ignores the first N rows of each received page: the header line band
 * SpanDSP 0.0.6 prepends when the sender set a page header (16 rows standard, 32 fine).
 * Prints one line per page, then "pages=OK/SENT agree_min=X OK" or "... FAIL reason".
 * Exit 0 when everything matches, 1 on a mismatch, 2 on a usage or I/O error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_faxtiff.h"

static void usage(void)
{
    fprintf(stderr, "usage: fx_tiffcmp SENT.tif RECEIVED.tif [--min-agree 0.995]"
                    " [--max-length-diff N] [--rx-skip-rows N] [--allow-resolution-change]\n");
}

int main(int argc, char **argv)
{
    fxt_cmp_opts_t o = {.min_agree = 0.995, .max_length_diff = 0, .allow_resolution_change = 0,
                        .rx_skip_rows = 0};
    const char *path[2] = {NULL, NULL};
    int npath = 0;
    fxt_doc_t a;
    fxt_doc_t b;
    fxt_cmp_result_t r;
    int rc;

    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--min-agree") && i + 1 < argc) {
            o.min_agree = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(o.min_agree >= 0.0 && o.min_agree <= 1.0))
                goto bad;
        } else if (!strcmp(argv[i], "--max-length-diff") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || v > FXT_MAX_LENGTH)
                goto bad;
            o.max_length_diff = (int)v;
        } else if (!strcmp(argv[i], "--rx-skip-rows") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0 || v > FXT_MAX_LENGTH)
                goto bad;
            o.rx_skip_rows = (int)v;
        } else if (!strcmp(argv[i], "--allow-resolution-change")) {
            o.allow_resolution_change = 1;
        } else if (argv[i][0] != '-' && npath < 2) {
            path[npath++] = argv[i];
        } else {
            goto bad;
        }
    }
    if (npath != 2)
        goto bad;

    fxt_tiff_quiet(0);
    rc = fxt_load_doc(path[0], &a);
    if (rc < 0) {
        fprintf(stderr, "fx_tiffcmp: %s: %s\n", path[0], fx_strerror(rc));
        return 2;
    }
    rc = fxt_load_doc(path[1], &b);
    if (rc < 0) {
        fprintf(stderr, "fx_tiffcmp: %s: %s\n", path[1], fx_strerror(rc));
        fxt_doc_fini(&a);
        return 2;
    }
    rc = fxt_cmp_doc(&a, &b, &o, stdout, &r);
    printf("pages=%d/%d agree_min=%.4f %s%s%s\n", r.pages_ok, r.pages_a, r.agree_min,
           rc ? "FAIL" : "OK", rc ? " " : "", rc ? r.reason : "");
    fxt_doc_fini(&a);
    fxt_doc_fini(&b);
    return rc ? 1 : 0;
bad:
    usage();
    return 2;
}
