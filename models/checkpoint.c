/* checkpoint.c — checkpoint and training-state files (format in checkpoint.h).
 *
 * Integers are stored in host order, which chorus requires to be little-endian (x86-64,
 * aarch64). Readers load the whole file (file_read_all) and validate in a fixed order so the
 * message names the first real problem: empty, foreign magic, short header, header CRC,
 * version, size, payload CRC, content (kind, parameter count).
 */
#include "models/checkpoint.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32.h"
#include "common/fileio.h"

#define CK_MAGIC "CHORUSCK"
#define ST_MAGIC "CHORUSST"
#define CK_HEADER 40u
#define ST_VERSION 1u

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Appends bytes to the file and to a running CRC. */
static ch_status put(atomic_file *a, uint32_t *crc, const void *buf, size_t n, ch_error *err)
{
    if (crc)
        *crc = crc32_update(*crc, buf, n);
    return atomic_write(a, buf, n, err);
}

static ch_status put_text(atomic_file *a, uint32_t *crc, const char *s, ch_error *err)
{
    unsigned char len[4];
    size_t n = s ? strlen(s) : 0;
    put_u32(len, (uint32_t)n);
    CH_TRY(put(a, crc, len, 4, err));
    return n ? put(a, crc, s, n, err) : CH_OK;
}

static size_t text_len(const char *s) { return s ? strlen(s) : 0; }

ch_status ckpt_write(const char *path, const ckpt_model *m, ch_error *err)
{
    const char *fields[4] = {m->kind, m->hparams, m->frontend, m->labels};
    size_t tbytes = 0;
    for (int k = 0; k < 4; k++)
        tbytes += 4 + text_len(fields[k]);
    if (tbytes > UINT32_MAX)
        return ch_fail(err, CH_ERR_USAGE, "%s: checkpoint text fields too large", path);
    unsigned char hdr[CK_HEADER] = {0};
    memcpy(hdr, CK_MAGIC, 8);
    put_u32(hdr + 8, CKPT_VERSION);
    put_u32(hdr + 12, (uint32_t)tbytes);
    put_u64(hdr + 16, m->n_params);
    put_u64(hdr + 24, m->n_buffers);

    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    uint32_t crc = 0;
    ch_status st = atomic_write(&a, hdr, CK_HEADER, err); /* CRCs patched below */
    for (int k = 0; k < 4 && st == CH_OK; k++)
        st = put_text(&a, &crc, fields[k], err);
    if (st == CH_OK && m->n_params)
        st = put(&a, &crc, m->params, sizeof(float) * m->n_params, err);
    if (st == CH_OK && m->n_buffers)
        st = put(&a, &crc, m->buffers, sizeof(float) * m->n_buffers, err);
    if (st == CH_OK) {
        put_u32(hdr + 32, crc);
        put_u32(hdr + 36, crc32_update(0, hdr, 36));
        st = atomic_pwrite(&a, 0, hdr, CK_HEADER, err);
    }
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

void ckpt_model_free(ckpt_model *m)
{
    if (!m)
        return;
    free(m->kind);
    free(m->hparams);
    free(m->frontend);
    free(m->labels);
    free(m->params);
    free(m->buffers);
    memset(m, 0, sizeof(*m));
}

/* Copies a length-prefixed text field at *pos (bounded by end) into a new string. */
static ch_status take_text(const char *path, const unsigned char *data, size_t *pos, size_t end,
                           char **out, ch_error *err)
{
    if (*pos + 4 > end)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: bad text field", path);
    uint32_t n = get_u32(data + *pos);
    *pos += 4;
    if (n > end - *pos)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: bad text field", path);
    *out = ch_malloc(err, (size_t)n + 1, "checkpoint text");
    if (!*out)
        return CH_ERR_NOMEM;
    memcpy(*out, data + *pos, n);
    (*out)[n] = '\0';
    *pos += n;
    return CH_OK;
}

/* Shared first checks of both file kinds: empty, magic, short fixed header. */
static ch_status check_magic(const char *path, const unsigned char *data, size_t n,
                             const char *magic, const char *what, size_t header, ch_error *err)
{
    if (n == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: empty file (0 bytes)", path);
    size_t k = n < 8 ? n : 8;
    if (memcmp(data, magic, k) != 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: not a %s", path, what);
    if (n < header)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: truncated: expected at least %zu bytes, file has %zu", path, header, n);
    return CH_OK;
}

static ch_status parse_model(const char *path, const unsigned char *data, size_t n,
                             ckpt_model *m, const char *expected_kind, uint64_t expected_params,
                             ch_error *err)
{
    CH_TRY(check_magic(path, data, n, CK_MAGIC, "chorus checkpoint", CK_HEADER, err));
    if (get_u32(data + 36) != crc32_update(0, data, 36))
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: checksum mismatch (header)", path);
    uint32_t version = get_u32(data + 8);
    if (version > CKPT_VERSION)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: format version %u is newer than this build's (%u); upgrade chorus",
                       path, version, CKPT_VERSION);
    if (version == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: format version 0", path);
    uint64_t tb = get_u32(data + 12), np = get_u64(data + 16), nb = get_u64(data + 24);
    if (np > (UINT64_C(1) << 40) || nb > (UINT64_C(1) << 40))
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: impossible parameter count", path);
    uint64_t total = CK_HEADER + tb + 4 * (np + nb);
    if ((uint64_t)n < total)
        return ch_fail(err, CH_ERR_FORMAT, "%s: truncated: expected %" PRIu64
                       " bytes, file has %zu", path, total, n);
    if ((uint64_t)n > total)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: %" PRIu64 " trailing bytes", path,
                       (uint64_t)n - total);
    if (get_u32(data + 32) != crc32_update(0, data + CK_HEADER, n - CK_HEADER))
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: checksum mismatch", path);

    size_t pos = CK_HEADER, end = CK_HEADER + (size_t)tb;
    char **fields[4] = {&m->kind, &m->hparams, &m->frontend, &m->labels};
    for (int k = 0; k < 4; k++)
        CH_TRY(take_text(path, data, &pos, end, fields[k], err));
    if (pos != end)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: bad text fields", path);
    if (expected_kind && strcmp(m->kind, expected_kind) != 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: is a %s checkpoint, expected %s", path,
                       m->kind[0] ? m->kind : "(unnamed)", expected_kind);
    if (expected_params && np != expected_params)
        return ch_fail(err, CH_ERR_FORMAT, "%s: has %" PRIu64 " parameters, expected %" PRIu64
                       " (different model options?)", path, np, expected_params);
    m->n_params = np;
    m->n_buffers = nb;
    m->params = ch_malloc(err, np ? np * 4 : 1, "checkpoint parameters");
    m->buffers = ch_malloc(err, nb ? nb * 4 : 1, "checkpoint buffers");
    if (!m->params || !m->buffers)
        return CH_ERR_NOMEM;
    memcpy(m->params, data + end, np * 4);
    memcpy(m->buffers, data + end + np * 4, nb * 4);
    return CH_OK;
}

ch_status ckpt_read(const char *path, ckpt_model *m, const char *expected_kind,
                    uint64_t expected_params, ch_error *err)
{
    memset(m, 0, sizeof(*m));
    char *data;
    size_t n;
    CH_TRY(file_read_all(path, &data, &n, err));
    ch_status st = parse_model(path, (const unsigned char *)data, n, m, expected_kind,
                               expected_params, err);
    free(data);
    if (st != CH_OK)
        ckpt_model_free(m);
    return st;
}

/* ---- training state */

#define ST_FIXED 120u /* magic 8, version 4, rank 4, 4 x i64, rng 8+8+4+8, n_moments 4, n 8,
                         world 4, reserved 4, plateau 8+8+4+4 */

void ckpt_state_path(char *out, size_t size, const char *ckpt_path, uint32_t rank)
{
    snprintf(out, size, "%s.state.%u", ckpt_path, rank);
}

static void pack_state(unsigned char *h, const ckpt_state *s)
{
    memcpy(h, ST_MAGIC, 8);
    put_u32(h + 8, ST_VERSION);
    put_u32(h + 12, s->rank);
    put_u64(h + 16, (uint64_t)s->step);
    put_u64(h + 24, (uint64_t)s->epoch);
    put_u64(h + 32, (uint64_t)s->data_pos);
    put_u64(h + 40, (uint64_t)s->opt_step);
    put_u64(h + 48, s->rng.state);
    put_u64(h + 56, s->rng.inc);
    put_u32(h + 64, (uint32_t)s->rng.has_spare);
    memcpy(h + 68, &s->rng.spare, 8);
    put_u32(h + 76, s->n_moments);
    put_u64(h + 80, s->n);
    put_u32(h + 88, s->world_size);
    put_u32(h + 92, 0);
    memcpy(h + 96, &s->plateau.lr, 8);
    memcpy(h + 104, &s->plateau.best, 8);
    put_u32(h + 112, (uint32_t)s->plateau.num_bad_epochs);
    put_u32(h + 116, (uint32_t)s->plateau.cooldown_counter);
}

ch_status ckpt_state_write(const char *ckpt_path, const ckpt_state *s, ch_error *err)
{
    char path[4200];
    ckpt_state_path(path, sizeof(path), ckpt_path, s->rank);
    if (s->n_moments > 2)
        return ch_fail(err, CH_ERR_USAGE, "%s: at most 2 moment arrays", path);
    unsigned char h[ST_FIXED];
    pack_state(h, s);
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    uint32_t crc = 0;
    ch_status st = put(&a, &crc, h, ST_FIXED, err);
    for (uint32_t k = 0; k < s->n_moments && st == CH_OK; k++)
        if (s->n)
            st = put(&a, &crc, s->moment[k], sizeof(float) * s->n, err);
    if (st == CH_OK) {
        unsigned char c[4];
        put_u32(c, crc);
        st = atomic_write(&a, c, 4, err);
    }
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

static ch_status parse_state(const char *path, const unsigned char *d, size_t n, uint32_t rank,
                             ckpt_state *s, ch_error *err)
{
    CH_TRY(check_magic(path, d, n, ST_MAGIC, "chorus training-state file", ST_FIXED + 4, err));
    uint32_t version = get_u32(d + 8);
    uint32_t nm = get_u32(d + 76);
    uint64_t cnt = get_u64(d + 80);
    if (nm > 2 || cnt > (UINT64_C(1) << 40))
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: bad moment table", path);
    uint64_t total = ST_FIXED + (uint64_t)nm * cnt * 4 + 4;
    if ((uint64_t)n < total)
        return ch_fail(err, CH_ERR_FORMAT, "%s: truncated: expected %" PRIu64
                       " bytes, file has %zu", path, total, n);
    if ((uint64_t)n > total)
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: %" PRIu64 " trailing bytes", path,
                       (uint64_t)n - total);
    if (get_u32(d + n - 4) != crc32_update(0, d, n - 4))
        return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt: checksum mismatch", path);
    if (version > ST_VERSION)
        return ch_fail(err, CH_ERR_FORMAT, "%s: format version %u is newer than this build's (%u)",
                       path, version, ST_VERSION);
    s->rank = get_u32(d + 12);
    if (s->rank != rank)
        return ch_fail(err, CH_ERR_FORMAT, "%s: holds the state of rank %u, expected rank %u",
                       path, s->rank, rank);
    s->step = (int64_t)get_u64(d + 16);
    s->epoch = (int64_t)get_u64(d + 24);
    s->data_pos = (int64_t)get_u64(d + 32);
    s->opt_step = (int64_t)get_u64(d + 40);
    s->rng.state = get_u64(d + 48);
    s->rng.inc = get_u64(d + 56);
    s->rng.has_spare = (int)get_u32(d + 64);
    memcpy(&s->rng.spare, d + 68, 8);
    s->n_moments = nm;
    s->n = cnt;
    s->world_size = get_u32(d + 88);
    memcpy(&s->plateau.lr, d + 96, 8);
    memcpy(&s->plateau.best, d + 104, 8);
    s->plateau.num_bad_epochs = (int)get_u32(d + 112);
    s->plateau.cooldown_counter = (int)get_u32(d + 116);
    for (uint32_t k = 0; k < nm; k++) {
        s->moment[k] = ch_malloc(err, cnt ? cnt * 4 : 1, "optimizer moments");
        if (!s->moment[k])
            return CH_ERR_NOMEM;
        memcpy(s->moment[k], d + ST_FIXED + k * cnt * 4, cnt * 4);
    }
    return CH_OK;
}

ch_status ckpt_state_read(const char *ckpt_path, uint32_t rank, ckpt_state *s, ch_error *err)
{
    char path[4200];
    ckpt_state_path(path, sizeof(path), ckpt_path, rank);
    memset(s, 0, sizeof(*s));
    char *data;
    size_t n;
    CH_TRY(file_read_all(path, &data, &n, err));
    ch_status st = parse_state(path, (const unsigned char *)data, n, rank, s, err);
    free(data);
    if (st != CH_OK)
        ckpt_state_free(s);
    return st;
}

void ckpt_state_free(ckpt_state *s)
{
    if (!s)
        return;
    free(s->moment[0]);
    free(s->moment[1]);
    s->moment[0] = s->moment[1] = NULL;
    s->n_moments = 0;
}

/* ---- resume helpers */

void ckpt_path_for_step(char *out, size_t size, const char *dir, int64_t step)
{
    snprintf(out, size, "%s/ckpt-%09" PRId64 ".ckpt", dir, step);
}

ch_status ckpt_mark_done(const char *dir, int64_t step, ch_error *err)
{
    char path[4200], text[32];
    snprintf(path, sizeof(path), "%s/DONE_%" PRId64, dir, step);
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", step);
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, text, (size_t)n, err);
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

ch_status ckpt_find_latest(const char *dir, int64_t *step, char *path, size_t size,
                           ch_error *err)
{
    *step = -1;
    DIR *dp = opendir(dir);
    if (!dp)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open checkpoint directory", dir);
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, "DONE_", 5) != 0)
            continue;
        const char *num = e->d_name + 5;
        char *endp;
        long long v = strtoll(num, &endp, 10);
        if (*num < '0' || *num > '9' || *endp != '\0' || v < 0)
            continue; /* e.g. a leftover temp file "DONE_5.tmp.123" */
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            int64_t *ns = realloc(steps, nc * sizeof(*ns));
            if (!ns) {
                free(steps);
                closedir(dp);
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            }
            steps = ns;
            cap = nc;
        }
        steps[n++] = v;
    }
    closedir(dp);
    if (n)
        qsort(steps, n, sizeof(*steps), cmp_desc);
    for (size_t k = 0; k < n; k++) {
        char p[4200];
        ckpt_path_for_step(p, sizeof(p), dir, steps[k]);
        ckpt_model m;
        ch_error ignored;
        if (ckpt_read(p, &m, NULL, 0, &ignored) == CH_OK) {
            ckpt_model_free(&m);
            *step = steps[k];
            snprintf(path, size, "%s", p);
            break;
        }
    }
    free(steps);
    return CH_OK;
}
