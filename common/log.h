/* log.h — messages on stderr at a verbosity passed explicitly (no global log level).
 * level 0: always (errors), 1: normal (warnings, summaries), 2: verbose (details). */
#ifndef CHORUS_LOG_H
#define CHORUS_LOG_H

void log_msg(int verbosity, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "WARNING: ..." at level 1. */
void log_warn(int verbosity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
