/* fx_faxtiff: test-only helpers for multi-page TIFF Class F fax documents.
 *
 * Used by tests/peers/fx_mkpages.c (writes test documents), tests/peers/fx_tiffcmp.c
 * (compares a sent and a received document), tests/bench/spandsp_alone.c and
 * tests/unit/test_tiffcmp.c. Everything is static inline so each of those single-file
 * programs includes it without a library of its own; nothing here is part of faxd.
 *
 * Format: TIFF 6.0 Section 11 bilevel images in the TIFF Class F profile (RFC 2306):
 * 1728 pixels per row (T.4 A4 width at R8, T.4 clause 2.2), 204 dpi across, 98 dpi
 * (standard) or 196 dpi (fine) down (T.4 clause 2.1), compressed with T.4 1-D MH
 * (Compression 3, T4Options 0) or T.6 MMR (Compression 4), FillOrder 2 (LSB2MSB, the
 * order bits go on the line), one strip per page, PageNumber (n, total) on each page.
 *
 * In memory a page is one bit per pixel, MSB first, 1 = black (PhotometricInterpretation
 * 0, MINISWHITE), rows padded to whole bytes.
 *
 * Ownership: fxt_doc_t and fxt_page_t own their pixel buffers; release them with
 * fxt_doc_fini()/fxt_page_fini(). Loaders treat the file as hostile: sizes are
 * bounded and every libtiff failure becomes an error code, never a crash.
 * Threads: none; libtiff's warning handler is process-global (fxt_tiff_quiet()). */
#ifndef FAX_TESTS_FX_FAXTIFF_H
#define FAX_TESTS_FX_FAXTIFF_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "fax/fx.h"

/* T.4 clause 2.2: 1728 picture elements along a 215 mm scan line at R8. */
#define FXT_WIDTH_A4        1728
/* Bounds applied to files we read (a hostile file must not make us allocate gigabytes).
 * 4864 is the widest T.4 page (A3 at R16); 16384 rows is well over an A3 page at 400 dpi. */
#define FXT_MAX_WIDTH       4864
#define FXT_MAX_LENGTH      16384
#define FXT_MAX_PAGES       1000

/* Resolutions in dots per inch, as TIFF stores them with ResolutionUnit 2 (inch).
 * T.4 clause 2.1: 3.85 lines/mm (standard) and 7.7 lines/mm (fine) are 97.8 and 195.6
 * lines per inch; fax software writes 98 and 196. */
#define FXT_XRES_R8         204.0f
#define FXT_YRES_STANDARD   98.0f
#define FXT_YRES_FINE       196.0f

typedef struct {
    int      width;        /* pixels per row */
    int      length;       /* rows */
    int      stride;       /* bytes per row, (width + 7) / 8 */
    float    xres;         /* dots per inch (converted from cm if the file says so) */
    float    yres;         /* dots per inch */
    uint8_t *bits;         /* length * stride bytes, MSB first, 1 = black; owned */
} fxt_page_t;

typedef struct {
    int         npages;
    fxt_page_t *pages;     /* npages entries; owned */
} fxt_doc_t;

/* How a test document is drawn (fx_mkpages options). */
typedef struct {
    int      pages;        /* 1..FXT_MAX_PAGES */
    int      lines;        /* rows per page, 64..FXT_MAX_LENGTH */
    int      fine;         /* 1: 204x196 dpi, 0: 204x98 dpi */
    int      t6;           /* 1: T.6 MMR, 0: T.4 1-D MH */
    int      dense;        /* 1: noisy page body for benchmarks */
    uint32_t seed;         /* pattern seed; same seed, same document, byte for byte */
} fxt_gen_opts_t;

/* ---- pages ------------------------------------------------------------------------- */

/* Allocates a white page of width x length; 0 or FX_ERANGE for out-of-bounds sizes. */
static inline int fxt_page_init(fxt_page_t *p, int width, int length)
{
    memset(p, 0, sizeof(*p));
    if (width < 1 || width > FXT_MAX_WIDTH || length < 1 || length > FXT_MAX_LENGTH)
        return FX_ERANGE;
    p->width = width;
    p->length = length;
    p->stride = (width + 7) / 8;
    p->bits = fx_calloc((size_t)length, (size_t)p->stride);
    return 0;
}

static inline void fxt_page_fini(fxt_page_t *p)
{
    free(p->bits);
    p->bits = NULL;
}

static inline void fxt_doc_fini(fxt_doc_t *d)
{
    for (int i = 0; i < d->npages; i++)
        fxt_page_fini(&d->pages[i]);
    free(d->pages);
    d->pages = NULL;
    d->npages = 0;
}

static inline int fxt_get(const fxt_page_t *p, int x, int y)
{
    return (p->bits[(size_t)y * (size_t)p->stride + (size_t)(x >> 3)] >> (7 - (x & 7))) & 1;
}

static inline void fxt_set(fxt_page_t *p, int x, int y, int black)
{
    uint8_t *b;
    uint8_t m;

    if (x < 0 || y < 0 || x >= p->width || y >= p->length)
        return; /* drawing clips at the page edge */
    b = &p->bits[(size_t)y * (size_t)p->stride + (size_t)(x >> 3)];
    m = (uint8_t)(0x80u >> (x & 7));
    if (black)
        *b |= m;
    else
        *b &= (uint8_t)~m;
}

/* Fills the rectangle [x0, x1) x [y0, y1), clipped to the page. */
static inline void fxt_fill(fxt_page_t *p, int x0, int y0, int x1, int y1, int black)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < p->length; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < p->width; x++)
            fxt_set(p, x, y, black);
}

/* ---- drawing ----------------------------------------------------------------------- */

/* A 5x7 bitmap font, one byte per row, bit 4 is the leftmost column. Drawn by hand for
 * the characters the test pages use; anything else draws as a blank cell. */
typedef struct {
    char    c;
    uint8_t rows[7];
} fxt_glyph_t;

static const fxt_glyph_t fxt_font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'/', {0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
};

static inline const uint8_t *fxt_glyph(char c)
{
    for (size_t i = 0; i < sizeof(fxt_font) / sizeof(fxt_font[0]); i++)
        if (fxt_font[i].c == c)
            return fxt_font[i].rows;
    return NULL;
}

/* Draws text with its top-left corner at (x, y); each font pixel becomes sx x sy page
 * pixels and each character cell is 6 font pixels wide. Returns the x after the text. */
static inline int fxt_text(fxt_page_t *p, int x, int y, int sx, int sy, const char *s)
{
    for (; *s; s++, x += 6 * sx) {
        const uint8_t *g = fxt_glyph(*s);
        if (!g)
            continue;
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 5; c++)
                if (g[r] & (0x10u >> c))
                    fxt_fill(p, x + c * sx, y + r * sy, x + (c + 1) * sx, y + (r + 1) * sy, 1);
    }
    return x;
}

/* xorshift64*: a tiny deterministic generator, so a seed gives the same pages anywhere. */
static inline uint32_t fxt_rand(uint64_t *st)
{
    uint64_t x = *st;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static inline uint64_t fxt_seed_state(uint32_t seed, int page)
{
    uint64_t st = ((uint64_t)seed << 20) ^ (uint64_t)(page + 1) * 0x9E3779B97F4A7C15ULL;

    return st ? st : 1; /* xorshift must not start at zero */
}

/* Draws page n (1-based) of a document (0, or FX_ERANGE for fewer than 64 lines): a border, "FAXGATE TEST PAGE n/N" in big block
 * letters, the seed and line count, a seed-dependent checkerboard so pages differ, and
 * with o->dense a noisy body of short random runs (roughly text-like run statistics, so
 * MH code length per row is large, as a benchmark wants). */
static inline int fxt_render_page(fxt_page_t *p, const fxt_gen_opts_t *o, int n)
{
    char line[64];
    uint64_t st = fxt_seed_state(o->seed, n);
    /* Keep letters square: rows at standard resolution are twice as tall (T.4 clause 2.1). */
    int vs = o->fine ? 2 : 1;
    int rc;
    int y;

    memset(p, 0, sizeof(*p));
    if (o->lines < 64 || o->lines > FXT_MAX_LENGTH || n < 1 || n > FXT_MAX_PAGES)
        return FX_ERANGE;
    rc = fxt_page_init(p, FXT_WIDTH_A4, o->lines);
    if (rc < 0)
        return rc;
    p->xres = FXT_XRES_R8;
    p->yres = o->fine ? FXT_YRES_FINE : FXT_YRES_STANDARD;

    /* Border 8 pixels wide, inset 16 pixels from the edges (T.4 clause 2.2 leaves the
     * margins to the terminal; printers clip a few mm). */
    fxt_fill(p, 16, 4 * vs, FXT_WIDTH_A4 - 16, 8 * vs, 1);
    fxt_fill(p, 16, o->lines - 8 * vs, FXT_WIDTH_A4 - 16, o->lines - 4 * vs, 1);
    fxt_fill(p, 16, 4 * vs, 24, o->lines - 4 * vs, 1);
    fxt_fill(p, FXT_WIDTH_A4 - 24, 4 * vs, FXT_WIDTH_A4 - 16, o->lines - 4 * vs, 1);

    y = 16 * vs;
    snprintf(line, sizeof(line), "FAXGATE TEST PAGE %d/%d", n, o->pages);
    fxt_text(p, 64, y, 10, 5 * vs, line);
    y += 9 * 5 * vs;
    /* The coding is not drawn: a T.4 and a T.6 document of the same options have the
     * same pixels, so a page recoded on the way still compares equal. */
    snprintf(line, sizeof(line), "SEED %u LINES %d %s", (unsigned)o->seed, o->lines,
             o->fine ? "FINE" : "STANDARD");
    fxt_text(p, 64, y, 4, 2 * vs, line);
    y += 9 * 2 * vs;

    /* Seed-dependent pattern: 24 x 3 cells of 64 x 16 (x vs) pixels. */
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 24; c++)
            if (fxt_rand(&st) & 1)
                fxt_fill(p, 96 + c * 64, y + r * 16 * vs, 96 + (c + 1) * 64,
                         y + (r + 1) * 16 * vs, 1);
    y += 3 * 16 * vs + 8 * vs;

    if (o->dense) {
        for (; y < o->lines - 12 * vs; y++) {
            int x = 32;
            int black = 0;
            while (x < FXT_WIDTH_A4 - 32) {
                int run = 1 + (int)(fxt_rand(&st) % 8u);
                if (black)
                    fxt_fill(p, x, y, x + run, y + 1, 1);
                x += run;
                black = !black;
            }
        }
    }
    return 0;
}

/* ---- TIFF I/O ---------------------------------------------------------------------- */

static inline void fxt_tiff_silent(const char *module, const char *fmt, va_list ap)
{
    (void)module;
    (void)fmt;
    (void)ap;
}

/* Silences libtiff's warnings (SpanDSP's files carry tags libtiff warns about) and, with
 * errors_too, its error messages (for tests feeding broken files on purpose). */
static inline void fxt_tiff_quiet(int errors_too)
{
    TIFFSetWarningHandler(fxt_tiff_silent);
    if (errors_too)
        TIFFSetErrorHandler(fxt_tiff_silent);
}

/* Writes one page as the current directory of tif: the TIFF Class F tags (RFC 2306
 * section 3) then the rows. desc may be NULL. 0 or FX_ECORRUPT when libtiff fails. */
static inline int fxt_write_page(TIFF *tif, const fxt_page_t *p, int t6, int n, int total,
                                 const char *desc)
{
    TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)p->width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)p->length);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 1);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISWHITE);
    TIFFSetField(tif, TIFFTAG_FILLORDER, FILLORDER_LSB2MSB);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    if (t6) {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX4);
        TIFFSetField(tif, TIFFTAG_GROUP4OPTIONS, 0);
    } else {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_CCITTFAX3);
        /* T4Options 0: 1-D MH coding, no fill bits before EOL (TIFF 6.0 section 11). */
        TIFFSetField(tif, TIFFTAG_GROUP3OPTIONS, 0);
    }
    TIFFSetField(tif, TIFFTAG_FAXMODE, FAXMODE_CLASSF);
    TIFFSetField(tif, TIFFTAG_XRESOLUTION, p->xres);
    TIFFSetField(tif, TIFFTAG_YRESOLUTION, p->yres);
    TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, (uint32_t)p->length);
    /* PageNumber counts from 0 (TIFF 6.0 section 8). */
    TIFFSetField(tif, TIFFTAG_PAGENUMBER, (uint16_t)(n - 1), (uint16_t)total);
    TIFFSetField(tif, TIFFTAG_SOFTWARE, "faxgate fx_mkpages");
    if (desc)
        TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, desc);
    for (int y = 0; y < p->length; y++)
        if (TIFFWriteScanline(tif, p->bits + (size_t)y * (size_t)p->stride, (uint32_t)y, 0) < 0)
            return FX_ECORRUPT;
    if (!TIFFWriteDirectory(tif))
        return FX_ECORRUPT;
    return 0;
}

/* Renders and writes a whole test document to path (created or truncated).
 * 0, FX_ERANGE for bad options, -errno/FX_ECORRUPT for I/O trouble. */
static inline int fxt_write_doc(const char *path, const fxt_gen_opts_t *o)
{
    TIFF *tif;
    int rc = 0;

    if (o->pages < 1 || o->pages > FXT_MAX_PAGES || o->lines < 64 || o->lines > FXT_MAX_LENGTH)
        return FX_ERANGE;
    errno = 0;
    tif = TIFFOpen(path, "w");
    if (!tif)
        return errno ? -errno : FX_ECORRUPT;
    for (int n = 1; n <= o->pages && rc == 0; n++) {
        fxt_page_t p;
        char desc[96];

        rc = fxt_render_page(&p, o, n);
        if (rc < 0)
            break;
        snprintf(desc, sizeof(desc), "FAXGATE TEST PAGE %d/%d seed=%u%s", n, o->pages,
                 (unsigned)o->seed, o->dense ? " dense" : "");
        rc = fxt_write_page(tif, &p, o->t6, n, o->pages, desc);
        fxt_page_fini(&p);
    }
    TIFFClose(tif);
    return rc;
}

/* Converts a TIFF resolution to dots per inch (TIFF 6.0 section 8, ResolutionUnit:
 * 1 none, 2 inch, 3 centimetre). With no unit the number is taken as dpi. */
static inline float fxt_to_dpi(float v, uint16_t unit)
{
    return unit == RESUNIT_CENTIMETER ? v * 2.54f : v;
}

/* Loads every page of path into doc (which the caller fini's on success only).
 * 0; -errno when the file cannot be opened; FX_EPARSE when it is not a bilevel TIFF
 * within our bounds; FX_ECORRUPT when the image data do not decode. */
static inline int fxt_load_doc(const char *path, fxt_doc_t *doc)
{
    TIFF *tif;
    int rc = 0;
    int cap = 4;

    memset(doc, 0, sizeof(*doc));
    errno = 0;
    tif = TIFFOpen(path, "r");
    if (!tif)
        return errno ? -errno : FX_EPARSE;
    doc->pages = fx_calloc((size_t)cap, sizeof(fxt_page_t));
    do {
        uint32_t w = 0;
        uint32_t l = 0;
        uint16_t bps = 1;
        uint16_t spp = 1;
        uint16_t photo = PHOTOMETRIC_MINISWHITE;
        uint16_t unit = RESUNIT_INCH;
        float xr = 0.0f;
        float yr = 0.0f;
        fxt_page_t *p;

        if (doc->npages >= FXT_MAX_PAGES) {
            rc = FX_ERANGE;
            break;
        }
        TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
        TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l);
        TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
        TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
        TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
        TIFFGetFieldDefaulted(tif, TIFFTAG_RESOLUTIONUNIT, &unit);
        TIFFGetField(tif, TIFFTAG_XRESOLUTION, &xr);
        TIFFGetField(tif, TIFFTAG_YRESOLUTION, &yr);
        if (bps != 1 || spp != 1 || w < 1 || w > FXT_MAX_WIDTH || l < 1 || l > FXT_MAX_LENGTH
            || TIFFIsTiled(tif) || TIFFScanlineSize(tif) != (tmsize_t)((w + 7) / 8)) {
            rc = FX_EPARSE;
            break;
        }
        if (doc->npages == cap) {
            cap *= 2;
            doc->pages = fx_realloc(doc->pages, (size_t)cap * sizeof(fxt_page_t));
        }
        p = &doc->pages[doc->npages];
        rc = fxt_page_init(p, (int)w, (int)l);
        if (rc < 0)
            break;
        doc->npages++;
        p->xres = fxt_to_dpi(xr, unit);
        p->yres = fxt_to_dpi(yr, unit);
        for (uint32_t y = 0; y < l; y++) {
            uint8_t *row = p->bits + (size_t)y * (size_t)p->stride;
            if (TIFFReadScanline(tif, row, y, 0) < 0) {
                rc = FX_ECORRUPT;
                break;
            }
            if (photo == PHOTOMETRIC_MINISBLACK)
                for (int i = 0; i < p->stride; i++)
                    row[i] = (uint8_t)~row[i];
        }
        /* Bits past the width in the last byte are not pixels: keep them white. */
        if (rc == 0 && (w & 7))
            for (uint32_t y = 0; y < l; y++)
                p->bits[(size_t)y * (size_t)p->stride + (size_t)p->stride - 1] &=
                    (uint8_t)(0xFFu << (8 - (w & 7)));
    } while (rc == 0 && TIFFReadDirectory(tif));
    TIFFClose(tif);
    if (rc < 0)
        fxt_doc_fini(doc);
    return rc;
}

/* ---- comparison -------------------------------------------------------------------- */

typedef struct {
    double min_agree;             /* each page's agreement must be >= this (0..1) */
    int    max_length_diff;       /* allowed |rows sent - rows received| (in sent rows) */
    int    allow_resolution_change; /* compare across a vertical resolution change */
    int    rx_skip_rows;          /* rows of each received page to ignore at the top: the
                                   * page header SpanDSP prepends when the sender set
                                   * t30_set_tx_page_header_info() (16 rows at standard,
                                   * 32 at fine) */
} fxt_cmp_opts_t;

typedef struct {
    int    pages_a;               /* pages in the sent document */
    int    pages_b;               /* pages in the received document */
    int    pages_ok;              /* pages that passed every check */
    double agree_min;             /* lowest agreement over compared pages (1 if none) */
    char   reason[160];           /* first failure, empty when OK */
} fxt_cmp_result_t;

/* Two resolutions are the same class when within 5%: SpanDSP's own window (t4_tx.c),
 * wide enough for 196 vs 195.58 and 98 vs 97.79 (T.4 clause 2.1 lines/mm in dpi). */
static inline int fxt_same_res(float a, float b)
{
    if (a <= 0.0f || b <= 0.0f)
        return a == b;
    return fabsf(a - b) <= 0.05f * a;
}

/* Compares page a (sent) with page b (received). After skipping o->rx_skip_rows rows at
 * the top of b, rows of b are mapped onto rows of a by the vertical resolution ratio
 * (1 when equal). Counts equal pixels over the common
 * area. Writes a one-line report to out (may be NULL). Returns 0 when the page passes,
 * 1 when it does not, with why in reason. */
static inline int fxt_cmp_page(const fxt_page_t *a, const fxt_page_t *b, int n,
                               const fxt_cmp_opts_t *o, FILE *out, double *agree,
                               char *reason, size_t rlen)
{
    int res_same = fxt_same_res(a->yres, b->yres) && fxt_same_res(a->xres, b->xres);
    double ratio = 1.0;
    long long equal = 0;
    long long total = 0;
    int len_b_in_a;
    int w;
    int fail = 0;

    int skip = o->rx_skip_rows > 0 ? o->rx_skip_rows : 0;

    reason[0] = '\0';
    if (skip > b->length)
        skip = b->length;
    if (!res_same && b->yres > 0.0f && a->yres > 0.0f)
        ratio = (double)a->yres / (double)b->yres;
    len_b_in_a = (int)lround((double)(b->length - skip) * ratio);
    w = a->width < b->width ? a->width : b->width;
    for (int yb = skip; yb < b->length; yb++) {
        int ya = (int)((double)(yb - skip) * ratio);
        if (ya >= a->length)
            break;
        const uint8_t *ra = a->bits + (size_t)ya * (size_t)a->stride;
        const uint8_t *rb = b->bits + (size_t)yb * (size_t)b->stride;
        int full = w / 8;
        for (int i = 0; i < full; i++)
            equal += 8 - __builtin_popcount((unsigned)(ra[i] ^ rb[i]));
        for (int x = full * 8; x < w; x++)
            equal += fxt_get(a, x, ya) == fxt_get(b, x, yb);
        total += w;
    }
    *agree = total ? (double)equal / (double)total : 0.0;

    if (a->width != b->width) {
        snprintf(reason, rlen, "page %d width %d != %d", n, b->width, a->width);
        fail = 1;
    } else if (!res_same && !o->allow_resolution_change) {
        snprintf(reason, rlen, "page %d resolution %.0fx%.0f != %.0fx%.0f", n, b->xres,
                 b->yres, a->xres, a->yres);
        fail = 1;
    } else if (!fxt_same_res(a->xres, b->xres)) {
        snprintf(reason, rlen, "page %d x resolution %.0f != %.0f", n, b->xres, a->xres);
        fail = 1;
    } else if (abs(len_b_in_a - a->length) > o->max_length_diff) {
        snprintf(reason, rlen, "page %d length %d (%d sent rows) != %d", n, b->length,
                 len_b_in_a, a->length);
        fail = 1;
    } else if (*agree < o->min_agree) {
        snprintf(reason, rlen, "page %d agree %.6f < %.6f", n, *agree, o->min_agree);
        fail = 1;
    }
    if (out)
        fprintf(out, "page %d: width=%d/%d length=%d/%d res=%.0fx%.0f/%.0fx%.0f agree=%.6f %s\n",
                n, b->width, a->width, b->length, a->length, b->xres, b->yres, a->xres, a->yres,
                *agree, fail ? "FAIL" : "ok");
    return fail;
}

/* Compares a sent document a with a received document b page by page. Reports one line
 * per page and fills r. Returns 0 when everything passes, 1 otherwise. */
static inline int fxt_cmp_doc(const fxt_doc_t *a, const fxt_doc_t *b, const fxt_cmp_opts_t *o,
                              FILE *out, fxt_cmp_result_t *r)
{
    int n = a->npages < b->npages ? a->npages : b->npages;

    memset(r, 0, sizeof(*r));
    r->pages_a = a->npages;
    r->pages_b = b->npages;
    r->agree_min = 1.0;
    for (int i = 0; i < n; i++) {
        double agree;
        char why[sizeof(r->reason)];

        if (fxt_cmp_page(&a->pages[i], &b->pages[i], i + 1, o, out, &agree, why, sizeof(why))) {
            if (!r->reason[0])
                fx_strlcpy(r->reason, why, sizeof(r->reason));
        } else {
            r->pages_ok++;
        }
        if (agree < r->agree_min)
            r->agree_min = agree;
    }
    if (a->npages != b->npages && !r->reason[0])
        snprintf(r->reason, sizeof(r->reason), "page count %d != %d", b->npages, a->npages);
    if (a->npages == 0 && !r->reason[0])
        snprintf(r->reason, sizeof(r->reason), "no pages");
    return r->reason[0] ? 1 : 0;
}

#endif
