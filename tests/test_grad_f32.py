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
import subprocess
import sys
import tempfile

import numpy as np

from test_grad_f64 import save_problem  # the logits in a dtype (bfloat16 rounded to nearest even)

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


def run_and_check(d, prob, dt, impl, isa, mode):
    """None when lsce run's outputs pass lsce check within the declared bounds, else the failure"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_THREADS="2", LSCE_F32PASS=mode)
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
    r = subprocess.run([LSCE, "run", "--impl", impl] + prob + ["--out", o, "--grad-out", g],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return f"run exit {r.returncode}: {r.stderr.strip()}"
    mg = "2" if dt == "float32" else "1"
    c = subprocess.run([LSCE, "check"] + prob + ["--loss-file", o, "--grad", g, "--loss-dtype", "float32",
                                                  "--max-ulp", "1", "--max-grad-ulp", mg],
                       env=env, capture_output=True, text=True, timeout=300)
    return None if c.returncode == 0 else f"check exit {c.returncode}: {c.stdout.strip()} {c.stderr.strip()}"


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems().items():
            dts = ("float32", "bfloat16", "float16") if name in ("normal", "ties") else ("float32",)
            for dt, (variant, e, red, pad) in itertools.product(dts, COMBOS):
                if dt == "float16" and name == "offset":
                    continue
                lg, tg = save_problem(d, name, dt, z, y)
                prob = ["--logits", lg, "--targets", tg, "--variant", variant, "--smoothing", e,
                        "--reduction", red] + (["--pad-index", str(pad)] if pad is not None else [])
                for impl, isa, mode in itertools.product(IMPLS, ("", "avx2"), ("1", "all")):
                    if mode == "all" and (impl != "cpu_threads" or isa):
                        continue
                    err = run_and_check(d, prob, dt, impl, isa, mode)
                    if err is None:
                        passed += 1
                    else:
                        failed += 1
                        print(f"FAIL {name} {dt} {variant} e={e} {red} {impl} isa={isa or 'widest'} "
                              f"LSCE_F32PASS={mode}: {err}")
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
