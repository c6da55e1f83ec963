#!/bin/sh
# test_sv_score.sh — sv-score end to end: a generated Kaldi ark of embeddings (NumPy writer),
# Kaldi and VoxCeleb trial lists, cosine and AS-norm scores against NumPy, eval against
# scikit-learn's roc_curve EER, DET SVG/CSV, fuse -> apply -> eval (the fused Cllr beats each
# system on held-out trials), and bad inputs: one clear line, the right exit code, no crash.
. "$(dirname "$0")/cli_lib.sh"
SV="$CHORUS_BIN/sv-score"
[ -x "$SV" ] || { echo "SKIP: $SV not built"; exit 77; }
/usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/sklearn"; exit 77; }
D="$CHORUS_TMP/sv_score"; rm -rf "$D"; mkdir -p "$D"
PY=/usr/bin/python3

# ---- data: 30 speakers x 4 utterances, dim 24; a 50-speaker cohort; trials in both formats
cat > "$D/gen.py" <<'PYEOF'
import struct, sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
def write_ark(path, items):
    with open(path, "wb") as f:
        for k, v in items:
            f.write(k.encode() + b" \0BFV " + struct.pack("<bi", 4, len(v)) + v.astype("<f4").tobytes())
dim = 24
spk = rng.normal(0, 1, (30, dim))
emb = {}
for s in range(30):
    for u in range(4):
        # speaker-dependent noise level: some speakers are hard (AS-norm has work to do)
        emb["id%04d/vid%d/%05d.wav" % (s, u % 2, u)] = (spk[s] + rng.normal(0, 0.6 + 0.05 * (s % 7), dim)).astype(np.float32)
keys = list(emb)
write_ark(d + "/emb.ark", emb.items())
write_ark(d + "/emb_noext.ark", [(k[:-4], v) for k, v in emb.items()])
coh = rng.normal(0, 1, (50, dim)) + rng.normal(0, 0.6, (50, dim))
write_ark(d + "/cohort.ark", [("c%02d" % i, coh[i].astype(np.float32)) for i in range(50)])
pairs = []
for i in range(len(keys)):
    for j in range(i + 1, len(keys)):
        if (i * 31 + j * 17) % 5 == 0 or keys[i][:6] == keys[j][:6]:
            pairs.append((keys[i], keys[j], keys[i][:6] == keys[j][:6]))
with open(d + "/trials.kaldi", "w") as f:
    for a, b, t in pairs:
        f.write("%s %s %s\n" % (a, b, "target" if t else "nontarget"))
with open(d + "/trials.vox", "w") as f:
    for a, b, t in pairs:
        f.write("%d %s %s\n" % (int(t), a, b))
for name, part in (("dev", 0), ("eval", 1)):
    with open(d + "/trials.%s" % name, "w") as f:
        for n, (a, b, t) in enumerate(pairs):
            if n % 2 == part:
                f.write("%s %s %s\n" % (a, b, "target" if t else "nontarget"))
# references: cosine on L2-normalised float32 vectors in float64; AS-norm top-20
def unit(v): v = v.astype(np.float64); return v / np.linalg.norm(v)
E = {k: unit(v) for k, v in emb.items()}
C = np.array([unit(c.astype(np.float32)) for c in coh])
def stats(k):
    s = np.sort(C @ E[k])[::-1][:20]
    return s.mean(), s.std()
with open(d + "/ref_cos.txt", "w") as f1, open(d + "/ref_asn.txt", "w") as f2:
    for a, b, t in pairs:
        s = E[a] @ E[b]
        (ma, sa), (mb, sb) = stats(a), stats(b)
        f1.write("%s %s %.12g\n" % (a, b, s))
        f2.write("%s %s %.12g\n" % (a, b, 0.5 * ((s - ma) / sa + (s - mb) / sb)))
print(len(pairs), "trials,", sum(p[2] for p in pairs), "target")
PYEOF
$PY "$D/gen.py" "$D" || cli_fail "data generator failed"

# cmp_scores GOT WANT TOL: same pairs in the same order, |d| <= TOL
cat > "$D/cmp.py" <<'PYEOF'
import sys
g = [l.split() for l in open(sys.argv[1])]; w = [l.split() for l in open(sys.argv[2])]
tol = float(sys.argv[3])
assert len(g) == len(w), (len(g), len(w))
m = 0
for a, b in zip(g, w):
    assert a[:2] == b[:2], (a, b)
    m = max(m, abs(float(a[2]) - float(b[2])))
print("%s: %d scores, max |d| %.3g (tol %g)" % (sys.argv[1], len(g), m, tol))
sys.exit(0 if m <= tol else 1)
PYEOF
cmp_scores() { $PY "$D/cmp.py" "$1" "$2" "$3" || cli_fail "scores $1 differ from $2"; }

# ---- score: Kaldi and VoxCeleb trials give the same cosine scores (float32 embeddings:
# 1e-6), --strip-ext finds extension-less keys, AS-norm matches NumPy (float32 cohort
# products: 1e-4 on normalised scores of magnitude ~10)
expect_ok "$SV" score "$D/trials.kaldi" ark:"$D/emb.ark" "$D/cos.txt"
cmp_scores "$D/cos.txt" "$D/ref_cos.txt" 1e-6
expect_ok "$SV" score "$D/trials.vox" ark:"$D/emb.ark" "$D/cos_vox.txt"
cmp "$D/cos.txt" "$D/cos_vox.txt" || cli_fail "VoxCeleb trials score differently"
cut -d' ' -f1,2 "$D/trials.kaldi" > "$D/trials.pairs"   # unlabelled "enroll test" lines
expect_ok "$SV" score "$D/trials.pairs" ark:"$D/emb.ark" "$D/cos_pairs.txt"
cmp "$D/cos.txt" "$D/cos_pairs.txt" || cli_fail "unlabelled pairs score differently"
expect_ok "$SV" score --strip-ext "$D/trials.vox" ark:"$D/emb_noext.ark" "$D/cos_strip.txt"
cmp "$D/cos.txt" "$D/cos_strip.txt" || cli_fail "--strip-ext scores differ"
expect_ok "$SV" score --cohort ark:"$D/cohort.ark" --top-n 20 --json "$D/trials.kaldi" ark:"$D/emb.ark" "$D/asn.txt"
cmp_scores "$D/asn.txt" "$D/ref_asn.txt" 1e-4
tail -1 "$CLI_OUT" | grep -q '"asnorm":true,"cohort":50,"top_n":20' || cli_fail "score json: $(tail -1 "$CLI_OUT")"

# ---- eval: JSON keys, EER equal to sklearn's roc_curve on the same file, DET files
expect_ok "$SV" eval --json --det "$D/det.svg" --det-csv "$D/det.csv" "$D/trials.kaldi" "$D/cos.txt"
cat "$CLI_OUT"
tail -1 "$CLI_OUT" > "$D/eval.json"
cat > "$D/check_eval.py" <<'PYEOF'
import json, sys, numpy as np
from sklearn.metrics import roc_curve
j = json.load(open(sys.argv[1]))
for k in ("eer", "min_dcf_p01", "min_dcf_p05", "act_dcf_p01", "cllr", "min_cllr", "n_target", "n_nontarget"):
    assert k in j, k
lab = {(a, b): t == "target" for a, b, t in (l.split() for l in open(sys.argv[2]))}
sc = [(float(s), lab[(a, b)]) for a, b, s in (l.split() for l in open(sys.argv[3]))]
y = np.array([t for _, t in sc]); s = np.array([v for v, _ in sc])
fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False); fnr = 1 - tpr; d = fnr - fpr
i = int(np.argmax(d <= 0)); t = 0 if d[i] == 0 else d[i - 1] / (d[i - 1] - d[i])
eer = fpr[i] if d[i] == 0 else fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
print("eer %.6g (sklearn %.6g), n_target %d (%d)" % (j["eer"], eer, j["n_target"], y.sum()))
assert abs(j["eer"] - eer) < 1e-8, (j["eer"], eer)   # JSON prints 9 significant digits
assert j["n_target"] == y.sum() and j["n_nontarget"] == len(y) - y.sum()
assert 0 < j["eer"] < 0.3 and j["min_cllr"] <= j["cllr"]
PYEOF
$PY "$D/check_eval.py" "$D/eval.json" "$D/trials.kaldi" "$D/cos.txt" || cli_fail "eval disagrees with sklearn"
head -c 5 "$D/det.svg" | grep -q '<?xml' || cli_fail "det.svg is not SVG"
grep -q '<polyline' "$D/det.svg" && grep -q '</svg>' "$D/det.svg" || cli_fail "det.svg has no curve"
$PY -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$D/det.svg" || cli_fail "det.svg is not well-formed XML"
head -1 "$D/det.csv" | grep -qx 'threshold,p_fa,p_miss' || cli_fail "det.csv header"
[ "$(wc -l < "$D/det.csv")" -gt 10 ] || cli_fail "det.csv too short"
expect_ok "$SV" eval "$D/trials.vox" "$D/asn.txt"
grep -q '^EER' "$CLI_OUT" && grep -q '^minDCF(0.01)' "$CLI_OUT" || cli_fail "text summary"

# ---- fuse on dev, apply to eval: fused Cllr below each system's on held-out trials
for s in cos asn; do
    $PY - "$D/$s.txt" "$D/trials.dev" "$D/trials.eval" "$D/$s" <<'PYEOF'
import sys
sc = {tuple(l.split()[:2]): l for l in open(sys.argv[1])}
for part, tr in (("dev", sys.argv[2]), ("eval", sys.argv[3])):
    with open("%s.%s" % (sys.argv[4], part), "w") as f:
        for l in open(tr):
            f.write(sc[tuple(l.split()[:2])])
PYEOF
done
expect_ok "$SV" fuse --json --key "$D/trials.dev" "$D/fusion.txt" "$D/cos.dev" "$D/asn.dev"
cat "$CLI_OUT"
head -1 "$D/fusion.txt" | grep -qx 'chorus-fusion 1' || cli_fail "fusion file header"
expect_ok "$SV" apply "$D/fusion.txt" "$D/fused.eval" "$D/cos.eval" "$D/asn.eval"
cllr_of() { "$SV" eval --json "$D/trials.eval" "$1" | tail -1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["cllr"])'; }
c1=$(cllr_of "$D/cos.eval"); c2=$(cllr_of "$D/asn.eval"); cf=$(cllr_of "$D/fused.eval")
echo "eval Cllr: cosine $c1, AS-norm $c2, fused $cf"
$PY -c "import sys; sys.exit(0 if $cf < $c1 and $cf < $c2 else 1)" || cli_fail "fusion did not lower Cllr"
# calibration of one system (fuse with one file), and --ignore-missing on eval
expect_ok "$SV" fuse --key "$D/trials.dev" --p-target 0.01 "$D/cal.txt" "$D/cos.dev"
expect_ok "$SV" apply "$D/cal.txt" "$D/cal.eval" "$D/cos.eval"
head -n 50 "$D/cos.txt" > "$D/partial.txt"
expect_ok "$SV" eval --ignore-missing "$D/trials.kaldi" "$D/partial.txt"
grep -q 'WARNING: .*partial.txt: [0-9]* of [0-9]* trials have no score' "$CLI_ERR" || cli_fail "no warning for missing scores"

# ---- bad inputs: exit 1 for data, 2 for usage; one line naming the file
printf 'a b target\nc d nontarget\n' > "$D/t_small"
printf 'a b target\nc d maybe\n' > "$D/t_label"
printf 'a b\n' > "$D/t_nolabel"
printf 'a b c d\n' > "$D/t_fields"
: > "$D/empty"
printf 'a b 0.5\n' > "$D/s_one"
printf 'a b 0.5\nc d 0.1\nx y 3\n' > "$D/s_extra"
printf 'a b 0.5\nc d zz\n' > "$D/s_nan"
head -c 300 "$D/emb.ark" > "$D/trunc.ark"
printf 'chorus-fusion 1\np-target 0.5\nl2 0\nsystems 2\nsystem 1 0 1 1\n' > "$D/f_trunc"
printf 'hello\n' > "$D/f_magic"
expect_error 1 "nope.trials" "$SV" score "$D/nope.trials" ark:"$D/emb.ark" "$D/x"
expect_error 1 "t_label:2: unknown label 'maybe'" "$SV" eval "$D/t_label" "$D/s_one"
expect_error 1 "t_fields:1: expected 3 fields" "$SV" score "$D/t_fields" ark:"$D/emb.ark" "$D/x"
expect_error 1 "t_nolabel:1: no label" "$SV" eval "$D/t_nolabel" "$D/s_one"
expect_error 1 "t_small:1: no embedding 'a'" "$SV" score "$D/t_small" ark:"$D/emb.ark" "$D/x"
expect_error 1 "trials.vox:[0-9]+: no embedding '.*wav' .*hint: --strip-ext" "$SV" score "$D/trials.vox" ark:"$D/emb_noext.ark" "$D/x"
expect_error 1 "trunc.ark" "$SV" score "$D/trials.kaldi" ark:"$D/trunc.ark" "$D/x"
expect_error 1 "nope.ark" "$SV" score "$D/trials.kaldi" ark:"$D/nope.ark" "$D/x"
expect_error 1 "empty: no scores" "$SV" eval "$D/t_small" "$D/empty"
expect_error 1 "empty: no trials" "$SV" eval "$D/empty" "$D/s_one"
expect_error 1 "s_one: no score for trial 'c d' \(.*t_small:2\)" "$SV" eval "$D/t_small" "$D/s_one"
expect_error 1 "s_extra:3: score for 'x y' has no trial" "$SV" eval "$D/t_small" "$D/s_extra"
expect_error 1 "s_nan:2: score 'zz' is not a finite number" "$SV" eval "$D/t_small" "$D/s_nan"
expect_error 1 "no non-target trials" "$SV" eval "$D/t_small" "$D/s_one" --ignore-missing
expect_error 1 "f_trunc: truncated fusion model" "$SV" apply "$D/f_trunc" "$D/x" "$D/cos.eval" "$D/asn.eval"
expect_error 1 "f_magic: not a chorus fusion model" "$SV" apply "$D/f_magic" "$D/x" "$D/cos.eval"
expect_error 1 "partial.txt:1: trial '.*' is not in .*cos.eval" "$SV" apply "$D/fusion.txt" "$D/x" "$D/cos.eval" "$D/partial.txt"
head -n 20 "$D/cos.eval" > "$D/partial.eval"
expect_error 1 "partial.eval: no score for trial '.*' \\(.*cos.eval:21\\); all score files" "$SV" apply "$D/fusion.txt" "$D/x" "$D/cos.eval" "$D/partial.eval"
expect_error 1 "cos.dev: no score for trial" "$SV" fuse --key "$D/trials.kaldi" "$D/x" "$D/cos.dev"
expect_error 2 "fuses 2 systems but 1 score file was given" "$SV" apply "$D/fusion.txt" "$D/x" "$D/cos.eval"
expect_error 2 "--key <dev-trials> is required" "$SV" fuse "$D/x" "$D/cos.dev"
expect_error 2 "unknown option '--bogus'" "$SV" eval --bogus "$D/t_small" "$D/s_one"
expect_error 2 "top-n" "$SV" score --top-n 0 "$D/trials.kaldi" ark:"$D/emb.ark" "$D/x"
expect_error 2 "expected 2 arguments" "$SV" eval "$D/t_small"
expect_error 2 "unknown command 'frobnicate'" "$SV" frobnicate
expect_error 2 "missing command" "$SV"
expect_error 2 "short options" "$SV" eval -x "$D/t_small" "$D/s_one"
[ ! -e "$D/x" ] || cli_fail "a failed command left an output file"
expect_ok "$SV" score --help
grep -q -- '--cohort' "$CLI_OUT" && grep -q -- '--top-n' "$CLI_OUT" || cli_fail "score --help"
echo "$cli_checks checks passed"
