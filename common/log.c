/* log.c — stderr logging. Each message is formatted first and written with one fputs so lines
 * from several threads do not interleave mid-line. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char buf[2048];
    int off = snprintf(buf, sizeof buf, "%s", prefix);
    vsnprintf(buf + off, sizeof buf - (size_t)off - 1, fmt, ap);
    size_t len = 0;
    while (buf[len])
        len++;
    if (len == 0 || buf[len - 1] != '\n') {
        buf[len] = '\n';
        buf[len + 1] = '\0';
    }
    fputs(buf, stderr);
}

void log_msg(int verbosity, int level, const char *fmt, ...)
{
    if (level > verbosity)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void log_warn(int verbosity, const char *fmt, ...)
{
    if (verbosity < 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("WARNING: ", fmt, ap);
    va_end(ap);
}
