#!/usr/bin/python3
"""report/make_report.py: writes report/REPORT.md and its SVG figures from lsce's data files.

It runs `lsce variants`, `lsce impls`, `lsce compare` (the seed example and a generated K = 32000
case) and `lsce check` (the article's misprint) itself and saves what they print in the data
folder; it reads verify-*.json, peers-*.json, bench-*.json and gpu/*.json when they exist. Every
number in the report is read from one of those files (each section names its file) or computed
from them; the only typed numbers are the targets of docs/accuracy.md and the article's quotations.
Same inputs, same bytes out (no dates of its own, SVG ids salted, files sorted).

usage: make_report.py [--data report/data] [--out report/REPORT.md] [--lsce build/cli/lsce]
                      [--offline]
  --offline  do not run lsce: use the compare/check/variants/impls JSONs already in --data
"""
import argparse
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True          # importing fixtures/golden.py must not write into the tree
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
from golden import sha256_file  # noqa: E402  (the fixtures' own SHA-256 helper)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (report/speed.py: the sweep, accuracy-vs-speed, history, GPU anchors)

# --- inputs lsce is run on ------------------------------------------------------------------------
SEED_DIR = "fixtures/seed"
SEED_SMOOTHINGS = ["0.1", "0.3", "0.5"]
SEED_PAD = 4
BIG = {"n": 8, "k": 32000, "seed": 0x6C736365, "smoothing": "0.1", "pad_index": 0,
       "weights_low": 0.5, "weights_high": 1.5}
# The article's printed values (quotations of "Label Smoothing in PyTorch", docs/formulations.md).
ARTICLE_K = "1.3883"     # k at e = 0.3
ARTICLE_K1 = "1.4178"    # its K-1 classes, code passes e = 0.5
CHECKS = [("k1", "0.5", ARTICLE_K1), ("k", "0.3", ARTICLE_K)]
E_MAP_BASE = ["0.1", "0.2", "0.3"]
E_MAP_K = [2, 5, 10, 1000, 32000, 50257, 128256, 256000]

# --- docs/accuracy.md "Targets" (specification, not measurements) --------------------------------------
CPU_SHAPE = (4096, 32000)
GPU_SHAPE = (4096, 128256)
CPU_TORCH_RATIO = 10.0
CPU_FWD_READ_FRACTION = 0.60
CPU_FWDBWD_COPY_FRACTION = 0.50
GPU_COPY_FRACTION = 0.90
GPU_TORCH_EAGER_RATIO = 5.0
GPU_TORCH_COMPILE_RATIO = 1.0
CERTIFIER_SECONDS = 30.0

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
ROW_RE = re.compile(r"^(fwd|fwdbwd)/([^/]+)/([^/]+)/N:(\d+)/K:(\d+)$")
PROBE_RE = re.compile(r"^bandwidth/(.+?)/threads:(\d+)$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


# ==================================================================================================
# small helpers
# ==================================================================================================
def rel(path):
    return os.path.relpath(os.path.abspath(path), ROOT)


def num(x):
    """A JSON number, or the "inf"/"-inf"/"nan" strings of docs/cli.md; None when absent."""
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str) and x in ("inf", "-inf", "nan"):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def fnum(x, fmt="%.3g"):
    """A number as the report prints it: fmt for finite values; inf, -inf, nan as lsce prints
    them; "-" when missing."""
    x = num(x)
    if x is None:
        return "-"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return fmt % x


def g17(x):
    """As lsce prints a value: %.17g, and 0 for either zero."""
    return "0" if num(x) == 0 else fnum(x, "%.17g")


def fu(x):
    """An ulp figure: 3 significant digits, and 0."""
    return "0" if num(x) == 0 else fnum(x)


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def table(headers, rows, align=None):
    align = align or ["l"] * len(headers)
    sep = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(cell(h) for h in headers) + " |",
           "|" + "|".join(sep[a] for a in align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(cell(c) for c in r) + " |")
    return out


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


# ==================================================================================================
# figures
# ==================================================================================================
def setup_matplotlib():
    plt.rcParams.update({
        "svg.hashsalt": "lsce", "svg.fonttype": "none", "font.size": 9, "axes.titlesize": 9,
        "axes.labelsize": 9, "legend.fontsize": 7.5, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
        "path.simplify": False})


def savefig(fig, figdir, name, made):
    os.makedirs(figdir, exist_ok=True)
    path = os.path.join(figdir, name)
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    made.append(name)
    return "figures/" + name


def fig_emapping(figdir, made):
    ks = np.unique(np.round(np.logspace(np.log10(2), np.log10(256000), 600)).astype(np.int64))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for e, c in zip(E_MAP_BASE, colors):
        ev = float(Fraction(e))
        ax.plot(ks, ev * ks / (ks - 1), color=c, lw=1.6, label="$e_{K-1}$ = %s" % e)
        ax.axhline(ev, color=c, lw=0.8, ls=":")
    for kk, lab in ((5, "seed, K=5"), (32000, "K=32000"), (128256, "K=128256")):
        ax.axvline(kk, color="#888888", lw=0.6, ls="--")
        ax.text(kk, 0.01, lab + " ", fontsize=7, color="#555555", rotation=90, va="bottom",
                ha="right")
    ax.set_xscale("log")
    ax.set_xlim(2, 256000)
    ax.set_ylim(0, 0.64)
    ax.set_xlabel("number of classes K")
    ax.set_ylabel("$e_K$ (the K-form smoothing)")
    ax.set_title("A (K-1)-form smoothing $e_{K-1}$ is the K-form's $e_K = e_{K-1}K/(K-1)$")
    ax.legend(loc="upper right", frameon=True, framealpha=1.0, edgecolor="none")
    return savefig(fig, figdir, "e-mapping.svg", made)


def fig_optimum(seed, target, figdir, made):
    """Small bar charts: p* over the 5 classes, one panel per variant, bars per smoothing."""
    runs = seed["runs"]
    ids = [v["id"] for v in runs[0]["compare"]["variants"]]
    ids = [i for i in ids if any(_variant(r, i) and _variant(r, i).get("optimum") for r in runs)]
    if not ids:
        return None
    ncol = 4
    nrow = (len(ids) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(8.6, 2.1 * nrow), sharey=True, squeeze=False)
    shades = ["#9ecae1", "#4292c6", "#08519c"]
    ymax = 0
    for idx, vid in enumerate(ids):
        ax = axes[idx // ncol][idx % ncol]
        width = 0.8 / len(runs)
        for j, r in enumerate(runs):
            v = _variant(r, vid)
            opt = [num(x) for x in (v.get("optimum") or [])]
            if not opt:
                continue
            xs = np.arange(len(opt)) + (j - (len(runs) - 1) / 2) * width
            ax.bar(xs, opt, width=width, color=shades[j % len(shades)],
                   label="e = %s" % r["smoothing"])
            ymax = max(ymax, max(opt))
        ax.set_title(vid, fontsize=8.5)
        ax.set_xticks(range(len(opt)))
        ax.set_xticklabels(["c%d" % c for c in range(len(opt))])
        ax.tick_params(axis="x", length=0)
    for idx in range(len(ids), nrow * ncol):
        axes[idx // ncol][idx % ncol].axis("off")
    for row in axes:
        row[0].set_ylabel("p*")
        row[0].set_ylim(0, max(1.0, ymax * 1.05))
    axes[0][0].legend(loc="upper left", frameon=False, fontsize=7)
    fig.suptitle("The distribution p* each variant drives the model to (seed example, first "
                 "row%s)" % ("" if target is None else ", target class %d" % target), fontsize=9)
    fig.tight_layout()
    return savefig(fig, figdir, "optimum-seed.svg", made)


def fig_heatmap(rows, cols, loss, grad, figdir, made):
    """rows: labels; loss/grad: dict (row, col) -> worst ulp (float). Colour: log10 ulp."""
    vmin, vmax = -10.0, 4.0
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.62 * len(cols) + 2.2),
                                            2 * (0.32 * len(rows) + 1.1)))
    cmap = plt.get_cmap("RdYlBu_r").copy()
    cmap.set_bad("#eeeeee")
    norm = TwoSlopeNorm(vmin=vmin, vcenter=0.0, vmax=vmax)
    for ax, vals, title in ((axes[0], loss, "worst loss error (ulp)"),
                            (axes[1], grad, "worst gradient error (ulp)")):
        m = np.full((len(rows), len(cols)), np.nan)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                v = vals.get((r, c))
                if v is None:
                    continue
                if math.isnan(v) or math.isinf(v):
                    m[i, j] = vmax
                elif v <= 0:
                    m[i, j] = vmin
                else:
                    m[i, j] = min(max(math.log10(v), vmin), vmax)
        mesh = ax.pcolormesh(np.ma.masked_invalid(m), cmap=cmap, norm=norm, edgecolors="white",
                             linewidth=0.5)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                v = vals.get((r, c))
                txt = "" if v is None else fu(v)
                if txt:
                    ax.text(j + 0.5, i + 0.5, txt, ha="center", va="center", fontsize=6.5)
        ax.set_xticks(np.arange(len(cols)) + 0.5)
        ax.set_xticklabels(cols, rotation=35, ha="right")
        ax.set_yticks(np.arange(len(rows)) + 0.5)
        ax.set_yticklabels(rows)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.tick_params(length=0)
        for s in ax.spines.values():
            s.set_visible(False)
        cb = fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.01)
        cb.set_label("log10 ulp", fontsize=7.5)
        cb.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return savefig(fig, figdir, "accuracy-heatmap.svg", made)


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]


def line_style(label, index):
    """torch: black dashed; torch.compile: grey dash-dot; lsce rows: a colour and marker each."""
    if is_torch_compile(label):
        return dict(color="#666666", ls="-.", marker="x", ms=5, lw=1.2)
    if label.startswith("torch"):
        return dict(color="black", ls="--", marker="x", ms=5, lw=1.2)
    return dict(color=PALETTE[index % len(PALETTE)], marker=MARKERS[index % len(MARKERS)], ms=4,
                lw=1.3)


def fig_speed(title, panels, figdir, name, made):
    """panels: list of (panel title, [(label, [(K, GB/s)])], [(probe label, GB/s)])."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.5), squeeze=False)
    labels = sorted({lab for _, lines, _ in panels for lab, _ in lines
                     if not lab.startswith("torch")})
    for ax, (ptitle, lines, probes) in zip(axes[0], panels):
        for label, pts in lines:
            pts = sorted(pts)
            if not pts:
                continue
            idx = labels.index(label) if label in labels else 0
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label,
                    **line_style(label, idx))
        greys = ["#999999", "#555555", "#bbbbbb", "#333333", "#c47a00", "#7a4a00", "#d9a441", "#5c3300"]
        for i, (plabel, bw) in enumerate(probes):
            ax.axhline(bw, color=greys[i % len(greys)], lw=1.0, ls=":", label=plabel)
        ax.set_xscale("log")
        ax.set_xlabel("classes K")
        ax.set_ylabel("GB/s (bytes moved / median time)")
        ax.set_ylim(bottom=0)
        ax.set_title(ptitle)
        ax.legend(frameon=False, fontsize=6.5, loc="best")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return savefig(fig, figdir, name, made)


def fig_gpu_bars(b, ctx, figdir, made):
    """Grouped bars: one group per (mode, dtype, N x K), a bar per row, PyTorch and the copy."""
    dorder = {"bfloat16": 0, "float32": 1, "float16": 2, "float64": 3}
    shapes = sorted({(m, d, n, k) for (m, i, d, n, k) in b.rows},
                    key=lambda x: (x[0], dorder.get(x[1], 9), x[2] * x[3], x[2]))
    impls = sorted({i for (m, i, d, n, k) in b.rows},
                   key=lambda i: (i.startswith("torch"), is_torch_compile(i), i))
    series = impls + ["d2d copy"]
    if not shapes:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.25 * len(shapes) + 1.5), 3.6))
    width = 0.8 / len(series)
    lsce_rows = [i for i in impls if not i.startswith("torch")]
    for j, sname in enumerate(series):
        xs, ys = [], []
        for x, (m, d, n, k) in enumerate(shapes):
            if sname == "d2d copy":
                cps = [e.get("copy_gbs") for (m2, i2, d2, n2, k2), e in sorted(b.rows.items())
                       if (m2, d2, n2, k2) == (m, d, n, k) and e.get("copy_gbs")]
                y = cps[0] if cps else None
            else:
                e = b.rows.get((m, sname, d, n, k))
                y = e["gbs"] if e else None
            if y:
                xs.append(x + (j - (len(series) - 1) / 2) * width)
                ys.append(y)
        if not xs:
            continue
        if sname == "d2d copy":
            style = dict(color="#bbbbbb", hatch="//", edgecolor="#777777")
        elif is_torch_compile(sname):
            style = dict(color="#666666")
        elif sname.startswith("torch"):
            style = dict(color="black")
        else:
            style = dict(color=PALETTE[lsce_rows.index(sname) % len(PALETTE)])
        ax.bar(xs, ys, width=width, label=sname, **style)
    ax.set_xticks(range(len(shapes)))
    ax.set_xticklabels(["%s %s\n%dx%d" % s for s in shapes], fontsize=7)
    ax.set_ylabel("GB/s (bytes moved / time)")
    ax.set_title("GPU: %s, %s" % (ctx.get("gpu", "?"), ctx.get("date", "?")))
    ax.legend(frameon=False, fontsize=7, ncol=min(len(series), 6), loc="upper center",
              bbox_to_anchor=(0.5, -0.16))
    fig.tight_layout()
    return savefig(fig, figdir, "speed-gpu.svg", made)


def _variant(run_, vid):
    for v in run_["compare"]["variants"]:
        if v["id"] == vid:
            return v
    return None


# ==================================================================================================
# bench JSON
# ==================================================================================================
class Bench:
    """Google Benchmark JSON: rows fwd|fwdbwd/<impl>/<dtype>/N:<n>/K:<k>, probes bandwidth/..."""

    def __init__(self, doc):
        self.doc = doc
        self.ctx = doc.get("context", {}) or {}
        self.rows = {}      # (mode, impl, dtype, n, k) -> dict(ms, gbs, label, counters)
        self.probes = {}    # (kind, threads) -> best GB/s
        self.other = {}     # name -> dict(ms, items_per_second, label)
        self.errors = []    # (name, message)
        groups = {}
        for b in doc.get("benchmarks", []) or []:
            name = b.get("run_name") or b.get("name", "")
            name = re.sub(r"/(manual_time|real_time)$", "", name)
            if b.get("error_occurred"):
                self.errors.append((name, str(b.get("error_message", ""))))
                continue
            rt = b.get("run_type", "iteration")
            if rt == "aggregate" and b.get("aggregate_name") not in ("median", "max"):
                continue
            groups.setdefault(name, {"iteration": [], "median": [], "max": []})
            key = "iteration" if rt != "aggregate" else b.get("aggregate_name")
            groups[name][key].append(b)
        for name in sorted(groups):
            g = groups[name]
            its = g["iteration"] or g["median"]
            pm = PROBE_RE.match(name)
            if pm:
                vals = [num(b.get("bytes_per_second")) for b in g["iteration"] + g["max"]]
                vals = [v for v in vals if v is not None and math.isfinite(v)]
                if vals:
                    self.probes[(pm.group(1), int(pm.group(2)))] = max(vals) / 1e9
                continue
            if not its:
                continue
            m = ROW_RE.match(name)
            ms = statistics.median(_time_ms(b) for b in its)
            bps = [num(b.get("bytes_per_second")) for b in its]
            bps = [v for v in bps if v is not None]
            gbs = statistics.median(bps) / 1e9 if bps else None
            if gbs is None and m and ms:
                # lsce-dev gpubench and torch_gpu.py lines: real_time_ms only; the bytes a row
                # must move are the logits (fwd), plus the gradient written (fwdbwd).
                moved = _row_bytes(m.group(1), m.group(3), int(m.group(4)), int(m.group(5)))
                gbs = moved / (ms * 1e-3) / 1e9 if moved else None
            ips = [num(b.get("items_per_second")) for b in its]
            ips = [v for v in ips if v is not None]
            ent = {"ms": ms, "gbs": gbs,
                   "items_per_second": statistics.median(ips) if ips else None,
                   "label": its[0].get("label", ""),
                   "threads": num(its[0].get("n_threads")), "name": name,
                   "copy_ms": num(its[0].get("copy_ms")),
                   "fraction_of_copy": num(its[0].get("fraction_of_copy")),
                   # the exact CPU rows' ladder (bench/lsce_bench.c): fractions of the rows
                   "rows_accurate": num(its[0].get("rows_accurate")),
                   "rows_safe": num(its[0].get("rows_safe")),
                   "rows_reference": num(its[0].get("rows_reference"))}
            if m:
                if ent["copy_ms"] and ent["copy_ms"] > 0:
                    # the device-to-device copy of the logits' bytes: one read and one write
                    cb = _row_bytes("fwdbwd", m.group(3), int(m.group(4)), int(m.group(5)))
                    ent["copy_gbs"] = cb / (ent["copy_ms"] * 1e-3) / 1e9 if cb else None
                self.rows[(m.group(1), m.group(2), m.group(3), int(m.group(4)),
                           int(m.group(5)))] = ent
            else:
                self.other[name] = ent

    def label_field(self, ent, key):
        for tok in (ent.get("label") or "").split():
            if tok.startswith(key + "="):
                return tok[len(key) + 1:]
        return None

    def tier(self, impl, ent, impls_tier):
        t = self.label_field(ent, "tier")
        if t:
            return t
        if impl.startswith("torch"):
            return "peer"
        return impls_tier.get(impl, "?")

    def probe_for(self, kind, threads):
        """Best GB/s of the probe kind (read/copy) at these threads; also names with 'kind' in.
        The outside figures of the same run (bench/probes.h: numpy's sum at 1 thread for read,
        memcpy at these threads for copy) replace the project's loop where they are higher."""
        outside = {"read": ("numpy_sum", 1), "copy": ("memcpy", threads)}.get(kind)
        if outside and outside in self.probes and self.probes[outside] > self.probes.get((kind, threads), 0):
            return self.probes[outside], "bandwidth/%s/threads:%d" % outside
        if (kind, threads) in self.probes:
            return self.probes[(kind, threads)], "bandwidth/%s/threads:%d" % (kind, threads)
        cand = [(bw, "bandwidth/%s/threads:%d" % (k, t)) for (k, t), bw in self.probes.items()
                if kind in k]
        return max(cand) if cand else (None, None)


DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2, "float16": 2}


def _row_bytes(mode, dtype, n, k):
    es = DTYPE_BYTES.get(dtype)
    if not es:
        return None
    return n * k * es * (2 if mode == "fwdbwd" else 1)


def _time_ms(b):
    if num(b.get("real_time_ms")) is not None:
        return num(b.get("real_time_ms"))
    return num(b.get("real_time")) * UNIT_MS.get(b.get("time_unit", "ns"), 1e-6)


def is_torch(impl):
    return impl == "torch" or impl.startswith("torch_eager") or impl == "torch-eager"


PEER_PREFIXES = ("torch", "tfjs")  # outside implementations: peers, never held to lsce's bounds


def is_torch_compile(impl):
    return impl.startswith("torch") and "compile" in impl


# ==================================================================================================
# the report
# ==================================================================================================
class Report:
    def __init__(self, args):
        self.data = os.path.abspath(args.data)
        self.out = os.path.abspath(args.out)
        self.figdir = os.path.join(os.path.dirname(self.out), "figures")
        self.lsce = args.lsce
        self.src = Sources()
        self.made = []
        self.md = []
        self.impls_tier = {}
        self.impls_doc = None
        self.notes = []

    def p(self, *lines):
        self.md.extend(lines)

    def read(self, name):
        path = os.path.join(self.data, name)
        if not os.path.exists(path):
            return None, rel(path)
        try:
            doc = load_json(path)
        except (ValueError, OSError) as ex:
            self.notes.append("%s could not be read: %s" % (rel(path), ex))
            return None, rel(path)
        return doc, self.src.add(path)

    # ----------------------------------------------------------------------------------------------
    def build(self):
        setup_matplotlib()
        self.p("# lsce report: label-smoothing cross-entropy, formulations, accuracy and speed", "",
               "Generated by `report/make_report.py` (`scripts/report`) from the data files named "
               "in each section; section 5 lists them with their SHA-256 and says how to "
               "regenerate each. Numbers are read from those files, never typed; the article's "
               "printed values are quotations.", "")
        self.p("Contents: [1. The catalog](#1-the-catalog) · [2. Discrepancies]"
               "(#2-discrepancies-between-the-formulations) · [3. Accuracy](#3-accuracy) · "
               "[4. Speed](#4-speed) · [5. How to reproduce](#5-how-to-reproduce)", "")
        impls, self.impls_path = self.read("impls.json")
        if impls:
            self.impls_doc = impls
            self.impls_tier = {r["name"]: r.get("tier", "?") for r in impls.get("impls", [])}
        self.section_catalog()
        self.section_discrepancies()
        self.section_megatron()
        self.section_accuracy()
        self.section_tfjs()
        self.section_speed()
        self.section_mpi()
        self.section_reproduce()
        return "\n".join(self.md).rstrip("\n") + "\n"

    # ----------------------------------------------------------------------------------------------
    def section_catalog(self):
        self.p("## 1. The catalog", "")
        doc, path = self.read("variants.json")
        if not doc:
            self.p(no_data("scripts/report", "it runs `lsce variants --json` into `%s`" % path),
                   "")
            return
        self.p("Source: `%s` (`%s`). Every variant is, per row i of V (rows whose target is not "
               "ignored), `L_i = A_i (-lp_y) + B_i sum_{c in S} u_c (-lp_c) - C_i` with "
               "`lp = z - logsumexp(z)`: it is the cross-entropy against the smoothed target q "
               "below, with the class weights applied as stated, divided by the mean's "
               "denominator (docs/formulations.md has A, B, u, S, C for each)." % (
                   path, doc.get("command", "lsce variants --json")), "")
        rows = []
        for v in doc["variants"]:
            support = v.get("support", "")
            kl = "yes: minus H(q)" if v.get("kl") else "no"
            needs = []
            if v.get("needs_weights"):
                needs.append("weights")
            if v.get("needs_pad_index"):
                needs.append("pad index")
            rows.append(["`%s`" % v["id"], v.get("target_mass", ""), v.get("off_mass", ""),
                         support, v.get("weights", ""), v.get("mean_denominator", ""), kl,
                         str(v.get("min_K", "")), ", ".join(needs) or "-",
                         v.get("used_by", "")])
        self.p(*table(["id", "q: target class", "q: each other class", "support S",
                       "class weights", "mean divides by", "KL form", "min K", "needs",
                       "used by"], rows))
        self.p("", "e is exactly the number passed to the library's API; `|V|` counts the valid "
               "rows, `W` = sum over V of w[y_i]. The users are the census in "
               "`docs/formulations.md` (its Sources section), as `lsce variants` carries "
               "them.", "")

    # ----------------------------------------------------------------------------------------------
    def section_discrepancies(self):
        self.p("## 2. Discrepancies between the formulations", "")
        seed, seed_path = self.read("compare-seed.json")
        self.p("### 2.1 One input, eight answers: the seed example", "")
        if not seed:
            self.p(no_data("scripts/report", "it runs `lsce compare --json` into `%s`" % seed_path),
                   "")
        else:
            self.seed_tables(seed, seed_path)
        big, big_path = self.read("compare-k32000.json")
        self.p("### 2.2 A realistic size: K = 32000", "")
        if not big:
            self.p(no_data("scripts/report", "it writes `%s`" % big_path), "")
        else:
            self.big_table(big, big_path)
        self.p("### 2.3 The same \"0.1\" in the K and K-1 forms", "")
        self.emapping()
        self.p("### 2.4 Where each variant drives the model", "")
        if not seed:
            self.p(no_data("scripts/report"), "")
        else:
            self.optimum(seed, seed_path)
        self.p("### 2.5 The article's misprinted number", "")
        chk, chk_path = self.read("check-article.json")
        if not chk or not seed:
            self.p(no_data("scripts/report", "it runs `lsce check` into `%s`" % chk_path), "")
        else:
            self.article(seed, seed_path, chk, chk_path)

    def seed_tables(self, seed, path):
        runs = seed["runs"]
        shown = {}
        for name in ("logits", "targets", "weights"):
            fpath = os.path.join(ROOT, SEED_DIR, name + ".npy")
            if os.path.exists(fpath):
                shown[name] = np.load(fpath)
                self.src.add(fpath)
        what = "`%s/`" % SEED_DIR
        if "logits" in shown and "targets" in shown:
            z, t = shown["logits"], shown["targets"]
            what = "the %dx%d %s logits %s with targets %s (`%s/`)" % (
                z.shape[0], z.shape[1], z.dtype,
                json.dumps([[float("%.9g" % x) for x in r] for r in z.tolist()]),
                json.dumps(t.tolist()), SEED_DIR)
        wtxt = ("class weights %s" % json.dumps([float("%.9g" % x) for x in shown["weights"]])
                if "weights" in shown else "the class weights")
        self.p("The article \"Label Smoothing in PyTorch\" uses %s. With the %s "
               "(`%s/weights.npy`) and pad index %d, lsce computes every variant exactly (the "
               "correctly rounded float64 of the mean). Source: `%s`, written by `%s`." % (
                   what, wtxt, SEED_DIR, seed.get("pad_index", SEED_PAD), path,
                   runs[0]["command"].replace("--smoothing %s" % runs[0]["smoothing"],
                                              "--smoothing E")), "")
        ids = [v["id"] for v in runs[0]["compare"]["variants"]]
        rows = []
        for vid in ids:
            rows.append(["`%s`" % vid] + [g17(_variant(r, vid)["value"]) if _variant(r, vid)
                                          else "-" for r in runs])
        self.p(*table(["variant"] + ["e = %s" % r["smoothing"] for r in runs], rows,
                      ["l"] + ["r"] * len(runs)))
        spread = []
        for r in runs:
            vals = [num(v["value"]) for v in r["compare"]["variants"]
                    if num(v["value"]) is not None]
            ce = [num(v["value"]) for v in r["compare"]["variants"]
                  if num(v["value"]) is not None and "kl" not in v["id"]]
            spread.append("%s to %s at e = %s (%s without the KL forms)" % (
                fnum(min(vals), "%.4f"), fnum(max(vals), "%.4f"), r["smoothing"],
                "%s to %s" % (fnum(min(ce), "%.4f"), fnum(max(ce), "%.4f"))))
        self.p("", "Across the catalog the same input and the same e give losses from " +
               "; ".join(spread) + ". The identities `lsce compare` proves on the same input "
               "(both sides computed "
               "independently at high precision):", "")
        rows = []
        for r in runs:
            for idn in r["compare"].get("identities", []):
                rows.append([idn["name"], r["smoothing"], g17(idn["lhs"]), g17(idn["rhs"]),
                             "holds" if idn.get("holds") else "**fails**"])
        self.p(*table(["identity", "e", "lhs", "rhs", "verdict"], rows,
                      ["l", "r", "r", "r", "l"]), "")

    def big_table(self, big, path):
        cmp_ = big["compare"]
        gen = big.get("generator", {})
        self.p("Source: `%s`: `%s` on an N = %d, K = %d float32 input generated by make_report.py "
               "(numpy %s; SHA-256 of each generated file in the JSON), e = %s, pad index %d "
               "for `k2-pad-kl`." % (path, big.get("command", "lsce compare"), gen.get("n", 0),
                                     gen.get("k", 0), gen.get("numpy", ""),
                                     big.get("smoothing"), big.get("pad_index", -1)), "")
        kv = None
        for v in cmp_["variants"]:
            if v["id"] == "k":
                kv = num(v["value"])
        rows = []
        for v in cmp_["variants"]:
            val = num(v["value"])
            s = v.get("optimum_summary") or {}
            diff = "-" if (val is None or kv is None) else ("0" if v["id"] == "k" else
                                                             "%+.3e" % (val - kv))
            if not s:
                others = "-"
            elif fnum(s.get("off_min"), "%.4g") == fnum(s.get("off_max"), "%.4g"):
                others = fnum(s.get("off_min"), "%.4g")
            else:
                others = "%s to %s" % (fnum(s.get("off_min"), "%.4g"),
                                       fnum(s.get("off_max"), "%.4g"))
            rows.append(["`%s`" % v["id"], g17(val), diff, fnum(s.get("target"), "%.7f"), others])
        self.p(*table(["variant", "loss (mean)", "minus `k`", "p* of the target class",
                       "p* of each other class"], rows, ["l", "r", "r", "r", "r"]), "")
        ids = cmp_.get("identities", [])
        held = sum(1 for i in ids if i.get("holds"))
        vals = {v["id"]: num(v["value"]) for v in cmp_["variants"]}
        wdiff = [abs(x - kv) for i, x in vals.items()
                 if "weighted" in i and x is not None and kv is not None]
        k1d = abs(vals["k1"] - kv) if vals.get("k1") is not None and kv is not None else None
        self.p("At this K the K and K-1 forms differ in the %s digit (|`k1` - `k`| = %s); the "
               "class weights move the loss by up to %s (the largest |weighted - `k`|). "
               "Identities: %d of %d hold (%s)." % (
                   self._first_diff_digit(cmp_), fnum(k1d, "%.3g"),
                   fnum(max(wdiff), "%.3g") if wdiff else "-", held, len(ids),
                   ", ".join("`%s` %s" % (i["name"], "holds" if i.get("holds") else "FAILS")
                             for i in ids)), "")

    @staticmethod
    def _first_diff_digit(cmp_):
        vals = {v["id"]: num(v["value"]) for v in cmp_["variants"]}
        a, b = vals.get("k"), vals.get("k1")
        if a is None or b is None or a == b:
            return "no"
        d = abs(a - b) / abs(a)
        n = int(math.floor(-math.log10(d))) + 1
        suf = {1: "st", 2: "nd", 3: "rd"}.get(n if n < 20 else n % 10, "th")
        return "%d%s significant" % (n, suf)

    def emapping(self):
        link = fig_emapping(self.figdir, self.made)
        self.p("A (K-1)-form library (fairseq since Feb 2021, Megatron-LM, NeMo, T5X) with "
               "smoothing e_{K-1} computes exactly the K-form loss (PyTorch, Keras, optax) at "
               "e_K = e_{K-1} K/(K-1) (`lsce compare` proves `k1=k` above). The curves are that "
               "formula; the table is computed from it exactly by make_report.py.", "",
               "![e_K against K for e_{K-1} = %s](%s)" % (", ".join(E_MAP_BASE), link), "")
        rows = []
        for k in E_MAP_K:
            r = ["%d" % k]
            for e in E_MAP_BASE:
                ek = Fraction(e) * k / (k - 1)
                r.append("%.6g (%s)" % (float(ek), ek) if ek.denominator < 10**4 else
                         "%.6g" % float(ek))
            rows.append(r)
        self.p(*table(["K"] + ["e_K for e_{K-1} = %s" % e for e in E_MAP_BASE], rows,
                      ["r"] * (1 + len(E_MAP_BASE))), "")

    def optimum(self, seed, path):
        target = None
        tpath = os.path.join(ROOT, SEED_DIR, "targets.npy")
        if os.path.exists(tpath):
            target = int(np.load(tpath)[0])
        link = fig_optimum(seed, target, self.figdir, self.made)
        runs = seed["runs"]
        self.p("Minimising a variant's loss over one row drives softmax(z) to p* = kappa / "
               "sum(kappa) (kappa_c is the coefficient of -lp_c). Class weights move that "
               "optimum away from the smoothed target: PyTorch's weighted loss aims at p* "
               "proportional to w_c q_c (pytorch#104776). Source: `%s` (the `optimum` of each "
               "variant, first row of the seed example%s)." % (
                   path, "" if target is None else ", whose target is class %d" % target), "")
        if link:
            self.p("![p* for each variant](%s)" % link, "")
        e0 = runs[0]
        opt_len = max(len(v.get("optimum") or []) for v in e0["compare"]["variants"])
        rows = []
        for v in e0["compare"]["variants"]:
            opt = v.get("optimum")
            rows.append(["`%s`" % v["id"]] + ([fnum(x, "%.4f") for x in opt] if opt else
                                              ["-"] * opt_len))
        self.p("p* at e = %s:" % e0["smoothing"], "")
        self.p(*table(["variant"] + ["class %d" % c for c in range(opt_len)], rows,
                      ["l"] + ["r"] * opt_len), "")

    def article(self, seed, seed_path, chk, path):
        runs = {r["smoothing"]: r for r in seed["runs"]}

        def val(e, vid):
            r = runs.get(e)
            v = _variant(r, vid) if r else None
            return num(v["value"]) if v else None

        k03, k105, k103 = val("0.3", "k"), val("0.5", "k1"), val("0.3", "k1")
        self.p("The article prints %s for its NLL-combination classes (`k` at e = 0.3) and %s for "
               "its K-1 classes, whose code passes smoothing 0.5 (both quoted from the "
               "article). From `%s`:" % (ARTICLE_K, ARTICLE_K1, seed_path), "")
        rows = []
        for vid, e, v in (("k", "0.3", k03), ("k1", "0.5", k105), ("k1", "0.3", k103)):
            rows.append(["`%s`" % vid, e, g17(v), "%.5g" % v if v is not None else "-"])
        self.p(*table(["variant", "e", "exact value (float64)", "to the article's 5 digits"],
                      rows, ["l", "r", "r", "r"]), "")
        ok_k = k03 is not None and "%.5g" % k03 == ARTICLE_K
        ok_typo = k103 is not None and "%.5g" % k103 == ARTICLE_K1 and (
            k105 is None or "%.5g" % k105 != ARTICLE_K1)
        verdict = ("the K-1 form at e = 0.3: the article's check was run at e = 0.3, not at the "
                   "0.5 its code shows, a typo in the article rather than a third formula"
                   if ok_typo else "not the K-1 form at e = 0.3 by these data")
        self.p("So %s is %s, and %s is %s. `lsce check` finds this from the printed number alone "
               "(source: `%s`):" % (
                   ARTICLE_K, "correct to its printed digits" if ok_k else
                   "NOT what lsce computes", ARTICLE_K1, verdict, path), "")
        for c in chk.get("checks", []):
            self.p("```", "$ " + c["command"], *c.get("stdout", []), "```", "")
        self.p("`FAIL` is the verdict at lsce's float32 bound (1 ulp); the `match` and `cause` lines "
               "are check's diagnosis over every variant, mean and sum, at the given e, at the e that "
               "library conventions map it to, and -- for a value typed with few digits -- at an e of "
               "at most 2 significant digits that reproduces every printed digit (one full-precision "
               "value is never solved for e). `cause accuracy` says the value is the claimed "
               "formulation within its printed digits, `cause formulation` that it is another one; "
               "`values=1`: the decision rests on one number. `ulp=` is the distance in float32 ulps; "
               "the partner in parentheses is the same loss in the other form (e_K = e_{K-1} K/(K-1) "
               "with K = 5).", "")

    # ----------------------------------------------------------------------------------------------
    def gpu_runs(self):
        """(accepted [(path, doc)] newest first, rejected [(path, reason)])."""
        if hasattr(self, "_gpu"):
            return self._gpu
        acc, rej = [], []
        for path in sorted(glob.glob(os.path.join(self.data, "gpu", "*.json"))):
            r = rel(path)
            try:
                doc = load_json(path)
            except (ValueError, OSError) as ex:
                rej.append((r, "not valid JSON (%s)" % str(ex).splitlines()[0][:80]))
                continue
            ctx = doc.get("context") if isinstance(doc, dict) else None
            if not isinstance(ctx, dict):
                rej.append((r, "no context"))
                continue
            why = []
            commit = ctx.get("commit")
            if not isinstance(commit, str) or commit.strip().lower() in ("", "unknown", "none"):
                why.append("no commit")
            sha = ctx.get("binary_sha256")
            if not isinstance(sha, str) or not sha:
                why.append("no binary_sha256")
            elif not SHA_RE.match(sha.lower()):
                why.append("binary_sha256 is not a SHA-256")
            if why:
                rej.append((r, ", ".join(why)))
                continue
            self.src.add(path)
            acc.append((r, doc))
        acc.sort(key=lambda x: (str(x[1]["context"].get("date", "")), x[0]), reverse=True)
        self._gpu = (acc, rej)
        return self._gpu

    def section_accuracy(self):
        self.p("## 3. Accuracy", "")
        sources = []   # (label, source file, results, context)
        for path in sorted(glob.glob(os.path.join(self.data, "verify-*.json"))):
            doc, r = self.read(os.path.basename(path))
            if doc:
                sources.append(("", r, doc))
        for path in sorted(glob.glob(os.path.join(self.data, "peers-*.json"))):
            doc, r = self.read(os.path.basename(path))
            if doc:
                sources.append(("", r, doc))
        acc, _ = self.gpu_runs()
        if acc:
            r, doc = acc[0]
            for key in ("verify", "peers"):
                if isinstance(doc.get(key), dict) and doc[key].get("results"):
                    sources.append((" (%s)" % (doc["context"].get("gpu") or "GPU"),
                                    "%s: %s" % (r, key), doc[key]))
        sources = [s for s in sources if s[2].get("results")]
        if not sources:
            self.p(no_data("build/cli/lsce verify --json report/data/verify-cpu.json",
                           "and `/usr/bin/python3 fixtures/peers/torch_peer.py` for the PyTorch "
                           "peer table `report/data/peers-torch.json`; GPU runs go to "
                           "`report/data/gpu/`"), "")
            return
        self.p("Sources: %s. Each figure is the worst error over every case of a regime (all "
               "variants, smoothings, reductions and dtypes of its fixtures), in ulps of the "
               "result's type against the exact value (docs/accuracy.md \"The ulp metric\": the "
               "loss in float32 ulps for float32, bfloat16 and float16 inputs, in float64 ulps "
               "for float64; the gradient row-normwise in the input type)." % ", ".join(
                   "`%s`" % s[1] for s in sources), "")
        regimes = []
        loss, grad = {}, {}
        summary = []
        rows = []
        worst = {}  # dtype -> [bound_l, bound_g, worst_l, worst_g, where_l, where_g]
        for suffix, srcname, doc in sources:
            res = doc.get("results", []) or []
            impl_order = []
            for x in res:
                if x.get("regime") not in regimes:
                    regimes.append(x.get("regime"))
                if _impl_key(x) not in impl_order:
                    impl_order.append(_impl_key(x))
            for impl in impl_order:
                label = "%s%s" % (impl, suffix)
                if label in rows:
                    label = "%s [%s]" % (label, srcname)
                rows.append(label)
                mine = [x for x in res if _impl_key(x) == impl]
                npass = sum(1 for x in mine if x.get("pass") is True)
                nfail = sum(1 for x in mine if x.get("pass") is False)
                wl = (None, None)
                wg = (None, None)
                for x in mine:
                    key = (label, x.get("regime"))
                    lv, gv = num(x.get("loss_ulp")), num(x.get("grad_ulp"))
                    if lv is not None:
                        loss[key] = _worse(loss.get(key), lv)
                        if _is_worse(lv, wl[0]):
                            wl = (lv, x)
                    if gv is not None:
                        grad[key] = _worse(grad.get(key), gv)
                        if _is_worse(gv, wg[0]):
                            wg = (gv, x)
                    if not impl.startswith(PEER_PREFIXES):
                        d = x.get("dtype")
                        w = worst.setdefault(d, [x.get("bound_loss_ulp"), x.get("bound_grad_ulp"),
                                                 None, None, None, None])
                        if lv is not None and _is_worse(lv, w[2]):
                            w[2], w[4] = lv, "%s %s" % (label, _where(x))
                        if gv is not None and _is_worse(gv, w[3]):
                            w[3], w[5] = gv, "%s %s" % (label, _where(x))
                tier = self.impls_tier.get(impl.split(" ")[0],
                                           "peer" if impl.startswith(PEER_PREFIXES) else "?")
                summary.append([label, tier, srcname, str(len(mine)),
                                "%d / %d" % (npass, nfail) if npass + nfail else "-",
                                "%s (%s)" % (fu(wl[0]), _where(wl[1])) if wl[1] else "-",
                                "%s (%s)" % (fu(wg[0]), _where(wg[1])) if wg[1] else "-"])
        self.p(*table(["implementation", "tier", "source", "results", "pass / fail",
                       "worst loss ulp (where)", "worst gradient ulp (where)"], summary,
                      ["l", "l", "l", "r", "r", "l", "l"]), "")
        link = fig_heatmap(rows, regimes, loss, grad, self.figdir, self.made)
        self.p("![worst ulp per implementation and regime](%s)" % link, "",
               "The colour is log10 of the worst ulp (blue: far below 1 ulp; red: above); grey: "
               "no case of that regime ran. The same figures as tables:", "")
        for title, vals in (("Worst loss error (ulp)", loss), ("Worst gradient error (ulp)",
                                                                 grad)):
            self.p("**%s**" % title, "")
            trs = [[r] + [fu(vals.get((r, c))) for c in regimes] for r in rows]
            self.p(*table(["implementation"] + regimes, trs, ["l"] + ["r"] * len(regimes)), "")
        if worst:
            self.p("**Against the bounds** (docs/accuracy.md \"Targets\"; the bound each result carries "
                   "from its registry row), over every lsce row above; headroom = bound / worst:",
                   "")
            trs = []
            for d in ("float32", "bfloat16", "float16", "float64"):
                if d not in worst:
                    continue
                bl, bg, wl, wg, whl, whg = worst[d]
                trs.append([d, fu(bl), fu(wl), _headroom(bl, wl), whl or "-", fu(bg), fu(wg),
                            _headroom(bg, wg), whg or "-"])
            for d in sorted(k for k in worst if k not in ("float32", "bfloat16", "float16",
                                                          "float64")):
                bl, bg, wl, wg, whl, whg = worst[d]
                trs.append([str(d), fu(bl), fu(wl), _headroom(bl, wl), whl or "-", fu(bg), fu(wg),
                            _headroom(bg, wg), whg or "-"])
            self.p(*table(["input dtype", "loss bound", "worst loss", "headroom", "where",
                           "gradient bound", "worst gradient", "headroom", "where"], trs,
                          ["l", "r", "r", "r", "l", "r", "r", "r", "l"]), "")
        if self.impls_doc:
            fast = [r for r in self.impls_doc.get("impls", []) if r.get("tier") == "fast"]
            if fast:
                self.p("Fast-tier rows declare their own bounds (`%s`): %s." % (
                    self.impls_path, "; ".join("%s %s" % (r["name"], ", ".join(
                        "%s loss %s grad %s" % (d, fu(b.get("loss_ulp")), fu(b.get("grad_ulp")))
                        for d, b in sorted(r.get("bounds", {}).items()))) for r in fast)), "")

    # ----------------------------------------------------------------------------------------------
    def section_tfjs(self):
        """TF.js (issue 13): the second outside peer, what check's diagnosis says about each of its
        failures, what lsce identify recovers from it, and its semantic findings."""
        self.p("### 3.1 A second outside peer: TensorFlow.js under check's diagnosis", "")
        doc, path = self.read("peers-tfjs.json")
        if not doc or not doc.get("results"):
            self.p(no_data("/usr/bin/python3 fixtures/peers/tfjs_peer.py",
                           "after `scripts/setup` installed node and the TF.js packages; it writes "
                           "`report/data/peers-tfjs.json`"), "")
            return
        ctx, res = doc["context"], doc["results"]
        self.p("Source: `%s` (`/usr/bin/python3 fixtures/peers/tfjs_peer.py`; TF.js %s, tfjs-core + "
               "tfjs-backend-cpu, node %s, commit %s). `tf.losses.softmaxCrossEntropy(oneHot(y), z, w, e, "
               "R)` computes the `k` formulation in float32 (it has no class weights, so no other catalog "
               "variant); every fixture listing `k` runs at each of its smoothings and reductions, the "
               "gradient by `tf.grad` of the `Reduction.NONE` loss with an explicit dy. `lsce check` "
               "judges each result at 1 and 2 float32 ulps and, on a FAIL, its diagnosis names the cause "
               "(`accuracy`: the claimed `k` computed inaccurately, within the noise model of a float32 "
               "implementation; `formulation`: another catalog form; `unknown`: nothing in the catalog "
               "explains the values, typically a NaN or inf where the exact value is finite)." % (
                   path, ctx.get("tfjs_version", "?"), ctx.get("node_version", "?"), ctx.get("commit", "?")), "")
        regimes = []
        for x in res:
            if x["regime"] not in regimes:
                regimes.append(x["regime"])
        rows = []
        for rg in regimes + [None]:
            mine = [x for x in res if rg is None or x["regime"] == rg]
            causes = {}
            for x in mine:
                if x.get("pass") is False:
                    k = (x.get("cause") or "no diagnosis").split(" ")[0]
                    causes[k] = causes.get(k, 0) + 1
            wl = wg = None
            for x in mine:
                wl = _worse(wl, num(x.get("loss_ulp"))) if num(x.get("loss_ulp")) is not None else wl
                wg = _worse(wg, num(x.get("grad_ulp"))) if num(x.get("grad_ulp")) is not None else wg
            rows.append([rg or "**all**", str(len(mine)), str(sum(1 for x in mine if x.get("pass") is True)),
                         ", ".join("%s %d" % kv for kv in sorted(causes.items())) or "-", fu(wl), fu(wg)])
        self.p(*table(["regime", "results", "pass", "failures by cause", "worst loss ulp",
                       "worst gradient ulp"], rows, ["l", "r", "r", "l", "r", "r"]), "")
        unk = sorted({x["case"] for x in res if (x.get("cause") or "").startswith("unknown")})
        acc = [x for x in res if (x.get("cause") or "").startswith("accuracy")]
        if acc:
            same = sum(1 for x in acc if x["cause"].startswith("accuracy variant=k smoothing=%s " % x["smoothing"])
                       or x["cause"] == "accuracy variant=k smoothing=%s" % x["smoothing"])
            off = [x for x in acc if x["regime"] == "offset"]
            self.p("%d of the %d `accuracy` diagnoses name `k` at the smoothing the run used: TF.js's values "
                   "are the right formulation, rounded more than lsce's bounds allow." % (same, len(acc)) + (
                       " On logits near 1e4 (`offset` regime) its loss is up to %s float32 ulps off and its "
                       "gradient up to %s: the log-sum-exp is rounded to float32 near 1e4 (ulp 2^-10) before "
                       "`z_c - lse` and `exp(z_c - lse)`, which is inside the diagnosis's noise model (a few "
                       "ulp_float32(max|z|) per log-probability) but far outside 1 ulp of the loss." % (
                           fu(max(num(x.get("loss_ulp")) or 0 for x in off)),
                           fu(max(num(x.get("grad_ulp")) or 0 for x in off))) if off else ""), "")
        if unk:
            self.p("`unknown` (TF.js gives NaN or inf where the exact loss or gradient is finite) occurs "
                   "on %s: a -inf logit with a zero label gives 0 * -inf = NaN at e = 0 (`masked_*`), and the "
                   "per-row 0/1 weights TF.js needs for ignored rows (it has no ignore index) multiply "
                   "the NaN logits those rows hold (0 * NaN)." % (
                       ", ".join("`%s`" % u for u in unk)), "")
        ident = ctx.get("identify") or {}
        if ident.get("stdout"):
            self.p("`lsce probe` + `lsce identify` on TF.js run at e = %s (%s) print `%s` (exit %s)." % (
                ident["smoothing"], "; ".join("`%s`" % cmd for cmd in ident.get("commands", [])),
                ident["stdout"], ident.get("exit")), "")
        notes = ctx.get("notes") or []
        if notes:
            self.p("Semantic findings, each measured by `node fixtures/peers/tfjs/tfjs_peer.mjs findings`:", "")
            for n in notes:
                self.p("- " + n)
            self.p("")

    # ----------------------------------------------------------------------------------------------
    def section_speed(self):
        self.p("## 4. Speed", "")
        self.p("### 4.1 CPU", "")
        # The full sweep (scripts/bench --full) when there is one, else the quick grid.
        doc, path = self.read("bench-cpu-full.json")
        if not doc:
            doc, path = self.read("bench-cpu.json")
        cpu = Bench(doc) if doc else None
        if not cpu:
            self.p(no_data("scripts/bench", "it writes `report/data/bench-cpu.json`"), "")
        else:
            self.speed_cpu(cpu, path)
        self.accuracy_speed(cpu, path if doc else None)
        self.history()
        self.p("### 4.2 GPU", "")
        acc, rej = self.gpu_runs()
        gpu = None
        if not acc:
            self.p(no_data("scripts/gpu-check", "on a machine with the GPU; it writes "
                           "`report/data/gpu/<date>-<commit>.json`"), "")
        else:
            r, gdoc = acc[0]
            gpu = (r, gdoc, Bench(gdoc["bench"]) if isinstance(gdoc.get("bench"), dict) else None)
            self.speed_gpu(*gpu, others=acc[1:])
        self.gpu_anchors(gpu)
        if rej:
            self.p("Rejected GPU files (a run must carry the commit and the SHA-256 of the binary "
                   "it ran):", "")
            self.p(*table(["file", "reason"], [[f, why] for f, why in rej]), "")
        self.p("### 4.3 Targets", "")
        # The targets are judged on the quick run (scripts/run's, report/data/bench-cpu.json) when
        # there is one: the sweep is long and may run on a loaded machine (its context says).
        qdoc, qpath = self.read("bench-cpu.json")
        if qdoc:
            self.targets(Bench(qdoc), qpath, gpu)
        else:
            self.targets(cpu, path if doc else None, gpu)

    def speed_points(self, bench, mode, dtype, n):
        lines = {}
        for (m, impl, d, nn, k), ent in bench.rows.items():
            if m == mode and d == dtype and nn == n and ent["gbs"] is not None:
                lines.setdefault(impl, []).append((k, ent["gbs"]))
        order = sorted(lines, key=lambda i: (is_torch(i) or i.startswith("torch"), i))
        return [(i, lines[i]) for i in order]

    def pick_n(self, bench, dtype, prefer):
        ns = {}
        for (m, impl, d, n, k) in bench.rows:
            if d == dtype:
                ns[n] = ns.get(n, 0) + 1
        if not ns:
            return None
        if prefer in ns:
            return prefer
        return max(ns, key=lambda n: (ns[n], n))

    def speed_cpu(self, b, path):
        ctx = b.ctx
        self.p("Source: `%s` (%s; %s; commit %s; %s CPUs; torch %s). GB/s is the bytes a row "
               "must move (the logits, plus the gradient written for fwdbwd) over the median "
               "time; variant k, e = 0.1, mean, logits N(0,1), uniform targets. The dotted lines "
               "are the bandwidth probes of the same run (read for fwd, copy for fwdbwd; best of "
               "the repetitions)." % (path, ctx.get("machine", "?"), ctx.get("compiler", "?"),
                                      ctx.get("commit", "?"), ctx.get("num_cpus", "?"),
                                      ctx.get("torch_version", "?")), "")
        dtypes = []
        for (m, impl, d, n, k) in sorted(b.rows):
            if d not in dtypes:
                dtypes.append(d)
        dorder = {"float32": 0, "bfloat16": 1, "float16": 2, "float64": 3}
        dtypes.sort(key=lambda d: (dorder.get(d, 9), d))
        sweep = speed.has_sweep(b)
        if sweep:
            self.p(*speed.sweep_markdown(b, path, line_style, self.save))
        self.p(*speed.ladder_markdown(b))
        for d in dtypes if not sweep else []:
            n = self.pick_n(b, d, CPU_SHAPE[0])
            panels = []
            for mode, kind in (("fwd", "read"), ("fwdbwd", "copy")):
                lines = self.speed_points(b, mode, d, n)
                if not lines:
                    continue
                probes = [("probe %s, %d thread%s" % (kd, t, "s" if t > 1 else ""), bw)
                          for (kd, t), bw in sorted(b.probes.items()) if kd == kind]
                if mode == "fwd" and d == "float32":  # the ceilings read float32, as these rows do
                    probes += [("%s ceiling (%s), %d thread%s" % (
                        "exact-tier exp" if kd == "exp64" else "float32 exp", kd, t,
                        "s" if t > 1 else ""), bw)
                        for (kd, t), bw in sorted(b.probes.items()) if kd in ("exp32", "exp64")]
                panels.append(("%s, %s, N = %d" % (mode, d, n), lines, probes))
            if panels:
                link = fig_speed("CPU: GB/s against K (%s, %s)" % (d, ctx.get("machine", "?")),
                                 panels, self.figdir, "speed-cpu-%s.svg" % d, self.made)
                self.p("![CPU GB/s against K, %s](%s)" % (d, link), "")
        # the table at the target shape
        n, k = CPU_SHAPE
        trs = []
        for d in dtypes:
            for mode, kind in (("fwd", "read"), ("fwdbwd", "copy")):
                torch_ent = b.rows.get((mode, "torch", d, n, k))
                for (m, impl, dd, nn, kk), ent in sorted(b.rows.items()):
                    if (m, dd, nn, kk) != (mode, d, n, k):
                        continue
                    thr = int(ent["threads"] or 1)
                    bw, pname = b.probe_for(kind, thr)
                    frac = ent["gbs"] / bw if (bw and ent["gbs"]) else None
                    ratio = (torch_ent["ms"] / ent["ms"]) if (torch_ent and not is_torch(impl)
                                                             and ent["ms"]) else None
                    trs.append([mode, d, impl, b.tier(impl, ent, self.impls_tier), str(thr),
                                fnum(ent["ms"], "%.4g"), fnum(ent["gbs"], "%.3g"),
                                "%.1f%% of %s" % (100 * frac, pname) if frac is not None else "-",
                                "%.2fx" % ratio if ratio is not None else "-"])
        if trs:
            self.p("At %dx%d (the target shape):" % (n, k), "")
            self.p(*table(["mode", "dtype", "row", "tier", "threads", "ms", "GB/s",
                           "fraction of probe", "PyTorch time / row time"], trs,
                          ["l", "l", "l", "l", "r", "r", "r", "l", "r"]), "")
        else:
            self.p("The run has no row at %dx%d." % (n, k), "")
        probes = ["%s/threads:%d %.3g GB/s" % (kd, t, bw)
                  for (kd, t), bw in sorted(b.probes.items())]
        if probes:
            self.p("Probes (best): " + ", ".join(probes) + ".", "")
        for t in (2, 1):
            ce, c64, rd = (b.probes.get((k, t)) for k in ("exp32", "exp64", "read"))
            if ce and rd:
                txt = ("The exp ceilings (%d threads, widest vectors): `bandwidth/exp32` reads float32 "
                       "logits and sums a float32-accurate exp of each (degree-7 polynomial, nothing "
                       "else) at %.3g GB/s, %.1f%% of the read probe: no row that evaluates one exp per "
                       "logit can reach a larger fraction on this machine." % (t, ce, 100 * ce / rd))
                if c64:
                    txt += (" `bandwidth/exp64` does the same with the exact rows' double exp (the "
                            "accuracy their bounds need): %.3g GB/s, %.1f%% of the read probe, the "
                            "ceiling of the exact tier." % (c64, 100 * c64 / rd))
                self.p(txt, "")
                break
        ref = [(nm, e) for nm, e in sorted(b.other.items()) if nm.startswith("reference/")]
        for nm, e in ref:
            self.p("The certified reference (`%s`): %s ms per call, %s logits/s." % (
                nm, fnum(e["ms"], "%.4g"), fnum(e["items_per_second"], "%.3g")), "")
        if b.errors:
            self.p("Rows that did not run (%d): %s." % (len(b.errors), "; ".join(
                "`%s`: %s" % (nm, msg[:120]) for nm, msg in b.errors[:12])) +
                   (" ..." if len(b.errors) > 12 else ""), "")

    def speed_gpu(self, r, doc, b, others):
        ctx = doc["context"]
        self.p("Newest run: `%s`, **%s**, dated %s (driver %s, CUDA %s, commit %s, binary "
               "SHA-256 `%s`)." % (r, ctx.get("gpu", "?"), ctx.get("date", "?"),
                                    ctx.get("driver", "?"), ctx.get("cuda", "?"),
                                    ctx.get("commit", "?"), ctx.get("binary_sha256", "?")), "")
        if others:
            self.p("Older accepted runs: %s." % ", ".join("`%s` (%s, %s)" % (
                o[0], o[1]["context"].get("gpu", "?"), o[1]["context"].get("date", "?"))
                for o in others), "")
        summ = doc.get("summary")
        if isinstance(summ, dict) and summ:
            self.p("Its summary:", "")
            self.p(*table(["key", "value"], [[k, _flat(v)] for k, v in summ.items()]), "")
        if not b or not b.rows:
            self.p("The run has no timings.", "")
            return
        self.p("Device-resident data, CUDA events (`lsce-dev gpubench`; PyTorch eager and "
               "torch.compile from `bench/peers/torch_gpu.py`). GB/s is the bytes a row must "
               "move (the logits, plus the gradient for fwdbwd) over its time; \"d2d copy\" is "
               "a device-to-device copy of the logits' bytes timed in the same run (one read and "
               "one write, so fwdbwd's limit; fwd's limit is half its time).", "")
        link = fig_gpu_bars(b, ctx, self.figdir, self.made)
        if link:
            self.p("![GPU GB/s per shape](%s)" % link, "")
        trs = []
        dorder = {"bfloat16": 0, "float32": 1, "float16": 2, "float64": 3}
        keys = sorted(b.rows, key=lambda x: (x[0], dorder.get(x[2], 9), x[3], x[4],
                                              x[1].startswith("torch"), x[1]))
        for key in keys:
            m, impl, d, n, k = key
            ent = b.rows[key]
            copy = self.copy_for(b, key)
            frac = ent.get("fraction_of_copy")
            if frac is None and copy and ent["ms"]:
                frac = (copy[0] if m == "fwdbwd" else copy[0] / 2) / ent["ms"]
            trs.append([m, d, "%dx%d" % (n, k), impl, b.tier(impl, ent, self.impls_tier),
                        fnum(ent["ms"], "%.4g"), fnum(ent["gbs"], "%.4g"),
                        fnum(copy[0], "%.4g") if copy else "-",
                        "%.1f%%" % (100 * frac) if frac is not None else "-"])
        self.p(*table(["mode", "dtype", "N x K", "row", "tier", "ms", "GB/s", "d2d copy ms",
                       "fraction of the copy's limit"], trs,
                      ["l", "l", "r", "l", "l", "r", "r", "r", "r"]), "")

    # ----------------------------------------------------------------------------------------------
    # report/speed.py's sections
    def save(self, fig, name):
        return savefig(fig, self.figdir, name, self.made)

    def accuracy_speed(self, cpu, cpu_path):
        self.p("#### 4.1.1 Accuracy beside speed", "")
        acc, apath = self.read("accuracy-sweep.json")
        if not acc:
            self.p(no_data("/usr/bin/python3 report/accuracy_sweep.py",
                           "it writes `%s`" % apath), "")
            return
        fx = acc.get("fixtures", {})
        self.p("Source: `%s` (%s) against the GB/s of `%s` at the same shape and dtype. The worst "
               "ulp comes from `lsce verify` on fixtures of the sweep's shapes generated by "
               "`report/accuracy_sweep.py` (%s; variant k, e = %s, mean; logits N(0,1), uniform "
               "targets; every row and every entry of the gradient checked against the certified "
               "reference), not from the committed verify JSON, whose shapes are not the sweep's; "
               "PyTorch's from `fixtures/peers/torch_peer.py --fixtures` on the same files at %s "
               "(the peer-table approach: torch's loss and autograd gradient measured by `lsce "
               "check`). Loss ulps are float32 ulps (a bfloat16 PyTorch loss, a bfloat16 number, "
               "is rescaled exactly by 2^16); gradient ulps are in the input dtype." % (
                   apath, acc.get("command", "report/accuracy_sweep.py"),
                   cpu_path or "no bench run", fx.get("shapes_text", "?"),
                   fx.get("smoothing", "?"), ", ".join(
                       "%dx%d" % tuple(x) for x in fx.get("torch_shapes") or
                       fx.get("shapes") or []) or "?"), "")
        stamp = speed.run_stamp(cpu.ctx, cpu_path) if cpu else "no bench run"
        for d in ("float32", "bfloat16"):
            link, rows = speed.fig_accuracy_speed(acc, cpu, d, stamp, line_style, self.save)
            if link:
                self.p("![accuracy against speed, %s](%s)" % (d, link), "")
                self.p(*table(["shape", "row", "worst loss ulp", "fwd GB/s", "worst gradient ulp",
                               "fwdbwd GB/s"], rows, ["r", "l", "r", "r", "r", "r"]), "")

    def history(self):
        self.p("#### 4.1.2 Across commits", "")
        hist = speed.load_history(self.data)
        if not hist:
            self.p(no_data("/usr/bin/python3 report/history.py report/data/bench-cpu.json",
                           "it writes `report/data/history/<date>-<commit>.json`"), "")
            return
        for path, _ in hist:
            self.src.add(path)
        link = speed.fig_history(hist, line_style, self.save)
        self.p("One summary per commit in `report/data/history/` (`report/history.py BENCH.json` "
               "writes it from a bench JSON): each row's GB/s as a fraction of the bandwidth probe "
               "measured in the same run, not raw times, so runs on a loaded or different machine "
               "compare better (they still do not compare exactly: the load is in each "
               "summary). `scripts/bench-compare OLD.json NEW.json` is the regression check "
               "between two runs with repetitions (Google Benchmark's U test).", "")
        if link:
            self.p("![probe fraction per commit](%s)" % link, "")
        self.p(*table(["commit", "date", "grid", "machine", "load avg at start",
                       "summary"], [[d.get("commit", "?"), str(d.get("date", "?"))[:19],
                                     d.get("grid", "?"), d.get("machine", "?"),
                                     speed._fmt((d.get("load_avg_start") or [None])[0]),
                                     "`%s`" % rel(p)] for p, d in hist]), "")

    def gpu_anchors(self, gpu):
        self.p("#### GPU anchors", "")
        doc, apath = self.read("gpu-anchors.json")
        anchors = (doc or {}).get("anchors") or []
        if not anchors:
            self.p(no_data("git checkout report/data/gpu-anchors.json"), "")
            return
        gb, gctx = (gpu[2], gpu[1]["context"]) if gpu else (None, None)
        link = speed.fig_gpu_anchors(anchors, gb, gctx, line_style, self.save)
        self.p("The published figures this project's GPU rows are measured against (`%s`; %s). "
               "The newest accepted `scripts/gpu-check` run in `report/data/gpu/` is drawn beside "
               "them%s." % (apath, doc.get("byte_model", ""),
                            ": `%s`" % gpu[0] if gpu else " once there is one"), "")
        self.p("![GPU anchors](%s)" % link, "")
        self.p(*table(["anchor", "device", "modes", "dtype", "N x K", "GB/s", "sources"],
                      speed.anchors_table(anchors), ["l", "l", "l", "l", "r", "r", "l"]), "")

    @staticmethod
    def copy_for(b, key):
        """(copy ms, source) of the device-to-device copy for this row's shape and dtype."""
        m, impl, d, n, k = key
        ent = b.rows[key]
        if ent.get("copy_ms"):
            return ent["copy_ms"], "copy"
        for (m2, i2, d2, n2, k2), e2 in sorted(b.rows.items()):
            if (d2, n2, k2) == (d, n, k) and e2.get("copy_ms"):
                return e2["copy_ms"], "copy"
        cand = [(bw, "bandwidth/%s/threads:%d" % (kd, t)) for (kd, t), bw in b.probes.items()
                if "copy" in kd]
        if cand:
            bw, name = max(cand)
            moved = _row_bytes("fwdbwd", d, n, k)
            return (moved / (bw * 1e9) * 1e3, name) if moved else None
        return None

    # ----------------------------------------------------------------------------------------------
    def targets(self, cpu, cpu_path, gpu):
        self.p("Each speed target of the \"Targets\" table of docs/accuracy.md (variant k, e = 0.1, mean, "
               "logits N(0,1), uniform targets), measured in one run. Gap = measured / target "
               "(>= 1 meets it). Speed targets are taken over `exact`-tier rows; the accuracy "
               "bounds of the same section are checked in section 3 (\"Against the bounds\").",
               "")
        rows = []
        nm = "not measured"
        n, k = CPU_SHAPE
        for mode, kind, frac_t, what in (("fwd", "read", CPU_FWD_READ_FRACTION,
                                          "CPU float32 forward, 2 threads, %dx%d" % (n, k)),
                                         ("fwdbwd", "copy", CPU_FWDBWD_COPY_FRACTION,
                                          "CPU float32 forward+backward (gradient written), "
                                          "%dx%d" % (n, k))):
            best = None
            if cpu:
                cands = []
                for (m, impl, d, nn, kk), ent in cpu.rows.items():
                    if (m, d, nn, kk) != (mode, "float32", n, k) or impl.startswith("torch"):
                        continue
                    if cpu.tier(impl, ent, self.impls_tier) != "exact":
                        continue
                    thr = int(ent["threads"] or 1)
                    cands.append((thr != 2, ent["ms"], impl, ent))
                if cands:
                    best = min(cands)
            torch_ent = cpu.rows.get((mode, "torch", "float32", n, k)) if cpu else None
            src = "`%s`" % cpu_path if cpu_path else "-"
            if best:
                _, ms, impl, ent = best
                thr = int(ent["threads"] or 1)
                rowname = "%s (%d thread%s)" % (impl, thr, "s" if thr > 1 else "")
                if torch_ent:
                    ratio = torch_ent["ms"] / ms
                    rows.append([what, ">= %gx PyTorch CPU (2 threads, same run)"
                                 % CPU_TORCH_RATIO, "%s %.4g ms; torch %.4g ms" % (
                                     rowname, ms, torch_ent["ms"]),
                                 "%.2fx" % ratio, _gap(ratio, CPU_TORCH_RATIO), src])
                else:
                    rows.append([what, ">= %gx PyTorch CPU" % CPU_TORCH_RATIO,
                                 "%s %.4g ms; torch: %s" % (rowname, ms, nm), "-", nm, src])
                bw, pname = cpu.probe_for(kind, thr)
                if bw and ent["gbs"]:
                    f = ent["gbs"] / bw
                    rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind),
                                 "%s %.3g GB/s; %s %.3g GB/s" % (rowname, ent["gbs"], pname, bw),
                                 "%.1f%%" % (100 * f), _gap(f, frac_t), src])
                else:
                    rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind),
                                 "%s; probe: %s" % (rowname, nm), "-", nm, src])
            else:
                rows.append([what, ">= %gx PyTorch CPU" % CPU_TORCH_RATIO, nm, "-", nm, src])
                rows.append([what, ">= %d%% of the %s probe" % (round(frac_t * 100), kind), nm,
                             "-", nm, src])
        rows.extend(self.gpu_targets(gpu))
        rows.append(self.certifier_target(cpu, cpu_path))
        self.p(*table(["target", "requirement", "measured", "ratio", "gap", "source"], rows,
                      ["l", "l", "l", "r", "l", "l"]), "")

    def gpu_targets(self, gpu):
        nm = "not measured"
        n, k = GPU_SHAPE
        w1 = "H200 bf16 logits + bf16 gradient, fwd+bwd, %dx%d" % (n, k)
        w2 = "H200 float32 forward, %dx%d" % (n, k)
        pct = "%d%%" % round(GPU_COPY_FRACTION * 100)
        req = [(w1, ">= %s of a device-to-device copy (same run)" % pct),
               (w1, ">= %gx PyTorch eager" % GPU_TORCH_EAGER_RATIO),
               (w1, "faster than torch.compile (timed at the target shapes only)"),
               (w2, ">= %s of the same copy's bandwidth" % pct)]
        if not gpu or not gpu[2]:
            return [[w, q, nm, "-", nm, "`%s`" % gpu[0] if gpu else "-"] for w, q in req]
        r, doc, b = gpu
        gname = doc["context"].get("gpu", "?")
        src = "`%s`" % r
        note = "" if "H200" in str(gname) else " (on %s, not an H200)" % gname

        def best_row(mode, dtype):
            c = [(ent["ms"], impl, (m, impl, d, nn, kk)) for (m, impl, d, nn, kk), ent
                 in b.rows.items() if (m, d, nn, kk) == (mode, dtype, n, k)
                 and not impl.startswith("torch")
                 and b.tier(impl, ent, self.impls_tier) in ("exact", "?")]
            return min(c) if c else None

        def copy_line(best, mode, w, q):
            if not best:
                return [w, q, nm, "-", nm, src]
            ms, impl, key = best
            ent = b.rows[key]
            copy = self.copy_for(b, key)
            frac = ent.get("fraction_of_copy")
            if frac is None and copy:
                frac = (copy[0] if mode == "fwdbwd" else copy[0] / 2) / ms
            if frac is None:
                return [w, q, "%s %.4g ms; copy: %s" % (impl, ms, nm), "-", nm, src]
            lim = "copy %.4g ms" % copy[0] if copy else "copy"
            if mode == "fwd" and copy:
                lim += " (fwd reads half its bytes: limit %.4g ms)" % (copy[0] / 2)
            return [w, q, "%s %.4g ms (%s GB/s); %s%s" % (impl, ms, fnum(ent["gbs"], "%.4g"),
                                                          lim, note),
                    "%.1f%%" % (100 * frac), _gap(frac, GPU_COPY_FRACTION), src]

        bb = best_row("fwdbwd", "bfloat16")
        out = [copy_line(bb, "fwdbwd", *req[0])]
        for (pick, target), rq in zip(((is_torch, GPU_TORCH_EAGER_RATIO),
                                       (is_torch_compile, GPU_TORCH_COMPILE_RATIO)), req[1:3]):
            pe = sorted((ent["ms"], impl) for (m, impl, d, nn, kk), ent in b.rows.items()
                        if (m, d, nn, kk) == ("fwdbwd", "bfloat16", n, k) and pick(impl))
            if bb and pe:
                ratio = pe[0][0] / bb[0]
                out.append([w1, rq[1], "%s %.4g ms; %s %.4g ms%s" % (
                    bb[1], bb[0], pe[0][1], pe[0][0], note), "%.2fx" % ratio,
                    _gap(ratio, target, strict=(target == 1.0)), src])
            else:
                out.append([w1, rq[1], nm, "-", nm, src])
        out.append(copy_line(best_row("fwd", "float32"), "fwd", *req[3]))
        return out

    def certifier_target(self, cpu, cpu_path):
        what = "verify's certifier, a full %dx%d problem, 2 cores" % CPU_SHAPE
        req = "<= %g s" % CERTIFIER_SECONDS
        doc, src = self.read("certify-timing.json")  # scripts/time-certify
        if doc and isinstance(doc.get("wall_s"), (int, float)) and doc["wall_s"] > 0:
            s = doc["wall_s"]
            return [what, req, "`lsce verify --impl cpu_threads` with the fast certifier: %.3g s wall, "
                    "%.3g s CPU (verify %s)" % (s, doc.get("cpu_s", float("nan")),
                                                "passed" if doc.get("verify_passed") else "FAILED"),
                    "%.2fx" % (CERTIFIER_SECONDS / s), _gap(CERTIFIER_SECONDS / s, 1.0), "`%s`" % src]
        if cpu:
            for nm, e in sorted(cpu.other.items()):
                m = re.match(r"^(certify|verify)/.*N:(\d+)/K:(\d+)$", nm)
                if m and (int(m.group(2)), int(m.group(3))) == CPU_SHAPE:
                    s = e["ms"] / 1e3
                    return [what, req, "`%s` %.3g s" % (nm, s), "%.2fx" % (CERTIFIER_SECONDS / s),
                            _gap(CERTIFIER_SECONDS / s, 1.0), "`%s`" % cpu_path]
            for nm, e in sorted(cpu.other.items()):
                if nm.startswith("reference/") and e.get("items_per_second"):
                    est = CPU_SHAPE[0] * CPU_SHAPE[1] / e["items_per_second"]
                    return [what, req, "not measured (the literal reference `%s` runs %.3g "
                            "logits/s: %.3g s for this size if linear; verify's row-form "
                            "certifier is another path)" % (nm, e["items_per_second"], est),
                            "-", "not measured", "`%s`" % cpu_path]
        return [what, req, "not measured", "-", "not measured",
                "`%s`" % cpu_path if cpu_path else "-"]

    # ----------------------------------------------------------------------------------------------
    def section_megatron(self):
        """k1-megatron against the tensor-parallel size T (scripts/megatron-tp, issue #17)."""
        self.p("### 2.6 Megatron's partition form: the loss moves with T", "")
        doc, src = self.read("megatron-tp.json")  # scripts/megatron-tp
        if not doc or not doc.get("rows"):
            self.p(no_data("scripts/megatron-tp"), "")
            return
        self.p("Megatron-LM's vocab-parallel cross-entropy applies the K-1 smoothing per rank "
               "(`k1-megatron`, docs/formulations.md): with V_p = K/T classes per rank, "
               "e' = e V_p/(V_p-1) and the smoothing mean over the rank's own shard, so each rank "
               "prints a different loss and none is the unsharded `k1` loss (%s at e = %s, what "
               "`mpi_vocab_parallel` and `cpu_sharded` compute for every T). On a generated %dx%d "
               "%s problem (%s; `%s`), every value the certified reference's:"
               % (doc["k1"], doc["smoothing"], doc["n"], doc["k"], doc.get("dtype", "?"),
                  doc.get("problem", ""), src), "")
        k1 = float(doc["k1"])
        rows = []
        for r in doc["rows"]:
            lo, hi = float(r["min"]), float(r["max"])
            rows.append([str(r["tp"]), str(r["vp"]), r["e_prime"], r["rank0"], r["min"], r["max"],
                         "%.3g" % (hi - lo), "%+.3g" % (max(abs(lo - k1), abs(hi - k1)) / k1),
                         r["mean_of_ranks"] + (" (k at e' = %s)" % r["k_at_e_prime"]
                                               if r.get("k_at_e_prime") else "")])
        self.p(*table(["T", "V_p", "e'", "rank 0", "smallest rank", "largest rank", "spread",
                       "worst rank vs k1 (relative)", "mean of the ranks"], rows,
                      ["r", "r", "l", "l", "l", "l", "r", "r", "l"]))
        self.p("", "At T = 1 the form is `k1` exactly (`lsce compare --tp 1` prints the identity "
               "`k1-megatron=k1`); the mean over the ranks is `k` at e' (identity "
               "`mean-over-ranks(k1-megatron)=k`; the column adds the ranks in double). "
               "`lsce check --variant k1` of a rank's value names it: `cause formulation "
               "variant=k1-megatron ... tp=T rank=r`.", "")

    # ----------------------------------------------------------------------------------------------
    def section_mpi(self):
        """The certified reference across MPI ranks (scripts/mpi-scale, README "Beyond one machine")."""
        self.p("### lsce-mpi: the reference over MPI ranks", "")
        doc, src = self.read("mpi-scale.json")  # scripts/mpi-scale
        if not doc or not doc.get("runs"):
            self.p(no_data("scripts/mpi-scale"), "")
            return
        self.p("`mpirun -np P lsce-mpi reference` on a generated %dx%d %s problem (%s logits; %s) "
               "on %s, %s cores (P > cores oversubscribes them). Every P must print lsce's loss bit "
               "for bit (`%s`). CPU s sums every rank: flat across P when the rows are split, not "
               "repeated; the wall times depend on what else the machine ran." % (doc["n"], doc["k"], doc.get("dtype", "?"), fnum(doc["logits"], "%.4g"),
                                      doc.get("problem", ""), doc.get("machine", "?"), doc.get("cores", "?"),
                                      src), "")
        base = doc["runs"][0]["wall_s"]
        rows = [[r["cmd"], r["loss"], "%.1f" % r["wall_s"], "%.1f" % r["cpu_s"],
                 "%.2fx" % (base / r["wall_s"]) if r["wall_s"] > 0 else "-",
                 "-" if r["P"] == 0 else ("yes" if r.get("identical") else "NO")] for r in doc["runs"]]
        self.p(*table(["command", "loss", "wall s", "CPU s", "speed-up vs lsce", "bit-identical"], rows,
                      ["l", "l", "r", "r", "r", "c"]))
        self.p("")

    # ----------------------------------------------------------------------------------------------
    def section_reproduce(self):
        self.p("## 5. How to reproduce", "")
        self.p("From the repository root on Debian 12 (`scripts/setup` installs the packages):",
               "", "```",
               "scripts/build build                      # or: meson setup build && ninja -C build",
               "build/cli/lsce verify --json report/data/verify-cpu.json   # section 3 (CPU rows)",
               "/usr/bin/python3 fixtures/peers/torch_peer.py  # section 3: "
               "report/data/peers-torch.json",
               "/usr/bin/python3 fixtures/peers/tfjs_peer.py   # section 3.1: "
               "report/data/peers-tfjs.json",
               "scripts/bench                            # section 4: report/data/bench-cpu.json",
               "scripts/bench --quick                    # section 4: report/data/bench-cpu.json",
               "scripts/bench --full                     # section 4.1, the sweep: "
               "report/data/bench-cpu-full.json",
               "/usr/bin/python3 report/accuracy_sweep.py   # 4.1.1: "
               "report/data/accuracy-sweep.json",
               "/usr/bin/python3 report/history.py report/data/bench-cpu-full.json  # 4.1.2: "
               "report/data/history/",
               "scripts/time-certify                     # section 4: report/data/certify-timing.json",
               "scripts/mpi-scale                        # section 4: report/data/mpi-scale.json",
               "scripts/megatron-tp                      # section 2.6: "
               "report/data/megatron-tp.json",
               "/usr/bin/python3 fixtures/peers/megatron_peer.py  # section 3: "
               "report/data/peers-megatron.json",
               "scripts/gpu-check                        # on the GPU machine: "
               "report/data/gpu/*.json",
               "scripts/report                           # runs lsce variants/impls/compare/check,"
               " then writes this file",
               "```", "",
               "`scripts/report` runs `/usr/bin/python3 report/make_report.py [--data report/data] "
               "[--out report/REPORT.md] [--lsce build/cli/lsce] [--offline]`; with `--offline` it "
               "does not run lsce and reads the JSONs it saved before. The commands it runs are in "
               "each saved file's `command` field.", "")
        ctxrows = []
        for f, _ in self.src.files:
            if not f.endswith(".json"):
                continue
            try:
                doc = load_json(os.path.join(ROOT, f))
            except (ValueError, OSError):
                continue
            ctxs = []
            if isinstance(doc, dict):
                if isinstance(doc.get("context"), dict):
                    ctxs.append((f, doc["context"]))
                if isinstance(doc.get("lsce"), dict):
                    ctxs.append((f, doc["lsce"]))
                for key in ("verify", "bench", "peers"):
                    if isinstance(doc.get(key), dict) and isinstance(doc[key].get("context"), dict):
                        ctxs.append(("%s: %s" % (f, key), doc[key]["context"]))
            for name, c in ctxs:
                extra = []
                for key in ("torch_version", "gpu", "driver", "cuda", "num_cpus"):
                    if key in c:
                        extra.append("%s %s" % (key, _flat(c[key])))
                ctxrows.append([name, _flat(c.get("commit", "-")), _flat(c.get("date", "-")),
                                _flat(c.get("machine", c.get("host_name", "-"))),
                                _flat(c.get("compiler", "-")), ", ".join(extra) or "-"])
        if ctxrows:
            self.p("Machine and build context of each data file:", "")
            self.p(*table(["data", "commit", "date", "machine", "compiler", "other"], ctxrows),
                   "")
            commits = sorted({r[1] for r in ctxrows if r[1] not in ("-", "")})
            if len(commits) > 1:
                self.p("The data come from %d builds (%s): numbers of different sections may "
                       "belong to different commits." % (len(commits), ", ".join(
                           "`%s`" % c for c in commits)), "")
        self.p("Files read (SHA-256):", "")
        self.p(*table(["file", "sha256"], [[f, "`%s`" % h] for f, h in self.src.files]), "")
        if self.notes:
            self.p("Notes: " + "; ".join(self.notes) + ".", "")


def _impl_key(x):
    """A verify result's row name; gpu-check marks the in-place gradient runs."""
    return "%s%s" % (x.get("impl"), " in-place" if x.get("inplace") is True else "")


def _rank(v):
    return (1, 0.0) if math.isnan(v) else (0, v)


def _worse(a, b):
    """The worse of two ulp figures (NaN counts as the worst)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if _rank(b) > _rank(a) else a


def _is_worse(new, old):
    return old is None or _rank(new) > _rank(old)


def _where(x):
    if not x:
        return "-"
    return "%s %s e=%s %s %s" % (x.get("case", "?"), x.get("variant", "?"), x.get("smoothing", "?"),
                                 x.get("reduction", "?"), x.get("dtype", "?"))


def _headroom(bound, worst):
    b, w = num(bound), num(worst)
    if b is None or w is None:
        return "-"
    if w == 0:
        return "exact"
    if not math.isfinite(w):
        return "over"
    return "%.3gx" % (b / w)


def _gap(measured, target, strict=False):
    g = measured / target
    ok = g > 1 if strict else g >= 1
    return "%.2f: %s" % (g, "meets" if ok else "short by %.2fx" % (1 / g if g > 0 else math.inf))


def _flat(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "report", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "report", "REPORT.md"))
    ap.add_argument("--lsce", default=os.path.join(ROOT, "build", "cli", "lsce"))
    ap.add_argument("--offline", action="store_true",
                    help="do not run lsce; use the JSONs it saved in --data before")
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    if not a.offline:
        if not os.access(a.lsce, os.X_OK):
            print("make_report: %s not found or not executable (build it: ninja -C build; or pass "
                  "--offline to use the saved JSONs)" % a.lsce, file=sys.stderr)
            return 3
        produce(os.path.abspath(a.lsce), os.path.abspath(a.data))
    rep = Report(a)
    text = rep.build()
    # Drop figures of an earlier run that this run did not make.
    for old in sorted(glob.glob(os.path.join(rep.figdir, "*.svg"))):
        if os.path.basename(old) not in rep.made:
            os.remove(old)
    tmp = rep.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, rep.out)
    print("make_report: wrote %s and %d figures in %s" % (rel(rep.out), len(rep.made),
                                                           rel(rep.figdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
