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
import subprocess
import sys
import tempfile

import numpy as np

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


def save_problem(d, name, dt, z, y):
    """the logits in dtype dt (bfloat16 as uint16: float32's top half, rounded to nearest even)"""
    lg, tg = os.path.join(d, f"{name}-{dt}.npy"), os.path.join(d, f"{name}-t.npy")
    if dt == "bfloat16":
        u = z.astype(np.float32).view(np.uint32).astype(np.uint64)
        np.save(lg, ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16))
    else:
        np.save(lg, z.astype(dt))
    np.save(tg, y.astype(np.int64))
    return lg, tg


def problem_args(lg, tg, variant, e, red, pad):
    """lsce's problem options: logits, targets, variant, smoothing, reduction, the pad class if any"""
    return ["--logits", lg, "--targets", tg, "--variant", variant, "--smoothing", e,
            "--reduction", red] + (["--pad-index", str(pad)] if pad is not None else [])


def run_then_check(lsce, d, impl, prob, env, grad, check_args):
    """None when `lsce run` (with --grad-out when grad) then `lsce check` with check_args pass, else why"""
    o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
    r = subprocess.run([lsce, "run", "--impl", impl] + prob + ["--out", o] + (["--grad-out", g] if grad else []),
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return f"run exit {r.returncode}: {r.stderr.strip()}"
    c = subprocess.run([lsce, "check"] + prob + ["--loss-file", o] + (["--grad", g] if grad else []) + check_args,
                       env=env, capture_output=True, text=True, timeout=300)
    return None if c.returncode == 0 else f"check exit {c.returncode}: {c.stdout.strip()} {c.stderr.strip()}"


def run_and_check(d, prob, dt, impl, isa):
    """None when lsce run's outputs pass lsce check within the declared bounds, else the failure"""
    env = dict(os.environ, LSCE_ROW_REFERENCE="0", LSCE_SHARDS="3", LSCE_THREADS="2")
    env.pop("LSCE_ISA", None)
    if isa:
        env["LSCE_ISA"] = isa
    o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
    r = subprocess.run([LSCE, "run", "--impl", impl] + prob + ["--out", o, "--grad-out", g],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return f"run exit {r.returncode}: {r.stderr.strip()}"
    mu, mg = ("2", "4") if dt == "float64" else ("1", "1")
    dts = ["--loss-dtype", "float32"] if dt != "float64" else []
    c = subprocess.run([LSCE, "check"] + prob + ["--loss-file", o, "--grad", g] + dts + ["--max-ulp", mu, "--max-grad-ulp", mg],
                       env=env, capture_output=True, text=True, timeout=300)
    return None if c.returncode == 0 else f"check exit {c.returncode}: {c.stdout.strip()} {c.stderr.strip()}"


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems().items():
            # the 16-bit stores: two problems are enough here (tests/test_round16.c is exhaustive)
            dts = ("float64", "float16", "bfloat16") if name in ("random", "lanes") else ("float64",)
            for dt, (variant, e, red, pad) in itertools.product(dts, COMBOS):
                lg, tg = save_problem(d, name, dt, z, y)
                prob = ["--logits", lg, "--targets", tg, "--variant", variant, "--smoothing", e,
                        "--reduction", red] + (["--pad-index", str(pad)] if pad is not None else [])
                for impl, isa in itertools.product(IMPLS, ("", "avx2")):
                    err = run_and_check(d, prob, dt, impl, isa)
                    if err is None:
                        passed += 1
                    else:
                        failed += 1
                        print(f"FAIL {name} {dt} {variant} e={e} {red} {impl} isa={isa or 'widest'}: {err}")
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
