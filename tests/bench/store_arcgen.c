/* store_arcgen: fills a spool with N final received-fax records waiting for the
 * archive, for the archive insert rate of tests/bench/store.sh.
 *
 *   store_arcgen --spool DIR --tiff PATH --n N [--node NAME] [--seed S]
 *
 * For each fax, the way the SIP driver's store_received() leaves one
 * (drivers/sip/sipcall.c): the TIFF copied durably into incoming/<id>.tif, the
 * record "kind=received" with caller and called numbers, time, result, pages,
 * rate, remote ident, ... in incoming/<id>.rec, then arc_mark(spool, "incoming",
 * id), the durable marker arcq/<id>.incoming that the archive worker takes.
 * Run it while no faxd uses the spool; faxd started afterwards with db_dsn
 * archives them all. Numbers and idents are drawn from a seeded generator so two
 * runs with the same seed describe the same faxes (the ids differ: fx_make_id).
 * Prints "created N" and exits 0; 2 on usage or spool errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/arc.h"
#include "fax/fx.h"
#include "fax/spool.h"

/* xorshift32 (Marsaglia 2003): reproducible, good enough for test data. */
static uint32_t gen_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void gen_usage(void)
{
    fprintf(stderr, "usage: store_arcgen --spool DIR --tiff PATH --n N [--node NAME] [--seed S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *tiff = NULL, *node = "bench";
    int n = 0;
    uint32_t seed = 12345;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            gen_usage();
        if (strcmp(a, "--spool") == 0)
            dir = v;
        else if (strcmp(a, "--tiff") == 0)
            tiff = v;
        else if (strcmp(a, "--n") == 0)
            n = atoi(v);
        else if (strcmp(a, "--node") == 0)
            node = v;
        else if (strcmp(a, "--seed") == 0)
            seed = (uint32_t)strtoul(v, NULL, 10);
        else
            gen_usage();
    }
    if (dir == NULL || tiff == NULL || n < 1)
        gen_usage();
    if (seed == 0)
        seed = 1;
    fx_log_setup(FX_LOG_WARN, FX_FAC_ALL, "store_arcgen");
    spool_t *sp = NULL;
    int rc = spool_open(dir, &sp);
    if (rc < 0) {
        fprintf(stderr, "store_arcgen: spool_open %s: %s\n", dir, fx_strerror(rc));
        return 2;
    }
    static const char *const results[] = { "ok", "ok", "ok", "ok", "ok", "ok", "ok", "partial",
                                           "failed" };
    static const char *const idents[] = { "ACME GMBH", "+49 30 5550100", "Praxis Dr. Weber",
                                          "KANZLEI MUELLER", "+1 212 5550199", "FAX",
                                          "Stadtwerke", "" };
    for (int i = 0; i < n; i++) {
        char id[17], tif_name[40], rec_name[40];
        fx_make_id(id);
        snprintf(tif_name, sizeof tif_name, "%s.tif", id);
        snprintf(rec_name, sizeof rec_name, "%s.rec", id);
        rc = spool_store_copy(sp, tiff, "incoming", tif_name);
        if (rc < 0) {
            fprintf(stderr, "store_arcgen: copy %s: %s\n", tiff, fx_strerror(rc));
            spool_close(sp);
            return 2;
        }
        uint32_t x = gen_next(&seed);
        const char *res = results[x % (sizeof results / sizeof results[0])];
        spool_rec_t r;
        spool_rec_init(&r);
        spool_rec_add(&r, "id", id);
        spool_rec_add(&r, "kind", "received");
        spool_rec_add(&r, "node", node);
        spool_rec_addf(&r, "from", "+4930%07u", gen_next(&seed) % 5000000u);
        spool_rec_addf(&r, "to", "+4940555%04u", gen_next(&seed) % 20u);
        spool_rec_addf(&r, "time_ms", "%llu", (unsigned long long)fx_wall_ms());
        spool_rec_add(&r, "result", res);
        spool_rec_add(&r, "pages", "1");
        spool_rec_add(&r, "rate", x & 1 ? "14400" : "9600");
        spool_rec_add(&r, "ecm", x & 2 ? "yes" : "no");
        spool_rec_add(&r, "mode", x & 4 ? "t38" : "g711");
        spool_rec_add(&r, "remote_ident", idents[(x >> 8) % (sizeof idents / sizeof idents[0])]);
        spool_rec_add(&r, "compression", "T.4 1-D");
        spool_rec_add(&r, "resolution", "fine");
        spool_rec_addf(&r, "duration_s", "%.1f", 20.0 + (x >> 16) % 400 / 10.0);
        spool_rec_add(&r, "code", strcmp(res, "ok") == 0 ? "0" : "48");
        spool_rec_add(&r, "reason", strcmp(res, "ok") == 0 ? "OK" : "Disconnected after T.30 T2");
        spool_rec_add(&r, "image", tif_name);
        rc = spool_store_rec(sp, "incoming", rec_name, &r);
        spool_rec_free(&r);
        if (rc == 0)
            rc = arc_mark(sp, "incoming", id);
        if (rc < 0) {
            fprintf(stderr, "store_arcgen: record %s: %s\n", id, fx_strerror(rc));
            spool_close(sp);
            return 2;
        }
    }
    spool_close(sp);
    printf("created %d\n", n);
    return 0;
}
