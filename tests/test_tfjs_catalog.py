#!/usr/bin/python3
# TF.js 4.22 (fixtures/peers/tfjs, pure-JavaScript CPU backend, float32) as a peer for the forms of
# issue #15 it has: tf.losses.sigmoidCrossEntropy with label smoothing (`bce`, mean over N*K
# elements; with per-row weights, TF's SUM_BY_NONZERO_WEIGHTS = `--normalizer nonzero`, K per
# nonzero row) on index and soft targets, and softmaxCrossEntropy with per-row weights (`k` with
# `--sample-weights` and `--normalizer nonzero`). Each TF.js loss is measured by `lsce check` in
# float32 ulps; the table prints the figures, and the test passes when each is within 16.
#
# Usage: /usr/bin/python3 tests/test_tfjs_catalog.py PATH/TO/lsce   (exit 77 without node or the
# npm packages, which scripts/setup installs)

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import test_oracle as base  # noqa: E402

TFJS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "peers", "tfjs")


def main():
    lsce = base.lsce_from_argv()
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(TFJS, "node_modules", "@tensorflow", "tfjs-core")):
        print("skip: node or fixtures/peers/tfjs/node_modules missing (scripts/setup installs them)")
        sys.exit(77)
    t = base.Tally()
    rs = np.random.RandomState(1519)
    N, K = 8, 6
    z = (rs.standard_normal((N, K)) * 3).astype(np.float32)
    y = rs.randint(0, K, size=N)
    soft = rs.uniform(0, 1, size=(N, K)).astype(np.float32)
    s = np.array([1, 0, 2, 0.5, 0, 1, 1, 3], dtype=np.float32)
    cases = [("bce, index targets", "sigmoid", "bce", y, None, []),
             ("bce, soft targets", "sigmoid", "bce", soft, None, []),
             ("bce, row weights (SUM_BY_NONZERO_WEIGHTS)", "sigmoid", "bce", y, s, ["--normalizer", "nonzero"]),
             ("k, row weights (SUM_BY_NONZERO_WEIGHTS)", "softmax", "k", y, s, ["--normalizer", "nonzero"])]
    with tempfile.TemporaryDirectory() as d:
        L = os.path.join(d, "z.npy")
        np.save(L, z)
        jobs, cmds = [], []
        for k, (name, kind, variant, tg, sw, extra) in enumerate(cases):
            T = os.path.join(d, "t%d.npy" % k)
            np.save(T, np.asarray(tg, dtype=np.float32 if np.asarray(tg).ndim == 2 else np.int32))
            O = os.path.join(d, "o%d.npy" % k)
            job = {"kind": kind, "logits": L, "targets": T, "e": 0.1, "reduction": "mean", "out": O}
            cmd = [lsce, "check", "--logits", L, "--targets", T, "--variant", variant, "--smoothing", "0.1",
                   "--max-ulp", "16"] + extra
            if sw is not None:
                S = os.path.join(d, "s%d.npy" % k)
                np.save(S, sw)
                job["sample_weights"] = S
                cmd += ["--sample-weights", S]
            jobs.append(job)
            cmds.append((name, cmd, O))
        jf = os.path.join(d, "jobs.json")
        with open(jf, "w") as f:
            json.dump(jobs, f)
        p = subprocess.run([node, "tfjs_peer.mjs", "jobs", jf], cwd=TFJS, capture_output=True, text=True,
                           timeout=300)
        t.ok(p.returncode == 0 and p.stdout.strip() == "", "node: exit %d %s %s" % (p.returncode, p.stdout, p.stderr))
        print("%-44s %s" % ("TF.js form", "float32 ulp"))
        for name, cmd, O in cmds:
            if not os.path.exists(O):
                t.ok(False, "%s: TF.js wrote no loss" % name)
                continue
            rc, out, err = base.run_cmd(cmd + ["--loss-file", O])
            m = re.search(r"loss ulp=(\S+)", out)
            print("%-44s %s" % (name, m.group(1) if m else "?"))
            t.ok(rc == 0, "%s: lsce check exit %d %s %s" % (name, rc, out.strip(), err.strip()))
    t.finish()


if __name__ == "__main__":
    main()
