/* lsce/knobs.h: THE table of lsce's run-time knobs, the one place each is written. Every other
 * place is generated from it: lsce_config's fields (lsce/types.h, in the rows' order: the struct is
 * liblsce's public API, so a new field goes LAST among the X rows), their defaults
 * (core/config.c: lsce_config_default and the settings in force before any is set), the command
 * line's reading of the environment with its error lines (cli/settings.c), lsce_set_config's checks
 * (core/config.c lsce_config_check, for lib/lsce_api.c), the field-by-field comparison of
 * tests/test_liblsce_check.c, and tests/test_knob_docs.c's check that docs/cli.md "Environment"
 * has a row for every knob with its error line.
 *
 * LSCE_KNOBS(X, Y): one row per knob, in the order the command line checks the environment (the
 * first junk knob is the error: docs/cli.md "The order of errors"); lsce_set_config checks the
 * fields in the same order.
 *   X(field, type, "ENV", default, KIND, tail...)  a field of lsce_config
 *   Y("ENV", KIND, tail...)                         a knob of the command line alone (lsce_settings in
 *                                                   cli/settings.c, small special cases there): no field
 * The tail is designated initialisers of lsce_knob (lsce/config.h); .doc says what the knob does.
 * KIND, how the environment is read (an empty value is unset: the default) and what lsce_set_config
 * accepts:
 *   WORD   one of .words, the value being its index; junk: `ENV: must be <.list>, got '<v>'`.
 *          lsce_set_config: [.lo, number of words - 1] (.lo is 0 unless given), junk:
 *          `ENV: must be <.lib_list, else .list>, got <n>`.
 *   COUNT  decimal digits, no sign, at least .lo; above .cap reads as .cap; junk: `ENV: not <.what>:
 *          '<v>'` or `ENV: <v> is below <.lo>`. lsce_set_config: >= 0 (0: the default), junk
 *          `ENV: <n> is below <.lo>`; above .cap reads as .cap.
 *   FLAG   not validated (as ever): exactly .word flips the default, any other value leaves it.
 *          lsce_set_config: 0 or 1 (`ENV: must be <.list>, got <n>`).
 *   PREC   LSCE_MAX_PRECISION's own grammar and lines: decimal digits, a digit after a value above
 *          10^8 being junk (`ENV: not <.what>: '<v>'`), at least .lo (`ENV: must be at least <.lo>`).
 *          lsce_set_config: 0 or >= .lo.
 *   TEXT   any string (Y rows only).
 * Special cases, all in cli/settings.c: LSCE_CERTIFY is lsce_settings.certify = 1 + the word's index
 * (0 when unset: .def -1), LSCE_FIXTURES is lsce_settings.fixtures; LSCE_THREADS_CAP also sizes the
 * thread preflight there.
 *
 * To add a knob: one row here (an X row after the last X row: lsce_config's layout is public; a Y
 * row where its error should rank), the code that uses it reads lsce_config_get()->field, and in
 * docs/cli.md one row of the "Environment" table with its error line, and its name in the list of
 * "The order of errors" when it can be junk (tests/test_knob_docs.c checks both). Nothing else. */
#ifndef LSCE_KNOBS_H
#define LSCE_KNOBS_H

/* LSCE_THREADS above this runs with this many threads: more cannot help on any machine lsce
 * targets, and thousands of threads crash the OpenMP runtime (signal 11 inside libgomp). */
#define LSCE_THREADS_CAP 256

#define LSCE_KNOBS(X, Y)                                                                                        \
  X(isa, int, "LSCE_ISA", -1, WORD, .words = LSCE_WORDS("scalar", "avx2", "avx512"),                             \
    .list = "scalar, avx2 or avx512", .lo = -1,                                                                 \
    .lib_list = "-1 (the widest), 0 (scalar), 1 (avx2) or 2 (avx512)",                                         \
    .doc = "caps the CPU rows' kernels: -1 the widest the machine has, 0 scalar, 1 avx2, 2 avx512 (the widest " \
           "the machine has up to the one asked)")                                                              \
  X(threads, int, "LSCE_THREADS", 0, COUNT, .lo = 1, .cap = LSCE_THREADS_CAP, .what = "a thread count",         \
    .doc = "cpu_threads' thread count; 0: its default 2")                                                       \
  X(split, long long, "LSCE_SPLIT", 0, COUNT, .lo = 0, .cap = 1LL << 40, .what = "a class count",               \
    .doc = "classes per row slice in cpu_threads; 0: automatic (a slice beyond 2^40 classes is a whole row)")   \
  X(shards, long long, "LSCE_SHARDS", 0, COUNT, .lo = 1, .cap = 1LL << 40, .what = "a shard count",             \
    .doc = "cpu_sharded's shard count; 0: its default 4 (beyond 2^40, one class per shard anyway)")             \
  X(keep, int, "LSCE_KEEP", 1, WORD, .words = LSCE_WORDS("0", "1"), .list = "0 or 1",                            \
    .doc = "1 the SIMD rows keep a row's exps for its gradient, 0 recompute them (same bytes)")                 \
  X(row_reference, int, "LSCE_ROW_REFERENCE", 1, FLAG, .word = "0", .list = "0 or 1",                            \
    .doc = "1 the exact rows may escalate a row to the reference; only \"0\" turns it off")                     \
  X(cuda_inplace, int, "LSCE_CUDA_INPLACE", 0, FLAG, .word = "1", .list = "0 or 1",                              \
    .doc = "1 the CUDA rows write the gradient over the logits' copy; only \"1\" turns it on")                  \
  Y("LSCE_CERTIFY", WORD, .def = -1, .words = LSCE_WORDS("fast", "reference"), .list = "fast or reference",    \
    .doc = "the certifier of verify and check for every problem (the command line only)")                       \
  X(max_precision, long, "LSCE_MAX_PRECISION", 0, PREC, .lo = 16, .what = "a precision in bits",                 \
    .doc = "the reference's precision cap in bits; 0: 65536")                                                   \
  X(f32pass, int, "LSCE_F32PASS", 1, WORD, .words = LSCE_WORDS("0", "1", "all"), .list = "0, 1 or all",          \
    .lib_list = "0, 1 or 2",                                                                                    \
    .doc = "the float32-precision first pass of narrow rows (impls/cpu/simd_f32pass.inc): 0 off, 1 on slices "  \
           "of at least 2048 classes, 2 (all) on every slice (tests)")                                          \
  X(f32one, int, "LSCE_F32ONE", 1, WORD, .words = LSCE_WORDS("0", "1"), .list = "0 or 1",                        \
    .doc = "1 that pass reads the logits once where they lie in [-80, 80] (shift 0, guarded; simd_f32pass.inc " \
           "stats_f32_one), 0 always its two passes")                                                           \
  X(dblone, int, "LSCE_DBLONE", 1, WORD, .words = LSCE_WORDS("0", "1"), .list = "0 or 1",                        \
    .doc = "1 the double single pass of narrow rows (impls/cpu/simd_dblone.inc) after a row the float32 pass "  \
           "could not certify, and first where recent rows failed it; 0 off")                                   \
  X(tab16, int, "LSCE_TAB16", 1, WORD, .words = LSCE_WORDS("0", "1", "2"), .list = "0, 1 or 2",                  \
    .doc = "1 bfloat16 slices take the 16-bit table pass first where they can (impls/cpu/simd_tab16.inc), 2 "   \
           "float16 slices too, 0 never")                                                                       \
  X(f64one, int, "LSCE_F64ONE", 1, WORD, .words = LSCE_WORDS("0", "1"), .list = "0 or 1",                        \
    .doc = "1 float64 forward rows are read once where every logit lies in [-600, 600] "                        \
           "(impls/cpu/simd_f64pass.inc stats_f64_one), 0 always the two passes of stats_f64")                  \
  X(pipe, int, "LSCE_PIPE", 1, WORD, .words = LSCE_WORDS("0", "1", "all"), .list = "0, 1 or all",               \
    .lib_list = "0, 1 or 2",                                                                                    \
    .doc = "float32 forward+backward rows sweep a row's gradient inside the next row's single pass "             \
           "(impls/cpu/simd_pipe.inc, driver.c run_pipe): 1 in calls of 32 MiB of logits or more, 2 (all) in "  \
           "every call (tests), 0 never: one row at a time")                                                    \
  Y("LSCE_FIXTURES", TEXT, .doc = "verify's fixture directory when --fixtures is not given (the command line only)")

/* Row expanders for the public header and its users: a field of lsce_config; nothing. */
#define LSCE_KNOB_FIELD(field, type, ...) type field;
#define LSCE_KNOB_NONE(...)
#endif
