"""The float64 rows' single pass (impls/cpu/simd_f64pass.inc stats_f64_one: exps of the logits
themselves as pairs, guarded by -600 <= z <= 600, S and Z summed as per-lane pairs, F = exp(-m) in
double-double; forward calls only) and its rungs (a row whose bound it cannot vouch for is recomputed
by the two passes, cpu/driver.c, then the accurate kernels) against the reference: `lsce run` then
`lsce check` within the declared float64 bounds (2 ulps loss, 4 ulps gradient normwise) with
LSCE_ROW_REFERENCE=0, so no row is rescued by the reference. Forward and forward+backward (which
keeps the two passes: the gradient of the same rows must still pass), cpu_avx2 / cpu_threads /
cpu_sharded (3 shards: slices that start inside the row), widest ISA and AVX2, LSCE_F64ONE 1 and 0.
Rows: N(0, 1) (remainder classes beyond whole vectors), rows like a trained model's (1.5 z + 10 or
12 at the target), rows whose gradient at the target cancels (the float64 accurate rung, vd_exp2xx,
settles them: avx2.c / avx512.c), confident rows (one class 40 above the rest: s1 tiny, the single pass's bound
falls short and the two passes take it), ties with the maximum (in one vector, across vectors, in
the remainder), logits at +-600 exactly (single pass) and the doubles just beyond (two passes),
offsets of 1e4 and gaps of 1e30 (two passes), -inf masks (the double-double kernels), a pad class.
(NaN and +inf logits are refused by the command line; the kernels' fallback on them is the same Z
check as for -inf.) Usage: /usr/bin/python3 tests/test_f64one.py path/to/lsce"""
import itertools
import os
import sys
import tempfile

import numpy as np

from lsce_testlib import Tally, problem_args, run_then_check, save_problem  # shared with the other row tests

LSCE = os.path.abspath(sys.argv[1])


def problems():
    rng = np.random.default_rng(20261130)
    out = {}
    K = 1000 + 5  # whole vectors at either width, and a remainder
    out["normal"] = (rng.normal(size=(3, K)), np.array([0, 5, K - 1]))
    z = rng.normal(size=(4, K)) * 1.5
    y = np.array([3, 100, 700, K - 2])
    z[np.arange(4), y] += np.array([10.0, 12.0, 12.0, 10.0])
    out["trained"] = (z, y)
    # the gradient at the target cancelling (alpha / s = kappa_y, s1 = e / (1 - e) for k at e = 0.1):
    # the first pass's 2^-54 exps cannot vouch for it, the accurate rung's vd_exp2xx (2^-61) can
    z = rng.normal(size=(3, K)) * 1.5
    y = np.array([4, 500, K - 1])
    for r, rel in enumerate((0.0, 1e-7, 1e-10)):
        others = np.delete(z[r], y[r])
        z[r, y[r]] = np.log(np.sum(np.exp(others)) / ((0.1 / 0.9) * (1 + rel)))
    out["cancel"] = (z, y)
    z = rng.normal(size=(3, K))
    z[0, 7] = 40.0                           # one class dominates: s1 about 1e-14
    z[1, 8] = 40.0                           # the same, target elsewhere
    z[2, 9] = 15.0                           # s1 about 1e-4
    out["confident"] = (z, np.array([7, 2, 9]))
    z = rng.normal(size=(4, K))
    z[0, 17] = z[0, 18] = 9.0                # tie within one vector
    z[1, 3] = z[1, 3 + 64] = 9.0             # tie across vectors
    z[2, K - 3] = 9.0                        # maximum in the remainder
    z[3, 40] = z[3, K - 1] = 9.0             # tie between a vector and the remainder
    out["ties"] = (z, np.array([17, 67, K - 3, 0]))
    z = np.clip(rng.normal(size=(4, K)) * 200, -599.0, 599.0)
    z[0, 10] = 600.0                         # at the guard: single pass
    z[1, 11] = -600.0
    z[2, 12] = np.nextafter(600.0, np.inf)   # just beyond: two passes
    z[3, 13] = np.nextafter(-600.0, -np.inf)
    out["guard"] = (z, np.array([10, 0, 12, K - 1]))
    z = rng.normal(size=(3, K))
    z[0] += 1e4                              # offset: two passes
    z[1, 9] = -1e30                          # huge gap: two passes (2^1000 spread), then double-double
    z[2, :] = -300.0
    z[2, 7] = 300.0                          # gap of 600 within the guard: confident, escalates
    out["gaps"] = (z, np.array([3, 9, 7]))
    z = rng.normal(size=(2, K))
    z[0, [4, 70, K - 1]] = -np.inf           # masked classes: the double-double kernels
    z[1, 0] = -np.inf
    out["masked"] = (z, np.array([5, 1]))
    return out


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k", "0.1", "mean", None), ("k2-pad-kl", "0.1", "none", 5),
          ("k", "0", "none", None)]
# (impl, LSCE_ISA ("" the widest), LSCE_F64ONE, gradient)
CONFIGS = [(impl, isa, "1", grad) for impl in ("cpu_avx2", "cpu_threads") for isa in ("", "avx2")
           for grad in (False, True) if not (impl == "cpu_threads" and isa)] + \
          [("cpu_sharded", "", "1", False), ("cpu_sharded", "avx2", "1", False), ("cpu_threads", "", "0", False)]


def run_and_check(d, prob, impl, isa, one, grad):
    """None when lsce run's outputs pass lsce check within the declared bounds, else the failure"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS="2", LSCE_SHARDS="3", LSCE_F64ONE=one)
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    gargs = ["--max-grad-ulp", "4"] if grad else []
    return run_then_check(LSCE, d, impl, prob, env, grad, ["--loss-dtype", "float64", "--max-ulp", "2"] + gargs)


def main():
    t = Tally()
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems().items():
            for variant, e, red, pad in COMBOS:
                lg, tg = save_problem(d, name, "float64", z, y)
                prob = problem_args(lg, tg, variant, e, red, pad)
                for impl, isa, one, grad in CONFIGS:
                    err = run_and_check(d, prob, impl, isa, one, grad)
                    t.ok(err is None, f"{name} {variant} e={e} {red} {impl} isa={isa or 'widest'} "
                         f"LSCE_F64ONE={one} grad={grad}: {err}")
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
