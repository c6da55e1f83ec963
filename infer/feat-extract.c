/* feat-extract.c — Kaldi's compute-{fbank,mfcc,spectrogram}-feats in one command, with
 * optional CMVN and energy VAD.
 *
 *   feat-extract [options] <wav-rspecifier> <feats-wspecifier>
 *   feat-extract [options] <audio-file>... <feats-wspecifier>
 *   e.g. feat-extract --feature-type=fbank --num-mel-bins=80 --dither=0 scp:wav.scp \
 *            ark,scp:feats.ark,feats.scp
 *
 * wav-rspecifier "scp:wav.scp": "utt-id path" lines, or "utt-id command |" (Kaldi's pipes,
 * run with the shell; its stdout is the audio). Plain audio files instead: key = basename
 * without extension. Audio at another rate is resampled to --sample-frequency, multi-channel
 * audio mixed down (or --channel); both are said once on stderr. Defaults follow the
 * Kaldi binary of the --feature-type (e.g. MFCC use-energy=true, dither=1 with Kaldi's exact
 * rand() sequence, so output matches an un-configured Kaldi run).
 *
 * Like Kaldi: a bad utterance gives one warning naming it and is skipped; "Done N out of M
 * utterances" at the end; exit 1 if more than --max-failures (default 0) failed.
 * Parallel: utterances are processed in chunks with OpenMP (--threads); output order and
 * values (dither included) do not depend on the thread count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/timer.h"
#include "frontend/audio.h"
#include "frontend/cmvn.h"
#include "frontend/features.h"
#include "frontend/kaldi_io.h"
#include "frontend/vad.h"
#include "frontend/vad_speech.h"
#include "infer/utt_report.h"

#define PROG "feat-extract"
#define CHUNK 64

typedef struct {
    int cmvn;         /* cmvn_mode */
    bool vad;
    int max_failures;
} extract_options;

static const opt_desc extract_opts[] = {
    OPT_CHOICE(extract_options, cmvn, "cmvn", "none|utt|sliding",
               "Normalisation: none, per-utterance CMVN, or Kaldi's sliding window "
               "(apply-cmvn-sliding; see --cmn-window, --norm-vars, --center)"),
    OPT_BOOL(extract_options, vad, "vad",
             "Drop unvoiced frames (Kaldi compute-vad on the log-energy, then "
             "select-voiced-frames; CMVN is computed over all frames first)"),
    OPT_INT(extract_options, max_failures, "max-failures", 0, 1 << 30,
            "Exit 1 if more utterances than this fail"),
};

typedef struct {
    const char *key;
    const char *path;
    audio_buf audio;
    long frames;
    feat_rand rand;   /* dither state at the start of this utterance */
    float *feats;     /* (rows, dim) */
    int rows;
    bool ok;
    char msg[1100];
} utt;

typedef struct {
    const feat_computer *fc;
    const feat_computer *energy_fc; /* VAD energy when the features have none in column 0 */
    feat_workspace **ws, **ews;     /* per thread */
    const extract_options *xo;
    const cmvn_options *co;
    const vad_options *vo;
    const audio_options *ao;
    int verbosity;
} ctx;

static void utt_fail(utt *u, const char *fmt, const char *detail)
{
    u->ok = false;
    snprintf(u->msg, sizeof u->msg, fmt, detail);
}

static void read_one(const ctx *c, utt *u)
{
    ch_error e;
    u->ok = true;
    if (audio_read(u->path, c->ao, &u->audio, &e) != CH_OK) {
        utt_fail(u, "%s", e.msg);
        return;
    }
    u->frames = feat_num_frames(c->fc, u->audio.n);
    if (u->frames <= 0) {
        char d[128];
        snprintf(d, sizeof d, "too short: %ld samples, one frame needs %d (--snip-edges=false "
                 "pads short files)", u->audio.n, feat_window_size(c->fc));
        utt_fail(u, "%s", d);
    }
}

static void compute_one(const ctx *c, utt *u, int tid)
{
    ch_error e;
    int dim = feat_dim(c->fc);
    float *y = malloc(sizeof(float) * (size_t)u->frames * (size_t)dim);
    float *voiced = NULL, *tmp = NULL, *energy = NULL;
    if (!y) {
        utt_fail(u, "%s", "out of memory");
        return;
    }
    feat_rand r = u->rand;
    if (feat_compute(c->fc, c->ws[tid], &r, u->audio.samples, u->audio.n, y, &e) != CH_OK) {
        utt_fail(u, "%s", e.msg);
        free(y);
        return;
    }
    int T = (int)u->frames;
    if (c->xo->vad) {
        voiced = malloc(sizeof(float) * (size_t)T);
        const float *ecol = y;
        int estride = dim;
        if (c->energy_fc) {
            int edim = feat_dim(c->energy_fc);
            energy = malloc(sizeof(float) * (size_t)T * (size_t)edim);
            feat_rand r2 = u->rand; /* the same dither noise as the features */
            if (!energy || feat_compute(c->energy_fc, c->ews[tid], &r2, u->audio.samples,
                                        u->audio.n, energy, &e) != CH_OK) {
                utt_fail(u, "%s", "VAD energy computation failed");
                goto out;
            }
            ecol = energy;
            estride = edim;
        }
        int nv;
        if (!voiced || vad_compute(c->vo, ecol, T, estride, voiced, &nv, &e) != CH_OK) {
            utt_fail(u, "%s", "VAD failed");
            goto out;
        }
        if (nv == 0) {
            utt_fail(u, "%s", "no frames were judged voiced by the VAD");
            goto out;
        }
    }
    if (c->xo->cmvn == CMVN_UTT) {
        if (cmvn_apply_utt(y, T, dim, c->co->norm_vars, NULL, &e) != CH_OK) {
            utt_fail(u, "%s", e.msg);
            goto out;
        }
    } else if (c->xo->cmvn == CMVN_SLIDING) {
        tmp = malloc(sizeof(float) * (size_t)T * (size_t)dim);
        if (!tmp || cmvn_apply_sliding(c->co, y, tmp, T, dim, NULL, &e) != CH_OK) {
            utt_fail(u, "%s", tmp ? e.msg : "out of memory");
            goto out;
        }
        float *s = y;
        y = tmp;
        tmp = s;
    }
    int rows = T;
    if (voiced) {
        rows = 0;
        for (int t = 0; t < T; t++)
            if (voiced[t] != 0.0f) {
                if (rows != t)
                    memmove(y + (size_t)rows * dim, y + (size_t)t * dim, sizeof(float) * dim);
                rows++;
            }
    }
    u->feats = y;
    u->rows = rows;
    y = NULL;
out:
    free(y);
    free(tmp);
    free(voiced);
    free(energy);
}

static const char *base_key(const char *path, char *buf, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(buf, n, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = 0;
    return buf;
}

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    feat_options fo = feat_options_default(FEAT_FBANK);
    audio_options ao = audio_options_default();
    extract_options xo = {CMVN_NONE, false, 0};
    cmvn_options co = cmvn_options_default();
    vad_options vo = vad_options_default();

    /* the audio table without its --sample-frequency (the feature option sets the rate) */
    opt_desc audio_tab[16];
    size_t n_audio = 0;
    for (size_t i = 0; i < audio_n_opts && n_audio < 16; i++)
        if (strcmp(audio_opts[i].name, "sample-frequency") != 0)
            audio_tab[n_audio++] = audio_opts[i];

    opt_group groups[] = {
        {"Features (Kaldi names and defaults)", feat_opts, feat_n_opts, &fo},
        {"Audio", audio_tab, n_audio, &ao},
        {"Extraction", extract_opts, OPT_COUNT(extract_opts), &xo},
        {"CMVN", cmvn_opts, cmvn_n_opts, &co},
        {"VAD", vad_opts, vad_n_opts, &vo},
        CLI_COMMON_GROUP(&com),
    };
    size_t n_groups = sizeof groups / sizeof *groups;
    opt_parser parser = {
        PROG,
        "[options] <wav-rspecifier> <feats-wspecifier>\n"
        "       " PROG " [options] <audio-file>... <feats-wspecifier>",
        "Computes Kaldi-exact fbank, MFCC or spectrogram features of every utterance of a "
        "wav.scp (scp:wav.scp) or of audio files, optionally with CMVN and energy VAD, and "
        "writes a Kaldi archive, e.g. ark,scp:feats.ark,feats.scp or ark,t:- for text on stdout. "
        "Audio at another rate is resampled and multi-channel audio mixed down (said once on "
        "stderr); a wav.scp entry ending in '|' is a shell command writing the audio.",
        groups, n_groups, 2, -1};

    /* Everything below is released at `done`, whatever path leads there. */
    char **pos = NULL;
    scp_list scp = {0};
    int n_utt = 0;
    utt *utts = NULL;
    char (*keys)[256] = NULL;
    feat_computer *fc = NULL, *efc = NULL;
    kaldi_writer *w = NULL;
    feat_workspace **ws = NULL, **ews = NULL;
    int threads = 1, done = 0, failed = 0, verbosity = 1;
    utt_report rep = {0};
    bool help = false;
    ch_status st = CH_OK;

    pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) {
        st = ch_fail(&err, CH_ERR_NOMEM, "cannot allocate the argument list");
        goto done;
    }
    int n_pos = 0;
    st = opt_parse(&parser, argc, argv, pos, &n_pos, &help, &err);
    if (st == CH_OK && !help) {
        /* defaults depend on the type (MFCC use-energy=true): parse again on its defaults */
        int type = fo.feature_type;
        fo = feat_options_default(type);
        ao = audio_options_default();
        xo = (extract_options){CMVN_NONE, false, 0};
        co = cmvn_options_default();
        vo = vad_options_default();
        com = cli_common_default();
        st = opt_parse(&parser, argc, argv, pos, &n_pos, &help, &err);
    }
    if (st != CH_OK || help)
        goto done;
    verbosity = cli_verbosity(&com);
    utt_report_init(&rep, PROG, verbosity);
    ao.target_rate_hz = (int)fo.samp_freq_hz;
    if ((st = cli_check_device(&com, false, &err)) != CH_OK)
        goto done;
    threads = cli_threads(&com);
    omp_set_num_threads(threads);

    /* the utterance list */
    const char *wspec = pos[n_pos - 1];
    if (n_pos == 2 && strncmp(pos[0], "scp:", 4) == 0) {
        if ((st = scp_list_read(pos[0] + 4, &scp, &err)) != CH_OK)
            goto done;
        n_utt = scp.n;
        if (n_utt == 0) { /* Kaldi's compute-*-feats also fail when nothing was done */
            st = ch_fail(&err, CH_ERR_FORMAT, "%s: no utterances (empty list)", pos[0] + 4);
            goto done;
        }
        utts = ch_calloc(&err, (size_t)n_utt, sizeof *utts, pos[0] + 4);
        if (!utts) {
            st = CH_ERR_NOMEM;
            goto done;
        }
        for (int i = 0; i < n_utt; i++) {
            utts[i].key = scp.entries[i].key;
            utts[i].path = scp.entries[i].value;
        }
    } else {
        if (strncmp(pos[0], "ark:", 4) == 0 || strncmp(pos[0], "ark,", 4) == 0) {
            st = ch_fail(&err, CH_ERR_USAGE,
                         "%s: wav archives are not supported; give scp:wav.scp or audio files",
                         pos[0]);
            goto done;
        }
        n_utt = n_pos - 1;
        utts = ch_calloc(&err, (size_t)n_utt, sizeof *utts, "utterance list");
        keys = ch_calloc(&err, (size_t)n_utt, sizeof *keys, "utterance list");
        if (!utts || !keys) {
            st = CH_ERR_NOMEM;
            goto done;
        }
        for (int i = 0; i < n_utt; i++) {
            utts[i].path = pos[i];
            utts[i].key = base_key(pos[i], keys[i], sizeof keys[i]);
        }
    }

    if ((st = feat_computer_create(&fo, &fc, &err)) != CH_OK)
        goto done;
    bool energy_in_col0 = (fo.feature_type == FEAT_MFCC && fo.use_energy && !fo.htk_compat) ||
                          (fo.feature_type == FEAT_FBANK && fo.use_energy && !fo.htk_compat) ||
                          fo.feature_type == FEAT_SPECTROGRAM;
    if (xo.vad && !energy_in_col0) {
        /* Kaldi's VAD reads MFCC log-energy: compute the same (raw) log-energy separately */
        if ((st = vad_energy_computer_create(&fo, &efc, &err)) != CH_OK)
            goto done;
    }
    if ((st = kaldi_writer_open(wspec, &w, &err)) != CH_OK)
        goto done;
    ws = ch_calloc(&err, (size_t)threads, sizeof *ws, "workspaces");
    ews = ch_calloc(&err, (size_t)threads, sizeof *ews, "workspaces");
    if (!ws || !ews) {
        st = CH_ERR_NOMEM;
        goto done;
    }
    for (int t = 0; t < threads; t++)
        if ((st = feat_workspace_create(fc, &ws[t], &err)) != CH_OK ||
            (efc && (st = feat_workspace_create(efc, &ews[t], &err)) != CH_OK))
            goto done;
    ctx c = {fc, efc, ws, ews, &xo, &co, &vo, &ao, verbosity};
    feat_rand rand_state; /* one Kaldi process: glibc rand() never seeded */
    feat_rand_init(&rand_state, 1);

    progress prog;
    progress_init(&prog, PROG, "utt", n_utt, verbosity >= 1);
    double t0 = timer_now(), audio_s = 0;
    long frames_out = 0;
    for (int c0 = 0; c0 < n_utt && st == CH_OK; c0 += CHUNK) {
        int c1 = c0 + CHUNK < n_utt ? c0 + CHUNK : n_utt;
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = c0; i < c1; i++)
            read_one(&c, &utts[i]);
        /* dither: hand each utterance the rand() state a sequential run would reach */
        for (int i = c0; i < c1; i++) {
            utts[i].rand = rand_state;
            if (utts[i].ok && fo.dither != 0.0f)
                feat_rand_skip(&rand_state, utts[i].frames);
        }
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = c0; i < c1; i++)
            if (utts[i].ok)
                compute_one(&c, &utts[i], omp_get_thread_num());
        for (int i = c0; i < c1; i++) {
            utt *u = &utts[i];
            if (st != CH_OK) {
                /* a write failed: release the rest of the chunk */
            } else if (u->ok) {
                st = kaldi_write_matrix(w, u->key, u->feats, u->rows, feat_dim(fc), &err);
                if (st == CH_OK) {
                    done++;
                    frames_out += u->rows;
                    audio_s += (double)u->audio.n / fo.samp_freq_hz;
                    utt_report_converted(&rep, u->key, u->audio.resampled,
                                         u->audio.file_rate_hz, u->audio.rate_hz,
                                         u->audio.mixed_down, u->audio.file_channels);
                }
            } else {
                failed++;
                utt_report_failure(&rep, u->key, u->path, u->msg);
            }
            free(u->feats);
            u->feats = NULL;
            audio_free(&u->audio);
        }
        progress_update(&prog, c1);
    }
    progress_finish(&prog);
    double secs = timer_now() - t0;
    ch_status cst = kaldi_writer_close(w, st == CH_OK ? &err : NULL);
    w = NULL;
    if (st == CH_OK)
        st = cst;
    if (st != CH_OK)
        goto done;

    utt_report_summary(&rep, (int)fo.samp_freq_hz);
    log_msg(verbosity, 1, "%s: Done %d out of %d utterances (%d failed), %.1f s of audio in "
            "%.2f s\n", PROG, done, n_utt, failed, audio_s, secs);
    if (com.json)
        printf("{\"done\":%d,\"total\":%d,\"failed\":%d,\"frames\":%ld,\"dim\":%d,"
               "\"feature_type\":\"%s\",\"audio_s\":%.3f,\"seconds\":%.3f,\"x_real_time\":%.1f,"
               "\"threads\":%d}\n",
               done, n_utt, failed, frames_out, feat_dim(fc), feat_type_name(fo.feature_type),
               audio_s, secs, secs > 0 ? audio_s / secs : 0.0, threads);

done:
    kaldi_writer_close(w, NULL); /* only on an early error: discards the partial ark */
    for (int t = 0; ws && t < threads; t++)
        feat_workspace_free(ws[t]);
    for (int t = 0; ews && t < threads; t++)
        feat_workspace_free(ews[t]);
    free(ws);
    free(ews);
    feat_computer_free(fc);
    feat_computer_free(efc);
    for (int i = 0; utts && i < n_utt; i++) {
        free(utts[i].feats);
        audio_free(&utts[i].audio);
    }
    free(utts);
    free(keys);
    scp_list_free(&scp);
    free(pos);
    if (st != CH_OK)
        return cli_report(PROG, st, &err);
    if (help)
        return 0;
    return utt_report_exit_code(&rep, failed, n_utt, xo.max_failures);
}
