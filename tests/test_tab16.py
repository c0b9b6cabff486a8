"""The 16-bit table pass (impls/cpu/simd_tab16.inc, stats_one in simd_f32pass.inc with a table: each
exp looked up in a double table of glibc's exp of every bfloat16 / float16 value, summed in double,
one read of the row, guarded by |z| <= 640 through NaN entries) against the reference: `lsce run`
then `lsce check` within the declared bounds (1 ulp loss in float32; gradient 1 ulp in the input
dtype) with LSCE_ROW_REFERENCE=0, so no row is rescued by the reference. bfloat16 and float16
logits, forward and forward+backward (the kept double exps exp(z_j), the factor exp(-m) in the
coefficient), cpu_avx2 / cpu_threads / cpu_sharded (3 shards: slices that start inside the row,
LSCE_F32PASS=all), widest ISA and AVX2, and once with LSCE_TAB16=0 (float16 rows with LSCE_TAB16=2,
which float16 needs to take the table). Rows that take the table pass:
N(0, 1), rows like a trained model's (1.5 z + 10 at the target: loss about 2-3, which the float32
pass cannot certify), ties of the maximum (one lane, across lanes, the remainder), the maximum in
the remainder, a pad class, logits at +-640 exactly (the guard's edge; the rows are confident and
may climb the ladder); rows that must fall back: a logit just beyond 640 in size (the next 16-bit
value), a row of values near 1000 (float16 only), -inf masks. (NaN logits are refused by the
command line.)
Usage: /usr/bin/python3 tests/test_tab16.py path/to/lsce"""
import itertools
import os
import sys
import tempfile

import numpy as np

from lsce_testlib import Tally, problem_args, run_then_check, save_problem  # shared with the other row tests

LSCE = os.path.abspath(sys.argv[1])


def problems():
    rng = np.random.default_rng(20261201)
    out = {}
    K = 2048 + 48 + 5  # blocks of four vectors, blocks of one and a remainder (AVX-512: 16 lanes)
    out["normal"] = (rng.normal(size=(3, K)), np.array([0, 5, K - 1]))
    y = np.array([3, 700, 2000, K - 2])
    z = 1.5 * rng.normal(size=(4, K))
    z[np.arange(4), y] += 10.0              # like a trained model's rows
    out["trained"] = (z, y)
    z = rng.normal(size=(5, K))
    z[0, 17] = z[0, 17 + 64] = 9.0          # tie in one lane, a later block
    z[1, 100] = z[1, 101] = 9.0             # tie across lanes
    z[2, K - 3] = 9.0                       # maximum in the remainder
    z[3, 2048 + 20] = z[3, K - 1] = 9.0     # tie between a block of one and the remainder
    z[4, :] = 0.5                           # every class ties
    out["ties"] = (z, np.array([17, 19, K - 3, 0, 7]))
    z = rng.normal(size=(4, 600))
    z[0, 10] = 640.0                        # at the guard's edge: the table pass (confident row)
    z[1, 11] = -640.0
    z[2, :] += 630.0                        # all near the edge, spread small: the table pass
    z[3, 12] = -630.0
    out["edge"] = (z, np.array([10, 0, 5, 12]))
    z = rng.normal(size=(2, 600))
    z[0, 13] = 648.0                        # beyond the guard in both dtypes: declined
    z[1, 14] = -648.0
    out["beyond"] = (z, np.array([13, 1]))
    z = rng.normal(size=(2, 2064))
    z[0, [4, 70, 2063]] = -np.inf           # masked classes: the double pass
    z[1, 0] = -np.inf
    out["masked"] = (z, np.array([5, 1]))
    return out


def f16_only():
    z = np.random.default_rng(7).normal(size=(2, 600))
    z[0, :] += 1000.0                       # beyond 640, float16 only (bfloat16 would be far coarser)
    z[1, 20] = 640.5                        # float16's next value beyond the edge
    return z, np.array([1, 20])


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k", "0.1", "mean", None), ("k2-pad-kl", "0.1", "none", 5)]
# (impl, LSCE_ISA ("" the widest), LSCE_F32PASS, LSCE_TAB16, gradient)
CONFIGS = [(impl, isa, "1", "1", grad) for impl in ("cpu_avx2", "cpu_threads") for isa in ("", "avx2")
           for grad in (False, True) if not (impl == "cpu_threads" and isa)] + \
          [("cpu_sharded", "", "all", "1", False), ("cpu_sharded", "avx2", "all", "1", True),
           ("cpu_threads", "", "1", "0", False)]


def main():
    t = Tally()
    probs = problems()
    with tempfile.TemporaryDirectory() as d:
        for dt in ("bfloat16", "float16"):
            items = list(probs.items()) + ([("f16beyond", f16_only())] if dt == "float16" else [])
            for (name, (z, y)), (variant, e, red, pad) in itertools.product(items, COMBOS):
                lg, tg = save_problem(d, name, dt, z, y)
                prob = problem_args(lg, tg, variant, e, red, pad)
                for impl, isa, mode, tab, grad in CONFIGS:
                    # float16 takes the table only with LSCE_TAB16=2 (off by default: slower there)
                    tab = "2" if dt == "float16" and tab == "1" else tab
                    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS="2", LSCE_SHARDS="3",
                               LSCE_F32PASS=mode, LSCE_TAB16=tab)
                    env.pop("LSCE_ISA", None)
                    if isa:
                        env["LSCE_ISA"] = isa
                    gargs = ["--max-grad-ulp", "1"] if grad else []
                    err = run_then_check(LSCE, d, impl, prob, env, grad,
                                         ["--loss-dtype", "float32", "--max-ulp", "1"] + gargs)
                    t.ok(err is None, f"{name} {dt} {variant} e={e} {red} {impl} isa={isa or 'widest'} "
                         f"LSCE_F32PASS={mode} LSCE_TAB16={tab} grad={grad}: {err}")
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
