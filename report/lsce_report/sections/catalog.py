"""report/lsce_report/sections/catalog.py: section 1, the catalog (split out of
report/make_report.py; the same code)."""

from ..fmt import table  # noqa: E402
from ..data import no_data  # noqa: E402


class CatalogSection:
    """Report's section 1, the catalog."""

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
