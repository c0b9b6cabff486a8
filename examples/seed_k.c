/* examples/seed_k.c: liblsce from C. The seed example (fixtures/seed/: 3 rows, 5 classes, float32
 * logits) in the program's own arrays, and its certified loss: the correctly rounded float64 of
 * the exact value, %.17g, as `lsce reference` prints it. Default: variant k, smoothing 0.3, mean;
 * `seed_k VARIANT SMOOTHING [REDUCTION]` for another (weighted variants get the seed's weights,
 * k2-pad-kl pad class 4). Build against an installed liblsce:
 *   cc seed_k.c $(pkg-config --cflags --libs lsce) -o seed_k */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lsce/lsce.h>

static const float logits[3][5] = {{0.0f, 0.2f, 0.7f, 0.1f, 0.0f},
                                   {0.0f, 0.9f, 0.2f, 0.2f, 1.0f},
                                   {1.0f, 0.2f, 0.7f, 0.9f, 1.0f}};
static const int64_t targets[3] = {2, 1, 0};
static const float weights[5] = {1.0f, 2.0f, 0.5f, 1.5f, 0.25f};

int main(int argc, char **argv) {
  lsce_array L = {logits, LSCE_DT_F32, 2, {3, 5}};
  lsce_array T = {targets, LSCE_DT_I64, 1, {3, 0}};
  lsce_array W = {weights, LSCE_DT_F32, 1, {5, 0}};
  lsce_options o;
  lsce_options_default(&o);
  o.variant = argc > 1 ? argv[1] : "k";
  o.smoothing = argc > 2 ? argv[2] : "0.3";
  o.reduction = argc > 3 ? argv[3] : "mean";
  int weighted = strstr(o.variant, "weighted") != NULL;
  if (strcmp(o.variant, "k2-pad-kl") == 0) o.pad_index = 4;
  lsce_problem_t *p;
  lsce_error err;
  if (lsce_problem_create(&p, &L, &T, weighted ? &W : NULL, &o, &err) != LSCE_OK) {
    fprintf(stderr, "seed_k: %s\n", err.message);
    return err.code;
  }
  int64_t n = lsce_problem_nloss(p);
  double *loss = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  int rc = loss ? lsce_reference_compute(p, loss, NULL, &err) : LSCE_EINCOMPLETE;
  if (rc == LSCE_OK)
    for (int64_t i = 0; i < n; i++) printf("%.17g\n", loss[i]);
  else
    fprintf(stderr, "seed_k: %s\n", loss ? err.message : "out of memory");
  free(loss);
  lsce_problem_destroy(p);
  return rc;
}
