"""tests/test_cuda_nccl.py LSCE_MOCK FIXTURES: cuda_nccl_vocab (impls/cuda/nccl_vocab.cu) run without a
GPU: lsce-mock (the row's real host code, its kernels in the host emulation tests/cuda_emu.h) with
LSCE_MOCK_DEVICES=P devices and the fake NCCL of tests/fake_nccl.c (build/tests/libnccl.so.2, found
by the row's own dlopen through LD_LIBRARY_PATH = $LSCE_FAKE_NCCL_DIR). Suite quick. Checks:
  1. `lsce verify` of the row on fixtures/data and fixtures/adversarial at P = 1, 2, 3 (K < P in the
     K = 1, 2 cases: empty shards): every result passes, as many results as cuda_split's, and the row
     reports P ranks (`lsce impls`: nccl0_x<P>); LSCE_NCCL_RANKS caps the ranks;
  2. the row's loss and gradient (`lsce run --out --grad-out`) against the other CUDA rows on the
     narrow fixture cases: at P = 1 bit for bit cuda_rowblock's (one block of 256 threads over the
     whole row, the same code), at P = 2 bit for bit cuda_split's (its two slices are the two
     shards: the same partials merged in the same order); rows whose gradient the two rows' guards
     judge differently (a shard's check against the row's) may take the safe path in one of them
     only, so a mismatch is accepted only where both results pass verify's bounds (part 1);
  3. fault injection: each failable CUDA call of the row (LSCE_MOCK_FAIL_AT=k, tests/cuda_mock.cpp)
     and each NCCL call (LSCE_FAKE_NCCL_FAIL=k) made to fail in turn, at P = 2 (K = 5) and P = 3
     (K = 2: an empty shard): exit 3, one line `lsce: ...` on stderr naming the row, nothing on
     stdout, and no device allocation or stream left (LSCE_MOCK_REPORT: live_allocs=0); the same
     with issue #15's options (a soft cap and a z-loss: the options path);
  4. issue #15's options (the options path, impls/cuda/optkern.h over the ranks): verify on
     fixtures/options at P = 1, 2, 3 with the reference rung on and off (LSCE_ROW_REFERENCE=0) passes
     every result, as many as cuda_split's; with the kernels never run (LSCE_MOCK_KERNELS=skip) it
     fails; part 2 compares the options cases too (P = 1: cuda_rowblock's one slice of 256 threads,
     P = 2: cuda_split's two slices, the same partials merged in the same order);
  The escalation path (a row the device's check flags takes the reference's loss with the rung on,
  keeps the device's with it off) is tests/test_cuda_options.py's case, run there for this row too
  at P = 3 (LSCE_FAKE_NCCL_DIR).
Needs numpy."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

mock, fixtures = sys.argv[1], sys.argv[2]
libdir = os.environ["LSCE_FAKE_NCCL_DIR"]
bad = 0


def fail(msg):
    global bad
    print("FAIL " + msg)
    bad = 1


def env_for(P, **extra):
    e = dict(os.environ, LD_LIBRARY_PATH=libdir + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
             LSCE_MOCK_DEVICES=str(P))
    e.pop("LSCE_NCCL_RANKS", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run(args, env, timeout=300):
    return subprocess.run([mock] + args, env=env, capture_output=True, text=True, timeout=timeout)


def verify(fx, impl, P, tmp):
    j = os.path.join(tmp, "v.json")
    r = run(["verify", "--fixtures", fx, "--impl", impl, "--json", j], env_for(P))
    res = json.load(open(j))["results"] if os.path.exists(j) and r.returncode in (0, 1) else []
    if os.path.exists(j):
        os.unlink(j)
    return r.returncode, res


with tempfile.TemporaryDirectory() as tmp:
    # 1. verify
    for fx in ("data", "adversarial"):
        d = os.path.join(fixtures, fx)
        _, ref = verify(d, "cuda_split", 1, tmp)
        for P in (1, 2, 3):
            rc, res = verify(d, "cuda_nccl_vocab", P, tmp)
            npass = sum(1 for x in res if x["pass"])
            esc = sum(x.get("escalated_rows", 0) > 0 for x in res)
            if rc != 0 or not res or len(res) != len(ref) or npass != len(res):
                fail("verify cuda_nccl_vocab on fixtures/%s at P = %d: exit %d, %d results (cuda_split: %d), %d pass"
                     % (fx, P, rc, len(res), len(ref), npass))
            else:
                print("ok   verify cuda_nccl_vocab on fixtures/%s at P = %d: %d results pass (%d with rows escalated)"
                      % (fx, P, len(res), esc))
    # issue #15's options (impls/cuda/optkern.h sharded over the ranks): the reference rung on and off
    d = os.path.join(fixtures, "options")
    _, ref = verify(d, "cuda_split", 1, tmp)
    for P in (1, 2, 3):
        for label, extra in (("rung on", {}), ("rung off", {"LSCE_ROW_REFERENCE": "0"})):
            os.environ.update(extra)
            rc, res = verify(d, "cuda_nccl_vocab", P, tmp)
            for k in extra:
                del os.environ[k]
            npass = sum(1 for x in res if x["pass"])
            if rc != 0 or not res or len(res) != len(ref) or npass != len(res):
                fail("verify cuda_nccl_vocab on fixtures/options at P = %d (%s): exit %d, %d results (cuda_split: %d), %d pass"
                     % (P, label, rc, len(res), len(ref), npass))
            else:
                print("ok   verify cuda_nccl_vocab on fixtures/options at P = %d (%s): %d results pass"
                      % (P, label, len(res)))
    os.environ["LSCE_MOCK_KERNELS"] = "skip"
    rc, res = verify(d, "cuda_nccl_vocab", 2, tmp)
    del os.environ["LSCE_MOCK_KERNELS"]
    if rc == 0:
        fail("verify cuda_nccl_vocab on fixtures/options with the kernels never run: exit 0")
    else:
        print("ok   with the kernels never run (LSCE_MOCK_KERNELS=skip) verify fails: exit %d" % rc)
    for P, cap, want in ((2, None, "nccl0_x2"), (3, None, "nccl0_x3"), (3, 2, "nccl0_x2")):
        e = env_for(P) if cap is None else env_for(P, LSCE_NCCL_RANKS=cap)
        r = run(["impls"], e)
        line = [l for l in r.stdout.splitlines() if l.startswith("cuda_nccl_vocab")]
        if not line or not line[0].split("\t")[-1] == want or "\tyes\t" not in line[0]:
            fail("lsce impls with %d devices (LSCE_NCCL_RANKS %s): %r, wanted available, %s" % (P, cap, line, want))
        else:
            print("ok   %d devices, LSCE_NCCL_RANKS %s: available as %s" % (P, cap, want))

    # 2. against cuda_rowblock (P = 1) and cuda_split (P = 2)
    def outputs(impl, args, P):
        o, g = os.path.join(tmp, "o.npy"), os.path.join(tmp, "g.npy")
        for f in (o, g):
            if os.path.exists(f):
                os.unlink(f)
        r = run(["run", "--impl", impl] + args + ["--out", o, "--grad-out", g], env_for(P))
        if r.returncode != 0:
            return None
        return np.load(o), np.load(g)

    same = {1: 0, 2: 0}
    differ = {1: 0, 2: 0}
    nopt = 0
    for d in sorted(glob.glob(os.path.join(fixtures, "data", "*")) + glob.glob(os.path.join(fixtures, "options", "*"))):
        if not os.path.exists(os.path.join(d, "golden.txt")):
            continue
        z = np.load(os.path.join(d, "logits.npy"), mmap_mode="r")
        if z.dtype == np.float64 or z.shape[0] == 0:
            continue
        head = open(os.path.join(d, "golden.txt")).readline()
        ig, pad = re.search(r"ignore_index (-?\d+)", head), re.search(r"pad_index (-?\d+)", head)
        opts = []  # issue #15's options of the case (fixtures/options), paths relative to its parent
        for l in open(os.path.join(d, "golden.txt")):
            if l.startswith("# options of every group:"):
                opts = [t if not t.endswith(".npy") else os.path.join(os.path.dirname(d), t)
                        for t in l.split(":", 1)[1].split() if t != "-"]
        triples, seen = [], set()
        for l in open(os.path.join(d, "golden.txt")):
            f = l.split()
            if l.startswith("#") or len(f) < 3 or f[0] in seen or f[1] == "0":
                continue
            seen.add(f[0])
            triples.append((f[0], f[1], f[2]))
        for v, e, red in triples[:2]:  # the first two variants of the case, each at its first e > 0
            base = ["--logits", os.path.join(d, "logits.npy"), "--targets", os.path.join(d, "targets.npy"),
                    "--variant", v, "--smoothing", e, "--reduction", red] + opts
            if ig:
                base += ["--ignore-index", ig.group(1)]
            extra = [[]]
            if os.path.exists(os.path.join(d, "weights.npy")):
                extra = [["--weights", os.path.join(d, "weights.npy")]] + extra
            if pad:
                extra = [x + ["--pad-index", pad.group(1)] for x in extra] + extra
            b = None
            for x in extra:  # the options the variant takes (run refuses the others: exit 2)
                args = base + x
                b = outputs("cuda_split", args, 1)
                if b is not None:
                    break
            if b is None:
                continue
            for P, other in ((1, "cuda_rowblock"), (2, "cuda_split")):
                a, b = outputs("cuda_nccl_vocab", args, P), outputs(other, args, 1)
                if a is None or b is None:
                    fail("run cuda_nccl_vocab at P = %d on %s %s: failed (%s: %s)" % (P, d, v, other, b is not None))
                elif np.array_equal(a[0], b[0], equal_nan=True) and np.array_equal(a[1], b[1], equal_nan=True):
                    same[P] += 1
                    nopt += bool(opts)
                else:
                    differ[P] += 1
    for P, other in ((1, "cuda_rowblock"), (2, "cuda_split")):
        if same[P] == 0 or differ[P] > same[P] // 10:
            fail("at P = %d: %d runs bit for bit %s's, %d differ" % (P, same[P], other, differ[P]))
        else:
            print("ok   at P = %d: %d runs bit for bit %s's (%d differ, each within bounds: part 1)"
                  % (P, same[P], other, differ[P]))
    if nopt == 0:
        fail("no run with issue #15's options compared")
    else:
        print("ok   %d of these comparisons (P = 1 and 2) with issue #15's options (fixtures/options)" % nopt)

    # 3. fault injection
    for P, K, opt in ((2, 5, []), (3, 2, []), (2, 5, ["--softcap", "30", "--z-loss", "0.001"])):
        N = 3
        rng = np.random.default_rng(P)
        zp, tp = os.path.join(tmp, "fz.npy"), os.path.join(tmp, "ft.npy")
        np.save(zp, rng.standard_normal((N, K)).astype(np.float32))
        np.save(tp, np.arange(N, dtype=np.int64) % K)
        gp, rep = os.path.join(tmp, "fg.npy"), os.path.join(tmp, "rep")
        args = ["run", "--impl", "cuda_nccl_vocab", "--logits", zp, "--targets", tp, "--variant", "k",
                "--smoothing", "0.1", "--reduction", "none", "--grad-out", gp] + opt

        def report():
            return dict(kv.split("=") for kv in open(rep).read().split())

        r = run(args, env_for(P, LSCE_MOCK_REPORT=rep))
        total = int(report()["calls"]) if r.returncode == 0 else 0
        if r.returncode != 0 or total < 10:
            fail("fault case P = %d K = %d: exit %d without a failure, %d failable calls" % (P, K, r.returncode, total))
            continue

        clean = r.stdout

        def one(label, **inj):
            if os.path.exists(gp):
                os.unlink(gp)
            r = run(args, env_for(P, LSCE_MOCK_REPORT=rep, **inj))
            rp = report()
            lines = r.stderr.splitlines()
            if r.returncode == 0 and r.stdout == clean and not r.stderr:
                # a call of the cleanup after the results (cudaSetDevice before the frees): the
                # results stand; nothing may be left behind
                if rp["live_allocs"] != "0" or rp["live_streams"] != "0":
                    fail("%s (cleanup): left %s allocations, %s streams" % (label, rp["live_allocs"], rp["live_streams"]))
                return ""
            if (r.returncode != 3 or len(lines) != 1 or not lines[0].startswith("lsce: ")
                    or "cuda_nccl_vocab" not in lines[0] or r.stdout or os.path.exists(gp)):
                fail("%s: exit %d, stderr %r, stdout %r" % (label, r.returncode, r.stderr, r.stdout))
                return None
            if rp["live_allocs"] != "0" or rp["live_streams"] != "0":
                fail("%s: left %s allocations, %s streams" % (label, rp["live_allocs"], rp["live_streams"]))
            return lines[0]

        msgs = set()
        ncleanup = 0
        for k in range(1, total + 1):
            m = one("P = %d: CUDA call %d of %d failed" % (P, k, total), LSCE_MOCK_FAIL_AT=k)
            ncleanup += m == ""
            if m:
                msgs.add(m)
        nn = 0
        for k in range(1, 20):
            rr = run(args, env_for(P, LSCE_FAKE_NCCL_FAIL=k))
            if rr.returncode == 0:
                break
            nn += 1
            m = one("P = %d: NCCL call %d failed" % (P, k), LSCE_FAKE_NCCL_FAIL=k)
            if m:
                msgs.add(m)
        if nn < 3:
            fail("P = %d: only %d NCCL calls failed in turn" % (P, nn))
        print("ok   P = %d, K = %d%s: each of %d CUDA and %d NCCL calls failed in turn: exit 3, one line, nothing left"
              " (%d in the cleanup: the results stand)" % (P, K, " " + " ".join(opt) if opt else "", total, nn, ncleanup))
        for m in sorted(msgs)[::max(1, len(msgs) // 5)]:
            print("       e.g. " + m)
sys.exit(bad)
