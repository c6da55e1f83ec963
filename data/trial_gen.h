/* trial_gen.h — speaker-verification trial lists over a speaker set (data/speaker_set.h).
 *
 * Targets: every pair of two different utterances of one speaker, or, with
 * max_targets_per_spk = K > 0, K of them drawn uniformly without replacement for a speaker that
 * has more than K pairs (each speaker from its own random stream, seeded by (seed, SHA-1 of its
 * name), so a speaker's targets do not change when other speakers come or go).
 * Nontargets: round(nontarget_ratio x targets) distinct pairs of utterances of two different
 * speakers, uniform over all such pairs (all of them when fewer exist), from (seed, a fixed
 * stream). Every pair is unordered and appears once; the list is sorted by (first, second)
 * utterance index, first < second. Same set + options = byte-identical list.
 *
 * Formats: Kaldi "<id1> <id2> target|nontarget" (utterance ids) and VoxCeleb "1|0 <rel1>
 * <rel2>" (the names relative to the data folder, as VoxCeleb's lists write them; sv-embed on
 * the wav.scp of speaker_set_write_dir(use_rel = true) gives embeddings with those keys).
 */
#ifndef CHORUS_TRIAL_GEN_H
#define CHORUS_TRIAL_GEN_H

#include <stdint.h>

#include "common/status.h"
#include "data/speaker_set.h"

typedef enum { TRIAL_FMT_KALDI = 0, TRIAL_FMT_VOXCELEB = 1 } trial_format;
#define TRIAL_FORMAT_CHOICES "kaldi|voxceleb"

typedef struct {
    int max_targets_per_spk; /* 0 = all pairs */
    double nontarget_ratio;  /* nontargets per target (>= 0) */
    uint64_t seed;
} trial_options;

trial_options trial_options_default(void); /* all targets, ratio 10, seed 0 */

typedef struct {
    int a, b;   /* utterance indices into the set, a < b */
    int target; /* 1 same speaker, 0 different */
} sv_trial;

/* Generates the trials of every speaker of s. *out is malloc'ed (caller frees), *n trials,
 * *n_target of them targets. Errors (CH_ERR_FORMAT): a speaker with fewer than two utterances
 * ("speaker X has 1 utterance; target trials need 2 (drop such speakers with --min-utts 2)"),
 * nontargets asked for with fewer than two speakers; CH_ERR_USAGE for bad options. */
ch_status trial_generate(const speaker_set *s, const trial_options *o, sv_trial **out, long *n,
                         long *n_target, ch_error *err);

/* Writes the list to path ("-" = stdout; a file is written atomically). */
ch_status trial_write(const char *path, const speaker_set *s, const sv_trial *t, long n,
                      int format, ch_error *err);

#endif
