"""The SIMD rows' float64 gradient sweep (impls/cpu/simd_kernels.inc grad_f64: vd_exp2x and
compensated double arithmetic, its error added to the row's bound in impls/cpu/rowguard.c) and their
vector bfloat16 / float16 gradient stores (simd_round16.h), measured against the reference by
`lsce check` within the declared bounds (float64: 2 ulp loss, 4 ulp gradient; bfloat16 and float16:
1 ulp gradient in the input dtype) with LSCE_ROW_REFERENCE=0, so no row can be rescued by the
reference: every row must meet its bound through the sweep itself or the ladder's double-double
rungs. cpu_avx2, cpu_threads and cpu_sharded (LSCE_SHARDS=3: slices whose vector parts and
remainders differ), on the widest ISA and on AVX2. Problems: targets, ties with the maximum and the
pad class in every lane position, a remainder beyond whole vectors, confident rows (the target's and
the maximum's entries cancel), exps that underflow, and rows the sweep must leave to the scalar
kernel (a masked class, logits more than 2^1000 apart).
Usage: /usr/bin/python3 tests/test_grad_f64.py path/to/lsce"""
import itertools
import os
import sys

import numpy as np

from lsce_testlib import grad_sweep

LSCE = os.path.abspath(sys.argv[1])


def problems():
    rng = np.random.default_rng(20261129)
    out = {}
    z = rng.normal(size=(6, 1000)) * 4
    out["random"] = (z, rng.integers(0, 1000, 6))
    n, k = 16, 37
    z = rng.normal(size=(n, k)) * 2
    for i in range(n):  # the maximum twice, at lane positions that move with the row
        z[i, (i + 3) % k] = z[i, (2 * i + 9) % k] = z[i].max() + 1
    out["lanes"] = (z, np.arange(n) % k)
    z = rng.normal(size=(4, 300))
    z[0, 7] += 40  # confident, target at the maximum
    z[1, 7] += 40  # confident, target elsewhere
    z[2, 100] += 30
    z[2, 101] += 30 - 1e-12  # two near-equal large logits
    z[3] *= 1e-9  # nearly uniform
    out["confident"] = (z, np.array([7, 3, 100, 5]))
    z = -np.linspace(0, 800, 200)[None, :].repeat(3, 0) + rng.normal(size=(3, 200)) * 1e-3
    out["underflow"] = (z, np.array([0, 150, 199]))
    z = rng.normal(size=(4, 64))
    z[0, 9] = -np.inf
    z[1, 20] = -1e305
    z[3] += 1e4
    out["scalar_rows"] = (z, np.array([1, 2, 3, 4]))
    return out


# (variant, smoothing, reduction, pad index)
COMBOS = [("k", "0.1", "none", None), ("k1", "1", "mean", None), ("k2-pad-kl", "0.1", "none", 5),
          ("k1-kl", "0.3", "sum", None)]
IMPLS = ["cpu_avx2", "cpu_threads", "cpu_sharded"]


def configs():
    """(impl, extra env, label): every row on the widest ISA and on AVX2"""
    return [(impl, {"LSCE_ISA": isa} if isa else {}, f"isa={isa or 'widest'}")
            for impl, isa in itertools.product(IMPLS, ("", "avx2"))]


def bounds(dt):
    """the check's options: float64 2 ulp loss, 4 ulp gradient; 16-bit 1 ulp loss (in float32), 1 ulp gradient"""
    if dt == "float64":
        return ["--max-ulp", "2", "--max-grad-ulp", "4"]
    return ["--loss-dtype", "float32", "--max-ulp", "1", "--max-grad-ulp", "1"]


def main():
    # the 16-bit stores: two problems are enough here (tests/test_round16.c is exhaustive)
    dtypes = lambda name: ("float64", "float16", "bfloat16") if name in ("random", "lanes") else ("float64",)
    return grad_sweep(LSCE, problems(), dtypes, COMBOS, configs(), bounds,
                      dict(LSCE_ROW_REFERENCE="0", LSCE_SHARDS="3", LSCE_THREADS="2"))


if __name__ == "__main__":
    sys.exit(main())
