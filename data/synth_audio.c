/* synth_audio.c — noise, RMS and echo for data-synth. */
#include "synth_audio.h"

#include <math.h>
#include <stdlib.h>


double synth_rms(const float *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

void synth_noise(rng *r, synth_noise_kind kind, float *out, long n, double rms)
{
    double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, brown = 0;
    double f0 = 50.0 + 10.0 * rng_below(r, 2); /* 50 or 60 Hz mains */
    double ph = 2 * M_PI * rng_uniform(r);
    for (long i = 0; i < n; i++) {
        double w = rng_normal(r), v;
        switch (kind) {
        case SYNTH_PINK: /* Paul Kellet's refined pink filter (-3 dB/octave) */
            b0 = 0.99886 * b0 + w * 0.0555179;
            b1 = 0.99332 * b1 + w * 0.0750759;
            b2 = 0.96900 * b2 + w * 0.1538520;
            b3 = 0.86650 * b3 + w * 0.3104856;
            b4 = 0.55000 * b4 + w * 0.5329522;
            b5 = -0.7616 * b5 - w * 0.0168980;
            v = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
            b6 = w * 0.115926;
            break;
        case SYNTH_BROWN: /* leaky integrator (-6 dB/octave above ~2 Hz) */
            brown = 0.999 * brown + 0.05 * w;
            v = brown;
            break;
        case SYNTH_HUM: { /* mains hum: fundamental + odd harmonics + a little hiss */
            double t = 2 * M_PI * f0 * (double)i / 16000.0 + ph;
            v = sin(t) + 0.5 * sin(3 * t) + 0.25 * sin(5 * t) + 0.1 * sin(2 * t) + 0.05 * w;
            break;
        }
        default:
            v = w;
        }
        out[i] = (float)v;
    }
    double cur = synth_rms(out, n);
    if (cur > 0)
        for (long i = 0; i < n; i++)
            out[i] = (float)(out[i] * (rms / cur));
}

void synth_echo(float *x, long n, long delay, double gain)
{
    for (long i = n - 1; i >= delay && delay > 0; i--)
        x[i] += (float)(gain * x[i - delay]);
}
