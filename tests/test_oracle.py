#!/usr/bin/python3
# An independent oracle for `lsce reference`: every catalog variant of docs/formulations.md written out
# literally in mpmath at 200 bits (target distribution q built class by class, weights applied as
# the catalog table says, rationals kept exact with fractions.Fraction, exact zeros decided exactly).
# The binary's stdout lines and --out/--grad-out files must equal the oracle rounded to float64,
# bit for bit.
#
# Usage: /usr/bin/python3 tests/test_oracle.py PATH/TO/lsce
# Last line: "N passed, M failed, S skipped"; exit 0 iff M == 0, 77 when numpy/mpmath are missing.
# Set LSCE_TEST_KEEP=DIR to keep the generated .npy inputs in DIR (one sub-directory per case).
#
# This file doubles as a module: tests/test_identities.py and tests/test_torch.py import the oracle,
# the input writers and the binary runner from here.

import json
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

try:
    import numpy as np
    import mpmath
    from mpmath import mpf
except ImportError as exc:  # pragma: no cover
    if __name__ == "__main__":
        print("skip: cannot import numpy/mpmath (%s); run with Debian's /usr/bin/python3" % exc)
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(77)
    raise

VARIANTS = ["k", "k1", "k-torch-weighted", "k-logprob-weighted", "k1-logprob-weighted",
            "k-nll-weighted", "k1-kl", "k2-pad-kl"]
WEIGHTED = {"k-torch-weighted", "k-logprob-weighted", "k1-logprob-weighted", "k-nll-weighted"}
KL = {"k1-kl", "k2-pad-kl"}
MIN_K = {"k": 1, "k1": 2, "k-torch-weighted": 1, "k-logprob-weighted": 1,
         "k1-logprob-weighted": 2, "k-nll-weighted": 1, "k1-kl": 2, "k2-pad-kl": 3}
# The article's seed example ("Label Smoothing in PyTorch").
SEED_LOGITS = [[0, .2, .7, .1, 0], [0, .9, .2, .2, 1], [1, .2, .7, .9, 1]]
SEED_TARGETS = [2, 1, 0]
SEED_WEIGHTS = [1, 2, 0.5, 1.5, 0.25]
SEED_PAD = 4

NAN = float("nan")
INF = float("inf")


# ----------------------------------------------------------------------------------------------
# Exact rounding and formatting

def to_float(x):
    """Round an mpf, Fraction or int to the nearest float64 (ties to even), once.
    mpf -> exact Fraction -> float: CPython's int/int true division is correctly rounded
    (subnormals included), so the only rounding is the one from the oracle's 200-bit value."""
    if isinstance(x, float):
        return x
    if isinstance(x, (int, Fraction)):
        return float(Fraction(x))
    if mpmath.isnan(x):
        return NAN
    if mpmath.isinf(x):
        return INF if x > 0 else -INF
    sign, man, exp, _ = x._mpf_
    if man == 0:
        return 0.0
    v = Fraction(man * 2 ** exp) if exp >= 0 else Fraction(man, 2 ** (-exp))
    return float(-v if sign else v)


def fmt(x):
    """A stdout line of `lsce reference`: %.17g, `0` for a zero, inf/-inf/nan."""
    if x != x:
        return "nan"
    if x == 0:
        return "0"
    if x in (INF, -INF):
        return "inf" if x > 0 else "-inf"
    return "%.17g" % x


def hx(x):
    return float(x).hex() if x == x else "nan"


def same(a, b):
    """Bit-equality of float64 values, with NaN == NaN and +0 == -0."""
    a = float(a)
    b = float(b)
    if a != a or b != b:
        return a != a and b != b
    return a == b


def ulp64(x):
    x = abs(float(x))
    if x == 0 or x != x or x == INF:
        return 2.0 ** -1074
    m, ex = np.frexp(x)  # x = m * 2^ex, m in [0.5, 1)
    return max(2.0 ** (int(ex) - 53), 2.0 ** -1074)


# ----------------------------------------------------------------------------------------------
# Inputs

def bf16_from_f32(a):
    """float32 array -> uint16 bfloat16 bit patterns, round to nearest even (NaN kept NaN)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    r[nan] = 0x7FC0
    return r


def bf16_to_f64(u):
    return (np.asarray(u, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def cast_logits(z64, dtype):
    """float64 values -> the stored array for `dtype` (float64/float32/float16/bfloat16)."""
    z64 = np.asarray(z64, dtype=np.float64)
    if dtype == "bfloat16":
        return bf16_from_f32(z64.astype(np.float32))
    return z64.astype(dtype)


def stored_to_f64(arr, dtype):
    if dtype == "bfloat16":
        return bf16_to_f64(arr)
    return np.asarray(arr).astype(np.float64)


def save(path, arr, big_endian=False):
    arr = np.ascontiguousarray(arr)
    if big_endian and arr.dtype.itemsize > 1:
        arr = arr.astype(arr.dtype.newbyteorder(">"))
    np.save(path, arr)


# ----------------------------------------------------------------------------------------------
# The oracle

def frac_weights(w):
    return None if w is None else [Fraction(float(x)) for x in w]


def target_dist(variant, e, K, y, P=None, a_scale=None):
    """q_c for one row, literally, as exact rationals. a_scale (mutation tests only) multiplies the
    A coefficient of `k1` (q_y = A + B)."""
    one = Fraction(1)
    if variant in ("k", "k-torch-weighted", "k-logprob-weighted", "k-nll-weighted"):
        q = [e / K] * K
        q[y] = 1 - e + e / K
    elif variant in ("k1", "k1-logprob-weighted", "k1-kl"):
        off = e / (K - 1)
        q = [off] * K
        q[y] = 1 - e
        if a_scale is not None:
            q[y] = (one - e - off) * a_scale + off
    elif variant == "k2-pad-kl":
        off = e / (K - 2)
        q = [off] * K
        q[y] = 1 - e
        q[P] = Fraction(0)
    else:
        raise ValueError(variant)
    return q


def row_coefs(variant, e, K, y, w, P=None, a_scale=None):
    """Per-row coefficients of -lp_c (before the mean's denominator), as rationals.
    Returns (nll, smooth): for k-nll-weighted the weighted NLL part and the unweighted smooth
    part are kept apart (they have different denominators); for every other variant nll is None
    and smooth[c] = q_c * (w_c if weighted else 1)."""
    q = target_dist(variant, e, K, y, P, a_scale)
    if variant == "k-nll-weighted":
        nll = [Fraction(0)] * K
        nll[y] = (1 - e) * w[y]
        return nll, [e / K] * K
    if variant in WEIGHTED:
        return None, [q[c] * w[c] for c in range(K)]
    return None, q


def in_V(variant, y, ignore, P):
    return y != ignore and not (variant == "k2-pad-kl" and y == P)


def oracle(z, y, variant, e, reduction, w=None, ignore=-100, pad=None, prec=200, a_scale=None):
    """Exact (prec-bit) loss and gradient.
    z: (N, K) float64 values (exact inputs; rows outside V may hold anything), y: targets,
    e: Fraction, w: weights as float values or None. Returns (loss, grad): loss is a list of one
    value (mean/sum) or N values (none); grad is N lists of K values; values are mpf (rounded to
    prec bits) or Fraction (exact)."""
    z = np.asarray(z, dtype=np.float64)
    N = z.shape[0]
    K = z.shape[1]
    e = Fraction(e)
    wf = frac_weights(w)
    V = [i for i in range(N) if in_V(variant, int(y[i]), ignore, pad)]
    with mpmath.workprec(prec):
        def M(fr):
            return mpf(fr.numerator) / fr.denominator

        rows = {}
        for i in V:
            yi = int(y[i])
            zi = z[i]
            fin = [bool(np.isfinite(v)) for v in zi]
            m = max(float(zi[c]) for c in range(K) if fin[c])
            d = [mpf(float(zi[c])) - mpf(m) if fin[c] else None for c in range(K)]  # exact
            ex = [mpmath.exp(d[c]) if fin[c] else mpf(0) for c in range(K)]
            s = mpmath.fsum(ex)                      # s in [1, K]
            logs = mpmath.log(s)
            lp = [d[c] - logs if fin[c] else None for c in range(K)]   # None = -inf
            Kf = sum(fin)
            equal = len(set(float(zi[c]) for c in range(K) if fin[c])) == 1
            nll, smooth = row_coefs(variant, e, K, yi, wf, pad, a_scale)
            q = target_dist(variant, e, K, yi, pad, a_scale)

            def ce(coef):
                tot = mpf(0)
                for c in range(K):
                    if coef[c] == 0:
                        continue                      # kappa_c = 0: exact zero, even if masked
                    if not fin[c]:
                        return mpmath.inf
                    tot += M(coef[c]) * (-lp[c])
                return tot

            if variant in KL:
                if equal and all(q[c] == (Fraction(1, Kf) if fin[c] else 0) for c in range(K)):
                    L = mpf(0)                        # q == p exactly: KL is exactly 0
                else:
                    L = mpf(0)
                    for c in range(K):
                        if q[c] == 0:
                            continue                  # 0 log 0 = 0
                        if not fin[c]:
                            L = mpmath.inf
                            break
                        L += M(q[c]) * (mpmath.log(M(q[c])) - lp[c])
                rows[i] = dict(L=L, Lnll=None, fin=fin, ex=ex, s=s, equal=equal, Kf=Kf)
            elif variant == "k-nll-weighted":
                a, b = ce(nll), ce(smooth)
                rows[i] = dict(L=a + b, Lnll=a, Ls=b, fin=fin, ex=ex, s=s, equal=equal, Kf=Kf)
            else:
                rows[i] = dict(L=ce(smooth), Lnll=None, fin=fin, ex=ex, s=s, equal=equal, Kf=Kf)
            rows[i]["nll"] = nll
            rows[i]["smooth"] = q if variant in KL else smooth

        nV = len(V)
        W = sum((wf[int(y[i])] for i in V), Fraction(0)) if wf is not None else None
        nan = mpmath.nan
        # loss
        if reduction == "none":
            loss = [rows[i]["L"] if i in rows else mpf(0) for i in range(N)]
        elif reduction == "sum":
            loss = [mpmath.fsum([rows[i]["L"] for i in V]) if V else mpf(0)]
        elif variant == "k-nll-weighted":
            if nV == 0 or W == 0:
                loss = [nan]
            else:
                loss = [mpmath.fsum([rows[i]["Lnll"] for i in V]) / M(W)
                        + mpmath.fsum([rows[i]["Ls"] for i in V]) / nV]
        else:
            D = W if variant == "k-torch-weighted" else Fraction(nV)
            loss = [nan] if D == 0 else [mpmath.fsum([rows[i]["L"] for i in V]) / M(D)]

        # gradient: g_j = (sum_c kappa_c) p_j - kappa_j, kappa already divided by D
        grad = [[Fraction(0)] * K for _ in range(N)]
        for i in V:
            r = rows[i]
            if reduction == "mean":
                if variant == "k-nll-weighted":
                    if nV == 0 or W == 0:
                        grad[i] = [nan] * K
                        continue
                    kap = [r["nll"][c] / W + r["smooth"][c] / nV for c in range(K)]
                else:
                    D = W if variant == "k-torch-weighted" else Fraction(nV)
                    if D == 0:
                        grad[i] = [nan] * K
                        continue
                    kap = [r["smooth"][c] / D for c in range(K)]
            else:
                if variant == "k-nll-weighted":
                    kap = [r["nll"][c] + r["smooth"][c] for c in range(K)]
                else:
                    kap = list(r["smooth"])
            fin = r["fin"]
            if r["equal"]:
                # p_c = 1/K_f exactly: rational gradient
                p = [Fraction(1, r["Kf"]) if fin[c] else Fraction(0) for c in range(K)]
                tk = sum(kap, Fraction(0))
                grad[i] = [tk * p[j] - kap[j] for j in range(K)]
                continue
            ex, s = r["ex"], r["s"]
            g = []
            for j in range(K):
                if not fin[j]:
                    g.append(-kap[j])                 # p_j = 0: the rational -kappa_j
                    continue
                # (sum_c kappa_c) p_j - kappa_j = p_j sum_{c!=j} kappa_c - kappa_j sum_{c!=j} p_c:
                # both products of positive terms, so 1 - p_j never cancels.
                others_k = sum((kap[c] for c in range(K) if c != j), Fraction(0))
                others_p = mpmath.fsum([ex[c] for c in range(K) if c != j])
                g.append((ex[j] * M(others_k) - M(kap[j]) * others_p) / s)
            grad[i] = g
    return loss, grad


def oracle_f64(*args, **kw):
    loss, grad = oracle(*args, **kw)
    K = np.asarray(args[0]).shape[1]
    return (np.array([to_float(v) for v in loss], dtype=np.float64),
            np.array([[to_float(v) for v in row] for row in grad], dtype=np.float64).reshape(-1, K))


# ----------------------------------------------------------------------------------------------
# The binary

class Problem:
    """A problem written to .npy files in `d`: logits (stored dtype), targets, optional weights."""

    def __init__(self, d, name, z_stored, dtype, y, w=None, w_dtype="float32", t_dtype="int64",
                 big_endian=False):
        os.makedirs(d, exist_ok=True)
        self.d, self.name, self.dtype = d, name, dtype
        self.z_stored = z_stored
        self.z = stored_to_f64(z_stored, dtype)       # the exact values the binary reads
        self.y = np.asarray(y, dtype=np.int64)
        self.L = os.path.join(d, name + "-logits.npy")
        self.T = os.path.join(d, name + "-targets.npy")
        save(self.L, z_stored, big_endian)
        save(self.T, self.y.astype(t_dtype), big_endian)
        self.w = None
        self.W = None
        if w is not None:
            wa = np.asarray(w, dtype=w_dtype)
            self.w = [float(x) for x in wa]
            self.W = os.path.join(d, name + "-weights.npy")
            save(self.W, wa, big_endian)

    def args(self, variant, e, reduction=None, ignore=None, pad=None, weights=None):
        a = ["--logits", self.L, "--targets", self.T, "--variant", variant, "--smoothing", e]
        use_w = (variant in WEIGHTED) if weights is None else weights
        if use_w and self.W:
            a += ["--weights", self.W]
        if reduction is not None:
            a += ["--reduction", reduction]
        if ignore is not None:
            a += ["--ignore-index", str(ignore)]
        if variant == "k2-pad-kl" and pad is not None:
            a += ["--pad-index", str(pad)]
        return a


class Result:
    def __init__(self, cmd, rc, out, err, loss_npy, grad_npy):
        self.cmd, self.rc, self.stdout, self.stderr = cmd, rc, out, err
        self.loss_npy, self.grad_npy = loss_npy, grad_npy

    def lines(self):
        return self.stdout.splitlines()


_counter = [0]


def run_reference(lsce, prob, variant, e, reduction, ignore=None, pad=None):
    return run_reference_args(lsce, prob, prob.args(variant, e, reduction, ignore, pad))


def run_reference_args(lsce, prob, args):
    """`lsce reference` with the argument list given (the problem's files in it), --out/--grad-out added."""
    _counter[0] += 1
    O = os.path.join(prob.d, "%s-out-%d.npy" % (prob.name, _counter[0]))
    G = os.path.join(prob.d, "%s-grad-%d.npy" % (prob.name, _counter[0]))
    cmd = [lsce, "reference"] + args + ["--out", O, "--grad-out", G]
    rc, out, err = run_cmd(cmd)
    lo = np.load(O) if os.path.exists(O) else None
    go = np.load(G) if os.path.exists(G) else None
    return Result(cmd, rc, out, err, lo, go)


def run_cmd(cmd):
    """(exit status, stdout, stderr); a binary that cannot be started gives 126 and the reason."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 126, "", "cannot run: %s\n" % exc
    return p.returncode, p.stdout, p.stderr


def shell_cmd(cmd):
    return " ".join(cmd)


def lsce_from_argv():
    """The tests' one argument, PATH/TO/lsce, made absolute (usage and exit 2 otherwise)."""
    if len(sys.argv) != 2:
        print("usage: %s PATH/TO/lsce" % sys.argv[0])
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def ok(self, cond, msg):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL " + msg)
            sys.stdout.flush()
        return cond

    def skip(self, msg=None):
        self.skipped += 1
        if msg:
            print("SKIP " + msg)

    def finish(self):
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped))
        sys.exit(0 if self.failed == 0 else 1)

    def summary(self):
        """Prints the tally line; returns the exit code: 1 on any failure or when nothing passed."""
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped))
        return 1 if self.failed or not self.passed else 0


def compare_to_oracle(t, res, ref_loss, ref_grad, desc):
    """Checks (3): stdout lines, --out, --grad-out against the float64-rounded oracle."""
    if not t.ok(res.rc == 0 and res.stderr == "",
                "%s: exit %d stderr=%r cmd: %s" % (desc, res.rc, res.stderr.strip(),
                                                  shell_cmd(res.cmd))):
        return
    want = [fmt(v) for v in ref_loss]
    got = res.lines()
    bad = [i for i in range(max(len(want), len(got)))
           if i >= len(want) or i >= len(got) or want[i] != got[i]]
    if bad:
        i = bad[0]
        t.ok(False, "%s stdout line=%d ref=%s (%s) got=%s (%d lines, %d expected)"
             % (desc, i, want[i] if i < len(want) else "-",
                hx(ref_loss[i]) if i < len(ref_loss) else "-",
                got[i] if i < len(got) else "-", len(got), len(want)))
    else:
        t.ok(True, "")
    lo = res.loss_npy
    shape = (len(ref_loss),) if res.cmd[res.cmd.index("--reduction") + 1] == "none" else ()
    if lo is None or lo.dtype != np.float64 or lo.shape != shape:
        t.ok(False, "%s --out: %s, expected float64 %s" %
             (desc, "missing" if lo is None else "%s %s" % (lo.dtype, lo.shape), shape))
    else:
        flat = lo.reshape(-1)
        bad = [i for i in range(len(ref_loss)) if not same(flat[i], ref_loss[i])]
        t.ok(not bad, "%s --out row=%s ref=%s got=%s (%d entries differ)" %
             (desc, bad[0] if bad else -1, hx(ref_loss[bad[0]]) if bad else "",
              hx(flat[bad[0]]) if bad else "", len(bad)))
    go = res.grad_npy
    if go is None or go.dtype != np.float64 or go.shape != ref_grad.shape:
        t.ok(False, "%s --grad-out: %s, expected float64 %s" %
             (desc, "missing" if go is None else "%s %s" % (go.dtype, go.shape), ref_grad.shape))
    else:
        bad = [(i, j) for i in range(ref_grad.shape[0]) for j in range(ref_grad.shape[1])
               if not same(go[i, j], ref_grad[i, j])]
        if bad:
            i, j = bad[0]
            t.ok(False, "%s --grad-out row=%d col=%d ref=%s got=%s (%d entries differ)" %
                 (desc, i, j, hx(ref_grad[i, j]), hx(go[i, j]), len(bad)))
        else:
            t.ok(True, "")


# ----------------------------------------------------------------------------------------------
# The test

E_CHOICES = ["0", "0.1", "0.25", "0.3", "0.5", "0.7", "1", "1e-3", ".5", "3E-1", "0.95",
             "0.123456789012345678901234567890123456", "0.9999999999999999999", "0.05"]
DTYPES = ["float64", "float32", "float16", "bfloat16"]


def seed_example_cases(t, lsce, d):
    """The article's example: every variant at e in {0, .1, .3, .5, 1}, all reductions."""
    z = np.array(SEED_LOGITS, dtype=np.float32)
    prob = Problem(d, "seed", z, "float32", SEED_TARGETS, w=SEED_WEIGHTS, w_dtype="float32")
    printed = {}
    for variant in VARIANTS:
        for e in ["0", "0.1", "0.3", "0.5", "1"]:
            if prob.z.shape[1] < MIN_K[variant]:
                t.skip("seed variant=%s K below minimum" % variant)
                continue
            pad = SEED_PAD if variant == "k2-pad-kl" else None
            for red in ["mean", "sum", "none"]:
                ref_loss, ref_grad = oracle_f64(prob.z, prob.y, variant, Fraction(e), red,
                                                w=prob.w if variant in WEIGHTED else None, pad=pad)
                res = run_reference(lsce, prob, variant, e, red, pad=pad)
                desc = "case=seed variant=%s e=%s reduction=%s pad=%s" % (variant, e, red, pad)
                compare_to_oracle(t, res, ref_loss, ref_grad, desc)
                if red == "mean" and res.rc == 0 and res.lines():
                    printed[(variant, e)] = res.lines()[0]
    # The three numbers printed by the article (5 significant digits).
    for variant, e, digits in [("k", "0.3", "1.3883"), ("k1", "0.5", "1.5161"),
                               ("k1", "0.3", "1.4178")]:
        got = printed.get((variant, e))
        t.ok(got is not None and "%.5g" % float(got) == digits,
             "case=article variant=%s e=%s reduction=mean: prints %s, rounds to %s, article %s"
             % (variant, e, got, "%.5g" % float(got) if got else "-", digits))
    if ("k1", "0.5") in printed and ("k1", "0.3") in printed:
        print("note: the article's K-1 class passes smoothing=0.5 but prints 1.4178; k1 at e=0.5 "
              "is %s, k1 at e=0.3 is %s: the printed value is a typo in the article's check"
              % (printed[("k1", "0.5")], printed[("k1", "0.3")]))


def random_case(rs, idx, variant):
    """One random problem description (values as float64, stored later in `dtype`)."""
    Ks = [k for k in (1, 2, 3, 7, 12) if k >= MIN_K[variant]]
    K = int(rs.choice(Ks))
    N = 0 if idx % 13 == 5 else int(rs.choice([1, 4, 4, 6]))
    dtype = DTYPES[(idx // 8 + idx) % 4]
    e = str(rs.choice(E_CHOICES))
    ignore = int(rs.choice([-100, -100, -1, 0, 1, K + 3]))
    pad = int(rs.randint(0, K)) if variant == "k2-pad-kl" else None
    scale = float(rs.choice([1.0, 3.0, 10.0]))
    z = rs.standard_normal((N, K)) * scale
    y = rs.randint(0, K, size=N)
    for i in range(N):
        u = rs.rand()
        if u < 0.2:
            y[i] = ignore
        elif pad is not None and u < 0.35:
            y[i] = pad
    w = None
    if variant in WEIGHTED:
        w = rs.uniform(0, 2, size=K)
        w[rs.rand(K) < 0.2] = 0.0
    return dict(K=K, N=N, dtype=dtype, e=e, ignore=ignore, pad=pad, z=z, y=y, w=w)


def kappa_nonzero(variant, e, K, y, w, pad):
    nll, smooth = row_coefs(variant, Fraction(e), K, y, frac_weights(w), pad)
    if nll is None:
        nll = [0] * K
    return [nll[c] + smooth[c] != 0 for c in range(K)]


def random_cases(t, lsce, d, base_seed=20240601, count=40):
    for idx in range(count):
        seed = base_seed + idx
        rs = np.random.RandomState(seed)
        variant = VARIANTS[idx % len(VARIANTS)]
        c = random_case(rs, idx, variant)
        K, N, z, y = c["K"], c["N"], c["z"], c["y"]
        # masking: 'none', 'safe' (only classes with kappa_c == 0: finite loss), 'any' (+inf loss)
        mode = ["none", "safe", "any"][idx % 3]
        for i in range(N):
            yi = int(y[i])
            if not in_V(variant, yi, c["ignore"], c["pad"]):
                # rows outside V: garbage the binary must not read
                z[i, rs.randint(0, K)] = float(rs.choice([NAN, INF, -INF]))
                if rs.rand() < 0.5:
                    z[i, :] = NAN
                continue
            if mode == "none" or K == 1:
                continue
            if mode == "safe":
                nz = kappa_nonzero(variant, c["e"], K, yi, c["w"], c["pad"])
                cand = [j for j in range(K) if not nz[j]]
            else:
                cand = list(range(K))
            rs.shuffle(cand)
            for j in cand[:max(0, min(len(cand), K - 1, rs.randint(0, 3)))]:
                z[i, j] = -INF
        stored = cast_logits(z, c["dtype"])
        big = (idx % 5 == 4)
        prob = Problem(os.path.join(d, "r%d" % idx), "rand", stored, c["dtype"], y, w=c["w"],
                       w_dtype=("float64" if idx % 2 else "float32"),
                       t_dtype=("int32" if idx % 3 == 1 else "int64"), big_endian=big)
        ign = None if c["ignore"] == -100 else c["ignore"]
        for red in ["mean", "sum", "none"]:
            ref_loss, ref_grad = oracle_f64(prob.z, prob.y, variant, Fraction(c["e"]), red,
                                            w=prob.w, ignore=c["ignore"], pad=c["pad"])
            res = run_reference(lsce, prob, variant, c["e"], red, ignore=ign, pad=c["pad"])
            desc = ("case=random#%d seed=%d variant=%s e=%s reduction=%s dtype=%s N=%d K=%d "
                    "ignore=%d pad=%s mask=%s%s" % (idx, seed, variant, c["e"], red, c["dtype"], N,
                                                     K, c["ignore"], c["pad"], mode,
                                                     " big-endian" if big else ""))
            compare_to_oracle(t, res, ref_loss, ref_grad, desc)


def edge_cases(t, lsce, d):
    """Zero denominators, masked targets, non-default ignore index, +inf losses."""
    rs = np.random.RandomState(7)
    seed = 7
    K = 5
    w = rs.uniform(0.5, 2, size=K).astype(np.float32)
    # (1) every row ignored: mean nan, sum 0, none zeros; ignored rows hold NaN.
    for ignore in (-100, 3):
        z = np.full((3, K), NAN)
        prob = Problem(os.path.join(d, "allign%d" % ignore), "allign", z, "float64",
                       [ignore] * 3, w=w)
        for variant in VARIANTS:
            pad = 1 if variant == "k2-pad-kl" else None
            for red in ["mean", "sum", "none"]:
                rl, rg = oracle_f64(prob.z, prob.y, variant, Fraction("0.1"), red,
                                    w=prob.w if variant in WEIGHTED else None,
                                    ignore=ignore, pad=pad)
                res = run_reference(lsce, prob, variant, "0.1", red,
                                    ignore=None if ignore == -100 else ignore, pad=pad)
                compare_to_oracle(t, res, rl, rg, "case=all-ignored seed=%d variant=%s e=0.1 "
                                  "reduction=%s ignore=%d" % (seed, variant, red, ignore))
    # (2) all target weights zero: k-torch-weighted and k-nll-weighted means are nan, gradient
    #     rows of V nan; sum finite.
    z = rs.standard_normal((4, K))
    y = np.array([0, 2, 0, -100])
    w0 = w.copy()
    w0[0] = 0
    w0[2] = 0
    prob = Problem(os.path.join(d, "w0"), "w0", z, "float64", y, w=w0)
    for variant in ["k-torch-weighted", "k-nll-weighted", "k-logprob-weighted"]:
        for e in ["0", "0.2", "1"]:
            for red in ["mean", "sum", "none"]:
                rl, rg = oracle_f64(prob.z, prob.y, variant, Fraction(e), red, w=prob.w)
                res = run_reference(lsce, prob, variant, e, red)
                compare_to_oracle(t, res, rl, rg, "case=zero-target-weights seed=%d variant=%s "
                                  "e=%s reduction=%s" % (seed, variant, e, red))
    # (3) masked targets: k1 at e=1 finite, e=0 +inf; masked class with zero weight (pitfall 7).
    z = rs.standard_normal((3, K))
    y = np.array([1, 3, 4])
    z[0, 1] = -INF
    z[1, 3] = -INF
    z[2, 0] = -INF
    wz = w.copy()
    wz[0] = 0
    prob = Problem(os.path.join(d, "mask"), "mask", z, "float64", y, w=wz)
    for variant in VARIANTS:
        for e in ["0", "0.4", "1"]:
            pad = 0 if variant == "k2-pad-kl" else None
            for red in ["mean", "sum", "none"]:
                rl, rg = oracle_f64(prob.z, prob.y, variant, Fraction(e), red,
                                    w=prob.w if variant in WEIGHTED else None, pad=pad)
                res = run_reference(lsce, prob, variant, e, red, pad=pad)
                compare_to_oracle(t, res, rl, rg, "case=masked-targets seed=%d variant=%s e=%s "
                                  "reduction=%s pad=%s" % (seed, variant, e, red, pad))
    # (4) K below the variant's minimum: exit 2 naming --variant.
    for variant, K1 in [("k1", 1), ("k1-kl", 1), ("k1-logprob-weighted", 1), ("k2-pad-kl", 2)]:
        prob = Problem(os.path.join(d, "minK"), "minK%d" % K1, np.zeros((2, K1)), "float64",
                       [0, 0], w=np.ones(K1))
        res = run_reference(lsce, prob, variant, "0.1", "mean", pad=0)
        t.ok(res.rc == 2 and res.stderr.startswith("lsce: --variant: ") and
             res.stderr.count("\n") == 1 and res.stdout == "" and res.loss_npy is None,
             "case=min-K variant=%s K=%d: want exit 2 and 'lsce: --variant: ...', got exit %d "
             "stderr=%r cmd: %s" % (variant, K1, res.rc, res.stderr, shell_cmd(res.cmd)))


def catalog_matches(t, lsce):
    """The oracle's own catalog (VARIANTS, WEIGHTED, KL, MIN_K above, written from
    docs/formulations.md) is lsce's: `lsce variants --json` lists the same variants in the same
    order with the same properties, so a variant added to lsce without its oracle formulas fails."""
    r = subprocess.run([lsce, "variants", "--json"], capture_output=True, text=True, timeout=60)
    rows = json.loads(r.stdout) if r.returncode == 0 else []
    ids = [row["id"] for row in rows if row.get("family", "softmax") == "softmax" and not row.get("needs_tp")]
    t.ok(ids == VARIANTS, "catalog: lsce variants --json lists %s, the oracle %s" % (ids, VARIANTS))
    # the variants that need --tp (issue #17's k1-megatron) have their oracle in tests/test_megatron.py
    tp = [row["id"] for row in rows if row.get("needs_tp")]
    t.ok(tp == ["k1-megatron"], "catalog: lsce's --tp variants %s, tests/test_megatron.py's ['k1-megatron']" % tp)
    # the sigmoid family (issue #15) has its oracle in tests/oracle_catalog.py
    import oracle_catalog
    sig = [row["id"] for row in rows if row.get("family") == "sigmoid"]
    t.ok(sig == oracle_catalog.SIGMOID and len(sig) + len(ids) + len(tp) == len(rows),
         "catalog: lsce's sigmoid family %s, tests/oracle_catalog.py %s" % (sig, oracle_catalog.SIGMOID))
    for row in rows:
        v = row["id"]
        if v in tp:
            t.ok(not row["needs_weights"] and not row["kl"] and row["min_K"] == 2,
                 "catalog: %s: lsce says needs_weights=%s kl=%s min_K=%s" % (v, row["needs_weights"], row["kl"], row["min_K"]))
            continue
        if v in sig:
            t.ok(not row["needs_weights"] and not row["kl"] and row["min_K"] == 1 and row["weights_optional"],
                 "catalog: %s: lsce says needs_weights=%s kl=%s min_K=%s" % (v, row["needs_weights"], row["kl"], row["min_K"]))
            continue
        t.ok(row["needs_weights"] == (v in WEIGHTED) and row["kl"] == (v in KL)
             and row["min_K"] == MIN_K.get(v), "catalog: %s: lsce says needs_weights=%s kl=%s min_K=%s"
             % (v, row["needs_weights"], row["kl"], row["min_K"]))


def main():
    lsce = lsce_from_argv()
    t = Tally()
    catalog_matches(t, lsce)
    keep = os.environ.get("LSCE_TEST_KEEP")
    with tempfile.TemporaryDirectory() as tmp:
        d = keep or tmp
        seed_example_cases(t, lsce, os.path.join(d, "seed"))
        random_cases(t, lsce, d)
        edge_cases(t, lsce, d)
    t.finish()


if __name__ == "__main__":
    main()
