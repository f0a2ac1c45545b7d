// `ptqbench train-group`: several `ptqbench train` runs at once on one GPU (models/train_group.h),
// from a plan file with one run per line.
//
//   ptqbench train-group --plan FILE --out DIR [--data DIR] [--dataset cifar10|fashion-mnist]
//                        [--jobs N] [--resume] [--time-limit SECONDS]
//
// Plan file: each line that is neither blank nor starts with '#' holds one run's `ptqbench train`
// options, separated by spaces, without --out, --data, --dataset and --resume (the group's), plus
// an optional `--name NAME` (default: the model) and `--priority K` (default 0: the run's stream
// gets the K-th CUDA stream priority above the default, clamped to the device's levels, 5 on an
// H100/H200; its kernels' blocks are scheduled first when the runs compete), e.g.
//   --model VGG_16 --epochs 120 --batch 128 --lr 0.05 --weight-decay 1e-3 --priority 1
// Run NAME writes into DIR/NAME/ exactly what `ptqbench train --out DIR/NAME` writes, plus its
// progress lines in DIR/NAME/train.log. After the runs: DIR/group.csv (one row per run,
// models/train_group.h) and a row appended to DIR/group_sessions.csv (when this session started,
// how long it held the GPU), so a group continued with --resume adds up its GPU time.
//
// --jobs N runs N at a time (default: all). --resume continues every run whose folder holds a
// state and starts the others; without it a folder with a state is refused. --time-limit S: no run
// starts an epoch after S seconds; each stops after the epoch it is in, keeping its state for
// --resume. Ctrl-C (SIGINT) or SIGTERM does the same at once; a second one ends the process.
//
// Every line, the data and every resume state (its options; its tensors are read when the run
// starts) are checked, and the data read, before any folder is created and before the GPU is
// touched (usage errors, exit code 2, naming the plan's line). Run names may not be the group's
// files (group.csv, group_sessions.csv, plan.txt, group.log, accuracy.csv). Exit code 1
// when a run failed (the others still ran) or no GPU is usable.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli/command.h"
#include "cli/train_args.h"
#include "models/checkpoint.h"
#include "models/model_desc.h"
#include "models/training.h"

#ifdef PTQBENCH_WITH_CUDA
#include "gpu/gpu_context.h"
#include "models/train_group.h"
#endif

namespace ptq::cli {
namespace {

constexpr char kUsage[] =
    "usage: ptqbench train-group --plan FILE --out DIR [--data DIR] "
    "[--dataset cifar10|fashion-mnist] [--jobs N] [--resume] [--time-limit SECONDS]";

struct GroupArgs {
  std::string plan, out_dir, data_dir, dataset;
  int jobs = 0;
  bool resume = false;
  double time_limit = 0;  // seconds; 0: none
};

GroupArgs parse_group_args(const Args& args) {
  GroupArgs g;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& opt = args[i];
    if (opt == "--plan") {
      g.plan = option_value(args, i);
    } else if (opt == "--out") {
      g.out_dir = option_value(args, i);
    } else if (opt == "--data") {
      g.data_dir = option_value(args, i);
    } else if (opt == "--dataset") {
      g.dataset = option_value(args, i);
      if (g.dataset != "cifar10" && g.dataset != "fashion-mnist")
        throw UsageError("--dataset must be cifar10 or fashion-mnist, got '" + g.dataset + "'");
    } else if (opt == "--jobs") {
      const long long jobs = integer_arg(opt, option_value(args, i), 1);
      if (jobs > 1024) throw UsageError("--jobs is too large (at most 1024)");
      g.jobs = static_cast<int>(jobs);
    } else if (opt == "--resume") {
      g.resume = true;
    } else if (opt == "--time-limit") {
      g.time_limit = number_arg(opt, option_value(args, i));
      if (g.time_limit <= 0) throw UsageError("--time-limit must be > 0 seconds");
    } else {
      throw UsageError("unknown argument '" + opt + "' (" + kUsage + ")");
    }
  }
  if (g.plan.empty()) throw UsageError(std::string("--plan is required (") + kUsage + ")");
  if (g.out_dir.empty()) throw UsageError(std::string("--out is required (") + kUsage + ")");
  return g;
}

struct PlannedRun {
  std::string name;
  int line = 0;
  int priority = 0;
  TrainArgs args;
  NetworkDesc desc;
};

// The group's own files in DIR, which no run's folder may take.
constexpr const char* kGroupFiles[] = {"group.csv", "group_sessions.csv", "plan.txt", "group.log",
                                       "accuracy.csv"};

bool plain_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The runs of the plan file, each checked as `ptqbench train` checks its options; nothing is
// created. UsageError naming the file and line.
std::vector<PlannedRun> read_plan(const GroupArgs& g) {
  std::ifstream in(g.plan);
  if (!in) throw UsageError("cannot read the plan " + g.plan + ": " + std::strerror(errno));
  std::vector<PlannedRun> runs;
  std::map<std::string, int> line_of;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    const std::string where = g.plan + " line " + std::to_string(line) + ": ";
    std::istringstream tokens(text);
    Args args;
    for (std::string t; tokens >> t;) args.push_back(t);
    if (args.empty() || args[0][0] == '#') continue;
    PlannedRun run;
    run.line = line;
    Args train_args;
    try {
      for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& opt = args[i];
        if (opt == "--out" || opt == "--data" || opt == "--dataset" || opt == "--resume") {
          throw UsageError(opt + " belongs on train-group's command line, not in the plan (each "
                           "run writes into the group's --out DIR/NAME)");
        }
        if (opt == "--name") {
          run.name = option_value(args, i);
          if (!plain_name(run.name)) {
            throw UsageError("--name must be a plain folder name (letters, digits, _ - .), got '" +
                             run.name + "'");
          }
          for (const char* file : kGroupFiles) {
            if (run.name == file) throw UsageError("--name " + run.name + " is the group's file");
          }
        } else if (opt == "--priority") {
          const long long p = integer_arg(opt, option_value(args, i), 0);
          if (p > 1024) throw UsageError("--priority is too large (the device has a few levels)");
          run.priority = static_cast<int>(p);
        } else {
          train_args.push_back(opt);
        }
      }
      train_args.push_back("--out");
      train_args.push_back("-");  // replaced below, once the name is known
      run.args = parse_train_args(train_args);
      if (run.name.empty()) run.name = run.args.options.model;
      run.args.out_dir = (std::filesystem::path(g.out_dir) / run.name).string();
      run.args.resume = g.resume;
      validate_train_options(run.args.options);
      run.desc = build_network_desc(run.args.options.model);
    } catch (const UsageError& e) {
      throw UsageError(where + e.what());
    } catch (const std::invalid_argument& e) {  // TrainOptionError, ModelError
      throw UsageError(where + e.what());
    }
    const auto [seen, fresh] = line_of.emplace(run.name, line);
    if (!fresh) {
      throw UsageError(where + "the name " + run.name + " is taken by line " +
                       std::to_string(seen->second) + " (give one of them --name)");
    }
    runs.push_back(std::move(run));
  }
  if (in.bad()) throw UsageError("cannot read the plan " + g.plan);
  if (runs.empty()) throw UsageError("the plan " + g.plan + " holds no runs");
  return runs;
}

// Set by SIGINT/SIGTERM (read by the runs' threads, so atomic; lock-free, so a handler may set it);
// the runs stop after their current epoch. A second signal ends the process.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler stores into it");

extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal.exchange(sig) != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  constexpr char kMsg[] =
      "\nptqbench train-group: stopping after the current epochs (again to quit at once)\n";
  const ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  (void)ignored;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

constexpr char kSessionsHeader[] = "started_utc,jobs,runs,finished,stopped,failed,wall_seconds";

// Appends this session's row to DIR/group_sessions.csv (with its header when new); returns the
// wall seconds of every session in the file, this one included.
double append_session(const std::string& path, const std::string& row) {
  std::string text;
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path + " to add this session (left as is)");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("cannot read " + path + " (left as is)");
  }
  if (text.empty()) text = std::string(kSessionsHeader) + '\n';
  if (text.back() != '\n') text += '\n';
  text += row + '\n';
  const std::string problem = write_file_atomically(path, text.data(), text.size());
  if (!problem.empty()) throw std::runtime_error(path + ": " + problem);
  double total = 0;
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    const std::size_t comma = line.rfind(',');
    if (comma != std::string::npos) total += std::strtod(line.c_str() + comma + 1, nullptr);
  }
  return total;
}

}  // namespace

int run_train_group(const Args& args) {
  const GroupArgs g = parse_group_args(args);
  std::vector<PlannedRun> runs = read_plan(g);
  const DataChoice data = choose_data(g.data_dir, g.dataset, std::cout);
  for (PlannedRun& r : runs) {
    r.args.options.dataset = data.dataset;
    const bool has_state = has_resume_state(r.args.out_dir);
    r.args.resume = g.resume && has_state;
    try {
      check_run_state(r.args.out_dir, r.args.options, r.args.resume);
    } catch (const UsageError& e) {
      throw UsageError(g.plan + " line " + std::to_string(r.line) + ": " + e.what() +
                       (g.resume ? "" : " (train-group --resume continues the runs that have one)"));
    }
  }
  const LoadedData loaded = load_train_data(data, std::cout);
  try {
    prepare_out_dir(g.out_dir);
    for (const PlannedRun& r : runs) prepare_out_dir(r.args.out_dir);
  } catch (const TrainOptionError& e) {
    throw UsageError(e.what());
  }
  for (const PlannedRun& r : runs) {
    std::cout << "[" << r.name << "] " << (r.args.resume ? "resume: " : "");
    if (r.priority > 0) std::cout << "stream priority +" << r.priority << ": ";
    print_plan(std::cout, r.args.options, r.desc);
  }

#ifdef PTQBENCH_WITH_CUDA
  const std::string no_gpu = gpu_unavailable_reason();
  if (!no_gpu.empty()) {
    std::cerr << "ptqbench train-group: no usable GPU: " << no_gpu << '\n';
    return 1;
  }
  const std::size_t jobs = g.jobs == 0 ? runs.size() : std::min<std::size_t>(g.jobs, runs.size());
  std::cout << "device: " << gpu_device_name() << "; " << runs.size() << " runs, " << jobs
            << " at a time";
  if (g.time_limit > 0) std::cout << ", time limit " << g.time_limit << " s";
  std::cout << '\n' << std::flush;

  std::vector<GroupRun> group;
  for (const PlannedRun& r : runs) {
    group.push_back({r.name, r.desc, r.args.options, r.args.out_dir, r.args.resume, r.priority});
  }
  const std::string started = utc_now();
  const auto begin = std::chrono::steady_clock::now();
  GroupOptions options;
  options.jobs = g.jobs;
  options.stop_requested = [&] {
    if (g_stop_signal != 0) return true;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    return g.time_limit > 0 && elapsed >= g.time_limit;
  };
  const int levels = stream_priority_levels();
  for (const PlannedRun& r : runs) {
    if (r.priority > levels) {
      std::cout << "[" << r.name << "] stream priority +" << r.priority << " is above the device's +"
                << levels << ": it gets +" << levels << '\n';
    }
  }
  g_stop_signal = 0;
  // A console that goes away (a pipe whose reader was interrupted) must not end the runs: their
  // lines still reach each train.log.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // The study normalises every dataset with CIFAR-10's channel statistics (kernels/augment_math.h).
  const TrainData train_data{&loaded.split.train, &loaded.split.validation, &loaded.test,
                             kCifar10Normalization};
  const GroupReport report = train_group(group, train_data, options, std::cout);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  int count[3] = {0, 0, 0};
  for (const GroupOutcome& o : report.outcomes) ++count[static_cast<int>(o.status)];
  char row[256];
  std::snprintf(row, sizeof row, "%s,%zu,%zu,%d,%d,%d,%.1f", started.c_str(), jobs, runs.size(),
                count[0], count[1], count[2], report.wall_seconds);
  // The session's GPU time first: it is what a failed write of the table would lose.
  const double all_sessions = append_session(
      (std::filesystem::path(g.out_dir) / "group_sessions.csv").string(), row);
  const std::string csv = group_csv(report);
  const std::string csv_path = (std::filesystem::path(g.out_dir) / "group.csv").string();
  const std::string problem = write_file_atomically(csv_path, csv.data(), csv.size());
  if (!problem.empty()) throw std::runtime_error(csv_path + ": " + problem);

  char held[160];
  std::snprintf(held, sizeof held,
                "GPU held %.1f s this session, %.1f s over every session (group_sessions.csv)",
                report.wall_seconds, all_sessions);
  std::cout << "\ngroup: " << count[0] << " finished, " << count[1] << " stopped, " << count[2]
            << " failed; " << held << '\n';
  for (const GroupOutcome& o : report.outcomes) {
    std::cout << "  " << o.name << ": " << run_status_name(o.status);
    if (o.status == RunStatus::kFinished) {
      char acc[64];
      std::snprintf(acc, sizeof acc, " test %.2f%%", o.summary.test_acc);
      std::cout << acc << " after " << o.summary.epochs_run << " epochs";
    } else if (o.status == RunStatus::kStopped) {
      std::cout << " after epoch " << o.summary.epochs_run << "/" << o.summary.options.epochs
                << " (continue with --resume)";
    } else {
      std::cout << ": " << o.error;
    }
    std::cout << '\n';
  }
  std::cout << "table: " << csv_path << '\n';
  return count[2] > 0 ? 1 : 0;
#else
  std::cerr << "ptqbench train-group: this ptqbench was built without CUDA; training needs a GPU "
               "build\n";
  return 1;
#endif
}

}  // namespace ptq::cli
