// Where one training step of a network spends its GPU time, layer by layer: ptqbench's training
// step (forward in training mode, softmax cross-entropy, backward, one SGD-Nesterov launch) on
// random images, timed whole with CUDA events and then with an event before every layer
// (Network::set_layer_timing). Prints the step's median, the layers' medians summed by group
// (models/layer_profile.h) and the slowest layers; --csv writes every layer's medians. With
// --conv fastest (the default, as in training) it also prints what each convolution pass runs on
// (Network::conv_engine_report: the legacy algorithm or a graph-API plan, and their times when
// decided); --conv legacy keeps every pass on the legacy calls, --conv graph puts every pass that
// has a matching graph-API plan on one (ConvEngines in models/network.h). --bn persistent runs
// the batch norms in cuDNN's persistent mode (BatchNormMode in models/network.h).
//
// usage: layer_profile MODEL [--batch N] [--steps N] [--math tf32|fp32]
//                            [--conv fastest|legacy|graph] [--bn spatial|persistent] [--csv FILE]
#include <cudnn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "gpu/gpu_context.h"
#include "kernels/cross_entropy.cuh"
#include "kernels/optimizer.cuh"
#include "models/checkpoint.h"
#include "models/layer_profile.h"
#include "models/network.h"

namespace ptq {
namespace {

constexpr char kUsage[] =
    "usage: layer_profile MODEL [--batch N] [--steps N] [--math tf32|fp32] "
    "[--conv fastest|legacy|graph] [--bn spatial|persistent] [--csv FILE]";
constexpr int kWarmupSteps = 3;  // the first plans the step (algorithm search); two more warm up

struct Options {
  std::string model, csv;
  int batch = 128, steps = 20;
  MathMode math = MathMode::kTf32;
  ConvEngines conv = ConvEngines::kFastest;
  BatchNormMode bn = BatchNormMode::kSpatial;
};

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "layer_profile: %s\n%s\n", why.c_str(), kUsage);
  std::exit(2);
}

int positive_int(const std::string& option, const std::string& text) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1 || v > (1 << 20))
    usage_error(option + " needs a whole number from 1 to 1048576, got '" + text + "'");
  return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--batch") {
      o.batch = positive_int(a, value());
    } else if (a == "--steps") {
      o.steps = positive_int(a, value());
    } else if (a == "--math") {
      const std::string m = value();
      if (m != "tf32" && m != "fp32") usage_error("--math must be tf32 or fp32, got '" + m + "'");
      o.math = m == "tf32" ? MathMode::kTf32 : MathMode::kFp32;
    } else if (a == "--conv") {
      const std::string m = value();
      if (m != "fastest" && m != "legacy" && m != "graph")
        usage_error("--conv must be fastest, legacy or graph, got '" + m + "'");
      o.conv = m == "fastest" ? ConvEngines::kFastest
               : m == "graph" ? ConvEngines::kGraph
                              : ConvEngines::kLegacy;
    } else if (a == "--bn") {
      const std::string m = value();
      if (m != "spatial" && m != "persistent")
        usage_error("--bn must be spatial or persistent, got '" + m + "'");
      o.bn = m == "persistent" ? BatchNormMode::kPersistent : BatchNormMode::kSpatial;
    } else if (a == "--csv") {
      o.csv = value();
    } else if (!a.empty() && a[0] != '-' && o.model.empty()) {
      o.model = a;
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  if (o.model.empty()) usage_error("MODEL is required");
  return o;
}

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// One training step's device buffers and its enqueue.
struct Step {
  Step(GpuContext& ctx, Network& net, int batch) : ctx(ctx), net(net), batch(batch) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> pixel(-2.0f, 2.0f);
    std::uniform_int_distribution<int> label(0, kNumClasses - 1);
    std::vector<float> h_images(static_cast<std::size_t>(batch) * net.desc().input.count());
    std::vector<int> h_labels(batch);
    for (float& v : h_images) v = pixel(rng);
    for (int& v : h_labels) v = label(rng);
    images.upload(h_images);
    labels.upload(h_labels);
    grad_logits.resize(static_cast<std::size_t>(batch) * kNumClasses);
    totals.resize(1);
    CUDA_CHECK(cudaMemset(totals.data(), 0, totals.bytes()));
    momentum.resize(net.trainable_floats());
  }

  void enqueue() {
    const float* logits = net.forward(images.data(), batch, ForwardMode::kTraining);
    softmax_cross_entropy(logits, labels.data(), batch, kNumClasses, 1.0f / batch,
                          grad_logits.data(), totals.data(), ctx.stream());
    net.backward(grad_logits.data());
    sgd_step(net.trainable(), net.gradients(), momentum.data(), net.trainable_floats(),
             SgdConfig{0.01f, 0.9f, 5e-4f, true}, first, ctx.stream());
    first = false;
  }

  // Medians over `steps` steps, each between two events.
  float median_ms(int steps, const std::function<void()>& after_each = {}) {
    std::vector<float> ms;
    CudaEvent start, stop;
    for (int s = 0; s < steps; ++s) {
      start.record(ctx.stream());
      enqueue();
      stop.record(ctx.stream());
      ms.push_back(stop.elapsed_ms_since(start));
      if (after_each) after_each();
    }
    return median(ms);
  }

  GpuContext& ctx;
  Network& net;
  int batch;
  bool first = true;
  DeviceBuffer<float> images, grad_logits, momentum;
  DeviceBuffer<int> labels;
  DeviceBuffer<LossTotals> totals;
};

int run(const Options& o) {
  NetworkDesc desc;
  try {
    desc = build_network_desc(o.model);
  } catch (const ModelError& e) {
    usage_error(e.what());
  }
  // The CSV's folder must take a file before anything is measured (the file itself is written
  // atomically at the end, so an older one survives a failed run).
  if (!o.csv.empty()) {
    const std::filesystem::path dir = std::filesystem::absolute(o.csv).parent_path();
    if (!std::filesystem::is_directory(dir) || access(dir.c_str(), W_OK) != 0)
      usage_error("--csv: cannot write into " + dir.string());
  }
  const std::string no_gpu = gpu_unavailable_reason();
  if (!no_gpu.empty()) {
    std::fprintf(stderr, "layer_profile: %s\n", no_gpu.c_str());
    return 1;
  }
  GpuContext ctx;
  Network net(ctx, desc, 0);
  net.set_math_mode(o.math);
  net.set_conv_engines(o.conv);
  net.set_batch_norm_mode(o.bn);
  Step step(ctx, net, o.batch);
  for (int s = 0; s < kWarmupSteps; ++s) step.enqueue();
  ctx.synchronize();

  const float step_ms = step.median_ms(o.steps);
  std::vector<std::vector<float>> fwd, bwd;
  net.set_layer_timing(true);
  const float timed_step_ms = step.median_ms(o.steps, [&] {
    Network::LayerTimes t = net.layer_times();
    fwd.push_back(std::move(t.forward_ms));
    bwd.push_back(std::move(t.backward_ms));
  });
  const std::vector<LayerProfileRow> rows = layer_profile(desc, fwd, bwd);
  const std::vector<GroupProfileRow> groups = group_profile(rows);

  const double macs = static_cast<double>(network_cost(desc).macs);
  std::printf(
      "%s, batch %d, %s, conv %s, bn %s, %s, cuDNN %zu, medians of %d steps after %d warm-up "
      "steps\n",
      o.model.c_str(), o.batch, o.math == MathMode::kTf32 ? "tf32" : "fp32",
      o.conv == ConvEngines::kFastest ? "fastest"
      : o.conv == ConvEngines::kGraph ? "graph"
                                      : "legacy",
      o.bn == BatchNormMode::kPersistent ? "persistent" : "spatial", gpu_device_name().c_str(),
      cudnnGetVersion(), o.steps, kWarmupSteps);
  std::printf("training step %.3f ms: %.0f images/s, %.2f TFLOP/s (3 x forward MACs x 2)\n",
              step_ms, o.batch / (step_ms / 1e3), 6.0 * macs * o.batch / (step_ms / 1e3) / 1e12);
  double layers_ms = 0;
  for (const GroupProfileRow& g : groups) layers_ms += g.total_ms();
  std::printf(
      "with an event per layer %.3f ms; the layers' medians add up to %.3f ms (the rest: "
      "loss, optimiser, the first gradient copy)\n\n",
      timed_step_ms, layers_ms);
  std::printf("  %-18s %6s %12s %12s %12s %7s\n", "group", "layers", "forward ms", "backward ms",
              "total ms", "share");
  for (const GroupProfileRow& g : groups) {
    std::printf("  %-18s %6d %12.3f %12.3f %12.3f %6.1f%%\n", g.group.c_str(), g.layers,
                g.forward_ms, g.backward_ms, g.total_ms(), 100.0 * g.total_ms() / layers_ms);
  }
  std::vector<LayerProfileRow> slowest = rows;
  std::stable_sort(slowest.begin(), slowest.end(), [](const auto& a, const auto& b) {
    return a.forward_ms + a.backward_ms > b.forward_ms + b.backward_ms;
  });
  slowest.resize(std::min<std::size_t>(slowest.size(), 12));
  std::printf("\n  %-28s %-14s %12s %12s\n", "slowest layers", "group", "forward ms",
              "backward ms");
  for (const LayerProfileRow& r : slowest) {
    std::printf("  %-28s %-14s %12.3f %12.3f\n", r.name.c_str(), r.group.c_str(), r.forward_ms,
                r.backward_ms);
  }
  const std::vector<ConvEngineUse> engines = net.conv_engine_report();
  if (!engines.empty()) {
    double legacy_ms = 0, chosen_ms = 0;
    int graph = 0, mismatched = 0;
    for (const ConvEngineUse& u : engines) {
      legacy_ms += u.legacy_ms;
      chosen_ms += u.candidates > u.mismatched ? u.chosen_ms : u.legacy_ms;
      graph += u.engine.rfind("legacy", 0) != 0;
      mismatched += u.mismatched;
    }
    std::printf(
        "\n  convolution passes, one row per shape and pass (ms per run while deciding, 5 back to "
        "back; "
        "0 where no plan was tried)\n  %d of %zu on graph-API plans, %d candidate plans dropped "
        "for differing from the legacy result; legacy %.3f ms, chosen %.3f ms summed\n",
        graph, engines.size(), mismatched, legacy_ms, chosen_ms);
    std::printf("  %-44s %-18s %9s %9s %5s  %s\n", "shape", "pass", "legacy", "chosen", "tried",
                "engine");
    for (const ConvEngineUse& u : engines) {
      std::printf("  %-44s %-18s %9.3f %9.3f %3d/%d  %s\n", u.key.c_str(), u.pass.c_str(),
                  u.legacy_ms, u.chosen_ms, u.candidates - u.mismatched, u.candidates,
                  u.engine.c_str());
    }
  }
  if (!o.csv.empty()) {
    std::ostringstream csv;
    csv << "layer,group,forward_ms,backward_ms\n";
    for (const LayerProfileRow& r : rows)
      csv << r.name << ',' << r.group << ',' << r.forward_ms << ',' << r.backward_ms << '\n';
    const std::string text = csv.str();
    const std::string problem = write_file_atomically(o.csv, text.data(), text.size());
    if (!problem.empty()) {
      std::fprintf(stderr, "layer_profile: cannot write %s: %s\n", o.csv.c_str(), problem.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace ptq

int main(int argc, char** argv) {
  return ptq::run(ptq::parse(argc, argv));
}
