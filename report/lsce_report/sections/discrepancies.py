"""report/lsce_report/sections/discrepancies.py: section 2, the discrepancies between the
formulations (seed example, generated case, article) (split out of report/make_report.py; the
same code)."""
import json
import math
import os
from fractions import Fraction

import numpy as np
from ..constants import (  # noqa: E402
    ARTICLE_K, ARTICLE_K1, E_MAP_BASE, E_MAP_K, ROOT, SEED_DIR, SEED_PAD
)
from ..fmt import fnum, g17, num, table  # noqa: E402
from ..data import no_data  # noqa: E402
from ..bench import _variant  # noqa: E402
from ..figures import fig_emapping, fig_optimum  # noqa: E402


class DiscrepanciesSection:
    """Report's section 2, the discrepancies between the formulations (seed example, generated
    case, article)."""

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
