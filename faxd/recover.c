/* recover: spool repair at start-up (see recover.h). */
#include "recover.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

#include "fax/fx.h"

/* Pages whose TIFF directory is complete. SpanDSP writes a page's directory at
 * the end of the page and we fsync before MCF, so these are exactly the pages
 * the sender was told we received; a torn last page has no directory. */
static int confirmed_pages(const char *path, char *ident, size_t ilen)
{
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandler(NULL);
    ident[0] = '\0';
    TIFF *t = TIFFOpen(path, "r");
    if (t == NULL)
        return 0;
    int n = 0;
    do {
        uint32_t w = 0, h = 0;
        if (TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) && TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h)
            && w > 0 && h > 0)
            n++;
        char *desc = NULL;
        if (n == 1 && TIFFGetField(t, TIFFTAG_IMAGEDESCRIPTION, &desc) && desc != NULL)
            fx_strlcpy(ident, desc, ilen);
    } while (TIFFReadDirectory(t));
    TIFFClose(t);
    return n;
}

static bool is_fax_name(const char *n)
{
    return strlen(n) == 20 && strspn(n, "0123456789ABCDEF") == 16 && strcmp(n + 16, ".tif") == 0;
}

int recover_spool(spool_t *spool, const char *node)
{
    char dir[1024];
    if (spool_path(spool, "tmp", "x", dir, sizeof dir) < 0)
        return 0;
    dir[strlen(dir) - 2] = '\0';
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strncmp(e->d_name, "store.", 6) == 0) {
            /* A store that never reached its rename: nothing was acknowledged. */
            fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "recover: removing unfinished store file=%s",
                   e->d_name);
            unlink(path);
            continue;
        }
        if (!is_fax_name(e->d_name))
            continue;
        char id[17], ident[64], rec_name[40];
        fx_strlcpy(id, e->d_name, sizeof id);
        snprintf(rec_name, sizeof rec_name, "%s.rec", id);
        char recp[1400];
        if (spool_path(spool, "incoming", rec_name, recp, sizeof recp) == 0
            && access(recp, F_OK) == 0) {
            /* Its record was stored but the image never followed: finish the move. */
            int mrc = spool_move(spool, "tmp", e->d_name, "incoming", e->d_name);
            fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE, "recover: fax=%s image moved to incoming rc=%d",
                   id, mrc);
            n++;
            continue;
        }
        int pages = confirmed_pages(path, ident, sizeof ident);
        spool_rec_t r;
        spool_rec_init(&r);
        spool_rec_add(&r, "id", id);
        spool_rec_add(&r, "kind", "received");
        spool_rec_add(&r, "node", node);
        spool_rec_addf(&r, "time_ms", "%llu", (unsigned long long)fx_wall_ms());
        spool_rec_add(&r, "result", pages > 0 ? "partial" : "failed");
        spool_rec_addf(&r, "pages", "%d", pages);
        spool_rec_add(&r, "remote_ident", ident);
        spool_rec_add(&r, "reason", "faxd stopped during reception; confirmed pages kept");
        spool_rec_add(&r, "recovered", "yes");
        int rc;
        const char *sub = "failed";
        if (pages > 0) {
            spool_rec_add(&r, "image", e->d_name);
            rc = spool_move(spool, "tmp", e->d_name, "incoming", e->d_name);
            if (rc == 0)
                sub = "incoming";
        } else {
            unlink(path);
        }
        rc = spool_store_rec(spool, sub, rec_name, &r);
        spool_rec_free(&r);
        fx_log(FX_LOG_NOTICE, FX_FAC_QUEUE,
               "recover: fax=%s cut off by a stop, kept as %s pages=%d folder=%s rc=%d", id,
               pages > 0 ? "partial" : "failed", pages, sub, rc);
        n++;
    }
    closedir(d);
    return n;
}
