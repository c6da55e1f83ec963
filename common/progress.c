/* progress.c — see progress.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "timer.h"

void progress_init(progress *p, const char *label, const char *unit, long total, bool enabled)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->t_start = p->t_last = timer_now();
    p->interval_s = 10.0;
    p->tty = isatty(fileno(stderr)) != 0;
    p->enabled = enabled;
}

static void draw(progress *p, double now, bool final)
{
    double el = now - p->t_start;
    double rate = el > 0 ? (double)p->done / el : 0.0;
    if (p->tty && !final) {
        char bar[31];
        int fill = p->total > 0 ? (int)(30.0 * (double)p->done / (double)p->total) : 0;
        if (fill > 30)
            fill = 30;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        double eta = rate > 0 && p->total > 0 ? (double)(p->total - p->done) / rate : 0.0;
        fprintf(stderr, "\r%s [%s] %ld/%ld %.1f %s/s ETA %.0fs   ", p->label, bar, p->done,
                p->total, rate, p->unit, eta);
    } else if (final) {
        fprintf(stderr, "%s%s: %ld %s in %.1fs (%.1f %s/s)\n", p->tty ? "\r" : "", p->label,
                p->done, p->unit, el, rate, p->unit);
    } else {
        fprintf(stderr, "%s: %ld/%ld %s, %.1f %s/s\n", p->label, p->done, p->total, p->unit,
                rate, p->unit);
    }
    fflush(stderr);
}

void progress_update(progress *p, long done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = timer_now();
    double period = p->tty ? 0.1 : p->interval_s;
    if (now - p->t_last < period)
        return;
    p->t_last = now;
    draw(p, now, false);
}

void progress_finish(progress *p)
{
    if (p->enabled)
        draw(p, timer_now(), true);
}
