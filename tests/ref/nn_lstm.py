"""nn_lstm.py OUT_DIR — PyTorch references for models/lstm and models/attention_pool.

Writes OUT_DIR/nn_lstm_<case>.tsr (tensor-file format of tests/tensorfile.h): inputs, flat
weights (chorus layout: per direction w_ih, w_hh, b_ih, b_hh), outputs, random upstream
gradients and every gradient, from torch.nn.LSTM(batch_first=True) driven through
pack_padded_sequence(enforce_sorted=False) with unequal lengths, and from a small additive
attention-pooling module. Exits 0 without writing when torch is missing (the C test skips).
"""
import os
import sys

try:
    import torch
    from _tensorfile import write  # needs numpy
except ImportError:
    print("nn_lstm.py: torch/numpy not available, no dumps written")
    sys.exit(0)

torch.set_num_threads(1)


def flat_lstm(m, bidir, grad=False):
    parts = []
    for sfx in ([""] + (["_reverse"] if bidir else [])):
        for nm in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            p = getattr(m, nm + sfx)
            parts.append((p.grad if grad else p).detach().reshape(-1))
    return torch.cat(parts)


def lstm_case(out_dir, name, N, T, I, H, bidir, lengths, seed):
    torch.manual_seed(seed)
    D = 2 if bidir else 1
    m = torch.nn.LSTM(I, H, batch_first=True, bidirectional=bidir)
    x = torch.randn(N, T, I, requires_grad=True)
    h0 = torch.zeros(D, N, H, requires_grad=True)
    c0 = torch.zeros(D, N, H, requires_grad=True)
    lens = torch.tensor(lengths)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True,
                                                     enforce_sorted=False)
    yp, (hn, cn) = m(packed, (h0, c0))
    y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=True, total_length=T)
    dy = torch.randn(N, T, D * H)
    dhn = torch.randn(D, N, H)
    dcn = torch.randn(D, N, H)
    loss = (y * dy).sum() + (hn * dhn).sum() + (cn * dcn).sum()
    loss.backward()
    write(os.path.join(out_dir, "nn_lstm_%s.tsr" % name), {
        "dims": torch.tensor([N, T, I, H, int(bidir)], dtype=torch.float32),
        "lengths": lens.float(), "x": x, "w": flat_lstm(m, bidir),
        "y": y, "hn": hn, "cn": cn, "dy": dy, "dhn": dhn, "dcn": dcn,
        "dx": x.grad, "dw": flat_lstm(m, bidir, grad=True), "dh0": h0.grad, "dc0": c0.grad,
    })


def attn_case(out_dir, name, N, T, Dm, A, lengths, seed):
    torch.manual_seed(seed)
    proj = torch.nn.Linear(Dm, A)
    score = torch.nn.Linear(A, 1, bias=False)
    h = torch.randn(N, T, Dm, requires_grad=True)
    lens = torch.tensor(lengths)
    mask = torch.arange(T)[None, :] < lens[:, None]              # (N, T)
    e = score(torch.tanh(proj(h))).squeeze(-1)                   # (N, T)
    alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
    out = (alpha.unsqueeze(-1) * h).sum(1)                      # (N, Dm)
    dout = torch.randn(N, Dm)
    (out * dout).sum().backward()
    flat = lambda g: torch.cat([(p.grad if g else p).detach().reshape(-1)
                                for p in (proj.weight, proj.bias, score.weight)])
    write(os.path.join(out_dir, "nn_attn_%s.tsr" % name), {
        "dims": torch.tensor([N, T, Dm, A], dtype=torch.float32), "lengths": lens.float(),
        "h": h, "w": flat(False), "out": out, "alpha": alpha, "dout": dout, "dh": h.grad,
        "dw": flat(True),
    })


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out_dir, exist_ok=True)
    lstm_case(out_dir, "bi", 4, 9, 5, 6, True, [6, 9, 2, 5], 1)
    lstm_case(out_dir, "uni", 3, 7, 3, 5, False, [7, 3, 5], 2)
    attn_case(out_dir, "a", 3, 6, 5, 4, [6, 3, 1], 3)


if __name__ == "__main__":
    main()
