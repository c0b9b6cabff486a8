"""tests/test_mpi_options_f64.py: mpi_vocab_parallel on issue #15's options for float64 logits
(impls/vocab_options_f64.c: the CPU rows' double-double pieces, optrows_f64.c, per vocabulary shard).
Suite mpi, a few seconds.

usage: test_mpi_options_f64.py LSCE LSCE_MPI MPIRUN OPTIONS_FIXTURES_DIR WORKDIR [LIBFAULT_ALLOC.so]

1. `lsce-mpi verify --fixtures fixtures/options --impl mpi_vocab_parallel` at P = 1, 2, 3 (K = 8 split
   8, 4/4, 3/3/2): the same results as cpu_twopass (none skipped), every one passes, and no float64
   result takes a reference row or flags one; with LSCE_ROW_REFERENCE=0 at P = 3 too.
2. Generated float64 cases at P = 2 and 3 that climb the rungs: logits whose softmax (sigmoid) lies
   within 1e-3 relative of the smoothed target, so the gradient entries cancel and the first rung
   (lsce_exp_pair, 2^-58) cannot vouch for them (and k1-kl near its own target: the KL loss near 0,
   so the loss itself climbs, the whole-row rung): they must
   pass through the accurate rung (accurate_rows > 0, no reference row, as on cpu_online); a row whose
   softmax equals its target to the last bit cancels beyond the accurate rung too and takes the
   reference on every rank (reference_rows > 0, as on cpu_online), or is flagged with
   LSCE_ROW_REFERENCE=0; a wide row (K = 301) and K = 2 at P = 3 (a rank without classes) with masked
   logits, ignored rows, zero sample weights and every option at once.
3. With the LD_PRELOAD shim tests/fault_alloc.c (its LSCE_FAULT_ALLOC_MIN mode) (given: not under a sanitizer), a memory failure in the
   float64 path (every request of 7 MB or more refused: only the row buffer of a K = 200000 float64
   problem is that large; the same problem in float32, whose path needs no such buffer, completes
   under the same shim) gives exit 3, exactly one `lsce:` line on stderr and no output file, at P = 2.
The expectations are the verify reports' (the certified reference's measurements), never constants."""
import json
import os
import subprocess
import sys

import numpy as np

lsce, lsce_mpi, mpirun, fixtures, work = sys.argv[1:6]
shim = sys.argv[6] if len(sys.argv) > 6 else None
os.makedirs(work, exist_ok=True)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_mpi_yield_when_idle="1", OMP_NUM_THREADS="1")
fails = []


def key(x):
    return (x["case"], x["variant"], x["smoothing"], x["reduction"])


def verify(P, fx, tag, extra=None, impl="mpi_vocab_parallel"):
    js = os.path.join(work, "verify_%s.json" % tag)
    if os.path.exists(js):
        os.remove(js)
    cmd = ([mpirun, "--oversubscribe", "-np", str(P), lsce_mpi] if P else [lsce]) + \
        ["verify", "--fixtures", fx, "--impl", impl, "--json", js]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, **(extra or {})), timeout=300)
    try:
        res = json.load(open(js))["results"]
    except (OSError, ValueError, KeyError):
        fails.append("%s: no JSON report: rc %d\n%s%s" % (tag, r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        res = []
    return r, res


def summary(tag, res):
    f = [x for x in res if x["dtype"] == "float64"]
    print("%s: %d results, %d float64: %d with reference rows, %d with flagged rows, %d with accurate rows, %d pass"
          % (tag, len(res), len(f), sum(1 for x in f if x["reference_rows"]), sum(1 for x in f if x["flagged_rows"]),
             sum(1 for x in f if x["accurate_rows"]), sum(1 for x in res if x["pass"])))
    return f


# ---- 1. fixtures/options ------------------------------------------------------------------------
_, cpu = verify(0, fixtures, "cpu_twopass", impl="cpu_twopass")
want = {key(x) for x in cpu}
for P, extra in ((1, None), (2, None), (3, None), (3, {"LSCE_ROW_REFERENCE": "0"})):
    tag = "fixtures_p%d%s" % (P, "_noref" if extra else "")
    r, res = verify(P, fixtures, tag, extra)
    f = summary(tag, res)
    if {key(x) for x in res} != want or len(res) != len(want):
        fails.append("%s: %d results, cpu_twopass %d" % (tag, len(res), len(want)))
    if r.returncode != 0 or not res or not all(x["pass"] for x in res):
        fails.append("%s: rc %d, %d fail\n%s" % (tag, r.returncode, sum(1 for x in res if not x["pass"]),
                                                   r.stdout[-2000:]))
    if not f or any(x["reference_rows"] or x["flagged_rows"] for x in f):
        fails.append("%s: float64 results with reference or flagged rows" % tag)


# ---- 2. generated float64 cases -----------------------------------------------------------------
def generated():
    d = os.path.join(work, "gen")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1564)
    cases = []

    def case(name, arrs, opts, variants, smoothings, N, K, soft=False):
        files = {}
        for n_, a in arrs.items():
            np.save(os.path.join(d, name + "_" + n_ + ".npy"), a)
            files[n_] = {"path": name + "_" + n_ + ".npy"}
        cases.append({"case": name, "regime": "options", "dtype": "float64",
                      "targets_dtype": str(arrs["targets"].dtype), "n": N, "k": K,
                      "files": files, "ignore_index": -100, "pad_index": None, "options": opts,
                      "variants": variants, "reductions": ["mean", "none"], "smoothings": smoothings,
                      "grad": {"reductions": ["mean", "none"], "rows": None, "smoothings": smoothings,
                               "variants": variants}})
        if "weights" in arrs:
            cases[-1]["weights_dtype"] = "float32"

    # softmax near its smoothed target (e = 0.1, hard targets): x = log q + delta, |delta| 1e-5..1e-3;
    # the last row exactly log q (in double), beyond the accurate rung
    N, K, e = 6, 7, 0.1
    t = rng.integers(0, K, N).astype(np.int64)
    q = np.full((N, K), e / K)
    q[np.arange(N), t] += 1 - e
    delta = rng.uniform(1e-5, 1e-3, (N, K)) * rng.choice([-1, 1], (N, K))
    delta[N - 1] = 0
    z = (np.log(q) + delta) / 2  # --logit-scale 2 multiplies back exactly
    case("near_softmax", {"logits": z, "targets": t}, ["--logit-scale", "2"], ["k", "k1-kl"], ["0.1"], N, K)
    # k1-kl near its own target (off e / (K - 1), on 1 - e): the KL loss near 0, so the loss itself
    # (reduction none) misses at the first rung and the whole row climbs
    q1 = np.full((N, K), e / (K - 1))
    q1[np.arange(N), t] = 1 - e
    d1 = rng.uniform(1e-5, 1e-3, (N, K)) * rng.choice([-1, 1], (N, K))
    case("near_kl", {"logits": (np.log(q1) + d1) / 2, "targets": t}, ["--logit-scale", "2"], ["k1-kl"], ["0.1"], N, K)
    # sigmoid near its smoothed soft target: x = logit(t') + delta
    ts = rng.uniform(0.05, 0.95, (N, K))
    tp = ts * (1 - e) + e / 2
    zs = (np.log(tp) - np.log1p(-tp) + rng.uniform(1e-5, 1e-3, (N, K)) * rng.choice([-1, 1], (N, K))) / 2
    case("near_sigmoid", {"logits": zs, "targets": ts}, ["--logit-scale", "2"], ["bce"], ["0.1"], N, K, soft=True)
    # everything at once: a wide row (shards 101/100/100) and K = 2 at P = 3 (one rank owns no class)
    for name, N, K in (("wide", 12, 301), ("k2", 5, 2)):
        z = rng.normal(0, 4, (N, K))
        z[1, K - 1] = -np.inf
        z[2, 0] = 900.0  # saturates the cap
        t = rng.integers(0, K, N).astype(np.int64)
        t[3] = -100
        sw = rng.uniform(0, 2, N)
        sw[4] = 0
        w = rng.uniform(0.5, 2, K).astype(np.float32)
        arrs = {"logits": z, "targets": t, "weights": w, "sample_weights": sw}
        case(name + "_softmax", arrs, ["--logit-scale", "1.5", "--softcap", "30", "--z-loss", "0.001"],
             ["k", "k-logprob-weighted", "k1-kl"], ["0.1"], N, K)
        case(name + "_sigmoid", arrs, ["--logit-scale", "1.5", "--softcap", "30"], ["bce", "bce-softmax-target"],
             ["0.1"], N, K)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"set": "mpi-options-f64-generated", "schema": 1, "seed": 1564,
                   "generator": "tests/test_mpi_options_f64.py", "cases": cases}, f)
    return d


gd = generated()
_, cpu = verify(0, gd, "gen_cpu_online", impl="cpu_online")
ref_cpu = {key(x): x for x in cpu}
if not cpu or not all(x["pass"] for x in cpu):
    fails.append("cpu_online on the generated cases: not every result passes")
near = [k for k, x in ref_cpu.items() if k[0].startswith("near_")]
if not any(ref_cpu[k]["accurate_rows"] for k in near) or not any(ref_cpu[k]["reference_rows"] for k in near):
    fails.append("the generated near-target cases do not reach the accurate rung and the reference on cpu_online")
for P, extra in ((2, None), (3, None), (3, {"LSCE_ROW_REFERENCE": "0"})):
    tag = "gen_p%d%s" % (P, "_noref" if extra else "")
    r, res = verify(P, gd, tag, extra)
    summary(tag, res)
    got = {key(x): x for x in res}
    if set(got) != set(ref_cpu):
        fails.append("%s: %d results, cpu_online %d" % (tag, len(got), len(ref_cpu)))
        continue
    if not extra:
        if r.returncode != 0 or not all(x["pass"] for x in res):
            fails.append("%s: rc %d\n%s" % (tag, r.returncode, r.stdout[-3000:]))
        # the rungs: accurate rows where cpu_online needs them, the reference only where it does
        for k in near:
            if bool(got[k]["accurate_rows"]) != bool(ref_cpu[k]["accurate_rows"]) or \
               bool(got[k]["reference_rows"]) != bool(ref_cpu[k]["reference_rows"]):
                fails.append("%s %s: accurate %d reference %d rows, cpu_online %d %d" % (
                    tag, k, got[k]["accurate_rows"], got[k]["reference_rows"], ref_cpu[k]["accurate_rows"],
                    ref_cpu[k]["reference_rows"]))
        if any(x["reference_rows"] for k, x in got.items() if not k[0].startswith("near_")):
            fails.append("%s: reference rows outside the near-target cases" % tag)
    else:
        bad = [k for k, x in got.items() if x["reference_rows"] or (not x["pass"] and not x["flagged_rows"])]
        if bad:
            fails.append("%s: unflagged failures or reference rows: %s" % (tag, bad[:5]))
        if [k for k, x in got.items() if x["flagged_rows"] and not ref_cpu[k]["reference_rows"]]:
            fails.append("%s: flagged rows where cpu_online needs no reference" % tag)

# ---- 3. a memory failure in the float64 path ------------------------------------------------------
if shim:
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, (2, 200000))
    np.save(os.path.join(work, "wide64.npy"), z)
    np.save(os.path.join(work, "wide32.npy"), z.astype(np.float32))
    np.save(os.path.join(work, "wideT.npy"), np.array([5, 7], dtype=np.int64))
    for dt, want_rc in (("64", 3), ("32", 0)):
        outs = [os.path.join(work, "fault%s_%s.npy" % (dt, k)) for k in ("out", "grad")]
        for o in outs:
            if os.path.exists(o):
                os.remove(o)
        cmd = [mpirun, "-q", "--oversubscribe", "-np", "2", "-x", "LD_PRELOAD=" + shim, "-x",
               "LSCE_FAULT_ALLOC_MIN=7000000", lsce_mpi, "run", "--impl", "mpi_vocab_parallel", "--logits",
               os.path.join(work, "wide%s.npy" % dt), "--targets", os.path.join(work, "wideT.npy"), "--variant", "k",
               "--smoothing", "0.1", "--softcap", "30", "--reduction", "none", "--out", outs[0], "--grad-out", outs[1]]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        lines = r.stderr.splitlines()
        made = [o for o in outs if os.path.exists(o)]
        if want_rc == 3:
            ok = r.returncode == 3 and len(lines) == 1 and lines[0].startswith("lsce: ") and not made and not r.stdout
        else:
            ok = r.returncode == 0 and len(made) == 2
        print("malloc failure >= 7 MB, float%s, P = 2: rc %d, stderr %r, outputs %s" % (dt, r.returncode, lines[:2], made))
        if not ok:
            fails.append("memory failure float%s: rc %d (want %d), stderr %r, outputs %s" % (dt, r.returncode, want_rc,
                                                                                        lines[:3], made))
for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
