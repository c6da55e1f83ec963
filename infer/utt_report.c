/* utt_report.c — per-utterance warnings, conversion notes and the failure exit code of the
 * batch commands (see utt_report.h). */
#include "infer/utt_report.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

void utt_report_init(utt_report *r, const char *prog, int verbosity)
{
    memset(r, 0, sizeof *r);
    r->prog = prog;
    r->verbosity = verbosity;
}

void utt_report_failure(utt_report *r, const char *key, const char *path, const char *msg)
{
    size_t pl = strlen(path);
    bool named = strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0;
    const char *m = named ? msg + pl + 2 : msg;
    log_warn(r->verbosity, "utterance %s (%s): %s", key, path, m);
    if (!r->first_fail[0])
        snprintf(r->first_fail, sizeof r->first_fail, "utterance %s (%s): %s", key, path, m);
}

void utt_report_converted(utt_report *r, const char *key, bool resampled, int file_rate_hz,
                          int rate_hz, bool mixed, int file_channels)
{
    if (resampled && r->resampled++ == 0)
        log_msg(r->verbosity, 1, "%s: note: %s is at %d Hz: resampled to %d Hz (said once; the "
                "summary counts the files)\n", r->prog, key, file_rate_hz, rate_hz);
    if (mixed && r->mixed++ == 0)
        log_msg(r->verbosity, 1, "%s: note: %s has %d channels: mixed down to mono "
                "(--channel=N takes one; said once)\n", r->prog, key, file_channels);
}

void utt_report_summary(const utt_report *r, int rate_hz)
{
    if (r->resampled)
        log_msg(r->verbosity, 1, "%s: resampled %d file(s) to %d Hz\n", r->prog, r->resampled,
                rate_hz);
    if (r->mixed)
        log_msg(r->verbosity, 1, "%s: mixed %d multi-channel file(s) down to mono\n", r->prog,
                r->mixed);
}

int utt_report_exit_code(const utt_report *r, int failed, int n_utt, int max_failures)
{
    if (failed <= max_failures)
        return 0;
    if (r->verbosity < 1) /* the warnings and the summary were silenced: still say why */
        fprintf(stderr, "%s: %d of %d utterances failed, first: %s\n", r->prog, failed, n_utt,
                r->first_fail);
    return 1;
}
