"""ref_model.py — the PyTorch reference of chorus's DenseNet-BiLSTM keyword model.

This is the peer that chorus's C model is compared with: parity tests load its weights, the
training benchmark runs it side by side, and the accuracy reference trains it on the same split.
The architecture must stay identical to models/densenet_bilstm (C):

  input  (N, 1, F=40, T)  log-mel fbank, per-utterance mean-normalised
  stem   conv3x3 1->stem_ch, pad 1
  block b = 1..3: `layers` dense layers, each BN -> ReLU -> conv3x3 (in -> growth, pad 1),
         output concatenated to the block input (channels grow by `growth` per layer)
  transition after every block: BN -> ReLU -> conv1x1 (C -> trans_ch) -> avgpool (2,1) on F,
  so F goes 40 -> 20 -> 10 -> 5; then (N, trans_ch*5, T) is a sequence over T
  BiLSTM (hidden per direction), attention pooling over T, linear -> classes.
"""
import argparse
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(F.relu(self.bn(x)))], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), (2, 1))


class AttentionPool(nn.Module):
    """alpha_t = softmax_t(v . tanh(W h_t + b)) over valid frames; out = sum_t alpha_t h_t."""

    def __init__(self, dim, att_dim):
        super().__init__()
        self.proj = nn.Linear(dim, att_dim)
        self.v = nn.Linear(att_dim, 1, bias=False)

    def forward(self, h, lengths):
        e = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # (N, T)
        mask = torch.arange(h.shape[1])[None, :] < lengths[:, None]
        e = e.masked_fill(~mask, float("-inf"))
        a = torch.softmax(e, dim=1)
        return torch.bmm(a.unsqueeze(1), h).squeeze(1)


class MeanPool(nn.Module):
    """Mean of h over the valid frames (no parameters)."""

    def forward(self, h, lengths):
        mask = (torch.arange(h.shape[1])[None, :] < lengths[:, None]).to(h.dtype)
        return (h * mask[:, :, None]).sum(1) / lengths[:, None].to(h.dtype)


class DenseNetBiLSTM(nn.Module):
    """Hyper-parameters mirror the C kind's keys: stem-channels, blocks, layers, growth,
    transition-channels, lstm-hidden, pooling (attention|mean), attention-dim, dropout."""

    def __init__(self, n_classes=12, n_mels=40, stem_ch=24, growth=12, layers=4, trans_ch=48,
                 hidden=64, att_dim=64, blocks=3, pooling="attention", dropout=0.0):
        super().__init__()
        self.stem = nn.Conv2d(1, stem_ch, 3, padding=1, bias=False)
        mods, c, f = [], stem_ch, n_mels
        for b in range(blocks):
            for _ in range(layers):
                mods.append(DenseLayer(c, growth))
                c += growth
            mods.append(Transition(c, trans_ch))
            c, f = trans_ch, f // 2
        self.blocks = nn.Sequential(*mods)
        self.lstm = nn.LSTM(c * f, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hidden, att_dim) if pooling == "attention" else MeanPool()
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden, n_classes)

    def forward(self, x, lengths):
        y = self.blocks(self.stem(x))
        n, c, f, t = y.shape
        seq = y.permute(0, 3, 1, 2).reshape(n, t, c * f)
        packed = nn.utils.rnn.pack_padded_sequence(seq, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=t)
        return self.out(self.drop(self.pool(h, lengths)))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(args):
    """Prints tab-separated "case value" rows: train samples/s (forward + label-smoothed CE +
    backward + AdamW step, the same step the C bench times), batch-1 latency in ms (median, mean,
    median process CPU time), peak RSS."""
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    m = DenseNetBiLSTM(n_classes=args.classes)
    if args.mode == "train":
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
        x = torch.randn(args.batch, 1, 40, args.frames)
        lengths = torch.full((args.batch,), args.frames, dtype=torch.long)
        y = torch.randint(0, args.classes, (args.batch,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x, lengths), y, label_smoothing=0.1)
            loss.backward()
            opt.step()
        for _ in range(args.warmup):
            step()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print("train_b%d_%dt\t%.2f" % (args.batch, args.threads, args.batch * args.steps / dt))
        # per CPU-second x threads, as bench_kws_train prints (robust to neighbours)
        print("train_b%d_%dt_cpu\t%.2f" % (args.batch, args.threads,
                                           args.batch * args.steps / dc * args.threads))
    else:
        m.eval()
        x = torch.randn(1, 1, 40, args.frames)
        lengths = torch.tensor([args.frames])
        with torch.no_grad():
            for _ in range(args.warmup):
                m(x, lengths)
            lat, clat = [], []
            for _ in range(args.steps):
                t0, c0 = time.perf_counter(), time.process_time()
                m(x, lengths)
                lat.append(time.perf_counter() - t0)
                clat.append(time.process_time() - c0)
        lat.sort()
        clat.sort()
        print("infer_b1_%dt_ms\t%.3f" % (args.threads, 1000.0 * lat[len(lat) // 2]))
        print("infer_b1_%dt_mean_ms\t%.3f" % (args.threads, 1000.0 * sum(lat) / len(lat)))
        print("infer_b1_%dt_cpu_ms\t%.3f" % (args.threads, 1000.0 * clat[len(clat) // 2]))
    print("%s_%dt_peak_rss_mb\t%.1f" % (args.mode, args.threads, peak_rss_mb()))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ap = argparse.ArgumentParser(description="PyTorch peer of bench/train and bench/infer")
        ap.add_argument("--mode", choices=["train", "infer"], required=True)
        ap.add_argument("--threads", type=int, default=1)
        ap.add_argument("--batch", type=int, default=64)
        ap.add_argument("--frames", type=int, default=98)
        ap.add_argument("--classes", type=int, default=12)
        ap.add_argument("--steps", type=int, default=10)
        ap.add_argument("--warmup", type=int, default=2)
        bench(ap.parse_args())
        sys.exit(0)
    m = DenseNetBiLSTM()
    n = sum(p.numel() for p in m.parameters())
    print(f"parameters: {n}")
    x = torch.randn(2, 1, 40, 98)
    print(m(x, torch.tensor([98, 80])).shape)
