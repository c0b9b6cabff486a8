#!/usr/bin/python3
# An independent oracle for the options and variants of issue #15 (docs/formulations.md "Options
# and the sigmoid family"): logit scale, soft cap, z-loss, sample weights, normalizers, soft (N, K)
# targets, and the sigmoid family (bce, bce-multilabel, bce-softmax-target). Written from the
# formulas in that section, class by class, in mpmath; rationals (smoothing, scale, cap, z-loss
# coefficient, the float inputs) are kept exact with fractions.Fraction until they enter mpmath.
#
# Accuracy claim: every value returned by oracle_f64 is the correctly rounded float64 of the exact
# value, or the function raises. The argument: each output is computed at PREC bits and again at
# 2*PREC (then 4*PREC ...) and accepted only when two successive precisions round to the same
# float64 (a Ziv-style check on mpmath's own rounding); exact zeros (rows outside V, rows with
# s_i = 0, kappa_c = 0 terms, masked entries under a cap) are exact by construction, and rational
# entries (masked classes, uniform rows) are Fractions.
#
# This file is a module (tests/test_oracle_catalog.py imports it); run directly it self-checks the
# oracle against float64 numpy/torch formulas, finite differences and the catalog oracle of
# tests/test_oracle.py (the options off), without any lsce binary.

import math
import os
import sys
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import mpmath  # noqa: E402
from mpmath import mpf  # noqa: E402

import test_oracle as base  # noqa: E402  (to_float, target_dist, row_coefs, the catalog oracle)

SOFTMAX = ["k", "k1", "k-torch-weighted", "k-logprob-weighted", "k1-logprob-weighted",
           "k-nll-weighted", "k1-kl", "k2-pad-kl"]
SIGMOID = ["bce", "bce-multilabel", "bce-softmax-target"]
SOFT_OK = {"k", "k-logprob-weighted", "bce", "bce-multilabel"}
WEIGHTED = base.WEIGHTED
KL = base.KL
PREC = 240
NAN = float("nan")
INF = float("inf")


def F(x):
    """An exact Fraction of a float, int, str decimal or Fraction (None stays None)."""
    if x is None:
        return None
    if isinstance(x, Fraction):
        return x
    if isinstance(x, str):
        return Fraction(x)
    return Fraction(float(x)) if isinstance(x, float) else Fraction(x)


def M(fr):
    return mpf(fr.numerator) / fr.denominator


class Opts:
    """The options of one problem; None = off."""

    def __init__(self, scale=None, softcap=None, zloss=None, sw=None, normalizer=None, cap_form=None):
        self.scale = F(scale)
        self.softcap = F(softcap)
        self.zloss = F(zloss)
        self.sw = None if sw is None else [F(float(v)) for v in sw]
        self.normalizer = normalizer  # None, 'valid', 'rows', 'sample-weights', 'nonzero' or int
        # the diagnosis's two wrong soft-cap forms (docs/cli.md "The diagnosis", softcap-form=):
        # None (C tanh(x/C)), 'x-tanh' (x tanh(x/C)), 'mask-to-C' (the cap applied to a masked
        # class too: -inf becomes -C, a constant, so its chain factor is 0)
        self.cap_form = cap_form


def x_of(z, o):
    """The transformed logit x(z) (-inf stays -inf, None; -C under the cap form 'mask-to-C')."""
    if z == -INF:
        return -M(o.softcap) if o.softcap is not None and o.cap_form == "mask-to-C" else None
    x = mpf(z)
    if o.scale is not None:
        x = x * M(o.scale)
    if o.softcap is not None:
        c = M(o.softcap)
        x = x * mpmath.tanh(x / c) if o.cap_form == "x-tanh" else c * mpmath.tanh(x / c)
    return x


def chain(z, o):
    """x'(z): S, or S sech^2(S z / C) (cap form 'x-tanh': S (tanh u + u sech^2 u), u = S z / C);
    at -inf the limit (S, or 0 under a cap: also -C under 'mask-to-C' is a constant)."""
    S = M(o.scale) if o.scale is not None else mpf(1)
    if o.softcap is None:
        return S
    if z == -INF:
        return mpf(0)
    u = S * mpf(z) / M(o.softcap)
    if o.cap_form == "x-tanh":
        return S * (mpmath.tanh(u) + u * mpmath.sech(u) ** 2)
    return S * mpmath.sech(u) ** 2


def softplus(x):
    return (x if x > 0 else mpf(0)) + mpmath.log1p(mpmath.exp(-abs(x)))


def smoothed_bce(variant, e, K, t_row):
    """t'_c for one row of the sigmoid family; t_row is a list of K Fractions (one-hot for index)."""
    if variant == "bce":
        return [(1 - e) * t + e / 2 for t in t_row]
    if variant == "bce-multilabel":
        return [(1 - 2 * e) * t + e for t in t_row]
    if variant == "bce-softmax-target":
        return [(1 - e) * t + e / K for t in t_row]
    raise ValueError(variant)


def denominators(variant, reduction, o, K, nV, N, W, ssum, nnz):
    """(D_norm, D_z) as Fractions (None for the two-denominator k-nll-weighted default)."""
    if reduction != "mean":
        return Fraction(1), Fraction(1)
    unit = K if variant in SIGMOID else 1
    n = o.normalizer
    if n is None:
        if variant in SIGMOID:
            d = Fraction(nV * K)
        elif variant == "k-torch-weighted":
            d = W
        elif variant == "k-nll-weighted":
            d = None
        else:
            d = Fraction(nV)
        return d, Fraction(nV)
    if n == "valid":
        d = Fraction(nV * unit)
    elif n == "rows":
        d = Fraction(N * unit)
    elif n == "sample-weights":
        d = ssum * unit
    elif n == "nonzero":
        d = Fraction(nnz * unit)
    else:
        d = Fraction(int(n))
    return d, d


def _oracle(z, targets, variant, e, reduction, w, ignore, pad, o, prec):
    z = np.asarray(z, dtype=np.float64)
    N, K = z.shape
    e = F(e)
    soft = np.asarray(targets).ndim == 2
    tg = np.asarray(targets)
    wf = None if w is None else [F(float(v)) for v in w]
    s = o.sw if o.sw is not None else [Fraction(1)] * N
    if soft:
        V = list(range(N))
    else:
        V = [i for i in range(N) if base.in_V(variant, int(tg[i]), ignore, pad)]
    nV = len(V)
    ssum = sum((s[i] for i in V), Fraction(0))
    nnz = sum(1 for i in V if s[i] != 0)
    W = None
    if variant in WEIGHTED and not soft:
        W = sum((wf[int(tg[i])] for i in V), Fraction(0))
    Dn, Dz = denominators(variant, reduction, o, K, nV, N, W, ssum, nnz)
    Z = o.zloss if (o.zloss is not None and o.zloss != 0 and variant not in SIGMOID) else None
    nan_mean = False
    if reduction == "mean":
        if variant == "k-nll-weighted" and Dn is None:
            nan_mean = (W == 0 or nV == 0)
        else:
            nan_mean = (Dn == 0)
        if Z is not None and Dz == 0:
            nan_mean = True
    with mpmath.workprec(prec):
        rowL = {}     # row loss s_i (CE_i + Z lse^2), or parts for the mean
        parts = {}    # mean: (CE-part numerator contributions) per denominator
        grad = [[Fraction(0)] * K for _ in range(N)]
        tot = {"n": mpf(0), "nll": mpf(0), "sm": mpf(0), "z": mpf(0)}
        any_inf = False
        for i in V:
            si = s[i]
            zi = z[i]
            if soft:
                t_row = [F(float(v)) for v in tg[i]]
            else:
                t_row = [Fraction(1) if c == int(tg[i]) else Fraction(0) for c in range(K)]
            xs = [x_of(float(zi[c]), o) for c in range(K)]
            fin = [v is not None for v in xs]
            if variant in SIGMOID:
                tp = smoothed_bce(variant, e, K, t_row)
                wc = wf if wf is not None else [Fraction(1)] * K
                L = mpf(0)
                inf = False
                for c in range(K):
                    if not fin[c]:
                        if wc[c] * tp[c] > 0:
                            inf = True
                        continue
                    x = xs[c]
                    if wc[c] == 0:
                        continue
                    L += M(wc[c]) * (M(1 - tp[c]) * softplus(x) + M(tp[c]) * softplus(-x))
                if si == 0:
                    rowL[i] = mpf(0)
                    if nan_mean:
                        grad[i] = [NAN] * K
                    continue
                rowL[i] = mpmath.inf if inf else M(si) * L
                if inf:
                    any_inf = True
                else:
                    tot["n"] += M(si) * L
                if nan_mean:
                    grad[i] = [NAN] * K
                    continue
                for c in range(K):
                    if wc[c] == 0:
                        continue
                    if not fin[c]:
                        g = -tp[c] * wc[c] * si / Dn
                        grad[i][c] = Fraction(0) if o.softcap is not None else \
                            g * (o.scale if o.scale is not None else 1)
                        continue
                    sig = 1 / (1 + mpmath.exp(-xs[c]))
                    grad[i][c] = chain(float(zi[c]), o) * M(wc[c] * si / Dn) * (sig - M(tp[c]))
                continue
            # ---- softmax family
            if soft:
                q = [(1 - e) * t + e / K for t in t_row]
                kap_nll = None
                kap = [q[c] * wf[c] for c in range(K)] if variant == "k-logprob-weighted" else q
                qkl = None
            else:
                y = int(tg[i])
                kap_nll, kap = base.row_coefs(variant, e, K, y, wf, pad)
                qkl = base.target_dist(variant, e, K, y, pad) if variant in KL else None
            if si == 0:
                rowL[i] = mpf(0)
                if nan_mean:
                    grad[i] = [NAN] * K
                continue
            m = max(xs[c] for c in range(K) if fin[c])
            ex = [mpmath.exp(xs[c] - m) if fin[c] else mpf(0) for c in range(K)]
            ssum_e = mpmath.fsum(ex)
            lse = m + mpmath.log(ssum_e)
            lp = [xs[c] - lse if fin[c] else None for c in range(K)]

            def ce(coef):
                acc = mpf(0)
                for c in range(K):
                    if coef[c] == 0:
                        continue
                    if not fin[c]:
                        return mpmath.inf
                    acc += M(coef[c]) * (-lp[c])
                return acc

            if variant in KL:
                CE = mpf(0)
                for c in range(K):
                    if qkl[c] == 0:
                        continue
                    if not fin[c]:
                        CE = mpmath.inf
                        break
                    CE += M(qkl[c]) * (mpmath.log(M(qkl[c])) - lp[c])
                nllp = None
            elif kap_nll is not None:
                nllp, smp = ce(kap_nll), ce(kap)
                CE = nllp + smp
            else:
                CE = ce(kap)
                nllp = None
            zterm = M(Z) * lse ** 2 if Z is not None else mpf(0)
            if mpmath.isinf(CE):
                any_inf = True
                rowL[i] = mpmath.inf
            else:
                rowL[i] = M(si) * (CE + zterm)
                if nllp is not None:
                    tot["nll"] += M(si) * nllp
                    tot["sm"] += M(si) * smp
                tot["n"] += M(si) * CE
                tot["z"] += M(si) * lse ** 2
            if nan_mean:
                grad[i] = [NAN] * K
                continue
            # kappa of the gradient, divided by the CE denominators (exact)
            if variant == "k-nll-weighted" and reduction == "mean" and Dn is None:
                kg = [si * (kap_nll[c] / W + kap[c] / nV) for c in range(K)]
            elif kap_nll is not None:
                kg = [si * (kap_nll[c] + kap[c]) / Dn for c in range(K)]
            else:
                kk = qkl if variant in KL else kap
                kg = [si * kk[c] / Dn for c in range(K)]
            zc = None
            if Z is not None:
                zc = 2 * M(Z) * M(si) * lse / M(Dz if not (variant == "k-nll-weighted" and Dn is None)
                                                  else Fraction(nV))
            for j in range(K):
                if not fin[j]:
                    g = -kg[j]
                    grad[i][j] = Fraction(0) if o.softcap is not None else \
                        g * (o.scale if o.scale is not None else 1)
                    continue
                others_k = sum((kg[c] for c in range(K) if c != j), Fraction(0))
                others_p = mpmath.fsum([ex[c] for c in range(K) if c != j])
                g = (ex[j] * M(others_k) - M(kg[j]) * others_p) / ssum_e
                if zc is not None:
                    g += zc * ex[j] / ssum_e
                grad[i][j] = chain(float(zi[j]), o) * g
        # ---- the loss
        if reduction == "none":
            loss = [rowL.get(i, mpf(0)) for i in range(N)]
        elif nan_mean:
            loss = [mpmath.nan]
        elif any_inf:
            loss = [mpmath.inf]
        elif reduction == "sum":
            tz = M(Z) * tot["z"] if Z is not None else mpf(0)
            loss = [tot["n"] + tz]
        else:
            if variant == "k-nll-weighted" and Dn is None:
                ce_part = tot["nll"] / M(W) + tot["sm"] / nV
                dz = Fraction(nV)
            else:
                ce_part = tot["n"] / M(Dn)
                dz = Dz
            loss = [ce_part + (M(Z) * tot["z"] / M(dz) if Z is not None else mpf(0))]
    return loss, grad


def _round_all(loss, grad, K):
    return (np.array([base.to_float(v) for v in loss], dtype=np.float64),
            np.array([[base.to_float(v) for v in row] for row in grad],
                     dtype=np.float64).reshape(-1, K))


def _same_arrays(a, b):
    return a.shape == b.shape and all(base.same(x, y) for x, y in zip(a.reshape(-1), b.reshape(-1)))


def oracle_f64(z, targets, variant, e, reduction, w=None, ignore=-100, pad=None, opts=None,
               prec=PREC, max_prec=8 * PREC):
    """The correctly rounded float64 loss (1 or N values) and gradient (N, K). Raises when two
    successive precisions up to max_prec never agree."""
    o = opts or Opts()
    K = np.asarray(z).shape[1]
    prev = _round_all(*_oracle(z, targets, variant, e, reduction, w, ignore, pad, o, prec), K)
    while prec < max_prec:
        prec *= 2
        cur = _round_all(*_oracle(z, targets, variant, e, reduction, w, ignore, pad, o, prec), K)
        if _same_arrays(prev[0], cur[0]) and _same_arrays(prev[1], cur[1]):
            return cur
        prev = cur
    raise RuntimeError("oracle_catalog: no agreement up to %d bits" % max_prec)


def oracle_mp(z, targets, variant, e, reduction, w=None, ignore=-100, pad=None, opts=None,
              prec=PREC):
    """The unrounded values (mpf/Fraction), for finite differences."""
    return _oracle(z, targets, variant, e, reduction, w, ignore, pad, opts or Opts(), prec)


# ----------------------------------------------------------------------------------------------
# Self-checks (no lsce binary): float64 formulas, finite differences, the catalog oracle.

def f64_formula(z, targets, variant, e, reduction, w, o):
    """The same loss in plain float64 numpy (no masks, no ignored rows, soft or index targets)."""
    z = np.asarray(z, dtype=np.float64)
    N, K = z.shape
    e = float(e)
    x = z * (float(o.scale) if o.scale is not None else 1.0)
    if o.softcap is not None:
        c = float(o.softcap)
        x = c * np.tanh(x / c)
    tg = np.asarray(targets)
    t = tg.astype(np.float64) if tg.ndim == 2 else np.eye(K)[tg]
    wc = np.ones(K) if w is None else np.asarray(w, dtype=np.float64)
    s = np.ones(N) if o.sw is None else np.array([float(v) for v in o.sw])
    if variant in SIGMOID:
        tp = {"bce": (1 - e) * t + e / 2, "bce-multilabel": (1 - 2 * e) * t + e,
              "bce-softmax-target": (1 - e) * t + e / K}[variant]
        el = wc * (np.logaddexp(0, x) - x * tp)
        row = s * el.sum(axis=1)
        unit = K
        zrow = np.zeros(N)
    else:
        lse = np.logaddexp.reduce(x, axis=1)
        lp = x - lse[:, None]
        if variant == "k":
            q = (1 - e) * t + e / K
            ce = -(q * lp).sum(axis=1)
        elif variant == "k-logprob-weighted":
            q = (1 - e) * t + e / K
            ce = -(q * wc * lp).sum(axis=1)
        elif variant == "k1":
            q = (1 - e) * t + (e / (K - 1)) * (1 - t)
            ce = -(q * lp).sum(axis=1)
        else:
            raise ValueError(variant)
        row = s * ce
        unit = 1
        zrow = s * lse ** 2
    Z = float(o.zloss) if (o.zloss is not None and variant not in SIGMOID) else 0.0
    if reduction == "none":
        return row + Z * zrow
    if reduction == "sum":
        return np.array([row.sum() + Z * zrow.sum()])
    n = o.normalizer
    Dn = {None: N * unit, "valid": N * unit, "rows": N * unit, "sample-weights": s.sum() * unit,
          "nonzero": (s != 0).sum() * unit}.get(n, n if isinstance(n, int) else None)
    Dz = N if n is None else Dn
    return np.array([row.sum() / Dn + Z * zrow.sum() / Dz])


def torch_formula(z, targets, variant, e, reduction, w):
    """PyTorch 1.13 in float64 where it has the form (no options): soft-target cross_entropy and
    binary_cross_entropy_with_logits with smoothed targets."""
    import torch
    import torch.nn.functional as Fn
    zt = torch.tensor(np.asarray(z, dtype=np.float64))
    K = zt.shape[1]
    tg = np.asarray(targets)
    wt = None if w is None else torch.tensor(np.asarray(w, dtype=np.float64))
    if variant in ("k", "k-logprob-weighted"):
        tt = torch.tensor(tg.astype(np.float64)) if tg.ndim == 2 else torch.tensor(tg)
        return Fn.cross_entropy(zt, tt, weight=wt if variant == "k-logprob-weighted" else None,
                                label_smoothing=float(e), reduction=reduction).reshape(-1).numpy()
    t = torch.tensor(tg.astype(np.float64)) if tg.ndim == 2 else Fn.one_hot(torch.tensor(tg), K).double()
    e = float(e)
    tp = {"bce": (1 - e) * t + e / 2, "bce-multilabel": (1 - 2 * e) * t + e,
          "bce-softmax-target": (1 - e) * t + e / K}[variant]
    el = Fn.binary_cross_entropy_with_logits(zt, tp, weight=wt, reduction="none")
    r = {"mean": el.mean(), "sum": el.sum(), "none": el.sum(dim=1)}[reduction]
    return r.reshape(-1).numpy()


def _close(a, b, rtol=1e-11, atol=1e-13):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def self_check(count=60, seed=15015):
    rs = np.random.RandomState(seed)
    bad = 0
    n = 0

    def ok(cond, msg):
        nonlocal bad, n
        n += 1
        if not cond:
            bad += 1
            print("FAIL " + msg)

    for idx in range(count):
        variant = ["k", "k1", "k-logprob-weighted", "bce", "bce-multilabel", "bce-softmax-target"][idx % 6]
        N, K = int(rs.randint(1, 5)), int(rs.randint(2, 6))
        z = rs.standard_normal((N, K)) * float(rs.choice([1, 4, 20]))
        e = str(rs.choice(["0", "0.1", "0.25", "0.4"]))
        soft = variant in SOFT_OK and rs.rand() < 0.5
        if soft:
            tg = rs.uniform(0, 1, size=(N, K))
            if variant == "bce-multilabel":
                tg = (tg > 0.5).astype(np.float64)
        else:
            tg = rs.randint(0, K, size=N)
        w = rs.uniform(0.2, 2, size=K) if (variant == "k-logprob-weighted" or
                                          (variant in SIGMOID and rs.rand() < 0.5)) else None
        o = Opts(scale=str(rs.choice(["1", "0.5", "2.5"])) if rs.rand() < 0.6 else None,
                 softcap=str(rs.choice(["3", "30", "7.5"])) if rs.rand() < 0.6 else None,
                 zloss=str(rs.choice(["0", "1e-4", "0.25"])) if (variant not in SIGMOID and rs.rand() < 0.6) else None,
                 sw=rs.choice([0.0, 0.5, 1.0, 2.0], size=N) if rs.rand() < 0.5 else None)
        if rs.rand() < 0.5:
            o.normalizer = ["valid", "rows", "nonzero", 7][idx % 4] if o.sw is not None or idx % 4 < 2 \
                else "valid"
            if o.sw is not None and rs.rand() < 0.3:
                o.normalizer = "sample-weights"
        for red in ["mean", "sum", "none"]:
            if red != "mean":
                o2 = Opts()
                o2.__dict__.update(o.__dict__)
                o2.normalizer = None
            else:
                o2 = o
            L, G = oracle_f64(z, tg, variant, e, red, w=w, opts=o2)
            ref = f64_formula(z, tg, variant, e, red, w, o2)
            ok(_close(L, ref), "formula #%d %s red=%s L=%s f64=%s" % (idx, variant, red, L, ref))
            # finite differences of the exact loss against the gradient (central, h = 2^-60)
            if red == "mean" and N * K <= 12:
                Lm, Gm = oracle_mp(z, tg, variant, e, red, w=w, opts=o2, prec=200)
                for i in range(N):
                    for j in range(K):
                        zp = z.copy()
                        zp[i, j] += 2.0 ** -30
                        zm = z.copy()
                        zm[i, j] -= 2.0 ** -30
                        with mpmath.workprec(200):
                            fd = (oracle_mp(zp, tg, variant, e, red, w=w, opts=o2, prec=200)[0][0] -
                                  oracle_mp(zm, tg, variant, e, red, w=w, opts=o2, prec=200)[0][0]) / \
                                mpf(2.0 ** -29)
                            g = Gm[i][j]
                            g = M(g) if isinstance(g, Fraction) else g
                            ok(abs(fd - g) <= mpf(10) ** -12 * (1 + abs(g)),
                               "fd #%d %s (%d,%d) fd=%s g=%s" % (idx, variant, i, j, fd, g))
            if o2.scale is None and o2.softcap is None and o2.zloss is None and o2.sw is None and \
                    o2.normalizer is None and variant in ("k", "k-logprob-weighted", "bce",
                                                          "bce-multilabel", "bce-softmax-target"):
                if (red != "none" or variant in SIGMOID) and (variant != "k-logprob-weighted" or soft):
                    tr = torch_formula(z, tg, variant, e, red, w)
                    ok(_close(L, tr), "torch #%d %s red=%s L=%s torch=%s" % (idx, variant, red, L, tr))
    # the catalog oracle, options off, every variant, index targets with ignored rows
    for idx in range(24):
        variant = SOFTMAX[idx % 8]
        K = int(rs.randint(base.MIN_K[variant], 7))
        N = int(rs.randint(0, 5))
        z = rs.standard_normal((N, K)) * 3
        y = rs.randint(0, K, size=N)
        y[rs.rand(N) < 0.25] = -100
        pad = int(rs.randint(0, K)) if variant == "k2-pad-kl" else None
        w = rs.uniform(0, 2, size=K) if variant in WEIGHTED else None
        for red in ["mean", "sum", "none"]:
            a = oracle_f64(z, y, variant, "0.3", red, w=w, pad=pad)
            b = base.oracle_f64(z, y, variant, Fraction("0.3"), red, w=w, pad=pad)
            ok(_same_arrays(a[0], b[0]) and _same_arrays(a[1], b[1]),
               "catalog #%d %s red=%s %s vs %s" % (idx, variant, red, a[0], b[0]))
    # identities: bce-multilabel at e == bce at 2e; one-hot soft targets == index targets for k
    for idx in range(10):
        N, K = 3, 4
        z = rs.standard_normal((N, K)) * 2
        y = rs.randint(0, K, size=N)
        o = Opts(scale="1.5", softcap="5", sw=[1.0, 0.0, 2.0])
        for red in ["mean", "sum", "none"]:
            a = oracle_f64(z, y, "bce-multilabel", "0.2", red, opts=o)
            b = oracle_f64(z, y, "bce", "0.4", red, opts=o)
            ok(_same_arrays(a[0], b[0]) and _same_arrays(a[1], b[1]), "identity bce-multilabel=bce")
            oz = Opts(scale="1.5", softcap="5", zloss="0.01", sw=[1.0, 0.0, 2.0])
            a = oracle_f64(z, np.eye(K)[y], "k", "0.2", red, opts=oz)
            b = oracle_f64(z, y, "k", "0.2", red, opts=oz)
            ok(_same_arrays(a[0], b[0]) and _same_arrays(a[1], b[1]), "identity k-onehot=k")
    # the sech^2 pitfall: saturated cap, every logit near +-1e3, C = 30: the gradient is tiny, not 0
    z = np.array([[1000.0, -1000.0, 999.5]])
    L, G = oracle_f64(z, np.array([0]), "k", "0.1", "mean", opts=Opts(softcap="30"))
    ok(all(0 < abs(g) < 1e-20 for g in G[0]), "sech^2 saturation: gradient %s" % G[0])
    x = 30 * np.tanh(z / 30)
    naive = 1 - np.tanh(z / 30) ** 2
    ok(np.all(naive == 0), "the naive 1 - tanh^2 is 0 here: %s" % naive)
    print("%d passed, %d failed" % (n - bad, bad))
    return bad == 0


if __name__ == "__main__":
    sys.exit(0 if self_check() else 1)
