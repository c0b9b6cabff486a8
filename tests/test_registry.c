/* tests/test_registry.c: the registry rules: names unique and prefixed by their device (cpu, cuda, mpi),
 * takes at least one dtype, tiers are exact|fast, and no `exact` row declares a bound looser than
 * the Targets table of docs/accuracy.md (lsce_target_bounds); a `fast` row declares finite bounds. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lsce/registry.h"

int main(void) {
  int passed = 0, failed = 0;
#define CHECK(cond, ...) do { if (cond) passed++; else { failed++; printf("FAIL " __VA_ARGS__); printf("\n"); } } while (0)
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    for (int j = 0; j < k; j++) CHECK(strcmp(im->name, lsce_impls[j].name) != 0, "%s: duplicate name", im->name);
    CHECK(!strcmp(im->device, "cpu") || !strcmp(im->device, "cuda") || !strcmp(im->device, "mpi"), "%s: device %s", im->name, im->device);
    CHECK(!strncmp(im->name, im->device, strlen(im->device)), "%s: name does not start with its device", im->name);
    CHECK(im->dtypes != 0 && (im->dtypes & ~LSCE_DT_FLOATS) == 0, "%s: dtypes 0x%x", im->name, im->dtypes);
    int exact = !strcmp(im->tier, "exact");
    CHECK(exact || !strcmp(im->tier, "fast"), "%s: tier %s", im->name, im->tier);
    for (int d = 0; d < 4; d++) {
      if (!(im->dtypes & LSCE_DT_BIT(d))) continue;
      const lsce_bound *b = &im->bounds[d], *t = &lsce_target_bounds[d];
      CHECK(b->loss_ulp > 0 && isfinite(b->loss_ulp) && b->grad_ulp > 0 && isfinite(b->grad_ulp),
            "%s: dtype %s: bounds must be finite and positive", im->name, lsce_dtype_name((lsce_dtype)d));
      if (exact)
        CHECK(b->loss_ulp <= t->loss_ulp && b->grad_ulp <= t->grad_ulp,
              "%s: exact tier, dtype %s: bound {%g, %g} looser than the Targets table {%g, %g}", im->name,
              lsce_dtype_name((lsce_dtype)d), b->loss_ulp, b->grad_ulp, t->loss_ulp, t->grad_ulp);
    }
    CHECK(im->isa() != NULL && im->isa()[0], "%s: isa", im->name);
  }
  /* the Targets table itself, as docs/accuracy.md writes it */
  CHECK(lsce_target_bounds[LSCE_DT_F32].loss_ulp == 1 && lsce_target_bounds[LSCE_DT_F32].grad_ulp == 2, "targets f32");
  CHECK(lsce_target_bounds[LSCE_DT_BF16].loss_ulp == 1 && lsce_target_bounds[LSCE_DT_BF16].grad_ulp == 1, "targets bf16");
  CHECK(lsce_target_bounds[LSCE_DT_F16].loss_ulp == 1 && lsce_target_bounds[LSCE_DT_F16].grad_ulp == 1, "targets f16");
  CHECK(lsce_target_bounds[LSCE_DT_F64].loss_ulp == 2 && lsce_target_bounds[LSCE_DT_F64].grad_ulp == 4, "targets f64");
  printf("%d passed, %d failed, 0 skipped\n", passed, failed);
  return failed != 0;
}
