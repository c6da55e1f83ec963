"""scoring_ref.py — independent references for scoring/ (tests/test_scoring.c, test_sv_score.sh).

Usage: /usr/bin/python3 tests/ref/scoring_ref.py OUT_DIR   (run by tests/run.sh)

Writes OUT_DIR/scoring_ref/:
  <case>.txt        "label score" lines (1 target, 0 non-target; scores as %.17g)
  expected.txt      "<case> n_tar n_non eer min_dcf_p01 min_dcf_p05 act_dcf_p01 cllr min_cllr"
  fusion_dev.txt    "label s1 s2" lines: two synthetic, correlated, miscalibrated systems
  fusion_eval.txt   the same for held-out eval trials
  fusion_expected.txt  one line per setting:
                    "p_target l2 znorm K mean_1..K sd_1..K w_1..K offset objective"
How each number is made (not from our code):
  EER      sklearn.metrics.roc_curve(drop_intermediate=False); the crossing of the polyline
           (fpr, 1 - tpr) with fnr = fpr, interpolated on the segment where fnr - fpr changes
           sign. For tie-free cases also checked here against the usual
           brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1).
  minDCF   brute force over every threshold t in unique(scores) + {+inf}:
           P_miss = mean(tar < t), P_fa = mean(non >= t), min of
           (p P_miss + (1-p) P_fa) / min(p, 1-p).
  actDCF   the same cost at t = log((1-p)/p).
  Cllr     (mean(logaddexp(0, -tar)) + mean(logaddexp(0, non))) / (2 ln 2).
  minCllr  PAV (a stack of blocks, written here) over labels sorted by score with targets
           before non-targets among tied scores (a stable sort of [tar, non], as BOSARIS), so
           ties end up pooled; posteriors -> LLRs minus the empirical prior log-odds; Cllr.
  fusion   Newton's method in NumPy (np.linalg.solve) on the prior-weighted logistic loss of
           scoring/fusion.h, from zero, to |grad| < 1e-13.
"""
import os
import sys

import numpy as np
from sklearn.metrics import roc_curve


def eer_sklearn(tar, non):
    y = np.r_[np.ones(len(tar)), np.zeros(len(non))]
    s = np.r_[tar, non]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    d = fnr - fpr
    i = int(np.argmax(d <= 0))  # first point at or past the crossing; d[0] = 1 > 0
    if d[i] == 0:
        return fpr[i]
    t = d[i - 1] / (d[i - 1] - d[i])
    return fpr[i - 1] + t * (fpr[i] - fpr[i - 1])


def eer_brentq(tar, non):
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq
    y = np.r_[np.ones(len(tar)), np.zeros(len(non))]
    fpr, tpr, _ = roc_curve(y, np.r_[tar, non])
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-14)


def dcf_norm(pm, pfa, p):
    return (p * pm + (1 - p) * pfa) / min(p, 1 - p)


def min_dcf(tar, non, p):
    thr = np.r_[np.unique(np.r_[tar, non]), np.inf]
    pm = (tar[None, :] < thr[:, None]).mean(axis=1)
    pfa = (non[None, :] >= thr[:, None]).mean(axis=1)
    return dcf_norm(pm, pfa, p).min()


def act_dcf(tar, non, p):
    t = np.log((1 - p) / p)
    return dcf_norm(np.mean(tar < t), np.mean(non >= t), p)


def cllr(tar, non):
    return (np.mean(np.logaddexp(0, -tar)) + np.mean(np.logaddexp(0, non))) / (2 * np.log(2))


def pav(y):
    """Non-decreasing least-squares fit of y (blocks on a stack)."""
    vals, wts = [], []
    for v in y:
        vals.append(float(v))
        wts.append(1.0)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            w = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w
            vals.pop(); wts.pop()
            vals[-1], wts[-1] = v, w
    return np.repeat(vals, np.array(wts, dtype=int))


def min_cllr(tar, non):
    s = np.r_[tar, non]
    lab = np.r_[np.ones(len(tar)), np.zeros(len(non))]
    order = np.argsort(s, kind="stable")  # targets first among ties
    post = pav(lab[order])
    with np.errstate(divide="ignore"):
        llr = np.log(post) - np.log1p(-post) - np.log(len(tar) / len(non))
    lab_sorted = lab[order]
    return cllr(llr[lab_sorted == 1], llr[lab_sorted == 0])


def metric_cases(rng):
    c = {}
    c["gauss"] = (rng.normal(2.0, 1.0, 300), rng.normal(0.0, 1.0, 3000))
    c["gauss_small"] = (rng.normal(1.0, 1.5, 17), rng.normal(-0.5, 1.0, 23))
    c["ties_rounded"] = (np.round(rng.normal(1.5, 1.0, 400) * 2) / 2,
                         np.round(rng.normal(0.0, 1.0, 900) * 2) / 2)
    c["ties_integers"] = (rng.integers(-2, 4, 60).astype(float),
                          rng.integers(-4, 2, 80).astype(float))
    c["all_equal"] = (np.full(5, 0.3), np.full(7, 0.3))
    c["one_each"] = (np.array([1.0]), np.array([-1.0]))
    c["one_each_reversed"] = (np.array([-1.0]), np.array([1.0]))
    c["one_each_tied"] = (np.array([0.25]), np.array([0.25]))
    c["separated"] = (rng.uniform(3, 4, 50), rng.uniform(-1, 0, 70))
    c["separated_reversed"] = (rng.uniform(-1, 0, 50), rng.uniform(3, 4, 70))
    c["imbalanced_few_targets"] = (rng.normal(2.5, 1.0, 3), rng.normal(0.0, 1.0, 5000))
    c["imbalanced_few_nontargets"] = (rng.normal(1.0, 1.0, 2000), rng.normal(0.0, 1.0, 4))
    c["extreme_llrs"] = (rng.normal(30.0, 20.0, 200), rng.normal(-30.0, 20.0, 300))
    c["uniform_overlap"] = (rng.uniform(0, 1, 1000), rng.uniform(0, 1, 1000))
    c["tie_at_bayes_threshold"] = (np.array([np.log(99.0)] * 3 + [5.0, 1.0]),
                                   np.array([np.log(99.0)] * 2 + [-3.0, 0.0, 6.0]))
    for k in range(4):
        nt, nn = int(rng.integers(1, 200)), int(rng.integers(1, 800))
        c["random%d" % k] = (rng.normal(rng.uniform(0, 3), rng.uniform(0.3, 2), nt),
                             rng.normal(0, rng.uniform(0.3, 2), nn))
    return c


def fusion_data(rng, nt, nn):
    """Two systems sharing part of their noise; different scales and offsets (miscalibrated)."""
    lab = np.r_[np.ones(nt), np.zeros(nn)].astype(int)
    common = rng.normal(0, 1, nt + nn)
    s1 = 1.6 * lab + 0.6 * common + 0.8 * rng.normal(0, 1, nt + nn)
    s2 = 1.2 * lab + 0.4 * common + 0.9 * rng.normal(0, 1, nt + nn)
    return lab, np.c_[3.0 * s1 + 1.0, 0.5 * s2 - 2.0]


def train_fusion(lab, x, p, l2, znorm):
    mean = x.mean(axis=0) if znorm else np.zeros(x.shape[1])
    sd = x.std(axis=0) if znorm else np.ones(x.shape[1])
    xs = np.c_[(x - mean) / sd, np.ones(len(x))]
    K = x.shape[1]
    nt, nn = lab.sum(), len(lab) - lab.sum()
    c = np.where(lab == 1, p / nt, (1 - p) / nn)
    lp = np.log(p / (1 - p))
    reg = np.r_[np.full(K, l2), 0.0]
    th = np.zeros(K + 1)

    def obj(th):
        z = xs @ th + lp
        return np.sum(c * np.where(lab == 1, np.logaddexp(0, -z), np.logaddexp(0, z))) + \
            0.5 * np.sum(reg * th * th)
    for _ in range(100):
        z = xs @ th + lp
        sg = 1 / (1 + np.exp(-z))
        g = xs.T @ (c * (sg - lab)) + reg * th
        if np.abs(g).max() < 1e-13:
            break
        H = (xs * (c * sg * (1 - sg))[:, None]).T @ xs + np.diag(reg)
        d = -np.linalg.solve(H, g)
        t, j0 = 1.0, obj(th)
        while obj(th + t * d) > j0 + 1e-4 * t * (g @ d) and t > 1e-12:
            t /= 2
        th = th + t * d
    return mean, sd, th[:K], th[K], obj(th)


def main():
    out = os.path.join(sys.argv[1], "scoring_ref")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261129)
    with open(os.path.join(out, "expected.txt"), "w") as ex:
        for name, (tar, non) in metric_cases(rng).items():
            tar, non = np.asarray(tar, float), np.asarray(non, float)
            with open(os.path.join(out, name + ".txt"), "w") as f:
                for v in tar:
                    f.write("1 %.17g\n" % v)
                for v in non:
                    f.write("0 %.17g\n" % v)
            eer = eer_sklearn(tar, non)
            if len(np.unique(np.r_[tar, non])) == len(tar) + len(non) and len(tar) > 1 and len(non) > 1:
                eb = eer_brentq(tar, non)
                assert abs(eb - eer) < 1e-9, (name, eer, eb)
            m = [eer, min_dcf(tar, non, 0.01), min_dcf(tar, non, 0.05), act_dcf(tar, non, 0.01),
                 cllr(tar, non), min_cllr(tar, non)]
            assert m[5] <= m[4] + 1e-12, (name, m)
            ex.write("%s %d %d %s\n" % (name, len(tar), len(non), " ".join("%.17g" % v for v in m)))
            print("%-28s EER %.5f minDCF01 %.4f minDCF05 %.4f actDCF01 %.4f Cllr %.4f minCllr %.4f"
                  % ((name,) + tuple(m)))
    lab, x = fusion_data(rng, 400, 2000)
    lab_e, x_e = fusion_data(rng, 300, 1500)
    for fn, (l, xx) in (("fusion_dev.txt", (lab, x)), ("fusion_eval.txt", (lab_e, x_e))):
        with open(os.path.join(out, fn), "w") as f:
            for i in range(len(l)):
                f.write("%d %.17g %.17g\n" % (l[i], xx[i, 0], xx[i, 1]))
    with open(os.path.join(out, "fusion_expected.txt"), "w") as f:
        for p, l2, zn in ((0.5, 1e-6, 1), (0.01, 1e-6, 1), (0.5, 0.0, 0), (0.2, 0.05, 1)):
            mean, sd, w, b, j = train_fusion(lab, x, p, l2, zn)
            vals = list(mean) + list(sd) + list(w) + [b, j]
            f.write("%.17g %.17g %d %d %s\n" % (p, l2, zn, x.shape[1],
                                                " ".join("%.17g" % v for v in vals)))
            print("fusion p=%g l2=%g znorm=%d: w %s b %.6f J %.6f" % (p, l2, zn, w, b, j))


if __name__ == "__main__":
    main()
