// Training runs sharing one GPU: see train_group.h.
#include "models/train_group.h"

#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <system_error>
#include <thread>
#include <utility>

#include "gpu/cuda_check.h"
#include "gpu/gpu_context.h"

namespace ptq {
namespace {

// An output stream buffer that hands each complete line, prefixed, to `shared` under `lock`, and
// appends it to `log` (when open). A last line without a newline is written at destruction.
class PrefixedLines : public std::streambuf {
 public:
  PrefixedLines(std::string prefix, std::ostream& shared, std::mutex& lock, std::ostream* log)
      : prefix_(std::move(prefix)), shared_(shared), lock_(lock), log_(log) {}
  PrefixedLines(const PrefixedLines&) = delete;
  PrefixedLines& operator=(const PrefixedLines&) = delete;
  ~PrefixedLines() override {
    if (!line_.empty()) emit();
  }

 protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    line_.push_back(traits_type::to_char_type(ch));
    if (ch == '\n') emit();
    return ch;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) overflow(traits_type::to_int_type(s[i]));
    return n;
  }

 private:
  void emit() {
    if (line_.back() != '\n') line_.push_back('\n');
    {
      const std::lock_guard<std::mutex> hold(lock_);
      shared_ << prefix_ << line_ << std::flush;
    }
    if (log_ != nullptr) *log_ << line_ << std::flush;
    line_.clear();
  }

  std::string prefix_;
  std::ostream& shared_;
  std::mutex& lock_;
  std::ostream* log_;
  std::string line_;
};

// One run on the calling thread, on `device`; never throws.
GroupOutcome train_one(const GroupRun& run, const TrainData& data, int device,
                       const std::function<bool()>& stop_requested, std::ostream& shared,
                       std::mutex& lock) {
  GroupOutcome outcome;
  outcome.name = run.name;
  outcome.priority = run.priority;
  outcome.summary.options = run.options;  // a failed run's row still names its model
  std::ofstream log(std::filesystem::path(run.out_dir) / "train.log", std::ios::app);
  PrefixedLines lines("[" + run.name + "] ", shared, lock, log ? &log : nullptr);
  std::ostream progress(&lines);
  try {
    CUDA_CHECK(cudaSetDevice(device));  // a new thread starts on device 0
    GpuContext ctx(run.priority);
    outcome.summary = train_network(ctx, run.desc, run.options, data, run.out_dir, run.resume,
                                    progress, stop_requested);
    outcome.status =
        std::isnan(outcome.summary.test_acc) ? RunStatus::kStopped : RunStatus::kFinished;
  } catch (const std::exception& e) {
    outcome.status = RunStatus::kFailed;
    outcome.error = e.what();
    progress << "FAILED: " << e.what() << '\n';
  }
  return outcome;
}

std::string csv_quoted(const std::string& text) {
  std::string q = "\"";
  for (const char c : text) {
    if (c == '"') q += '"';
    q += c == '\n' ? ' ' : c;
  }
  return q + '"';
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::kFinished:
      return "finished";
    case RunStatus::kStopped:
      return "stopped";
    case RunStatus::kFailed:
      return "failed";
  }
  return "?";
}

GroupReport train_group(const std::vector<GroupRun>& runs, const TrainData& data,
                        const GroupOptions& options, std::ostream& progress) {
  if (runs.empty()) throw std::invalid_argument("train_group: no runs");
  if (options.jobs < 0) throw std::invalid_argument("train_group: jobs must be >= 0");
  std::set<std::string> names;
  for (const GroupRun& r : runs) {
    if (!names.insert(r.name).second)
      throw std::invalid_argument("train_group: the name " + r.name + " is used twice");
  }
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const std::size_t workers =
      options.jobs == 0 ? runs.size() : std::min<std::size_t>(runs.size(), options.jobs);

  GroupReport report;
  report.outcomes.resize(runs.size());
  std::atomic<std::size_t> next{0};
  std::mutex lock;
  const auto begin = std::chrono::steady_clock::now();
  const auto seconds_since_begin = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers; ++w) {
    try {
      threads.emplace_back([&] {
        for (std::size_t i = next++; i < runs.size(); i = next++) {
          report.outcomes[i] =
              train_one(runs[i], data, device, options.stop_requested, progress, lock);
          report.outcomes[i].ended_s = seconds_since_begin();
        }
      });
    } catch (const std::system_error&) {  // no more threads: the started ones take every run
      if (threads.empty()) throw;
      break;
    }
  }
  for (std::thread& t : threads) t.join();
  report.wall_seconds = seconds_since_begin();
  return report;
}

std::string group_csv(const GroupReport& report) {
  std::ostringstream out;
  out << kGroupCsvHeader << '\n';
  for (const GroupOutcome& o : report.outcomes) {
    const TrainSummary& s = o.summary;
    const bool has = o.status != RunStatus::kFailed;
    const bool best = has && s.best_epoch > 0;  // none before the first validated epoch
    out << o.name << ',' << s.options.model << ',' << o.priority << ',' << run_status_name(o.status)
        << ',' << (has ? std::to_string(s.epochs_run) : "") << ','
        << (has ? std::to_string(s.options.epochs) : "") << ','
        << (best ? std::to_string(s.best_epoch) : "") << ','
        << (best ? fixed(s.best_val_acc, 2) : "") << ',' << (has ? fixed(s.test_acc, 2) : "") << ','
        << (has ? fixed(s.seconds, 1) : "") << ',' << (has ? fixed(s.images_per_s, 0) : "") << ','
        << (has ? fixed(s.tflops, 2) : "") << ',' << fixed(o.ended_s, 1) << ','
        << (o.error.empty() ? "" : csv_quoted(o.error)) << '\n';
  }
  return out.str();
}

}  // namespace ptq
