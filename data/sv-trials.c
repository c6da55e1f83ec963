/* sv-trials.c — speaker-verification trial lists from a speaker-labelled data set.
 *
 *   sv-trials [options] <data-dir> <trials-out>
 *   e.g. sv-trials --split test --write-dir exp/test ../shared/data/speech-commands-v2-test-A \
 *            exp/test/trials
 *
 * <data-dir>: a Kaldi data dir, a VoxCeleb-style or a Speech Commands folder (detected; see
 * data/speaker_set.h). --split picks the speakers of one part of the speaker-disjoint hash
 * split (the same split sv-train uses with the same --split-fractions and --split-seed).
 * --write-dir writes wav.scp/utt2spk/spk2utt of the chosen utterances, keyed as the trials name
 * them, so the path goes data -> sv-trials -> sv-embed scp:DIR/wav.scp -> sv-score.
 * "-" as <trials-out> prints the list on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/log.h"
#include "data/speaker_set.h"
#include "data/trial_gen.h"

#define PROG "sv-trials"

typedef struct {
    int format;
    int max_targets;
    double nontarget_ratio;
    int split;         /* 0 all, 1 + SPK_TRAIN/DEV/TEST */
    char fractions[64];
    int64_t split_seed;
    int min_utts;
    int layout;
    char write_dir[4096];
} trials_cli;

static const opt_desc trials_opts[] = {
    OPT_CHOICE(trials_cli, format, "format", TRIAL_FORMAT_CHOICES,
               "kaldi: 'utt1 utt2 target|nontarget'; voxceleb: '1|0 spk/sess/a.wav spk/sess/b.wav'"),
    OPT_INT(trials_cli, max_targets, "max-targets-per-spk", 0, 1 << 30,
            "Target pairs per speaker, drawn at random (0 = every pair)"),
    OPT_DOUBLE(trials_cli, nontarget_ratio, "nontarget-ratio", 0, 1e6,
               "Nontarget trials per target trial (all cross-speaker pairs when fewer exist)"),
    OPT_CHOICE(trials_cli, split, "split", "all|train|dev|test",
               "Speakers of this part of the speaker-disjoint split (all = every speaker)"),
    OPT_STRING(trials_cli, fractions, "split-fractions",
               "train,dev,test fractions of speakers for --split (by a hash of the name)"),
    OPT_INT64(trials_cli, split_seed, "split-seed", 0, 9e18,
              "Seed of the speaker split hash (independent of --seed, which draws the trials)"),
    OPT_INT(trials_cli, min_utts, "min-utts", 1, 1 << 30,
            "Drop speakers with fewer utterances (target trials need 2)"),
    OPT_CHOICE(trials_cli, layout, "layout", SPK_LAYOUT_CHOICES,
               "Layout of <data-dir> (auto: wav.scp -> kaldi, *_nohash_* -> speech-commands, "
               "else voxceleb)"),
    OPT_STRING(trials_cli, write_dir, "write-dir",
               "Also write wav.scp, utt2spk, spk2utt of the chosen utterances here, keyed as "
               "the trials name them"),
};

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    trials_cli tc = {TRIAL_FMT_KALDI, 0, 10.0, 0, "0.7,0.1,0.2", 0, 2, SPK_LAYOUT_AUTO, ""};
    opt_group groups[] = {
        {"Trials", trials_opts, OPT_COUNT(trials_opts), &tc},
        CLI_COMMON_GROUP(&com),
    };
    opt_parser parser = {
        PROG, "[options] <data-dir> <trials-out>",
        "Writes a speaker-verification trial list over the speakers of a Kaldi data dir, "
        "VoxCeleb-style folder (<speaker>/<session>/<utt>.wav) or Speech Commands folder "
        "(speaker = the hash before _nohash_): every target pair (or --max-targets-per-spk per "
        "speaker) and --nontarget-ratio times as many nontarget pairs, deterministic by --seed. "
        "--split picks one part of the speaker-disjoint split by name hash.",
        groups, OPT_COUNT(groups), 2, 2};

    char *pos[8] = {0};
    char **posv = argc + 1 > 8 ? calloc((size_t)argc + 1, sizeof *posv) : pos;
    speaker_set all = {0}, sel = {0};
    sv_trial *trials = NULL;
    int *part = NULL;
    bool help = false;
    int n_pos = 0;
    ch_status st = CH_OK;
    if (!posv) {
        st = ch_fail(&err, CH_ERR_NOMEM, "cannot allocate the argument list");
        goto done;
    }
    if ((st = opt_parse(&parser, argc, argv, posv, &n_pos, &help, &err)) != CH_OK || help)
        goto done;
    int verbosity = cli_verbosity(&com);
    if ((st = cli_check_device(&com, false, &err)) != CH_OK)
        goto done;
    double fr[SPK_N_PARTS];
    if ((st = speaker_parse_fractions(tc.fractions, fr, &err)) != CH_OK) {
        ch_wrap(&err, st, "--split-fractions");
        goto done;
    }
    const char *dir = posv[0], *out = posv[1];
    if ((st = speaker_set_load(dir, tc.layout, tc.min_utts, &all, &err)) != CH_OK)
        goto done;
    if (all.n_dropped)
        log_msg(verbosity, 1, "%s: note: dropped %d speaker(s) with fewer than %d utterances\n",
                PROG, all.n_dropped, tc.min_utts);
    const speaker_set *use = &all;
    int counts[SPK_N_PARTS] = {0};
    if (tc.split > 0) {
        part = calloc((size_t)all.n_speakers, sizeof *part);
        if (!part) {
            st = ch_fail(&err, CH_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = speaker_set_split(&all, fr, (uint64_t)tc.split_seed, part, counts, &err)) !=
            CH_OK)
            goto done;
        if ((st = speaker_set_select(&all, part, tc.split - 1, &sel, &err)) != CH_OK)
            goto done;
        if (sel.n_speakers == 0) {
            st = ch_fail(&err, CH_ERR_FORMAT,
                         "%s: the %s part of the split has no speakers (%d speakers, fractions "
                         "%s; try other --split-fractions or --split-seed)",
                         dir, speaker_part_name(tc.split - 1), all.n_speakers, tc.fractions);
            goto done;
        }
        use = &sel;
    }
    trial_options to = {tc.max_targets, tc.nontarget_ratio, (uint64_t)com.seed};
    long n = 0, n_target = 0;
    if ((st = trial_generate(use, &to, &trials, &n, &n_target, &err)) != CH_OK) {
        ch_wrap(&err, st, "%s", dir);
        goto done;
    }
    /* the dir first: it is created, so "--write-dir exp/test exp/test/trials" works */
    if (tc.write_dir[0] &&
        (st = speaker_set_write_dir(use, tc.write_dir, tc.format == TRIAL_FMT_VOXCELEB,
                                    &err)) != CH_OK)
        goto done;
    if ((st = trial_write(out, use, trials, n, tc.format, &err)) != CH_OK)
        goto done;
    FILE *sum = strcmp(out, "-") ? stdout : stderr; /* never mix the summary into the list */
    if (verbosity >= 1)
        fprintf(stderr, "%s: %s layout, %d speakers (%s), %d utterances: %ld trials, %ld "
                "target, %ld nontarget\n", PROG, speaker_layout_name(use->layout),
                use->n_speakers, tc.split > 0 ? speaker_part_name(tc.split - 1) : "all",
                use->n_utts, n, n_target, n - n_target);
    if (com.json)
        fprintf(sum, "{\"layout\":\"%s\",\"split\":\"%s\",\"speakers\":%d,\"utterances\":%d,"
                "\"trials\":%ld,\"n_target\":%ld,\"n_nontarget\":%ld,\"split_speakers\":[%d,%d,"
                "%d],\"dropped_speakers\":%d}\n",
                speaker_layout_name(use->layout),
                tc.split > 0 ? speaker_part_name(tc.split - 1) : "all", use->n_speakers,
                use->n_utts, n, n_target, n - n_target, counts[0], counts[1], counts[2],
                all.n_dropped);

done:
    free(trials);
    free(part);
    speaker_set_free(&sel);
    speaker_set_free(&all);
    if (posv != pos)
        free(posv);
    if (st != CH_OK)
        return cli_report(PROG, st, &err);
    return 0;
}
