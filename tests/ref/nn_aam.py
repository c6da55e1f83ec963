"""nn_aam.py OUT_DIR — PyTorch reference for models/aam_softmax (additive angular margin softmax).

One OUT_DIR/nn_aam_<case>.tsr per case (format: tests/ref/_tensorfile.py): cfg = [N, D, K, scale,
margin, easy_margin], emb, w, labels (as floats), logits, loss, demb, dw, computed by a copy of
WeSpeaker's ArcMarginProduct (wespeaker/models/projections.py) followed by F.cross_entropy
(mean). Cases: the usual (s 32, m 0.2); a large margin with some samples built past the threshold
(target cos < cos(pi - m), so the `cos - mmm` fallback is exercised); easy margin with negative
target cosines; m = 0. torch.manual_seed fixed, one thread. Exits 0 without writing when torch is
missing.
"""
import math
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("nn_aam.py: torch not available, no dumps written")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _tensorfile import write  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)


def arc_margin(emb, w, labels, scale, margin, easy_margin):
    """WeSpeaker ArcMarginProduct.forward, verbatim in substance."""
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    th = math.cos(math.pi - margin)
    mmm = 1.0 + math.cos(math.pi - margin)
    cosine = F.linear(F.normalize(emb), F.normalize(w))
    sine = torch.sqrt((1.0 - torch.pow(cosine, 2)).clamp(0, 1))
    phi = cosine * cos_m - sine * sin_m
    if easy_margin:
        phi = torch.where(cosine > 0, phi, cosine)
    else:
        phi = torch.where(cosine > th, phi, cosine - mmm)
    one_hot = torch.zeros_like(cosine)
    one_hot.scatter_(1, labels.view(-1, 1), 1)
    return scale * (one_hot * phi + (1.0 - one_hot) * cosine)


def case(name, N, D, K, scale, margin, easy, seed, flip=0):
    torch.manual_seed(seed)
    w = torch.randn(K, D)
    labels = torch.randint(0, K, (N,))
    emb = torch.randn(N, D) * 3
    # the first `flip` samples point (nearly) away from their class: target cos near -1
    for n in range(flip):
        emb[n] = -2.0 * w[labels[n]] + 0.3 * torch.randn(D)
    # a few near their class, so the margin matters (cos near +1)
    for n in range(flip, min(N, flip + 2)):
        emb[n] = 1.5 * w[labels[n]] + 0.5 * torch.randn(D)
    with torch.no_grad():  # the cases must exercise the fallback branch they are built for
        cy = F.linear(F.normalize(emb), F.normalize(w)).gather(1, labels.view(-1, 1))
        below = int((cy <= (0.0 if easy else math.cos(math.pi - margin))).sum())
        assert below >= min(flip, 1), "case %s: no sample in the fallback branch" % name
    emb.requires_grad_(True)
    w.requires_grad_(True)
    logits = arc_margin(emb, w, labels, scale, margin, easy)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    cfg = [N, D, K, scale, margin, int(easy)]
    write(os.path.join(OUT, "nn_aam_%s.tsr" % name),
          {"cfg": torch.tensor(cfg, dtype=torch.float32), "emb": emb, "w": w,
           "labels": labels.float(), "logits": logits, "loss": loss.reshape(1),
           "demb": emb.grad, "dw": w.grad})


case("std", 12, 24, 17, 32.0, 0.2, False, 1)
case("bigmargin", 10, 16, 9, 30.0, 0.5, False, 2, flip=3)
case("easy", 9, 8, 5, 16.0, 0.3, True, 3, flip=2)
case("nomargin", 7, 10, 6, 8.0, 0.0, False, 4)
print("nn_aam.py: wrote 4 cases to", OUT)
