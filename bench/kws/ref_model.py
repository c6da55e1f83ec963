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


class DenseNetBiLSTM(nn.Module):
    def __init__(self, n_classes=12, n_mels=40, stem_ch=24, growth=12, layers=4, trans_ch=48,
                 hidden=64, att_dim=64):
        super().__init__()
        self.stem = nn.Conv2d(1, stem_ch, 3, padding=1, bias=False)
        blocks, c, f = [], stem_ch, n_mels
        for b in range(3):
            for _ in range(layers):
                blocks.append(DenseLayer(c, growth))
                c += growth
            blocks.append(Transition(c, trans_ch))
            c, f = trans_ch, f // 2
        self.blocks = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(c * f, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hidden, att_dim)
        self.out = nn.Linear(2 * hidden, n_classes)

    def forward(self, x, lengths):
        y = self.blocks(self.stem(x))
        n, c, f, t = y.shape
        seq = y.permute(0, 3, 1, 2).reshape(n, t, c * f)
        packed = nn.utils.rnn.pack_padded_sequence(seq, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=t)
        return self.out(self.pool(h, lengths))


if __name__ == "__main__":
    m = DenseNetBiLSTM()
    n = sum(p.numel() for p in m.parameters())
    print(f"parameters: {n}")
    x = torch.randn(2, 1, 40, 98)
    print(m(x, torch.tensor([98, 80])).shape)
