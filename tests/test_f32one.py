"""The float32 pass's single pass (impls/cpu/simd_f32pass.inc stats_f32_one: exps of the logits
themselves, shift 0, guarded by -80 <= z <= 80, the maximum, jm and n_eq tracked per lane, z summed
in float32 blocks under a bound) against the reference: `lsce run` then `lsce check` within the
declared bounds (1 ulp loss in float32; gradient 2 ulps for float32, 1 ulp in the input dtype for
bfloat16) with LSCE_ROW_REFERENCE=0, so no row is rescued by the reference. Forward and forward+
backward (the kept exps exp32(z_j) with the factor exp(-m) in the coefficient), float32 and bfloat16
logits, cpu_avx2 / cpu_threads / cpu_sharded (3 shards: slices that start inside the row), widest ISA
and AVX2, LSCE_F32PASS 1 and all, LSCE_F32ONE 1 and 0. Rows that take the single pass: N(0, 1), ties
of the maximum within one block, across lanes and in later blocks (the cases f1p_track settles
without a second scan and those it scans again), the maximum in the tail vectors or the remainder,
logits at +-80 exactly, rows of logits close to one offset (the exp's error grows with |k|);
rows that must fall back: one logit just beyond +-80 (two passes), offsets
of 1e4 (two passes), huge gaps (-80 against 80, and -1e30), -inf masks (double pass). (NaN logits
are refused by the command line; the kernels' NaN fallback is fuzzed by tests/fuzz/fuzz_diff.c.)
Usage: /usr/bin/python3 tests/test_f32one.py path/to/lsce"""
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
    out["normal"] = (rng.normal(size=(3, 2048)), np.array([0, 5, 2047]))
    # 2048 + 3 vectors of 16 + 5: blocks of four, blocks of one (AVX-512: 16 lanes) and a remainder
    K = 2048 + 48 + 5
    z = rng.normal(size=(6, K))
    z[0, 17] = z[0, 17 + 64] = 9.0          # tie in one lane, a later block: scanned again
    z[1, 3] = z[1, 3 + 16] = 9.0            # tie in one lane, the same block: the block's scan
    z[2, 100] = z[2, 101] = 9.0             # tie across lanes
    z[3, K - 3] = 9.0                       # maximum in the remainder
    z[4, 2048 + 20] = 9.0                   # maximum in a block of one
    z[5, 2048 + 20] = z[5, K - 1] = 9.0     # tie between a block of one and the remainder
    out["ties"] = (z, np.array([17, 19, 100, K - 3, 0, K - 1]))
    z = np.clip(rng.normal(size=(4, 2052)) * 20, -79.0, 79.0)
    z[0, 10] = 80.0                         # at the guard: single pass
    z[1, 11] = -80.0
    z[2, 12] = 80.0 + 2 ** -17              # just beyond (the next float): two passes
    z[3, 13] = -80.0 - 2 ** -17
    out["guard"] = (z, np.array([10, 0, 12, 2051]))
    z = rng.normal(size=(3, 2080))
    z[0] += 1e4                             # offset: two passes (pivot M)
    z[1, :] = -80.0
    z[1, 7] = 80.0                          # gap of 160 within the guard: confident, escalates
    z[2, 9] = -1e30                         # huge gap: two passes, then the double pass
    out["gaps"] = (z, np.array([3, 7, 9]))
    # the exp's error grows with |k| (one fma with the float ln2: |k| 1.906e-9, the same sign for every
    # class of a row near one offset, so it adds up in S): rows of logits close to one offset c, loss
    # about log K, whose bound is certified or not near the edge as |k| = |c| log2 e grows
    K = 4096 + 16 + 3
    z = np.stack([c + 1e-3 * rng.normal(size=K) for c in (10.0, 15.0, 20.0, 24.0, -15.0, -24.0, 79.0, -79.0)])
    out["offsets"] = (z, np.array([0, 1, 2, 3, 4, 5, 6, K - 1]))
    z = rng.normal(size=(2, 2064))
    z[0, [4, 70, 2063]] = -np.inf           # masked classes: the double pass
    z[1, 0] = -np.inf
    out["masked"] = (z, np.array([5, 1]))
    return out


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k", "0.1", "mean", None), ("k2-pad-kl", "0.1", "none", 5)]
# (impl, LSCE_ISA ("" the widest), LSCE_F32PASS, LSCE_F32ONE, gradient): cpu_sharded's slices start
# inside the row (LSCE_F32PASS=all sends them through the pass); LSCE_F32ONE=0 the two passes, once
CONFIGS = [(impl, isa, "1", "1", grad) for impl in ("cpu_avx2", "cpu_threads") for isa in ("", "avx2")
           for grad in (False, True) if not (impl == "cpu_threads" and isa)] + \
          [("cpu_threads", "", "all", "1", False), ("cpu_threads", "", "all", "1", True),
           ("cpu_sharded", "", "all", "1", False), ("cpu_sharded", "avx2", "all", "1", False),
           ("cpu_threads", "", "1", "0", False)]


def run_and_check(d, prob, dt, impl, isa, mode, one, grad):
    """None when lsce run's outputs pass lsce check within the declared bounds, else the failure"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS="2", LSCE_SHARDS="3", LSCE_F32PASS=mode,
               LSCE_F32ONE=one, LSCE_TAB16="0")  # bfloat16 rows through the float32 pass (tab16 tests the table's)
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    gargs = ["--max-grad-ulp", "2" if dt == "float32" else "1"] if grad else []
    return run_then_check(LSCE, d, impl, prob, env, grad, ["--loss-dtype", "float32", "--max-ulp", "1"] + gargs)


def main():
    t = Tally()
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems().items():
            for dt, (variant, e, red, pad) in itertools.product(("float32", "bfloat16"), COMBOS):
                if dt == "bfloat16" and name in ("guard", "gaps"):
                    continue  # bfloat16 rounds the guard's neighbours onto it
                lg, tg = save_problem(d, name, dt, z, y)
                prob = problem_args(lg, tg, variant, e, red, pad)
                for impl, isa, mode, one, grad in CONFIGS:
                    err = run_and_check(d, prob, dt, impl, isa, mode, one, grad)
                    t.ok(err is None, f"{name} {dt} {variant} e={e} {red} {impl} isa={isa or 'widest'} "
                         f"LSCE_F32PASS={mode} LSCE_F32ONE={one} grad={grad}: {err}")
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
