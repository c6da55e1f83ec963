"""nn_optim.py OUT_DIR — torch.optim references for models/optim and models/lr_schedule.

Writes OUT_DIR/nn_optim.tsr: one parameter vector split in two ranges (20 + 17 floats; the second
range is a separate param group with half the lr, mirroring chorus's per-range lr scale), five
random gradients, and the parameters after each of five steps of
  sgd_nesterov: SGD(lr 0.1, momentum 0.9, nesterov, weight_decay 1e-2)
  sgd_damp:     SGD(lr 0.05, momentum 0.8, dampening 0.3, weight_decay 0)
  adamw:        AdamW(lr 1e-2, betas (0.9, 0.999), eps 1e-8, weight_decay 0.05)
clip_grad_norm_ cases, and learning-rate sequences from LambdaLR (warm-up + cosine, formula in
models/lr_schedule.h), StepLR and ReduceLROnPlateau (max mode; min mode with cooldown).
"""
import math
import os
import sys

try:
    import numpy as np
    import torch
    from _tensorfile import write
except ImportError:
    print("nn_optim.py: torch/numpy not available, no dumps written")
    sys.exit(0)

torch.set_num_threads(1)
N1, N2, STEPS = 20, 17, 5


def run_opt(make, p0, grads):
    a = torch.nn.Parameter(p0[:N1].clone())
    b = torch.nn.Parameter(p0[N1:].clone())
    opt = make(a, b)
    out = []
    for s in range(STEPS):
        a.grad = grads[s, :N1].clone()
        b.grad = grads[s, N1:].clone()
        opt.step()
        out.append(torch.cat([a.detach(), b.detach()]))
    return torch.stack(out)


def warmup_cosine(base, floor, W, S, s):
    if s < W:
        return base * (s + 1) / W
    frac = min(1.0, (s - W) / max(1, S - W))
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * frac))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(5)
    p0 = torch.randn(N1 + N2)
    grads = torch.randn(STEPS, N1 + N2)
    t = {"p0": p0, "grads": grads}
    t["sgd_nesterov"] = run_opt(lambda a, b: torch.optim.SGD(
        [{"params": [a]}, {"params": [b], "lr": 0.05}], lr=0.1, momentum=0.9, nesterov=True,
        weight_decay=1e-2), p0, grads)
    t["sgd_damp"] = run_opt(lambda a, b: torch.optim.SGD(
        [{"params": [a]}, {"params": [b], "lr": 0.025}], lr=0.05, momentum=0.8, dampening=0.3),
        p0, grads)
    t["adamw"] = run_opt(lambda a, b: torch.optim.AdamW(
        [{"params": [a]}, {"params": [b], "lr": 0.005}], lr=1e-2, weight_decay=0.05), p0, grads)

    # clip_grad_norm_ over the two tensors
    for name, mx in (("clip_small", 1.0), ("clip_large", 100.0)):
        a = torch.nn.Parameter(torch.zeros(N1))
        b = torch.nn.Parameter(torch.zeros(N2))
        a.grad = grads[0, :N1].clone() * 3
        b.grad = grads[0, N1:].clone() * 3
        total = torch.nn.utils.clip_grad_norm_([a, b], mx)
        t[name + "_in"] = grads[0] * 3
        t[name + "_out"] = torch.cat([a.grad, b.grad])
        t[name + "_norm"] = torch.tensor([float(total)])

    # LR schedules: lr in effect at step/epoch s, for s = 0 .. 13
    p = torch.nn.Parameter(torch.zeros(1))
    base, floor, W, S = 0.1, 0.001, 3, 10
    opt = torch.optim.SGD([p], lr=base)
    sch = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(base, floor, W, S, s) / base)
    seq = []
    for s in range(14):
        seq.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    t["lr_cosine"] = torch.tensor(seq, dtype=torch.float64)
    opt = torch.optim.SGD([p], lr=0.1)
    sch = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    seq = []
    for s in range(10):
        seq.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    t["lr_step"] = torch.tensor(seq, dtype=torch.float64)
    metrics = [0.50, 0.60, 0.60, 0.60004, 0.59, 0.61, 0.61, 0.60, 0.60, 0.60, 0.62, 0.62, 0.62]
    t["plateau_metrics"] = torch.tensor(metrics)
    for name, mode, kw, ms in (("plateau_max", "max", dict(patience=2, factor=0.5), metrics),
                               ("plateau_min", "min", dict(patience=1, factor=0.3, cooldown=1,
                                                           min_lr=0.004), metrics)):
        opt = torch.optim.SGD([p], lr=0.1)
        sch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, **kw)
        seq = []
        for m in ms:
            opt.step()
            sch.step(float(np.float32(m)))
            seq.append(opt.param_groups[0]["lr"])
        t[name] = torch.tensor(seq, dtype=torch.float64)
    write(os.path.join(out_dir, "nn_optim.tsr"), t)


if __name__ == "__main__":
    main()
