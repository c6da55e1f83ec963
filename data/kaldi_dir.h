/* kaldi_dir.h — reader for a Kaldi data directory (DESIGN.md §4):
 *
 *   wav.scp     "<utt> <path>"            required; a value ending in '|' is a command
 *                                         pipe, run by audio_read (frontend/audio.h) as
 *                                         feat-extract does; check_files does not stat it
 *   utt2spk     "<utt> <spk>"             required; the same utterances as wav.scp
 *   spk2utt     "<spk> <utt> <utt> ..."   optional; derived when missing, checked when present
 *   utt2label   "<utt> <label>"           optional KWS labels (or `text`: "<utt> <words...>",
 *                                         the whole rest of the line is the label)
 *   segments                              rejected (CH_ERR_UNSUPPORTED): cut the segments into
 *                                         files first (Kaldi's extract-segments)
 *
 * Every problem is reported as "<file>:<line>: <problem>" (or "<file>: <problem>"): duplicate
 * keys, an utterance without audio or without a speaker, a malformed line, spk2utt disagreeing
 * with utt2spk, a label missing for an utterance. Paths are kept as written (Kaldi resolves
 * them from the working directory).
 */
#ifndef CHORUS_KALDI_DIR_H
#define CHORUS_KALDI_DIR_H

#include <stdbool.h>
#include <stddef.h> /* status.h uses size_t without including it */

#include "common/status.h"

typedef struct {
    char *utt;      /* utterance id (owned by the kd_dir) */
    char *path;     /* audio path from wav.scp */
    int spk;        /* index into kd_dir.speakers */
    int label;      /* index into kd_dir.labels, -1 without labels */
} kd_utt;

typedef struct {
    kd_utt *utts;       /* n_utts, sorted by utterance id */
    int n_utts;
    char **speakers;    /* n_speakers, sorted */
    int n_speakers;
    int *spk_start;     /* n_speakers + 1: utterances of speaker s are */
    int *spk_utts;      /*   spk_utts[spk_start[s] .. spk_start[s+1]) (indices into utts) */
    char **labels;      /* n_labels sorted distinct labels; NULL when no label file */
    int n_labels;
    bool spk2utt_derived; /* spk2utt was missing */
} kd_dir;

/* Reads and validates dir. check_files: also require every wav.scp path to exist (paths are
 * tried as written, then relative to dir; command pipes are kept as written, unchecked).
 * Free with kd_free (also after an error). */
ch_status kd_load(const char *dir, bool check_files, kd_dir *out, ch_error *err);
void kd_free(kd_dir *d);

/* Index of utterance id in d->utts, or -1. */
int kd_find_utt(const kd_dir *d, const char *utt);

#endif
