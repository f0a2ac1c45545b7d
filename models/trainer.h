// Trains one network on the GPU: the study's recipe (models/training.h) on a train/validation
// split, with a per-epoch log, the best checkpoint, a resume state and a summary in one folder.
//
// Per step, all enqueued on the context's stream with no host synchronisation, allocation or
// copy: loader batch (augmented on the GPU) -> forward(kTraining) -> softmax cross-entropy (mean
// over the batch; loss and accuracy totals accumulate on the device) -> backward -> one optimiser
// launch over the whole parameter arena. Once per epoch: validation in inference mode, one copy of
// the totals to the host, the log row, the checkpoints. The files of an epoch are written by a
// background thread while the next epoch trains; they are complete before the run returns.
//
// Exactness of --resume: the loader's order and augmentation are functions of (seed, epoch) and
// the optimiser state is saved, so a resumed run repeats the uninterrupted one except for (a)
// dropout masks (cuDNN keeps its dropout generator inside the network's plan, which a checkpoint
// does not hold: a resumed run draws masks from a restarted generator) and (b) cuDNN algorithms
// that reduce in a nondeterministic order (the algorithm search can also pick a different one in
// a new process). Networks without dropout resume to the same weights up to that reduction
// order (tests/trainer_test.cpp measures it).
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

#include "data/dataset.h"
#include "gpu/gpu_context.h"
#include "kernels/augment_math.h"
#include "models/model_desc.h"
#include "models/training.h"

namespace ptq {

struct TrainData {
  const Dataset* train = nullptr;       // augmented, shuffled each epoch
  const Dataset* validation = nullptr;  // early stopping and best checkpoint
  const Dataset* test = nullptr;        // evaluated once, with best.ckpt, at the end
  Normalization normalization = kCifar10Normalization;
};

// Validation and test run in batches of the training batch size: the network sizes every
// layer's activation buffer for the largest batch it has planned, so a larger evaluation batch
// would raise the memory of the whole run.
//
// Trains `desc` (whose model must be options.model) on data with options, writing into out_dir
// (training.h lists the files; the folder must exist and be writable: prepare_out_dir). resume:
// continue the state in out_dir (TrainStateError when absent or for other options); otherwise
// out_dir must not hold a state already. Prints one progress line per epoch to `progress`.
// Returns the summary (also written to summary.json) once training has finished; when
// options.stop_after ended the session first, returns a summary with epochs_run so far and
// test_acc NaN, and writes no summary.json. Throws TrainDivergedError on a non-finite loss.
// stop_requested, when given, is asked before every epoch: true ends the session there as
// stop_after does (the state of the last finished epoch is saved; a later resume continues). It is
// called on this thread; models/train_group.h uses it for a time limit and for Ctrl-C.
TrainSummary train_network(GpuContext& ctx, const NetworkDesc& desc, const TrainOptions& options,
                           const TrainData& data, const std::string& out_dir, bool resume,
                           std::ostream& progress,
                           const std::function<bool()>& stop_requested = {});

}  // namespace ptq
