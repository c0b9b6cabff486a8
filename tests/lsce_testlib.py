"""tests/lsce_testlib.py: what the Python tests share: running lsce, a check() that records into a
Tally (tests/test_oracle.py), the variant catalog as `lsce variants --json` prints it
(include/lsce/variants.inc), so no test keeps its own list of variants, running lsce-mpi under
mpirun and reading its `batch` output, and the gradient sweep of tests/test_grad_f32.py and
tests/test_grad_f64.py (problem by dtype by combo by implementation, each checked by `lsce check`)."""
import itertools
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_oracle import Tally  # noqa: E402,F401  (re-exported)

# Open MPI as root, shared memory only, ranks oversubscribed and yielding on the 2-core machine
MPI_ENV = dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_mpi_yield_when_idle="1",
               OMP_NUM_THREADS="1")


def runner(lsce, timeout=300):
    """lsce(args) -> the CompletedProcess of `lsce ARGS` (text, output captured)."""
    def run(args):
        return subprocess.run([lsce] + list(args), capture_output=True, text=True, timeout=timeout)
    return run


def checker(tally):
    """check(name, cond, detail="") recording into tally."""
    def check(name, cond, detail=""):
        tally.ok(cond, f"{name}: {detail}")
    return check


def catalog(lsce):
    """The catalog in catalog order: a list of the rows of `lsce variants --json`."""
    return json.loads(subprocess.run([lsce, "variants", "--json"], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)


def mpi_runner(mpirun, lsce_mpi, timeout=300):
    """mpi(P, args, quiet=False, extra_env=None) -> the CompletedProcess of
    `mpirun [-q] --oversubscribe -np P lsce-mpi ARGS` under MPI_ENV (plus extra_env)."""
    def mpi(P, args, quiet=False, extra_env=None):
        cmd = [mpirun] + (["-q"] if quiet else []) + ["--oversubscribe", "-np", str(P), lsce_mpi] + list(args)
        env = dict(os.environ, **MPI_ENV, **(extra_env or {}))
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    return mpi


def parse_batch(stdout):
    """`lsce-mpi batch`'s stdout -> [(exit code, the command's stdout)], one per command: each
    command's output is followed by a line `== rc=N`."""
    parts = stdout.split("== rc=")
    got, text = [], parts[0]
    for p in parts[1:]:
        rc, _, rest = p.partition("\n")
        got.append((int(rc), text))
        text = rest
    return got


def save_problem(d, name, dt, z, y):
    """the logits in dtype dt (bfloat16 as uint16: float32's top half, rounded to nearest even)"""
    import numpy as np
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
    """None when `lsce run` (with --grad-out when grad) then `lsce check CHECK_ARGS` pass, else why"""
    o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
    r = subprocess.run([lsce, "run", "--impl", impl] + prob + ["--out", o] + (["--grad-out", g] if grad else []),
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return f"run exit {r.returncode}: {r.stderr.strip()}"
    c = subprocess.run([lsce, "check"] + prob + ["--loss-file", o] + (["--grad", g] if grad else []) + check_args,
                       env=env, capture_output=True, text=True, timeout=300)
    return None if c.returncode == 0 else f"check exit {c.returncode}: {c.stdout.strip()} {c.stderr.strip()}"


def grad_sweep(lsce, problems, dtypes, combos, configs, bounds, base_env):
    """Every problem (name -> (logits, targets)) in every dtype of dtypes(name), with every combo
    (variant, smoothing, reduction, pad index or None), run by every config (impl, extra env, label):
    `lsce run --out --grad-out` under os.environ + base_env + extra env (LSCE_ISA unset unless the
    config sets it), then `lsce check` with bounds(dt) (the check's options). Prints each failure
    and the tally; returns the exit code (1 on any failure or nothing passed)."""
    t = Tally()
    with tempfile.TemporaryDirectory() as d:
        for name, (z, y) in problems.items():
            for dt, (variant, e, red, pad) in itertools.product(dtypes(name), combos):
                lg, tg = save_problem(d, name, dt, z, y)
                prob = problem_args(lg, tg, variant, e, red, pad)
                for impl, extra, label in configs:
                    env = dict(os.environ, **base_env)
                    env.pop("LSCE_ISA", None)
                    env.update(extra)
                    err = run_then_check(lsce, d, impl, prob, env, True, bounds(dt))
                    t.ok(err is None, f"{name} {dt} {variant} e={e} {red} {impl} {label}: {err}")
    return t.summary()
