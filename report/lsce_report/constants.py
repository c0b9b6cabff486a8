"""report/lsce_report/constants.py: the report's fixed inputs: the seed example, the generated
case, the article's quotations, the targets of docs/accuracy.md, the patterns of the data files
(split out of report/make_report.py; the same code)."""
import os
import re


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
# the same rows on rows like a trained model's (bench/lsce_bench.c, issue #12): kept apart (Bench.trained)
TRAINED_RE = re.compile(r"^(fwd|fwdbwd)-trained/([^/]+)/([^/]+)/N:(\d+)/K:(\d+)$")


PROBE_RE = re.compile(r"^bandwidth/(.+?)/threads:(\d+)$")


SHA_RE = re.compile(r"^[0-9a-f]{64}$")
