/* fileio.c — see fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32.h"
#include "fileio.h"

ch_status atomic_open(atomic_file *a, const char *path, ch_error *err)
{
    memset(a, 0, sizeof *a);
    if (strlen(path) >= sizeof a->path)
        return ch_fail(err, CH_ERR_USAGE, "%s: path too long", path);
    snprintf(a->path, sizeof a->path, "%s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f)
        return ch_fail(err, CH_ERR_IO, "%s: cannot create: %s", a->path, strerror(errno));
    return CH_OK;
}

ch_status atomic_write(atomic_file *a, const void *buf, size_t n, ch_error *err)
{
    if (n && fwrite(buf, 1, n, a->f) != n)
        return ch_fail(err, CH_ERR_IO, "%s: write failed: %s", a->path, strerror(errno));
    a->crc = crc32_update(a->crc, buf, n);
    a->written += n;
    return CH_OK;
}

ch_status atomic_pwrite(atomic_file *a, uint64_t offset, const void *buf, size_t n,
                        ch_error *err)
{
    long here = ftell(a->f);
    if (here < 0 || fseek(a->f, (long)offset, SEEK_SET) != 0 || fwrite(buf, 1, n, a->f) != n ||
        fseek(a->f, here, SEEK_SET) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: write failed: %s", a->path, strerror(errno));
    return CH_OK;
}

static void fsync_parent_dir(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some filesystems refuse fsync on directories */
        close(fd);
    }
}

ch_status atomic_commit(atomic_file *a, ch_error *err)
{
    if (!a->f)
        return ch_fail(err, CH_ERR_INTERNAL, "%s: not open", a->path);
    int bad = fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int saved = errno;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (bad) {
        unlink(a->tmp);
        return ch_fail(err, CH_ERR_IO, "%s: write failed: %s", a->path, strerror(saved));
    }
    if (rename(a->tmp, a->path) != 0) {
        saved = errno;
        unlink(a->tmp);
        return ch_fail(err, CH_ERR_IO, "%s: cannot rename into place: %s", a->path,
                       strerror(saved));
    }
    fsync_parent_dir(a->path);
    return CH_OK;
}

void atomic_abort(atomic_file *a)
{
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
        unlink(a->tmp);
    }
}

ch_status file_read_all(const char *path, char **data, size_t *n, ch_error *err)
{
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        /* fopen succeeds on a directory; the read then fails with EISDIR */
        if (e == EISDIR)
            return ch_fail(err, CH_ERR_IO, "%s: is a directory, not a file", path);
        return ch_fail(err, CH_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    buf[len] = '\0';
    *data = buf;
    *n = len;
    return CH_OK;
}

ch_status dir_create(const char *path, ch_error *err)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf)
        return ch_fail(err, CH_ERR_USAGE, "%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return ch_fail(err, CH_ERR_IO, "%s: cannot create directory: %s", buf,
                           strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return ch_fail(err, CH_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return ch_fail(err, CH_ERR_IO, "%s: exists and is not a directory", buf);
    return CH_OK;
}

int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}
