"""The software pipeline of float32 forward+backward rows (impls/cpu/simd_pipe.inc, driver.c run_pipe:
a row's gradient swept inside the next row's float32 single pass, each row checked after its own
sweep) against the reference and against itself: `lsce run --grad-out` then `lsce check` within the
declared bounds (1 ulp loss in float32, gradient 2 ulps) with LSCE_ROW_REFERENCE=0, and the outputs
byte for byte the same with LSCE_PIPE all (these calls are below the default's 32 MiB), 1 and 0 and at
1, 2 and 3 threads (the pipeline's ranges of 64
rows and the predictor's blocks of 16: results must not depend on either). K = 4149: longer than the
streaming stores' 4096, not a multiple of the vector width (each row's aligned head differs), with a
remainder. Rows in one call of 70 (row 0 first alone, then ranges of 64): N(0, 1) rows (the float32
pass certifies them: the pipeline proper); at smoothing 0.9, rows whose loss the float32 pass certifies
but whose gradient cancels (p close to the smoothed target: the row fails its check after the next
row was already computed by the pipeline, so that row is recomputed by the double single pass, as the
predictor says; the failing row climbs the ladder, rewriting its gradient row); at smoothing 0.1 the
same rows fail on their loss at once; rows like a trained model's (the float32 pass cannot certify
them: the predictor turns to the double single pass, then back); a logit beyond 80 (the single pass
declines inside the pipeline: the row runs as before) and -inf masks (the double pass); ties of the
maximum and the target inside vector pairs (the sweep's per-pair fix-ups); the last row of a range.
Also a call of 5 rows (no row 0 first), LSCE_ISA=avx2, and the one-line error of a bad LSCE_PIPE.
Usage: /usr/bin/python3 tests/test_pipe.py path/to/lsce"""
import os
import subprocess
import sys
import tempfile

import numpy as np

from lsce_testlib import Tally, problem_args, run_then_check, save_problem  # shared with the other row tests

LSCE = os.path.abspath(sys.argv[1])
K = 4096 + 48 + 5


def problems():
    rng = np.random.default_rng(20261130)
    n = 70
    z = rng.normal(size=(n, K))
    y = rng.integers(0, K, size=n)
    b = np.log((K - 1) / 9.0)  # p_y = 0.1: at smoothing 0.9 the gradient cancels everywhere
    for r, s in ((5, 1e-3), (8, 1e-2), (30, 1e-3), (63, 1e-3), (64, 1e-3)):
        z[r] = s * rng.normal(size=K)
        z[r, y[r]] = b
    for r in (12, 40, 41):  # like a trained model's: 1.5 N(0, 1), the target raised by 10
        z[r] = 1.5 * rng.normal(size=K)
        z[r, y[r]] += 10.0
    z[20, 77] = 85.0                        # beyond the single pass's guard: it declines
    z[22, [3, 500, K - 1]] = -np.inf        # masked classes
    top = z[25].max() + 0.5
    z[25, [17, 17 + 64, y[25]]] = top       # ties of the maximum, the target among them
    z[26, y[26]] = z[26].max() + 1.0        # the target is the maximum (y and jm in one pair)
    out = {"run": (z, y)}
    z5 = rng.normal(size=(5, K))
    y5 = rng.integers(0, K, size=5)
    z5[2] = 1e-3 * rng.normal(size=K)
    z5[2, y5[2]] = b
    out["few"] = (z5, y5)
    return out


COMBOS = [("k", "0.1", "none", None), ("k", "0.9", "none", None), ("k2-pad-kl", "0.1", "mean", 5)]
# (impl, threads, LSCE_ISA ("" the widest), LSCE_PIPE), in groups of one ISA: the first of each group is
# checked against the reference, the others must give its bytes (the two ISAs' sums differ in rounding)
GROUPS = [[("cpu_avx2", "1", "", "all"), ("cpu_threads", "2", "", "all"), ("cpu_threads", "3", "", "all"),
           ("cpu_threads", "1", "", "all"), ("cpu_threads", "2", "", "0"), ("cpu_avx2", "1", "", "0"),
           ("cpu_threads", "2", "", "1")],
          [("cpu_threads", "2", "avx2", "all"), ("cpu_threads", "3", "avx2", "all"), ("cpu_avx2", "1", "avx2", "0")]]


def run_config(d, prob, impl, threads, isa, pipe):
    """the loss and gradient bytes of `lsce run`, or the failure as a string"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS=threads, LSCE_PIPE=pipe)
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
    r = subprocess.run([LSCE, "run", "--impl", impl] + prob + ["--out", o, "--grad-out", g], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return f"run exit {r.returncode}: {r.stderr.strip()}"
    with open(o, "rb") as f, open(g, "rb") as h:
        return f.read(), h.read()


def knob_error():
    """None when a bad LSCE_PIPE is refused with its one line and exit 2, else the failure"""
    r = subprocess.run([LSCE, "run", "--impl", "cpu_avx2"], env=dict(os.environ, LSCE_PIPE="2"),
                       capture_output=True, text=True, timeout=60)
    want = "lsce: LSCE_PIPE: must be 0, 1 or all, got '2'\n"
    return None if r.returncode == 2 and r.stderr == want and not r.stdout else f"exit {r.returncode}: {r.stderr!r}"


def main():
    t = Tally()
    err = knob_error()
    t.ok(err is None, f"LSCE_PIPE=2: {err}")
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems().items():
            lg, tg = save_problem(d, name, "float32", z, y)
            for combo in COMBOS:
                prob = problem_args(lg, tg, *combo)
                label = f"{name} {' '.join(map(str, combo))}"
                for group in GROUPS:
                    impl, threads, isa, pipe = group[0]
                    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS=threads, LSCE_PIPE=pipe)
                    env.pop("LSCE_ISA", None)
                    if isa:
                        env["LSCE_ISA"] = isa
                    err = run_then_check(LSCE, d, impl, prob, env, True,
                                         ["--loss-dtype", "float32", "--max-ulp", "1", "--max-grad-ulp", "2"])
                    t.ok(err is None, f"{label} {group[0]} against the reference: {err}")
                    first = run_config(d, prob, *group[0])
                    for cf in group[1:]:
                        got = run_config(d, prob, *cf)
                        why = got if isinstance(got, str) else f"the bytes differ from {group[0]}"
                        t.ok(not isinstance(got, str) and got == first, f"{label} {cf}: {why}")
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
