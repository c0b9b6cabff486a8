/* The catalog of docs/formulations.md as data, and each variant's target distribution q as exact
 * rationals (GMP mpq): no rounding happens here. */
#include <string.h>
#include "lsce/variants.h"

const lsce_variant lsce_variants[LSCE_V_COUNT] = {
  {"k", "1-e+e/K", "e/K", "all", "none", "|V|",
   "PyTorch (no weight), Keras, TF1, optax, timm, apex, Liger, flash-attn, TransformerEngine, "
   "HF Trainer, NVIDIA DeepLearningExamples, MLX, fairseq before Feb 2021",
   0, LSCE_W_NONE, 0, 0, 0, 1},
  {"k1", "1-e", "e/(K-1)", "all", "none", "|V|",
   "fairseq since Feb 2021, Megatron-LM, NeMo, Sockeye 'fairseq', the Stack Overflow "
   "LabelSmoothingLoss and SmoothCrossEntropyLoss classes",
   1, LSCE_W_NONE, 0, 0, 0, 2},
  {"k-torch-weighted", "1-e+e/K", "e/K", "all", "w_y on the NLL part, w_c on every smooth term",
   "sum_V w[y_i]", "PyTorch class-index targets with weight, Liger",
   0, LSCE_W_TORCH, 0, 1, 0, 1},
  {"k-logprob-weighted", "1-e+e/K", "e/K", "all", "-sum_c q_c w_c lp_c", "|V|",
   "PyTorch probability targets with weight, mmpretrain class_weight",
   0, LSCE_W_LOGPROB, 0, 1, 0, 1},
  {"k1-logprob-weighted", "1-e", "e/(K-1)", "all", "-sum_c q_c w_c lp_c", "|V|",
   "the Stack Overflow K-1 classes with weight",
   1, LSCE_W_LOGPROB, 0, 1, 0, 2},
  {"k-nll-weighted", "1-e+e/K", "e/K", "all", "weights on the NLL part only",
   "NLL part by W, smooth part by |V|",
   "the weighted NLL-combination class (e*mean(-sum lp)/K + (1-e)*nll_loss(weight)), fastai",
   0, LSCE_W_NLL, 0, 1, 0, 1},
  {"k1-kl", "1-e", "e/(K-1)", "all", "none", "|V|",
   "T5X, Flax WMT, tensor2tensor (KL divergence; they return the sum)",
   1, LSCE_W_NONE, 1, 0, 0, 2},
  {"k2-pad-kl", "1-e", "e/(K-2)", "all but P", "none", "|V|",
   "The Annotated Transformer, OpenNMT-py before 2.0 (sum reduction there)",
   2, LSCE_W_NONE, 1, 0, 1, 3},
};

int lsce_variant_find(const char *id) {
  for (int v = 0; v < LSCE_V_COUNT; v++)
    if (strcmp(lsce_variants[v].id, id) == 0) return v;
  return -1;
}

void lsce_variant_q(mpq_t qt, mpq_t qo, int v, const mpq_t e, int64_t K) {
  const lsce_variant *d = &lsce_variants[v];
  mpq_t den;
  mpq_init(den);
  mpq_set_si(den, (long)(K - d->off_divisor), 1);
  mpq_div(qo, e, den);                   /* qo = e / (K - j) */
  mpq_set_ui(qt, 1, 1);
  mpq_sub(qt, qt, e);                    /* qt = 1 - e */
  if (d->off_divisor == 0) mpq_add(qt, qt, qo); /* K-form: the target also gets e/K */
  mpq_clear(den);
}
