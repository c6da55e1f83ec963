"""nn_layers.py OUT_DIR — PyTorch references for the core layers of models/ (nn-core).

One OUT_DIR/nn_layers_<case>.tsr per case (format: tests/ref/_tensorfile.py): the input x, the
weights, the output y, a random upstream gradient dy and every gradient (dx, dw, db, ...), from
torch.nn.Conv2d / Conv1d / BatchNorm2d / BatchNorm1d / AvgPool2d / MaxPool2d / Linear, dropout
with an explicit mask, masked mean / statistics pooling (WeSpeaker TSTP: unbiased var, eps 1e-7)
and F.cross_entropy(label_smoothing). Conv configs go into the dump as "cfg" (see the C test).
torch.manual_seed fixed, one thread. Exits 0 without writing when torch is missing.
"""
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("nn_layers.py: torch not available, no dumps written")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _tensorfile import write  # noqa: E402

torch.set_num_threads(1)
OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)


def dump(case, tensors):
    write(os.path.join(OUT, "nn_layers_%s.tsr" % case), tensors)


def conv2d_case(case, N, Cin, F_, T, Cout, k, s, p, d, bias, seed):
    torch.manual_seed(seed)
    m = torch.nn.Conv2d(Cin, Cout, k, stride=s, padding=p, dilation=d, bias=bias)
    x = torch.randn(N, Cin, F_, T, requires_grad=True)
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    cfg = [N, Cin, F_, T, Cout, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], int(bias)]
    t = {"cfg": torch.tensor(cfg, dtype=torch.float32), "x": x, "w": m.weight, "y": y, "dy": dy,
         "dx": x.grad, "dw": m.weight.grad}
    if bias:
        t["b"] = m.bias
        t["db"] = m.bias.grad
    dump(case, t)


def conv1d_case(case, N, Cin, T, Cout, k, s, p, d, seed):
    torch.manual_seed(seed)
    m = torch.nn.Conv1d(Cin, Cout, k, stride=s, padding=p, dilation=d)
    x = torch.randn(N, Cin, T, requires_grad=True)
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    cfg = [N, Cin, T, Cout, k, s, p, d]
    dump(case, {"cfg": torch.tensor(cfg, dtype=torch.float32), "x": x, "w": m.weight,
                "b": m.bias, "y": y, "dy": dy, "dx": x.grad, "dw": m.weight.grad,
                "db": m.bias.grad})


def bn_case(case, shape, seed):
    torch.manual_seed(seed)
    C = shape[1]
    m = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(C)
    with torch.no_grad():
        m.weight.copy_(1 + 0.5 * torch.randn(C))
        m.bias.copy_(0.5 * torch.randn(C))
        m.running_mean.copy_(0.3 * torch.randn(C))
        m.running_var.copy_(1 + 0.5 * torch.rand(C))
    rm0, rv0 = m.running_mean.clone(), m.running_var.clone()
    x = (2 * torch.randn(*shape) + 0.7).requires_grad_(True)
    m.train()
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    m.eval()
    with torch.no_grad():
        y_eval = m(x)
    dump(case, {"x": x, "gamma": m.weight, "beta": m.bias, "rm0": rm0, "rv0": rv0, "y": y,
                "dy": dy, "dx": x.grad, "dgamma": m.weight.grad, "dbeta": m.bias.grad,
                "rm1": m.running_mean, "rv1": m.running_var, "y_eval": y_eval})


def pool_case(case, kind, shape, k, s, seed):
    torch.manual_seed(seed)
    x = torch.randn(*shape, requires_grad=True)
    m = torch.nn.AvgPool2d(k, s) if kind == "avg" else torch.nn.MaxPool2d(k, s)
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    cfg = list(shape) + [k[0], k[1], s[0], s[1]]
    dump(case, {"cfg": torch.tensor(cfg, dtype=torch.float32), "x": x, "y": y, "dy": dy,
                "dx": x.grad})


def linear_case(seed):
    torch.manual_seed(seed)
    m = torch.nn.Linear(13, 5)
    x = torch.randn(7, 13, requires_grad=True)
    y = m(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    dump("linear", {"x": x, "w": m.weight, "b": m.bias, "y": y, "dy": dy, "dx": x.grad,
                    "dw": m.weight.grad, "db": m.bias.grad})


def relu_dropout_case(seed):
    torch.manual_seed(seed)
    p = 0.3
    x = torch.randn(4, 37, requires_grad=True)
    r = torch.relu(x)
    mask = (torch.rand(4, 37) >= p).float() / (1 - p)  # the mask torch's dropout would apply
    y = r * mask
    dy = torch.randn_like(y)
    y.backward(dy)
    dump("relu_dropout", {"p": torch.tensor([p]), "x": x, "mask": mask, "r": r, "y": y,
                          "dy": dy, "dx": x.grad})


def time_pool_case(seed):
    torch.manual_seed(seed)
    N, C, T = 3, 5, 9
    lengths = [9, 4, 6]
    x = torch.randn(N, C, T, requires_grad=True)
    means, stats = [], []
    for n in range(N):
        xs = x[n, :, :lengths[n]]
        mu = xs.mean(dim=-1)
        sd = torch.sqrt(torch.var(xs, dim=-1) + 1e-7)  # WeSpeaker TSTP (unbiased var)
        means.append(mu)
        stats.append(torch.cat([mu, sd]))
    ym, ys = torch.stack(means), torch.stack(stats)
    dym, dys = torch.randn_like(ym), torch.randn_like(ys)
    (ym * dym).sum().backward(retain_graph=True)
    dxm = x.grad.clone()
    x.grad = None
    (ys * dys).sum().backward()
    dump("time_pool", {"lengths": torch.tensor(lengths, dtype=torch.float32), "x": x,
                       "y_mean": ym, "dy_mean": dym, "dx_mean": dxm, "y_stats": ys,
                       "dy_stats": dys, "dx_stats": x.grad})


def ce_case(seed):
    torch.manual_seed(seed)
    N, K, eps = 6, 7, 0.1
    z = (3 * torch.randn(N, K)).requires_grad_(True)
    y = torch.randint(0, K, (N,))
    loss = F.cross_entropy(z, y, label_smoothing=eps)
    loss.backward()
    dump("ce", {"eps": torch.tensor([eps]), "logits": z, "labels": y.float(),
                "loss": loss.reshape(1), "dlogits": z.grad})


conv2d_case("conv2d_a", 3, 5, 7, 11, 4, (3, 3), (1, 1), (1, 1), (1, 1), True, 1)
conv2d_case("conv2d_b", 2, 3, 9, 10, 6, (3, 2), (2, 1), (0, 2), (1, 2), True, 2)
conv2d_case("conv2d_c", 3, 6, 5, 7, 4, (1, 1), (1, 1), (0, 0), (1, 1), False, 3)
conv2d_case("conv2d_d", 2, 4, 8, 9, 3, (3, 3), (2, 2), (1, 1), (2, 1), True, 4)
conv1d_case("conv1d_a", 3, 5, 13, 6, 3, 1, 2, 2, 5)
conv1d_case("conv1d_b", 2, 4, 12, 3, 5, 2, 1, 1, 6)
bn_case("bn2d", (3, 5, 7, 11), 7)
bn_case("bn1d", (4, 6, 13), 8)
pool_case("avgpool", "avg", (3, 5, 7, 11), (2, 1), (2, 1), 9)
pool_case("maxpool", "max", (2, 3, 8, 11), (2, 3), (2, 2), 10)
pool_case("maxpool_ov", "max", (2, 3, 7, 9), (3, 3), (2, 2), 11)
linear_case(12)
relu_dropout_case(13)
time_pool_case(14)
ce_case(15)
print("nn_layers.py: dumps written to", OUT)
