// Several training runs sharing one GPU at the same time (`ptqbench train-group`).
//
// Each run is models/trainer.h's train_network on its own host thread with its own GpuContext
// (stream, cuDNN and cuBLAS handles), so the runs' kernels interleave on the device. A network
// whose step is many small kernels leaves most of an H100/H200 idle (ResNet_18 runs at about 5
// TFLOP/s alone); running several together fills those gaps, so the group needs less GPU time
// than its runs one after another (bench/README.md has what was measured). Each run writes exactly what it writes alone (training.h), into
// its own folder; its per-run seconds and images/s are then those of a shared GPU, and the time
// the GPU was held is the group's wall time (GroupReport::wall_seconds).
//
// Progress: every line a run prints goes to `progress` prefixed with "[name] ", one whole line at a
// time, and is appended to the run's train.log (the one file a run writes beyond what it writes
// alone). A run that fails (a diverging loss, a bad file) is reported with its error and the
// others go on. A CUDA error that breaks the context (an illegal address, a failed launch) breaks
// it for every run, and an asynchronous one may surface on another run's thread.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "models/model_desc.h"
#include "models/trainer.h"
#include "models/training.h"

namespace ptq {

struct GroupRun {
  std::string name;  // the run's name in progress lines and group.csv; its folder's name
  NetworkDesc desc;
  TrainOptions options;
  std::string out_dir;  // prepared (prepare_out_dir); holds a state iff `resume`
  bool resume = false;
  // The urgency of the run's stream (gpu/gpu_context.h CudaStream): 0 the default; a run with a
  // higher one has its kernels' blocks scheduled first when the runs compete for the GPU.
  int priority = 0;
};

enum class RunStatus { kFinished, kStopped, kFailed };

// "finished", "stopped" (by stop_after or stop_requested; --resume continues), "failed".
const char* run_status_name(RunStatus status);

struct GroupOutcome {
  std::string name;
  int priority = 0;
  RunStatus status = RunStatus::kFailed;
  std::string error;     // kFailed: what was thrown
  TrainSummary summary;  // kFinished, kStopped: what train_network returned
  double ended_s = 0;    // seconds from the group's start to the run's end (its test pass included)
};

struct GroupReport {
  std::vector<GroupOutcome> outcomes;  // in the order of the runs
  double wall_seconds = 0;             // from the first run's start to the last run's end
};

struct GroupOptions {
  int jobs = 0;  // runs at a time (taken in order); 0: all at once
  std::function<bool()> stop_requested;  // asked by every run before each epoch (thread-safe)
};

// Trains every run, `jobs` at a time, on the current device; returns when all have ended. Throws
// std::invalid_argument for bad arguments (no runs, jobs < 0, a name used twice), before any run
// starts; CudaError when the current device cannot be read; std::system_error when not even one
// thread can be started (fewer than `jobs` take all the runs).
GroupReport train_group(const std::vector<GroupRun>& runs, const TrainData& data,
                        const GroupOptions& options, std::ostream& progress);

// group.csv: kGroupCsvHeader, then one row per outcome (priority as asked, before the device's
// clamp; accuracies in percent; seconds, images/s and TFLOP/s as train_network reports them,
// measured on the shared GPU; ended_s from the group's start; empty fields where a run has no
// value, e.g. test_acc of a stopped run; error quoted CSV-style).
constexpr char kGroupCsvHeader[] =
    "name,model,priority,status,epochs_run,epochs,best_epoch,best_val_acc,test_acc,seconds,"
    "images_per_s,tflops,ended_s,error";
std::string group_csv(const GroupReport& report);

}  // namespace ptq
