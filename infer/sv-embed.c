/* sv-embed.c — speaker embeddings of utterances with a trained speaker model (tdnn, resnet).
 *
 *   sv-embed [options] <model> <wav-rspecifier> <emb-wspecifier>
 *   sv-embed [options] <model> list:<paths.txt> <emb-wspecifier>
 *   sv-embed [options] <model> <audio-file>... <emb-wspecifier>
 *   e.g. sv-embed exp/tdnn.ckpt scp:data/test/wav.scp ark,scp:emb.ark,emb.scp
 *
 * wav-rspecifier "scp:wav.scp": "utt-id path" lines (a path ending in '|' is a shell command
 * writing the audio). "list:FILE": one audio path per line, the key is the path as written
 * (what a VoxCeleb trial list names; paths are tried as written, then relative to the list's
 * folder). Plain audio files: the key is the path as given. Output: one Kaldi float vector per
 * utterance (binary "BFV"; ark, ark,scp or ark,t), readable by sv-score, Kaldi and kaldi_io.
 *
 * Features follow the checkpoint's frontend (dither forced to 0); long audio is cut into
 * --chunk-s chunks every --chunk-hop-s whose embeddings are averaged (infer/sv_embed_lib.h
 * has the exact rules). --vad embeds only the voiced frames' samples (Kaldi's energy VAD); an
 * utterance with too little speech is embedded whole and counted in one line at the end.
 * Audio at another rate is resampled to 16 kHz, multi-channel audio mixed down (or --channel);
 * both said once on stderr.
 * Like Kaldi: a bad utterance gives one warning naming it and is skipped; "done N of M" at the
 * end; exit 1 if more than --max-failures (default 0) failed. Threads (--threads) work on
 * different utterances, each with its own model copy, so the output does not depend on them.
 */
#include <cblas.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/cli.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/timer.h"
#include "frontend/audio.h"
#include "frontend/kaldi_io.h"
#include "infer/sv_embed_lib.h"
#include "infer/utt_report.h"

#define PROG "sv-embed"

typedef struct {
    int max_failures;
} run_options;

static const opt_desc run_opts[] = {
    OPT_INT(run_options, max_failures, "max-failures", 0, 1 << 30,
            "Exit 1 if more utterances than this fail"),
};

typedef struct {
    const char *key;
    const char *path;
    float *emb;       /* (dim) */
    double audio_s;
    int chunks;
    double speech_s;  /* what was embedded (the voiced part with --vad) */
    bool resampled, mixed, vad_fallback;
    int file_rate, file_channels;
    bool ok;
    char msg[1200];
} utt;

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s))
            return true;
    return false;
}

static void embed_one(utt *u, sv_worker *w, const sv_model_file *mf, const sv_embed_options *eo,
                      const audio_options *ao)
{
    ch_error e;
    u->ok = false;
    if (has_space(u->key)) {
        snprintf(u->msg, sizeof u->msg, "the key has whitespace (not a valid Kaldi key)");
        return;
    }
    audio_buf a;
    if (audio_read(u->path, ao, &a, &e) != CH_OK) {
        snprintf(u->msg, sizeof u->msg, "%s", e.msg);
        return;
    }
    u->audio_s = (double)a.n / a.rate_hz;
    u->resampled = a.resampled;
    u->mixed = a.mixed_down;
    u->file_rate = a.file_rate_hz;
    u->file_channels = a.file_channels;
    sv_embed_info info;
    if (sv_embed_utterance(w, mf, eo, a.samples, a.n, u->emb, &info, &e) != CH_OK)
        snprintf(u->msg, sizeof u->msg, "%s", e.msg);
    else
        u->ok = true;
    u->chunks = info.chunks;
    u->speech_s = (double)info.n_used / SV_RATE_HZ;
    u->vad_fallback = info.vad_fallback;
    audio_free(&a);
}

/* "list:FILE": one path per line (blank lines and '#' comments skipped). Keys and paths point
 * into *storage (owned by the caller, like the arrays). */
static ch_status read_list(const char *file, char **storage, char ***keys, char ***paths,
                           int *n, ch_error *err)
{
    size_t len;
    CH_TRY(file_read_all(file, storage, &len, err));
    if (memchr(*storage, 0, len))
        return ch_fail(err, CH_ERR_FORMAT, "%s: binary content (not a list of paths)", file);
    int cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += (*storage)[i] == '\n';
    *keys = calloc((size_t)cap, sizeof **keys);
    *paths = calloc((size_t)cap, sizeof **paths);
    if (!*keys || !*paths)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", file);
    const char *slash = strrchr(file, '/');
    size_t dl = slash ? (size_t)(slash - file) : 0;
    int cnt = 0, line = 0;
    *n = 0; /* kept current, so the caller frees what was made even after an error */
    char *save = NULL;
    for (char *l = strtok_r(*storage, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        size_t ln = strlen(l);
        while (ln && isspace((unsigned char)l[ln - 1]))
            l[--ln] = 0;
        while (*l && isspace((unsigned char)*l))
            l++;
        if (!*l || *l == '#')
            continue;
        (*keys)[cnt] = l;
        (*paths)[cnt] = NULL;
        if (l[0] != '/' && dl && !path_exists(l)) {
            size_t pl = dl + 1 + strlen(l) + 1;
            char *p = malloc(pl);
            if (!p)
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", file);
            snprintf(p, pl, "%.*s/%s", (int)dl, file, l);
            (*paths)[cnt] = p; /* owned: freed by the caller where it differs from the key */
        }
        *n = ++cnt;
    }
    return CH_OK;
}

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    sv_embed_options eo = sv_embed_options_default();
    audio_options ao = audio_options_default();
    run_options ro = {0};

    /* the audio table without --sample-frequency: the models run at 16 kHz */
    opt_desc audio_tab[16];
    size_t n_audio = 0;
    for (size_t i = 0; i < audio_n_opts && n_audio < 16; i++)
        if (strcmp(audio_opts[i].name, "sample-frequency") != 0)
            audio_tab[n_audio++] = audio_opts[i];
    opt_group groups[] = {
        {"Embedding", sv_embed_opts, sv_embed_n_opts, &eo},
        {"VAD (with --vad)", vad_opts, vad_n_opts, &eo.vad_o},
        {"Audio", audio_tab, n_audio, &ao},
        {"Run", run_opts, OPT_COUNT(run_opts), &ro},
        CLI_COMMON_GROUP(&com),
    };
    opt_parser parser = {
        PROG,
        "[options] <model> <wav-rspecifier> <emb-wspecifier>\n"
        "       " PROG " [options] <model> list:<paths.txt> <emb-wspecifier>\n"
        "       " PROG " [options] <model> <audio-file>... <emb-wspecifier>",
        "Computes one speaker embedding per utterance with a speaker model checkpoint (tdnn or "
        "resnet, from sv-train) and writes them as Kaldi float vectors (e.g. "
        "ark,scp:emb.ark,emb.scp, or ark,t:- for text). Input: scp:wav.scp (key = utterance "
        "id), list:FILE (one path per line, key = the path as written, as VoxCeleb trial lists "
        "name files) or audio files (key = the path as given). Features come from the "
        "checkpoint's frontend (dither 0); audio longer than --chunk-s is embedded in chunks "
        "whose embeddings are averaged; --vad first drops the frames Kaldi's energy VAD calls "
        "silent.",
        groups, OPT_COUNT(groups), 3, -1};

    char **pos = NULL, *list_storage = NULL, **list_keys = NULL, **list_paths = NULL;
    int n_list = 0;
    scp_list scp = {0};
    sv_model_file mf;
    memset(&mf, 0, sizeof mf);
    sv_worker *workers = NULL;
    utt *utts = NULL;
    float *embs = NULL;
    kaldi_writer *w = NULL;
    int n_utt = 0, threads = 1, done = 0, failed = 0, verbosity = 1;
    utt_report rep = {0};
    bool help = false;
    ch_status st = CH_OK;

    pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) {
        st = ch_fail(&err, CH_ERR_NOMEM, "cannot allocate the argument list");
        goto done;
    }
    int n_pos = 0;
    if ((st = opt_parse(&parser, argc, argv, pos, &n_pos, &help, &err)) != CH_OK || help)
        goto done;
    verbosity = cli_verbosity(&com);
    utt_report_init(&rep, PROG, verbosity);
    ao.target_rate_hz = SV_RATE_HZ;
    if (eo.chunk_s > 0 && eo.hop_s > eo.chunk_s) {
        st = ch_fail(&err, CH_ERR_USAGE, "--chunk-hop-s %g is longer than --chunk-s %g (audio "
                     "between chunks would be skipped)", (double)eo.hop_s, (double)eo.chunk_s);
        goto done;
    }
    if ((st = cli_check_device(&com, false, &err)) != CH_OK)
        goto done;
    threads = cli_threads(&com);

    /* the utterance list */
    const char *mpath = pos[0], *in = pos[1], *wspec = pos[n_pos - 1];
    if (strncmp(in, "ark:", 4) == 0 || strncmp(in, "ark,", 4) == 0) {
        st = ch_fail(&err, CH_ERR_USAGE,
                     "%s: wav archives are not supported; give scp:wav.scp, list:FILE or audio "
                     "files", in);
        goto done;
    }
    bool is_scp = n_pos == 3 && strncmp(in, "scp:", 4) == 0;
    bool is_list = n_pos == 3 && strncmp(in, "list:", 5) == 0;
    if (is_scp) {
        if ((st = scp_list_read(in + 4, &scp, &err)) != CH_OK)
            goto done;
        n_utt = scp.n;
    } else if (is_list) {
        if ((st = read_list(in + 5, &list_storage, &list_keys, &list_paths, &n_list, &err)) !=
            CH_OK)
            goto done;
        n_utt = n_list;
    } else {
        n_utt = n_pos - 2;
    }
    if (n_utt == 0) {
        st = ch_fail(&err, CH_ERR_FORMAT, "%s: no utterances (empty list)",
                     is_scp ? in + 4 : in + 5);
        goto done;
    }
    utts = ch_calloc(&err, (size_t)n_utt, sizeof *utts, "utterance list");
    if (!utts) {
        st = CH_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n_utt; i++) {
        if (is_scp) {
            utts[i].key = scp.entries[i].key;
            utts[i].path = scp.entries[i].value;
        } else if (is_list) {
            utts[i].key = list_keys[i];
            utts[i].path = list_paths[i] ? list_paths[i] : list_keys[i];
        } else {
            utts[i].key = utts[i].path = pos[1 + i];
        }
    }

    /* the model (checked before the output is opened, so a bad model leaves no file) */
    if ((st = sv_model_file_load(&mf, mpath, &err)) != CH_OK)
        goto done;
    const int chunk = threads * 8 > 64 ? threads * 8 : 64;
    embs = ch_calloc(&err, (size_t)chunk * (size_t)mf.dim, sizeof *embs, "embeddings");
    workers = ch_calloc(&err, (size_t)threads, sizeof *workers, "workers");
    if (!embs || !workers) {
        st = CH_ERR_NOMEM;
        goto done;
    }
    for (int t = 0; t < threads; t++)
        if ((st = sv_worker_create(&workers[t], &mf, &err)) != CH_OK)
            goto done;
    if ((st = kaldi_writer_open(wspec, &w, &err)) != CH_OK)
        goto done;

    /* Parallel over utterances, one model per thread: nested regions inside the layers run
     * single-threaded, and BLAS too, so an utterance is computed the same way at any
     * --threads. */
    omp_set_num_threads(threads); /* --threads 1: the layers' own regions get 1 thread too */
    omp_set_max_active_levels(1);
    openblas_set_num_threads(1);
    progress prog;
    progress_init(&prog, PROG, "utt", n_utt, verbosity >= 1);
    double t0 = timer_now(), audio_s = 0, speech_s = 0;
    long chunks = 0;
    int vad_fallback = 0;
    for (int c0 = 0; c0 < n_utt && st == CH_OK; c0 += chunk) {
        int c1 = c0 + chunk < n_utt ? c0 + chunk : n_utt;
        for (int i = c0; i < c1; i++)
            utts[i].emb = embs + (size_t)(i - c0) * mf.dim;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int i = c0; i < c1; i++)
            embed_one(&utts[i], &workers[omp_get_thread_num()], &mf, &eo, &ao);
        for (int i = c0; i < c1 && st == CH_OK; i++) {
            utt *u = &utts[i];
            if (u->ok) {
                if ((st = kaldi_write_vector(w, u->key, u->emb, mf.dim, &err)) != CH_OK)
                    break;
                done++;
                audio_s += u->audio_s;
                chunks += u->chunks;
                speech_s += u->speech_s;
                vad_fallback += u->vad_fallback;
                utt_report_converted(&rep, u->key, u->resampled, u->file_rate, SV_RATE_HZ,
                                     u->mixed, u->file_channels);
            } else {
                failed++;
                utt_report_failure(&rep, u->key, u->path, u->msg);
            }
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
    utt_report_summary(&rep, SV_RATE_HZ);
    if (vad_fallback)
        log_msg(verbosity, 1, "%s: %d utterance(s) had too little speech for VAD (under "
                "--min-s %g s voiced); used whole\n", PROG, vad_fallback, (double)eo.min_s);
    if (eo.vad)
        log_msg(verbosity, 1, "%s: VAD kept %.1f s of %.1f s\n", PROG, speech_s, audio_s);
    log_msg(verbosity, 1, "%s: done %d of %d utterances (%d failed), %ld chunks, %.1f s of "
            "audio in %.2f s\n", PROG, done, n_utt, failed, chunks, audio_s, secs);
    if (com.json)
        printf("{\"done\":%d,\"total\":%d,\"failed\":%d,\"dim\":%d,\"kind\":\"%s\","
               "\"chunks\":%ld,\"audio_s\":%.3f,\"seconds\":%.3f,\"x_real_time\":%.1f,"
               "\"threads\":%d,\"vad\":%s,\"speech_s\":%.3f,\"vad_fallback\":%d}\n",
               done, n_utt, failed, mf.dim, mf.ck.kind, chunks, audio_s, secs,
               secs > 0 ? audio_s / secs : 0.0, threads, eo.vad ? "true" : "false", speech_s,
               vad_fallback);

done:
    kaldi_writer_close(w, NULL); /* only on an early error: discards the partial ark */
    for (int t = 0; workers && t < threads; t++)
        sv_worker_free(&workers[t]);
    free(workers);
    free(embs);
    sv_model_file_free(&mf);
    free(utts);
    for (int i = 0; list_paths && i < n_list; i++)
        free(list_paths[i]);
    free(list_paths);
    free(list_keys);
    free(list_storage);
    scp_list_free(&scp);
    free(pos);
    if (st != CH_OK)
        return cli_report(PROG, st, &err);
    if (help)
        return 0;
    return utt_report_exit_code(&rep, failed, n_utt, ro.max_failures);
}
