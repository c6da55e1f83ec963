/* progress.h — a progress bar on stderr: a redrawn bar with rate and ETA on a TTY, a plain
 * line every `interval_s` seconds otherwise (logs, CI). Owned by the caller, no allocation. */
#ifndef CHORUS_PROGRESS_H
#define CHORUS_PROGRESS_H

#include <stdbool.h>

typedef struct {
    char label[64];
    char unit[16];
    long total;        /* 0 when unknown */
    long done;
    double t_start;
    double t_last;
    double interval_s; /* non-TTY line period */
    bool tty;
    bool enabled;
} progress;

void progress_init(progress *p, const char *label, const char *unit, long total, bool enabled);
/* Sets the count done so far; redraws at most ~10 times a second. */
void progress_update(progress *p, long done);
/* Final line with the total time and mean rate. */
void progress_finish(progress *p);

#endif
