#!/usr/bin/python3
# The bugs that issue #15 cites, reproduced by small deliberately buggy float64 implementations of
# our own, and found by `lsce check` (docs/formulations.md "Their pitfalls"): each buggy value must
# FAIL (exit 1) against the problem it claims to compute, and the same computation without the bug
# must PASS (exit 0) within 64 ulps (plain float64 numpy, no compensated sums). The buggy value's
# diagnosis must carry the cause line that names the bug (docs/cli.md "The diagnosis", step 6): the
# changed option as an optional field (`z-loss=0.0001`, `softcap-form=x-tanh`, ...), or the sigmoid
# form as the variant, or `cause accuracy` for pitfall 8 (the right formula computed inaccurately).
#
#   z-loss added although switched off            OLMo-core #702
#   soft cap written x tanh(x/C)                  unsloth-zoo #593
#   logit scale dropped on a fused path           unsloth #11277
#   mean over every row instead of the valid ones TransformerEngine #2476
#   gradient accumulation: per-micro-batch means  transformers #34191
#   a masked class capped to -C                   the padded-vocabulary bug class
#   the cap's derivative as 1 - tanh^2            pitfall 8 (a gradient finding)
#   0 instead of NaN on a zero denominator        TF Python's safe division
#   z-loss missing although on                    Liger's lse_square_scale not passed
#   z-loss over |V| instead of sum s_i            Liger against T5X
#   the cap not applied / the scale as 1/S        the two other transform mistakes
#   sample weights ignored
#   sigmoid smoothing t(1-e)+e/2 vs (1-2e)t+e     Keras/TF against mmpretrain multi_label
#   (1-2e)t+e vs timm's softmax target             mmpretrain against timm BinaryCrossEntropy
#
# Usage: /usr/bin/python3 tests/test_catalog_bugs.py PATH/TO/lsce
# Prints two lines per bug: "bug <name>: buggy <verdict> (<loss line>), fixed <verdict>" and the
# buggy value's cause line.

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


def bce_mean(x, t2, w=None):
    """mean over every element of softplus(x) - x t' (float64)"""
    el = np.logaddexp(0.0, x) - x * t2
    return el.mean()


def cause_ok(line, kind, variant, field):
    """the cause line names (kind, variant) and, after values=, exactly the option field expected
    (reduction= aside, which is not the point here)"""
    tok = line.split()
    if len(tok) < 6 or tok[0] != "cause" or tok[1] != kind or tok[2] != "variant=" + variant:
        return False
    k = [i for i, x in enumerate(tok) if x.startswith("values=")]
    rest = [x for x in tok[k[0] + 1:] if not x.startswith("reduction=")] if k else None
    return rest == (field.split() if field else [])


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
    # transformers #34191: micro-batch 1 of 2 (4 valid tokens here, 9 in the whole step): the
    # per-micro-batch mean halved instead of the sum over the step's token count (a normalizer of 8)
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
    # the z-loss missing although on (Liger's lse_square_scale not passed on)
    ce, l = ce_k(z, y, 0.1)
    out.append(("zloss-missing", z, y, ["--z-loss", "0.0001"], ce.mean(), ce.mean() + 1e-4 * (l ** 2).mean(), None))
    # the z term over |V| (Liger, flash-attn) where the claim (T5X) divides it by sum s_i
    sw = rs.uniform(0.5, 2.0, size=N)
    zt = (sw * l ** 2).sum()
    base_ = (sw * ce).sum() / sw.sum()
    out.append(("zloss-over-rows-not-weights", z, y, ["--z-loss", "0.001", "--sample-weights", sw,
                "--normalizer", "sample-weights"], base_ + 1e-3 * zt / N, base_ + 1e-3 * zt / sw.sum(), None))
    # the cap not applied at all
    ce_b, _ = ce_k(zz, y, 0.1)
    ce_f, _ = ce_k(C * np.tanh(zz / C), y, 0.1)
    out.append(("softcap-not-applied", zz, y, ["--softcap", "30"], ce_b.mean(), ce_f.mean(), None))
    # the logit scale applied as 1/S (a temperature read as a scale)
    ce_b, _ = ce_k(2.0 * z, y, 0.1)
    ce_f, _ = ce_k(0.5 * z, y, 0.1)
    out.append(("scale-inverted", z, y, ["--logit-scale", "0.5"], ce_b.mean(), ce_f.mean(), None))
    # the sample weights ignored
    ce, _ = ce_k(z, y, 0.1)
    out.append(("sample-weights-ignored", z, y, ["--sample-weights", sw], ce.mean(), (sw * ce).mean(), None))
    # sigmoid: Keras's t(1-e)+e/2 claimed, mmpretrain's (1-2e)t+e computed
    t = np.zeros((N, K))
    t[np.arange(N), y] = 1.0
    out.append(("bce-as-multilabel", z, y, ["--variant", "bce"], bce_mean(z, 0.8 * t + 0.1),
                bce_mean(z, 0.9 * t + 0.05), None))
    # sigmoid: mmpretrain's (1-2e)t+e claimed, timm's softmax target (1-e)t+e/K computed
    out.append(("multilabel-as-softmax-target", z, y, ["--variant", "bce-multilabel"],
                bce_mean(z, 0.9 * t + 0.1 / K), bce_mean(z, 0.8 * t + 0.1), None))
    return out


# the cause line each buggy value must get: (cause, variant, optional fields)
EXPECT = {
    "zloss-when-off": ("formulation", "k", "z-loss=0.0001"),
    "softcap-x-tanh": ("formulation", "k", "softcap-form=x-tanh"),
    "scale-dropped": ("formulation", "k", "logit-scale=1"),
    "mean-over-all-rows": ("formulation", "k", "normalizer=rows"),
    "grad-accum-mean": ("formulation", "k", None),   # normalizer=<2 |V|>, set in main
    "mask-through-cap": ("formulation", "k", "softcap-form=mask-to-C"),
    "sech2-as-1-tanh2": ("accuracy", "k", ""),
    "zero-denominator-0": ("formulation", "k", "zero-denominator=0"),
    "zloss-missing": ("formulation", "k", "z-loss=0"),
    "zloss-over-rows-not-weights": ("formulation", "k", "z-loss-normalizer=valid"),
    "softcap-not-applied": ("formulation", "k", "softcap=off"),
    "scale-inverted": ("formulation", "k", "logit-scale=2"),
    "sample-weights-ignored": ("formulation", "k", "sample-weights=ignored"),
    "bce-as-multilabel": ("formulation", "bce-multilabel", ""),
    "multilabel-as-softmax-target": ("formulation", "bce-softmax-target", ""),
}


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
            for k, x in enumerate(extra):
                if isinstance(x, np.ndarray) or x == "ZEROS":
                    S = os.path.join(d, name + "-s.npy")
                    np.save(S, np.zeros(len(y)) if isinstance(x, str) else x)
                    extra[k] = S
            variant = "k"
            if "--variant" in extra:
                k = extra.index("--variant")
                variant = extra[k + 1]
                del extra[k:k + 2]
            a = [lsce, "check", "--logits", L, "--targets", T, "--variant", variant, "--smoothing",
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
            cause = (ob.splitlines() or [""])[-1]
            print("    " + cause)
            kind, v, field = EXPECT[name]
            if field is None:  # transformers #34191: half the micro-batch mean is the sum over 2 |V|
                field = "normalizer=%d" % (2 * int(np.sum(np.asarray(y) != -100)))
            t.ok(cause_ok(cause, kind, v, field),
                 "bug %s: the cause line must be 'cause %s variant=%s ... %s', got '%s'" % (name, kind, v, field, cause))
    t.finish()


if __name__ == "__main__":
    main()
