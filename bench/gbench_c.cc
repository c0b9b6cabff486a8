// bench/gbench_c.cc: the C API of gbench_c.h over Google Benchmark (the project's only C++).
// Every report goes through NameCleaner, which drops the option suffixes Google Benchmark adds
// to names (min_time, iterations, repeats, real_time, manual_time) and forwards to the reporter
// that Google Benchmark's own flags select (--benchmark_format, --benchmark_out_format).
#include "gbench_c.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

benchmark::internal::Benchmark *B(gb_bench *b) {
  return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}
benchmark::State &S(gb_state *s) { return *reinterpret_cast<benchmark::State *>(s); }

double stat_min(const std::vector<double> &v) {
  double m = v.empty() ? 0.0 : v[0];
  for (double x : v) m = x < m ? x : m;
  return m;
}
double stat_max(const std::vector<double> &v) {
  double m = v.empty() ? 0.0 : v[0];
  for (double x : v) m = x > m ? x : m;
  return m;
}

// Wraps a reporter (owned or not) and reports names without Google Benchmark's option suffixes.
class NameCleaner : public benchmark::BenchmarkReporter {
 public:
  NameCleaner(benchmark::BenchmarkReporter *inner, bool owned) : inner_(inner), owned_(owned) {}
  ~NameCleaner() override {
    if (owned_) delete inner_;
  }
  bool ReportContext(const Context &context) override {
    // Google Benchmark sets the streams of the reporter it is given (the file for a file
    // reporter) before it calls ReportContext; the wrapped one writes to the same streams.
    inner_->SetOutputStream(&GetOutputStream());
    inner_->SetErrorStream(&GetErrorStream());
    return inner_->ReportContext(context);
  }
  void ReportRuns(const std::vector<Run> &runs) override {
    std::vector<Run> clean(runs);
    for (Run &r : clean) {
      r.run_name.min_time.clear();
      r.run_name.min_warmup_time.clear();
      r.run_name.iterations.clear();
      r.run_name.repetitions.clear();
      r.run_name.time_type.clear();
    }
    inner_->ReportRuns(clean);
  }
  void Finalize() override { inner_->Finalize(); }

 private:
  benchmark::BenchmarkReporter *inner_;
  bool owned_;
};

// The values of --benchmark_out and --benchmark_out_format as typed (the last one wins, as in
// Google Benchmark), read before Initialize removes them from argv.
std::string g_out, g_out_format = "json";

const char *flag_value(const char *arg, const char *name) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) == 0 && arg[n] == '=') return arg + n + 1;
  return nullptr;
}

// Deprecated in Google Benchmark 1.7 but still what --benchmark_out_format=csv selects.
benchmark::BenchmarkReporter *new_csv_reporter() {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return new benchmark::CSVReporter();
#pragma GCC diagnostic pop
}

}  // namespace

extern "C" {

gb_bench *gb_register(const char *name, gb_fn fn, void *ctx) {
  benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
      name, [fn, ctx](benchmark::State &st) { fn(reinterpret_cast<gb_state *>(&st), ctx); });
  return reinterpret_cast<gb_bench *>(b);
}

void gb_arg_names(gb_bench *b, int n, const char *const *names) {
  std::vector<std::string> v(names, names + n);
  B(b)->ArgNames(v);
}

void gb_args(gb_bench *b, int n, const int64_t *args) {
  B(b)->Args(std::vector<int64_t>(args, args + n));
}

void gb_args_product(gb_bench *b, int n, const int64_t *const *lists, const int *lens) {
  std::vector<std::vector<int64_t>> v;
  for (int i = 0; i < n; i++) v.emplace_back(lists[i], lists[i] + lens[i]);
  B(b)->ArgsProduct(v);
}

void gb_set_unit(gb_bench *b, gb_unit u) {
  static const benchmark::TimeUnit units[] = {benchmark::kNanosecond, benchmark::kMicrosecond,
                                              benchmark::kMillisecond, benchmark::kSecond};
  B(b)->Unit(units[u]);
}

void gb_min_time(gb_bench *b, double seconds) { B(b)->MinTime(seconds); }
void gb_iterations(gb_bench *b, int64_t n) { B(b)->Iterations(n); }
void gb_repetitions(gb_bench *b, int n) { B(b)->Repetitions(n); }
void gb_aggregates_only(gb_bench *b) { B(b)->ReportAggregatesOnly(true); }
void gb_use_manual_time(gb_bench *b) { B(b)->UseManualTime(); }
void gb_use_real_time(gb_bench *b) { B(b)->UseRealTime(); }
void gb_statistic(gb_bench *b, gb_stat stat) {
  if (stat == GB_STAT_MIN) B(b)->ComputeStatistics("min", stat_min);
  else B(b)->ComputeStatistics("max", stat_max);
}

int gb_keep_running(gb_state *s) { return S(s).KeepRunning() ? 1 : 0; }
int64_t gb_max_iterations(gb_state *s) { return (int64_t)S(s).max_iterations; }
int64_t gb_range(gb_state *s, int i) { return S(s).range(static_cast<std::size_t>(i)); }
int64_t gb_iterations_done(gb_state *s) { return static_cast<int64_t>(S(s).iterations()); }
void gb_set_iteration_time(gb_state *s, double seconds) { S(s).SetIterationTime(seconds); }
void gb_pause_timing(gb_state *s) { S(s).PauseTiming(); }
void gb_resume_timing(gb_state *s) { S(s).ResumeTiming(); }
void gb_set_bytes_processed(gb_state *s, int64_t bytes) { S(s).SetBytesProcessed(bytes); }
void gb_set_items_processed(gb_state *s, int64_t items) { S(s).SetItemsProcessed(items); }

void gb_counter(gb_state *s, const char *name, double value, unsigned flags) {
  int f = benchmark::Counter::kDefaults;
  if (flags & GB_RATE) f |= benchmark::Counter::kIsRate;
  if (flags & GB_AVG_ITERATIONS) f |= benchmark::Counter::kAvgIterations;
  S(s).counters[name] = benchmark::Counter(
      value, static_cast<benchmark::Counter::Flags>(f),
      (flags & GB_1024) ? benchmark::Counter::kIs1024 : benchmark::Counter::kIs1000);
}

void gb_set_label(gb_state *s, const char *label) { S(s).SetLabel(label); }
void gb_skip_with_error(gb_state *s, const char *msg) { S(s).SkipWithError(msg); }
int gb_error_occurred(gb_state *s) { return S(s).error_occurred() ? 1 : 0; }

int gb_initialize(int *argc, char **argv) {
  for (int i = 1; i < *argc; i++) {
    if (const char *v = flag_value(argv[i], "--benchmark_out")) g_out = v;
    if (const char *v = flag_value(argv[i], "--benchmark_out_format")) g_out_format = v;
  }
  benchmark::Initialize(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(*argc, argv)) return 2;
  return 0;
}

void gb_add_context(const char *key, const char *value) {
  benchmark::AddCustomContext(key, value);
}

size_t gb_run(void) {
  // CreateDefaultDisplayReporter honours --benchmark_format and --benchmark_color; the library
  // keeps ownership of it.
  NameCleaner display(benchmark::CreateDefaultDisplayReporter(), false);
  if (g_out.empty()) return benchmark::RunSpecifiedBenchmarks(&display);
  benchmark::BenchmarkReporter *inner;
  if (g_out_format == "console")
    inner = new benchmark::ConsoleReporter(benchmark::ConsoleReporter::OO_None);
  else if (g_out_format == "csv")
    inner = new_csv_reporter();
  else
    inner = new benchmark::JSONReporter();
  NameCleaner file(inner, true);
  return benchmark::RunSpecifiedBenchmarks(&display, &file);
}

void gb_shutdown(void) { benchmark::Shutdown(); }

}  // extern "C"
