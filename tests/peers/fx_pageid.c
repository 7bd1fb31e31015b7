/* fx_pageid: tells which page of a sent fax each page of a received fax is, for the
 * crash tests (tests/integration/store_crash_*.sh), where a receiver may hold a partial
 * fax and a resumed job may deliver a page twice.
 *
 *   fx_pageid SENT.tif RECEIVED.tif
 *       prints "rx N = tx K" for a received page N that is pixel-identical (same width,
 *       length, resolution and every pixel) to sent page K, "rx N = none best=K
 *       agree=X" otherwise; then "matched=M pages=P". Exit 0 when every received page
 *       matched, 1 when one did not, 2 when a file does not load.
 *   fx_pageid --check FILE.tif
 *       decodes every page (libtiff must read every row of every directory); prints
 *       "pages=P ok". Exit 0, or 2 with the reason when the file is damaged.
 *
 * fx_mkpages draws "page n/N" on each page, so pages of one document differ and an exact
 * match names the page. Exact, not fx_tiffcmp's 99.5%: over loopback G.711 or T.38
 * without impairment SpanDSP decodes every row as sent (T.4 clause 4.1 coding is
 * lossless), so a stored page that differs is a damaged page. */
#include <stdio.h>
#include <string.h>

#include "fx_faxtiff.h"

static void usage(void)
{
    fprintf(stderr, "usage: fx_pageid SENT.tif RECEIVED.tif | fx_pageid --check FILE.tif\n");
}

/* Pixel-identical pages: the geometry and resolution class agree and so does every row. */
static int same_page(const fxt_page_t *a, const fxt_page_t *b)
{
    if (a->width != b->width || a->length != b->length || !fxt_same_res(a->xres, b->xres)
        || !fxt_same_res(a->yres, b->yres))
        return 0;
    return memcmp(a->bits, b->bits, (size_t)a->length * (size_t)a->stride) == 0;
}

int main(int argc, char **argv)
{
    fxt_doc_t tx, rx;
    int rc;

    fxt_tiff_quiet(1);
    if (argc == 3 && strcmp(argv[1], "--check") == 0) {
        rc = fxt_load_doc(argv[2], &rx);
        if (rc < 0) {
            printf("%s: damaged: %s\n", argv[2], fx_strerror(rc));
            return 2;
        }
        printf("pages=%d ok\n", rx.npages);
        fxt_doc_fini(&rx);
        return 0;
    }
    if (argc != 3 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    rc = fxt_load_doc(argv[1], &tx);
    if (rc < 0) {
        printf("%s: cannot load: %s\n", argv[1], fx_strerror(rc));
        return 2;
    }
    rc = fxt_load_doc(argv[2], &rx);
    if (rc < 0) {
        printf("%s: damaged: %s\n", argv[2], fx_strerror(rc));
        fxt_doc_fini(&tx);
        return 2;
    }
    int matched = 0;
    for (int i = 0; i < rx.npages; i++) {
        int found = 0;
        for (int k = 0; k < tx.npages && !found; k++)
            if (same_page(&tx.pages[k], &rx.pages[i])) {
                printf("rx %d = tx %d\n", i + 1, k + 1);
                found = 1;
            }
        if (found) {
            matched++;
            continue;
        }
        /* Not exact: name the closest sent page to help whoever reads the log. */
        fxt_cmp_opts_t o = { .min_agree = 1.0 };
        double best = -1.0;
        int best_k = 0;
        for (int k = 0; k < tx.npages; k++) {
            double agree;
            char why[160];
            fxt_cmp_page(&tx.pages[k], &rx.pages[i], k + 1, &o, NULL, &agree, why, sizeof why);
            if (agree > best) {
                best = agree;
                best_k = k + 1;
            }
        }
        printf("rx %d = none best=%d agree=%.6f length=%d\n", i + 1, best_k, best,
               rx.pages[i].length);
    }
    int all = matched == rx.npages;
    printf("matched=%d pages=%d\n", matched, rx.npages);
    fxt_doc_fini(&tx);
    fxt_doc_fini(&rx);
    return all ? 0 : 1;
}
