// The training loop on the GPU: see trainer.h (the recipe and the files: training.h).
#include "models/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include "data/loader.h"
#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "gpu/pinned_buffer.h"
#include "kernels/cross_entropy.cuh"
#include "kernels/optimizer.cuh"
#include "models/network.h"

namespace ptq {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string path_in(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string problem = write_file_atomically(path, text.data(), text.size());
  if (!problem.empty()) throw TrainStateError(path + ": " + problem);
}

// "1h02m03s", "4m05s", "6s".
std::string duration_text(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

// Runs one job at a time on its own thread; wait() joins it and rethrows what it threw.
class BackgroundWriter {
 public:
  BackgroundWriter() = default;
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;
  ~BackgroundWriter() {
    if (thread_.joinable()) thread_.join();  // an unwinding caller still gets complete files
  }

  void wait() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  void start(std::function<void()> job) {
    wait();
    thread_ = std::thread([this, job = std::move(job)] {
      try {
        job();
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }

 private:
  std::thread thread_;
  std::exception_ptr error_;
};

// The optimiser's device buffers (training.h names them) and its step over the whole arena.
class OptimizerState {
 public:
  // Zeroed on stream (the steps run there; a plain cudaMemset would not be ordered with them).
  OptimizerState(const TrainOptions& options, std::size_t n, cudaStream_t stream)
      : options_(options), n_(n) {
    for (std::size_t i = 0; i < names().size(); ++i) {
      buffers_.emplace_back(n);
      CUDA_CHECK(cudaMemsetAsync(buffers_.back().data(), 0, buffers_.back().bytes(), stream));
    }
  }

  std::vector<std::string> names() const {
    switch (options_.optimizer) {
      case OptimizerKind::kSgd:
        return {};
      case OptimizerKind::kSgdMomentum:
      case OptimizerKind::kSgdNesterov:
        return {"momentum"};
      case OptimizerKind::kAdam:
        return {"adam_m", "adam_v"};
    }
    return {};
  }

  // Step number steps_done + 1 with learning rate lr; enqueued on stream.
  void step(float* d_params, const float* d_grads, float lr, std::int64_t steps_done,
            cudaStream_t stream) {
    if (options_.optimizer == OptimizerKind::kAdam) {
      AdamConfig c;
      c.lr = lr;
      c.weight_decay = options_.weight_decay;
      adam_step(d_params, d_grads, buffers_[0].data(), buffers_[1].data(), n_, c,
                static_cast<int>(steps_done + 1), stream);
    } else {
      SgdConfig c;
      c.lr = lr;
      c.momentum = options_.optimizer == OptimizerKind::kSgd ? 0.0f : options_.momentum;
      c.weight_decay = options_.weight_decay;
      c.nesterov = options_.optimizer == OptimizerKind::kSgdNesterov;
      sgd_step(d_params, d_grads, buffers_.empty() ? nullptr : buffers_[0].data(), n_, c,
               steps_done == 0, stream);
    }
  }

  std::size_t floats() const { return n_; }
  const std::vector<DeviceBuffer<float>>& buffers() const { return buffers_; }

  void load(const std::vector<std::pair<std::string, std::vector<float>>>& h,
            const std::string& source) {
    const std::vector<std::string> n = names();
    if (h.size() != n.size())
      throw TrainStateError(source + ": " + std::to_string(h.size()) +
                            " optimiser buffers, expected " + std::to_string(n.size()));
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (h[i].first != n[i] || h[i].second.size() != n_) {
        throw TrainStateError(source + ": optimiser buffer '" + h[i].first + "' of " +
                              std::to_string(h[i].second.size()) + " floats, expected '" + n[i] +
                              "' of " + std::to_string(n_));
      }
      buffers_[i].upload(h[i].second.data());
    }
  }

 private:
  TrainOptions options_;
  std::size_t n_;
  std::vector<DeviceBuffer<float>> buffers_;
};

// Page-locked host copies of the network's arenas and the optimiser's buffers, taken at an
// epoch's end in stream order: the copies queue behind the epoch's steps and its validation, so
// the host waits for nothing but the stream synchronisation that ends every epoch anyway, and
// never for the whole device (DeviceBuffer::download does that, and in a group it would wait for
// every other run's queued work). tensors() builds the files' tensors from them on the writer's
// thread while the next epoch runs; take() must not run again until that job has finished.
// Host memory: the parameters and every optimiser buffer once more, page-locked, for the whole
// run (and the writer's pageable tensors while it writes).
class StateSnapshot {
 public:
  StateSnapshot(const Network& net, const OptimizerState& optimizer)
      : net_(net),
        optimizer_(optimizer),
        trainable_(net.trainable_floats()),
        stats_(net.stats_floats()) {
    for (std::size_t i = 0; i < optimizer.buffers().size(); ++i)
      optimizer_buffers_.emplace_back(optimizer.floats());
  }

  void take(cudaStream_t stream) {
    copy(trainable_, net_.trainable(), stream);
    copy(stats_, net_.stats(), stream);
    for (std::size_t i = 0; i < optimizer_buffers_.size(); ++i)
      copy(optimizer_buffers_[i], optimizer_.buffers()[i].data(), stream);
  }

  // Host only; the stream must have passed take()'s copies.
  ResumeTensors tensors() const {
    ResumeTensors t{net_.checkpoint_from(trainable_.data(), stats_.data()), {}};
    const std::vector<std::string> names = optimizer_.names();
    for (std::size_t i = 0; i < optimizer_buffers_.size(); ++i) {
      const float* h = optimizer_buffers_[i].data();
      t.optimizer.emplace_back(names[i], std::vector<float>(h, h + optimizer_buffers_[i].size()));
    }
    return t;
  }

 private:
  static void copy(PinnedBuffer<float>& h, const float* d, cudaStream_t stream) {
    if (h.size() == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(h.data(), d, h.bytes(), cudaMemcpyDeviceToHost, stream));
  }

  const Network& net_;
  const OptimizerState& optimizer_;
  PinnedBuffer<float> trainable_, stats_;
  std::vector<PinnedBuffer<float>> optimizer_buffers_;
};

// Adds the loss and accuracy of every batch of the loader's data, in inference mode, to *d_totals.
void evaluate(Network& net, BatchLoader& loader, LossTotals* d_totals, cudaStream_t stream) {
  loader.start_epoch(0);
  Batch b;
  while (loader.next(&b)) {
    const int n = static_cast<int>(b.count);
    const float* d_logits = net.forward(b.d_images, n, ForwardMode::kInference);
    softmax_cross_entropy(d_logits, b.d_labels, n, kNumClasses, 0.0f, nullptr, d_totals, stream);
  }
}

double mean_loss(const LossTotals& t) {
  return t.count ? t.loss_sum / t.count : 0.0;
}
double accuracy(const LossTotals& t) {
  return t.count ? 100.0 * t.correct / t.count : 0.0;
}

}  // namespace

TrainSummary train_network(GpuContext& ctx, const NetworkDesc& desc, const TrainOptions& options,
                           const TrainData& data, const std::string& out_dir, bool resume,
                           std::ostream& progress_out,
                           const std::function<bool()>& stop_requested) {
  validate_train_options(options);
  if (desc.model != options.model) {
    throw TrainOptionError("the network is " + desc.model + ", the options are for " +
                           options.model);
  }
  if (!data.train || !data.validation || !data.test || data.train->size() == 0 ||
      data.validation->size() == 0 || data.test->size() == 0) {
    throw TrainOptionError("training needs non-empty train, validation and test sets");
  }
  const cudaStream_t stream = ctx.stream();
  Network net(ctx, desc, options.seed);
  net.set_math_mode(options.tf32 ? MathMode::kTf32 : MathMode::kFp32);
  net.set_conv_engines(options.graph_conv ? ConvEngines::kFastest : ConvEngines::kLegacy);
  net.set_batch_norm_mode(options.bn_persistent ? BatchNormMode::kPersistent
                                                : BatchNormMode::kSpatial);
  OptimizerState optimizer(options, net.trainable_floats(), stream);

  const std::string log_path = path_in(out_dir, "log.csv");
  const std::string best_path = path_in(out_dir, "best.ckpt");
  TrainProgress progress;
  progress.stopping.patience = options.patience;
  if (resume) {
    const ResumeState state = load_resume_state(out_dir);
    check_resume_options(state, options, out_dir);
    const ResumeTensors tensors = load_resume_tensors(out_dir, state);
    const std::string source = path_in(out_dir, state.tensors_file);
    net.load(tensors.network, source);
    optimizer.load(tensors.optimizer, source);
    progress = state.progress;
    write_text_file(log_path, log_text(progress.history));  // drops rows of an unsaved epoch
    progress_out << "resuming " << out_dir << " after epoch " << progress.epochs_done << "/"
                 << options.epochs;
    if (progress.stopping.best_epoch > 0) {
      progress_out << " (best validation accuracy " << progress.stopping.best_val_acc
                   << "% at epoch " << progress.stopping.best_epoch << ")\n";
    } else {
      progress_out << " (no epoch validated yet)\n";
    }
  } else {
    if (has_resume_state(out_dir)) {
      throw TrainStateError(out_dir + " holds a run already (" + kResumeFile +
                            "): continue it with --resume, or choose another --out");
    }
    write_text_file(log_path, log_text({}));
  }

  const auto batch = static_cast<std::size_t>(options.batch);
  LoaderOptions train_options = LoaderOptions::training(options.seed, batch);
  LoaderOptions eval_options =
      LoaderOptions::evaluation(static_cast<std::size_t>(evaluation_batch(options)));
  train_options.normalization = eval_options.normalization = data.normalization;
  BatchLoader train_loader(*data.train, train_options, stream);
  BatchLoader val_loader(*data.validation, eval_options, stream);
  const auto steps_per_epoch = static_cast<std::int64_t>(train_loader.batches_per_epoch());

  DeviceBuffer<float> d_grad_logits(batch * kNumClasses);
  // [0] training pass, [1] validation, [2] a planning validation pass before --val-from (unread)
  DeviceBuffer<LossTotals> d_totals(3);
  PinnedBuffer<LossTotals> h_totals(3);
  CudaEvent train_begin, train_end, val_end, snapshot_begin, snapshot_end;
  StateSnapshot snapshot(net, optimizer);
  std::ofstream log(log_path, std::ios::app);  // before the writer, which appends to it
  if (!log) throw TrainStateError("cannot append to " + log_path);
  BackgroundWriter writer;

  double session_seconds = 0;
  int session_epochs = 0;
  // Where the session's epochs spent their time (printed at its end), from CUDA events on the
  // stream: the training passes, validation, the state copies, and the stream's idle time while
  // the host waited for the previous epoch's files (inside the epoch's seconds since the state
  // copies moved off the training thread; before, that wait came after an epoch's time).
  double session_train_s = 0, session_val_s = 0, session_copy_s = 0, session_file_wait_s = 0;
  const auto session_may_go_on = [&] {
    if (options.stop_after != 0 && session_epochs >= options.stop_after) return false;
    return !stop_requested || !stop_requested();
  };
  while (!progress.finished && progress.epochs_done < options.epochs && session_may_go_on()) {
    const int epoch = progress.epochs_done;  // 0-based here, 1-based in the log
    const Clock::time_point wall_begin = Clock::now();

    // The session's first step launches the loader's, loss's and optimiser's kernels for the first
    // time: it holds the device setup lock from the epoch's start, like a network's first pass
    // (gpu/device_setup_lock.h).
    std::unique_lock<std::recursive_mutex> first_step(device_setup_mutex(), std::defer_lock);
    if (session_epochs == 0) first_step.lock();
    CUDA_CHECK(cudaMemsetAsync(d_totals.data(), 0, d_totals.bytes(), stream));
    train_begin.record(stream);
    train_loader.start_epoch(static_cast<std::uint64_t>(epoch));
    Batch b;
    std::int64_t steps = progress.steps;
    const float first_lr = static_cast<float>(scheduled_lr(options, steps, steps_per_epoch));
    while (train_loader.next(&b)) {
      const float lr = static_cast<float>(scheduled_lr(options, steps, steps_per_epoch));
      const int n = static_cast<int>(b.count);
      const float* d_logits = net.forward(b.d_images, n, ForwardMode::kTraining);
      softmax_cross_entropy(d_logits, b.d_labels, n, kNumClasses, 1.0f / n, d_grad_logits.data(),
                            d_totals.data(), stream);
      net.backward(d_grad_logits.data());
      optimizer.step(net.trainable(), net.gradients(), lr, steps++, stream);
      if (first_step.owns_lock()) first_step.unlock();
    }
    if (first_step.owns_lock()) first_step.unlock();
    train_end.record(stream);
    // The session's first epoch runs the validation pass even before --val-from (uncounted):
    // it plans the inference batches, the last one's remainder too (cuDNN's algorithm search
    // and the graph plans' timing), at the start, where a group's runs plan theirs anyway. Left
    // to the first validated epoch, that planning ran on a busy GPU under the setup lock: 40-60 s
    // for some runs of the eighth session's nine, each waiting for the one before.
    const bool validated = epoch + 1 >= options.val_from;
    if (validated || session_epochs == 0) {
      std::unique_lock<std::recursive_mutex> setup(device_setup_mutex(), std::defer_lock);
      if (session_epochs == 0) setup.lock();  // the first validation's first launches, as above
      evaluate(net, val_loader, d_totals.data() + (validated ? 1 : 2), stream);
    }
    val_end.record(stream);
    writer.wait();  // the previous epoch's files are written: the snapshot may be overwritten
    // Recorded after the wait, so val_end -> snapshot_begin is how long the stream stood idle for
    // the files (the host may wait while validation still runs; that part costs nothing).
    snapshot_begin.record(stream);
    snapshot.take(stream);
    snapshot_end.record(stream);
    CUDA_CHECK(cudaMemcpyAsync(h_totals.data(), d_totals.data(), d_totals.bytes(),
                               cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    const double train_seconds = train_end.elapsed_ms_since(train_begin) / 1e3;
    session_train_s += train_seconds;
    session_val_s += val_end.elapsed_ms_since(train_end) / 1e3;
    session_copy_s += snapshot_end.elapsed_ms_since(snapshot_begin) / 1e3;
    session_file_wait_s += snapshot_begin.elapsed_ms_since(val_end) / 1e3;

    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.lr = first_lr;
    rec.train_loss = mean_loss(h_totals.data()[0]);
    rec.train_acc = accuracy(h_totals.data()[0]);
    constexpr double kNotValidated = std::numeric_limits<double>::quiet_NaN();
    rec.val_loss = validated ? mean_loss(h_totals.data()[1]) : kNotValidated;
    rec.val_acc = validated ? accuracy(h_totals.data()[1]) : kNotValidated;
    rec.images_per_s = h_totals.data()[0].count / train_seconds;
    if (!std::isfinite(rec.train_loss) || (validated && !std::isfinite(rec.val_loss))) {
      // The previous epoch's files are complete (writer.wait() above).
      const std::string kept = epoch == 0
                                   ? " holds only the log's header"
                                   : std::string(" keeps log.csv, ") +
                                         (progress.stopping.best_epoch > 0 ? "best.ckpt " : "") +
                                         "and the resume state of epoch " + std::to_string(epoch);
      const std::string validation =
          validated ? ", validation " + std::to_string(rec.val_loss) : std::string();
      // The persistent batch-norm mode can overflow on very large finite inputs (network.h).
      const std::string hint = options.bn_persistent ? "; a lower --lr or --bn spatial may help"
                                                     : "; a lower --lr may help";
      throw TrainDivergedError("epoch " + std::to_string(rec.epoch) + ": the " +
                               (std::isfinite(rec.train_loss) ? "validation" : "training") +
                               " loss is not finite (train " + std::to_string(rec.train_loss) +
                               validation + ", lr " + std::to_string(first_lr) +
                               " at the epoch's start): training diverged. " + out_dir + kept +
                               hint);
    }

    const bool improved = validated && progress.stopping.record(rec.epoch, rec.val_acc);
    progress.epochs_done = rec.epoch;
    progress.steps = steps;
    progress.train_seconds += train_seconds;
    progress.train_images += static_cast<std::int64_t>(h_totals.data()[0].count);
    progress.finished = progress.epochs_done == options.epochs || progress.stopping.should_stop();
    rec.seconds = seconds_since(wall_begin);
    progress.seconds += rec.seconds;
    progress.history.push_back(rec);
    session_seconds += rec.seconds;
    ++session_epochs;

    writer.start([&out_dir, &options, &log, &snapshot, best_path, improved, progress] {
      const ResumeTensors tensors = snapshot.tensors();
      if (improved) save_checkpoint(best_path, tensors.network);
      save_resume_state(out_dir, options, progress, tensors);
      log << log_row(progress.history.back()) << '\n' << std::flush;
      if (!log) throw TrainStateError("cannot append to the log in " + out_dir);
    });

    const int left = progress.finished ? 0 : options.epochs - progress.epochs_done;
    char val[32] = "val -";  // not validated before --val-from
    if (validated) {
      std::snprintf(val, sizeof val, "val %.2f%%%s", rec.val_acc, improved ? " (best)" : "");
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %d/%d  lr %.3g  loss %.4f  train %.2f%%  %s  %.0f img/s  %.1f s  left ~%s",
                  rec.epoch, options.epochs, rec.lr, rec.train_loss, rec.train_acc, val,
                  rec.images_per_s, rec.seconds,
                  duration_text(left * session_seconds / session_epochs).c_str());
    progress_out << line << '\n' << std::flush;
    if (session_epochs == 1 && options.graph_conv) {
      const std::vector<ConvEngineUse> uses = net.conv_engine_report();
      const auto graph = std::count_if(uses.begin(), uses.end(), [](const ConvEngineUse& u) {
        return u.engine.rfind("legacy", 0) != 0;
      });
      progress_out << "convolutions: " << graph << " of " << uses.size()
                   << " passes (per shape and batch) on cuDNN graph-API plans, the rest on "
                      "legacy algorithms\n";
    }
    if (progress.finished && progress.epochs_done < options.epochs) {
      progress_out << "early stop: no better validation accuracy for " << options.patience
                   << " epochs (best " << progress.stopping.best_val_acc << "% at epoch "
                   << progress.stopping.best_epoch << ")\n";
    }
  }
  const Clock::time_point last_files = Clock::now();
  writer.wait();
  if (session_epochs > 0) {
    const double other_s =
        session_seconds - session_train_s - session_val_s - session_copy_s - session_file_wait_s;
    char line[320];
    std::snprintf(line, sizeof line,
                  "this session's %d epochs took %s: training passes %.1f s, validation %.1f s, "
                  "state copies %.2f s, waiting for files %.2f s, the rest %.1f s; the last "
                  "epoch's files %.2f s after them",
                  session_epochs, duration_text(session_seconds).c_str(), session_train_s,
                  session_val_s, session_copy_s, session_file_wait_s, other_s,
                  seconds_since(last_files));
    progress_out << line << '\n' << std::flush;
  }

  TrainSummary summary;
  summary.options = options;
  summary.options.stop_after = 0;
  summary.device = gpu_device_name();
  summary.epochs_run = progress.epochs_done;
  summary.stopped_early = progress.finished && progress.epochs_done < options.epochs;
  summary.best_epoch = progress.stopping.best_epoch;
  summary.best_val_acc = progress.stopping.best_val_acc;
  summary.seconds = progress.seconds;
  summary.images_per_s =
      progress.train_seconds > 0 ? progress.train_images / progress.train_seconds : 0.0;
  summary.forward_macs = network_cost(desc).macs;
  summary.tflops =
      training_tflops(summary.forward_macs, progress.train_images, progress.train_seconds);
  summary.test_acc = summary.test_loss = std::numeric_limits<double>::quiet_NaN();
  if (!progress.finished) {
    progress_out << "stopped after epoch " << progress.epochs_done << "/" << options.epochs
                 << " as asked; continue with --resume\n";
    return summary;
  }

  net.load(best_path);
  BatchLoader test_loader(*data.test, eval_options, stream);
  CUDA_CHECK(cudaMemsetAsync(d_totals.data(), 0, sizeof(LossTotals), stream));
  {
    // A resumed run that had finished gets here without an epoch: these are its first launches.
    std::unique_lock<std::recursive_mutex> setup(device_setup_mutex(), std::defer_lock);
    if (session_epochs == 0) setup.lock();
    evaluate(net, test_loader, d_totals.data(), stream);
  }
  CUDA_CHECK(cudaMemcpyAsync(h_totals.data(), d_totals.data(), sizeof(LossTotals),
                             cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  summary.test_acc = accuracy(h_totals.data()[0]);
  summary.test_loss = mean_loss(h_totals.data()[0]);
  write_text_file(path_in(out_dir, "summary.json"), summary_json(summary));
  char line[256];
  std::snprintf(line, sizeof line,
                "test accuracy %.2f%% (best.ckpt, epoch %d, validation %.2f%%); %d epochs in %s, "
                "%.0f img/s, %.2f TFLOP/s (%s)",
                summary.test_acc, summary.best_epoch, summary.best_val_acc, summary.epochs_run,
                duration_text(summary.seconds).c_str(), summary.images_per_s, summary.tflops,
                math_name(options.tf32));
  progress_out << line << '\n' << std::flush;
  return summary;
}

}  // namespace ptq
