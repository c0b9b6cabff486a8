"""report/lsce_report/data.py: data loading: the JSON files, their SHA-256 list, and running lsce
to produce the catalog, compare and check files (split out of report/make_report.py; the same
code)."""
import json
import math
import os
import subprocess
import tempfile

import numpy as np
from golden import sha256_file  # noqa: E402  (fixtures/golden.py, on the path make_report.py sets)
from .constants import BIG, CHECKS, ROOT, SEED_DIR, SEED_PAD, SEED_SMOOTHINGS  # noqa: E402
from .fmt import num, rel  # noqa: E402


def load_json(path):
    def bad_constant(c):
        raise ValueError("non-standard JSON constant %s" % c)
    with open(path) as f:
        return json.load(f, parse_constant=bad_constant)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, indent=1, sort_keys=False, allow_nan=False) + "\n")
    os.replace(tmp, path)


def no_data(cmd, note=None):
    return "No data yet: run `%s`%s." % (cmd, " (%s)" % note if note else "")


class Sources:
    """The data files the report read, in the order it read them (listed in section 5)."""

    def __init__(self):
        self.files = []

    def add(self, path):
        r = rel(path)
        if r not in [f for f, _ in self.files]:
            self.files.append((r, sha256_file(path)))
        return r


# ==================================================================================================
# running lsce
# ==================================================================================================
def run(cmd, ok=(0,)):
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in ok:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def lsce_context(lsce):
    """commit, machine, compiler of the binary, from `lsce verify` on an empty manifest (the date
    is dropped so that the saved files do not change from run to run)."""
    with tempfile.TemporaryDirectory(prefix="lsce-report-") as d:
        with open(os.path.join(d, "manifest.json"), "w") as f:
            f.write('{"cases": []}\n')
        out = os.path.join(d, "ctx.json")
        run([lsce, "verify", "--impl", "cpu_twopass", "--fixtures", d, "--json", out])
        ctx = load_json(out).get("context", {})
    return {k: ctx[k] for k in ("commit", "machine", "compiler") if k in ctx}


def display_cmd(argv, lsce_disp):
    return " ".join([lsce_disp] + argv[1:])


def produce(lsce, data):
    """Runs lsce and writes variants.json, impls.json, compare-seed.json, compare-k32000.json,
    check-article.json into data. Returns nothing; the report then reads those files."""
    lsce_disp = rel(lsce)
    ctx = lsce_context(lsce)
    write_json(os.path.join(data, "variants.json"), {
        "command": lsce_disp + " variants --json", "lsce": ctx,
        "variants": json.loads(run([lsce, "variants", "--json"]).stdout)})
    write_json(os.path.join(data, "impls.json"), {
        "command": lsce_disp + " impls --json", "lsce": ctx,
        "impls": json.loads(run([lsce, "impls", "--json"]).stdout)})

    seed = ["--logits", SEED_DIR + "/logits.npy", "--targets", SEED_DIR + "/targets.npy"]
    runs = []
    for e in SEED_SMOOTHINGS:
        argv = [lsce, "compare"] + seed + ["--weights", SEED_DIR + "/weights.npy", "--pad-index",
                                           str(SEED_PAD), "--smoothing", e, "--json"]
        p = run(argv, ok=(0, 1))
        runs.append({"smoothing": e, "command": display_cmd(argv, lsce_disp),
                     "exit": p.returncode, "compare": json.loads(p.stdout)})
    inputs = {}
    for name in ("logits", "targets", "weights"):
        path = os.path.join(ROOT, SEED_DIR, name + ".npy")
        inputs[name] = {"path": SEED_DIR + "/" + name + ".npy", "sha256": sha256_file(path)}
    write_json(os.path.join(data, "compare-seed.json"), {
        "description": "lsce compare --json on the seed example (the article's 3x5 input) with "
                       "its weights and pad index %d, at each smoothing" % SEED_PAD,
        "lsce": ctx, "inputs": inputs, "pad_index": SEED_PAD, "runs": runs})

    # The realistic case, generated the same way every time.
    with tempfile.TemporaryDirectory(prefix="lsce-report-") as d:
        rs = np.random.RandomState(BIG["seed"])
        n, k = BIG["n"], BIG["k"]
        logits = rs.standard_normal((n, k)).astype(np.float32)
        targets = rs.randint(0, k, size=n).astype(np.int64)
        weights = rs.uniform(BIG["weights_low"], BIG["weights_high"], size=k).astype(np.float32)
        targets[targets == BIG["pad_index"]] = 1  # keep every row valid for k2-pad-kl
        files = {}
        for name, arr in (("logits", logits), ("targets", targets), ("weights", weights)):
            path = os.path.join(d, name + ".npy")
            np.save(path, arr)
            files[name] = path
        argv = [lsce, "compare", "--logits", files["logits"], "--targets", files["targets"],
                "--weights", files["weights"], "--pad-index", str(BIG["pad_index"]),
                "--smoothing", BIG["smoothing"], "--json"]
        p = run(argv, ok=(0, 1))
        cmp_ = json.loads(p.stdout)
        inputs = {name: {"file": name + ".npy", "sha256": sha256_file(path)}
                  for name, path in files.items()}
        disp = display_cmd([a if a not in files.values() else os.path.basename(a) for a in argv],
                           lsce_disp)
    y0 = int(targets[0])
    for v in cmp_["variants"]:
        opt = v.pop("optimum", None)
        if opt is not None:
            off = [num(x) for i, x in enumerate(opt) if i != y0]
            v["optimum_summary"] = {"target": opt[y0], "off_min": min(off), "off_max": max(off),
                                    "sum": math.fsum(num(x) for x in opt)}
        else:
            v["optimum_summary"] = None
    write_json(os.path.join(data, "compare-k32000.json"), {
        "description": "lsce compare --json on a generated %dx%d float32 case" % (n, k),
        "generator": {"numpy": "RandomState(%d): logits standard_normal((N, K)) as float32, "
                               "targets randint(0, K, N) as int64 (a target equal to the pad index "
                               "becomes 1), weights uniform(%g, %g, K) as float32, drawn in that "
                               "order" % (BIG["seed"], BIG["weights_low"], BIG["weights_high"]),
                      "n": n, "k": k, "seed": BIG["seed"], "numpy_version": np.__version__},
        "inputs": inputs, "lsce": ctx, "smoothing": BIG["smoothing"],
        "pad_index": BIG["pad_index"], "first_target": y0, "command": disp, "exit": p.returncode,
        "note": "each variant's optimum (K numbers) is summarised as optimum_summary: p* of the "
                "first row's target, the smallest and largest p* of the other classes, their sum",
        "compare": cmp_})

    checks = []
    for variant, e, loss in CHECKS:
        argv = [lsce, "check"] + seed + ["--variant", variant, "--smoothing", e, "--loss", loss]
        p = run(argv, ok=(0, 1))
        checks.append({"variant": variant, "smoothing": e, "loss": loss,
                       "command": display_cmd(argv, lsce_disp), "exit": p.returncode,
                       "stdout": p.stdout.splitlines()})
    write_json(os.path.join(data, "check-article.json"), {
        "description": "lsce check on the values the article printed", "lsce": ctx,
        "checks": checks})
