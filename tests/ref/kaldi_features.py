"""kaldi_features.py — reference dumps for tests/test_features.c and tests/test_cmvn_vad.c.

Run by tests/run.sh as `/usr/bin/python3 tests/ref/kaldi_features.py OUT_DIR`. Writes
  OUT_DIR/kaldi_features.bin   (CHTENSOR, see tests/ref/README.md)
  OUT_DIR/feat_audio/<clip>.wav the same audio as 16-bit mono WAV (for audio_read / feat-extract)
  OUT_DIR/feat_audio/real_flac.scp  "sc_<label> <original FLAC>" (empty without CHORUS_SHARED)
Clips: synthesised speech (espeak-ng -w, resampled to 16 kHz by sox) with a 0.3 s digital-silence
gap, a 1000-sample excerpt (snip-edges=false on a short signal) and, when CHORUS_SHARED is set,
three real Speech Commands clips (FLAC converted with sox). For each clip, torchaudio.compliance
.kaldi features with Kaldi's defaults passed explicitly (dither=0, energy_floor=0, int16-scale
input): fbank 23/80 bins with snip-edges true/false, MFCC 13 ceps / 23 bins with use_energy
(raw and non-raw energy), spectrogram, fbank with an odd frame length (401 samples). Also: glibc rand()/rand_r via ctypes and Kaldi's RandGauss (logf/cosf/sqrtf from
libm via ctypes, so the floats are bit-exact), and CMVN / sliding CMVN / energy VAD from an
independent NumPy implementation of KALDI-FEATURES.md §8-9.
"""
import ctypes
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import torch
import torchaudio.compliance.kaldi as K

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tensorfile  # noqa: E402

OUT = sys.argv[1]
os.makedirs(os.path.join(OUT, "feat_audio"), exist_ok=True)
torch.set_num_threads(1)


def read_wav16(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == 16000
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)


def write_wav16(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(x).astype("<i2").tobytes())


def to16k(src, tmpdir, name):
    dst = os.path.join(tmpdir, name + ".wav")
    # -R -D: repeatable, no dither: the same reference audio on every run
    subprocess.run(["sox", "-R", "-D", src, "-r", "16000", "-c", "1", "-b", "16", "-e",
                    "signed-integer", dst], check=True)
    return read_wav16(dst)


clips = {}
with tempfile.TemporaryDirectory() as td:
    raw = os.path.join(td, "espeak.wav")
    subprocess.run(["espeak-ng", "-w", raw, "turn the lights on in the kitchen please"], check=True)
    a = to16k(raw, td, "a")
    subprocess.run(["espeak-ng", "-v", "en+f3", "-w", raw, "seven yes stop"], check=True)
    b = to16k(raw, td, "b")
    # speech, 0.3 s of digital silence (all-zero frames), speech
    clips["synth"] = np.concatenate([a, np.zeros(4800, np.float32), b])
    clips["short"] = a[4000:5000].copy()  # 1000 samples: 4 frames snip, 6 not
    shared = os.environ.get("CHORUS_SHARED", "")
    sources = []  # the original FLAC files, as a wav.scp (feat-extract reads them directly)
    if shared:
        root = os.path.join(shared, "data", "speech-commands-v2-test-A")
        for label in ("yes", "stop", "_unknown_"):
            d = os.path.join(root, label)
            if not os.path.isdir(d):
                continue
            f = sorted(os.listdir(d))[0]
            clips["sc_" + label.strip("_")] = to16k(os.path.join(d, f), td, label)
            sources.append("sc_%s %s\n" % (label.strip("_"), os.path.join(d, f)))

with open(os.path.join(OUT, "feat_audio", "real_flac.scp"), "w") as f:
    f.write("".join(sources))  # empty without CHORUS_SHARED

T = {}
for name, x in clips.items():
    write_wav16(os.path.join(OUT, "feat_audio", name + ".wav"), x)
    T["audio/" + name] = x
    w = torch.from_numpy(x).unsqueeze(0)
    common = dict(sample_frequency=16000.0, dither=0.0, energy_floor=0.0, preemphasis_coefficient=0.97,
                  remove_dc_offset=True, window_type="povey", round_to_power_of_two=True, raw_energy=True)
    for bins in (23, 80):
        for snip in (True, False):
            y = K.fbank(w, num_mel_bins=bins, snip_edges=snip, use_energy=False, htk_compat=False,
                        use_log_fbank=True, use_power=True, low_freq=20.0, high_freq=0.0, **common)
            T["%s/fbank%d_%s" % (name, bins, "snip" if snip else "nosnip")] = y
    T[name + "/fbank23e_snip"] = K.fbank(w, num_mel_bins=23, snip_edges=True, use_energy=True,
                                         low_freq=20.0, high_freq=0.0, **common)
    T[name + "/mfcc13_snip"] = K.mfcc(w, num_ceps=13, num_mel_bins=23, use_energy=True,
                                      cepstral_lifter=22.0, snip_edges=True, htk_compat=False,
                                      low_freq=20.0, high_freq=0.0, **common)
    T[name + "/mfcc13_nosnip"] = K.mfcc(w, num_ceps=13, num_mel_bins=23, use_energy=True,
                                        cepstral_lifter=22.0, snip_edges=False, low_freq=20.0,
                                        high_freq=0.0, **common)
    T[name + "/spec_snip"] = K.spectrogram(w, snip_edges=True, **common)
    # energy after pre-emphasis and window (raw_energy=false), and an odd frame length
    # (401 samples: 25.0625 ms) with edge reflection: the less common paths of the pipeline
    nonraw = dict(common, raw_energy=False)
    T[name + "/mfcc13_nonraw_snip"] = K.mfcc(w, num_ceps=13, num_mel_bins=23, use_energy=True,
                                             cepstral_lifter=22.0, snip_edges=True,
                                             low_freq=20.0, high_freq=0.0, **nonraw)
    T[name + "/fbank23_L401_nosnip"] = K.fbank(w, num_mel_bins=23, snip_edges=False,
                                               use_energy=False, frame_length=25.0625,
                                               low_freq=20.0, high_freq=0.0, **common)

# ---- glibc rand()/rand_r and Kaldi's RandGauss, bit-exact through ctypes
libc = ctypes.CDLL("libc.so.6")
libm = ctypes.CDLL("libm.so.6")
for fn in ("logf", "cosf", "sqrtf"):
    getattr(libm, fn).restype = ctypes.c_float
    getattr(libm, fn).argtypes = [ctypes.c_float]
libc.srand(1)  # the state an un-seeded process starts in
seq = np.array([libc.rand() for _ in range(1000)], dtype=np.int64)
T["rand/seq_hi"] = (seq >> 16).astype(np.float32)   # 31-bit values do not fit float32: split
T["rand/seq_lo"] = (seq & 0xFFFF).astype(np.float32)
libc.srand(1)
RAND_MAX = 2147483647
gauss, seeds = [], []
for frame in range(3):  # Kaldi Dither: a RandomState per frame, seed = rand() + 27437
    seed = ctypes.c_uint((libc.rand() + 27437) & 0xFFFFFFFF)
    seeds.append(seed.value)
    for i in range(400):
        u1 = float(np.float32((libc.rand_r(ctypes.byref(seed)) + 1.0) / (RAND_MAX + 2.0)))
        u2 = float(np.float32((libc.rand_r(ctypes.byref(seed)) + 1.0) / (RAND_MAX + 2.0)))
        a = libm.sqrtf(float(np.float32(-2.0) * np.float32(libm.logf(u1))))
        c = libm.cosf(float(np.float32(2.0 * np.pi * u2)))
        gauss.append(np.float32(a) * np.float32(c))
T["rand/gauss"] = np.array(gauss, dtype=np.float32)
T["rand/frame_seed_hi"] = (np.array(seeds, dtype=np.int64) >> 16).astype(np.float32)
T["rand/frame_seed_lo"] = (np.array(seeds, dtype=np.int64) & 0xFFFF).astype(np.float32)


# ---- CMVN and VAD: independent NumPy versions of KALDI-FEATURES.md §8-9 (direct sums, not
# the running sums Kaldi and chorus use, so the two implementations share no code path)
def cmvn_utt(x, norm_vars):
    x = x.astype(np.float64)
    y = x - x.mean(0)
    if norm_vars:
        var = np.maximum((x * x).mean(0) - x.mean(0) ** 2, 1e-10)
        y = y / np.sqrt(var)
    return y


def cmvn_sliding(x, window, min_window, norm_vars, center):
    x = x.astype(np.float64)
    n_frames = x.shape[0]
    y = np.zeros_like(x)
    for t in range(n_frames):
        if center:
            start = t - window // 2
            end = start + window
        else:
            start = t - window
            end = t + 1
        if start < 0:
            end -= start
            start = 0
        if not center and end > t:
            end = max(t + 1, min_window)
        if end > n_frames:
            start -= end - n_frames
            end = n_frames
            if start < 0:
                start = 0
        seg = x[start:end]
        n = end - start
        y[t] = x[t] - seg.sum(0) / n
        if norm_vars:
            if n == 1:
                y[t] = 0.0
            else:
                var = np.maximum((seg * seg).sum(0) / n - (seg.sum(0) / n) ** 2, 1e-10)
                y[t] *= var ** -0.5
    return y


def vad(e, thr, scale, ctx, prop):
    e = e.astype(np.float64)
    n_frames = len(e)
    t_thr = thr + (scale * e.mean() if scale != 0 else 0.0)
    out = np.zeros(n_frames)
    for t in range(n_frames):
        lo, hi = max(0, t - ctx), min(n_frames, t + ctx + 1)
        num = np.sum(e[lo:hi] > t_thr)
        out[t] = 1.0 if num >= (hi - lo) * prop else 0.0
    return out


rng = np.random.default_rng(7)
x = T["synth/mfcc13_snip"].numpy().astype(np.float32)
T["cmvn/x"] = x
T["cmvn/utt_mean"] = cmvn_utt(x, False)
T["cmvn/utt_meanvar"] = cmvn_utt(x, True)
T["cmvn/slide_600_100"] = cmvn_sliding(x, 600, 100, False, False)
T["cmvn/slide_50_10"] = cmvn_sliding(x, 50, 10, False, False)
T["cmvn/slide_50_10_var"] = cmvn_sliding(x, 50, 10, True, False)
T["cmvn/slide_300_center"] = cmvn_sliding(x, 300, 100, False, True)
T["cmvn/slide_51_center_var"] = cmvn_sliding(x, 51, 100, True, True)
T["vad/default"] = vad(x[:, 0], 5.0, 0.5, 0, 0.6)
T["vad/voxceleb"] = vad(x[:, 0], 5.5, 0.5, 2, 0.12)
e = (rng.standard_normal(200) * 3 + 10).astype(np.float32)
T["vad/e_rand"] = e
T["vad/rand_ctx3"] = vad(e, 4.0, 0.3, 3, 0.5)

_tensorfile.write(os.path.join(OUT, "kaldi_features.bin"), T)
print("wrote %d tensors, clips: %s" % (len(T), ", ".join("%s(%d)" % (k, len(v)) for k, v in clips.items())))
