"""Faults and hostile environments (issue: twelve classes), through the `lsce` binary, with a
fault-injection harness that needs neither root nor mounts (and works as root): RLIMIT_FSIZE with
SIGXFSZ ignored is a full disk, RLIMIT_AS makes memory and thread creation fail, signals arrive at
random points of the write phase of large outputs, special files (character devices, FIFOs) are
outputs. The promise checked everywhere: exit 2 or 3 = exactly one `lsce:` line on stderr and no
regular output file created or replaced (and no temporary left); exit 0 = every output complete.
13. issue #15's options paths (fixtures/options: --logit-scale, --softcap, --z-loss, --sample-weights,
--normalizer, soft targets, the sigmoid family; float32 and float64 logits) under a full disk, a
memory limit, signals and a failing allocation of lsce's own code (tests/fault_alloc.c, sampled
allocation points of run/reference/check/verify, and of lsce-mpi run --impl mpi_vocab_parallel
at P = 2 with the fault on one rank): the same promise, or exit 0 with output identical to a run
without the fault.
14. the MPFR reference and the figures (reference/ref_loss.c, verify/measure.c, cli/cmd_compare.c)
under a failing allocation of lsce's own code at EVERY point of reference, check (k1-kl with a
gradient) and compare (weights, pad index) on a 5x7 problem: the same promise.
15. lsce-mpi batch (many commands in one process, --mpi --batch-only): a compare whose allocation
failed leaves nothing behind for the next command.
Usage: /usr/bin/python3 tests/test_faults.py path/to/lsce [--sanitized] [--rename-shim libfault_rename.so]
       [--alloc-shim libfault_alloc.so] [--mpi LSCE_MPI MPIRUN] [--options-only | --batch-only]   (LSCE_FAULTS_SEED=S repeats a run)"""
import errno, hashlib, json, os, pty, random, re, resource, select, shutil, signal, stat, subprocess
import sys, tempfile, threading, time

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

LSCE = os.path.abspath(sys.argv[1])
SANITIZED = "--sanitized" in sys.argv[2:]  # a sanitizer's shadow memory cannot live under RLIMIT_AS
SHIM = os.path.abspath(sys.argv[sys.argv.index("--rename-shim") + 1]) if "--rename-shim" in sys.argv else None
ALLOC = os.path.abspath(sys.argv[sys.argv.index("--alloc-shim") + 1]) if "--alloc-shim" in sys.argv else None
MPI = [os.path.abspath(x) for x in sys.argv[sys.argv.index("--mpi") + 1:sys.argv.index("--mpi") + 3]] \
    if "--mpi" in sys.argv else None  # LSCE_MPI MPIRUN: section 13's lsce-mpi part
OPTIONS_ONLY = "--options-only" in sys.argv  # section 13 only
MPI_ONLY = OPTIONS_ONLY and MPI is not None  # section 13's lsce-mpi part only (the mpi suite's run)
BATCH_ONLY = "--batch-only" in sys.argv  # section 15 only (the mpi suite's faults_batch)
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "options")
SEED = int(os.environ.get("LSCE_FAULTS_SEED", "0")) or random.randrange(1, 1 << 30)
rng = random.Random(SEED)
passed = failed = skipped = 0
T0 = time.monotonic()


def lap(what):
    print(f"{time.monotonic() - T0:6.1f} s  {what}")


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail} (LSCE_FAULTS_SEED={SEED})")


def limits(fsize=None, addr=None, xfsz_ignored=True, stack=None):
    """preexec_fn: the fault to inject in the child before exec."""
    def pre():
        if stack is not None:  # glibc's default thread stack size is the RLIMIT_STACK soft limit
            hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
            resource.setrlimit(resource.RLIMIT_STACK, (stack if hard == resource.RLIM_INFINITY else min(stack, hard), hard))
        if xfsz_ignored:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if addr is not None:
            resource.setrlimit(resource.RLIMIT_AS, (addr, addr))
    return pre


def run(args, cwd, env=None, stdout=subprocess.PIPE, pre=None, timeout=120):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("LSCE_") or k.startswith("OMP_"):
            del e[k]
    e.update(env or {})
    r = subprocess.run([LSCE] + args, cwd=cwd, env=e, stdout=stdout, stderr=subprocess.PIPE,
                       preexec_fn=pre, timeout=timeout)
    r.err = r.stderr.decode(errors="replace")
    r.out = r.stdout.decode(errors="replace") if r.stdout is not None else ""
    return r


def temporaries(d):
    return [f for f in os.listdir(d) if "lsce-tmp" in f]


def snapshot(d):
    """name -> (inode, bytes) of every regular file, to prove nothing was created or replaced."""
    out = {}
    for f in os.listdir(d):
        p = os.path.join(d, f)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as fh:
                out[f] = (os.stat(p).st_ino, hashlib.sha256(fh.read()).hexdigest())
    return out


def expect_fail(name, r, code, d, before, prefix="lsce: ", contains=None):
    """exit `code`, one stderr line starting with `prefix`, the directory exactly as before."""
    lines = r.err.splitlines()
    check(f"{name}: exit {code}", r.returncode == code, f"exit {r.returncode}, stderr {r.err!r}")
    check(f"{name}: one stderr line", len(lines) == 1 and lines[0].startswith(prefix)
          and (contains is None or contains in lines[0]), repr(r.err))
    after = snapshot(d)
    check(f"{name}: no output created or replaced", after == before,
          f"created/changed: {sorted(set(after.items()) ^ set(before.items()))}")
    check(f"{name}: no temporary left", not temporaries(d), str(temporaries(d)))


def expect_ok(name, r, outputs=()):
    check(f"{name}: exit 0, stderr clean", r.returncode == 0 and r.err == "",
          f"exit {r.returncode}, stderr {r.err!r}")
    for o, shape in outputs:
        try:
            a = np.load(o)
            check(f"{name}: {os.path.basename(o)} complete", a.shape == shape, f"shape {a.shape}")
        except Exception as ex:  # noqa: BLE001 (any failure to load is the finding)
            check(f"{name}: {os.path.basename(o)} complete", False, repr(ex))


def special_nodes(d):
    """A null and a full character device and a FIFO that the test may lose: private nodes made
    with mknod when root (a broken lsce would replace only these), else the system's own (which an
    unprivileged lsce cannot replace)."""
    if os.geteuid() == 0:
        try:
            os.mknod(os.path.join(d, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.mknod(os.path.join(d, "full"), 0o666 | stat.S_IFCHR, os.makedev(1, 7))
            nul, full = os.path.join(d, "null"), os.path.join(d, "full")
        except OSError:
            nul, full = "/dev/null", "/dev/full"
    else:
        nul, full = "/dev/null", "/dev/full"
    return nul, full


def drain_fifo(path, sink):
    with open(path, "rb") as f:
        sink.append(f.read())


def on_pty(args, cwd):
    """Runs lsce with stderr on a pseudo-terminal: (exit, stdout, what the terminal got, seconds)."""
    m, s = pty.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen([LSCE] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=s)
    os.close(s)
    tty = b""
    while True:
        ready, _, _ = select.select([m], [], [], 60)
        if not ready:
            break
        try:
            b = os.read(m, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not b:
            break
        tty += b
    out = p.communicate(timeout=60)[0].decode()
    os.close(m)
    return p.returncode, out, tty.decode(errors="replace"), time.monotonic() - t0


def progress_on_pty(what, args, cwd, label, count):
    """Class 12: on a terminal, a run of more than a second shows `label`, `count` and an ETA, and
    erases the bar at the end. Returns stdout (None when the run was too quick to tell)."""
    global skipped
    rc, out, txt, took = on_pty(args, cwd)
    if took < 1.5:
        skipped += 1
        print(f"skip class 12 {what} progress: it took only {took:.2f} s here")
        return None
    check(f"class 12 {what} progress on a terminal: done, total and an ETA",
          rc == 0 and label in txt and count in txt and "ETA " in txt, repr(txt[-200:]))
    check(f"class 12 {what} progress: the bar is erased at the end", txt.endswith("\r\033[K"), repr(txt[-40:]))
    return out


def opt_problem(case, variant, red, e="0.1"):
    """the arguments of fixtures/options' case with its options, weights and sample weights"""
    man = {c["case"]: c for c in json.load(open(os.path.join(FIXTURES, "manifest.json")))["cases"]}
    c, TAKES_W = man[case], ("k-torch-weighted", "k-nll-weighted", "k-logprob-weighted", "bce", "bce-multilabel",
                             "bce-softmax-target")
    f = lambda k: os.path.join(FIXTURES, c["files"][k]["path"])
    a = ["--logits", f("logits"), "--targets", f("targets"), "--variant", variant, "--smoothing", e, "--reduction", red]
    if c["files"].get("weights") and variant in TAKES_W:
        a += ["--weights", f("weights")]
    if c["files"].get("sample_weights"):
        a += ["--sample-weights", f("sample_weights")]
    a += list(c.get("options") or [])
    return a + ([] if case.startswith("opt_soft") else ["--ignore-index", str(c["ignore_index"])])


def outputs_of(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))}


def alloc_points(cmd, d, env, cnt):
    """how many allocations of lsce's own code the command makes (every process's count, max)"""
    if os.path.exists(cnt):
        os.remove(cnt)
    r = cmd(dict(env, LSCE_FAULT_ALLOC_COUNT=cnt))
    n = max([int(x) for x in open(cnt).read().split()] or [0]) if os.path.exists(cnt) else 0
    return r, n


def sample(n, k):
    """up to k allocation points of 1..n: the first and last few, the rest at random"""
    pts = sorted(set(list(range(1, min(n, 4) + 1)) + list(range(max(1, n - 2), n + 1))))
    rest = [x for x in range(1, n + 1) if x not in pts]
    return sorted(pts + rng.sample(rest, min(len(rest), max(0, k - len(pts)))))


LONE = re.compile(r"lsce: rank \d+: failed alone \(exit (\d+)\); the job is aborted$")


def alloc_sweep(what, cmd, d, k=10, env=None, lone=False, section=13):
    """Section 13: a failing allocation at sampled points of cmd(env): exit 2 or 3 with one
    `lsce:` line, nothing on stdout and nothing written, or exit 0 with the stdout and outputs
    of the run without the fault. cmd(env) runs in the empty directory d. lone (lsce-mpi): a rank
    that failed alone adds lsce-mpi's line `lsce: rank <r>: failed alone (exit <rc>); the job is
    aborted` after its own (mpi/lsce_mpi.c), with rc the exit code."""
    env = dict(env or {}, LD_PRELOAD=ALLOC)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    base, n = alloc_points(cmd, d, env, os.path.join(os.path.dirname(d), "alloc-count"))
    want = outputs_of(d)
    check(f"{section} {what}: the run without a fault", base.returncode in (0, 1) and n > 0,
          f"exit {base.returncode}, {n} points, {base.err[-300:]!r}")
    for k in sample(n, k):
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        r = cmd(dict(env, LSCE_FAULT_ALLOC=str(k)))
        got = outputs_of(d)
        lines = r.err.splitlines()
        if lone and len(lines) == 2 and LONE.match(lines[1]) and LONE.match(lines[1]).group(1) == str(r.returncode):
            lines = lines[:1]
        ok = (r.returncode in (2, 3) and r.out == "" and not got and len(lines) == 1 and lines[0].startswith("lsce: ")) or \
             (r.returncode == base.returncode and r.out == base.out and got == want and r.err == base.err)
        check(f"{section} {what}: allocation {k} of {n} fails", ok,
              f"exit {r.returncode} (without the fault {base.returncode}), stdout {r.out[:120]!r}, "
              f"outputs {sorted(got)}, stderr {r.err[-300:]!r}")


def reference_faults(root):
    """Section 14: every allocation point of the MPFR reference's own code (reference/ref_loss.c: its
    scratch balls, the rows kept for a total, the KL row's coprime basis, the gradient's regrouped
    form) and of the figures (verify/measure.c) fails in turn, under `reference`, `check` (k1-kl with
    a gradient: its balls straddle rounding boundaries, so the regrouped form runs) and `compare`:
    each a clean exit 2 or 3 with one line and nothing written, or the run's own result."""
    if not ALLOC or SANITIZED or MPI_ONLY:
        return
    lap("14. the reference and the figures: every allocation fails in turn (tests/fault_alloc.c)")
    d = os.path.join(root, "w14")
    os.makedirs(d, exist_ok=True)
    z = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32)
    for name, arr in (("L14.npy", z), ("T14.npy", np.array([0, 3, 6, 2, 1], dtype=np.int64)),
                      ("W14.npy", np.random.default_rng(2).uniform(0.5, 2, size=7))):
        np.save(os.path.join(root, name), arr)
    L, T, W = (os.path.join(root, f) for f in ("L14.npy", "T14.npy", "W14.npy"))
    P = ["--logits", L, "--targets", T, "--variant", "k1-kl", "--smoothing", "0.1"]
    lo, go = os.path.join(root, "o14.npy"), os.path.join(root, "g14.npy")
    r = run(["reference"] + P + ["--out", lo, "--grad-out", go], d)
    check("14 the claim to check", r.returncode == 0, r.err)
    for what, c in (("reference k1-kl none", ["reference"] + P + ["--reduction", "none", "--out", "o.npy"]),
                    ("check k1-kl --grad", ["check"] + P + ["--loss-file", lo, "--grad", go]),
                    ("compare --weights --pad-index", ["compare", "--logits", L, "--targets", T, "--weights", W,
                                                      "--smoothing", "0.1", "--pad-index", "2"])):
        alloc_sweep(what, lambda e, c=c: run(c, d, env=e), d, k=1000, section=14)


def batch_faults(root):
    """Section 15: one process, several commands (lsce-mpi batch at P = 1): a failing allocation in
    one command leaves nothing behind for the next (cli/cmd_compare.c once kept a side's out-of-memory
    in a file-static flag that no later compare cleared). Each of the last allocation points of a
    compare (its identities' references) fails in turn in the first of two identical compares: the
    first exits 0 as without the fault or 2/3 with no stdout, and the second prints exactly what a
    compare without the fault prints, with exit 0."""
    global skipped
    if not (ALLOC and MPI) or SANITIZED:
        skipped += 1
        print("skip 15 lsce-mpi batch: no --alloc-shim and --mpi (or a sanitized build)")
        return
    lap("15. lsce-mpi batch: a failing allocation in one compare, then the same compare")
    from lsce_testlib import MPI_ENV, parse_batch
    lsce_mpi, mpirun = MPI
    d = os.path.join(root, "w15")
    os.makedirs(d, exist_ok=True)
    z = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32)  # section 14's problem
    for name, arr in (("L.npy", z), ("T.npy", np.array([0, 3, 6, 2, 1], dtype=np.int64)),
                      ("W.npy", np.random.default_rng(2).uniform(0.5, 2, size=7))):
        np.save(os.path.join(d, name), arr)
    line = "compare --logits L.npy --targets T.npy --weights W.npy --smoothing 0.1 --pad-index 2\n"
    one, two = os.path.join(d, "one.batch"), os.path.join(d, "two.batch")
    open(one, "w").write(line)
    open(two, "w").write(line * 2)

    def batch(path, extra):
        env = dict(os.environ, **MPI_ENV, **extra)
        x = [a for k in extra for a in ("-x", k)]
        return subprocess.run([mpirun, "-q", "--oversubscribe", "-np", "1"] + x + ["-x", f"LD_PRELOAD={ALLOC}", lsce_mpi,
                               "batch", path], cwd=d, env=env, capture_output=True, text=True, timeout=60)
    cnt = os.path.join(root, "alloc-count15")
    r = batch(one, {"LSCE_FAULT_ALLOC_COUNT": cnt})
    n = max([int(x) for x in open(cnt).read().split()] or [0]) if os.path.exists(cnt) else 0
    base = parse_batch(r.stdout)
    check("15 the compare without a fault", len(base) == 1 and base[0][0] == 0 and n > 8, f"{base} {n} points {r.stderr[-300:]!r}")
    if not (len(base) == 1 and n > 8):
        return
    for k in range(n - 7, n + 1):
        r = batch(two, {"LSCE_FAULT_ALLOC": str(k)})
        got = parse_batch(r.stdout)
        ok = len(got) == 2 and (got[0] == base[0] or (got[0][0] in (2, 3) and got[0][1] == "")) and got[1] == base[0]
        check(f"15 allocation {k} of {n} fails in the first compare: the second as without it", ok,
              f"got {[(c, o[:80]) for c, o in got]}, stderr {r.stderr[-300:]!r}")


def options_faults(root):
    """Section 13: issue #15's options paths under the faults of sections 1, 6 and the RLIMIT_AS
    sweep, and under a failing allocation of lsce's own code."""
    global skipped
    d = os.path.join(root, "w13")
    os.makedirs(d, exist_ok=True)
    probs = []
    for dt in ("float32", "float64"):
        probs += [(f"{dt} softcap/scale/z-loss", opt_problem(f"opt_softcap_{dt}", "k-torch-weighted", "mean")),
                  (f"{dt} z-loss/sample weights", opt_problem(f"opt_zloss_{dt}", "k1-kl", "none")),
                  (f"{dt} soft targets", opt_problem(f"opt_soft_{dt}", "k", "sum")),
                  (f"{dt} sigmoid", opt_problem(f"opt_sigmoid_{dt}", "bce-softmax-target", "none"))]
    probs.append(("float32 normalizer nonzero", opt_problem("opt_norm_nonzero", "bce-multilabel", "mean")))
    OG = ["--out", "o.npy", "--grad-out", "g.npy"]
    if ALLOC and not SANITIZED:
        lap("13. options: a failing allocation (tests/fault_alloc.c)")
        if not MPI_ONLY:  # the mpi suite runs the lsce-mpi part alone (the quick suite the rest)
            for what, P in probs:
                impl = ["cpu_twopass", "cpu_threads", "cpu_avx2", "cpu_sharded"][len(what) % 4]
                for c in (["reference"] + P + OG, ["run", "--impl", impl] + P + OG):
                    alloc_sweep(f"{what}: {' '.join(c[:3 if c[0] == 'run' else 1])}", lambda e, c=c: run(c, d, env=e), d, k=6)
                ref = run(["reference"] + P, d)
                if ref.returncode == 0 and "--reduction" in P and P[P.index("--reduction") + 1] != "none":
                    v = float(ref.out.split()[0])
                    for claim in (repr(v), repr(v * 1.01 + 0.01)):  # a right and a wrong claim (the diagnosis)
                        alloc_sweep(f"{what}: check --loss {claim}", lambda e, cl=claim: run(["check"] + P + ["--loss", cl], d, env=e), d, k=8)
            man = os.path.join(root, "man13")
            os.makedirs(man, exist_ok=True)
            cases = json.load(open(os.path.join(FIXTURES, "manifest.json")))["cases"]
            keep = [dict(c, files={k: (dict(v, path=os.path.relpath(os.path.join(FIXTURES, v["path"]), man)) if v else v)
                                   for k, v in c["files"].items()})
                    for c in cases if c["case"] in ("opt_softcap_float64", "opt_soft_float32", "opt_sigmoid_float32")]
            with open(os.path.join(man, "manifest.json"), "w") as f:
                json.dump({"cases": keep}, f)
            alloc_sweep("verify --impl cpu_twopass (options cases)",
                        lambda e: run(["verify", "--impl", "cpu_twopass", "--fixtures", man], d, env=e), d, k=8)
        if MPI:
            lsce_mpi, mpirun = MPI
            def on_mpi(c, rank):
                def go(e):
                    e = dict(e, LSCE_MPI_ALONE_S="2")  # a rank that failed alone aborts the job after 2 s
                    x = [a for k in e if k.startswith(("LSCE_FAULT", "LSCE_MPI_ALONE")) for a in ("-x", k)]
                    from lsce_testlib import MPI_ENV
                    env = dict(os.environ, **MPI_ENV, **e)
                    env["LSCE_FAULT_ALLOC_RANK"] = str(rank)
                    env.pop("LD_PRELOAD")  # not on mpirun itself: -x hands it to the ranks
                    p = subprocess.Popen([mpirun, "-q", "--oversubscribe", "-np", "2"] + x + ["-x", "LSCE_FAULT_ALLOC_RANK",
                                         "-x", f"LD_PRELOAD={ALLOC}", lsce_mpi] + c, cwd=d, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                    try:
                        out, err = p.communicate(timeout=20)
                    except subprocess.TimeoutExpired:  # a rank left alone in a collective: the finding
                        os.killpg(p.pid, signal.SIGKILL)
                        out, err = p.communicate()
                        err += b"\n(hung: killed after 20 s)"
                    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
                    r.err, r.out = err.decode(errors="replace"), out.decode(errors="replace")
                    return r
                return go
            for what, P in probs[:4] + probs[4:8:2]:
                for rank in (0, 1):
                    c = ["run", "--impl", "mpi_vocab_parallel"] + P + OG
                    alloc_sweep(f"lsce-mpi -np 2 {what}: run --impl mpi_vocab_parallel, rank {rank}", on_mpi(c, rank), d, k=5,
                                lone=True)
        else:
            skipped += 1
            print("skip 13 lsce-mpi: no --mpi")
    else:
        skipped += 1
        print("skip 13 failing allocations: no --alloc-shim (or a sanitized build)")
    if MPI_ONLY:
        return
    lap("13. options: full disk, RLIMIT_AS, signals")
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    # a full disk: the 64 x 256 problem's gradient does not fit in 64 KiB (class 1)
    rs = np.random.default_rng(SEED)
    for dt in ("float32", "float64"):
        np.save(os.path.join(root, f"L13{dt}.npy"), rs.normal(size=(64, 256)).astype(dt) * 4)
    np.save(os.path.join(root, "T13.npy"), rs.integers(0, 256, 64))
    np.save(os.path.join(root, "S13.npy"), rs.uniform(0, 2, 64))
    for dt in ("float32", "float64"):
        PF = ["--logits", os.path.join(root, f"L13{dt}.npy"), "--targets", os.path.join(root, "T13.npy"),
              "--variant", "k", "--smoothing", "0.1", "--logit-scale", "1.5", "--softcap", "30", "--z-loss", "0.001",
              "--sample-weights", os.path.join(root, "S13.npy"), "--normalizer", "sample-weights"] + OG
        before = snapshot(d)
        for cmd in (["reference"], ["run", "--impl", "cpu_threads"]):
            r = run(cmd + PF, d, pre=limits(fsize=65536))
            expect_fail(f"13 {dt} options {cmd[0]}: --grad-out past RLIMIT_FSIZE", r, 3, d, before,
                        prefix="lsce: g.npy: cannot write: ", contains=os.strerror(errno.EFBIG))
    # RLIMIT_AS: a clean exit 3 or complete outputs; 256 x 4096 logits (the loader alone needs
    # about 24 MiB), the reference only where it fails fast (its success takes 10 s here)
    np.save(os.path.join(root, "T13a.npy"), rs.integers(0, 4096, 256))
    np.save(os.path.join(root, "S13a.npy"), rs.uniform(0, 2, 256))
    for dt in ("float32", "float64"):
        np.save(os.path.join(root, f"L13a{dt}.npy"), (rs.normal(size=(256, 4096)) * 4).astype(dt))
        PA = ["--logits", os.path.join(root, f"L13a{dt}.npy"), "--targets", os.path.join(root, "T13a.npy"),
              "--variant", "k", "--smoothing", "0.1", "--logit-scale", "1.5", "--softcap", "30", "--z-loss", "0.001",
              "--sample-weights", os.path.join(root, "S13a.npy"), "--normalizer", "sample-weights"] + OG
        outcomes = set()
        sweep = [(mib, ["run", "--impl", impl]) for mib in (28, 32, 36, 40, 48, 64) for impl in ("cpu_avx2", "cpu_threads")]
        for mib, cmd in ([] if SANITIZED else sweep + [(28, ["reference"]), (32, ["reference"])]):
            before = snapshot(d)
            r = run(cmd + PA, d, pre=limits(addr=mib << 20))
            if "error while loading shared libraries" in r.err:
                continue
            what = f"13 {dt} options RLIMIT_AS {mib} MiB lsce {' '.join(cmd)}"
            if r.returncode == 0:
                expect_ok(what, r, [(os.path.join(d, "o.npy"), ()), (os.path.join(d, "g.npy"), (256, 4096))])
                os.remove(os.path.join(d, "o.npy"))
                os.remove(os.path.join(d, "g.npy"))
            else:
                expect_fail(what, r, 3, d, before)
            outcomes.add((cmd[0], r.returncode))
        if not SANITIZED:
            check(f"13 {dt} options RLIMIT_AS: run reaches both outcomes", {("run", 0), ("run", 3)} <= outcomes, str(outcomes))
    # signals during the write phase of an options run's large outputs (class 6, fewer tries)
    np.save(os.path.join(root, "L13s.npy"), rs.normal(size=(1024, 8192)).astype(np.float32))
    np.save(os.path.join(root, "T13s.npy"), np.zeros(1024, dtype=np.int64))
    PS = ["run", "--impl", "cpu_avx2", "--logits", os.path.join(root, "L13s.npy"), "--targets", os.path.join(root, "T13s.npy"),
          "--variant", "k", "--smoothing", "0.1", "--softcap", "30", "--logit-scale", "0.5", "--reduction", "none"] + OG
    for it in range(3):
        sig = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP][it]
        e = {k: v for k, v in os.environ.items() if not k.startswith("LSCE_")}
        p = subprocess.Popen([LSCE] + PS, cwd=d, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while p.poll() is None and not temporaries(d) and time.monotonic() - t0 < 60:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.05))
        if p.poll() is None:
            p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        have = [os.path.exists(os.path.join(d, f)) for f in ("o.npy", "g.npy")]
        what = f"13 options run: signal {sig.name} (exit {p.returncode})"
        check(f"{what}: no temporary left", not temporaries(d), str(temporaries(d)))
        check(f"{what}: both outputs or none", have[0] == have[1], str(have))
        check(f"{what}: dies of the signal or exits 0", p.returncode in (0, -sig), err[-300:])
        for f in ("o.npy", "g.npy"):
            if os.path.exists(os.path.join(d, f)):
                os.remove(os.path.join(d, f))


def main():
    global skipped
    print(f"seed {SEED}")
    if BATCH_ONLY:
        with tempfile.TemporaryDirectory() as root:
            batch_faults(root)
        print(f"{passed} passed, {failed} failed, {skipped} skipped")
        return 0 if failed == 0 else 1
    if OPTIONS_ONLY:
        with tempfile.TemporaryDirectory() as root:
            options_faults(root)
        print(f"{passed} passed, {failed} failed, {skipped} skipped")
        return 0 if failed == 0 else 1
    with tempfile.TemporaryDirectory() as root:
        d = os.path.join(root, "w")
        os.mkdir(d)
        z = np.array([[0, .2, .7, .1, 0], [0, .9, .2, .2, 1], [1, .2, .7, .9, 1]], dtype=np.float32)
        np.save(os.path.join(root, "L.npy"), z)
        np.save(os.path.join(root, "T.npy"), np.array([2, 1, 0], dtype=np.int64))
        L, T = os.path.join(root, "L.npy"), os.path.join(root, "T.npy")
        P = ["--logits", L, "--targets", T, "--variant", "k", "--smoothing", "0.1"]
        RUN = ["run", "--impl", "cpu_avx2"] + P
        nul, full = special_nodes(root)
        # a small hand-written fixture directory for verify (class 10 breaks its manifest)
        man_dir = os.path.join(root, "man")
        os.mkdir(man_dir)
        shutil.copy(L, os.path.join(man_dir, "L.npy"))
        shutil.copy(T, os.path.join(man_dir, "T.npy"))
        sha = {f: hashlib.sha256(open(os.path.join(man_dir, f), "rb").read()).hexdigest() for f in ("L.npy", "T.npy")}
        good = {"case": "hand", "regime": "hand", "dtype": "float32", "targets_dtype": "int64", "n": 3, "k": 5,
                "weights_dtype": None, "files": {"logits": {"path": "L.npy", "sha256": sha["L.npy"]},
                                                 "targets": {"path": "T.npy", "sha256": sha["T.npy"]},
                                                 "weights": None},
                "variants": ["k", "k1"], "smoothings": ["0", "0.1"], "reductions": ["mean", "none"],
                "ignore_index": -100, "pad_index": None}

        with open(os.path.join(man_dir, "manifest.json"), "w") as f:
            json.dump({"cases": [good]}, f)

        # ---- 1. two outputs are all-or-nothing

        lap('1. two outputs are all-or-nothing')
        with open(os.path.join(d, "o.npy"), "wb") as f:
            f.write(b"old output")
        os.mkdir(os.path.join(d, "adir"))
        for label, gout in [("a directory", "adir"), ("a missing directory", "nodir/g.npy"),
                            ("below a regular file", "o.npy/g.npy")]:
            for cmd in (["reference"] + P, RUN):
                before = snapshot(d)
                r = run(cmd + ["--out", "o.npy", "--grad-out", gout], d)
                expect_fail(f"class 1 {cmd[0]}: --grad-out {label}", r, 3, d, before,
                            prefix=f"lsce: {gout}: cannot write: ")
        # a disk with 64 KiB free (not less: LLVM's OpenMP runtime sizes a small /dev/shm file at
        # start-up, and dies when even that fails): the loss fits, the 128 KiB gradient does not
        np.save(os.path.join(root, "LF.npy"), np.random.default_rng(SEED).random((64, 256), dtype=np.float32))
        np.save(os.path.join(root, "TF.npy"), np.zeros(64, dtype=np.int64))
        PF = ["--logits", os.path.join(root, "LF.npy"), "--targets", os.path.join(root, "TF.npy"),
              "--variant", "k", "--smoothing", "0.1", "--out", "o.npy", "--grad-out", "g.npy"]
        before = snapshot(d)
        for cmd in (["reference"], ["run", "--impl", "cpu_threads"]):
            r = run(cmd + PF, d, pre=limits(fsize=65536))
            expect_fail(f"class 1 {cmd[0]}: --grad-out past RLIMIT_FSIZE", r, 3, d, before,
                        prefix="lsce: g.npy: cannot write: ", contains=os.strerror(errno.EFBIG))
            r = run(cmd + PF, d, pre=limits(fsize=65536, xfsz_ignored=False))
            expect_fail(f"class 1 {cmd[0]}: RLIMIT_FSIZE with SIGXFSZ at its default", r, 3, d, before,
                        prefix="lsce: g.npy: cannot write: ", contains=os.strerror(errno.EFBIG))
        # the last step failing: the second rename (tests/fault_rename.c) after the first succeeded;
        # the first output is put back (same inode, same bytes), or removed where it was new
        if SHIM:
            with open(os.path.join(d, "g.npy"), "wb") as f:
                f.write(b"old gradient")
            for keep_o in (True, False):
                if not keep_o:
                    os.remove(os.path.join(d, "o.npy"))
                for cmd in (["reference"] + P, RUN):
                    before = snapshot(d)
                    r = run(cmd + ["--out", "o.npy", "--grad-out", "g.npy"], d,
                            env={"LD_PRELOAD": SHIM, "LSCE_FAULT_RENAME": "g.npy"})
                    expect_fail(f"class 1 {cmd[0]}: the rename of --grad-out fails ({'an existing' if keep_o else 'a new'} --out)",
                                r, 3, d, before, prefix="lsce: g.npy: cannot write: ", contains=os.strerror(errno.EBUSY))
            os.remove(os.path.join(d, "g.npy"))
        else:
            skipped += 1
            print("skip class 1 rename failure: no --rename-shim (sanitized build)")
        if os.path.exists(os.path.join(d, "o.npy")):
            os.remove(os.path.join(d, "o.npy"))

        # ---- 2. special files are written through, never replaced; their errors are reported

        lap('2. special files are written through, never replaced; their errors are reported')
        for cmd in (["reference"] + P, RUN):
            r = run(cmd + ["--out", nul, "--grad-out", os.path.join(d, "g.npy")], d)
            expect_ok(f"class 2 {cmd[0]}: --out {nul}", r, [(os.path.join(d, "g.npy"), (3, 5))])
            check(f"class 2 {cmd[0]}: {nul} is still a character device", stat.S_ISCHR(os.stat(nul).st_mode))
            os.remove(os.path.join(d, "g.npy"))
            before = snapshot(d)
            r = run(cmd + ["--out", os.path.join(d, "o.npy"), "--grad-out", full], d)
            expect_fail(f"class 2 {cmd[0]}: --grad-out {full}", r, 3, d, before,
                        prefix=f"lsce: {full}: cannot write: ", contains=os.strerror(errno.ENOSPC))
            check(f"class 2 {cmd[0]}: {full} is still a character device", stat.S_ISCHR(os.stat(full).st_mode))
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=drain_fifo, args=(fifo, got), daemon=True)
        t.start()
        r = run(["reference"] + P + ["--grad-out", fifo], d)
        t.join(30)
        expect_ok("class 2 reference: --grad-out FIFO", r)
        check("class 2: the FIFO is still a FIFO", stat.S_ISFIFO(os.stat(fifo).st_mode))
        check("class 2: the FIFO's reader got the whole gradient",
              got and got[0][:6] == b"\x93NUMPY" and len(got[0]) == 128 + 15 * 8, repr(got[:1])[:80])
        got = []
        t = threading.Thread(target=drain_fifo, args=(fifo, got), daemon=True)
        t.start()
        r = run(["verify", "--impl", "cpu_twopass", "--fixtures", man_dir, "--json", fifo], d)
        t.join(60)
        try:
            schema = json.loads(got[0])["schema"] if got else None
        except ValueError:
            schema = None
        check("class 2 verify: --json FIFO", r.returncode == 0 and schema == 1, r.err)
        if os.path.exists(fifo):
            os.remove(fifo)
        before = snapshot(d)
        r = run(["verify", "--impl", "cpu_twopass", "--fixtures", man_dir, "--json", full], d)
        expect_fail("class 2 verify: --json /dev/full", r, 3, d, before, prefix=f"lsce: {full}: cannot write: ")

        # ---- 3. two outputs naming one file: a usage error

        lap('3. two outputs naming one file: a usage error')
        open(os.path.join(d, "x.npy"), "wb").close()
        os.link(os.path.join(d, "x.npy"), os.path.join(d, "hard.npy"))
        os.symlink("x.npy", os.path.join(d, "sym.npy"))
        os.mkdir(os.path.join(d, "sub"))
        for label, a, b in [("one path", "x.npy", "x.npy"), ("./ spelling", "x.npy", "./x.npy"),
                            ("a hard link", "x.npy", "hard.npy"), ("a symlink", "sym.npy", "x.npy"),
                            ("a new file, two spellings", "new.npy", "sub/../new.npy"),
                            ("an absolute and a relative path", os.path.join(d, "new.npy"), "new.npy")]:
            for cmd in (["reference"] + P, RUN):
                before = snapshot(d)
                r = run(cmd + ["--out", a, "--grad-out", b], d)
                expect_fail(f"class 3 {cmd[0]}: {label}", r, 2, d, before,
                            prefix="lsce: --grad-out: names the same file as --out")
        for f in ("x.npy", "hard.npy", "sym.npy"):
            os.remove(os.path.join(d, f))

        # ---- 4. thread counts: junk is exit 2 naming the knob, huge is capped, failure is exit 3

        lap('4. thread counts: junk is exit 2 naming the knob, huge is capped, failure is exit 3')
        N4 = 4096
        np.save(os.path.join(root, "L4.npy"), np.random.default_rng(SEED).random((N4, 8), dtype=np.float32))
        np.save(os.path.join(root, "T4.npy"), np.zeros(N4, dtype=np.int64))
        P4 = ["run", "--impl", "cpu_threads", "--logits", os.path.join(root, "L4.npy"), "--targets",
              os.path.join(root, "T4.npy"), "--variant", "k", "--smoothing", "0.1", "--reduction", "none"]
        ref4 = run(P4, d)
        expect_ok("class 4 baseline", ref4)
        for junk in ["junk", "-3", "0", "1.5", "12abc", " 4"]:
            before = snapshot(d)
            r = run(P4 + ["--out", "o.npy"], d, env={"LSCE_THREADS": junk})
            expect_fail(f"class 4 LSCE_THREADS={junk!r}", r, 2, d, before, prefix="lsce: LSCE_THREADS: ")
        for huge in ["1000", "100000", "99999999999999999999999"]:
            r = run(P4, d, env={"LSCE_THREADS": huge})
            expect_ok(f"class 4 LSCE_THREADS={huge} (capped)", r)
            check(f"class 4 LSCE_THREADS={huge}: same losses", r.out == ref4.out)
        if SANITIZED:
            skipped += 1
            print("skip class 4 thread creation under RLIMIT_AS: sanitized build")
        else:
            before = snapshot(d)
            r = run(P4 + ["--out", "o.npy"], d, env={"LSCE_THREADS": "256"}, pre=limits(addr=1 << 30, stack=8 << 20))
            expect_fail("class 4 thread creation fails (RLIMIT_AS 1 GiB, 256 threads of 8 MiB stacks)", r, 3, d, before,
                        prefix="lsce: LSCE_THREADS: cannot start 256 threads: ")

        # ---- RLIMIT_AS sweep: every memory failure is a clean exit 3, every success complete

        lap('RLIMIT_AS sweep: every memory failure is a clean exit 3, every success complete')
        np.save(os.path.join(root, "LA.npy"), np.random.default_rng(SEED).random((512, 4096), dtype=np.float32))
        np.save(os.path.join(root, "TA.npy"), np.zeros(512, dtype=np.int64))
        PA = ["--logits", os.path.join(root, "LA.npy"), "--targets", os.path.join(root, "TA.npy"),
              "--variant", "k", "--smoothing", "0.1", "--out", "o.npy", "--grad-out", "g.npy"]
        outcomes = set()
        sweep = [(mib, ["run", "--impl", impl], PA) for mib in range(32, 161, 16) for impl in ("cpu_avx2", "cpu_threads")]
        PR = ["--logits", os.path.join(root, "LA.npy"), "--targets", os.path.join(root, "TA.npy"), "--variant", "k",
              "--smoothing", "0.1", "--reduction", "none", "--out", "o.npy", "--grad-out", "g.npy"]
        sweep += [(mib, ["reference"], PR) for mib in (24, 32, 40, 56, 96)]
        for mib, cmd, args in ([] if SANITIZED else sweep):
            before = snapshot(d)
            r = run(cmd + args, d, pre=limits(addr=mib << 20))
            if "error while loading shared libraries" in r.err:
                continue  # the dynamic loader's own failure, before lsce runs
            what = f"RLIMIT_AS {mib} MiB lsce {' '.join(cmd)}"
            if r.returncode == 0:
                expect_ok(what, r, [(os.path.join(d, "o.npy"), () if cmd[0] == "run" else (512,)),
                                    (os.path.join(d, "g.npy"), (512, 4096))])
                os.remove(os.path.join(d, "o.npy"))
                os.remove(os.path.join(d, "g.npy"))
            else:
                expect_fail(what, r, 3, d, before)
            outcomes.add((cmd[0], r.returncode))
        if SANITIZED:
            skipped += 1
            print("skip RLIMIT_AS sweep: sanitized build")
        else:
            check("RLIMIT_AS sweep reaches both outcomes in run and reference",
                  outcomes == {("run", 0), ("run", 3), ("reference", 0), ("reference", 3)}, str(outcomes))

        # ---- 5. standard output: every write error is exit 3 with one line, no output file left

        lap('5. standard output: every write error is exit 3 with one line, no output file left')
        fx = ["--fixtures", man_dir]
        cmds = [["--help"], ["variants"], ["variants", "--json"], ["impls"], ["impls", "--json"],
                ["reference", "--help"], ["compare"] + P[:4] + ["--smoothing", "0.1"],
                ["check"] + P + ["--loss", "1"], ["verify", "--quick", "--impl", "cpu_twopass"] + fx,
                ["reference"] + P + ["--out", "o.npy", "--grad-out", "g.npy"],
                RUN + ["--out", "o.npy", "--grad-out", "g.npy"],
                ["verify", "--quick", "--impl", "cpu_twopass", "--json", "v.json"] + fx]
        with open(full, "wb") as devfull:
            for c in cmds:
                before = snapshot(d)
                r = run(c, d, stdout=devfull)
                expect_fail(f"class 5 lsce {' '.join(c[:2])} > {full}", r, 3, d, before,
                            prefix="lsce: standard output: cannot write: ")
        for c in cmds[:3]:
            before = snapshot(d)
            with open(os.path.join(root, "stdout.txt"), "wb") as so:
                r = run(c, d, stdout=so, pre=limits(fsize=64))
            expect_fail(f"class 5 lsce {' '.join(c[:2])} > file past RLIMIT_FSIZE", r, 3, d, before,
                        prefix="lsce: standard output: cannot write: ")

        # ---- 6. signals during the write phase of large outputs remove the temporaries

        lap('6. signals during the write phase of large outputs remove the temporaries')
        NS, KS = 1024, 8192  # a 64 MiB float64 gradient
        np.save(os.path.join(root, "LS.npy"), np.random.default_rng(SEED).random((NS, KS), dtype=np.float32))
        np.save(os.path.join(root, "TS.npy"), np.zeros(NS, dtype=np.int64))
        PS = ["run", "--impl", "IMPL", "--logits", os.path.join(root, "LS.npy"), "--targets",
              os.path.join(root, "TS.npy"), "--variant", "k", "--smoothing", "0.1", "--reduction", "none",
              "--out", "o.npy", "--grad-out", "g.npy"]
        in_write = 0
        for it in range(8):
            sig = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP][it % 3]
            e = {k: v for k, v in os.environ.items() if not k.startswith("LSCE_")}
            # cpu_threads leaves idle OpenMP threads that may be the ones the signal reaches
            impl = ["cpu_avx2", "cpu_threads"][it % 2]
            p = subprocess.Popen([LSCE] + [impl if a == "IMPL" else a for a in PS], cwd=d, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            t0 = time.monotonic()
            while p.poll() is None and not temporaries(d) and time.monotonic() - t0 < 60:
                time.sleep(0.0005)
            seen = bool(temporaries(d))
            time.sleep(rng.uniform(0, 0.08))  # a random point of the write phase (or just after)
            if p.poll() is None:
                p.send_signal(sig)
            out, err = p.communicate(timeout=60)
            in_write += seen and p.returncode == -sig
            have = [os.path.exists(os.path.join(d, f)) for f in ("o.npy", "g.npy")]
            what = f"{impl}: signal {sig.name} after {'a temporary appeared' if seen else 'start'} (exit {p.returncode})"
            check(f"class 6 {what}: no temporary left", not temporaries(d), str(temporaries(d)))
            check(f"class 6 {what}: both outputs or none", have[0] == have[1], str(have))
            check(f"class 6 {what}: dies of the signal or exits 0", p.returncode in (0, -sig), err[-300:])
            if all(have):
                g = np.load(os.path.join(d, "g.npy"), mmap_mode="r")
                check(f"class 6 {what}: a gradient that exists is complete", g.shape == (NS, KS))
                os.remove(os.path.join(d, "o.npy"))
                os.remove(os.path.join(d, "g.npy"))
        print(f"class 6: {in_write} of 8 signals landed while a temporary existed")
        check("class 6: some signals landed inside the write phase", in_write > 0, f"{in_write} of 8")

        # ---- 7. long but legal names

        lap('7. long but legal names')
        for n in (250, 255):
            name = "o" * (n - 4) + ".npy"
            for cmd in (["reference"] + P, RUN):
                r = run(cmd + ["--out", name, "--grad-out", "g" * (n - 4) + ".npy"], d)
                expect_ok(f"class 7 {cmd[0]}: {n}-byte output names", r,
                          [(os.path.join(d, name), ()), (os.path.join(d, "g" * (n - 4) + ".npy"), (3, 5))])
                os.remove(os.path.join(d, name))
                os.remove(os.path.join(d, "g" * (n - 4) + ".npy"))

        # ---- 8. LSCE_MAX_PRECISION below the starting precision: one rule everywhere

        lap('8. LSCE_MAX_PRECISION below the starting precision: one rule everywhere')
        for c in (["reference"] + P, ["compare"] + P[:4] + ["--smoothing", "0.1"], ["check"] + P + ["--loss", "1"],
                  ["verify", "--quick", "--impl", "cpu_twopass"] + fx):
            before = snapshot(d)
            r = run(c, d, env={"LSCE_MAX_PRECISION": "32"})
            expect_fail(f"class 8 {c[0]}: LSCE_MAX_PRECISION=32", r, 2, d, before,
                        prefix="lsce: LSCE_MAX_PRECISION: 32 is below the starting precision 64")
        before = snapshot(d)
        r = run(["reference"] + P + ["--precision", "100"], d, env={"LSCE_MAX_PRECISION": "64"})
        expect_fail("class 8 reference --precision 100 under LSCE_MAX_PRECISION=64", r, 2, d, before,
                    prefix="lsce: --precision: 100 is outside [16, 64]")
        r = run(["reference"] + P + ["--precision", "32"], d, env={"LSCE_MAX_PRECISION": "1000"})
        expect_ok("class 8 reference --precision 32 under LSCE_MAX_PRECISION=1000", r)

        # ---- 9. long lines keep their message

        lap('9. long lines keep their message')
        for n in (1100, 3000):
            before = snapshot(d)
            long_dir = "/".join(["d" * 200] * (n // 201))
            r = run(["reference", "--logits", long_dir + "/L.npy"] + P[2:], d)
            expect_fail(f"class 9 a {n}-byte path", r, 3, d, before, prefix="lsce: ddd",
                        contains="L.npy: cannot open: ")
            check(f"class 9 a {n}-byte path: the middle is cut, marked", "..." in r.err and len(r.err) < 1100,
                  r.err[-200:])
            r = run(["reference"] + P + ["--out", long_dir + "/o.npy"], d)
            check(f"class 9 --out in a {n}-byte path: ends with the reason",
                  r.returncode == 3 and r.err.rstrip("\n").endswith(("No such file or directory",
                                                                     "File name too long")), r.err[-200:])

        # ---- 10. verify with a hand-written manifest, validated fully

        lap('10. verify with a hand-written manifest, validated fully')
        def verify_with(case):
            with open(os.path.join(man_dir, "manifest.json"), "w") as f:
                json.dump({"cases": [case]}, f)
            return run(["verify", "--impl", "cpu_twopass", "--fixtures", man_dir], d)

        r = verify_with(good)
        check("class 10 a good hand-written manifest (SHA-256 as hashlib computes it) passes",
              r.returncode == 0 and r.out.endswith("1 passed, 0 failed, 0 skipped\n"), r.err + r.out)
        M = f"lsce: {man_dir}/manifest.json: case hand: "
        bad_cases = [
            ("an unknown variant only", dict(good, variants=["nope"]), "variants: unknown variant 'nope' (see lsce variants)"),
            ("a bad smoothing", dict(good, smoothings=["0.1", "1.5"]), "smoothings: '1.5' is not a decimal in [0, 1]"),
            ("a bad reduction", dict(good, reductions=["avg"]), "reductions: 'avg' is not mean, sum or none"),
            ("a wrong dtype", dict(good, dtype="float64"), "\"dtype\" does not match the file, which holds float32"),
            ("a wrong targets dtype", dict(good, targets_dtype="int32"), "\"targets_dtype\" does not match"),
            ("a wrong n", dict(good, n=4), "\"n\" and \"k\" do not match the logits, of shape (3, 5)"),
            ("a wrong k", dict(good, k=6), "\"n\" and \"k\" do not match the logits"),
            ("a wrong sha256", dict(good, files=dict(good["files"], targets={"path": "T.npy", "sha256": sha["L.npy"]})),
             "files.targets: T.npy does not match its recorded sha256"),
            ("a malformed sha256", dict(good, files=dict(good["files"], logits={"path": "L.npy", "sha256": "xyz"})),
             "files.logits: \"sha256\" must be 64 lowercase hex digits"),
            ("no targets file", dict(good, files={"logits": {"path": "L.npy"}}), "files.targets: missing"),
            ("a weighted variant without weights", dict(good, variants=["k-torch-weighted"]),
             "variant k-torch-weighted needs a weights file"),
            ("k2-pad-kl without a pad index", dict(good, variants=["k2-pad-kl"]), "variant k2-pad-kl needs a pad_index"),
            ("variants not an array", dict(good, variants="k"), "\"variants\" must be a non-empty array of strings"),
            ("empty smoothings", dict(good, smoothings=[]), "\"smoothings\" must be a non-empty array of strings"),
            ("a fractional ignore_index", dict(good, ignore_index=1.5), "\"ignore_index\" must be an integer"),
        ]
        for label, case, msg in bad_cases:
            before = snapshot(d)
            r = verify_with(case)
            expect_fail(f"class 10 manifest with {label}", r, 2, d, before, prefix=M + msg)
        r = verify_with({k: v for k, v in good.items() if k != "case"})
        check("class 10 a case without a name is named by its index",
              r.returncode == 2 and r.err.startswith(f"lsce: {man_dir}/manifest.json: case #0: needs a \"case\" string"),
              r.err)

        # ---- 11. OMP_NUM_THREADS junk: lsce ignores it, stderr stays clean

        lap('11. OMP_NUM_THREADS junk: lsce ignores it, stderr stays clean')
        for junk in ["abc", "-1", "0", "4,junk", "99999999"]:
            for c in (P4, ["reference"] + P):
                r = run(c, d, env={"OMP_NUM_THREADS": junk, "OMP_THREAD_LIMIT": junk})
                expect_ok(f"class 11 OMP_NUM_THREADS={junk!r} {c[0]}", r)
                if c is P4:
                    check(f"class 11 OMP_NUM_THREADS={junk!r}: same losses", r.out == ref4.out)

        # other knobs: junk is exit 2 naming the knob
        for knob, junk in [("LSCE_ISA", "sse9"), ("LSCE_SPLIT", "x"), ("LSCE_SHARDS", "0"), ("LSCE_KEEP", "2"),
                           ("LSCE_CERTIFY", "slow"), ("LSCE_MAX_PRECISION", "lots")]:
            before = snapshot(d)
            r = run(RUN, d, env={knob: junk})
            expect_fail(f"knob {knob}={junk!r}", r, 2, d, before, prefix=f"lsce: {knob}: ")
        for knob, val in [("LSCE_ISA", "scalar"), ("LSCE_SPLIT", "3"), ("LSCE_SHARDS", "7"), ("LSCE_KEEP", "0"),
                          ("LSCE_CERTIFY", "reference"), ("LSCE_THREADS", "3")]:
            expect_ok(f"knob {knob}={val}", run(RUN, d, env={knob: val}))

        # ---- 12. progress on a terminal only

        lap('12. progress on a terminal only')
        NP = 80000  # pass 1 of the reference (where the bar is drawn) must outlast a second on a fast machine too
        np.save(os.path.join(root, "LP.npy"), np.random.default_rng(SEED).random((NP, 64), dtype=np.float32))
        np.save(os.path.join(root, "TP.npy"), np.zeros(NP, dtype=np.int64))
        PP = ["reference", "--logits", os.path.join(root, "LP.npy"), "--targets", os.path.join(root, "TP.npy"),
              "--variant", "k", "--smoothing", "0.1"]
        out = progress_on_pty("reference", PP, d, "lsce: reference: ", f"/{NP} rows (")
        if out is not None:
            check("class 12 progress: stdout untouched", out.count("\n") == 1 and "rows" not in out, repr(out))
        many = os.path.join(root, "many")
        os.mkdir(many)
        for f in ("L.npy", "T.npy"):
            shutil.copy(os.path.join(man_dir, f), os.path.join(many, f))
        with open(os.path.join(many, "manifest.json"), "w") as f:
            json.dump({"cases": [dict(good, case=f"hand{i}") for i in range(1200)]}, f)
        PV = ["verify", "--impl", "cpu_twopass", "--fixtures", many]
        progress_on_pty("verify", PV, d, "lsce: verify: ", "/1200 cases (")
        expect_ok("class 12 verify: no progress when stderr is not a terminal", run(PV, d))
        r = run(PP, d)
        expect_ok("class 12 no progress when stderr is not a terminal", r)

        # ---- 13. issue #15's options paths

        options_faults(root)

        # ---- 14. the reference and the figures under a failing allocation

        reference_faults(root)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
