#!/usr/bin/python3
"""tests/test_options_f64.py: the float64 rows of issue #15's options (impls/cpu/optrows_f64.c) answer
their rows themselves, in double-double, instead of taking the certified reference's values.

  test_options_f64.py LSCE FIXTURES_DIR      `lsce verify --json` on the options set: every result
                                             passes; the float64 results take below 1% of their rows
                                             from the reference; with LSCE_ROW_REFERENCE=0 every result
                                             passes or flags rows, and below 1% of the float64 rows are
                                             flagged
  test_options_f64.py LSCE --adversarial     the same on adversarial float64 problems written to a
                                             temporary set (soft-cap saturation with logits up to
                                             1e300, z-loss with lse near 700, soft targets that cancel
                                             against the sigmoid, subnormal and zero sample weights,
                                             masked classes), every exact CPU row, LSCE_SHARDS=3 too (no
                                             LSCE_ROW_REFERENCE=0 pass there);
                                             the reference fraction is printed (not asserted: these
                                             rows are built to be hard), and an ordinary random float64
                                             problem with every option must stay below 1%

Fractions are verify's per-result fractions of the rows in V weighted by each result's rows."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)


def verify(lsce, root, extra_env=None):
    with tempfile.TemporaryDirectory() as tmp:
        j = os.path.join(tmp, "v.json")
        env = dict(os.environ, LSCE_THREADS="3", **(extra_env or {}))
        p = subprocess.run([lsce, "verify", "--fixtures", root, "--impl", "all", "--json", j],
                           capture_output=True, text=True, env=env)
        check(p.returncode in (0, 1), "verify exit %d: %s" % (p.returncode, p.stderr[-400:]))
        return json.load(open(j))["results"] if os.path.exists(j) else []


def fraction(res, key, dtype="float64", case=None):
    x = [r for r in res if r["dtype"] == dtype and (case is None or r["case"].startswith(case))]
    n = sum(r["n"] for r in x)
    return (sum(r[key] * r["n"] for r in x) / n if n else 0.0), len(x)


def judge(lsce, root, label, limit=True, ordinary=None, noref=True):
    res = verify(lsce, root)
    check(len(res) > 0, label + ": verify ran something")
    for r in res:
        check(r["pass"], "%s: %s %s %s %s %s fails (loss %.3g grad %.3g ulp, reference rows %.3g)" % (
            label, r["impl"], r["case"], r["variant"], r["smoothing"], r["reduction"], r["loss_ulp"],
            r["grad_ulp"], r["reference_rows"]))
    fr, nres = fraction(res, "reference_rows")
    print("%s: %d float64 results, fraction of rows from the reference %.4f" % (label, nres, fr))
    if limit:
        check(fr < 0.01, "%s: float64 reference fraction %.4f >= 1%%" % (label, fr))
    if ordinary:
        fo, _ = fraction(res, "reference_rows", case=ordinary)
        print("%s: ordinary cases (%s*): reference fraction %.4f" % (label, ordinary, fo))
        check(fo < 0.01, "%s: ordinary reference fraction %.4f >= 1%%" % (label, fo))
    if not noref:
        return res
    res = verify(lsce, root, {"LSCE_ROW_REFERENCE": "0"})
    for r in res:
        check(r["pass"] or r["flagged_rows"] > 0,
              "%s noref: %s %s %s %s %s outside its bound and not flagged (loss %.3g grad %.3g ulp)" % (
                  label, r["impl"], r["case"], r["variant"], r["smoothing"], r["reduction"], r["loss_ulp"],
                  r["grad_ulp"]))
    ff, _ = fraction(res, "flagged_rows")
    print("%s noref: float64 flagged fraction %.4f" % (label, ff))
    if limit:
        check(ff < 0.01, "%s: float64 flagged fraction %.4f >= 1%%" % (label, ff))
    if ordinary:
        fo, _ = fraction(res, "flagged_rows", case=ordinary)
        check(fo < 0.01, "%s: ordinary flagged fraction %.4f >= 1%%" % (label, fo))
    return res


SOFTMAX = ["k", "k1", "k-torch-weighted", "k-logprob-weighted", "k-nll-weighted", "k1-kl"]
SIGMOID = ["bce", "bce-multilabel", "bce-softmax-target"]


def adversarial_set(root, rng):
    cases = []

    def case(name, logits, targets, options, variants, weights=None, sw=None, smoothings=("0", "0.1"),
             reductions=("mean", "sum", "none")):
        d = os.path.join(root, name)
        os.makedirs(d)
        files = {}
        for role, arr in (("logits", logits), ("targets", targets), ("weights", weights), ("sample_weights", sw)):
            if arr is not None:
                np.save(os.path.join(d, role + ".npy"), arr)
                files[role] = {"path": name + "/" + role + ".npy"}
        n, k = logits.shape
        vs = list(variants)
        cases.append({"case": name, "dtype": "float64", "files": files, "n": n, "k": k,
                      "variants": vs, "smoothings": list(smoothings), "reductions": list(reductions),
                      "grad": {"variants": vs, "smoothings": list(smoothings), "reductions": list(reductions),
                               "rows": None},
                      "ignore_index": -100, "pad_index": None, "options": list(options), "regime": "options",
                      "targets_dtype": str(targets.dtype),
                      "weights_dtype": "float64" if weights is not None else None})

    n, k = 6, 9
    w = rng.uniform(0.25, 2.0, k)
    y = rng.integers(0, k, n).astype(np.int64)
    # soft-cap saturation: |z| from 1e3 to 1e300, subnormals, a masked class, C = 30 and C = 0.5
    z = rng.choice([-1, 1], (n, k)) * 10.0 ** rng.uniform(-1, 3, (n, k))
    z[0, :3] = [1e300, -1e300, 5e-324]
    z[1, 2] = -np.inf
    z[2, :] = 1e3 + rng.uniform(0, 1e-9, k)
    for c in ("30", "0.5"):
        case("adv_cap%s" % c.replace(".", ""), z, y, ["--softcap", c, "--logit-scale", "1.25"], SOFTMAX + SIGMOID, w)
    # z-loss with lse near 700 (logits near 700, one row spread), several weights
    z = 695.0 + rng.uniform(0, 5, (n, k))
    z[3] = rng.uniform(-700, 700, k)
    case("adv_zloss700", z, y, ["--z-loss", "0.0001"], SOFTMAX, w)
    case("adv_zloss700_big", z, y, ["--z-loss", "1", "--logit-scale", "1.0009765625"], SOFTMAX, w)
    # soft targets that cancel: t = sigmoid(x) rounded (bce's gradient sigma(x) - t' cancels at e = 0),
    # near-one-hot rows with 1e-17 residues (k, k-logprob-weighted)
    z = rng.normal(0, 3, (n, k))
    t = 1.0 / (1.0 + np.exp(-z))
    t[0] = 0.0
    t[0, 1] = 1.0 - 1e-16
    t[0, 2] = 1e-17
    t[1] = 1.0 / k
    case("adv_soft_cancel", z, t, ["--logit-scale", "0.75"], ["k", "k-logprob-weighted", "bce"],
         w, smoothings=("0", "0.1"))
    # subnormal and zero sample weights under the weighted normalizers
    sw = np.array([5e-324, 0.0, 1e-310, 1.0, 2.5e-308, 3.0])
    z = rng.normal(0, 4, (n, k))
    for norm in ("sample-weights", "nonzero", "valid"):
        case("adv_sw_%s" % norm.replace("-", ""), z, y, ["--z-loss", "0.01", "--normalizer", norm],
             [v for v in SOFTMAX if v != "k-nll-weighted"], w, sw=sw, reductions=("mean",))
        case("adv_swsig_%s" % norm.replace("-", ""), z, y, ["--softcap", "3", "--normalizer", norm], SIGMOID, w, sw=sw,
             reductions=("mean",))
    case("adv_sw_none", z, y, ["--softcap", "15"], SOFTMAX + SIGMOID, w, sw=sw, reductions=("sum", "none"))
    # ordinary random float64 problems with every option (asserted below 1%)
    N, K = 48, 40
    z = rng.normal(0, 2, (N, K))
    yy = rng.integers(0, K, N).astype(np.int64)
    sw = rng.uniform(0, 2, N)
    ww = rng.uniform(0.5, 1.5, K)
    case("ord_all", z, yy, ["--logit-scale", "1.5", "--softcap", "30", "--z-loss", "0.0001"], SOFTMAX, ww, sw=sw)
    case("ord_sig", z, yy, ["--logit-scale", "0.5", "--softcap", "10"], SIGMOID, ww, sw=sw)
    tt = rng.dirichlet(np.ones(K), N)
    case("ord_soft", z, tt, ["--logit-scale", "2", "--z-loss", "0.001"], ["k", "k-logprob-weighted"], ww, sw=sw)
    json.dump({"schema": 1, "set": "options-f64-adversarial", "cases": cases},
              open(os.path.join(root, "manifest.json"), "w"), indent=1)


def main():
    lsce = os.path.abspath(sys.argv[1])
    if "--adversarial" in sys.argv[2:]:
        with tempfile.TemporaryDirectory() as root:
            adversarial_set(root, np.random.default_rng(20261129))
            judge(lsce, root, "adversarial", limit=False, ordinary="ord_")
            os.environ["LSCE_SHARDS"] = "3"
            judge(lsce, root, "adversarial LSCE_SHARDS=3", limit=False, ordinary="ord_", noref=False)
    else:
        judge(lsce, os.path.abspath(sys.argv[2]), "options set")
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
