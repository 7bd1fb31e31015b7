/* Fuzz target: a job row's record as the cluster takes it from PostgreSQL
 * (archive/arc_cluster.c store_local): spool_rec_decode() then
 * arc__job_summary(). The database's bytes are hostile (STYLE.md section 7).
 * Checks besides crashes: an accepted summary has a valid id, a plain image
 * name, a known final flag and confirmed pages within 0..pages_total; a
 * refused one gives a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../archive/arc_int.h"
#include "fax/fx.h"
#include "fax/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_rec_t r;
    char why[128];
    if (spool_rec_decode(data, size, &r, why, sizeof why) != 0)
        return 0;
    arc__job_sum_t s;
    why[0] = '\0';
    int rc = arc__job_summary(&r, &s, why, sizeof why);
    if (rc == 0) {
        if (strlen(s.id) != 16 || strspn(s.id, "0123456789ABCDEF") != 16)
            FX_PANIC("accepted a bad id \"%s\"", s.id);
        if (strchr(s.image, '/') != NULL)
            FX_PANIC("accepted an image path \"%s\"", s.image);
        if (s.pages_confirmed < 0 || s.pages_confirmed > s.pages_total)
            FX_PANIC("confirmed %d of %d", s.pages_confirmed, s.pages_total);
        bool fin = strcmp(s.state, "done") == 0 || strcmp(s.state, "failed") == 0
                   || strcmp(s.state, "cancelled") == 0;
        if (fin != s.final)
            FX_PANIC("state %s final=%d", s.state, s.final);
    } else if (rc != FX_ECORRUPT || why[0] == '\0') {
        FX_PANIC("refused without a reason: rc=%d", rc);
    }
    spool_rec_free(&r);
    return 0;
}
