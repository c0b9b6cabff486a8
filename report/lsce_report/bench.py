"""report/lsce_report/bench.py: the benchmark JSON as rows (Bench) and the bytes and times a row
moves (split out of report/make_report.py; the same code)."""
import math
import re
import statistics
from .constants import PROBE_RE, ROW_RE, TRAINED_RE, UNIT_MS  # noqa: E402
from .fmt import num  # noqa: E402


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
        self.trained = {}   # the same for the rows like a trained model's (fwd|fwdbwd-trained/...)
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
            tm = TRAINED_RE.match(name)
            if tm:
                self.trained[(tm.group(1), tm.group(2), tm.group(3), int(tm.group(4)), int(tm.group(5)))] = ent
            elif m:
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
