"""report/lsce_report/fmt.py: number and table formatting (Markdown), and the small comparisons the
tables use (split out of report/make_report.py; the same code)."""
import json
import math
import os
from .constants import ROOT  # noqa: E402


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
