/* impls/cpu/optrows.h: the exact CPU rows on issue #15's options and the sigmoid family
 * (optrows.c): each row's entry point hands a call whose c->opt is set (lsce_invoke sets it to the
 * problem when it uses an option) here, with its own schedule of the softmax statistics: online (1:
 * one pass with a running maximum, 0: two passes), threads (OpenMP over rows), slice (> 0: vocabulary
 * shards of that many classes, merged). Same bounds as the catalog (lsce_target_bounds); rows it
 * cannot vouch for take the certified reference's values (or are flagged, LSCE_ROW_REFERENCE=0). */
#ifndef LSCE_CPU_OPTROWS_H
#define LSCE_CPU_OPTROWS_H
#include "lsce/registry.h"
int lsce_cpu_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int online, int threads,
                     int64_t slice);
#endif
