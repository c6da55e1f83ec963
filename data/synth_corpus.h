/* synth_corpus.h — the corpus synthesiser behind `data-synth` (DESIGN.md §3):
 *
 * KWS corpus (Speech Commands layout, data/speech_commands.h reads it):
 *   <dir>/<word>/<speaker>_nohash_<k>.wav   1-s 16 kHz 16-bit clips of the ten command words
 *                                           and ten unknown words, <speaker> = 8 hex digits
 *   <dir>/_background_noise_/{white,pink,brown,hum,babble}_noise.wav
 *   <dir>/validation_list.txt, testing_list.txt   whole speakers (~10 % each, >= 1 each)
 * Speaker corpus (Kaldi data dir, data/kaldi_dir.h reads it):
 *   <dir>/wav/<spk>/<utt>.wav, wav.scp (absolute paths), utt2spk, spk2utt,
 *   <dir>/trials ("utt1 utt2 target|nontarget", half target, utt1 != utt2),
 *   <dir>/trials_voxceleb.txt ("1 <spk>/<utt>.wav <spk>/<utt>.wav", paths relative to wav/).
 *
 * A synthetic speaker is an espeak-ng voice + variant with base pitch, pitch range, rate and
 * word gap drawn from the seed; each utterance jitters pitch and rate, gets a random gain and
 * position in the clip, additive noise (white/pink/brown/hum) at a random SNR, and sometimes an
 * echo. Generation is serial (espeak-ng is not thread-safe) and deterministic: the same options
 * and seed give byte-identical files.
 */
#ifndef CHORUS_SYNTH_CORPUS_H
#define CHORUS_SYNTH_CORPUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"

typedef struct {
    char kws_dir[4096];      /* --kws: write the KWS corpus here ("" = no) */
    char sv_dir[4096];       /* --speakers: write the speaker corpus here ("" = no) */
    int kws_speakers;
    int clips_per_word;      /* clips of each word per speaker */
    int sv_speakers;
    int utts_per_speaker;
    int trials;
    double noise_seconds;    /* length of each _background_noise_ file */
    double snr_min_db;       /* additive noise SNR range */
    double snr_max_db;
    double echo_probability;
    bool force;              /* write into a non-empty folder */
} synth_options;

synth_options synth_options_default(void);
extern const opt_desc synth_opts[];
extern const size_t synth_n_opts;

/* What was written (for the --json summary). */
typedef struct {
    long kws_clips;
    int kws_words;
    int kws_speakers;
    int noise_files;
    long sv_utts;
    int sv_speakers;
    long trials;
    long trials_target;
} synth_summary;

/* Writes the corpora the options ask for. verbosity as cli_verbosity (progress at >= 1).
 * Errors: out folder not creatable/writable or not empty without force (IO), no espeak-ng
 * (UNSUPPORTED), options out of range (USAGE, e.g. snr_min > snr_max, too few speakers for
 * trials). */
ch_status synth_run(const synth_options *o, uint64_t seed, int verbosity, synth_summary *sum,
                    ch_error *err);

#endif
