// The training recipe and its bookkeeping (DESIGN.md section 3), host-only; the GPU loop that uses
// it is models/trainer.h. Options with the study's defaults per optimiser, the cosine schedule,
// early stopping, the per-epoch log, the resume state and the summary.
//
// Output folder of a run (`ptqbench train --out DIR`):
//   log.csv        kTrainLogHeader, then one row per epoch (accuracies in percent, lr the epoch's)
//   best.ckpt      the network at the best validation accuracy so far (checkpoint format v1)
//   resume.txt     the resume state (below), rewritten atomically after every epoch
//   resume.0.ckpt, resume.1.ckpt   the tensors of the last two states, alternating
//   summary.json   written once training has finished (summary_json below)
//
// Resume state, version 2. resume.txt is "key=value" lines in a fixed order: `version=2`; the
// options (model, dataset, optimizer, lr, lr_min, schedule, warmup_epochs, momentum, weight_decay,
// epochs, batch, seed, patience, math); the progress (epochs_done, steps, best_epoch, best_val_acc,
// stale_epochs, finished, seconds, train_seconds, train_images); `tensors=resume.<epochs_done %
// 2>.ckpt`; then one `row=` per finished epoch in log.csv's format (whose validation fields are
// empty for an epoch before --val-from: a state with such rows is not readable by builds older
// than --val-from, which the version does not say). Floats are written so they read
// back to the same value (%.9g for float, %.17g for double). The tensors file is a checkpoint
// (checkpoint.h) holding the network's tensors, the optimiser's buffers as flat tensors named
// "optimizer.<buffer>" (the trainable arena's length and layout, padding included) and
// "resume.epochs_done" [1]. The checkpoint is written first, to the file the previous state does
// not name, then resume.txt (both atomically), so a crash at any point leaves a consistent state.
// Version 1 (written before the schedule was an option) lacks schedule and warmup_epochs and is
// read as the study's per-epoch cosine without warmup, which is what it ran.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/checkpoint.h"

namespace ptq {

// A bad option value or an output folder that cannot be used: a usage error (exit code 2).
class TrainOptionError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A resume state that is absent, corrupt or written for other options, or an output folder that
// already holds a run: refused before any training (exit code 2).
class TrainStateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Training diverged (a NaN or infinite loss); what was written before stays (exit code 1).
class TrainDivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OptimizerKind { kSgd, kSgdMomentum, kSgdNesterov, kAdam };

// "sgd", "sgd-momentum", "sgd-nesterov", "adam".
const char* optimizer_name(OptimizerKind kind);
// The kind of a name above; throws TrainOptionError listing the names otherwise.
OptimizerKind parse_optimizer(const std::string& name);

// How the learning rate moves over a run (scheduled_lr gives the value of every step):
//   kCosine        the study's: per epoch, cosine_lr(lr, lr_min, epoch, epochs) for all its steps.
//   kWarmupCosine  per step: a linear warmup to lr over the first warmup_epochs, then a cosine
//                  from lr to lr_min over the remaining steps (a one-cycle shape, for short runs
//                  at a higher lr).
enum class LrSchedule { kCosine, kWarmupCosine };

// "cosine", "warmup-cosine".
const char* schedule_name(LrSchedule schedule);
// The schedule of a name above; throws TrainOptionError listing the names otherwise.
LrSchedule parse_schedule(const std::string& name);

constexpr int kDefaultEpochs = 30;
constexpr int kDefaultBatch = 128;
constexpr int kDefaultPatience = 10;

struct TrainOptions {
  std::string model;
  std::string dataset = "cifar10";  // "cifar10" or "fashion-mnist"
  OptimizerKind optimizer = OptimizerKind::kSgdNesterov;
  float lr = 0.005f;     // the schedule's peak: the first epoch's rate, after any warmup
  float lr_min = 5e-5f;  // cosine annealing floor, reached after `epochs`
  LrSchedule schedule = LrSchedule::kCosine;
  float warmup_epochs = 0;  // kWarmupCosine only; may be fractional
  float momentum = 0.95f;   // SGD momentum; must be 0 for plain SGD and Adam
  float weight_decay = 1e-4f;
  int epochs = kDefaultEpochs;
  int batch = kDefaultBatch;
  std::uint64_t seed = 0;           // network initialisation, shuffling, augmentation
  int patience = kDefaultPatience;  // stop after this many epochs without a better validation acc
  bool tf32 = true;                 // TF32 tensor cores (else strict FP32 math)
  // Not part of the run's identity (a resume may change it): end this invocation after this many
  // epochs, 0 for no limit. A later --resume continues.
  int stop_after = 0;
  // Not part of the run's identity either (a speed choice, like the algorithms cuDNN picks):
  // true runs each convolution pass on the faster of cuDNN's legacy algorithm and its graph-API
  // plans (ConvEngines::kFastest in models/network.h), false on the legacy calls only; `ptqbench
  // train` sets it false under strict FP32, where the network uses the legacy calls anyway.
  bool graph_conv = true;
  // Not part of the run's identity either: images per validation and test forward, 0 for the
  // training batch (inference mode, so it changes no result beyond the rounding of another
  // algorithm). The network's layer outputs are sized for the larger of the two batches.
  int eval_batch = 0;
  // Not part of the run's identity either (what was measured stays; a resume may move it): the
  // first epoch (1-based) whose end runs the validation pass; earlier epochs are not validated,
  // leave val_loss and val_acc empty in log.csv, never write best.ckpt and do not count towards
  // the patience. 1 (the default) validates every epoch; at most epochs, so the last one always
  // is. A one-cycle run's best epoch came in its last eighth in every run of the nine so far, so
  // validating only the last quarter saves most of the validation passes and loses nothing.
  // (The session's first epoch still runs a validation pass, uncounted, to plan its batches.)
  int val_from = 1;
  // Not part of the run's identity either (a speed choice): true runs the batch norms of the
  // training passes in cuDNN's persistent mode (BatchNormMode::kPersistent in models/network.h).
  bool bn_persistent = false;
};

// The --val-from that validates the last `last` (>= 1) of `epochs` epochs: all of them when
// last >= epochs (`ptqbench train --val-last N`).
int val_from_for_last(int epochs, int last);

// The validation and test batch: eval_batch, or batch when it is 0.
int evaluation_batch(const TrainOptions& options);

// "fastest" or "legacy" (the --conv values).
const char* conv_engines_name(bool graph_conv);
// "persistent" or "spatial" (the --bn values).
const char* batch_norm_mode_name(bool bn_persistent);

// The study's settings for an optimiser (DESIGN.md section 3): sgd lr 0.005; sgd-momentum lr 0.005
// momentum 0.9; sgd-nesterov lr 0.005 momentum 0.95 weight decay 1e-4; all three annealed to 5e-5;
// adam lr 1e-3 annealed to 1e-5. No weight decay but for sgd-nesterov.
TrainOptions default_train_options(const std::string& model, OptimizerKind optimizer);

// Throws TrainOptionError naming the first bad value: lr > 0 and finite, 0 <= lr_min <= lr,
// 0 <= momentum < 1 (0 for sgd and adam, which have none), weight_decay >= 0, epochs >= 1,
// batch >= 2 (batch norm needs two samples), eval_batch >= 0, 1 <= val_from <= epochs,
// patience >= 1, stop_after >= 0,
// dataset cifar10 or fashion-mnist, 0 <= warmup_epochs < epochs and a warmup only with
// kWarmupCosine.
void validate_train_options(const TrainOptions& options);

// "tf32" or "fp32".
const char* math_name(bool tf32);

// Cosine annealing per epoch (PyTorch's CosineAnnealingLR with T_max = epochs):
// lr_min + (lr - lr_min) * (1 + cos(pi * epoch / epochs)) / 2 for epoch 0, 1, ..: lr at epoch 0,
// the mean halfway, lr_min at epoch == epochs.
double cosine_lr(double lr, double lr_min, int epoch, int epochs);

// The learning rate of optimiser step `step` (0-based over the whole run) when an epoch has
// steps_per_epoch (>= 1) steps. kCosine: cosine_lr of the step's epoch. kWarmupCosine, with
// W = min(T - 1, max(1, round(warmup_epochs * steps_per_epoch))) warmup steps when
// warmup_epochs > 0 (else W = 0; halves round away from zero) and T = epochs * steps_per_epoch
// steps in all: lr * (step + 1) / W for step < W, then
// lr_min + (lr - lr_min) * (1 + cos(pi * (step - W) / (T - W))) / 2, which is lr at step W and
// reaches lr_min at step T (one past the last step).
double scheduled_lr(const TrainOptions& options, std::int64_t step, std::int64_t steps_per_epoch);

// Early stopping on validation accuracy: an epoch improves when its accuracy is strictly above the
// best so far; training stops once `patience` epochs in a row have not improved.
struct EarlyStopping {
  int patience = kDefaultPatience;
  int best_epoch = 0;  // 1-based; 0 before the first epoch
  double best_val_acc = 0;
  int stale_epochs = 0;  // epochs since the best one

  // Records epoch's accuracy; true when it is the new best.
  bool record(int epoch, double val_acc);
  bool should_stop() const { return stale_epochs >= patience; }
};

// One row of log.csv. Accuracies in percent; loss the mean cross-entropy; seconds the epoch's
// wall time (training and validation); images_per_s the training pass's throughput. val_loss and
// val_acc are NaN for an epoch before TrainOptions::val_from (empty fields in log.csv).
struct EpochRecord {
  int epoch = 0;  // 1-based; lr is the learning rate of the epoch's first step
  double lr = 0, train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double seconds = 0, images_per_s = 0;
};

constexpr char kTrainLogHeader[] =
    "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,images_per_s";

// The row without a newline (doubles as %.17g, so it reads back exactly).
std::string log_row(const EpochRecord& record);
// Parses a row written by log_row; throws TrainStateError (naming `source`) when it is not one.
EpochRecord parse_log_row(const std::string& row, const std::string& source);
// The header and the rows, newline-terminated: the whole of log.csv.
std::string log_text(const std::vector<EpochRecord>& history);

// Where a run stands after its last finished epoch.
struct TrainProgress {
  int epochs_done = 0;
  std::int64_t steps = 0;  // optimiser steps taken: SGD's first step, Adam's t
  EarlyStopping stopping;
  bool finished = false;          // all epochs run, or stopped early
  double seconds = 0;             // wall seconds of the finished epochs, every session together
  double train_seconds = 0;       // seconds of the training passes alone (CUDA events)
  std::int64_t train_images = 0;  // images seen by those passes
  std::vector<EpochRecord> history;
};

struct ResumeState {
  TrainOptions options;  // stop_after is not stored (0 on load)
  TrainProgress progress;
  std::string tensors_file;  // file name inside the folder, e.g. "resume.1.ckpt"
};

// The tensors a state needs besides its text: the network's checkpoint and the optimiser's named
// flat buffers (none for plain SGD; "momentum"; Adam's "adam_m" and "adam_v").
struct ResumeTensors {
  Checkpoint network;
  std::vector<std::pair<std::string, std::vector<float>>> optimizer;
};

constexpr char kResumeFile[] = "resume.txt";

// True when dir holds a resume state (resume.txt).
bool has_resume_state(const std::string& dir);

// Writes the tensors to dir/resume.<epochs_done % 2>.ckpt, then dir/resume.txt naming them, each
// atomically. Throws CheckpointError or TrainStateError when a file cannot be written.
void save_resume_state(const std::string& dir, const TrainOptions& options,
                       const TrainProgress& progress, const ResumeTensors& tensors);

// Reads dir/resume.txt (not the tensors: cheap, for checks before the GPU is touched). Throws
// TrainStateError when absent, unreadable, of another version or malformed.
ResumeState load_resume_state(const std::string& dir);

// Reads the tensors the state names and checks they belong to it (epochs_done) and to its model.
// Throws TrainStateError or CheckpointError.
ResumeTensors load_resume_tensors(const std::string& dir, const ResumeState& state);

// Throws TrainStateError naming the first option (stop_after excepted) in which `wanted` differs
// from the state's, with both values.
void check_resume_options(const ResumeState& state, const TrainOptions& wanted,
                          const std::string& dir);

// Creates dir (and parents) when missing and checks a file can be written in it; throws
// TrainOptionError saying why not. Writes nothing that stays.
void prepare_out_dir(const std::string& dir);

// What a finished run reports (summary.json). Of the options outside the run's identity
// (eval_batch, val_from, graph_conv, bn_persistent) it holds the last session's: a resumed run
// that changed them says so only in its sessions' train.log lines.
struct TrainSummary {
  TrainOptions options;
  std::string device;
  int epochs_run = 0;
  bool stopped_early = false;
  int best_epoch = 0;
  double best_val_acc = 0;
  double test_acc = 0, test_loss = 0;  // of best.ckpt on the test set
  double seconds = 0;                  // wall seconds of the training epochs, all sessions
  double images_per_s = 0;             // training images / seconds of the training passes
  double tflops = 0;                   // achieved, training counted as 3 x forward MACs x 2 FLOPs
  std::int64_t forward_macs = 0;       // per image (network_cost)
};

// Training FLOP/s in TFLOP/s: images x 3 (forward, backward data, backward weights) x forward MACs
// x 2 FLOPs per MAC / seconds / 1e12. 0 when seconds is 0.
double training_tflops(std::int64_t forward_macs, std::int64_t images, double seconds);

// One JSON object, newline-terminated: every field of the summary and its options.
std::string summary_json(const TrainSummary& summary);

}  // namespace ptq
