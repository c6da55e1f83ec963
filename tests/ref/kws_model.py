"""kws_model.py OUT_DIR — whole-model PyTorch references for models/kws_densenet (kind
"densenet-bilstm"), from bench/kws/ref_model.py.

OUT_DIR/kws_model_small.tsr — a small configuration (cfg below), padded batch with unequal
lengths, train mode: the initial parameters flattened in named_parameters() order (= the C
table order), x (N, T, F) zero past lengths, lengths, labels, logits, loss (cross entropy with
label smoothing 0.1), every parameter gradient (flat), the batch-norm running statistics after
the step (per BN: running_mean then running_var), then the parameters after each of 5 AdamW
steps (lr 3e-3, wd 0.01; each step = zero_grad, forward, loss, backward, step) and finally an
eval-mode forward of the same batch.
OUT_DIR/kws_model_mean.tsr — the same with pooling=mean (one train forward + gradients).
OUT_DIR/kws_model_default.tsr — the default configuration, forward only (train + eval).
Exits 0 without writing when torch is missing (the C test skips).
"""
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("kws_model.py: torch not available, no dumps written")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "kws"))
from _tensorfile import write  # noqa: E402
from ref_model import DenseNetBiLSTM  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)


def flat(ts):
    return torch.cat([t.detach().reshape(-1) for t in ts])


def buffers(m):
    out = []
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            out += [mod.running_mean, mod.running_var]
    return flat(out)


def batch(N, T, Fb, lengths, K, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, Fb, generator=g)
    for n, L in enumerate(lengths):
        x[n, L:] = 0
    y = torch.randint(0, K, (N,), generator=g)
    return x, torch.tensor(lengths), y


def run(m, x, lengths):
    # model input is (N, 1, F, T); chorus takes (N, T, F)
    return m(x.transpose(1, 2).unsqueeze(1).contiguous(), lengths)


def case(name, cfg, N, T, lengths, K, seed, steps):
    torch.manual_seed(seed)
    m = DenseNetBiLSTM(n_classes=K, **cfg)
    x, lens, y = batch(N, T, cfg["n_mels"], lengths, K, seed + 1)
    t = {"params0": flat(m.parameters()), "x": x, "lengths": lens.float(), "labels": y.float()}
    m.train()
    logits = run(m, x, lens)
    loss = F.cross_entropy(logits, y, label_smoothing=0.1)
    loss.backward()
    t["logits"] = logits
    t["loss"] = loss.reshape(1)
    t["grad"] = flat(p.grad for p in m.parameters())
    t["buffers1"] = buffers(m)
    if steps:
        opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.01)
        opt.step()
        t["params_step1"] = flat(m.parameters())
        for k in range(2, steps + 1):
            opt.zero_grad()
            loss = F.cross_entropy(run(m, x, lens), y, label_smoothing=0.1)
            loss.backward()
            opt.step()
            t["params_step%d" % k] = flat(m.parameters())
        t["buffers_end"] = buffers(m)
    m.eval()
    with torch.no_grad():
        t["logits_eval"] = run(m, x, lens)
    write(os.path.join(OUT, "kws_model_%s.tsr" % name), t)


SMALL = dict(n_mels=16, stem_ch=6, growth=4, layers=2, trans_ch=8, hidden=8, att_dim=6, blocks=2)
case("small", SMALL, 3, 50, [37, 50, 21], 5, 11, 5)
case("mean", dict(SMALL, pooling="mean"), 3, 50, [37, 50, 21], 5, 12, 0)
case("default", dict(n_mels=40), 2, 30, [30, 23], 12, 13, 0)
print("kws_model.py: wrote kws_model_{small,mean,default}.tsr to", OUT)
