// `ptqbench train`: trains one study network with the study's recipe (models/trainer.h) and writes
// log.csv, best.ckpt, the resume state and summary.json into --out (models/training.h).
//
// Everything a user can get wrong is checked before the GPU is touched, in this order, each a
// usage error (exit code 2): the options, the model, the output folder (created, probed for
// writing), the data folder and its format, the resume state, the data files themselves. No usable
// GPU, a build without CUDA, or a diverging run: exit code 1 with the reason.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/train_args.h"
#include "data/cifar10.h"
#include "data/data_dir.h"
#include "data/dataset.h"
#include "data/fashion_mnist.h"
#include "data/split.h"
#include "models/model_desc.h"
#include "models/training.h"

#ifdef PTQBENCH_WITH_CUDA
#include "gpu/gpu_context.h"
#include "models/trainer.h"
#endif

namespace ptq::cli {
namespace {

constexpr char kUsage[] =
    "usage: ptqbench train --model M --out DIR [--data DIR] [--dataset cifar10|fashion-mnist] "
    "[--optimizer sgd|sgd-momentum|sgd-nesterov|adam] [--epochs N] [--batch N] [--eval-batch N] "
    "[--val-from EPOCH | --val-last N] [--seed S] [--patience P] [--lr X] [--lr-min X] "
    "[--schedule cosine|warmup-cosine] [--warmup EPOCHS] [--momentum X] [--weight-decay X] [--math "
    "tf32|fp32] "
    "[--conv fastest|legacy] [--bn spatial|persistent] [--resume] [--stop-after N]";

}  // namespace

// Options first, then the optimiser's defaults under the explicit values.
TrainArgs parse_train_args(const Args& args) {
  TrainArgs a;
  std::string model, optimizer = "sgd-nesterov", math = "tf32", schedule = "cosine",
                     conv = "fastest", bn = "spatial";
  std::optional<double> lr, lr_min, momentum, weight_decay, warmup;
  std::optional<long long> epochs, batch, eval_batch, val_from, val_last, patience, stop_after;
  std::uint64_t seed = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& opt = args[i];
    if (opt == "--model") {
      model = option_value(args, i);
    } else if (opt == "--data") {
      a.data_dir = option_value(args, i);
    } else if (opt == "--dataset") {
      a.dataset = option_value(args, i);
      if (a.dataset != "cifar10" && a.dataset != "fashion-mnist")
        throw UsageError("--dataset must be cifar10 or fashion-mnist, got '" + a.dataset + "'");
    } else if (opt == "--out") {
      a.out_dir = option_value(args, i);
    } else if (opt == "--optimizer") {
      optimizer = option_value(args, i);
    } else if (opt == "--epochs") {
      epochs = integer_arg(opt, option_value(args, i), 1);
    } else if (opt == "--batch") {
      batch = integer_arg(opt, option_value(args, i), 2);
    } else if (opt == "--eval-batch") {
      eval_batch = integer_arg(opt, option_value(args, i), 0);  // 0: the training batch
    } else if (opt == "--val-from") {
      val_from = integer_arg(opt, option_value(args, i), 1);
    } else if (opt == "--val-last") {
      val_last = integer_arg(opt, option_value(args, i), 1);
    } else if (opt == "--seed") {
      seed = static_cast<std::uint64_t>(integer_arg(opt, option_value(args, i), 0));
    } else if (opt == "--patience") {
      patience = integer_arg(opt, option_value(args, i), 1);
    } else if (opt == "--stop-after") {
      stop_after = integer_arg(opt, option_value(args, i), 0);
    } else if (opt == "--lr") {
      lr = number_arg(opt, option_value(args, i));
    } else if (opt == "--lr-min") {
      lr_min = number_arg(opt, option_value(args, i));
    } else if (opt == "--schedule") {
      schedule = option_value(args, i);
    } else if (opt == "--warmup") {
      warmup = number_arg(opt, option_value(args, i));
    } else if (opt == "--momentum") {
      momentum = number_arg(opt, option_value(args, i));
    } else if (opt == "--weight-decay") {
      weight_decay = number_arg(opt, option_value(args, i));
    } else if (opt == "--math") {
      math = option_value(args, i);
      if (math != "tf32" && math != "fp32")
        throw UsageError("--math must be tf32 or fp32, got '" + math + "'");
    } else if (opt == "--conv") {
      conv = option_value(args, i);
      if (conv != "fastest" && conv != "legacy")
        throw UsageError("--conv must be fastest or legacy, got '" + conv + "'");
    } else if (opt == "--bn") {
      bn = option_value(args, i);
      if (bn != "spatial" && bn != "persistent")
        throw UsageError("--bn must be spatial or persistent, got '" + bn + "'");
    } else if (opt == "--resume") {
      a.resume = true;
    } else {
      throw UsageError("unknown argument '" + opt + "' (" + kUsage + ")");
    }
  }
  if (model.empty()) throw UsageError(std::string("--model is required (") + kUsage + ")");
  if (a.out_dir.empty()) throw UsageError(std::string("--out is required (") + kUsage + ")");

  TrainOptions& o = a.options;
  try {
    o = default_train_options(model, parse_optimizer(optimizer));
  } catch (const TrainOptionError& e) {
    throw UsageError(std::string("--optimizer: ") + e.what());
  }
  constexpr long long kIntMax = 1 << 30;  // keeps every count an int
  const auto as_int = [&](const std::optional<long long>& v, const char* name, int fallback) {
    if (!v) return fallback;
    if (*v > kIntMax) throw UsageError(std::string(name) + " is too large");
    return static_cast<int>(*v);
  };
  o.epochs = as_int(epochs, "--epochs", o.epochs);
  o.batch = as_int(batch, "--batch", o.batch);
  o.eval_batch = as_int(eval_batch, "--eval-batch", o.eval_batch);
  if (val_from && val_last) throw UsageError("give --val-from or --val-last, not both");
  o.val_from = as_int(val_from, "--val-from", o.val_from);
  // The last N epochs (all of them when N >= epochs), whatever --epochs is.
  if (val_last) o.val_from = val_from_for_last(o.epochs, as_int(val_last, "--val-last", 1));
  o.patience = as_int(patience, "--patience", o.patience);
  o.stop_after = as_int(stop_after, "--stop-after", o.stop_after);
  o.seed = seed;
  if (lr) o.lr = static_cast<float>(*lr);
  if (lr_min) o.lr_min = static_cast<float>(*lr_min);
  if (momentum) o.momentum = static_cast<float>(*momentum);
  if (weight_decay) o.weight_decay = static_cast<float>(*weight_decay);
  if (warmup) o.warmup_epochs = static_cast<float>(*warmup);
  try {
    o.schedule = parse_schedule(schedule);
  } catch (const TrainOptionError& e) {
    throw UsageError(std::string("--schedule: ") + e.what());
  }
  o.tf32 = math == "tf32";
  o.graph_conv = conv == "fastest" && o.tf32;  // graph plans are TF32's (models/network.h)
  o.bn_persistent = bn == "persistent";
  return a;
}

std::string detect_dataset(const std::filesystem::path& dir) {
  if (find_cifar10_dir(dir)) return "cifar10";
  if (find_idx_file(dir, "train-images-idx3-ubyte")) return "fashion-mnist";
  throw UsageError("no dataset in " + dir.string() +
                   ": expected CIFAR-10 binary batches (data_batch_1.bin .. test_batch.bin, here "
                   "or in cifar-10-batches-bin/) or Fashion-MNIST IDX files "
                   "(train-images-idx3-ubyte[.gz] ..)");
}

void print_plan(std::ostream& out, const TrainOptions& o, const NetworkDesc& desc) {
  const LayerCost cost = network_cost(desc);
  out << o.model << ": " << cost.params << " parameters, " << cost.macs << " MACs per image; "
      << optimizer_name(o.optimizer) << " lr " << o.lr << " -> " << o.lr_min << " ("
      << schedule_name(o.schedule);
  if (o.warmup_epochs > 0) out << ", " << o.warmup_epochs << " warmup epochs";
  out << "), momentum " << o.momentum << ", weight decay " << o.weight_decay << ", batch "
      << o.batch << " (validation " << evaluation_batch(o) << "), " << o.epochs << " epochs";
  if (o.val_from > 1) out << " (validated from epoch " << o.val_from << ")";
  out << ", patience " << o.patience << ", seed " << o.seed << ", math " << math_name(o.tf32)
      << ", conv " << conv_engines_name(o.graph_conv) << ", bn "
      << batch_norm_mode_name(o.bn_persistent) << '\n';
}

DataChoice choose_data(const std::string& data_dir, const std::string& wanted, std::ostream& out) {
  DataLocation location;
  try {
    location = resolve_data_dir(data_dir);
  } catch (const DatasetError& e) {
    throw UsageError(e.what());
  }
  out << location.message << '\n';
  DataChoice choice{location.path, detect_dataset(location.path)};
  if (!wanted.empty() && wanted != choice.dataset) {
    throw UsageError("--dataset " + wanted + ", but " + location.path.string() + " holds " +
                     choice.dataset);
  }
  return choice;
}

void check_run_state(const std::string& out_dir, const TrainOptions& options, bool resume) {
  try {
    if (resume) {
      check_resume_options(load_resume_state(out_dir), options, out_dir);
    } else if (has_resume_state(out_dir)) {
      throw TrainStateError(out_dir + " holds a run already (" + kResumeFile +
                            "): continue it with --resume, or choose another --out");
    }
  } catch (const TrainStateError& e) {
    throw UsageError(e.what());
  }
}

LoadedData load_train_data(const DataChoice& data, std::ostream& out) {
  LoadedData loaded;
  try {
    loaded.split = split_train_validation(read_dataset(data.path, DatasetPart::kTrain));
    loaded.test = read_dataset(data.path, DatasetPart::kTest);
  } catch (const DatasetError& e) {
    throw UsageError(e.what());
  }
  out << data.dataset << ": " << loaded.split.train.size() << " training, "
      << loaded.split.validation.size() << " validation, " << loaded.test.size()
      << " test images\n";
  return loaded;
}

int run_train(const Args& args) {
  TrainArgs a = parse_train_args(args);
  TrainOptions& o = a.options;
  NetworkDesc desc;
  try {
    validate_train_options(o);
    desc = build_network_desc(o.model);
    prepare_out_dir(a.out_dir);
  } catch (const std::invalid_argument& e) {  // TrainOptionError, ModelError
    throw UsageError(e.what());
  }

  const DataChoice data = choose_data(a.data_dir, a.dataset, std::cout);
  o.dataset = data.dataset;
  check_run_state(a.out_dir, o, a.resume);
  const LoadedData loaded = load_train_data(data, std::cout);
  print_plan(std::cout, o, desc);

#ifdef PTQBENCH_WITH_CUDA
  const std::string no_gpu = gpu_unavailable_reason();
  if (!no_gpu.empty()) {
    std::cerr << "ptqbench train: no usable GPU: " << no_gpu << '\n';
    return 1;
  }
  GpuContext ctx;
  std::cout << "device: " << gpu_device_name() << '\n' << std::flush;
  // The study normalises every dataset with CIFAR-10's channel statistics (kernels/augment_math.h).
  const TrainData train_data{&loaded.split.train, &loaded.split.validation, &loaded.test,
                             kCifar10Normalization};
  train_network(ctx, desc, o, train_data, a.out_dir, a.resume, std::cout);
  return 0;
#else
  std::cerr << "ptqbench train: this ptqbench was built without CUDA; training needs a GPU build\n";
  return 1;
#endif
}

}  // namespace ptq::cli
