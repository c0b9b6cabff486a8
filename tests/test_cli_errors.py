"""Bad input through the `lsce` binary: every case of docs/cli.md "Input files" and "Arguments" exits
2 (3 where the command cannot complete) with exactly one stderr line, the contract's
`lsce: <name>: [location: ]<message>`, and leaves no output file. Also: rows outside V are not read,
-inf logits are valid, and --help/no-command behave as specified.
Usage: /usr/bin/python3 tests/test_cli_errors.py path/to/lsce [path/to/corpus/bad_npy]"""
import os, subprocess, sys, tempfile

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

LSCE = os.path.abspath(sys.argv[1])
CORPUS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "corpus", "bad_npy")
passed = failed = 0


def run(args, cwd):
    return subprocess.run([LSCE] + args, cwd=cwd, capture_output=True, text=True, timeout=60)


def expect(name, args, cwd, code, line=None, prefix=None, contains=None, outputs=()):
    """One check: exit code, exactly one stderr line (equal to `line`, or starting with `prefix` and
    containing `contains`), empty stdout on error, and none of `outputs` created."""
    global passed, failed
    r = run(args, cwd)
    errs = []
    if r.returncode != code:
        errs.append(f"exit {r.returncode}, want {code}")
    lines = r.stderr.splitlines()
    if code in (2, 3):
        if len(lines) != 1:
            errs.append(f"stderr has {len(lines)} lines: {r.stderr!r}")
        elif line is not None and lines[0] != line:
            errs.append(f"stderr {lines[0]!r}, want {line!r}")
        elif prefix is not None and not lines[0].startswith(prefix):
            errs.append(f"stderr {lines[0]!r}, want prefix {prefix!r}")
        elif contains is not None and contains not in lines[0]:
            errs.append(f"stderr {lines[0]!r}, want it to contain {contains!r}")
        if r.stdout:
            errs.append(f"stdout not empty: {r.stdout!r}")
    for o in outputs:
        if os.path.exists(os.path.join(cwd, o)):
            errs.append(f"output {o} was created")
    left = [f for f in os.listdir(cwd) if "lsce-tmp" in f]
    if left:
        errs.append(f"temporary files left: {left}")
    if errs:
        failed += 1
        print(f"FAIL {name}: lsce {' '.join(args)}: " + "; ".join(errs))
    else:
        passed += 1
    return r


def main():
    with tempfile.TemporaryDirectory() as d:
        z = np.array([[0, .2, .7, .1, 0], [0, .9, .2, .2, 1], [1, .2, .7, .9, 1]], dtype=np.float32)
        np.save(os.path.join(d, "L.npy"), z)
        np.save(os.path.join(d, "T.npy"), np.array([2, 1, 0], dtype=np.int64))
        np.save(os.path.join(d, "W.npy"), np.array([1, 2, .5, 1.5, .25], dtype=np.float32))
        P = ["--logits", "L.npy", "--targets", "T.npy"]
        ok = P + ["--variant", "k", "--smoothing", "0.1"]
        outs = ["--out", "o.npy", "--grad-out", "g.npy"]

        def save(name, arr):
            np.save(os.path.join(d, name), arr)

        # --- values in rows of V
        bad = z.copy(); bad[1, 3] = np.nan; save("Lnan.npy", bad)
        expect("nan logit", ["reference", "--logits", "Lnan.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"] + outs, d, 2, prefix="lsce: Lnan.npy: row 1, column 3: ", outputs=["o.npy", "g.npy"])
        bad = z.copy(); bad[2, 0] = np.inf; save("Linf.npy", bad)
        expect("+inf logit", ["reference", "--logits", "Linf.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"] + outs, d, 2, prefix="lsce: Linf.npy: row 2, column 0: ", outputs=["o.npy", "g.npy"])
        bad = z.copy(); bad[0, :] = -np.inf; save("Lmask.npy", bad)
        expect("no finite logit", ["reference", "--logits", "Lmask.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"] + outs, d, 2, line="lsce: Lmask.npy: row 0: no finite logit", outputs=["o.npy", "g.npy"])
        save("Tbad.npy", np.array([2, 5, 0], dtype=np.int64))
        expect("target >= K", P[:2] and ["reference", "--logits", "L.npy", "--targets", "Tbad.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 2, prefix="lsce: Tbad.npy: row 1: ")
        save("Tneg.npy", np.array([2, 1, -1], dtype=np.int32))
        expect("negative target", ["reference", "--logits", "L.npy", "--targets", "Tneg.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 2, prefix="lsce: Tneg.npy: row 2: ")
        expect("negative target is fine as the ignore index", ["reference", "--logits", "L.npy", "--targets", "Tneg.npy",
               "--variant", "k", "--smoothing", "0.1", "--ignore-index", "-1"], d, 0)
        save("Tlen.npy", np.array([2, 1], dtype=np.int64))
        expect("targets length", ["reference", "--logits", "L.npy", "--targets", "Tlen.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 2, prefix="lsce: Tlen.npy: ")
        # --- weights
        expect("weights missing", ["reference"] + ok[:4] + ["--variant", "k-torch-weighted", "--smoothing", "0.1"], d, 2,
               line="lsce: --weights: missing required option")
        expect("weights for an unweighted variant", ["reference"] + ok + ["--weights", "W.npy"], d, 2, prefix="lsce: --weights: ")
        save("Wlen.npy", np.array([1, 2, 3], dtype=np.float64))
        expect("weights length", ["reference"] + P + ["--weights", "Wlen.npy", "--variant", "k-torch-weighted", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Wlen.npy: ")
        save("Wneg.npy", np.array([1, 2, -0.5, 1, 1], dtype=np.float64))
        expect("negative weight", ["reference"] + P + ["--weights", "Wneg.npy", "--variant", "k-logprob-weighted", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Wneg.npy: column 2: ")
        save("Wnan.npy", np.array([1, 2, 1, np.inf, 1], dtype=np.float32))
        expect("infinite weight", ["reference"] + P + ["--weights", "Wnan.npy", "--variant", "k-nll-weighted", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Wnan.npy: column 3: ")
        save("Wint.npy", np.array([1, 2, 1, 1, 1], dtype=np.int32))
        expect("integer weights", ["reference"] + P + ["--weights", "Wint.npy", "--variant", "k-nll-weighted", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Wint.npy: ")
        # --- K and pad index
        save("L1.npy", np.zeros((3, 1), dtype=np.float64))
        expect("K too small for k1 (a cross-check, before target values)", ["reference", "--logits", "L1.npy",
               "--targets", "T.npy", "--variant", "k1", "--smoothing", "0.1"], d, 2, prefix="lsce: --variant: ")
        save("T0.npy", np.zeros(3, dtype=np.int64))
        expect("K too small for k1 (valid targets)", ["reference", "--logits", "L1.npy", "--targets", "T0.npy",
               "--variant", "k1", "--smoothing", "0.1"], d, 2, prefix="lsce: --variant: ")
        expect("K too small for k2-pad-kl", ["reference", "--logits", "L1.npy", "--targets", "T0.npy",
               "--variant", "k2-pad-kl", "--smoothing", "0.1", "--pad-index", "0"], d, 2, prefix="lsce: --variant: ")
        expect("pad index missing", ["reference"] + ok[:4] + ["--variant", "k2-pad-kl", "--smoothing", "0.1"], d, 2,
               line="lsce: --pad-index: missing required option")
        expect("pad index for another variant", ["reference"] + ok + ["--pad-index", "1"], d, 2, prefix="lsce: --pad-index: ")
        expect("pad index outside [0, K)", ["reference"] + P + ["--variant", "k2-pad-kl", "--smoothing", "0.1", "--pad-index", "5"], d, 2,
               prefix="lsce: --pad-index: ")
        # --- arguments
        for e in ["1.5", "-0.1", "abc", "0x1p-3", "1e", ".", "1e1234", "nan", "inf", "0.1.2", "+-1", " 0.1"]:
            expect(f"smoothing {e!r}", ["reference"] + P + ["--variant", "k", "--smoothing", e], d, 2, prefix="lsce: --smoothing: ")
        expect("smoothing 41 digits", ["reference"] + P + ["--variant", "k", "--smoothing", "0." + "1" * 41], d, 2, prefix="lsce: --smoothing: ")
        for e in ["1", "0", "+.5", "1e-1", "1.", "10e-1", "0." + "1" * 40, "0000.3", "3E-001"]:
            expect(f"smoothing {e!r} accepted", ["reference"] + P + ["--variant", "k", "--smoothing", e], d, 0)
        expect("--name=value form", ["reference", "--logits=L.npy", "--targets=T.npy", "--variant=k", "--smoothing=0.1"], d, 0)
        expect("unknown option", ["reference"] + ok + ["--frobnicate", "1"], d, 2, prefix="lsce: --frobnicate: ")
        expect("repeated option", ["reference"] + ok + ["--variant", "k1"], d, 2, prefix="lsce: --variant: ")
        expect("missing value", ["reference"] + ok + ["--out"], d, 2, prefix="lsce: --out: ")
        expect("positional argument", ["reference"] + ok + ["extra"], d, 2, prefix="lsce: reference: ")
        expect("missing --logits", ["reference", "--targets", "T.npy", "--variant", "k", "--smoothing", "0.1"], d, 2,
               line="lsce: --logits: missing required option")
        expect("missing --smoothing", ["reference"] + P + ["--variant", "k"], d, 2,
               line="lsce: --smoothing: missing required option")
        expect("missing options in synopsis order", ["reference", "--smoothing", "0.1"], d, 2,
               line="lsce: --logits: missing required option")
        expect("argument errors before missing options", ["reference", "--smoothing", "2"], d, 2,
               prefix="lsce: --smoothing: ")
        expect("argument errors in argv order", ["reference", "--variant", "nope", "--smoothing", "2"], d, 2,
               prefix="lsce: --variant: ")
        expect("argument errors in argv order (2)", ["reference", "--smoothing", "2", "--variant", "nope"], d, 2,
               prefix="lsce: --smoothing: ")
        expect("unknown variant", ["reference"] + P + ["--variant", "k3", "--smoothing", "0.1"], d, 2, prefix="lsce: --variant: ")
        expect("bad reduction", ["reference"] + ok + ["--reduction", "avg"], d, 2, prefix="lsce: --reduction: ")
        expect("bad ignore index", ["reference"] + ok + ["--ignore-index", "1.5"], d, 2, prefix="lsce: --ignore-index: ")
        expect("ignore index beyond int64", ["reference"] + ok + ["--ignore-index", "9223372036854775808"], d, 2,
               prefix="lsce: --ignore-index: ")
        expect("ignore index at int64 min", ["reference"] + ok + ["--ignore-index", "-9223372036854775808"], d, 0)
        expect("precision too low", ["reference"] + ok + ["--precision", "15"], d, 2, prefix="lsce: --precision: ")
        expect("precision too high", ["reference"] + ok + ["--precision", "65537"], d, 2, prefix="lsce: --precision: ")
        expect("precision signed", ["reference"] + ok + ["--precision", "+64"], d, 2, prefix="lsce: --precision: ")
        expect("value starting with -", ["reference"] + P + ["--variant", "k", "--smoothing", "--reduction"], d, 2,
               prefix="lsce: --smoothing: ")
        expect("flag with a value", ["variants", "--json=1"], d, 2, prefix="lsce: --json: ")
        expect("unknown command", ["frobnicate"], d, 2, prefix="lsce: frobnicate: ")
        expect("no command", [], d, 2, prefix="lsce: ")
        r = run(["--help"], d)
        check_help = r.returncode == 0 and "usage" in r.stdout and not r.stderr
        r2 = run(["reference", "--help"], d)
        check_help &= r2.returncode == 0 and "usage" in r2.stdout and not r2.stderr
        global passed, failed
        if check_help: passed += 1
        else: failed += 1; print("FAIL --help: want usage on stdout, exit 0")
        # --- files
        expect("missing file", ["reference", "--logits", "nope.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 3, prefix="lsce: nope.npy: ")
        save("L3d.npy", np.zeros((1, 3, 5)))
        expect("3-D logits", ["reference", "--logits", "L3d.npy", "--targets", "T.npy", "--variant", "k", "--smoothing", "0.1"],
               d, 2, prefix="lsce: L3d.npy: ")
        save("Lint.npy", np.zeros((3, 5), dtype=np.int8))
        expect("int8 logits", ["reference", "--logits", "Lint.npy", "--targets", "T.npy", "--variant", "k", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Lint.npy: ")
        save("Lfort.npy", np.asfortranarray(z.astype(np.float64)))
        expect("Fortran order", ["reference", "--logits", "Lfort.npy", "--targets", "T.npy", "--variant", "k", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Lfort.npy: ")
        save("Tf.npy", np.array([2.0, 1.0, 0.0]))
        expect("float targets", ["reference", "--logits", "L.npy", "--targets", "Tf.npy", "--variant", "k", "--smoothing", "0.1"],
               d, 2, prefix="lsce: Tf.npy: ")
        raw = open(os.path.join(d, "L.npy"), "rb").read()
        open(os.path.join(d, "Ltrunc.npy"), "wb").write(raw[:-7])
        expect("truncated data", ["reference", "--logits", "Ltrunc.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 2, prefix="lsce: Ltrunc.npy: ")
        open(os.path.join(d, "Lmagic.npy"), "wb").write(b"\x93NUMPZ" + raw[6:])
        expect("wrong magic", ["reference", "--logits", "Lmagic.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0.1"], d, 2, prefix="lsce: Lmagic.npy: ")
        # structure errors come in the order logits, targets, weights, before values
        expect("logits structure before targets", ["reference", "--logits", "Lmagic.npy", "--targets", "Tf.npy",
               "--variant", "k", "--smoothing", "0.1"], d, 2, prefix="lsce: Lmagic.npy: ")
        expect("targets structure before logits values", ["reference", "--logits", "Lnan.npy", "--targets", "Tf.npy",
               "--variant", "k", "--smoothing", "0.1"], d, 2, prefix="lsce: Tf.npy: ")
        expect("weights values before targets values", ["reference", "--logits", "L.npy", "--targets", "Tbad.npy",
               "--weights", "Wneg.npy", "--variant", "k-torch-weighted", "--smoothing", "0.1"], d, 2, prefix="lsce: Wneg.npy: ")
        # the malformed corpus: every file exits 2 with its expected message
        exp = os.path.join(CORPUS, "EXPECTED.txt")
        if os.path.exists(exp):
            for ln in open(exp):
                if not ln.strip() or ln.startswith("#"):
                    continue
                fname, want = ln.rstrip("\n").split("\t", 1)
                path = os.path.join(CORPUS, fname)
                expect(f"corpus {fname}", ["reference", "--logits", path, "--targets", "T.npy", "--variant", "k",
                       "--smoothing", "0.1", "--out", "o.npy"], d, 2, prefix=f"lsce: {path}: ", contains=want,
                       outputs=["o.npy"])
        # --- not errors: rows outside V are not read; -inf logits are masked classes
        bad = z.copy(); bad[1, :] = np.nan; save("Lign.npy", bad)
        save("Tign.npy", np.array([2, -100, 0], dtype=np.int64))
        expect("ignored row holding NaN", ["reference", "--logits", "Lign.npy", "--targets", "Tign.npy", "--variant", "k",
               "--smoothing", "0.1", "--out", "o.npy"], d, 0)
        bad = z.copy(); bad[0, 4] = -np.inf; save("Lminf.npy", bad)
        expect("-inf logit is valid", ["reference", "--logits", "Lminf.npy", "--targets", "T.npy", "--variant", "k",
               "--smoothing", "0", "--reduction", "none"], d, 0)
        # an output that cannot be written: exit 3, and the other output is not created
        expect("unwritable output", ["reference"] + ok + ["--out", "o2.npy", "--grad-out", "nodir/g.npy"], d, 3,
               prefix="lsce: nodir/g.npy: ", outputs=["o2.npy"])
        # a problem whose gradient does not fit memory: exit 3 before allocating (a sparse 4 GiB
        # float16 file of zeros, (65536, 32768); its float64 gradient would need 32 GiB)
        hdr = "{'descr': '<f2', 'fortran_order': False, 'shape': (65536, 32768), }"
        hdr = hdr + " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
        with open(os.path.join(d, "big.npy"), "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode())
            f.truncate(10 + len(hdr) + 65536 * 32768 * 2)
        np.save(os.path.join(d, "bigT.npy"), np.full(65536, -100, dtype=np.int64))
        expect("gradient beyond memory", ["reference", "--logits", "big.npy", "--targets", "bigT.npy", "--variant", "k",
               "--smoothing", "0.1", "--grad-out", "bigg.npy"], d, 3, prefix="lsce: reference: ", outputs=["bigg.npy"])
        os.remove(os.path.join(d, "big.npy"))
        # an existing output is not replaced on failure
        open(os.path.join(d, "keep.npy"), "w").write("old")
        run(["reference", "--logits", "Lnan.npy", "--targets", "T.npy", "--variant", "k", "--smoothing", "0.1",
             "--out", "keep.npy"], d)
        if open(os.path.join(d, "keep.npy")).read() == "old": passed += 1
        else: failed += 1; print("FAIL an existing output was replaced by a failing command")
        # outputs and environment (tests/test_faults.py injects the faults; these are the plain cases)
        for f in ("o.npy", "g.npy"):
            if os.path.exists(os.path.join(d, f)): os.remove(os.path.join(d, f))
        expect("one file for both outputs", ["reference"] + ok + ["--out", "o.npy", "--grad-out", "./o.npy"], d, 2,
               line="lsce: --grad-out: names the same file as --out ('./o.npy')", outputs=["o.npy"])
        expect("a directory as --out", ["run", "--impl", "cpu_online"] + ok + ["--out", ".", "--grad-out", "g.npy"], d, 3,
               line="lsce: .: cannot write: Is a directory", outputs=["g.npy"])
        for knob, val in [("LSCE_THREADS", "many"), ("LSCE_ISA", "mmx"), ("LSCE_CERTIFY", "maybe")]:
            os.environ[knob] = val
            expect(f"{knob}={val}", ["run", "--impl", "cpu_threads"] + ok + outs, d, 2, prefix=f"lsce: {knob}: ",
                   outputs=["o.npy", "g.npy"])
            del os.environ[knob]
        os.environ["LSCE_MAX_PRECISION"] = "40"
        expect("LSCE_MAX_PRECISION below the starting precision", ["reference"] + ok + outs, d, 2,
               line="lsce: LSCE_MAX_PRECISION: 40 is below the starting precision 64", outputs=["o.npy", "g.npy"])
        del os.environ["LSCE_MAX_PRECISION"]
        longp = "/".join(["p" * 250] * 8) + "/L.npy"
        r = expect("an error line about a 2 KiB path", ["reference", "--logits", longp, "--targets", "T.npy",
                   "--variant", "k", "--smoothing", "0.1"], d, 3, prefix="lsce: ppp")
        if r.stderr.rstrip("\n").endswith("/L.npy: cannot open: No such file or directory"): passed += 1
        else: failed += 1; print(f"FAIL a long error line lost its message: {r.stderr[-120:]!r}")
        with open("/dev/full", "w") as full:
            r = subprocess.run([LSCE, "variants"], stdout=full, capture_output=False, stderr=subprocess.PIPE,
                               text=True, timeout=60)
        if r.returncode == 3 and r.stderr == "lsce: standard output: cannot write: No space left on device\n": passed += 1
        else: failed += 1; print(f"FAIL variants > /dev/full: exit {r.returncode}, {r.stderr!r}")
    print(f"{passed} passed, {failed} failed, 0 skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
