"""The double single pass of narrow rows (impls/cpu/simd_dblone.inc: double table exps of the logits
themselves, guarded by -700 <= z <= 680, the maximum, jm and n_eq tracked per lane; kept double exps
swept into the gradient with exp(-m) in the coefficient) and the driver's choice of first pass
(impls/cpu/driver.c: after a row the float32 pass could not certify, and first where the rows before
failed it), against the reference: `lsce run` then `lsce check` within the declared bounds (1 ulp
loss in float32; gradient 2 ulps for float32, 1 ulp in the input dtype for bfloat16 and float16) with
LSCE_ROW_REFERENCE=0, so no row is rescued by the reference. Forward and forward+backward, float32,
bfloat16 and float16 logits, cpu_avx2 / cpu_threads (2 threads: the predictor's blocks of rows) /
cpu_sharded (LSCE_F32PASS=all: slices that start inside the row), widest ISA and AVX2, LSCE_KEEP=0,
LSCE_DBLONE=0 (and its one-line error for a bad value). Rows: like a trained model's (1.5 N(0, 1), the target raised by 10: loss 2-4, which
the float32 pass cannot certify) with a remainder beyond whole vectors; ties with the maximum in one
block, across lanes and in the remainder; calls mixing N(0, 1) rows (the float32 pass certifies them)
with trained ones over more than one block of the predictor (22 rows, and 70 rows whose row 0 runs
first and starts every block); the guard: the maximum at 680 and the
minimum at -700 exactly (taken), one float beyond each (the double two passes); logits offset by 300
(beyond the float32 pass's [-80, 80]); confident rows (one class dominates: s1's cancellation, the
accurate rung and the ladder); -inf masks (the double two passes).
Usage: /usr/bin/python3 tests/test_dblone.py path/to/lsce"""
import itertools
import os
import subprocess
import sys
import tempfile

import numpy as np

from lsce_testlib import problem_args, run_then_check, save_problem  # shared with the other row tests

LSCE = os.path.abspath(sys.argv[1])


def trained(rng, n, K, boost=10.0):
    """rows like a trained model's: 1.5 N(0, 1), the target raised by boost; (logits, targets)"""
    z = 1.5 * rng.normal(size=(n, K))
    y = rng.integers(0, K, size=n)
    z[np.arange(n), y] += boost
    return z, y


def problems():
    rng = np.random.default_rng(20261130)
    out = {}
    K = 2048 + 48 + 5  # blocks of four vectors, blocks of one (AVX-512: 16 lanes) and a remainder
    out["trained"] = trained(rng, 4, K)
    z, y = trained(rng, 5, K)
    top = z.max(axis=1) + 0.5
    z[0, [17, 17 + 64]] = top[0]            # tie in one lane, a later block: scanned again
    z[1, [3, 3 + 16]] = top[1]              # tie in one lane, the same block: the block's scan
    z[2, [100, 101]] = top[2]               # tie across lanes
    z[3, [K - 3, 2048 + 20]] = top[3]       # the remainder and a block of one
    z[4, [y[4], 7]] = top[4]                # the target ties with another class
    out["ties"] = (z, y)
    # calls mixing rows the float32 pass certifies (N(0, 1)) with trained ones over blocks of the
    # predictor: 22 rows (blocks 0-15, 16-21, each starting with the float32 pass) and 70 rows (row 0
    # first, alone: a trained row, so every block 1-16, 17-32, ... starts with the double single pass)
    for name, n, head in (("mixed", 22, 0), ("mixed70", 70, 1)):
        zn = rng.normal(size=(n, 2048))
        zt, yt = trained(rng, n, 2048)
        pick = rng.random(n) < 0.6
        pick[0] = head
        out[name] = (np.where(pick[:, None], zt, zn), np.where(pick, yt, rng.integers(0, 2048, size=n)))
    return out


def f32_problems():
    """float32 only: the guard's edges (bfloat16 and float16 round their neighbours onto them)"""
    rng = np.random.default_rng(20261201)
    out = {}
    z, y = trained(rng, 6, 2052)
    z[0] += 670.0
    z[0, y[0]] = 680.0                               # the maximum at the guard: taken
    z[1, 11] = -700.0                                # the minimum at the guard: taken
    z[2] += 670.0
    z[2, y[2]] = np.nextafter(np.float32(680.0), np.float32(1e4))  # one float beyond: two passes
    z[3, 13] = np.nextafter(np.float32(-700.0), np.float32(-1e4))
    z[4] += 300.0                                    # beyond the float32 pass's guard
    z[5, y[5]] += 40.0                               # confident: s1 cancels, the ladder decides
    out["guard"] = (z, y)
    z, y = trained(rng, 3, 2064)
    z[0, [4, 70, 2063]] = -np.inf                    # masked classes: the double two passes
    z[1, 0] = -np.inf
    z[2, y[2]] += 25.0
    out["masked"] = (z, y)
    return out


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k", "0.1", "mean", None), ("k2-pad-kl", "0.1", "none", 5)]
# (impl, LSCE_ISA ("" the widest), extra env, gradient)
CONFIGS = [(impl, isa, {}, grad) for impl in ("cpu_avx2", "cpu_threads") for isa in ("", "avx2")
           for grad in (False, True) if not (impl == "cpu_threads" and isa)] + \
          [("cpu_threads", "", {"LSCE_F32PASS": "all"}, False), ("cpu_sharded", "", {"LSCE_F32PASS": "all"}, False),
           ("cpu_threads", "", {"LSCE_KEEP": "0"}, True), ("cpu_avx2", "", {"LSCE_DBLONE": "0"}, True)]


def run_and_check(d, prob, dt, impl, isa, extra, grad):
    """None when lsce run's outputs pass lsce check within the declared bounds, else the failure"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS="2", LSCE_SHARDS="3", **extra)
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    gargs = ["--max-grad-ulp", "2" if dt == "float32" else "1"] if grad else []
    return run_then_check(LSCE, d, impl, prob, env, grad, ["--loss-dtype", "float32", "--max-ulp", "1"] + gargs)


def knob_error():
    """None when a bad LSCE_DBLONE is refused with its one line and exit 2, else the failure"""
    r = subprocess.run([LSCE, "run", "--impl", "cpu_avx2"], env=dict(os.environ, LSCE_DBLONE="2"),
                       capture_output=True, text=True, timeout=60)
    want = "lsce: LSCE_DBLONE: must be 0 or 1, got '2'\n"
    return None if r.returncode == 2 and r.stderr == want and not r.stdout else f"exit {r.returncode}: {r.stderr!r}"


def runs(d):
    """(label, failure or None) of every run-then-check pair: each problem in its dtypes and combos,
    by every configuration (the 16-bit logits on the default ones only)"""
    cases = [(name, p, ("float32", "bfloat16", "float16")) for name, p in problems().items()] + \
            [(name, p, ("float32",)) for name, p in f32_problems().items()]
    for (name, (z, y), dts), combo in itertools.product(cases, COMBOS):
        for dt in dts:
            prob = problem_args(*save_problem(d, name, dt, z, y), *combo)
            for impl, isa, extra, grad in (cf for cf in CONFIGS if dt == "float32" or not (cf[1] or cf[2])):
                label = f"{name} {dt} {' '.join(map(str, combo))} {impl} isa={isa or 'widest'} {extra} grad={grad}"
                yield label, run_and_check(d, prob, dt, impl, isa, extra, grad)


def main():
    with tempfile.TemporaryDirectory() as d:
        results = [("LSCE_DBLONE=2", knob_error())] + list(runs(d))
    bad = [(label, err) for label, err in results if err is not None]
    for label, err in bad:
        print(f"FAIL {label}: {err}")
    print(f"{len(results) - len(bad)} passed, {len(bad)} failed, 0 skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
