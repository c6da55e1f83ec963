"""peer_sv.py BATCH STEPS — PyTorch side of the speaker-model training benchmark (run.sh).

The same steps as bench_sv.c: bench/sv/ref_models.py TDNN and ResNet at their defaults (80 bins,
256-dim embedding), 2-s chunks (T = 200), WeSpeaker's ArcMarginProduct head (1000 speakers,
s 32, m 0.2) + cross-entropy, backward, SGD momentum 0.9 over model + head; 1 and 2 threads
(torch.set_num_threads; run with OPENBLAS_NUM_THREADS=1 and jemalloc, see BENCH.md). One
warm-up step, median of STEPS timed steps. Prints "model<TAB>threads<TAB>samples_per_s".
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_models import TDNN, ResNet  # noqa: E402


class ArcMargin(nn.Module):
    def __init__(self, emb, k, s=32.0, m=0.2):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, emb))
        nn.init.xavier_uniform_(self.weight)
        self.s, self.cos_m, self.sin_m = s, math.cos(m), math.sin(m)
        self.th, self.mmm = math.cos(math.pi - m), 1.0 + math.cos(math.pi - m)

    def forward(self, x, y):
        cosine = F.linear(F.normalize(x), F.normalize(self.weight))
        sine = torch.sqrt((1.0 - cosine * cosine).clamp(0, 1))
        phi = cosine * self.cos_m - sine * self.sin_m
        phi = torch.where(cosine > self.th, phi, cosine - self.mmm)
        one_hot = torch.zeros_like(cosine).scatter_(1, y.view(-1, 1), 1)
        return F.cross_entropy(self.s * (one_hot * phi + (1 - one_hot) * cosine), y)


def main():
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    only = os.environ.get("SV_BENCH_MODELS", "tdnn,resnet")
    T, Fb, E, K = 200, 80, 256, 1000
    for name, cls in (("tdnn", TDNN), ("resnet", ResNet)):
        if name not in only:
            continue
        for th in (1, 2):
            torch.set_num_threads(th)
            torch.manual_seed(1)
            model, head = cls(Fb, embed_dim=E), ArcMargin(E, K)
            opt = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.1,
                                  momentum=0.9)
            x = torch.randn(N, T, Fb)
            lens = torch.full((N,), T, dtype=torch.int64)
            y = torch.randint(0, K, (N,))
            model.train()
            dts = []
            for s in range(steps + 1):
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=False)
                loss = head(model(x, lens), y)
                loss.backward()
                opt.step()
                dts.append(time.perf_counter() - t0)
            med = sorted(dts[1:])[len(dts[1:]) // 2]
            print("%s\t%d\t%.2f" % (name, th, N / med), flush=True)


if __name__ == "__main__":
    main()
