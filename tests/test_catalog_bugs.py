#!/usr/bin/python3
# The bugs that issue #15 cites, reproduced by small deliberately buggy float64 implementations of
# our own, and found by `lsce check` (docs/formulations.md "Their pitfalls"): each buggy value must
# FAIL (exit 1) against the problem it claims to compute, and the same computation without the bug
# must PASS (exit 0) within 64 ulps (plain float64 numpy, no compensated sums).
#
#   z-loss added although switched off            OLMo-core #702
#   soft cap written x tanh(x/C)                  unsloth-zoo #593
#   logit scale dropped on a fused path           unsloth #11277
#   mean over every row instead of the valid ones TransformerEngine #2476
#   gradient accumulation: per-micro-batch means  transformers #34191
#   a masked class capped to -C                   the padded-vocabulary bug class
#   the cap's derivative as 1 - tanh^2            pitfall 8 (a gradient finding)
#   0 instead of NaN on a zero denominator        TF Python's safe division
#
# Usage: /usr/bin/python3 tests/test_catalog_bugs.py PATH/TO/lsce
# Prints one line per bug: "bug <name>: buggy <verdict> (<loss line>), fixed <verdict>".

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import test_oracle as base  # noqa: E402


def lse(x):
    m = np.max(x, axis=1, keepdims=True)
    return (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))[:, 0]


def ce_k(x, y, e):
    """per-row k-form loss of transformed logits x (float64)"""
    K = x.shape[1]
    l = lse(x)
    lp = x - l[:, None]
    q = np.full(x.shape, e / K)
    q[np.arange(len(y)), y] += 1 - e
    with np.errstate(invalid="ignore"):
        terms = np.where(q == 0, 0.0, q * lp)
    return -terms.sum(axis=1), l


def bugs():
    rs = np.random.RandomState(34191)
    N, K = 6, 7
    z = rs.standard_normal((N, K)) * 4
    y = rs.randint(0, K, size=N)
    out = []
    # OLMo-core #702: the z-loss added although it is off
    ce, l = ce_k(z, y, 0.1)
    out.append(("zloss-when-off", z, y, [], ce.mean() + 1e-4 * (l ** 2).mean(), ce.mean(), None))
    # unsloth-zoo #593: x tanh(x/C) instead of C tanh(x/C)
    C = 30.0
    zz = z * 10
    ce_b, _ = ce_k(zz * np.tanh(zz / C), y, 0.1)
    ce_f, _ = ce_k(C * np.tanh(zz / C), y, 0.1)
    out.append(("softcap-x-tanh", zz, y, ["--softcap", "30"], ce_b.mean(), ce_f.mean(), None))
    # unsloth #11277: the logit scale dropped
    ce_b, _ = ce_k(z, y, 0.1)
    ce_f, _ = ce_k(0.5 * z, y, 0.1)
    out.append(("scale-dropped", z, y, ["--logit-scale", "0.5"], ce_b.mean(), ce_f.mean(), None))
    # TransformerEngine #2476: divided by every row, ignored rows included
    yi = y.copy()
    yi[[1, 4]] = -100
    v = yi != -100
    ce, _ = ce_k(z[v], yi[v], 0.1)
    out.append(("mean-over-all-rows", z, yi, [], ce.sum() / N, ce.sum() / v.sum(), None))
    # transformers #34191: micro-batch 1 of 2 (3 valid tokens here, 9 in the whole step): the
    # per-micro-batch mean halved instead of the sum over the step's token count
    total = 9
    out.append(("grad-accum-mean", z, yi, ["--normalizer", str(total)], ce.mean() / 2,
                ce.sum() / total, None))
    # a masked class through the cap becomes -C instead of staying -inf
    zm = z.copy()
    zm[:, 2] = -np.inf
    ym = y.copy()
    ym[ym == 2] = 0
    xb = 5.0 * np.tanh(zm / 5.0)                     # tanh(-inf) = -1: the class gets e^-5 / s
    xf = xb.copy()
    xf[:, 2] = -np.inf
    cb, _ = ce_k(xb, ym, 0.0)
    cf, _ = ce_k(xf, ym, 0.0)
    out.append(("mask-through-cap", zm, ym, ["--softcap", "5"], cb.mean(), cf.mean(), None))
    # pitfall 8: the gradient of a saturated cap as 1 - tanh^2 (zero) vs 4e^-2|u|/(1+e^-2|u|)^2
    zs = np.array([[1000.0, -1000.0, 999.5, -998.0], [-1000.0, -999.0, 1000.0, 1001.0]])
    ys = np.array([0, 3])
    u = zs / 30.0
    x = 30.0 * np.tanh(u)
    cs, _ = ce_k(x, ys, 0.1)
    p = np.exp(x - lse(x)[:, None])
    q = np.full(x.shape, 0.1 / 4)
    q[np.arange(2), ys] += 0.9
    gx = (p - q) / 2
    a = np.exp(-2 * np.abs(u))
    out.append(("sech2-as-1-tanh2", zs, ys, ["--softcap", "30"], cs.mean(), cs.mean(),
                (gx * (1 - np.tanh(u) ** 2), gx * 4 * a / (1 + a) ** 2)))
    # TF Python: 0 for an all-zero weight sum (SUM_BY_NONZERO_WEIGHTS); lsce: NaN
    out.append(("zero-denominator-0", z, y, ["--sample-weights", "ZEROS", "--normalizer", "nonzero"],
                0.0, float("nan"), None))
    return out


def main():
    lsce = base.lsce_from_argv()
    t = base.Tally()
    with tempfile.TemporaryDirectory() as d:
        for name, z, y, extra, buggy, fixed, grads in bugs():
            L = os.path.join(d, name + "-z.npy")
            T = os.path.join(d, name + "-y.npy")
            np.save(L, z.astype(np.float64))
            np.save(T, np.asarray(y, dtype=np.int64))
            extra = list(extra)
            if "ZEROS" in extra:
                S = os.path.join(d, name + "-s.npy")
                np.save(S, np.zeros(len(y)))
                extra[extra.index("ZEROS")] = S
            a = [lsce, "check", "--logits", L, "--targets", T, "--variant", "k", "--smoothing",
                 "0" if name == "mask-through-cap" else "0.1"] + extra
            verdicts = []
            for val, g in ((buggy, grads[0] if grads else None), (fixed, grads[1] if grads else None)):
                cmd = a + ["--loss", repr(float(val)), "--max-ulp", "64", "--max-grad-ulp", "64"]
                if g is not None:
                    G = os.path.join(d, name + "-g.npy")
                    np.save(G, g.astype(np.float64))
                    cmd += ["--grad", G]
                rc, out, err = base.run_cmd(cmd)
                verdicts.append((rc, out, err))
            (rb, ob, eb), (rf, of, ef) = verdicts
            t.ok(rb == 1, "bug %s: the buggy value must FAIL: exit %d %s %s" % (name, rb, ob, eb.strip()))
            t.ok(rf == 0, "bug %s: the fixed value must PASS: exit %d %s %s" % (name, rf, of, ef.strip()))
            first = (ob.splitlines() + [""])[0 if grads is None else 1]
            print("bug %s: buggy %s (%s), fixed %s" % (name, "FAIL" if rb == 1 else "exit %d" % rb,
                                                     first, "PASS" if rf == 0 else "exit %d" % rf))
    t.finish()


if __name__ == "__main__":
    main()
