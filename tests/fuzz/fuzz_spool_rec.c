/* Fuzz target: spool_rec_decode() on arbitrary bytes (spool files are hostile
 * input, STYLE.md section 7). Besides crashes it checks one property: the
 * decoder accepts exactly the canonical layout, so any accepted input must
 * re-encode to the very same bytes, and anything refused must come back empty
 * with a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fax/fx.h"
#include "fax/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_rec_t r;
    char why[128];
    why[0] = '\0';
    int rc = spool_rec_decode(data, size, &r, why, sizeof why);
    if (rc != 0) {
        if (rc != FX_ECORRUPT || r.n != 0 || r.keys != NULL || why[0] == '\0')
            FX_PANIC("refused input: rc=%d n=%d why=\"%s\"", rc, r.n, why);
        return 0;
    }
    for (int i = 0; i < r.n; i++)
        if (spool_rec_get(&r, r.keys[i]) == NULL)
            FX_PANIC("key %d not found by spool_rec_get", i);
    unsigned char *enc;
    size_t len;
    rc = spool_rec_encode(&r, &enc, &len);
    if (rc != 0)
        FX_PANIC("decoded record does not encode: rc=%d", rc);
    if (len != size || memcmp(enc, data, size) != 0)
        FX_PANIC("re-encoding differs: %zu bytes in, %zu out", size, len);
    free(enc);
    spool_rec_free(&r);
    return 0;
}
