/* status.c — ch_status messages and allocation helpers. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

ch_status ch_fail(ch_error *err, ch_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return st;
}

ch_status ch_wrap(ch_error *err, ch_status st, const char *fmt, ...)
{
    if (err) {
        char prefix[512], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    }
    return st;
}

int ch_exit_code(ch_status st)
{
    if (st == CH_OK)
        return 0;
    return st == CH_ERR_USAGE ? 2 : 1;
}

const char *ch_status_name(ch_status st)
{
    switch (st) {
    case CH_OK: return "ok";
    case CH_ERR_IO: return "I/O error";
    case CH_ERR_FORMAT: return "format error";
    case CH_ERR_USAGE: return "usage error";
    case CH_ERR_NOMEM: return "out of memory";
    case CH_ERR_UNSUPPORTED: return "unsupported";
    case CH_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void *ch_malloc(ch_error *err, size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, n);
    return p;
}

void *ch_calloc(ch_error *err, size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate %zu x %zu bytes", what, count, size);
    return p;
}
