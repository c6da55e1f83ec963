"""sv_models.py OUT_DIR — PyTorch references for the speaker models models/sv_tdnn and
models/sv_resnet, from bench/sv/ref_models.py on small configs with variable lengths.

One OUT_DIR/sv_<kind>.tsr per model (format: tests/ref/_tensorfile.py):
  cfg        [N, T, F, E, then the kind's hyper-parameters: tdnn channels, stats-channels;
             resnet channels, blocks1..4]
  x, lengths the padded input (N, T, F) (zero past each length) and the lengths (floats)
  <name>     every parameter under its state_dict name (torch default init, batch-norm affine
             parameters randomised so they matter), <bn>.running_mean / running_var randomised
  emb_eval   eval-mode embedding
  emb_train  train-mode embedding (batch statistics), then after.<bn>.running_* (updated
             statistics), dy (random upstream gradient) and grad.<name> for every parameter.
torch.manual_seed fixed, one thread. Exits 0 without writing when torch is missing.
"""
import os
import sys

try:
    import torch
except ImportError:
    print("sv_models.py: torch not available, no dumps written")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "sv"))
from _tensorfile import write  # noqa: E402
from ref_models import TDNN, ResNet  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)


def run(name, model, cfg, N, T, F_, lengths, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                C = mod.num_features
                mod.weight.copy_(1 + 0.3 * torch.randn(C))
                mod.bias.copy_(0.2 * torch.randn(C))
                mod.running_mean.copy_(0.2 * torch.randn(C))
                mod.running_var.copy_(1 + 0.5 * torch.rand(C))
    lengths = torch.tensor(lengths, dtype=torch.int64)
    x = torch.randn(N, T, F_)
    x = x * (torch.arange(T)[None, :, None] < lengths[:, None, None]).float()
    t = {"cfg": torch.tensor(cfg, dtype=torch.float32), "x": x, "lengths": lengths.float()}
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            t[k] = v.clone()
    model.eval()
    with torch.no_grad():
        t["emb_eval"] = model(x, lengths)
    model.train()
    y = model(x, lengths)
    dy = torch.randn_like(y)
    y.backward(dy)
    t["emb_train"] = y
    t["dy"] = dy
    for k, v in model.state_dict().items():
        if "running" in k:
            t["after." + k] = v.clone()
    for k, p in model.named_parameters():
        t["grad." + k] = p.grad
    write(os.path.join(OUT, "sv_%s.tsr" % name), t)


torch.manual_seed(7)
N, T, F_, E = 3, 23, 12, 8
run("tdnn", TDNN(F_, 10, 14, E), [N, T, F_, E, 10, 14], N, T, F_, [23, 17, 9], 8)
torch.manual_seed(9)
N, T, F_, E = 3, 21, 16, 8
run("resnet", ResNet(F_, 4, (2, 1, 1, 1), E), [N, T, F_, E, 4, 2, 1, 1, 1], N, T, F_,
    [21, 14, 5], 10)
print("sv_models.py: wrote sv_tdnn.tsr, sv_resnet.tsr to", OUT)
