"""ref_models.py — the PyTorch references of chorus's two speaker-embedding models.

These are the peers the C models are compared with: the parity test (tests/ref/sv_models.py)
loads their weights, and the training benchmark (bench/sv/) runs them side by side. The
architectures must stay identical to models/sv_tdnn (kind "tdnn") and models/sv_resnet (kind
"resnet"): same parameter names, order and layouts, same padding semantics.

  input (N, T, F) fbank, lengths (N) valid frames; frames past a length are zeroed on entry.

  TDNN (x-vector, WeSpeaker XVEC with "same" padding):
    (N, F, T); frame1..5: conv1d(k 5/3/3/1/1, dil 1/2/3/1/1, pad dil*(k-1)/2, bias) -> ReLU
    -> BatchNorm1d; outputs of frame1 and frame2 masked (frames >= length zeroed);
    statistics pooling [mean, sqrt(unbiased var + 1e-7)] over valid frames; linear -> emb.

  ResNet (thin ResNet34, WeSpeaker ResNet layout):
    (N, 1, F, T); conv3x3 1->C (no bias) -> BN -> ReLU -> mask; layers 1..4 of BasicBlocks
    (C, 2C, 4C, 8C; first block of layers 2..4 stride 2 with a 1x1 conv + BN shortcut):
    a = mask(relu(bn1(conv1(x)))), out = mask(relu(bn2(conv2(a)) + shortcut(x))), the lengths
    going (L - 1) // 2 + 1 per stride; (N, 8C * F/8, T') -> statistics pooling -> linear -> emb.

Masking makes an utterance's eval-mode embedding independent of the padding of its batch.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def time_mask(x, lengths):
    """Zeroes frames t >= lengths[n] of x (N, ..., T)."""
    T = x.shape[-1]
    m = (torch.arange(T, device=x.device)[None, :] < lengths[:, None]).to(x.dtype)
    return x * m.view([x.shape[0]] + [1] * (x.dim() - 2) + [T])


def stats_pool(x, lengths):
    """(N, C, T) -> (N, 2C): mean and sqrt(unbiased var + 1e-7) over the valid frames (divisor
    1 when a length is 1). Vectorised with the mask, so it also serves the benchmark."""
    T = x.shape[-1]
    m = (torch.arange(T, device=x.device)[None, :] < lengths[:, None]).to(x.dtype)[:, None, :]
    L = lengths.to(x.dtype)[:, None]
    mean = (x * m).sum(-1) / L
    var = (((x - mean[:, :, None]) * m) ** 2).sum(-1) / torch.clamp(L - 1, min=1)
    return torch.cat([mean, torch.sqrt(var + 1e-7)], 1)


class TdnnLayer(nn.Module):
    def __init__(self, cin, cout, k, dil):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, dilation=dil, padding=dil * (k - 1) // 2)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x):
        return self.bn(F.relu(self.conv(x)))


class TDNN(nn.Module):
    def __init__(self, feat_dim=80, channels=384, stats_channels=768, embed_dim=256):
        super().__init__()
        ks, ds = [5, 3, 3, 1, 1], [1, 2, 3, 1, 1]
        widths = [feat_dim] + [channels] * 4 + [stats_channels]
        for i in range(5):
            setattr(self, "frame%d" % (i + 1), TdnnLayer(widths[i], widths[i + 1], ks[i], ds[i]))
        self.ks = ks
        self.embedding = nn.Linear(2 * stats_channels, embed_dim)

    def forward(self, x, lengths):
        h = time_mask(x.transpose(1, 2), lengths)
        for i in range(5):
            h = getattr(self, "frame%d" % (i + 1))(h)
            if i + 1 < 5 and self.ks[i + 1] > 1:
                h = time_mask(h, lengths)
        return self.embedding(stats_pool(h, lengths))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))
        self.stride = stride

    def forward(self, x, lengths):  # lengths: at the output resolution
        a = time_mask(F.relu(self.bn1(self.conv1(x))), lengths)
        return time_mask(F.relu(self.bn2(self.conv2(a)) + self.shortcut(x)), lengths)


class ResNet(nn.Module):
    def __init__(self, feat_dim=80, channels=16, blocks=(3, 4, 6, 3), embed_dim=256):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        cin, f = channels, feat_dim
        for li, nb in enumerate(blocks):
            cout = channels << li
            layer = nn.ModuleList()
            for j in range(nb):
                stride = 2 if li > 0 and j == 0 else 1
                layer.append(BasicBlock(cin, cout, stride))
                if stride == 2:
                    f = (f - 1) // 2 + 1
                cin = cout
            setattr(self, "layer%d" % (li + 1), layer)
        self.embedding = nn.Linear(2 * cin * f, embed_dim)

    def forward(self, x, lengths):
        h = time_mask(x.transpose(1, 2), lengths).unsqueeze(1)
        h = time_mask(F.relu(self.bn1(self.conv1(h))), lengths)
        for li in range(4):
            for blk in getattr(self, "layer%d" % (li + 1)):
                if blk.stride == 2:
                    lengths = (lengths - 1) // 2 + 1
                h = blk(h, lengths)
        n, c, f, t = h.shape
        return self.embedding(stats_pool(h.reshape(n, c * f, t), lengths))
