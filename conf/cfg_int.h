/* cfg internals: the settings tables, shared between conf/cfg.c and its unit
 * test (which walks them to check that every key parses, prints and appears in
 * the reference). Never included from another directory (STYLE.md 1).
 * Threads: the tables are const and may be read from any thread. */
#ifndef FAX_CFG_INT_H
#define FAX_CFG_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest line the parser accepts, newline excluded. */
#define CFG__LINE_MAX 4096
/* Largest file or buffer cfg_load/cfg_parse accept. */
#define CFG__FILE_MAX (1024 * 1024)

typedef enum {
    CFG__TY_STRING = 0, /* char[] field; `names` (if set) lists the allowed values */
    CFG__TY_INT,        /* int field with inclusive bounds min..max */
    CFG__TY_BOOL,       /* bool field: yes/no true/false on/off 1/0 */
    CFG__TY_ENUM,       /* enum (int-sized) field; `names` indexed by value */
    CFG__TY_LOGLEVEL,   /* int field holding an fx_log_level_t */
    CFG__TY_FACILITIES, /* unsigned field holding FX_FAC_* bits */
} cfg__type_t;

typedef struct cfg__setting {
    const char *name;         /* key in the file: the struct field's name */
    cfg__type_t type;
    size_t offset;            /* offsetof into cfg_t or cfg_trunk_t */
    size_t size;              /* sizeof the field (strings: capacity incl. NUL) */
    const char *def_str;      /* default of a string */
    long def;                 /* default of every other type */
    long min, max;            /* bounds of an int, inclusive */
    const char *const *names; /* NULL-terminated: enum names or string choices */
    bool reloadable;          /* a SIGHUP reload may change it without a restart */
    const char *help;         /* one line, shown in --print-config and docs */
} cfg__setting_t;

/* Top-level settings (fields of cfg_t). */
extern const cfg__setting_t cfg__settings[];
extern const size_t cfg__n_settings;
/* Keys of a `[trunk NAME]` section (fields of cfg_trunk_t). */
extern const cfg__setting_t cfg__trunk_settings[];
extern const size_t cfg__n_trunk_settings;

/* "string", "int", ... as shown in the reference. */
const char *cfg__type_name(cfg__type_t t);

/* Names accepted in log_facilities, NULL-terminated, "all" excluded. */
extern const char *const cfg__facility_names[];

#endif
