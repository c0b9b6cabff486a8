"""The Python binding (python/lsce, ctypes over liblsce) against the command line: on the seed example
(fixtures/seed/) lsce.reference reproduces `lsce reference` bit for bit for every variant, reduction
(mean, sum, none) and with and without the gradient (--out/--grad-out read back); lsce.measure gives
`lsce check --loss-file/--grad` figures and verdict; errors carry the CLI's line (file names replaced
by the array names) and exit code; arrays are read in place; liblsce is found through $LSCE_LIBRARY
and through the dynamic loader. Usage: test_python_binding.py LSCE LIBLSCE PYTHONDIR SRCDIR"""
import os, shutil, subprocess, sys, tempfile

try:
    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_oracle import Tally
except ImportError as e:
    print(f"skip: {e}"); sys.exit(77)

LSCE, LIB, PYDIR, SRC = sys.argv[1:5]
os.environ["LSCE_LIBRARY"] = LIB
sys.path.insert(0, PYDIR)
import lsce  # noqa: E402

SEED = os.path.join(SRC, "fixtures", "seed")
L, T, W = (np.load(os.path.join(SEED, f + ".npy")) for f in ("logits", "targets", "weights"))
T_ = Tally()


def check(name, cond, detail=""):
    T_.ok(cond, f"{name}: {detail}")


def variants():
    out = subprocess.run([LSCE, "variants"], capture_output=True, text=True, check=True).stdout
    return [l.split("\t")[0] for l in out.split("\n") if l]


def problem_args(v, e, red):
    a = ["--logits", f"{SEED}/logits.npy", "--targets", f"{SEED}/targets.npy", "--variant", v,
         "--smoothing", e, "--reduction", red]
    kw = dict(variant=v, smoothing=e, reduction=red)
    if "weighted" in v:
        a += ["--weights", f"{SEED}/weights.npy"]; kw["weights"] = W
    if v == "k2-pad-kl":
        a += ["--pad-index", "3"]; kw["pad_index"] = 3
    if v == "k1-megatron":  # the seed's K = 5 allows T = 1 only (K % T == 0, K >= 2T)
        a += ["--tp", "1", "--rank", "0"]; kw["tp"] = 1; kw["rank"] = 0
    return a, kw


def bits(x):
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64)).view(np.uint64)


def same(a, b):
    a, b = bits(a), bits(b)
    return a.shape == b.shape and bool((a == b).all())


def test_reference(d):
    n = 0
    for v in variants():
        for red in ("mean", "sum", "none"):
            for e in ("0.3", "0.1", "0"):
                a, kw = problem_args(v, e, red)
                out, gout = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
                r = subprocess.run([LSCE, "reference"] + a + ["--out", out, "--grad-out", gout],
                                   capture_output=True, text=True)
                if r.returncode:
                    check(f"{v} {red} {e}", False, r.stderr); continue
                want_loss, want_grad = np.load(out), np.load(gout)
                got = lsce.reference(L, T, **kw)
                got2, grad = lsce.reference(L, T, grad=True, **kw)
                if red == "none":
                    check(f"{v} {red} {e} type", isinstance(got, np.ndarray) and got.dtype == np.float64)
                else:
                    check(f"{v} {red} {e} type", type(got) is float)
                    want_loss = want_loss.reshape(())
                    # and the printed line, %.17g, is the float's repr's value
                    check(f"{v} {red} {e} stdout", float(r.stdout) == got, r.stdout)
                check(f"{v} {red} {e} loss", same(got, want_loss), f"{got!r} vs {want_loss!r}")
                check(f"{v} {red} {e} loss with grad", same(got2, want_loss), f"{got2!r}")
                check(f"{v} {red} {e} grad", same(grad, want_grad), f"{grad!r} vs {want_grad!r}")
                n += 1
    print(f"reference: {n} (variant, reduction, smoothing) cases bit for bit, with and without the gradient")


def test_run(d):
    """lsce.run: every registry row as `lsce run` gives it (bit for bit), or the same error."""
    names = lsce.impls()
    out = subprocess.run([LSCE, "impls"], capture_output=True, text=True, check=True).stdout
    check("impls", names == [l.split("\t")[0] for l in out.split("\n") if l], f"{names} vs {out}")
    for im in names:
        for v, red in (("k", "mean"), ("k-torch-weighted", "none")):
            a, kw = problem_args(v, "0.1", red)
            o, g = os.path.join(d, "o.npy"), os.path.join(d, "g.npy")
            r = subprocess.run([LSCE, "run", "--impl", im] + a + ["--out", o, "--grad-out", g],
                               capture_output=True, text=True)
            try:
                loss, grad = lsce.run(im, L, T, grad=True, **kw)
                check(f"run {im} {v}", r.returncode == 0 and same(loss, np.load(o).reshape(np.shape(loss)))
                      and same(grad, np.load(g)), r.stderr)
            except lsce.LsceError as e:
                check(f"run {im} {v} error", r.returncode == e.code and r.stderr.strip() == "lsce: " + str(e),
                      f"{e} vs {r.stderr}")


def cli_check(a, loss, grad, d):
    np.save(os.path.join(d, "lo.npy"), loss)
    extra = ["--loss-file", os.path.join(d, "lo.npy")]
    if grad is not None:
        np.save(os.path.join(d, "go.npy"), grad); extra += ["--grad", os.path.join(d, "go.npy")]
    r = subprocess.run([LSCE, "check"] + a + extra + ["--json"], capture_output=True, text=True)
    import json
    return r.returncode, json.loads(r.stdout)


def test_check(d):
    # exact reference values pass; the article's k1 at 0.5 (1.4178) fails; a perturbed gradient fails
    for v in ("k", "k1", "k-torch-weighted", "k2-pad-kl"):
        for red in ("mean", "none"):
            a, kw = problem_args(v, "0.3", red)
            loss, grad = lsce.reference(L, T, grad=True, **kw)
            grad32 = grad.astype(np.float32)
            for lo, gr in ((loss, None), (np.float32(loss) if red != "none" else loss.astype(np.float32), grad32),
                           (np.nextafter(loss, 10) * (1 + 1e-6), grad32 * np.float32(1.001))):
                r = lsce.measure(L, T, lo, grad=gr, **kw)
                rc, j = cli_check(a, np.asarray(lo), gr, d)
                name = f"check {v} {red}"
                check(name + " verdict", r.passed == j["pass"] and rc == (0 if j["pass"] else 1), f"{r} {j}")
                check(name + " loss ulp", r.loss_ulp == j["loss"]["ulp"] and r.loss_row == j["loss"]["row"], f"{r} {j}")
                if gr is not None:
                    check(name + " grad ulp", r.grad_ulp == j["grad"]["ulp"] and r.grad_row == j["grad"]["row"]
                          and r.grad_col == j["grad"]["col"], f"{r} {j}")
                check(name + " dtypes", r.loss_dtype == j["loss_dtype"] and r.grad_dtype == j["grad_dtype"])
    a, kw = problem_args("k1", "0.5", "mean")
    try:
        lsce.check(L, T, 1.4178, **kw); check("check raises", False)
    except lsce.CheckFailed as e:
        check("check raises", isinstance(e, AssertionError) and not e.result.passed
              and "FAIL max_ulp=1 max_grad_ulp=2" in str(e), str(e))
    check("check passes", lsce.check(L, T, lsce.reference(L, T, **kw), **kw).passed)


def test_errors(d):
    """Each error: the binding's message is the CLI's line with the file names replaced by the names."""
    lp, tp, wp = (os.path.join(d, f + ".npy") for f in ("logits", "targets", "weights"))
    cases = [  # (logits, targets, weights, options)
        (L, T[:2], None, dict(variant="k", smoothing="0.1")),
        (L.reshape(-1), T, None, dict(variant="k", smoothing="0.1")),
        (L, T.astype(np.float32), None, dict(variant="k", smoothing="0.1")),
        (L.astype(np.int32), T, None, dict(variant="k", smoothing="0.1")),
        (L, np.array([2, 7, 0]), None, dict(variant="k", smoothing="0.1")),
        (L, np.array([2, -100, 0]), None, dict(variant="k", smoothing="0.1")),
        (np.where(np.arange(15).reshape(3, 5) == 7, np.nan, L).astype(np.float32), T, None, dict(variant="k", smoothing="0.1")),
        (L, T, -W, dict(variant="k-torch-weighted", smoothing="0.1")),
        (L, T, W[:4], dict(variant="k-torch-weighted", smoothing="0.1")),
        (L, T, None, dict(variant="k-torch-weighted", smoothing="0.1")),
        (L, T, W, dict(variant="k", smoothing="0.1")),
        (L, T, None, dict(variant="k", smoothing="0.1", pad_index=2)),
        (L, T, None, dict(variant="k2-pad-kl", smoothing="0.1")),
        (L, T, None, dict(variant="k2-pad-kl", smoothing="0.1", pad_index=9)),
        (L, T, None, dict(variant="k2", smoothing="0.1")),
        (L, T, None, dict(variant="k", smoothing="1.5")),
        (L, T, None, dict(variant="k", smoothing="x")),
        (L, T, None, dict(variant="k", smoothing="0.1", reduction="avg")),
        (L[:, :1], T * 0, None, dict(variant="k1", smoothing="0.1")),
        (L, T, None, dict(variant="k1-megatron", smoothing="0.1")),
        (L, T, None, dict(variant="k1-megatron", smoothing="0.1", tp=2)),
        (L, T, None, dict(variant="k1-megatron", smoothing="0.1", tp=1, rank=1)),
        (L, T, None, dict(variant="k", smoothing="0.1", tp=1)),
        (L, T, None, dict(variant="k1-megatron", smoothing="0.1", tp=-2)),
    ]
    for z, t, w, o in cases:
        a = ["--logits", lp, "--targets", tp]
        np.save(lp, z); np.save(tp, t)
        if w is not None:
            np.save(wp, w); a += ["--weights", wp]
        for k, val in o.items():
            a += ["--" + k.replace("_", "-"), str(val)]
        r = subprocess.run([LSCE, "reference"] + a, capture_output=True, text=True)
        want = r.stderr.strip().replace(lp, "logits").replace(tp, "targets").replace(wp, "weights")
        try:
            lsce.reference(z, t, weights=w, **o)
            got, code = "no error", 0
        except lsce.LsceError as e:
            got, code = "lsce: " + str(e), e.code
        if r.returncode == 0:  # (the ignore index is not an error)
            check(f"no error {o}", code == 0, got)
        else:
            check(f"error {o} {want}", got == want and code == r.returncode == 2, f"binding {got!r} (code {code}), CLI {want!r}")
    print(f"errors: {len(cases)} cases as the CLI says them")


def test_in_place():
    """A C-contiguous array of a dtype liblsce reads is passed without a copy (as_numpy returns it)."""
    from lsce import _ffi
    for x in (L, T, W, L.astype(np.float16), L.astype(np.float64)):
        a, dt = _ffi.as_numpy(x)
        check(f"in place {x.dtype}", a is x and dt is not None)
    a, _ = _ffi.as_numpy(np.asfortranarray(L))
    check("Fortran order copied to C order", a.flags.c_contiguous and same(a, L))
    a, _ = _ffi.as_numpy(L.astype(">f4"))
    check("big-endian to native", a.dtype.isnative and same(a, L))
    check("fortran/big-endian values", same(lsce.reference(L.astype(">f4").T.copy().T, T, variant="k", smoothing="0.3"),
                                            lsce.reference(L, T, variant="k", smoothing="0.3")))


def test_loader():
    """Without $LSCE_LIBRARY the dynamic loader finds liblsce.so.0 (here through LD_LIBRARY_PATH); the
    package is copied out of the checkout so that its build/lib fallback cannot answer instead."""
    env = {k: v for k, v in os.environ.items() if k != "LSCE_LIBRARY"}
    code = ("import lsce, numpy as np, sys; s = sys.argv[1]; "
            "print(repr(lsce.reference(np.load(s + '/logits.npy'), np.load(s + '/targets.npy'), variant='k', smoothing='0.3')))")
    want = subprocess.run([LSCE, "reference"] + problem_args("k", "0.3", "mean")[0], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as d:
        shutil.copytree(os.path.join(PYDIR, "lsce"), os.path.join(d, "lsce"))
        env["PYTHONPATH"] = d
        env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(LIB))
        r = subprocess.run([sys.executable, "-c", code, SEED], env=env, capture_output=True, text=True)
        check("dynamic loader", r.returncode == 0 and float(r.stdout) == float(want), r.stdout + r.stderr)
        env["LD_LIBRARY_PATH"] = "/nonexistent"
        r = subprocess.run([sys.executable, "-c", code, SEED], env=env, capture_output=True, text=True)
        check("no library: ImportError naming LSCE_LIBRARY", r.returncode != 0 and "LSCE_LIBRARY" in r.stderr, r.stderr[-300:])


with tempfile.TemporaryDirectory() as d:
    test_reference(d)
    test_run(d)
    test_check(d)
    test_errors(d)
test_in_place()
test_loader()
T_.finish()
