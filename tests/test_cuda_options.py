"""tests/test_cuda_options.py LSCE_MOCK LSCE FIXTURES: issue #15's options and the sigmoid family on
the CUDA rows cuda_rowblock, cuda_warp and cuda_split (impls/cuda/optkern.h), run by lsce-mock (the
rows' host code with their kernels in the host emulation, tests/cuda_emu.h), suite quick:
  1. `lsce verify --fixtures fixtures/options --impl R` passes every result, with the reference rung
     on, off (LSCE_ROW_REFERENCE=0: a miss is flagged, and verify fails a flagged miss) and with the
     gradient written in place; the rows are not skipped (as many results as cpu_online's on the
     same dtypes);
  2. with the kernels never run (LSCE_MOCK_KERNELS=skip) verify fails: the results are the kernels';
  3. the escalation path: a k1-kl row whose loss (reduction none) is tiny against its terms, where
     the rows' a-posteriori bound (cpu_online's too) cannot vouch for 1 ulp of float32: with the
     rung on the row's printed loss is the reference's (`lsce reference`), with it off the device's
     own value, which differs from it; the other rows are the device's either way.
Needs numpy (the generated case)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

mock, lsce, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
ROWS = ["cuda_rowblock", "cuda_warp", "cuda_split"]
bad = 0


def fail(msg):
    global bad
    print("FAIL " + msg)
    bad = 1


def verify(exe, impl, tmp, **env):
    j = os.path.join(tmp, impl + ".json")
    e = dict(os.environ, **env)
    r = subprocess.run([exe, "verify", "--fixtures", fixtures, "--impl", impl, "--json", j], env=e,
                       capture_output=True, text=True, timeout=300)
    res = json.load(open(j))["results"] if os.path.exists(j) and r.returncode in (0, 1) else []
    if os.path.exists(j):
        os.unlink(j)
    return r.returncode, res


with tempfile.TemporaryDirectory() as tmp:
    _, ref_res = verify(lsce, "cpu_online", tmp)
    n_narrow = sum(1 for x in ref_res if x["dtype"] != "float64")
    if n_narrow == 0:
        fail("cpu_online gave no narrow-dtype results on %s" % fixtures)
    for impl in ROWS:
        for label, env in (("rung on", {"LSCE_ROW_REFERENCE": "1"}), ("rung off", {"LSCE_ROW_REFERENCE": "0"}),
                           ("in place", {"LSCE_CUDA_INPLACE": "1"})):
            rc, res = verify(mock, impl, tmp, **env)
            npass = sum(1 for x in res if x["pass"])
            flagged = sum(x.get("flagged_rows", 0) for x in res)
            refrows = sum(x.get("reference_rows", 0) for x in res)
            if rc != 0 or len(res) != n_narrow or npass != len(res):
                fail("verify %s (%s): exit %d, %d results (cpu_online: %d), %d pass" % (impl, label, rc, len(res), n_narrow, npass))
            else:
                print("ok   verify %s (%s): %d results pass, %d rows from the reference, %d flagged"
                      % (impl, label, len(res), refrows, flagged))
        rc, res = verify(mock, impl, tmp, LSCE_MOCK_KERNELS="skip")
        if rc == 0:
            fail("verify %s with the kernels never run: exit 0" % impl)
        else:
            print("ok   verify %s with the kernels never run: exit %d" % (impl, rc))

    # 3. the escalation path
    K, e = 8, 0.1
    q = np.full(K, e / (K - 1))
    q[2] = 1 - e
    z = np.tile(np.log(q), (3, 1)).astype(np.float32)
    z[1] += np.float32(3.0)
    zp, tp = os.path.join(tmp, "z.npy"), os.path.join(tmp, "t.npy")
    np.save(zp, z)
    np.save(tp, np.array([2, 2, 2], dtype=np.int64))
    args = ["--logits", zp, "--targets", tp, "--variant", "k1-kl", "--smoothing", "0.1", "--reduction", "none",
            "--softcap", "50"]

    def lines(cmd, **env):
        r = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail("%s: exit %d: %s" % (" ".join(cmd[:3]), r.returncode, r.stderr.strip()))
            return []
        return r.stdout.split()

    refl = lines([lsce, "reference"] + args)
    # with LSCE_FAKE_NCCL_DIR (tests/meson.build, when the NCCL row is built) cuda_nccl_vocab too, over
    # three mock devices and the fake NCCL (tests/fake_nccl.c; its other checks: tests/test_cuda_nccl.py)
    nd = os.environ.get("LSCE_FAKE_NCCL_DIR")
    extra = {"LD_LIBRARY_PATH": nd + ":" + os.environ.get("LD_LIBRARY_PATH", ""), "LSCE_MOCK_DEVICES": "3"} if nd else {}
    for impl in ROWS + (["cuda_nccl_vocab"] if nd else []):
        ex = extra if impl == "cuda_nccl_vocab" else {}
        on = lines([mock, "run", "--impl", impl] + args, LSCE_ROW_REFERENCE="1", **ex)
        off = lines([mock, "run", "--impl", impl] + args, LSCE_ROW_REFERENCE="0", **ex)
        if len(on) != 3 or len(off) != 3 or len(refl) < 3:
            fail("escalation case on %s: outputs %r %r" % (impl, on, off))
            continue
        # row 1 escalates: the reference's value with the rung on, the device's (another) without
        r_ref = float(refl[1]) if len(refl) == 3 else None
        if r_ref is not None and float(on[1]) != r_ref:
            fail("escalation case on %s: row 1 with the rung on is %s, the reference %s" % (impl, on[1], refl[1]))
        elif on[1] == off[1]:
            fail("escalation case on %s: row 1 is %s with the rung on and off (no escalation seen)" % (impl, on[1]))
        elif on[0] != off[0] or on[2] != off[2]:
            fail("escalation case on %s: rows 0 and 2 differ with the rung on and off" % impl)
        else:
            print("ok   escalation case on %s: row 1 is the reference's %s (rung on), the device's %s (off)"
                  % (impl, on[1], off[1]))
sys.exit(bad)
