"""The float32-precision first pass with a gradient (impls/cpu/simd_f32pass.inc keeps its float32
exps, impls/cpu/simd_kernels.inc grad_impl sweeps them with alpha_rs exp(M - m) folded into the
coefficient; the row's bound takes the pass's exp_rel as the sweep's e_rel, impls/rowbound.h),
measured against the reference by `lsce check` within the declared bounds (float32: 1 ulp loss,
2 ulps gradient normwise; bfloat16 and float16: 1 ulp loss in float32, 1 ulp gradient in the input
dtype) with LSCE_ROW_REFERENCE=0, so no row can be rescued by the reference. Rows of 2048 classes
and more (whole rows take the pass by default; LSCE_F32PASS=all as well), cpu_avx2 and cpu_threads
(2 threads over rows: the kept-exps buffer per thread), on the widest ISA and on AVX2; bfloat16 and
float16 logits (which keep the double pass with a gradient) alongside, at the same bounds. Problems:
ordinary N(0, 1) and N(0, 4) rows, a remainder beyond whole vectors, ties with the maximum in
several lane positions, a pad class, confident rows (escalate), logits offset by 1e4 (the pivot
M = max(m, -mn) differs from m: the factor exp(M - m) in the coefficient), negative logits (M = -mn).
Usage: /usr/bin/python3 tests/test_grad_f32.py path/to/lsce"""
import itertools
import os
import sys

import numpy as np

from lsce_testlib import grad_sweep

LSCE = os.path.abspath(sys.argv[1])


def problems():
    rng = np.random.default_rng(20261129)
    out = {}
    out["normal"] = (rng.normal(size=(4, 2048)), np.array([0, 5, 2047, 1000]))
    out["wide_rem"] = (rng.normal(size=(3, 4099)) * 4, np.array([4098, 17, 2]))
    z = rng.normal(size=(4, 2053))
    for i in range(4):  # the maximum three times, at lane positions that move with the row
        z[i, (i + 3)] = z[i, (7 * i + 40)] = z[i, 2050 - i] = z[i].max() + 0.5
    out["ties"] = (z, np.array([3, 40, 1, 2050]))
    z = rng.normal(size=(3, 2048))
    z[0, 7] += 25  # confident, target at the maximum: the bound refuses, the ladder decides
    z[1, 9] += 12
    out["confident"] = (z, np.array([7, 3, 100]))
    z = rng.normal(size=(2, 3000)) * 0.5
    z[0] += 1e4
    z[1] -= 30  # all negative: the pivot is -mn
    out["offset"] = (z, np.array([1, 2999]))
    return out


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k", "0.1", "mean", None), ("k2-pad-kl", "0.1", "none", 5),
          ("k1-kl", "0.3", "sum", None)]
IMPLS = ["cpu_avx2", "cpu_threads"]


def configs():
    """(impl, extra env, label): both rows on the widest ISA and on AVX2 with whole rows on the
    float32 pass by their default (LSCE_F32PASS=1), cpu_threads on the widest also with every slice
    on it (LSCE_F32PASS=all)"""
    out = []
    for impl, isa, mode in itertools.product(IMPLS, ("", "avx2"), ("1", "all")):
        if mode == "all" and (impl != "cpu_threads" or isa):
            continue
        env = dict(LSCE_F32PASS=mode, **({"LSCE_ISA": isa} if isa else {}))
        out.append((impl, env, f"isa={isa or 'widest'} LSCE_F32PASS={mode}"))
    return out


def bounds(dt):
    """the check's options: 1 ulp loss in float32; gradient 2 ulps in float32, 1 ulp in bfloat16/float16"""
    return ["--loss-dtype", "float32", "--max-ulp", "1", "--max-grad-ulp", "2" if dt == "float32" else "1"]


def main():
    # the 16-bit logits on two problems, the others float32 only
    dtypes = lambda name: ("float32", "bfloat16", "float16") if name in ("normal", "ties") else ("float32",)
    return grad_sweep(LSCE, problems(), dtypes, COMBOS, configs(), bounds,
                      dict(LSCE_ROW_REFERENCE="0", LSCE_THREADS="2"))


if __name__ == "__main__":
    sys.exit(main())
