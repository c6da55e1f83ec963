/* sv_embed_lib.c — speaker frontend text, speaker checkpoint loading and per-utterance
 * embedding (contract in sv_embed_lib.h). */
#include "infer/sv_embed_lib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool cmn;
    float chunk_s;
} sv_fe_extra;

static const opt_desc sv_fe_opts[] = {
    OPT_BOOL(sv_fe_extra, cmn, "sv-cmn", "Per-chunk mean normalisation"),
    OPT_FLOAT(sv_fe_extra, chunk_s, "sv-chunk-s", 0.05, 3600, "Training chunk length, seconds"),
};

sv_frontend sv_frontend_default(void)
{
    sv_frontend f;
    f.feat = feat_options_default(FEAT_FBANK);
    f.feat.num_mel_bins = 80;
    f.cmn = true;
    f.chunk_s = 2.0f;
    return f;
}

char *sv_frontend_to_text(const sv_frontend *f)
{
    sv_frontend copy = *f;
    sv_fe_extra ex = {f->cmn, f->chunk_s};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &copy.feat},
                     {"sv", sv_fe_opts, OPT_COUNT(sv_fe_opts), &ex}};
    return opt_values_text(g, 2);
}

ch_status sv_frontend_from_text(sv_frontend *f, const char *text, const char *path,
                                ch_error *err)
{
    const char *t = text ? text : "";
    /* say what the file is before complaining about a key */
    if (!strstr(t, "sv-cmn=")) {
        if (strstr(t, "kws-"))
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: a keyword-spotting checkpoint, not a speaker-embedding model",
                           path);
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: not a speaker-embedding checkpoint (no sv frontend options)", path);
    }
    sv_frontend r = sv_frontend_default();
    r.feat = feat_options_default(FEAT_FBANK);
    sv_fe_extra ex = {r.cmn, r.chunk_s};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &r.feat},
                     {"sv", sv_fe_opts, OPT_COUNT(sv_fe_opts), &ex}};
    char where[4200];
    snprintf(where, sizeof where, "%s: frontend", path);
    CH_TRY(opt_set_lines(g, 2, t, where, err));
    ch_error e2;
    if (feat_options_check(&r.feat, &e2) != CH_OK)
        return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: %s", path, e2.msg);
    if (r.feat.feature_type == FEAT_SPECTROGRAM || (int)r.feat.samp_freq_hz != SV_RATE_HZ)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: frontend: unsupported feature type or rate (fbank or MFCC at %d Hz)",
                       path, SV_RATE_HZ);
    r.cmn = ex.cmn;
    r.chunk_s = ex.chunk_s;
    *f = r;
    return CH_OK;
}

sv_embed_options sv_embed_options_default(void)
{
    sv_embed_options o = {3.0f, 1.5f, 0.1f, SV_AVG_NORMALIZED, 16, false,
                          vad_options_default()};
    return o;
}

const opt_desc sv_embed_opts[] = {
    OPT_FLOAT(sv_embed_options, chunk_s, "chunk-s", 0, 3600,
              "Long audio is cut into chunks of this many seconds whose embeddings are "
              "averaged (0 = the whole utterance at once)"),
    OPT_FLOAT(sv_embed_options, hop_s, "chunk-hop-s", 0.01, 3600,
              "Hop between chunk starts, seconds (the last chunk ends at the end)"),
    OPT_FLOAT(sv_embed_options, min_s, "min-s", 0, 3600,
              "Shorter utterances fail (at least 2 feature frames are always needed)"),
    OPT_CHOICE(sv_embed_options, average, "average", SV_AVERAGE_CHOICES,
               "Chunk averaging: of L2-normalised chunk embeddings, or of the raw ones"),
    OPT_INT(sv_embed_options, max_batch, "max-batch", 1, 4096,
            "Chunks per forward pass (memory vs speed)"),
    OPT_BOOL(sv_embed_options, vad, "vad",
             "Embed only the voiced frames' samples (Kaldi energy VAD, --vad-* thresholds); "
             "utterances with less than --min-s of speech are embedded whole"),
};
const size_t sv_embed_n_opts = OPT_COUNT(sv_embed_opts);

void sv_model_file_free(sv_model_file *mf)
{
    if (!mf)
        return;
    ckpt_model_free(&mf->ck);
    feat_computer_free(mf->fc);
    feat_computer_free(mf->efc);
    memset(mf, 0, sizeof *mf);
}

ch_status sv_model_file_load(sv_model_file *mf, const char *path, ch_error *err)
{
    memset(mf, 0, sizeof *mf);
    CH_TRY(ckpt_read(path, &mf->ck, NULL, 0, err));
    ch_status st = CH_OK;
    if (!strcmp(mf->ck.kind, "densenet-bilstm"))
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: is a densenet-bilstm (keyword-spotting) checkpoint; sv-embed needs a "
                     "speaker model (tdnn or resnet)", path);
    if (st == CH_OK)
        st = sv_frontend_from_text(&mf->fe, mf->ck.frontend, path, err);
    if (st == CH_OK) {
        mf->fe.feat.dither = 0.0f; /* extraction is deterministic */
        ch_error e2;
        if (feat_computer_create(&mf->fe.feat, &mf->fc, &e2) != CH_OK)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: frontend: %s", path, e2.msg);
    }
    if (st == CH_OK) {
        /* the VAD's energy: what feat-extract --vad computes when column 0 has none (Kaldi's
         * compute-vad reads MFCC c0 = raw log-energy), on the model's framing */
        ch_error e2;
        if (vad_energy_computer_create(&mf->fe.feat, &mf->efc, &e2) != CH_OK)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: frontend (VAD energy): %s", path, e2.msg);
    }
    if (st == CH_OK) {
        /* build once here to validate kind, hparams and counts before any worker does */
        nn_model *m = NULL;
        ch_error e2;
        if (nn_model_from_checkpoint(&m, &mf->ck, &e2) != CH_OK) {
            st = ch_fail(err, CH_ERR_FORMAT, "%s: %s", path, e2.msg);
        } else {
            mf->F = m->in_bins;
            mf->dim = m->out_dim;
            if (mf->F != feat_dim(mf->fc))
                st = ch_fail(err, CH_ERR_FORMAT,
                             "%s: the model takes %d feature bins, its frontend gives %d", path,
                             mf->F, feat_dim(mf->fc));
            else if (mf->dim < 1)
                st = ch_fail(err, CH_ERR_FORMAT, "%s: embedding size %d", path, mf->dim);
        }
        nn_model_free(m);
    }
    if (st != CH_OK)
        sv_model_file_free(mf);
    return st;
}

void sv_worker_free(sv_worker *w)
{
    if (!w)
        return;
    nn_model_free(w->model);
    feat_workspace_free(w->ws);
    free(w->x);
    free(w->emb);
    free(w->lengths);
    vad_scratch_free(&w->vad);
    memset(w, 0, sizeof *w);
}

ch_status sv_worker_create(sv_worker *w, const sv_model_file *mf, ch_error *err)
{
    memset(w, 0, sizeof *w);
    ch_status st = nn_model_from_checkpoint(&w->model, &mf->ck, err);
    if (st == CH_OK)
        st = feat_workspace_create(mf->fc, &w->ws, err);
    if (st != CH_OK) {
        sv_worker_free(w);
        return st;
    }
    w->ctx.be = nn_backend_cpu();
    w->ctx.threads = 1;
    return CH_OK;
}

int sv_chunk_count(long n, long L, long H)
{
    if (L <= 0 || n <= L)
        return 1;
    if (H <= 0)
        H = L;
    return 1 + (int)((n - L + H - 1) / H);
}

long sv_chunk_start(long n, long L, long H, int i)
{
    if (L <= 0 || n <= L)
        return 0;
    if (H <= 0)
        H = L;
    long s = (long)i * H;
    return s > n - L ? n - L : s;
}

static ch_status grow(void **p, size_t *cap, size_t need, size_t elem, ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    void *q = realloc(*p, need * elem);
    if (!q)
        return ch_fail(err, CH_ERR_NOMEM, "out of memory (%zu bytes of chunk buffers)",
                       need * elem);
    *p = q;
    *cap = need;
    return CH_OK;
}

ch_status sv_vad_speech(sv_worker *w, const sv_model_file *mf, const vad_options *vo,
                        const float *x, long n, const float **speech, long *n_speech,
                        int *n_frames, int *n_voiced, ch_error *err)
{
    return vad_speech_samples(&w->vad, mf->efc, vo, x, n, speech, n_speech, n_frames, n_voiced,
                              err);
}

static ch_status embed_samples(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                               const float *x, long n, float *out, int *n_chunks,
                               ch_error *err);

ch_status sv_embed_utterance(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                             const float *x, long n, float *out, sv_embed_info *info,
                             ch_error *err)
{
    sv_embed_info r = {0, n, 0, 0, false};
    const float *use = x;
    ch_status st = CH_OK;
    /* a too-short utterance gets embed_samples' message, VAD or not */
    long min_n = (long)lrint((double)o->min_s * SV_RATE_HZ);
    if (o->vad && n >= min_n && feat_num_frames(mf->fc, n) >= 2) {
        const float *sp;
        long ns;
        st = sv_vad_speech(w, mf, &o->vad_o, x, n, &sp, &ns, &r.frames, &r.voiced, err);
        if (st == CH_OK && (ns < min_n || feat_num_frames(mf->fc, ns) < 2)) {
            r.vad_fallback = true;
        } else if (st == CH_OK) {
            use = sp;
            r.n_used = ns;
        }
    }
    if (st == CH_OK)
        st = embed_samples(w, mf, o, use, r.n_used, out, &r.chunks, err);
    if (info)
        *info = r; /* filled on errors too */
    return st;
}

ch_status sv_embed_audio(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                         const float *x, long n, float *out, int *n_chunks, ch_error *err)
{
    sv_embed_info r;
    ch_status st = sv_embed_utterance(w, mf, o, x, n, out, &r, err);
    if (n_chunks)
        *n_chunks = r.chunks;
    return st;
}

static ch_status embed_samples(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                               const float *x, long n, float *out, int *n_chunks,
                               ch_error *err)
{
    const long rate = SV_RATE_HZ;
    long L = (long)lrint((double)o->chunk_s * rate), H = (long)lrint((double)o->hop_s * rate);
    if (H < 1)
        H = 1;
    long min_n = (long)lrint((double)o->min_s * rate);
    if (n < min_n)
        return ch_fail(err, CH_ERR_FORMAT, "too short: %.3f s, --min-s is %.3f s",
                       (double)n / rate, (double)o->min_s);
    int nc = sv_chunk_count(n, L, H);
    long clen = nc == 1 ? n : L;
    long T = feat_num_frames(mf->fc, clen);
    if (T < 2)
        return ch_fail(err, CH_ERR_FORMAT,
                       "too short: %ld samples give %ld feature frame(s), the model needs 2",
                       clen, T);
    if (T > (1L << 24))
        return ch_fail(err, CH_ERR_FORMAT,
                       "too long for one chunk: %ld frames (set --chunk-s)", T);
    const int F = mf->F, D = mf->dim;
    int B = nc < o->max_batch ? nc : o->max_batch;
    if (B < 1)
        B = 1;
    CH_TRY(grow((void **)&w->x, &w->x_cap, (size_t)B * (size_t)T * (size_t)F, sizeof(float),
                err));
    CH_TRY(grow((void **)&w->emb, &w->emb_cap, (size_t)B * (size_t)D, sizeof(float), err));
    if (B > w->len_cap) {
        int *l = realloc(w->lengths, sizeof(int) * (size_t)B);
        if (!l)
            return ch_fail(err, CH_ERR_NOMEM, "out of memory");
        w->lengths = l;
        w->len_cap = B;
    }
    CH_TRY(w->model->ops->reserve(w->model, &w->ctx, B, (int)T, err));

    double *acc = calloc((size_t)D, sizeof *acc);
    if (!acc)
        return ch_fail(err, CH_ERR_NOMEM, "out of memory");
    ch_status st = CH_OK;
    for (int c0 = 0; c0 < nc && st == CH_OK; c0 += B) {
        int nb = nc - c0 < B ? nc - c0 : B;
        for (int b = 0; b < nb && st == CH_OK; b++) {
            float *y = w->x + (size_t)b * (size_t)T * (size_t)F;
            long s0 = sv_chunk_start(n, L, H, c0 + b);
            st = feat_compute(mf->fc, w->ws, NULL, x + s0, clen, y, err);
            if (st == CH_OK && mf->fe.cmn) {
                for (int f = 0; f < F; f++) {
                    double m = 0;
                    for (long t = 0; t < T; t++)
                        m += y[(size_t)t * F + f];
                    float mf_ = (float)(m / (double)T);
                    for (long t = 0; t < T; t++)
                        y[(size_t)t * F + f] -= mf_;
                }
            }
            w->lengths[b] = (int)T;
        }
        if (st != CH_OK)
            break;
        nn_input in = {nb, (int)T, F, w->x, w->lengths};
        w->model->ops->forward(w->model, &w->ctx, &in, 0, NULL, w->emb);
        for (int b = 0; b < nb; b++) {
            const float *e = w->emb + (size_t)b * D;
            double s = 1.0;
            if (o->average == SV_AVG_NORMALIZED) {
                double ss = 0;
                for (int d = 0; d < D; d++)
                    ss += (double)e[d] * e[d];
                s = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
            }
            for (int d = 0; d < D; d++)
                acc[d] += s * e[d];
        }
    }
    if (st == CH_OK) {
        for (int d = 0; d < D; d++) {
            double v = acc[d] / nc;
            if (!isfinite(v)) {
                st = ch_fail(err, CH_ERR_FORMAT, "non-finite embedding (broken model?)");
                break;
            }
            out[d] = (float)v;
        }
    }
    free(acc);
    if (n_chunks)
        *n_chunks = nc;
    return st;
}
