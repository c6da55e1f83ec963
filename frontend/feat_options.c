/* feat_options.c — defaults, option table and validation of feat_options (KALDI-FEATURES.md
 * §2, §5-7). Defaults are Kaldi's compute-*-feats defaults, not torchaudio's. */
#include <math.h>
#include <stddef.h>

#include "features.h"

feat_options feat_options_default(int type)
{
    feat_options o = {
        .feature_type = type,
        .samp_freq_hz = 16000.0f,
        .frame_length_ms = 25.0f,
        .frame_shift_ms = 10.0f,
        .dither = 1.0f,
        .preemph_coeff = 0.97f,
        .remove_dc_offset = true,
        .window_type = FEAT_WIN_POVEY,
        .blackman_coeff = 0.42f,
        .round_to_power_of_two = true,
        .snip_edges = true,
        .num_mel_bins = 23,
        .low_freq_hz = 20.0f,
        .high_freq_hz = 0.0f,
        .use_energy = type == FEAT_MFCC,
        .raw_energy = true,
        .energy_floor = 0.0f,
        .htk_compat = false,
        .use_log_fbank = true,
        .use_power = true,
        .num_ceps = 13,
        .cepstral_lifter = 22.0f,
    };
    return o;
}

const opt_desc feat_opts[] = {
    OPT_CHOICE(feat_options, feature_type, "feature-type", "fbank|mfcc|spectrogram",
               "Feature type (sets the Kaldi defaults of that type, e.g. MFCC use-energy=true)"),
    OPT_FLOAT(feat_options, samp_freq_hz, "sample-frequency", 1000, 384000,
              "Waveform sampling frequency in Hz (audio at other rates is resampled)"),
    OPT_FLOAT(feat_options, frame_length_ms, "frame-length", 1, 1000, "Frame length in ms"),
    OPT_FLOAT(feat_options, frame_shift_ms, "frame-shift", 0.1, 1000, "Frame shift in ms"),
    OPT_FLOAT(feat_options, dither, "dither", 0, 1e6,
              "Dithering constant (0 = none); Kaldi's glibc rand() sequence is reproduced"),
    OPT_FLOAT(feat_options, preemph_coeff, "preemphasis-coefficient", 0, 1,
              "Pre-emphasis coefficient"),
    OPT_BOOL(feat_options, remove_dc_offset, "remove-dc-offset",
             "Subtract the mean of each frame before further processing"),
    OPT_CHOICE(feat_options, window_type, "window-type",
               "povey|hamming|hanning|sine|rectangular|blackman", "Window function"),
    OPT_FLOAT(feat_options, blackman_coeff, "blackman-coeff", -10, 10,
              "Constant of the generalised Blackman window"),
    OPT_BOOL(feat_options, round_to_power_of_two, "round-to-power-of-two",
             "Zero-pad each frame to a power of two for the FFT"),
    OPT_BOOL(feat_options, snip_edges, "snip-edges",
             "Only whole frames inside the signal (false: reflect at the edges, frames centred "
             "every frame-shift)"),
    OPT_INT(feat_options, num_mel_bins, "num-mel-bins", 3, 1024, "Number of triangular mel bins"),
    OPT_FLOAT(feat_options, low_freq_hz, "low-freq", 0, 192000, "Low cutoff of the mel bins (Hz)"),
    OPT_FLOAT(feat_options, high_freq_hz, "high-freq", -192000, 192000,
              "High cutoff of the mel bins (Hz); <= 0 is an offset from Nyquist"),
    OPT_BOOL(feat_options, use_energy, "use-energy",
             "Add log-energy (fbank: extra column; MFCC: replaces C0)"),
    OPT_BOOL(feat_options, raw_energy, "raw-energy",
             "Energy before pre-emphasis and windowing (false: after)"),
    OPT_FLOAT(feat_options, energy_floor, "energy-floor", 0, 1e30,
              "Floor on energy (absolute, not log); 0 = none"),
    OPT_BOOL(feat_options, htk_compat, "htk-compat", "Energy / C0 in the last column, HTK style"),
    OPT_BOOL(feat_options, use_log_fbank, "use-log-fbank", "Fbank: log of the mel energies"),
    OPT_BOOL(feat_options, use_power, "use-power", "Fbank: power spectrum (false: magnitude)"),
    OPT_INT(feat_options, num_ceps, "num-ceps", 1, 1024, "MFCC: number of cepstra (incl. C0)"),
    OPT_FLOAT(feat_options, cepstral_lifter, "cepstral-lifter", 0, 1e6,
              "MFCC: lifter constant (0 = none)"),
};
const size_t feat_n_opts = OPT_COUNT(feat_opts);

const char *feat_type_name(int type)
{
    switch (type) {
    case FEAT_FBANK: return "fbank";
    case FEAT_MFCC: return "mfcc";
    case FEAT_SPECTROGRAM: return "spectrogram";
    default: return "unknown";
    }
}

ch_status feat_options_check(const feat_options *o, ch_error *err)
{
    if (o->feature_type < FEAT_FBANK || o->feature_type > FEAT_SPECTROGRAM)
        return ch_fail(err, CH_ERR_USAGE, "--feature-type: unknown type %d", o->feature_type);
    if (!(o->samp_freq_hz > 0) || !isfinite(o->samp_freq_hz))
        return ch_fail(err, CH_ERR_USAGE, "--sample-frequency: must be > 0");
    /* Kaldi: WindowSize = int32(samp_freq * 0.001 * frame_length_ms), in double. */
    double len = (double)o->samp_freq_hz * 0.001 * (double)o->frame_length_ms;
    double shift = (double)o->samp_freq_hz * 0.001 * (double)o->frame_shift_ms;
    if (!(len >= 2) || len > 1 << 20)
        return ch_fail(err, CH_ERR_USAGE, "--frame-length: %g ms gives %d samples (need 2..%d)",
                       (double)o->frame_length_ms, (int)len, 1 << 20);
    if (!(shift >= 1))
        return ch_fail(err, CH_ERR_USAGE, "--frame-shift: %g ms is less than one sample",
                       (double)o->frame_shift_ms);
    if (o->window_type < FEAT_WIN_POVEY || o->window_type > FEAT_WIN_BLACKMAN)
        return ch_fail(err, CH_ERR_USAGE, "--window-type: unknown type %d", o->window_type);
    if (!(o->dither >= 0) || !(o->preemph_coeff >= 0 && o->preemph_coeff <= 1))
        return ch_fail(err, CH_ERR_USAGE, "--dither/--preemphasis-coefficient: out of range");
    if (!(o->energy_floor >= 0))
        return ch_fail(err, CH_ERR_USAGE, "--energy-floor: must be >= 0");
    if (o->feature_type != FEAT_SPECTROGRAM) {
        float nyq = 0.5f * o->samp_freq_hz;
        float hi = o->high_freq_hz > 0 ? o->high_freq_hz : nyq + o->high_freq_hz;
        if (o->num_mel_bins < 3)
            return ch_fail(err, CH_ERR_USAGE, "--num-mel-bins: must be at least 3");
        if (!(o->low_freq_hz >= 0 && o->low_freq_hz < nyq && hi > 0 && hi <= nyq &&
              hi > o->low_freq_hz))
            return ch_fail(err, CH_ERR_USAGE,
                           "--low-freq/--high-freq: bad band [%g, %g] Hz for Nyquist %g Hz",
                           (double)o->low_freq_hz, (double)hi, (double)nyq);
    }
    if (o->feature_type == FEAT_MFCC && o->num_ceps > o->num_mel_bins)
        return ch_fail(err, CH_ERR_USAGE, "--num-ceps: %d is more than --num-mel-bins %d",
                       o->num_ceps, o->num_mel_bins);
    return CH_OK;
}
