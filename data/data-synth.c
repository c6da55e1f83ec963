/* data-synth.c — `data-synth [options] --kws <out-dir> | --speakers <out-dir>`: synthesises a
 * Speech Commands-layout KWS corpus and/or a multi-speaker Kaldi data dir with trials from
 * espeak-ng voices, perturbations and noise, deterministic by --seed (data/synth_corpus.h). */
#include <inttypes.h>
#include <stdio.h>

#include "common/cli.h"
#include "common/options.h"
#include "data/synth_corpus.h"

int main(int argc, char **argv)
{
    const char *prog = "data-synth";
    synth_options so = synth_options_default();
    cli_common com = cli_common_default();
    opt_group groups[] = {{"Corpus synthesis", synth_opts, synth_n_opts, &so},
                          CLI_COMMON_GROUP(&com)};
    opt_parser p = {prog, "[options] --kws <out-dir> | --speakers <out-dir>",
                    "Synthesises a Speech Commands-layout keyword corpus (--kws) and/or a "
                    "multi-speaker Kaldi data dir with trials (--speakers) from espeak-ng voices "
                    "with pitch/speed jitter, random gain and placement, additive noise and echo. "
                    "The same options and --seed give byte-identical files.",
                    groups, OPT_COUNT(groups), 0, 0};
    char *pos[argc > 0 ? argc : 1];
    int n_pos;
    bool help = false;
    ch_error err;
    ch_status st = opt_parse(&p, argc, argv, pos, &n_pos, &help, &err);
    if (st != CH_OK)
        return cli_report(prog, st, &err);
    if (help)
        return 0;
    st = cli_check_device(&com, false, &err);
    if (st != CH_OK)
        return cli_report(prog, st, &err);
    synth_summary sum;
    st = synth_run(&so, (uint64_t)com.seed, cli_verbosity(&com), &sum, &err);
    if (st != CH_OK)
        return cli_report(prog, st, &err);
    if (com.json)
        printf("{\"kws_dir\":\"%s\",\"kws_clips\":%ld,\"kws_words\":%d,\"kws_speakers\":%d,"
               "\"noise_files\":%d,\"sv_dir\":\"%s\",\"sv_utts\":%ld,\"sv_speakers\":%d,"
               "\"trials\":%ld,\"trials_target\":%ld,\"seed\":%" PRId64 "}\n",
               so.kws_dir, sum.kws_clips, sum.kws_words, sum.kws_speakers, sum.noise_files,
               so.sv_dir, sum.sv_utts, sum.sv_speakers, sum.trials, sum.trials_target, com.seed);
    else if (cli_verbosity(&com) >= 1) {
        if (so.kws_dir[0])
            fprintf(stderr, "%s: %ld clips of %d words by %d speakers + %d noise files in %s\n",
                    prog, sum.kws_clips, sum.kws_words, sum.kws_speakers, sum.noise_files,
                    so.kws_dir);
        if (so.sv_dir[0])
            fprintf(stderr, "%s: %ld utterances of %d speakers, %ld trials in %s\n", prog,
                    sum.sv_utts, sum.sv_speakers, sum.trials, so.sv_dir);
    }
    return 0;
}
