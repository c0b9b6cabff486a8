"""The SIMD rows keep each row's exps from the statistics sweep for the gradient sweep
(impls/cpu/driver.c); LSCE_KEEP=0 recomputes them. The two must give the same bytes: for cpu_avx2
and cpu_threads, on the widest ISA and on AVX2, over committed fixtures of every logits dtype, with
and without weights, reductions mean and none, loss and gradient files compared byte for byte.
Usage: /usr/bin/python3 tests/test_keep_exps.py path/to/lsce path/to/fixtures/data"""
import filecmp
import os
import subprocess
import sys
import tempfile

from lsce_testlib import Tally

LSCE, DATA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
CASES = ["wide_32x1000", "scale_10", "dtype_bf16", "dtype_f16", "weights_uneven", "offset_1e4_f32",
         "bf16_confident", "masked_ninf", "equal_rows"]


def run(d, tag, case, impl, variant, red, env):
    base = os.path.join(DATA, case)
    out, gout = os.path.join(d, tag + ".npy"), os.path.join(d, tag + "-g.npy")
    args = [LSCE, "run", "--impl", impl, "--logits", base + "/logits.npy", "--targets",
            base + "/targets.npy", "--variant", variant, "--smoothing", "0.1", "--reduction", red,
            "--out", out, "--grad-out", gout]
    if "weighted" in variant:
        args += ["--weights", base + "/weights.npy"]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr.strip(), out, gout


def main():
    t = Tally()
    with tempfile.TemporaryDirectory() as d:
        for case in CASES:
            weighted = os.path.exists(os.path.join(DATA, case, "weights.npy"))
            for variant in (["k", "k1-kl"] + (["k-torch-weighted"] if weighted else [])):
                for red in ("mean", "none"):
                    for impl in ("cpu_avx2", "cpu_threads"):
                        for isa in ("", "avx2"):
                            env = dict(os.environ)
                            env.pop("LSCE_KEEP", None)
                            if isa:
                                env["LSCE_ISA"] = isa
                            a = run(d, "keep", case, impl, variant, red, env)
                            b = run(d, "recompute", case, impl, variant, red, dict(env, LSCE_KEEP="0"))
                            what = f"{case} {variant} {red} {impl} isa={isa or 'widest'}"
                            if t.ok(a[0] == 0 and b[0] == 0, f"{what}: exit {a[0]}/{b[0]}: {a[1]} {b[1]}"):
                                t.ok(filecmp.cmp(a[2], b[2], shallow=False) and filecmp.cmp(a[3], b[3], shallow=False),
                                     f"{what}: outputs differ")
    return t.summary()


if __name__ == "__main__":
    sys.exit(main())
