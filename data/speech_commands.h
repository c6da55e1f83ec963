/* speech_commands.h — reader for a Speech Commands-layout folder (DESIGN.md §4):
 *
 *   <root>/<word>/<speaker>_nohash_<n>.<ext>   clips (any extension libsndfile reads)
 *   <root>/_unknown_/<word>_<speaker>_nohash_<n>.<ext>   pre-mapped unknown words (our copy of
 *                                                the v2 test set): label _unknown_, word kept
 *   <root>/_silence_/<anything>.<ext>            silence clips (optional)
 *   <root>/_background_noise_/<any>.<ext>        noise files, not clips
 *   <root>/validation_list.txt, testing_list.txt optional; lines "word/file.wav", matched by
 *                                                path without extension (our copy is FLAC)
 *
 * Without lists, each clip's split follows TensorFlow's speech_commands `which_set`: the
 * percentage ((SHA-1 of the name stem) mod 2^27) * 100 / (2^27 - 1) is compared with the
 * validation and testing percentages. The stem is the speaker id (the part before `_nohash_`,
 * without a word prefix), so for the original layout it equals TF's and every speaker's clips
 * land in one split (speaker-disjoint); a file without `_nohash_` hashes its whole basename.
 *
 * Split modes (sc_options.split; lists always win: --valid-list/--test-list, else the folder's
 * validation_list.txt/testing_list.txt unless the mode is `salted`):
 *   standard  TF's which_set hash above.
 *   salted    speaker-disjoint and uniform over speakers: speakers are ranked by SHA-1 of
 *             (salt + speaker id) and the first round(n * valid%) go to validation, the next
 *             round(n * test%) to test, the rest to training, so small folders get the asked
 *             shares exactly. Clips without a speaker (`_silence_/<n>`, names without
 *             `_nohash_`) are their own unit: which_set percentage of (salt + basename).
 *   auto      standard, unless its training part holds less than half its expected share of
 *             clips ((100 - valid% - test%) / 2 %), as happens on a folder that is itself a
 *             hash-selected subset (our copy of the v2 test set: ~93 % lands in "test");
 *             then salted. sc_dataset.split_note says what happened.
 *
 * Tasks: SC_TASK_12 = _silence_, _unknown_, yes no up down left right on off stop go (TF's
 * label order); other words map to _unknown_ (keeping unknown_percentage % of the split's
 * known-word count from ordinary word folders, all of a `_unknown_/` folder); _silence_ items
 * come from `_silence_/` when present, else silence_percentage % of the split are 1-s crops of
 * the background-noise files (item.noise_crop, start chosen by the loader from item.crop_seed).
 * SC_TASK_ALL: every word is a class (sorted), plus _silence_ when the folder exists.
 * Everything is sorted by path, so the result is deterministic.
 */
#ifndef CHORUS_SPEECH_COMMANDS_H
#define CHORUS_SPEECH_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"

enum { SC_TRAIN = 0, SC_VALID = 1, SC_TEST = 2, SC_N_SPLITS = 3 };
typedef enum { SC_TASK_12 = 0, SC_TASK_ALL = 1 } sc_task;

typedef struct {
    int task;                  /* sc_task (OPT_CHOICE "12|all") */
    double validation_percentage; /* hash split, used only without list files */
    double testing_percentage;
    double silence_percentage; /* generated _silence_ items per split, % of the split's size */
    double unknown_percentage; /* unknown items kept per split, % of its known-word items */
    int split;                 /* sc_split_mode (OPT_CHOICE "auto|standard|salted") */
    char split_salt[64];       /* salted split ("" = "chorus"); a salt with auto means salted */
    char valid_list[4096];     /* explicit list files (paths "word/file.ext" inside); a */
    char test_list[4096];      /* relative FILE missing from cwd is looked up under root */
} sc_options;

typedef enum { SC_SPLIT_AUTO = 0, SC_SPLIT_STANDARD = 1, SC_SPLIT_SALTED = 2 } sc_split_mode;
#define SC_DEFAULT_SALT "chorus"

sc_options sc_options_default(void); /* task 12, 10 / 10 / 10 / 10 (TF defaults) */
extern const opt_desc sc_opts[];     /* --task --validation-percentage ... */
extern const size_t sc_n_opts;

typedef struct {
    char *path;          /* root/word/file.ext (owned by the dataset) */
    int label;           /* index into labels */
    char speaker[32];    /* "0a7c2a8d"; "" for silence and noise crops */
    char word[32];       /* original word ("_silence_" for silence) */
    bool noise_crop;     /* path is a background-noise file: take 1 s from it */
    uint64_t crop_seed;  /* for noise_crop: start = crop_seed % (n - 16000 + 1) */
} sc_item;

typedef struct {
    char **labels;       /* n_labels names */
    int n_labels;
    sc_item *items[SC_N_SPLITS]; /* per split, sorted by path (silence crops last) */
    int n_items[SC_N_SPLITS];
    char **noise_files;  /* _background_noise_ files, sorted */
    int n_noise;
    bool from_lists;     /* split came from list files */
    int split_used;      /* SC_SPLIT_STANDARD or SC_SPLIT_SALTED when !from_lists */
    char split_note[256]; /* one line when auto switched to the salted split, else "" */
    /* The split of every clip found (all of them, before unknown-word subsampling; generated
     * noise-crop silence excluded): paths relative to root ("word/file.ext"), sorted. */
    char **clip_rel;
    int *clip_split;
    int n_clips;
} sc_dataset;

/* Scans root. Errors ("<path>: <problem>" / "<list>:<line>: <problem>"): root missing or not a
 * folder (IO), no word folders or no clips, an empty word folder, a list naming a clip that is
 * not there, task 12 with none of the ten command words (FORMAT). Free with sc_free. */
ch_status sc_load(const char *root, const sc_options *o, sc_dataset *out, ch_error *err);
void sc_free(sc_dataset *d);

/* Writes <dir>/training_list.txt, validation_list.txt and testing_list.txt (created with its
 * parents) from d->clip_rel: the split actually used, in the list-file format sc_load reads, so
 * another run (or the PyTorch reference) can reproduce it with --valid-list/--test-list. */
ch_status sc_write_split(const sc_dataset *d, const char *dir, ch_error *err);

/* TF's which_set percentage for a name stem (the part hashed): 0 <= p < 100 (or == 100 for
 * one hash value). */
double sc_hash_percentage(const char *stem);

/* Speaker id and original word of a clip file name: "0a7c2a8d_nohash_1.wav" -> ("0a7c2a8d",
 * ""), "bed_0a7c2a8d_nohash_1.flac" -> ("0a7c2a8d", "bed"). Returns false (speaker "") when the
 * name has no `_nohash_`. */
bool sc_parse_name(const char *base, char speaker[32], char word[32]);

/* Clips grouped by speaker (for speaker verification on the same folder): every non-silence
 * item of every split, groups sorted by speaker id, items inside sorted by path. */
typedef struct {
    char speaker[32];
    const sc_item **items; /* n pointers into the dataset (valid while it lives) */
    int n;
} sc_speaker_group;

ch_status sc_group_by_speaker(const sc_dataset *d, sc_speaker_group **groups, int *n_groups,
                              ch_error *err);
void sc_groups_free(sc_speaker_group *groups, int n_groups);

#endif
