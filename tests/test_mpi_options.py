"""tests/test_mpi_options.py: issue #15's options under lsce-mpi (suite mpi).

usage: test_mpi_options.py LSCE LSCE_MPI MPIRUN OPTIONS_FIXTURES_DIR WORKDIR

1. The collective reference: every case of fixtures/options, every variant and reduction its
   manifest lists (smoothings rotating), with its options and sample weights, --out and --grad-out
   (mean and none), plus one mean or sum per case started at 16 bits (the merged total's precision
   raised on rank 0), plus per case `check` with a right and a wrong claimed mean: the output
   lines, exit codes and output bytes of `mpirun -np P lsce-mpi` equal those of `lsce`, P = 1, 2, 3
   (one lsce-mpi batch per P).
2. `lsce-mpi verify --fixtures fixtures/options --impl mpi_vocab_parallel` at P = 2 and 3 (K = 6
   or 7 split with remainders): the row runs every options case (none skipped) and passes within
   its declared bounds; also with LSCE_ROW_REFERENCE=0 (no row taken from the reference).
The references are `lsce`'s own outputs, never constants."""
import json
import os
import subprocess
import sys

from lsce_testlib import mpi_runner, parse_batch

lsce, lsce_mpi, mpirun, fixtures, work = sys.argv[1:6]
# the variants that read --weights (needed or optional), from `lsce variants --json`
VARS = json.loads(subprocess.run([lsce, "variants", "--json"], capture_output=True, text=True).stdout)
TAKES_W = {d["id"] for d in VARS if d["needs_weights"] or d["weights_optional"]}
os.makedirs(work, exist_ok=True)
fails = []
mpi = mpi_runner(mpirun, lsce_mpi, timeout=600)


def problem_args(c, v, red, e):
    f = c["files"]
    p = lambda k: os.path.join(fixtures, f[k]["path"])
    a = ["--logits", p("logits"), "--targets", p("targets")]
    if f.get("weights") and v in TAKES_W:
        a += ["--weights", p("weights")]
    if f.get("sample_weights"):
        a += ["--sample-weights", p("sample_weights")]
    a += ["--variant", v, "--smoothing", e, "--reduction", red] + list(c.get("options") or [])
    if not c["case"].startswith("opt_soft"):  # soft (N, K) targets take no --ignore-index
        a += ["--ignore-index", str(c["ignore_index"])]
    return a


def commands():
    man = json.load(open(os.path.join(fixtures, "manifest.json")))
    cmds = []
    for c in man["cases"]:
        k = 0
        for v in c["variants"]:
            for red in c["reductions"]:
                e = c["smoothings"][k % len(c["smoothings"])]
                k += 1
                cmds.append((c["case"], problem_args(c, v, red, e), red != "sum"))
        red = "mean" if len(cmds) % 2 or "sum" not in c["reductions"] else "sum"
        cmds.append((c["case"], problem_args(c, c["variants"][-1], red, c["smoothings"][-1]) + ["--precision", "16"],
                     False))
        # check (the collective reference under its metric): a right claim and a wrong one
        for wrong in (0, 1):
            cmds.append((c["case"], problem_args(c, c["variants"][0], "mean", c["smoothings"][-1]), "check%d" % wrong))
    return cmds


def claim(cmd):
    """check's --loss: the single-process reference's own mean (check1: moved by 1 %)"""
    r = subprocess.run([lsce, "reference"] + cmd[1], capture_output=True, text=True)
    v = r.stdout.strip() or "0"
    if cmd[2] == "check1":
        v = repr(float(v) * 1.01 + 0.01) if v not in ("nan", "inf") else "1.5"
    return v


def outs(tag, n, grad):
    o = [os.path.join(work, tag, "%d_out.npy" % n)]
    return o + ([os.path.join(work, tag, "%d_grad.npy" % n)] if grad else [])


def line(cmd, tag, n):
    if isinstance(cmd[2], str):
        return ["check"] + cmd[1] + ["--loss", claims[n]]
    o = outs(tag, n, cmd[2])
    return ["reference"] + cmd[1] + ["--out", o[0]] + (["--grad-out", o[1]] if cmd[2] else [])


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


# ---- 1. the collective reference, bit for bit ---------------------------------------------------
cmds = commands()
claims = {n: claim(c) for n, c in enumerate(cmds) if isinstance(c[2], str)}
os.makedirs(os.path.join(work, "single"), exist_ok=True)
single = []
for n, c in enumerate(cmds):
    r = subprocess.run([lsce] + line(c, "single", n), capture_output=True, text=True)
    single.append((r.returncode, r.stdout))
nz = sum(1 for c, s in zip(cmds, single) if s[0] != 0 and not isinstance(c[2], str))
print("single-process: %d commands (%d exit non-zero)" % (len(cmds), nz))
if nz * 2 > len(cmds):
    fails.append("most single-process commands failed: the test would compare errors only")
for P in (1, 2, 3):
    tag = "p%d" % P
    os.makedirs(os.path.join(work, tag), exist_ok=True)
    batch = os.path.join(work, tag + ".batch")
    with open(batch, "w") as f:
        for n, c in enumerate(cmds):
            f.write(" ".join(line(c, tag, n)) + "\n")
    r = mpi(P, ["batch", batch])
    got = parse_batch(r.stdout)
    if r.returncode != 0 or len(got) != len(cmds):
        fails.append("P=%d: batch rc %d, %d of %d results: %s" % (P, r.returncode, len(got), len(cmds), r.stderr[-2000:]))
        continue
    bad = 0
    for n, c in enumerate(cmds):
        ok = got[n] == single[n]
        if ok and single[n][0] == 0 and not isinstance(c[2], str):
            ok = all(read(a) is not None and read(a) == read(b) for a, b in zip(outs("single", n, c[2]), outs(tag, n, c[2])))
        if not ok:
            bad += 1
            if bad <= 5:
                fails.append("P=%d %s %s: mpi %r, single %r" % (P, c[0], " ".join(c[1][4:]), got[n], single[n]))
    print("P=%d: %d commands, %d differ" % (P, len(cmds), bad))

# ---- 2. the vocabulary-parallel row on the options fixtures -------------------------------------
def key(x):
    return (x["case"], x["variant"], x["smoothing"], x["reduction"])


js = os.path.join(work, "verify_cpu.json")
subprocess.run([lsce, "verify", "--fixtures", fixtures, "--impl", "cpu_twopass", "--json", js], capture_output=True)
want = {key(x) for x in json.load(open(js))["results"]}
for P, extra in ((2, None), (3, None), (3, {"LSCE_ROW_REFERENCE": "0"})):
    js = os.path.join(work, "verify_p%d%s.json" % (P, "_noref" if extra else ""))
    r = mpi(P, ["verify", "--fixtures", fixtures, "--impl", "mpi_vocab_parallel", "--json", js], extra_env=extra)
    tail = [l for l in r.stdout.splitlines() if l.startswith("mpi_vocab_parallel")]
    what = "verify mpi_vocab_parallel P=%d%s" % (P, " LSCE_ROW_REFERENCE=0" if extra else "")
    try:
        res = json.load(open(js))["results"]
    except (OSError, ValueError, KeyError):
        fails.append("%s: no JSON report: rc %d\n%s%s" % (what, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        continue
    if {key(x) for x in res} != want or len(res) != len(want):
        fails.append("%s: ran %d results, cpu_twopass %d (a case skipped or refused)" % (what, len(res), len(want)))
    own = [x for x in res if x["reference_rows"] == 0 and x["flagged_rows"] == 0]
    if not extra:
        # the declared bounds everywhere; and the row computes the narrow dtypes itself (float64
        # inputs take the reference, as on the CPU rows: double arithmetic cannot give 2 ulps of it)
        if r.returncode != 0 or not tail or not tail[0].endswith("PASS") or not all(x["pass"] for x in res):
            fails.append("%s: rc %d\n%s%s" % (what, r.returncode, r.stdout[-3000:], r.stderr[-2000:]))
        narrow = [x for x in res if x["dtype"] != "float64"]
        if not narrow or any(x["reference_rows"] or x["flagged_rows"] for x in narrow):
            fails.append("%s: %d results of narrow dtypes took reference rows" % (what, sum(1 for x in narrow if x["reference_rows"])))
    else:
        # no reference: every result the row did not flag meets its bound
        bad = [key(x) for x in res if not x["pass"] and x["flagged_rows"] == 0] + \
              [key(x) for x in res if x["reference_rows"]]
        if bad:
            fails.append("%s: unflagged failures or reference rows: %s" % (what, bad[:5]))
    print("%s: %d results, %d computed by the row alone (no reference or flagged row), %d pass; %s"
          % (what, len(res), len(own), sum(1 for x in res if x["pass"]), tail[0] if tail else "(no summary)"))
# ---- 3. generated cases: a wide row (K = 301, shards of 101/100/100) and K = 2 at P = 3 (one rank
# owns no class), with masked logits, ignored rows, zero sample weights and every option at once
def generated():
    import numpy as np
    d = os.path.join(work, "gen")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(15)
    cases = []
    for name, N, K in (("gen_wide", 12, 301), ("gen_k2", 5, 2)):
        z = rng.normal(0, 4, (N, K)).astype(np.float32)
        z[1, K - 1] = -np.inf
        z[2, 0] = 900.0  # saturates the cap
        t = rng.integers(0, K, N).astype(np.int64)
        t[3] = -100
        sw = rng.uniform(0, 2, N).astype(np.float32)
        sw[4] = 0
        w = rng.uniform(0.5, 2, K).astype(np.float32)
        files = {}
        for n_, arr in (("logits", z), ("targets", t), ("weights", w), ("sample_weights", sw)):
            np.save(os.path.join(d, name + "_" + n_ + ".npy"), arr)
            files[n_] = {"path": name + "_" + n_ + ".npy"}
        for fam, variants, opts in (("softmax", ["k", "k-logprob-weighted", "k1-kl"],
                                     ["--logit-scale", "1.5", "--softcap", "30", "--z-loss", "0.001"]),
                                    ("sigmoid", ["bce", "bce-softmax-target"], ["--logit-scale", "1.5", "--softcap", "30"])):
            cases.append({"case": name + "_" + fam, "regime": "options", "dtype": "float32", "targets_dtype": "int64",
                          "weights_dtype": "float32", "n": N, "k": K, "files": files, "ignore_index": -100,
                          "pad_index": None, "options": opts, "variants": variants,
                          "reductions": ["mean", "sum", "none"], "smoothings": ["0.1"],
                          "grad": {"reductions": ["mean", "none"], "rows": None, "smoothings": ["0.1"],
                                   "variants": variants}})
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"set": "mpi-options-generated", "schema": 1, "seed": 15, "generator": "tests/test_mpi_options.py",
                   "cases": cases}, f)
    return d


gd = generated()
js = os.path.join(work, "verify_gen.json")
r = mpi(3, ["verify", "--fixtures", gd, "--impl", "mpi_vocab_parallel", "--json", js])
tail = [l for l in r.stdout.splitlines() if l.startswith("mpi_vocab_parallel")]
try:
    res = json.load(open(js))["results"]
except (OSError, ValueError, KeyError):
    res = []
if r.returncode != 0 or not tail or not tail[0].endswith("PASS") or len(res) != 30 or not all(x["pass"] for x in res):
    fails.append("verify mpi_vocab_parallel P=3 on generated cases: rc %d, %d results\n%s%s"
                 % (r.returncode, len(res), r.stdout[-3000:], r.stderr[-2000:]))
else:
    print("verify mpi_vocab_parallel P=3 on K = 301 and K = 2: %d results, %d without reference rows; %s"
          % (len(res), sum(1 for x in res if x["reference_rows"] == 0), tail[0]))
for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
