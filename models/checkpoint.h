/* checkpoint.h — model checkpoints and per-rank training state (DESIGN.md §4).
 *
 * Model file (one file, little-endian):
 *   fixed header, 40 bytes:
 *     0  char[8]  "CHORUSCK"
 *     8  u32      format version (CKPT_VERSION)
 *     12 u32      text bytes (the four text fields below, with their length prefixes)
 *     16 u64      parameter count
 *     24 u64      buffer count (non-trained state: batch-norm running mean/var, ...)
 *     32 u32      CRC-32 of everything after the fixed header (text + params + buffers)
 *     36 u32      CRC-32 of bytes 0..35
 *   text: four fields, each u32 length + bytes (no NUL): model kind, model hyper-parameters
 *         ("key=value" lines), frontend options ("key=value" lines), labels (one per line)
 *   float32 params[parameter count], float32 buffers[buffer count]
 * Training state file "<ckpt>.state.<rank>": "CHORUSST", u32 version, u32 rank, i64 step,
 * i64 epoch, i64 data position, i64 optimizer step, rng (u64 state, u64 inc, i32 has_spare,
 * f64 spare), u32 moment arrays, u64 floats per array, u32 world size, u32 reserved (0),
 * plateau scheduler (f64 lr, f64 best, i32 bad epochs, i32 cooldown), the arrays,
 * u32 CRC-32 of all before.
 *
 * All writes go through atomic_file (temp, fsync, rename), so a crash leaves the old file. A
 * checkpoint becomes visible to --resume only when its "DONE_<step>" marker exists.
 * Readers validate everything; every error message starts with the path.
 */
#ifndef CHORUS_CHECKPOINT_H
#define CHORUS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "common/status.h"
#include "models/lr_schedule.h"

#define CKPT_VERSION 1u

/* What a checkpoint holds. For ckpt_write all pointers are borrowed; from ckpt_read every
 * pointer is malloc'ed and owned by the struct (release with ckpt_model_free). */
typedef struct {
    char *kind;     /* "densenet-bilstm", "tdnn", "resnet" */
    char *hparams;  /* "key=value\n" lines */
    char *frontend; /* "key=value\n" lines */
    char *labels;   /* one label per line */
    float *params;
    uint64_t n_params;
    float *buffers;
    uint64_t n_buffers;
} ckpt_model;

ch_status ckpt_write(const char *path, const ckpt_model *m, ch_error *err);

/* Reads and validates path. expected_kind: NULL accepts any; expected_params: 0 accepts any.
 * Errors (all "<path>: ..."): CH_ERR_IO missing/unreadable; CH_ERR_FORMAT for "empty file",
 * "not a chorus checkpoint", "format version V is newer than this build's (1)",
 * "truncated: expected N bytes, file has M", "corrupt: checksum mismatch",
 * "is a K checkpoint, expected E", "has N parameters, expected M". */
ch_status ckpt_read(const char *path, ckpt_model *m, const char *expected_kind,
                    uint64_t expected_params, ch_error *err);
void ckpt_model_free(ckpt_model *m);

/* Training state of one rank. Moment arrays borrowed for writing; owned (malloc) after
 * ckpt_state_read, released by ckpt_state_free. */
typedef struct {
    uint32_t rank;
    uint32_t world_size; /* ranks of the run that wrote it (resume may use another count) */
    int64_t step, epoch, data_pos, opt_step;
    rng rng;
    lr_plateau plateau;  /* reduce-on-plateau state (zeros when unused) */
    uint32_t n_moments; /* 0..2 */
    uint64_t n;         /* floats per moment array */
    float *moment[2];
} ckpt_state;

/* "<ckpt_path>.state.<rank>" into out (size bytes). */
void ckpt_state_path(char *out, size_t size, const char *ckpt_path, uint32_t rank);
ch_status ckpt_state_write(const char *ckpt_path, const ckpt_state *s, ch_error *err);
/* Validates magic, version, size, CRC and that the file's rank is `rank`. */
ch_status ckpt_state_read(const char *ckpt_path, uint32_t rank, ckpt_state *s, ch_error *err);
void ckpt_state_free(ckpt_state *s);

/* "<dir>/ckpt-<step, 9 digits>.ckpt" into out. */
void ckpt_path_for_step(char *out, size_t size, const char *dir, int64_t step);
/* Writes "<dir>/DONE_<step>" (atomically): the checkpoint of that step is complete. */
ch_status ckpt_mark_done(const char *dir, int64_t step, ch_error *err);
/* Newest step whose DONE_<step> marker exists and whose checkpoint file passes validation
 * (header, size and CRCs); older ones are tried when a newer one is damaged. *step = -1 and
 * CH_OK when the directory has no complete checkpoint; CH_ERR_IO if dir cannot be read.
 * path receives the checkpoint path when found. */
ch_status ckpt_find_latest(const char *dir, int64_t *step, char *path, size_t size,
                           ch_error *err);

#endif
