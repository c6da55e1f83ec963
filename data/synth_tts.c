/* synth_tts.c — libespeak-ng wrapper (contract in synth_tts.h). */
#include "synth_tts.h"

#include <stdlib.h>
#include <string.h>

#include "frontend/audio.h"

#if CHORUS_HAVE_ESPEAK
#include <espeak-ng/speak_lib.h>
#endif

struct synth_tts {
    int rate_hz; /* espeak-ng's output rate (22050) */
};

/* Growing buffer the synthesis callback appends to (passed as espeak's user_data). */
typedef struct {
    short *v;
    long n, cap;
    int oom;
} pcm_buf;

#if CHORUS_HAVE_ESPEAK
static int collect_cb(short *wav, int numsamples, espeak_EVENT *events)
{
    pcm_buf *b = NULL;
    /* Every event carries the user_data of espeak_Synth, the list terminator included (a chunk
     * of audio often has no other event). */
    for (espeak_EVENT *e = events; e; e++) {
        if (e->user_data)
            b = e->user_data;
        if (e->type == espeakEVENT_LIST_TERMINATED)
            break;
    }
    if (!b || !wav || numsamples <= 0)
        return 0;
    if (b->n + numsamples > b->cap) {
        long cap = b->cap ? b->cap : 16384;
        while (cap < b->n + numsamples)
            cap *= 2;
        short *nv = realloc(b->v, (size_t)cap * sizeof *nv);
        if (!nv) {
            b->oom = 1;
            return 1; /* abort synthesis */
        }
        b->v = nv;
        b->cap = cap;
    }
    memcpy(b->v + b->n, wav, (size_t)numsamples * sizeof *wav);
    b->n += numsamples;
    return 0;
}
#endif

ch_status synth_tts_open(synth_tts **out, ch_error *err)
{
    *out = NULL;
#if CHORUS_HAVE_ESPEAK
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0)
        return ch_fail(err, CH_ERR_INTERNAL,
                       "espeak-ng: initialisation failed (espeak-ng-data missing?)");
    espeak_SetSynthCallback(collect_cb);
    synth_tts *t = calloc(1, sizeof *t);
    if (!t) {
        espeak_Terminate();
        return ch_fail(err, CH_ERR_NOMEM, "synth_tts: out of memory");
    }
    t->rate_hz = rate;
    *out = t;
    return CH_OK;
#else
    return ch_fail(err, CH_ERR_UNSUPPORTED,
                   "data-synth: built without libespeak-ng (install libespeak-ng-dev, rebuild)");
#endif
}

void synth_tts_close(synth_tts *t)
{
    if (!t)
        return;
#if CHORUS_HAVE_ESPEAK
    espeak_Terminate();
#endif
    free(t);
}

ch_status synth_tts_say(synth_tts *t, const synth_voice *v, const char *text, float **samples,
                        long *n, ch_error *err)
{
    *samples = NULL;
    *n = 0;
#if CHORUS_HAVE_ESPEAK
    if (espeak_SetVoiceByName(v->voice) != EE_OK)
        return ch_fail(err, CH_ERR_FORMAT, "espeak-ng: unknown voice '%s'", v->voice);
    espeak_SetParameter(espeakRATE, v->rate, 0);
    espeak_SetParameter(espeakPITCH, v->pitch, 0);
    espeak_SetParameter(espeakRANGE, v->range, 0);
    espeak_SetParameter(espeakWORDGAP, v->word_gap, 0);
    pcm_buf b = {0};
    espeak_ERROR e = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                                  NULL, &b);
    if (e == EE_OK)
        e = espeak_Synchronize();
    if (e != EE_OK || b.oom || b.n == 0) {
        free(b.v);
        return ch_fail(err, b.oom ? CH_ERR_NOMEM : CH_ERR_INTERNAL,
                       "espeak-ng: synthesis of '%.40s' with voice '%s' failed", text, v->voice);
    }
    float *x = malloc((size_t)b.n * sizeof *x);
    if (!x) {
        free(b.v);
        return ch_fail(err, CH_ERR_NOMEM, "synth_tts: out of memory");
    }
    for (long i = 0; i < b.n; i++)
        x[i] = (float)b.v[i];
    free(b.v);
    ch_status st = audio_resample(x, b.n, t->rate_hz, 16000, samples, n, err);
    free(x);
    return st;
#else
    (void)t;
    (void)v;
    (void)text;
    return ch_fail(err, CH_ERR_UNSUPPORTED, "data-synth: built without libespeak-ng");
#endif
}
