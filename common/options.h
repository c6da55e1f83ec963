/* options.h — Kaldi-style option structs driven by one descriptor table.
 *
 * A module defines its options as a plain struct with a `*_options_default()` returning one by
 * value, plus a static table of opt_desc (built with the OPT_* macros below) that names each
 * field. The same table drives command-line parsing (`--name=value`, `--name value`, `--flag`,
 * `--flag=false`), `--config FILE` (key=value lines, `#` comments, the same names, with or
 * without leading dashes), range checking and the `--help` text, which shows every option with
 * its default (the value the struct holds before parsing). One table, not three copies.
 *
 * Example:
 *   typedef struct { float frame_shift_ms; int num_mel_bins; } fbank_options;
 *   static const opt_desc fbank_opts[] = {
 *       OPT_FLOAT(fbank_options, frame_shift_ms, "frame-shift", 0.1, 1000, "Frame shift in ms"),
 *       OPT_INT(fbank_options, num_mel_bins, "num-mel-bins", 1, 1024, "Number of mel bins"),
 *   };
 */
#ifndef CHORUS_OPTIONS_H
#define CHORUS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef enum {
    OPT_T_BOOL,   /* bool */
    OPT_T_INT,    /* int */
    OPT_T_INT64,  /* int64_t */
    OPT_T_FLOAT,  /* float */
    OPT_T_DOUBLE, /* double */
    OPT_T_STRING, /* char[N] inside the struct; N = sizeof the field */
    OPT_T_CHOICE  /* int index into a "a|b|c" list */
} opt_type;

typedef struct {
    const char *name;    /* long name without dashes, e.g. "frame-shift" */
    opt_type type;
    size_t offset;       /* offsetof(struct, field) */
    size_t size;         /* sizeof(field) */
    double min, max;     /* inclusive range for numbers; ignored when min > max */
    const char *choices; /* OPT_T_CHOICE: "fbank|mfcc|spectrogram" */
    const char *help;
} opt_desc;

#define OPT_FIELD_SIZE_(st, f) sizeof(((st *)0)->f)
#define OPT_BOOL(st, f, name, help) \
    {name, OPT_T_BOOL, offsetof(st, f), OPT_FIELD_SIZE_(st, f), 1, 0, NULL, help}
#define OPT_INT(st, f, name, lo, hi, help) \
    {name, OPT_T_INT, offsetof(st, f), OPT_FIELD_SIZE_(st, f), lo, hi, NULL, help}
#define OPT_INT64(st, f, name, lo, hi, help) \
    {name, OPT_T_INT64, offsetof(st, f), OPT_FIELD_SIZE_(st, f), lo, hi, NULL, help}
#define OPT_FLOAT(st, f, name, lo, hi, help) \
    {name, OPT_T_FLOAT, offsetof(st, f), OPT_FIELD_SIZE_(st, f), lo, hi, NULL, help}
#define OPT_DOUBLE(st, f, name, lo, hi, help) \
    {name, OPT_T_DOUBLE, offsetof(st, f), OPT_FIELD_SIZE_(st, f), lo, hi, NULL, help}
#define OPT_STRING(st, f, name, help) \
    {name, OPT_T_STRING, offsetof(st, f), OPT_FIELD_SIZE_(st, f), 1, 0, NULL, help}
#define OPT_CHOICE(st, f, name, choices, help) \
    {name, OPT_T_CHOICE, offsetof(st, f), OPT_FIELD_SIZE_(st, f), 1, 0, choices, help}
#define OPT_COUNT(table) (sizeof(table) / sizeof((table)[0]))

/* A table bound to the struct it fills. */
typedef struct {
    const char *title;     /* heading in --help, e.g. "Frame extraction" */
    const opt_desc *descs;
    size_t n;
    void *target;          /* struct to fill; holds the defaults before parsing */
} opt_group;

typedef struct {
    const char *prog;      /* "feat-extract" */
    const char *usage;     /* "[options] <wav-rspecifier> <feats-wspecifier>" (several lines ok) */
    const char *summary;   /* one paragraph for --help */
    const opt_group *groups;
    size_t n_groups;
    int min_pos, max_pos;  /* allowed number of positional arguments (max < 0: unbounded) */
} opt_parser;

/* true if argv asks for --help/-h (before any "--"): what makes opt_parse print the help. A
 * command launched on many ranks checks it first so that only one rank prints. */
bool opt_wants_help(int argc, char **argv);

/* Parses argv. On success fills the groups' targets, stores pointers to the positional
 * arguments (into argv; no copies) in pos[0..*n_pos) — pos must have room for argc entries —
 * and returns CH_OK. With --help/-h it prints the help to stdout, sets *help_shown and returns
 * CH_OK without touching the targets. `--config FILE` is applied first wherever it appears,
 * then the command line, so flags override the file. Errors: CH_ERR_USAGE with a message such
 * as "--frame-shift: 'abc' is not a number" or "<file>:3: unknown option 'foo'". */
ch_status opt_parse(const opt_parser *p, int argc, char **argv, char **pos, int *n_pos,
                    bool *help_shown, ch_error *err);

/* Sets one option by name (without dashes) from a string value; used by the parser and by
 * code that replays stored option strings. CH_ERR_USAGE if unknown or invalid. */
ch_status opt_set(const opt_group *groups, size_t n_groups, const char *name, const char *value,
                  ch_error *err);

/* Prints the help text (usage, summary, every option with its current value as default). */
void opt_print_help(const opt_parser *p, FILE *out);

/* Writes every option of the groups as "name=value" lines (a valid --config file). */
void opt_write_values(const opt_group *groups, size_t n_groups, FILE *out);

/* The same lines as a malloc'ed string (owner caller), or NULL when out of memory; what
 * checkpoints store as their frontend / hyper-parameter text. */
char *opt_values_text(const opt_group *groups, size_t n_groups);

/* Replays stored "name=value" lines (blank lines skipped) through opt_set: the reader of
 * opt_values_text. Errors are CH_ERR_FORMAT (stored text is data, not usage), one line:
 * "<where>: line too long", "<where>: malformed line 'L'" or "<where>: <opt_set's message>". */
ch_status opt_set_lines(const opt_group *groups, size_t n_groups, const char *text,
                        const char *where, ch_error *err);

/* Formats one option's current value into buf. */
void opt_format_value(const opt_desc *d, const void *target, char *buf, size_t n);

#endif
