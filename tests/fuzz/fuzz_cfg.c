/* Fuzz target for conf/cfg.c: cfg_parse() on arbitrary bytes must never crash
 * or leak, must leave *out untouched on failure, and whatever it accepts must
 * print (cfg_print) to a file that parses back to the very same struct. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fax/cfg.h"
#include "fax/fx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[4096];
    cfg_t *c = NULL;
    int rc = cfg_parse("fuzz.conf", (const char *)data, size, &c, err, sizeof err);
    if (rc != 0) {
        if (rc != FX_EPARSE || c != NULL || err[0] == '\0')
            abort();
        /* The same input with a tiny buffer and with none at all. */
        char tiny[16];
        if (cfg_parse("fuzz.conf", (const char *)data, size, &c, tiny, sizeof tiny) != rc ||
            cfg_parse("fuzz.conf", (const char *)data, size, &c, NULL, 0) != rc || c != NULL)
            abort();
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        abort();
    cfg_print(c, f);
    fclose(f);
    cfg_t *back = NULL;
    if (cfg_parse("fuzz.conf", text, len, &back, err, sizeof err) != 0 ||
        memcmp(c, back, sizeof *c) != 0) {
        fprintf(stderr, "round trip failed:\n%s\n---\n%s\n", text, err);
        abort();
    }
    char names[64];
    if (cfg_restart_needed(c, back, names, sizeof names) != 0)
        abort();
    for (int i = 0; i < c->n_trunks; i++) {
        if (cfg_trunk_by_name(c, c->trunks[i].name) != &c->trunks[i])
            abort();
        if (cfg_trunk_for(c, c->trunks[i].prefix) == NULL)
            abort();
    }
    free(text);
    cfg_free(back);
    cfg_free(c);
    return 0;
}
