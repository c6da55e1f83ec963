/* speaker_set.h — a speaker-labelled utterance list (what sv-train, sv-trials and the SV
 * evaluation read), from any of three layouts, and speaker-disjoint splits of it.
 *
 * Layouts (SPK_LAYOUT_AUTO picks the first that fits, in this order):
 *   kaldi            <dir>/wav.scp + utt2spk (data/kaldi_dir.h: spk2utt checked when present;
 *                    every audio file must exist)
 *   speech-commands  <dir>/<word>/<speaker>_nohash_<n>.<ext> and
 *                    <dir>/_unknown_/<word>_<speaker>_nohash_<n>.<ext> (speaker = the 8-hex
 *                    prefix, data/speech_commands.h's sc_parse_name); _silence_ and
 *                    _background_noise_ are skipped, so are files without `_nohash_`. Chosen
 *                    when some sub-folder file has `_nohash_` in its name.
 *   voxceleb         <dir>/<speaker>/<session>/<utt>.<ext> and <dir>/<speaker>/<utt>.<ext>
 * <ext> is any audio extension libsndfile reads (wav, flac, ogg, ...); other files (README,
 * lists, trials) are ignored. Only names are read here, never audio, but every file must be
 * readable.
 *
 * Names (all without whitespace, so they are valid Kaldi keys):
 *   id    kaldi: the utterance id. Folders: the path relative to <dir> without its extension,
 *         '/' replaced by '-', prefixed with "<speaker>-" for speech-commands (VoxCeleb paths
 *         already start with the speaker), e.g. "id10270-5r0dWxy17C8-00001",
 *         "0a7c2a8d-down-0a7c2a8d_nohash_1". Speaker-prefixed, as Kaldi's sorting rules want.
 *   rel   the name a VoxCeleb-style trial list uses: folders: the path relative to <dir>
 *         ("id10270/5r0dWxy17C8/00001.wav"); kaldi: the wav.scp path (as kd_load gives
 *         it, resolved against the data dir when relative).
 *   path  the audio file to open (folders: <dir>/<rel> with <dir> made absolute).
 * Order: speakers sorted by name (strcmp); utterances grouped by speaker in that order, sorted
 * by id inside a speaker, so speaker s owns utts[first .. first + n). Deterministic: the same
 * folder always gives the same set, whatever order readdir returns.
 *
 * Speaker-disjoint splits: a speaker's part is decided by its own name alone,
 *   u = (first 8 bytes of SHA-1("<split seed>:<speaker name>"), big-endian) / 2^64   in [0, 1)
 *   part = train if u < f_train, dev if u < f_train + f_dev, else test,
 * so a speaker always lands in the same part whatever other speakers the set holds (adding
 * speakers never moves existing ones), and the split seed reshuffles the assignment. The parts'
 * sizes follow the fractions only on average (binomially): a small set can leave a part empty,
 * which the callers check.
 *
 * Errors (one line each): missing folder (CH_ERR_IO), unreadable file (CH_ERR_IO "<path>:
 * cannot read"), no speakers found / none with enough utterances, two files giving the same id,
 * names with whitespace (CH_ERR_FORMAT), and kaldi_dir's own messages.
 */
#ifndef CHORUS_SPEAKER_SET_H
#define CHORUS_SPEAKER_SET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"

typedef enum {
    SPK_LAYOUT_AUTO = 0,
    SPK_LAYOUT_KALDI = 1,
    SPK_LAYOUT_SPEECH_COMMANDS = 2,
    SPK_LAYOUT_VOXCELEB = 3
} spk_layout;

/* Choice list for an OPT_CHOICE option, in spk_layout order. */
#define SPK_LAYOUT_CHOICES "auto|kaldi|speech-commands|voxceleb"

enum { SPK_TRAIN = 0, SPK_DEV = 1, SPK_TEST = 2, SPK_N_PARTS = 3 };

typedef struct {
    char *id;   /* utterance id (see above); owned by the set */
    char *rel;  /* name for VoxCeleb-style trial lists */
    char *path; /* audio file */
    int spk;    /* index into speakers */
} spk_utt;

typedef struct {
    char *name;
    int first; /* its utterances are utts[first .. first + n) */
    int n;
} spk_speaker;

typedef struct {
    int layout;        /* spk_layout actually read (never AUTO) */
    spk_utt *utts;
    int n_utts;
    spk_speaker *speakers;
    int n_speakers;
    int n_dropped;     /* speakers dropped for having fewer than min_utts utterances */
    int n_skipped;     /* files skipped (speech-commands: no `_nohash_` in the name) */
} speaker_set;

/* Loads dir in the given layout (AUTO detects it). Speakers with fewer than min_utts
 * utterances are dropped (counted in n_dropped); min_utts <= 1 keeps all. Free with
 * speaker_set_free (also after an error). */
ch_status speaker_set_load(const char *dir, int layout, int min_utts, speaker_set *out,
                           ch_error *err);
void speaker_set_free(speaker_set *s);

/* "kaldi", "speech-commands", "voxceleb" ("auto" for SPK_LAYOUT_AUTO). */
const char *speaker_layout_name(int layout);
/* "train", "dev", "test". */
const char *speaker_part_name(int part);

/* The split hash u in [0, 1) of a speaker name (formula above). */
double speaker_split_hash(const char *name, uint64_t split_seed);

/* Parses "0.7,0.1,0.2" (three non-negative numbers summing to 1 within 1e-6). CH_ERR_USAGE
 * "split fractions '...': ..." otherwise. */
ch_status speaker_parse_fractions(const char *text, double fr[SPK_N_PARTS], ch_error *err);

/* part[s] = the part of speaker s (n_speakers entries, caller-owned); counts[p] = speakers per
 * part (may be NULL). fr must be valid (speaker_parse_fractions's rules; CH_ERR_USAGE else). */
ch_status speaker_set_split(const speaker_set *s, const double fr[SPK_N_PARTS],
                            uint64_t split_seed, int *part, int counts[SPK_N_PARTS],
                            ch_error *err);

/* A copy of the speakers s with part[s] == which (every string duplicated; out is
 * independent of s). An empty result is not an error here (n_speakers = 0). */
ch_status speaker_set_select(const speaker_set *s, const int *part, int which,
                             speaker_set *out, ch_error *err);

/* Writes a Kaldi data dir for the set: wav.scp ("<key> <path>"), utt2spk and spk2utt, where
 * key is the id (use_rel = false) or rel (use_rel = true: the names a VoxCeleb-style trial list
 * of the set uses, so sv-embed keys match it). The folder is created; files written
 * atomically; lines sorted by key as Kaldi requires. */
ch_status speaker_set_write_dir(const speaker_set *s, const char *dir, bool use_rel,
                                ch_error *err);

#endif
