#!/usr/bin/python3
# k1-megatron (docs/formulations.md "k1-megatron"): an independent mpmath oracle written from
# Megatron-LM's formula, rank by rank, against `lsce reference --tp T --rank r`, bit for bit
# (stdout, --out, --grad-out); the --tp/--rank contract (exit 2 naming the option, no output);
# the identity k1-megatron at T = 1 == k1 (reference and compare); the relation of Megatron's
# assembled backward to the ranks' gradients (docs); `lsce check` naming the partition form
# (`cause formulation variant=k1-megatron ... tp=T`).
#
# The oracle, per row i in V and rank r of T (V_p = K/T, S_r = [r V_p, (r+1) V_p)):
#   e' = e V_p / (V_p - 1);  L = (1 - e') (lse - z_y) - e' * mean_{c in S_r} (z_c - lse)
#   dL/dz_j = (1 - e') (p_j - [j == y]) + e' (p_j - [j in S_r] / V_p)
# at 200 bits; the gradient entry is formed as (e_j (1 - k_j) - k_j sum_{c != j} e_c) / s with
# k_j the rational coefficient of z_j (sum_j k_j = 1), both products of positive terms, so it does
# not cancel; equal-logit rows (p = 1/K_f) are exact rationals. Rounded once to float64.
#
# Usage: /usr/bin/python3 tests/test_megatron.py PATH/TO/lsce
# Last line: "N passed, M failed, S skipped"; exit 0 iff M == 0, 77 when numpy/mpmath are missing.

import os
import sys
import tempfile
from fractions import Fraction

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import numpy as np
    import mpmath
    from mpmath import mpf
    # I/O helpers only (writers, the runner, float64 formatting); the oracle below is this file's
    from test_oracle import (Problem, Tally, run_cmd, to_float, fmt, cast_logits, compare_to_oracle,
                             lsce_from_argv)
except ImportError as exc:
    print("skip: cannot import numpy/mpmath (%s); run with Debian's /usr/bin/python3" % exc)
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)


def megatron_coefs(e, K, T, r, y):
    """k_c, the exact coefficient of -lp_c in rank r's loss (Fractions)."""
    vp = K // T
    ep = Fraction(e) * vp / (vp - 1)
    k = [Fraction(0)] * K
    for c in range(r * vp, (r + 1) * vp):
        k[c] += ep / vp                       # e' * mean over the local shard
    k[y] += 1 - ep                            # (1 - e') (lse - z_y)
    return k


def oracle(z, y, e, T, r, reduction, ignore=-100, prec=200):
    """(loss list, grad rows) of rank r, values mpf or Fraction."""
    z = np.asarray(z, dtype=np.float64)
    N, K = z.shape
    V = [i for i in range(N) if int(y[i]) != ignore]
    D = Fraction(len(V)) if reduction == "mean" else Fraction(1)
    losses = {}
    grad = [[Fraction(0)] * K for _ in range(N)]
    with mpmath.workprec(prec):
        for i in V:
            yi = int(y[i])
            k = megatron_coefs(e, K, T, r, yi)
            fin = [bool(np.isfinite(v)) for v in z[i]]
            m = max(float(z[i, c]) for c in range(K) if fin[c])
            ex = [mpmath.exp(mpf(float(z[i, c])) - mpf(m)) if fin[c] else mpf(0) for c in range(K)]
            s = mpmath.fsum(ex)
            lse_m = mpmath.log(s)             # lse - m
            L = mpf(0)
            for c in range(K):
                if k[c] == 0:
                    continue
                if not fin[c]:
                    L = mpmath.inf
                    break
                L += mpf(k[c].numerator) / k[c].denominator * (lse_m - (mpf(float(z[i, c])) - mpf(m)))
            losses[i] = L
            Kf = sum(fin)
            equal = len(set(float(z[i, c]) for c in range(K) if fin[c])) == 1
            g = []
            for j in range(K):
                kj = k[j] / D
                if not fin[j]:
                    g.append(-kj)
                elif equal:
                    g.append(Fraction(1, Kf) / D - kj)
                else:
                    others = mpmath.fsum([ex[c] for c in range(K) if c != j])
                    a = (1 - k[j]) / D
                    g.append((ex[j] * (mpf(a.numerator) / a.denominator)
                              - mpf(kj.numerator) / kj.denominator * others) / s)
            grad[i] = g
        if reduction == "none":
            loss = [losses.get(i, mpf(0)) for i in range(N)]
        elif not V:
            loss = [mpmath.nan if reduction == "mean" else mpf(0)]
        else:
            tot = mpmath.fsum([losses[i] for i in V])
            loss = [tot / len(V) if reduction == "mean" else tot]
    return ([to_float(v) for v in loss],
            np.array([[to_float(v) for v in row] for row in grad], dtype=np.float64).reshape(N, K))


def reference(lsce, prob, e, T, r, red, extra=()):
    O = os.path.join(prob.d, "o.npy")
    G = os.path.join(prob.d, "g.npy")
    for f in (O, G):
        if os.path.exists(f):
            os.unlink(f)
    cmd = [lsce, "reference"] + prob.args("k1-megatron", e, red) + ["--tp", str(T)]
    if r is not None:
        cmd += ["--rank", str(r)]
    cmd += list(extra) + ["--out", O, "--grad-out", G]
    rc, out, err = run_cmd(cmd)

    class R:
        pass
    res = R()
    res.cmd, res.rc, res.stdout, res.stderr = cmd, rc, out, err
    res.loss_npy = np.load(O) if os.path.exists(O) else None
    res.grad_npy = np.load(G) if os.path.exists(G) else None
    res.lines = lambda: out.splitlines()
    return res


def oracle_cases(t, lsce, d):
    rs = np.random.RandomState(20261129)
    n = 0
    for K, Ts in ((4, (1, 2)), (6, (1, 3)), (8, (2, 4)), (12, (3, 6))):
        for dtype in ("float32", "float64", "bfloat16"):
            N = 5
            z = rs.normal(0, 2, size=(N, K))
            z[1, K - 1] = -np.inf if dtype != "bfloat16" else z[1, K - 1]
            z[3, :] = 1.5                      # an equal row: exact rational gradient
            y = rs.randint(0, K, size=N)
            y[2] = -100                        # ignored
            y[1] = 0
            zs = cast_logits(z, dtype)
            prob = Problem(d, "m%d" % n, zs, dtype, y)
            n += 1
            for T in Ts:
                vp = K // T
                # and e' = 1 exactly where (V_p - 1)/V_p is a finite decimal
                es = ["0", "0.1", "0.3"] + ([{2: "0.5", 4: "0.75", 8: "0.875"}[vp]] if vp in (2, 4, 8) else [])
                for e in es:
                    ef = Fraction(e)
                    if ef * vp / (vp - 1) > 1:
                        continue
                    for r in range(T):
                        for red in ("mean", "sum", "none"):
                            want_l, want_g = oracle(prob.z, y, ef, T, r, red)
                            res = reference(lsce, prob, e, T, r, red)
                            compare_to_oracle(t, res, want_l, want_g,
                                              "K=%d %s T=%d r=%d e=%s %s" % (K, dtype, T, r, e, red))


def error_cases(t, lsce, d):
    z = np.array([[0.5, 1, -1, 2, 0, 0.25]], dtype=np.float32)
    prob = Problem(d, "err", z, "float32", [1])
    base = [lsce, "reference"] + prob.args("k1-megatron", "0.1") + ["--out", os.path.join(d, "never.npy")]
    cases = [([], "--tp"),                       # required
             (["--tp", "4"], "--tp"),            # 6 % 4
             (["--tp", "6"], "--tp"),            # K < 2T
             (["--tp", "0"], "--tp"),
             (["--tp", "x"], "--tp"),
             (["--tp", "3", "--rank", "3"], "--rank"),
             (["--tp", "3", "--rank", "-1"], "--rank"),
             (["--tp", "2", "--rank", "1"], None)]
    for extra, name in cases:
        rc, out, err = run_cmd(base + extra)
        if name is None:
            t.ok(rc == 0 and out.strip(), "k1-megatron %s: exit %d %r" % (extra, rc, err))
            os.unlink(os.path.join(d, "never.npy"))
            continue
        t.ok(rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("lsce: %s:" % name)
             and not os.path.exists(os.path.join(d, "never.npy")),
             "k1-megatron %s: exit %d stdout %r stderr %r (want exit 2 naming %s)" % (extra, rc, out, err, name))
    # e' > 1: V_p = 2 at T = 3, e = 0.6 gives e' = 1.2
    rc, out, err = run_cmd([lsce, "reference"] + prob.args("k1-megatron", "0.6") + ["--tp", "3"])
    t.ok(rc == 2 and err.startswith("lsce: --tp:") and "1" in err, "e' > 1: exit %d %r" % (rc, err))
    rc, out, err = run_cmd([lsce, "reference"] + prob.args("k1-megatron", "0.5") + ["--tp", "3"])
    t.ok(rc == 0, "e' = 1 exactly (V_p = 2, e = 0.5) is allowed: exit %d %r" % (rc, err))
    # other variants take no --tp/--rank in reference and run
    for opt in (["--tp", "2"], ["--rank", "0"]):
        rc, out, err = run_cmd([lsce, "reference"] + prob.args("k1", "0.1") + opt)
        t.ok(rc == 2 and err.startswith("lsce: %s:" % opt[0]), "k1 with %s: exit %d %r" % (opt, rc, err))


def identity_cases(t, lsce, d):
    rs = np.random.RandomState(7)
    z = rs.normal(0, 3, size=(4, 7)).astype(np.float32)
    y = np.array([0, 6, 3, -100])
    prob = Problem(d, "id", z, "float32", y)
    for e in ("0.1", "0.6", "0.8571428"):
        for red in ("mean", "sum", "none"):
            a = run_cmd([lsce, "reference"] + prob.args("k1", e, red) + ["--grad-out", os.path.join(d, "g1.npy")])
            b = run_cmd([lsce, "reference"] + prob.args("k1-megatron", e, red) + ["--tp", "1", "--grad-out", os.path.join(d, "g2.npy")])
            same_g = a[0] == 0 and b[0] == 0 and \
                np.array_equal(np.load(os.path.join(d, "g1.npy")), np.load(os.path.join(d, "g2.npy")))
            t.ok(a[0] == 0 and b[0] == 0 and a[1] == b[1] and same_g,
                 "k1-megatron --tp 1 == k1 at e=%s %s: %r / %r" % (e, red, a, b))
    rc, out, err = run_cmd([lsce, "compare", "--logits", prob.L, "--targets", prob.T, "--smoothing", "0.1", "--tp", "1"])
    t.ok(rc == 0 and any(l.startswith("identity k1-megatron=k1") and l.endswith("holds") for l in out.splitlines()),
         "compare --tp 1 prints identity k1-megatron=k1 ... holds: exit %d\n%s%s" % (rc, out, err))


def backward_relation(t, lsce, d):
    """Megatron's assembled backward, column block S_r from rank r (its formula), equals the
    block S_r of rank r's full gradient, and the assembled rows sum to e'(1 - T)."""
    rs = np.random.RandomState(11)
    K, T, N = 8, 4, 3
    z = rs.normal(0, 1, size=(N, K))
    y = np.array([1, 5, 7])
    prob = Problem(d, "bw", z, "float64", y)
    e = Fraction(1, 10)
    vp = K // T
    ep = e * vp / (vp - 1)
    assembled = np.zeros((N, K))
    for r in range(T):
        res = reference(lsce, prob, "0.1", T, r, "sum")
        if not t.ok(res.rc == 0, "backward r=%d: %r" % (r, res.stderr)):
            return
        assembled[:, r * vp:(r + 1) * vp] = res.grad_npy[:, r * vp:(r + 1) * vp]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    mega = p - float(ep) / vp
    mega[np.arange(N), y] -= 1 - float(ep)
    t.ok(np.allclose(assembled, mega, rtol=0, atol=1e-15),
         "Megatron's backward blocks = rank r's gradient on S_r: max diff %g" % np.abs(assembled - mega).max())
    t.ok(np.allclose(assembled.sum(1), float(ep) * (1 - T), rtol=0, atol=1e-14),
         "assembled rows sum to e'(1-T) = %g: %s" % (float(ep) * (1 - T), assembled.sum(1)))


def check_names(t, lsce, d):
    """A Megatron rank's value claimed as k1 fails, and the cause names k1-megatron at its T."""
    rs = np.random.RandomState(3)
    z = rs.normal(0, 2, size=(6, 16)).astype(np.float32)
    y = rs.randint(0, 16, size=6)
    prob = Problem(d, "ck", z, "float32", y)
    want_l, _ = oracle(prob.z, y, Fraction(1, 10), 4, 0, "mean")
    rc, out, err = run_cmd([lsce, "check"] + prob.args("k1", "0.1") + ["--loss", repr(want_l[0])])
    cause = [l for l in out.splitlines() if l.startswith("cause ")]
    t.ok(rc == 1 and cause and "variant=k1-megatron" in cause[0] and "tp=4" in cause[0],
         "check of rank 0's T=4 value as k1: exit %d, cause %r\n%s%s" % (rc, cause, out, err))
    rc, out, err = run_cmd([lsce, "check"] + prob.args("k1-megatron", "0.1") +
                           ["--tp", "4", "--loss", repr(want_l[0])])
    t.ok(rc == 0 and "PASS" in out, "check --variant k1-megatron --tp 4: exit %d\n%s%s" % (rc, out, err))
    # compare at --tp 4 --rank 2: rank 2's value, and the ranks' mean is k at e' = 0.1 * 4/3
    rc, out, err = run_cmd([lsce, "compare", "--logits", prob.L, "--targets", prob.T, "--smoothing", "0.1",
                            "--tp", "4", "--rank", "2"])
    want2, _ = oracle(prob.z, y, Fraction(1, 10), 4, 2, "mean")
    lines = out.splitlines()
    t.ok(rc == 0 and ("k1-megatron " + fmt(want2[0])) in lines,
         "compare --tp 4 --rank 2 prints rank 2's value %r:\n%s%s" % (want2[0], out, err))
    t.ok(any(l.startswith("identity mean-over-ranks(k1-megatron)=k ") and l.endswith(" holds") for l in lines),
         "compare --tp 4: identity mean-over-ranks(k1-megatron)=k holds:\n%s" % out)


def main():
    lsce = lsce_from_argv()
    t = Tally()
    with tempfile.TemporaryDirectory(prefix="test_megatron-") as d:
        error_cases(t, lsce, d)
        identity_cases(t, lsce, d)
        backward_relation(t, lsce, d)
        check_names(t, lsce, d)
        oracle_cases(t, lsce, d)
    t.finish()


if __name__ == "__main__":
    main()
