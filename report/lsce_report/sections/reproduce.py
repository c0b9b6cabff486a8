"""report/lsce_report/sections/reproduce.py: section 5, how to reproduce (commands and the files
read) (split out of report/make_report.py; the same code)."""
import os
from ..constants import ROOT  # noqa: E402
from ..fmt import _flat, table  # noqa: E402
from ..data import load_json  # noqa: E402


class ReproduceSection:
    """Report's section 5, how to reproduce (commands and the files read)."""

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
