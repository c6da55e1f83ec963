/* utt_report.h — the Kaldi-style per-utterance reporting the batch commands (feat-extract,
 * sv-embed) share: a bad utterance is one warning naming it, a format conversion is noted at
 * the first file it happens to and counted at the end, and the exit code follows
 * --max-failures (with the first failure said even when the warnings were silenced).
 */
#ifndef CHORUS_UTT_REPORT_H
#define CHORUS_UTT_REPORT_H

#include <stdbool.h>

typedef struct {
    const char *prog;          /* command name the lines start with */
    int verbosity;
    int resampled, mixed;      /* files resampled / mixed down so far */
    char first_fail[2600];     /* "utterance KEY (PATH): problem" of the first failure */
} utt_report;

/* A fresh report (nothing counted). Zero-initialised storage is also safe to pass to
 * utt_report_exit_code with no failures. */
void utt_report_init(utt_report *r, const char *prog, int verbosity);

/* A failed utterance: warns "utterance KEY (PATH): MSG" at level 1 and keeps the first such
 * text. A MSG starting with "PATH: " (library messages start with the path) loses that prefix,
 * which the warning already names. */
void utt_report_failure(utt_report *r, const char *key, const char *path, const char *msg);

/* A successfully read file: counts a resample (from file_rate_hz to rate_hz) and a mix-down
 * (of file_channels), each noted once, at the first file it happens to. */
void utt_report_converted(utt_report *r, const char *key, bool resampled, int file_rate_hz,
                          int rate_hz, bool mixed, int file_channels);

/* End of run: how many files were resampled (to rate_hz) and mixed down, when any. */
void utt_report_summary(const utt_report *r, int rate_hz);

/* The exit code of a finished run: 1 when more than max_failures of n_utt failed (said on
 * stderr with the first failure when verbosity < 1 silenced the warnings), else 0. */
int utt_report_exit_code(const utt_report *r, int failed, int n_utt, int max_failures);

#endif
