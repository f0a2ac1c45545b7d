// The cuDNN/cuBLAS forward against the CPU reference (models/layers_ref.h): a small graph with
// every layer kind, layer by layer, in strict FP32 and in TF32; batch norm in training mode;
// dropout; every study network end to end; checkpoints through the network. GPU only: skips
// without a device. Layer outputs are poisoned with NaN before the checked forward, so an element
// a layer fails to write shows up.
#include "models/network.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include "gpu/device_buffer.h"
#include "models/layers_ref.h"
#include "tests/gpu_test_util.h"
#include "tests/temp_dir.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// |gpu - ref| <= kAbsTol + rel * max|ref| over a layer's output. Chosen, not yet observed on the
// device: strict FP32 against double accumulation differs by ~1e-6 of the range per layer (sums
// of up to a few thousand products; Winograd and FFT algorithms a little more), so 1e-4 per layer
// of the small graph and 2e-3 for logits 150 layers deep leave a wide margin; TF32 rounds the
// products' inputs to 10 mantissa bits (~5e-4 each), so 2e-2 of the layer's range.
constexpr float kAbsTol = 1e-5f;
constexpr float kRelTolFp32 = 1e-4f;
constexpr float kRelTolFp32Network = 2e-3f;
constexpr float kRelTolTf32 = 2e-2f;

// Largest |a - b| relative to max |b|, and whether every element of a is finite.
struct Diff {
  double worst_rel = 0;
  bool finite = true;
};
Diff compare(const std::vector<float>& gpu, const std::vector<float>& ref) {
  Diff d;
  double scale = 0;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::abs(r)));
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    if (!std::isfinite(gpu[i])) d.finite = false;
    const double err = std::abs(static_cast<double>(gpu[i]) - ref[i]);
    d.worst_rel = std::max(d.worst_rel, std::max(0.0, err - kAbsTol) / std::max(scale, 1e-30));
  }
  return d;
}

// Waits for the network's stream (non-blocking: a plain cudaMemcpy does not wait for it) first.
std::vector<float> download(const float* d_ptr, std::size_t n) {
  std::vector<float> h(n);
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(h.data(), d_ptr, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

// Fills every layer output of the last forward with NaN (0xFF bytes).
void poison_outputs(Network& net, int batch) {
  for (std::size_t i = 0; i < net.desc().layers.size(); ++i) {
    const std::size_t bytes = batch * net.desc().layers[i].out.count() * sizeof(float);
    CUDA_CHECK(cudaMemset(const_cast<float*>(net.layer_output(static_cast<int>(i))), 0xFF, bytes));
  }
  CUDA_CHECK(cudaDeviceSynchronize());
}

// A graph with every layer kind and the awkward cases: odd sizes, stride 2 with padding, a
// depthwise and a grouped conv, convs with and without bias, relu6 clipping, a padded max-pool,
// a residual add, a concat, dropout, a linear layer.
NetworkDesc every_kind_graph() {
  NetworkDesc d;
  d.model = "every_kind";
  d.input = {4, 9, 9};
  const auto add = [&](const std::string& name, LayerKind kind, std::vector<int> inputs,
                       int channels = 0, int k = 0, int s = 1, int p = 0, int groups = 1,
                       bool bias = false) {
    Layer l;
    l.name = name, l.kind = kind, l.inputs = std::move(inputs), l.channels = channels;
    l.kernel = k, l.stride = s, l.padding = p, l.groups = groups, l.bias = bias;
    // Shapes come from the same inference the builder uses.
    l.in = l.inputs[0] == kNetworkInput ? d.input : d.layers[l.inputs[0]].out;
    d.layers.push_back(l);
    d.layers.back().out = infer_shape(d, static_cast<int>(d.layers.size()) - 1);
  };
  add("conv0", LayerKind::kConv, {kNetworkInput}, 8, 3, 2, 1, 1, true);  // 8x5x5
  add("bn1", LayerKind::kBatchNorm, {0});
  add("relu2", LayerKind::kRelu, {1});
  add("conv3", LayerKind::kConv, {2}, 8, 3, 1, 1, 8, false);  // depthwise
  add("relus4", LayerKind::kRelu6, {3});
  add("conv5", LayerKind::kConv, {4}, 8, 1, 1, 0, 2, true);  // two groups
  add("add6", LayerKind::kAdd, {5, 2});
  add("pool7", LayerKind::kMaxPool, {6}, 0, 3, 2, 1);  // 8x3x3
  add("conv8", LayerKind::kConv, {7}, 4, 1, 1, 0, 1, false);
  add("cat9", LayerKind::kConcat, {7, 8});  // 12x3x3
  add("aap10", LayerKind::kAvgPool, {9});
  add("flatten11", LayerKind::kFlatten, {10});
  add("drop12", LayerKind::kDropout, {11});
  add("fc13", LayerKind::kLinear, {12}, kNumClasses, 0, 1, 0, 1, true);
  return d;
}

// Gives batch-norm layers non-trivial statistics and affine parameters (through a checkpoint,
// which also exercises loading).
void randomise_batch_norm(Network& net, std::mt19937_64& rng) {
  Checkpoint ck = net.to_checkpoint();
  std::uniform_real_distribution<float> var(0.5f, 2.0f);
  for (NamedTensor& t : ck.tensors) {
    const ParamSpec& s = net.layout().specs[net.layout().find(t.name)];
    if (s.role == ParamRole::kBnRunningVar) {
      for (float& v : t.data) v = var(rng);
    } else if (s.role == ParamRole::kBnGamma) {
      t.data = test::normal_values(t.data.size(), 0.2f, rng);
      for (float& v : t.data) v += 1.0f;
    } else if (s.role == ParamRole::kBnBeta || s.role == ParamRole::kBnRunningMean) {
      t.data = test::normal_values(t.data.size(), 0.3f, rng);
    }
  }
  net.load(ck, "test");
}

class NetworkForward : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = gpu_unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    ctx_ = std::make_unique<GpuContext>();
  }

  // Plans with one forward, poisons every layer output, runs the checked forward, and compares
  // every layer with the CPU reference (inference mode).
  void check_against_reference(Network& net, int batch, float rel_tol, float input_sigma,
                               bool every_layer) {
    std::mt19937_64 rng(test::kSeed + batch);
    const NetworkDesc& desc = net.desc();
    const std::vector<float> h_x =
        test::normal_values(static_cast<std::size_t>(batch) * desc.input.count(), input_sigma, rng);
    DeviceBuffer<float> d_x;
    d_x.upload(h_x);
    net.forward(d_x.data(), batch, ForwardMode::kInference);
    ctx_->synchronize();
    poison_outputs(net, batch);
    const float* d_logits = net.forward(d_x.data(), batch, ForwardMode::kInference);
    ctx_->synchronize();
    const std::vector<std::vector<float>> ref =
        network_forward_ref(desc, net.trainable_to_host(), net.stats_to_host(), h_x, batch);
    const std::vector<float> logits =
        download(d_logits, static_cast<std::size_t>(batch) * kNumClasses);
    const Diff out = compare(logits, ref.back());
    EXPECT_TRUE(out.finite) << desc.model << " logits not finite";
    EXPECT_LE(out.worst_rel, rel_tol) << desc.model << " logits";
    if (!every_layer) return;
    for (std::size_t i = 0; i < desc.layers.size(); ++i) {
      const std::size_t n = static_cast<std::size_t>(batch) * desc.layers[i].out.count();
      const Diff d = compare(download(net.layer_output(static_cast<int>(i)), n), ref[i]);
      EXPECT_TRUE(d.finite) << desc.layers[i].name << " has non-finite values (unwritten?)";
      EXPECT_LE(d.worst_rel, rel_tol) << desc.layers[i].name;
    }
  }

  std::unique_ptr<GpuContext> ctx_;
};

TEST_F(NetworkForward, EveryLayerKindMatchesTheCpuReferenceInFp32) {
  Network net(*ctx_, every_kind_graph(), test::kSeed);
  std::mt19937_64 rng(test::kSeed);
  randomise_batch_norm(net, rng);
  // sigma 8 drives the depthwise conv past 6, so relu6 clips.
  check_against_reference(net, 3, kRelTolFp32, 8.0f, true);
}

TEST_F(NetworkForward, EveryLayerKindMatchesTheCpuReferenceInTf32) {
  Network net(*ctx_, every_kind_graph(), test::kSeed);
  std::mt19937_64 rng(test::kSeed);
  randomise_batch_norm(net, rng);
  net.set_math_mode(MathMode::kTf32);
  check_against_reference(net, 5, kRelTolTf32, 8.0f, true);
}

TEST_F(NetworkForward, EveryStudyNetworkGivesFiniteLogitsMatchingTheReference) {
  for (const std::string& model : model_names()) {
    SCOPED_TRACE(model);
    Network net(*ctx_, build_network_desc(model), test::kSeed);
    std::mt19937_64 rng(test::kSeed);
    randomise_batch_norm(net, rng);
    check_against_reference(net, 2, kRelTolFp32Network, 1.0f, false);
    net.set_math_mode(MathMode::kTf32);
    std::vector<float> h_x = test::normal_values(7 * 3 * 32 * 32, 1.0f, rng);
    DeviceBuffer<float> d_x;
    d_x.upload(h_x);
    const std::vector<float> logits =
        download(net.forward(d_x.data(), 7, ForwardMode::kInference), 70);
    ctx_->synchronize();
    EXPECT_TRUE(
        std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
  }
}

TEST_F(NetworkForward, TrainingModeNormalisesWithBatchStatisticsAndUpdatesRunningOnes) {
  Network net(*ctx_, every_kind_graph(), test::kSeed);
  std::mt19937_64 rng(test::kSeed);
  randomise_batch_norm(net, rng);
  const int batch = 4;
  const NetworkDesc& desc = net.desc();
  const std::vector<float> h_x = test::normal_values(batch * desc.input.count(), 2.0f, rng);
  DeviceBuffer<float> d_x;
  d_x.upload(h_x);
  const std::vector<float> stats_before = net.stats_to_host();
  net.forward(d_x.data(), batch, ForwardMode::kTraining);
  ctx_->synchronize();
  // bn1 reads conv0, which training mode computes exactly as inference does.
  const std::vector<float> conv0 =
      download(net.layer_output(0), batch * desc.layers[0].out.count());
  const ParamLayout& lay = net.layout();
  std::vector<float> trainable = net.trainable_to_host(), stats = stats_before;
  const auto at = [&](std::vector<float>& arena, const char* name) {
    return arena.data() + lay.specs[lay.find(name)].offset;
  };
  std::vector<float> bn_ref;
  batch_norm_training_ref(conv0, batch, desc.layers[1].in, at(trainable, "bn1.weight"),
                          at(trainable, "bn1.bias"), at(stats, "bn1.running_mean"),
                          at(stats, "bn1.running_var"), bn_ref);
  const Diff d = compare(download(net.layer_output(1), bn_ref.size()), bn_ref);
  EXPECT_TRUE(d.finite);
  EXPECT_LE(d.worst_rel, kRelTolFp32);
  std::vector<float> stats_after = net.stats_to_host();
  for (const char* name : {"bn1.running_mean", "bn1.running_var"}) {
    const ParamSpec& s = lay.specs[lay.find(name)];
    const std::vector<float> got(stats_after.begin() + s.offset,
                                 stats_after.begin() + s.offset + s.count());
    const std::vector<float> want(stats.begin() + s.offset, stats.begin() + s.offset + s.count());
    const Diff r = compare(got, want);
    EXPECT_LE(r.worst_rel, kRelTolFp32) << name;
  }
}

TEST_F(NetworkForward, DropoutDropsAboutHalfInTrainingAndIsTheIdentityInInference) {
  Network net(*ctx_, every_kind_graph(), test::kSeed);
  const int batch = 2048;  // 12 features each: ~24k draws
  std::mt19937_64 rng(test::kSeed);
  const std::vector<float> h_x = test::normal_values(batch * net.desc().input.count(), 1.0f, rng);
  DeviceBuffer<float> d_x;
  d_x.upload(h_x);
  const int drop = net.desc().find("drop12");
  const std::size_t n = static_cast<std::size_t>(batch) * net.desc().layers[drop].out.count();
  net.forward(d_x.data(), batch, ForwardMode::kTraining);
  ctx_->synchronize();
  const std::vector<float> in = download(net.layer_output(drop - 1), n);
  const std::vector<float> out = download(net.layer_output(drop), n);
  std::size_t zeros = 0, scaled = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (out[i] == 0.0f)
      ++zeros;
    else if (std::abs(out[i] - in[i] / (1 - kDropoutP)) <= 1e-6f * std::abs(in[i]))
      ++scaled;
  }
  EXPECT_EQ(zeros + scaled, n);
  // Binomial(n, 1/2): 5 standard deviations is ~0.016 n at n = 24k.
  EXPECT_NEAR(static_cast<double>(zeros) / n, kDropoutP, 0.02);
  net.forward(d_x.data(), batch, ForwardMode::kInference);
  ctx_->synchronize();
  EXPECT_EQ(net.layer_output(drop), net.layer_output(drop - 1));
}

TEST_F(NetworkForward, CheckpointRoundTripRestoresTheLogitsBitForBit) {
  const test::TempDir tmp;
  const std::string path = (tmp.path() / "resnet18.ckpt").string();
  Network a(*ctx_, build_network_desc("ResNet_18"), 1);
  std::mt19937_64 rng(test::kSeed);
  randomise_batch_norm(a, rng);
  const std::vector<float> h_x = test::normal_values(4 * 3 * 32 * 32, 1.0f, rng);
  DeviceBuffer<float> d_x;
  d_x.upload(h_x);
  const std::vector<float> before = download(a.forward(d_x.data(), 4, ForwardMode::kInference), 40);
  a.save(path);
  Network b(*ctx_, build_network_desc("ResNet_18"), 2);
  a.load(b.to_checkpoint(), "network b");  // other weights: other logits
  EXPECT_NE(download(a.forward(d_x.data(), 4, ForwardMode::kInference), 40), before);
  a.load(path);  // same network, same algorithms: the same logits, bit for bit
  EXPECT_EQ(download(a.forward(d_x.data(), 4, ForwardMode::kInference), 40), before);
  b.load(path);
  EXPECT_EQ(b.trainable_to_host(), a.trainable_to_host());
  EXPECT_EQ(b.stats_to_host(), a.stats_to_host());
  Network other(*ctx_, build_network_desc("ResNet_50"), 3);
  EXPECT_THROW(other.load(path), CheckpointError);
}

}  // namespace
}  // namespace ptq
