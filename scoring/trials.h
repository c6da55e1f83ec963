/* trials.h — trial lists and score files, and matching one against the other.
 *
 * Trial formats (detected from the first non-blank line; every line must then use it):
 *   Kaldi     "utt1 utt2 target|nontarget"
 *   VoxCeleb  "1|0 a.wav b.wav"            (1 = same speaker)
 *   pairs     "enroll test"                (unlabelled; only where labels are not needed)
 * A third field "target"/"nontarget" means Kaldi, else a first field "0"/"1" means VoxCeleb.
 * Score files: "enroll test score" lines (the order of sv-score's output is the trial order).
 * Blank lines are skipped; CRLF is accepted. Anything else malformed is an error
 * "<path>:<line>: <problem>". Duplicate trials and duplicate scores are errors: a trial list
 * with a pair twice would count it twice, and two scores for one pair are ambiguous.
 */
#ifndef CHORUS_TRIALS_H
#define CHORUS_TRIALS_H

#include <stdbool.h>

#include "common/status.h"
#include "scoring/strmap.h"

typedef enum { TRIALS_KALDI, TRIALS_VOXCELEB, TRIALS_PAIRS } trials_format;

enum { TRIAL_UNLABELLED = -1, TRIAL_NONTARGET = 0, TRIAL_TARGET = 1 };

typedef struct {
    const char *enroll, *test; /* point into the list's storage */
    int label;                 /* TRIAL_* */
    int line;                  /* 1-based line in the file */
} trial;

typedef struct {
    trial *t;
    int n;
    trials_format format;
    char path[4096];
    strmap index; /* (enroll, test) -> index into t */
    bool from_scores; /* made by trials_from_scores: messages speak of score files */
    char *storage_;
} trial_list;

/* Reads a trial list. need_labels: reject unlabelled "enroll test" lines. An empty list is an
 * error. Free with trials_free (also after a failure; a zeroed list is fine). */
ch_status trials_read(const char *path, bool need_labels, trial_list *out, ch_error *err);
void trials_free(trial_list *l);
const char *trials_format_name(trials_format f);

typedef struct {
    const char *enroll, *test;
    double score;
    int line;
} score_entry;

typedef struct {
    score_entry *s;
    int n;
    char path[4096];
    char *storage_;
} score_list;

/* Reads "enroll test score" lines; scores must be finite numbers. Empty files are an error. */
ch_status scores_read(const char *path, score_list *out, ch_error *err);
void scores_free(score_list *l);

/* Builds an unlabelled trial list with the pairs of a score list, in its order (used to check
 * that several score files cover the same trials). Strings point into sl, which must outlive
 * the result. Duplicate pairs are an error naming the score file and line. */
ch_status trials_from_scores(const score_list *sl, trial_list *out, ch_error *err);

/* Puts the score of each trial of tl into score[i] (tl->n entries) and sets has[i].
 * Strict (allow_missing false): a trial without a score is an error naming the score file and
 * the trial's file and line; a score without a trial an error naming the score file and line.
 * With allow_missing, both are counted (*n_missing, *n_extra; either may be NULL) and the
 * caller warns; has[i] = false marks the trials to drop. Duplicate scores are always errors. */
ch_status scores_match(const trial_list *tl, const score_list *sl, bool allow_missing,
                       double *score, bool *has, int *n_missing, int *n_extra, ch_error *err);

#endif
