"""ref_train.py — the PyTorch reference trainer for the KWS real-data accuracy comparison.

    /usr/bin/python3 bench/kws/ref_train.py [options] <data-dir>

Trains bench/kws/ref_model.py's DenseNet-BiLSTM with kws-train's default recipe on the same
data and the same split, so the two validation accuracies can be put side by side
(bench/kws/accuracy.sh does that). Everything below mirrors a C file; keep them in step:

  split     data/speech_commands.c (sc_load): 12-class task in TF's label order, list files or
            TF's which_set hash of the speaker id (SHA-1, low 27 bits), valid/test 10/10 %,
            unknown-word subsampling by the same FNV hash, silence crops of noise files when the
            folder has no _silence_/. Printed: counts per split and label, and the SHA-1 of the
            sorted validation list, so it can be checked against sc_load.
  features  infer/kws_stream.c kws_frontend_default: Kaldi fbank, 40 bins, dither 1, Kaldi's
            other defaults (torchaudio.compliance.kaldi.fbank on int16-scale samples), 1-s
            clips centre-cropped / centre-padded, per-window CMN.
  augment   train/kws_data.c kws_data_example + frontend/augment.c augment_wave: gain +-6 dB,
            time shift +-100 ms (zero fill), noise with p 0.8 at 5-20 dB SNR from
            _background_noise_ (or, without it, the training _silence_ clips), fbank with fresh
            dither, CMN, SpecAugment 2 freq masks <= 8 bins + 2 time masks <= 10 frames filled
            with the matrix mean. Training features are computed per example every epoch (as
            kws-train does); valid/test features once.
  optimiser train/trainer.c: AdamW (0.9, 0.999, 1e-8) lr 3e-3, decoupled wd 1e-2 on every
            parameter, per-step linear warm-up (1 epoch) then cosine to 1 % of lr, label
            smoothing 0.1, global-norm clipping at 5, batch 64 (last batch of an epoch smaller),
            40 epochs; validation after every epoch, the best epoch's model is tested.

Known differences (random streams cannot match across the two): parameter initialisation
(torch's defaults vs chorus's), shuffle order, augmentation draws, dither samples. Speed
perturbation (off by default in kws-train) is not implemented here.

--json prints one line: best_valid_accuracy, best_epoch, test_accuracy, samples_per_s (training
examples / training-loop wall time, data waits included, evaluation excluded), epochs, params,
wall_s, split counts and valid_list_sha1.
"""
import argparse
import copy
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_model import DenseNetBiLSTM  # noqa: E402

PROG = "ref_train.py"
RATE = 16000
SILENCE, UNKNOWN, NOISE = "_silence_", "_unknown_", "_background_noise_"
WORDS10 = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
# data/speech_commands.c is_audio_name
AUDIO_EXTS = {"wav", "flac", "ogg", "oga", "opus", "aiff", "aif", "aifc", "au", "snd", "caf",
              "w64", "rf64", "mp3", "voc", "sph", "nist", "wve", "mat", "paf", "sd2", "htk"}
M64 = (1 << 64) - 1


class DataError(Exception):
    """A one-line "<path>: <problem>" error about the data (exit status 1)."""


# ---- the split: a re-implementation of data/speech_commands.c sc_load ----

def is_audio_name(name):
    dot = name.rfind(".")
    return dot > 0 and name[dot + 1:].lower() in AUDIO_EXTS


def list_dir(d, want_dirs):
    try:
        names = os.listdir(d)
    except OSError:
        raise DataError("%s: cannot open folder" % d)
    out = []
    for n in names:
        if n.startswith("."):
            continue
        full = os.path.join(d, n)
        try:
            is_dir = os.path.isdir(full)
            os.stat(full)
        except OSError:
            continue
        if want_dirs and is_dir or not want_dirs and not is_dir and is_audio_name(n):
            out.append(n)
    return sorted(out, key=lambda s: s.encode())


def parse_name(base):
    """sc_parse_name: (speaker, word) of "bed_0a7c2a8d_nohash_1.flac"; ("", "") without
    `_nohash_`. Both truncated to 31 bytes like the C char[32]."""
    nh = base.find("_nohash_")
    if nh < 0:
        return "", ""
    us = base.rfind("_", 0, nh)
    speaker = base[us + 1 if us >= 0 else 0:nh][:31]
    word = base[:us][:31] if us >= 0 else ""
    return speaker, word


def hash_percentage(stem):
    """sc_hash_percentage / TF which_set: (SHA-1 mod 2^27) * 100 / (2^27 - 1)."""
    low = int(hashlib.sha1(stem.encode()).hexdigest(), 16) & ((1 << 27) - 1)
    return low * (100.0 / ((1 << 27) - 1))


def mix_hash(s, salt):
    """speech_commands.c mix_hash: FNV-1a 64 + a final mix."""
    h = 1469598103934665603 ^ salt
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    return h


def apply_list(path, by_key, split):
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", "replace").split("\n")
    for no, line in enumerate(lines, 1):
        line = line.lstrip(" \t").rstrip("\r \t")
        if not line:
            continue
        dot = line.rfind(".")
        if dot > line.rfind("/") and is_audio_name(line):
            line = line[:dot]
        clip = by_key.get(line)
        if clip is None:
            raise DataError("%s:%d: no such clip '%s' under the root" % (path, no, line))
        clip["split"] = split


def sc_load(root, task="12", valid_pct=10.0, test_pct=10.0, silence_pct=10.0,
            unknown_pct=10.0):
    """Returns (labels, items[3], noise_files, from_lists); an item is a dict with path, rel
    (folder/file), label, crop_seed (None unless it is a noise crop), all in sc_load's order."""
    if not os.path.exists(root):
        raise DataError("%s: no such folder" % root)
    if not os.path.isdir(root):
        raise DataError("%s: not a folder" % root)
    clips, noise_files, has_silence_dir, n_word_dirs = [], [], False, 0
    for d in list_dir(root, True):
        sub = os.path.join(root, d)
        files = list_dir(sub, False)
        if d == NOISE:
            noise_files = [os.path.join(sub, f) for f in files]
            continue
        if not files:
            raise DataError("%s: word folder has no audio files" % sub)
        kind = 1 if d == UNKNOWN else 2 if d == SILENCE else 0
        has_silence_dir |= kind == 2
        n_word_dirs += 1
        for f in files:
            rel = d + "/" + f
            dot = rel.rfind(".")
            key = rel[:dot] if dot > rel.rfind("/") else rel
            speaker, w = parse_name(f)
            word = (w or UNKNOWN) if kind == 1 else d[:31]
            clips.append({"path": root + "/" + rel, "rel": rel, "key": key, "speaker": speaker,
                          "word": word, "kind": kind, "split": 0})
    if n_word_dirs == 0:
        raise DataError("%s: no word folders with audio (expected <root>/<word>/<clip>.wav)"
                        % root)
    clips.sort(key=lambda c: c["key"].encode())
    for a, b in zip(clips, clips[1:]):
        if a["key"] == b["key"]:
            raise DataError("%s: two files with the same name stem" % b["path"])
    vlist, tlist = root + "/validation_list.txt", root + "/testing_list.txt"
    from_lists = os.path.exists(vlist) or os.path.exists(tlist)
    if from_lists:
        by_key = {c["key"]: c for c in clips}
        if os.path.exists(vlist):
            apply_list(vlist, by_key, 1)
        if os.path.exists(tlist):
            apply_list(tlist, by_key, 2)
    else:
        for c in clips:
            stem = c["speaker"] or c["path"].rsplit("/", 1)[1]
            p = hash_percentage(stem)
            c["split"] = 1 if p < valid_pct else 2 if p < valid_pct + test_pct else 0
    clips.sort(key=lambda c: c["path"].encode())
    items = [[], [], []]

    def item(c, label, crop_seed=None, path=None):
        return {"path": path or c["path"], "rel": c["rel"] if c else None, "label": label,
                "crop_seed": crop_seed}

    if task == "all":
        labels = sorted({SILENCE if c["kind"] == 2 else c["word"] for c in clips},
                        key=lambda s: s.encode())
        for c in clips:
            w = SILENCE if c["kind"] == 2 else c["word"]
            items[c["split"]].append(item(c, labels.index(w)))
        return labels, items, noise_files, from_lists
    labels = [SILENCE, UNKNOWN] + WORDS10
    if not any(c["kind"] == 0 and c["word"] in WORDS10 for c in clips):
        raise DataError("%s: none of the ten command words (yes no up down left right on off "
                        "stop go) has a folder; use --task all" % clips[0]["path"])
    for s in range(3):
        known, cand, out = 0, [], []
        for i, c in enumerate(clips):
            if c["split"] != s:
                continue
            lab = 0 if c["kind"] == 2 else 1 if c["kind"] == 1 else \
                labels.index(c["word"]) if c["word"] in labels else -1
            if lab >= 2:
                known += 1
            if c["kind"] == 0 and lab < 0:
                cand.append(i)
                continue
            out.append(item(c, lab))
        keep = min(math.ceil(known * unknown_pct / 100.0), len(cand))
        ranked = sorted(cand, key=lambda i: (mix_hash(clips[i]["key"], 0x5C), i))[:keep]
        out += [item(clips[i], 1) for i in sorted(ranked)]
        out.sort(key=lambda it: it["path"].encode())
        if not has_silence_dir and noise_files and silence_pct > 0:
            n_sil = math.ceil(len(out) * silence_pct / 100.0)
            for j in range(n_sil):
                nf = noise_files[j % len(noise_files)]
                out.append({"path": nf, "rel": nf[len(root) + 1:] + "#%d" % j, "label": 0,
                            "crop_seed": mix_hash("silence/%d/%d" % (s, j), 0x51)})
        items[s] = out
    return labels, items, noise_files, from_lists


def split_sha1(rels):
    return hashlib.sha1("".join(r + "\n" for r in sorted(rels, key=lambda s: s.encode()))
                        .encode()).hexdigest()


# ---- audio and features ----

def read_audio(path):
    """Mono float64 samples at int16 scale, 16 kHz (audio_read: channels averaged, resampled)."""
    try:
        w, sr = torchaudio.load(path)
    except Exception as e:  # noqa: BLE001 -- any decoder failure is a data error
        raise DataError("%s: cannot read audio (%s)" % (path, str(e).splitlines()[0]))
    w = w.mean(0, keepdim=True)
    if sr != RATE:
        w = torchaudio.functional.resample(w, sr, RATE)
    x = w[0].double().numpy() * 32768.0
    if x.size == 0:
        raise DataError("%s: empty audio" % path)
    return x


def fit_clip(x, n):
    """kws_fit_clip: centre crop when longer, centred zero pad when shorter."""
    if len(x) >= n:
        off = (len(x) - n) // 2
        return x[off:off + n].copy()
    out = np.zeros(n, dtype=x.dtype)
    pad = (n - len(x)) // 2
    out[pad:pad + len(x)] = x
    return out


def read_clip(it, n):
    """kws_read_clip: a noise crop takes n samples at crop_seed % (len - n + 1)."""
    x = read_audio(it["path"])
    if it["crop_seed"] is not None and len(x) > n:
        start = it["crop_seed"] % (len(x) - n + 1)
        return x[start:start + n].copy()
    return fit_clip(x, n)


class Frontend:
    def __init__(self, bins, dither, cmn):
        self.bins, self.dither, self.cmn = bins, dither, cmn

    def __call__(self, x, seed):
        """(T, F) float32 features of samples x (int16 scale); dither drawn from `seed`."""
        wave = torch.from_numpy(np.asarray(x, dtype=np.float32)).unsqueeze(0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            f = torchaudio.compliance.kaldi.fbank(
                wave, num_mel_bins=self.bins, dither=self.dither, energy_floor=0.0,
                sample_frequency=RATE, frame_length=25.0, frame_shift=10.0,
                preemphasis_coefficient=0.97, remove_dc_offset=True, window_type="povey",
                round_to_power_of_two=True, snip_edges=True, low_freq=20.0, high_freq=0.0,
                use_energy=False, use_log_fbank=True, use_power=True)
        if self.cmn:
            f = f - f.mean(0, keepdim=True)
        return f


# ---- augmentation (frontend/augment.c) ----

def add_noise(x, noise, snr_db, r):
    n, nn = len(x), len(noise)
    if nn >= n:
        off = int(r.integers(0, nn - n + 1))
        seg = noise[off:off + n]
    else:
        off = int(r.integers(0, nn))
        seg = noise[(off + np.arange(n)) % nn]
    ps, pn = float(np.dot(x, x)), float(np.dot(seg, seg))
    if ps == 0 or pn == 0:  # SNR against silence is undefined (C skips / refuses)
        return x
    return x + math.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0))) * seg


def spec_mask(f, a, r):
    """augment_spec_mask on f (T, F) in place: freq masks then time masks, mean fill."""
    T, Fb = f.shape
    fill = float(f.mean())
    for dim, count, wmax, freq in ((Fb, a.freq_masks, a.freq_mask_max, True),
                                   (T, a.time_masks, a.time_mask_max, False)):
        for _ in range(count):
            if dim <= 0 or wmax <= 0:
                continue
            w = int(r.integers(0, min(wmax, dim) + 1))
            s = int(r.integers(0, dim - w + 1))
            if freq:
                f[:, s:s + w] = fill
            else:
                f[s:s + w, :] = fill
    return f


class TrainSet(torch.utils.data.Dataset):
    """Training example (epoch, i) -> ((F, T) features, label), a pure function of
    (seed, epoch, i) like kws_data_example, so the loader's worker count changes nothing."""

    def __init__(self, waves, labels, noise, fe, a, seed):
        self.waves, self.labels, self.noise, self.fe, self.a, self.seed = \
            waves, labels, noise, fe, a, seed

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, key):
        epoch, i = key
        a = self.a
        r = np.random.default_rng([self.seed, 0x6B7773, epoch, i])
        x = self.waves[i].astype(np.float64)
        noise = self.noise[int(r.integers(0, len(self.noise)))] if self.noise else None
        gain = r.uniform(a.gain_min, a.gain_max) if a.gain_min != a.gain_max else a.gain_min
        m = int(round(a.shift_ms * RATE / 1000.0))
        shift = int(r.integers(-m, m + 1)) if m > 0 else 0
        use_noise = r.random() < a.noise_prob and noise is not None
        snr = r.uniform(a.snr_min, a.snr_max) if a.snr_min != a.snr_max else a.snr_min
        if gain != 0:
            x = x * 10.0 ** (gain / 20.0)
        if shift > 0:
            x = np.concatenate([np.zeros(min(shift, len(x))), x[:max(len(x) - shift, 0)]])
        elif shift < 0:
            s = -shift
            x = np.concatenate([x[s:], np.zeros(min(s, len(x)))])
        if use_noise:
            x = add_noise(x, noise, snr, r)
        f = self.fe(x, int(r.integers(0, 2**62)))
        if a.spec_augment:
            f = spec_mask(f, a, r)
        return f.t().contiguous(), int(self.labels[i])


class EpochBatches:
    """Batch sampler: for each epoch, a seeded shuffle cut into batches of `batch` (the last
    one smaller), yielding (epoch, index) keys."""

    def __init__(self, n, batch, seed):
        self.n, self.batch, self.seed, self.epoch = n, batch, seed, 0

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 1000003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        for s in range(0, self.n, self.batch):
            yield [(self.epoch, i) for i in perm[s:s + self.batch]]

    def __len__(self):
        return (self.n + self.batch - 1) // self.batch


def lr_warmup_cosine(base, floor, warmup, total, step):
    """models/lr_schedule.c."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * t))


MODEL_KEYS = {"stem-channels": ("stem_ch", int), "blocks": ("blocks", int),
              "layers": ("layers", int), "growth": ("growth", int),
              "transition-channels": ("trans_ch", int), "lstm-hidden": ("hidden", int),
              "attention-dim": ("att_dim", int), "pooling": ("pooling", str),
              "dropout": ("dropout", float)}


def parse_model_opts(text, ap):
    kw = {}
    for tok in filter(None, (t.strip() for t in text.split(","))):
        k, eq, v = tok.partition("=")
        if not eq or k not in MODEL_KEYS:
            ap.error("--model-opts: '%s' is not key=value with key one of %s"
                     % (tok, ", ".join(MODEL_KEYS)))
        name, typ = MODEL_KEYS[k]
        try:
            kw[name] = typ(v)
        except ValueError:
            ap.error("--model-opts: bad value in '%s'" % tok)
    if kw.get("pooling", "attention") not in ("attention", "mean"):
        ap.error("--model-opts: pooling must be attention or mean")
    return kw


def evaluate(model, feats, labels, bs, K, confusion=None):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(labels), bs):
            x = feats[s:s + bs]
            lengths = torch.full((x.shape[0],), x.shape[-1], dtype=torch.long)
            pred = model(x, lengths).argmax(1)
            y = labels[s:s + bs]
            correct += int((pred == y).sum())
            if confusion is not None:
                for t, p in zip(y.tolist(), pred.tolist()):
                    confusion[t][p] += 1
    return correct / len(labels) if len(labels) else 0.0


def log(args, msg):
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("data_dir")
    g = ap.add_argument_group("training (train/trainer.c defaults)")
    g.add_argument("--epochs", type=int, default=40)
    g.add_argument("--batch", type=int, default=64)
    g.add_argument("--lr", type=float, default=3e-3)
    g.add_argument("--min-lr-ratio", type=float, default=0.01)
    g.add_argument("--weight-decay", type=float, default=1e-2)
    g.add_argument("--warmup-epochs", type=float, default=1.0)
    g.add_argument("--label-smoothing", type=float, default=0.1)
    g.add_argument("--clip-norm", type=float, default=5.0, help="0 = off")
    g.add_argument("--model-opts", default="", help="key=value,... as kws-train --model-opts")
    g.add_argument("--loader-workers", type=int, default=1,
                   help="processes building training batches (kws-train --loader-threads)")
    g = ap.add_argument_group("data and augmentation (train/kws_data.c defaults)")
    g.add_argument("--classes", choices=["12", "all"], default="12")
    g.add_argument("--valid-percent", type=float, default=10.0)
    g.add_argument("--test-percent", type=float, default=10.0)
    g.add_argument("--noise-prob", type=float, default=0.8)
    g.add_argument("--snr-min", type=float, default=5.0)
    g.add_argument("--snr-max", type=float, default=20.0)
    g.add_argument("--shift-ms", type=float, default=100.0)
    g.add_argument("--gain-min", type=float, default=-6.0)
    g.add_argument("--gain-max", type=float, default=6.0)
    g.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--freq-masks", type=int, default=2)
    g.add_argument("--freq-mask-max", type=int, default=8)
    g.add_argument("--time-masks", type=int, default=2)
    g.add_argument("--time-mask-max", type=int, default=10)
    g = ap.add_argument_group("features (infer/kws_stream.c defaults)")
    g.add_argument("--num-mel-bins", type=int, default=40)
    g.add_argument("--dither", type=float, default=1.0)
    g.add_argument("--cmn", action=argparse.BooleanOptionalAction, default=True)
    g = ap.add_argument_group("common")
    g.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    g.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    g.add_argument("--split-only", action="store_true",
                   help="print the split (counts, validation-list SHA-1) and exit")
    g.add_argument("--write-split", metavar="DIR",
                   help="write DIR/{train,valid,test}.txt: 'folder/file label' per line")
    args = ap.parse_args()
    for name in ("epochs", "batch", "threads", "num_mel_bins"):
        if getattr(args, name) < 1:
            ap.error("--%s must be >= 1" % name.replace("_", "-"))
    if args.loader_workers < 0:
        ap.error("--loader-workers must be >= 0")
    if args.snr_min > args.snr_max or args.gain_min > args.gain_max:
        ap.error("--snr-min/--gain-min must not be above --snr-max/--gain-max")
    if not 0 <= args.noise_prob <= 1:
        ap.error("--noise-prob must be in [0, 1]")
    if args.valid_percent <= 0 or args.valid_percent + args.test_percent >= 100:
        ap.error("--valid-percent must be > 0 and --valid-percent + --test-percent < 100")
    model_kw = parse_model_opts(args.model_opts, ap)
    try:
        return run(args, model_kw)
    except DataError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1


def run(args, model_kw):
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    root = args.data_dir.rstrip("/") or "/"
    labels, items, noise_files, from_lists = sc_load(root, args.classes, args.valid_percent,
                                                     args.test_percent)
    K = len(labels)
    names = ("train", "valid", "test")
    if not items[0]:
        raise DataError("%s: no training clips" % root)
    if not items[1]:
        raise DataError("%s: no validation clips (hint: raise --valid-percent)" % root)
    valid_sha = split_sha1([it["rel"] for it in items[1]])
    log(args, "%s: %d labels, %d train / %d valid / %d test clips (%s), valid list sha1 %s"
        % (root, K, len(items[0]), len(items[1]), len(items[2]),
           "list files" if from_lists else "speaker hash split", valid_sha))
    for s in range(3):
        counts = [0] * K
        for it in items[s]:
            counts[it["label"]] += 1
        log(args, "  %-5s %s" % (names[s], " ".join("%s:%d" % (labels[k], counts[k])
                                                     for k in range(K))))
    if args.write_split:
        os.makedirs(args.write_split, exist_ok=True)
        for s in range(3):
            with open(os.path.join(args.write_split, names[s] + ".txt"), "w") as f:
                for it in items[s]:
                    f.write("%s %s\n" % (it["rel"], labels[it["label"]]))
    if args.split_only:
        if args.json:
            print(json.dumps({"n_train": len(items[0]), "n_valid": len(items[1]),
                              "n_test": len(items[2]), "valid_list_sha1": valid_sha,
                              "labels": labels}))
        return 0

    clip = RATE
    fe = Frontend(args.num_mel_bins, args.dither, args.cmn)
    t0 = time.perf_counter()
    # training clips kept as int16 (kws_data: rounded, clipped)
    waves = np.stack([np.clip(np.round(read_clip(it, clip)), -32768, 32767).astype(np.int16)
                      for it in items[0]])
    train_labels = np.array([it["label"] for it in items[0]], dtype=np.int64)
    evals = []
    for s in (1, 2):
        fs = [fe(read_clip(it, clip), pos + 1).t() for pos, it in enumerate(items[s])]
        feats = torch.stack(fs) if fs else torch.zeros(0, args.num_mel_bins, 98)
        evals.append((feats.unsqueeze(1),
                      torch.tensor([it["label"] for it in items[s]], dtype=torch.long)))
    # noise: _background_noise_ files, else the non-silent training _silence_ clips
    noise = [read_audio(p) for p in noise_files]
    noise = [x for x in noise if np.dot(x, x) > 0]
    if not noise and SILENCE in labels:
        sil = labels.index(SILENCE)
        noise = [w.astype(np.float64) for w, lab in zip(waves, train_labels)
                 if lab == sil and np.any(w)]
    if not noise and args.noise_prob > 0:
        log(args, "%s: no background noise files: training without noise mixing" % root)
    log(args, "loaded %d clips, %d noise signals in %.1f s"
        % (sum(len(x) for x in items), len(noise), time.perf_counter() - t0))

    torch.manual_seed(args.seed)
    model = DenseNetBiLSTM(n_classes=K, n_mels=args.num_mel_bins, **model_kw)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=args.weight_decay)
    ds = TrainSet(waves, train_labels, noise, fe, args, args.seed)
    sampler = EpochBatches(len(ds), args.batch, args.seed)
    # the batch sampler runs in this process (workers only build examples from the keys), so
    # setting sampler.epoch reaches persistent workers; one worker = kws-train's one loader
    # thread, prefetching while the model trains
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler,
                                         num_workers=args.loader_workers,
                                         persistent_workers=args.loader_workers > 0)
    spe = len(sampler)
    total_steps, warmup = spe * args.epochs, int(round(args.warmup_epochs * spe))
    step, t_train, n_seen = 0, 0.0, 0
    best_acc, best_epoch, best_state, last_loss = -1.0, -1, None, 0.0
    for epoch in range(args.epochs):
        sampler.epoch = epoch
        model.train()
        t_ep = time.perf_counter()
        loss_sum, loss_n = 0.0, 0
        for x, y in loader:
            lr = lr_warmup_cosine(args.lr, args.lr * args.min_lr_ratio, warmup, total_steps,
                                  step)
            for pg in opt.param_groups:
                pg["lr"] = lr
            opt.zero_grad(set_to_none=True)
            x = x.unsqueeze(1)
            lengths = torch.full((x.shape[0],), x.shape[-1], dtype=torch.long)
            loss = F.cross_entropy(model(x, lengths), y, label_smoothing=args.label_smoothing)
            loss.backward()
            if args.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_norm)
            opt.step()
            step += 1
            loss_sum += float(loss) * x.shape[0]
            loss_n += x.shape[0]
        dt = time.perf_counter() - t_ep
        t_train += dt
        n_seen += loss_n
        last_loss = loss_sum / max(loss_n, 1)
        acc = evaluate(model, *evals[0], args.batch, K)
        better = acc > best_acc
        if better:
            best_acc, best_epoch = acc, epoch
            best_state = copy.deepcopy(model.state_dict())
        log(args, "epoch %d/%d: train loss %.4f, valid acc %.2f %%%s, lr %.3g, %.0f ex/s"
            % (epoch + 1, args.epochs, last_loss, 100 * acc, " (best)" if better else "", lr,
               loss_n / dt if dt > 0 else 0))
    model.load_state_dict(best_state)
    confusion = [[0] * K for _ in range(K)]
    test_acc = evaluate(model, *evals[1], args.batch, K, confusion) if len(items[2]) else -1.0
    sps = n_seen / t_train if t_train > 0 else 0.0
    wall = time.perf_counter() - t_start
    if test_acc >= 0:
        print("test accuracy: %.2f %% (%d clips)" % (100 * test_acc, len(items[2])))
    log(args, "best valid accuracy %.2f %% (epoch %d); %d steps, %.1f ex/s, %.1f s in all"
        % (100 * best_acc, best_epoch + 1, step, sps, wall))
    if args.json:
        print(json.dumps({"system": "pytorch", "best_valid_accuracy": round(best_acc, 6),
                          "best_epoch": best_epoch + 1, "test_accuracy": round(test_acc, 6),
                          "samples_per_s": round(sps, 2), "epochs": args.epochs,
                          "steps": step, "params": n_params,
                          "final_train_loss": round(last_loss, 6), "wall_s": round(wall, 2),
                          "threads": args.threads, "n_train": len(items[0]),
                          "n_valid": len(items[1]), "n_test": len(items[2]),
                          "valid_list_sha1": valid_sha, "labels": labels,
                          "confusion": confusion}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
