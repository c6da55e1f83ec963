/* status.h — the error/status type every library function returns.
 *
 * Library code never prints and never exits: it returns a ch_status and leaves exactly one
 * message in the caller's ch_error, formatted "<file>: <problem>" so that a command can print
 * it as the one line a user sees. Only main() turns a status into an exit code.
 */
#ifndef CHORUS_STATUS_H
#define CHORUS_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
    CH_OK = 0,
    CH_ERR_IO,          /* file missing, unreadable, short write, ... */
    CH_ERR_FORMAT,      /* input exists but is malformed, corrupt, truncated or foreign */
    CH_ERR_USAGE,       /* bad flag, bad value, wrong number of arguments */
    CH_ERR_NOMEM,       /* allocation failed */
    CH_ERR_UNSUPPORTED, /* valid input that this build cannot handle (e.g. no CUDA) */
    CH_ERR_INTERNAL     /* a library we call failed in a way the user cannot fix */
} ch_status;

/* One message slot, owned by the caller (usually on main's stack). */
typedef struct {
    char msg[1024];
} ch_error;

/* Formats the message into err (if err is not NULL) and returns st, so callers can write
 * `return ch_fail(err, CH_ERR_FORMAT, "%s: truncated header", path);`. */
ch_status ch_fail(ch_error *err, ch_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message: "<prefix>: <old message>". Returns st. */
ch_status ch_wrap(ch_error *err, ch_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Exit code for a status, per DESIGN.md §3: 0 ok, 2 bad usage, 1 everything else. */
int ch_exit_code(ch_status st);

/* Short name of a status ("format error", ...). */
const char *ch_status_name(ch_status st);

/* Allocation helpers that fail with a message instead of returning NULL silently.
 * The caller owns the returned memory (free()). */
void *ch_malloc(ch_error *err, size_t n, const char *what);
void *ch_calloc(ch_error *err, size_t count, size_t size, const char *what);

#define CH_TRY(expr)                     \
    do {                                 \
        ch_status ch_try_st_ = (expr);   \
        if (ch_try_st_ != CH_OK)         \
            return ch_try_st_;           \
    } while (0)

#endif
