// The backward pass of models/network.h on the GPU (skips without a device):
//  - parameter gradients of every layer kind with parameters (conv with stride, padding, groups,
//    depthwise, with and without bias; batch norm in training mode; linear with bias) against
//    central finite differences, through every layer kind but dropout, on tiny hand-made graphs;
//    one graph reads a layer twice in a concat (with the network input) and in an add;
//  - dropout: the backward masks the gradient with the mask of its forward;
//  - activation gradients of a graph whose layer feeds three consumers, against a CPU computation
//    in double, and as the sum of the gradients its branches give alone;
//  - every study network: finite gradients, non-zero where the maths says so, every bias gradient
//    the sum of its layer's output gradient (for the logits exactly the batch sum of R), padding
//    untouched, and a second backward that rewrites instead of accumulating.
//
// The loss is L = sum(logits * R) with a fixed random R, so dL/dlogits = R is what backward()
// receives; L is summed on the host in double from the float logits. Strict FP32 math throughout.
// Every copy goes through the network's stream (a non-blocking one) and is waited for.
//
// Test: ctest --test-dir build -R NetworkBackward   (or build/tests/network_backward_test)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/device_buffer.h"
#include "models/cudnn_descriptors.h"
#include "models/network.h"
#include "tests/gpu_test_util.h"
#include "tests/test_inputs.h"

namespace ptq {
namespace {

// ---- Tolerances ----

// Finite differences: one parameter p moves to p +- kFdEps. The float32 forward rounds L's
// summands (logit * R); that noise is divided by eps, while the truncation error grows as eps^2
// and a larger step crosses more ReLU / max-pool kinks. 2e-3 is about 1% of a typical weight
// (init bound 1/sqrt(fan_in) ~ 0.2 here): truncation stays below 1e-4 of the gradient, and on the
// CPU reference forward of plain_graph() only 2 of 16 samples of the first conv's weight straddle
// a kink.
constexpr double kFdEps = 2e-3;
// A sample that straddles a kink at kFdEps is tried once more with this smaller step (4x fewer
// kink crossings, 4x more rounding noise in its tolerance).
constexpr double kFdEpsRetry = kFdEps / 4;
// Bound on the rounding error of one evaluation of L relative to S = sum |logit * R| (chosen, not
// yet observed on the device). Observed on the CPU reference forward (double sums rounded to float
// per layer) of plain_graph(): at most 3e-8 of S. Float accumulation adds up to ~6e-8 sqrt(K/2)
// per layer for K-term sums (2.5e-7 for K = 36 in the worst case, much less with the blocked sums
// cuDNN uses). The central difference is then off by at most kLossNoise * S / eps.
constexpr double kLossNoise = 2e-7;
// |central - backward| <= kFdRelTol |backward| + kFdNoiseFactor kLossNoise S / eps. kFdRelTol is
// chosen: the truncation error (~1e-4) and an undetected kink (at most half the tolerance, see
// check_parameter_gradients) fit in it, while a wrong factor, transpose or missing term is off by
// far more. The noise term is 6x the bound so that the kink rule stays sound.
constexpr double kFdRelTol = 1e-2;
constexpr double kFdNoiseFactor = 6.0;
constexpr std::size_t kFdSamples = 16;  // per tensor, drawn at random; all of smaller tensors

// Activation gradients against the CPU computation in double: float32 sums of at most ~100
// products per element, so a few 1e-7 of the layer's largest value (analytic; 2e-5 leaves room
// for Winograd or FFT backward-data algorithms).
constexpr double kActRelTol = 2e-5;
// Dropout scales by 1 / (1 - p): one float multiplication, exact for p = 1/2 (analytic).
constexpr double kDropoutRelTol = 1e-6;
// Share of dropped elements over 4096 draws: 5 standard deviations of Binomial(4096, 1/2) are
// 0.039 (analytic).
constexpr double kDropoutShareTol = 0.04;
// A bias gradient against the sum of its layer's output gradient in double, relative to the sum
// of the magnitudes: float reductions of up to 2048 terms (analytic worst case for a sequential
// sum is n * 6e-8 = 1.2e-4 of that sum; tree reductions are far better).
constexpr double kBiasSumRelTol = 1.2e-4;

// ---- Graphs ----

struct Geometry {
  int channels = 0, kernel = 0, stride = 1, padding = 0, groups = 1;
  bool bias = false;
};
Geometry conv_geometry(int channels, int kernel, int stride, int padding, int groups, bool bias) {
  return {channels, kernel, stride, padding, groups, bias};
}
Geometry pool_geometry(int kernel, int stride, int padding) {
  return {0, kernel, stride, padding, 1, false};
}
Geometry linear_geometry(int features) {
  return {features, 0, 1, 0, 1, true};
}

// Builds a hand-made graph layer by layer, deriving each layer's shapes from its inputs.
class GraphBuilder {
 public:
  GraphBuilder(const std::string& model, TensorShape input) {
    desc_.model = model;
    desc_.input = input;
  }

  int add(const std::string& name, LayerKind kind, std::vector<int> inputs, Geometry g = {}) {
    Layer l;
    l.name = name, l.kind = kind, l.inputs = std::move(inputs);
    l.channels = g.channels, l.kernel = g.kernel, l.stride = g.stride, l.padding = g.padding;
    l.groups = g.groups, l.bias = g.bias;
    l.in = shape_of(l.inputs[0]);
    desc_.layers.push_back(l);
    const int index = static_cast<int>(desc_.layers.size()) - 1;
    desc_.layers.back().out = infer_shape(desc_, index);
    return index;
  }

  const NetworkDesc& desc() const { return desc_; }

 private:
  TensorShape shape_of(int producer) const {
    return producer == kNetworkInput ? desc_.input : desc_.layers[producer].out;
  }
  NetworkDesc desc_;
};

// Every kind with parameters and every kind but dropout to pass through: a conv without padding,
// a depthwise stride-2 padded conv with bias, a two-group 1x1 conv without bias, a padded 3x3 conv
// with bias; batch norms (the second scaled so that relu6 clips); a padded overlapping max-pool;
// relu2 feeds the depthwise conv and the pool, add8 feeds a conv and the concat (fan-out).
NetworkDesc parameter_graph() {
  GraphBuilder g("fd_every_kind", {4, 7, 7});
  const int c0 = g.add("conv0", LayerKind::kConv, {kNetworkInput},
                       conv_geometry(8, 3, 1, 0, 1, true));  // 8x5x5
  const int bn1 = g.add("bn1", LayerKind::kBatchNorm, {c0});
  const int relu2 = g.add("relu2", LayerKind::kRelu, {bn1});
  const int dw3 =
      g.add("conv3", LayerKind::kConv, {relu2}, conv_geometry(8, 3, 2, 1, 8, true));  // 8x3x3
  const int bn4 = g.add("bn4", LayerKind::kBatchNorm, {dw3});
  const int relu6 = g.add("relu6_5", LayerKind::kRelu6, {bn4});
  const int grp6 = g.add("conv6", LayerKind::kConv, {relu6}, conv_geometry(8, 1, 1, 0, 2, false));
  const int pool7 = g.add("pool7", LayerKind::kMaxPool, {relu2}, pool_geometry(3, 2, 1));  // 8x3x3
  const int add8 = g.add("add8", LayerKind::kAdd, {grp6, pool7});
  const int c9 = g.add("conv9", LayerKind::kConv, {add8}, conv_geometry(4, 3, 1, 1, 1, true));
  const int cat10 = g.add("cat10", LayerKind::kConcat, {add8, c9});  // 12x3x3
  const int avg11 = g.add("avg11", LayerKind::kAvgPool, {cat10});
  const int flat12 = g.add("flat12", LayerKind::kFlatten, {avg11});
  g.add("fc13", LayerKind::kLinear, {flat12}, linear_geometry(kNumClasses));
  return g.desc();
}

// Convs and linears without normalisation: a conv without padding, a 2x2 max-pool, a strided
// padded conv, a flatten of a 6x2x2 tensor (its order matters), two linears with a relu between.
NetworkDesc plain_graph() {
  GraphBuilder g("fd_plain", {3, 8, 8});
  const int c0 = g.add("conv0", LayerKind::kConv, {kNetworkInput},
                       conv_geometry(4, 3, 1, 0, 1, true));  // 4x6x6
  const int relu1 = g.add("relu1", LayerKind::kRelu, {c0});
  const int pool2 = g.add("pool2", LayerKind::kMaxPool, {relu1}, pool_geometry(2, 2, 0));  // 4x3x3
  const int c3 =
      g.add("conv3", LayerKind::kConv, {pool2}, conv_geometry(6, 3, 2, 1, 1, false));  // 6x2x2
  const int relu4 = g.add("relu4", LayerKind::kRelu, {c3});
  const int flat5 = g.add("flat5", LayerKind::kFlatten, {relu4});
  const int fc6 = g.add("fc6", LayerKind::kLinear, {flat5}, linear_geometry(16));
  const int relu7 = g.add("relu7", LayerKind::kRelu, {fc6});
  g.add("fc8", LayerKind::kLinear, {relu7}, linear_geometry(kNumClasses));
  return g.desc();
}

// Repeated and shared producers: a concat that reads relu1 twice (its second slice must add onto
// the first) and the network input, after an add has already written relu1's gradient (so every
// slice into relu1 adds); an add of three inputs, one of them twice.
NetworkDesc repeat_graph() {
  GraphBuilder g("fd_repeat", {3, 4, 4});
  const int c0 = g.add("conv0", LayerKind::kConv, {kNetworkInput},
                       conv_geometry(4, 3, 1, 1, 1, true));  // 4x4x4
  const int relu1 = g.add("relu1", LayerKind::kRelu, {c0});
  const int b2 = g.add("conv2", LayerKind::kConv, {relu1}, conv_geometry(2, 1, 1, 0, 1, true));
  const int cat3 = g.add("cat3", LayerKind::kConcat, {relu1, b2, relu1, kNetworkInput});  // 13
  const int c4 = g.add("conv4", LayerKind::kConv, {cat3}, conv_geometry(4, 1, 1, 0, 1, true));
  const int add5 = g.add("add5", LayerKind::kAdd, {c4, relu1, c4});
  const int avg6 = g.add("avg6", LayerKind::kAvgPool, {add5});
  const int flat7 = g.add("flat7", LayerKind::kFlatten, {avg6});
  g.add("fc8", LayerKind::kLinear, {flat7}, linear_geometry(kNumClasses));
  return g.desc();
}

// relu1 feeds three consumers (two convs and an average pool); everything after it is linear, so
// its gradient does not depend on the weights of the branches' outputs.
NetworkDesc fan_out_graph() {
  GraphBuilder g("fan_out", {3, 5, 5});
  const int c0 = g.add("conv0", LayerKind::kConv, {kNetworkInput},
                       conv_geometry(4, 3, 1, 1, 1, true));  // 4x5x5
  const int relu1 = g.add("relu1", LayerKind::kRelu, {c0});
  const int a =
      g.add("conv_a", LayerKind::kConv, {relu1}, conv_geometry(4, 3, 2, 1, 1, false));  // 4x3x3
  const int b =
      g.add("conv_b", LayerKind::kConv, {relu1}, conv_geometry(4, 1, 2, 0, 2, true));  // 4x3x3
  const int sum = g.add("add4", LayerKind::kAdd, {a, b});
  const int pool_sum = g.add("avg5", LayerKind::kAvgPool, {sum});
  const int pool_relu = g.add("avg6", LayerKind::kAvgPool, {relu1});
  const int cat = g.add("cat7", LayerKind::kConcat, {pool_sum, pool_relu});  // 8x1x1
  const int flat = g.add("flat8", LayerKind::kFlatten, {cat});
  g.add("fc9", LayerKind::kLinear, {flat}, linear_geometry(kNumClasses));
  return g.desc();
}

// Dropout where the study puts it, between a flatten and a linear.
NetworkDesc dropout_graph() {
  GraphBuilder g("dropout", {16, 2, 2});
  const int c0 =
      g.add("conv0", LayerKind::kConv, {kNetworkInput}, conv_geometry(16, 1, 1, 0, 1, true));
  const int flat1 = g.add("flat1", LayerKind::kFlatten, {c0});  // 64
  const int drop2 = g.add("drop2", LayerKind::kDropout, {flat1});
  g.add("fc3", LayerKind::kLinear, {drop2}, linear_geometry(kNumClasses));
  return g.desc();
}

// ---- Host <-> device, ordered on the network's stream ----

std::vector<float> download(const GpuContext& ctx, const float* d_src, std::size_t n) {
  std::vector<float> h(n);
  CUDA_CHECK(
      cudaMemcpyAsync(h.data(), d_src, n * sizeof(float), cudaMemcpyDeviceToHost, ctx.stream()));
  ctx.synchronize();
  return h;
}

void upload(const GpuContext& ctx, float* d_dst, const std::vector<float>& h_src) {
  CUDA_CHECK(cudaMemcpyAsync(d_dst, h_src.data(), h_src.size() * sizeof(float),
                             cudaMemcpyHostToDevice, ctx.stream()));
  ctx.synchronize();
}

DeviceBuffer<float> to_device(const GpuContext& ctx, const std::vector<float>& h_src) {
  DeviceBuffer<float> d(h_src.size());
  upload(ctx, d.data(), h_src);
  return d;
}

// Fills n floats with NaN (0xFF bytes), so an element the next pass fails to write shows up.
void poison(const GpuContext& ctx, float* d_dst, std::size_t n) {
  CUDA_CHECK(cudaMemsetAsync(d_dst, 0xFF, n * sizeof(float), ctx.stream()));
  ctx.synchronize();
}

std::size_t layer_floats(const Network& net, int layer, int batch) {
  return static_cast<std::size_t>(batch) * net.desc().layers[layer].out.count();
}

const ParamSpec& spec_of(const Network& net, const std::string& name) {
  const int i = net.layout().find(name);
  if (i < 0) throw std::invalid_argument("no tensor " + name);
  return net.layout().specs[i];
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// Gives the batch norms of a graph non-trivial affine parameters: gamma 1 + N(0, 0.2), beta
// N(0, 0.3); `scaled_bn`, when named, gets gamma 3 and beta 2 instead (outputs ~ N(2, 9): a
// relu6 after it clips ~9% and cuts ~25%).
void randomise_batch_norm(const GpuContext& ctx, Network& net, std::mt19937_64& rng,
                          const std::string& scaled_bn = "") {
  std::vector<float> h = net.trainable_to_host();
  std::normal_distribution<float> gamma(1.0f, 0.2f), beta(0.0f, 0.3f);
  for (const ParamSpec& s : net.layout().specs) {
    if (s.role != ParamRole::kBnGamma && s.role != ParamRole::kBnBeta) continue;
    const bool scaled = net.desc().layers[s.layer].name == scaled_bn;
    for (std::size_t i = 0; i < s.count(); ++i) {
      float& v = h[s.offset + i];
      if (s.role == ParamRole::kBnGamma)
        v = scaled ? 3.0f : gamma(rng);
      else
        v = scaled ? 2.0f : beta(rng);
    }
  }
  upload(ctx, net.trainable(), h);
}

// A network with a fixed random input and fixed loss weights R: L = sum(logits * R).
class LossProbe {
 public:
  LossProbe(GpuContext& ctx, Network& net, int batch, std::mt19937_64& rng)
      : ctx_(ctx), net_(net), batch_(batch) {
    d_x_ = to_device(ctx, test::normal_values(batch * net.desc().input.count(), 1.0f, rng));
    h_r_ = test::normal_values(static_cast<std::size_t>(batch) * kNumClasses, 1.0f, rng);
    d_r_ = to_device(ctx, h_r_);
  }

  // L in double from a training forward; `scale`, when given, receives sum |logit * R|.
  double loss(double* scale = nullptr) {
    const float* d_logits = net_.forward(d_x_.data(), batch_, ForwardMode::kTraining);
    const std::vector<float> logits = download(ctx_, d_logits, h_r_.size());
    double l = 0, s = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
      l += static_cast<double>(logits[i]) * h_r_[i];
      s += std::abs(static_cast<double>(logits[i]) * h_r_[i]);
    }
    if (scale) *scale = s;
    return l;
  }

  // Training forward then backward of R; waits for both.
  void forward_backward() {
    net_.forward(d_x_.data(), batch_, ForwardMode::kTraining);
    net_.backward(d_r_.data());
    ctx_.synchronize();
  }

  int batch() const { return batch_; }
  const std::vector<float>& r() const { return h_r_; }
  const float* d_r() const { return d_r_.data(); }

 private:
  GpuContext& ctx_;
  Network& net_;
  int batch_;
  DeviceBuffer<float> d_x_, d_r_;
  std::vector<float> h_r_;
};

// ---- Finite differences ----

struct FdSummary {
  int checked = 0, skipped = 0;
  double worst = 0;  // largest |central - backward| / tolerance among the checked samples
};

// Checks backward()'s gradient of every trainable tensor on up to kFdSamples random elements:
// central difference (L(p + eps) - L(p - eps)) / (2 eps) of training forwards. Batch norm
// normalises with the batch statistics in training mode; the running statistics each forward
// updates are not read, so every forward computes the same function of the parameters.
//
// Kinks: a sample whose one-sided differences (L+ - L0) / eps and (L0 - L-) / eps disagree by more
// than its tolerance straddles a ReLU, ReLU6 or max-pool kink (or curvature too strong for eps):
// it is tried again with kFdEpsRetry, and skipped if that straddles one too. Across a kink the
// central difference is off by half the one-sided disagreement at most, so a kept sample's kink
// error is at most half the tolerance, the rest covering the rounding noise. At least a quarter of
// each tensor's samples must be kept.
FdSummary check_parameter_gradients(GpuContext& ctx, Network& net, LossProbe& probe,
                                    std::mt19937_64& rng) {
  double scale = 0;
  const double l0 = probe.loss(&scale);
  net.backward(probe.d_r());
  ctx.synchronize();
  const std::vector<float> grads = net.gradients_to_host();
  const std::vector<float> params = net.trainable_to_host();
  const auto set_param = [&](std::size_t at, float value) {
    CUDA_CHECK(cudaMemcpyAsync(net.trainable() + at, &value, sizeof(float), cudaMemcpyHostToDevice,
                               ctx.stream()));
  };
  FdSummary summary;
  for (const ParamSpec& s : net.layout().specs) {
    if (!s.trainable) continue;
    SCOPED_TRACE(s.name);
    std::vector<std::size_t> picks(s.count());
    std::iota(picks.begin(), picks.end(), std::size_t{0});
    std::shuffle(picks.begin(), picks.end(), rng);
    picks.resize(std::min(picks.size(), kFdSamples));
    std::size_t kept = 0;
    for (std::size_t k : picks) {
      const std::size_t at = s.offset + k;
      const float p0 = params[at];
      const double g = grads[at];
      bool smooth = false;
      for (const double eps : {kFdEps, kFdEpsRetry}) {
        const float up = static_cast<float>(p0 + eps), down = static_cast<float>(p0 - eps);
        set_param(at, up);
        const double l_up = probe.loss();
        set_param(at, down);
        const double l_down = probe.loss();
        set_param(at, p0);
        // The steps actually taken, after float rounding of p0 +- eps.
        const double h_up = static_cast<double>(up) - p0, h_down = p0 - static_cast<double>(down);
        const double central = (l_up - l_down) / (h_up + h_down);
        const double one_sided_gap = (l_up - l0) / h_up - (l0 - l_down) / h_down;
        const double tol = kFdRelTol * std::abs(g) + kFdNoiseFactor * kLossNoise * scale / eps;
        if (std::abs(one_sided_gap) > tol) continue;
        smooth = true;
        summary.worst = std::max(summary.worst, std::abs(central - g) / tol);
        EXPECT_LE(std::abs(central - g), tol)
            << "element " << k << " (step " << eps << "): finite difference " << central
            << ", backward " << g;
        break;
      }
      ++(smooth ? summary.checked : summary.skipped);
      kept += smooth;
    }
    EXPECT_GE(kept, std::max<std::size_t>(1, picks.size() / 4))
        << "too many of " << picks.size() << " samples straddle a kink";
  }
  ctx.synchronize();
  return summary;
}

void print_summary(const std::string& graph, const FdSummary& s) {
  std::printf("[ fd ] %s: %d samples checked, %d skipped at kinks, worst error %.3f of tolerance\n",
              graph.c_str(), s.checked, s.skipped, s.worst);
}

// ---- CPU gradients for the fan-out graph ----

// Gradient of a bias-free conv's input: dx[b,c,r,q] = sum of w[o, c - g0(o), u, v] dy[b,o,i,j]
// over r = i*s + u - p, q = j*s + v - p (the transpose of conv2d_ref), in double.
std::vector<double> conv_backward_data_ref(const std::vector<double>& dy, int n, const Layer& l,
                                           const float* w) {
  const TensorShape in = l.in, out = l.out;
  const int in_per_group = in.c / l.groups, out_per_group = l.channels / l.groups;
  std::vector<double> dx(static_cast<std::size_t>(n) * in.count(), 0.0);
  for (int b = 0; b < n; ++b) {
    for (int o = 0; o < out.c; ++o) {
      const int c0 = (o / out_per_group) * in_per_group;
      for (int i = 0; i < out.h; ++i) {
        for (int j = 0; j < out.w; ++j) {
          const double g = dy[((static_cast<std::size_t>(b) * out.c + o) * out.h + i) * out.w + j];
          for (int c = 0; c < in_per_group; ++c) {
            for (int u = 0; u < l.kernel; ++u) {
              const int r = i * l.stride + u - l.padding;
              if (r < 0 || r >= in.h) continue;
              for (int v = 0; v < l.kernel; ++v) {
                const int q = j * l.stride + v - l.padding;
                if (q < 0 || q >= in.w) continue;
                const double wv =
                    w[((static_cast<std::size_t>(o) * in_per_group + c) * l.kernel + u) * l.kernel +
                      v];
                dx[((static_cast<std::size_t>(b) * in.c + c0 + c) * in.h + r) * in.w + q] += wv * g;
              }
            }
          }
        }
      }
    }
  }
  return dx;
}

// dL/dx of y = W x (+ b) for a batch: dx[b, i] = sum_o dy[b, o] W[o, i], in double.
std::vector<double> linear_backward_data_ref(const std::vector<double>& dy, int n, int in_features,
                                             int out_features, const float* w) {
  std::vector<double> dx(static_cast<std::size_t>(n) * in_features, 0.0);
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < out_features; ++o)
      for (int i = 0; i < in_features; ++i)
        dx[static_cast<std::size_t>(b) * in_features + i] +=
            dy[static_cast<std::size_t>(b) * out_features + o] *
            w[static_cast<std::size_t>(o) * in_features + i];
  return dx;
}

// Every layer's output gradient of fan_out_graph() from R, the parameters and conv0's output
// (which sets relu1's mask), written straight from the graph's linear structure after relu1.
std::vector<std::vector<double>> fan_out_gradients_ref(const Network& net,
                                                       const std::vector<float>& params,
                                                       const std::vector<float>& conv0_out,
                                                       const std::vector<float>& r, int n) {
  const NetworkDesc& d = net.desc();
  const auto weight = [&](const char* layer) {
    return params.data() + spec_of(net, std::string(layer) + ".weight").offset;
  };
  const auto at = [&](const char* layer) { return d.find(layer); };
  std::vector<std::vector<double>> g(d.layers.size());
  g[at("fc9")].assign(r.begin(), r.end());
  g[at("flat8")] = linear_backward_data_ref(g[at("fc9")], n, 8, kNumClasses, weight("fc9"));
  g[at("cat7")] = g[at("flat8")];
  g[at("avg5")].resize(n * 4);
  g[at("avg6")].resize(n * 4);
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < 4; ++c) {
      g[at("avg5")][b * 4 + c] = g[at("cat7")][b * 8 + c];
      g[at("avg6")][b * 4 + c] = g[at("cat7")][b * 8 + 4 + c];
    }
  }
  const auto spread = [&](const std::vector<double>& pooled, TensorShape s) {
    // Adaptive average pool backward: each element gets its channel's gradient / (h * w).
    std::vector<double> full(static_cast<std::size_t>(n) * s.count());
    const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
    for (std::size_t k = 0; k < full.size(); ++k) full[k] = pooled[k / plane] / plane;
    return full;
  };
  g[at("add4")] = spread(g[at("avg5")], d.layers[at("add4")].out);
  g[at("conv_a")] = g[at("add4")];
  g[at("conv_b")] = g[at("add4")];
  const std::vector<double> via_a =
      conv_backward_data_ref(g[at("conv_a")], n, d.layers[at("conv_a")], weight("conv_a"));
  const std::vector<double> via_b =
      conv_backward_data_ref(g[at("conv_b")], n, d.layers[at("conv_b")], weight("conv_b"));
  const std::vector<double> via_pool = spread(g[at("avg6")], d.layers[at("relu1")].out);
  std::vector<double>& relu1 = g[at("relu1")];
  relu1.resize(via_a.size());
  for (std::size_t k = 0; k < relu1.size(); ++k) relu1[k] = via_a[k] + via_b[k] + via_pool[k];
  std::vector<double>& conv0 = g[at("conv0")];
  conv0.resize(relu1.size());
  for (std::size_t k = 0; k < conv0.size(); ++k) conv0[k] = conv0_out[k] > 0 ? relu1[k] : 0.0;
  return g;
}

// ---- Tests ----

class NetworkBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    PTQ_REQUIRE_GPU();
    ctx_ = std::make_unique<GpuContext>();
  }

  std::unique_ptr<GpuContext> ctx_;
};

// Under each batch-norm mode of models/network.h (the persistent one reduces differently).
void check_norm_pool_add_concat(GpuContext& ctx, BatchNormMode mode) {
  Network net(ctx, parameter_graph(), test::kSeed);
  net.set_math_mode(MathMode::kFp32);
  net.set_batch_norm_mode(mode);
  std::mt19937_64 rng(test::kSeed);
  randomise_batch_norm(ctx, net, rng, "bn4");
  LossProbe probe(ctx, net, 3, rng);
  // The relu6 must see all three of its regions, or its clipping goes unchecked.
  probe.loss();
  const int relu6 = net.desc().find("relu6_5");
  const std::vector<float> y = download(ctx, net.layer_output(relu6), layer_floats(net, relu6, 3));
  EXPECT_GT(std::count(y.begin(), y.end(), 6.0f), 0) << "relu6 never clips";
  EXPECT_GT(std::count(y.begin(), y.end(), 0.0f), 0) << "relu6 never cuts at 0";
  EXPECT_GT(std::count_if(y.begin(), y.end(), [](float v) { return v > 0 && v < 6; }), 0);
  const FdSummary s = check_parameter_gradients(ctx, net, probe, rng);
  print_summary(net.desc().model + (mode == BatchNormMode::kPersistent ? " (persistent bn)" : ""),
                s);
}

TEST_F(NetworkBackward, ParameterGradientsMatchFiniteDifferencesThroughNormPoolAddConcat) {
  check_norm_pool_add_concat(*ctx_, BatchNormMode::kSpatial);
}

TEST_F(NetworkBackward, PersistentBatchNormGradientsMatchFiniteDifferencesToo) {
  check_norm_pool_add_concat(*ctx_, BatchNormMode::kPersistent);
}

// Every parameter gradient of `desc` in FP32 at batch 2 against finite differences.
void check_graph(GpuContext& ctx, const NetworkDesc& desc, std::uint64_t seed) {
  Network net(ctx, desc, seed);
  net.set_math_mode(MathMode::kFp32);
  std::mt19937_64 rng(seed);
  LossProbe probe(ctx, net, 2, rng);
  const FdSummary s = check_parameter_gradients(ctx, net, probe, rng);
  print_summary(net.desc().model, s);
}

TEST_F(NetworkBackward, ParameterGradientsMatchFiniteDifferencesThroughConvPoolFlattenLinear) {
  check_graph(*ctx_, plain_graph(), test::kSeed + 1);
}

TEST_F(NetworkBackward, ParameterGradientsMatchFiniteDifferencesThroughRepeatedInputs) {
  check_graph(*ctx_, repeat_graph(), test::kSeed + 5);
}

TEST_F(NetworkBackward, DropoutBackpropagatesThroughTheMaskOfItsForward) {
  Network net(*ctx_, dropout_graph(), test::kSeed);
  net.set_math_mode(MathMode::kFp32);
  std::mt19937_64 rng(test::kSeed + 2);
  const int batch = 64;  // 64 x 64 = 4096 dropout draws
  LossProbe probe(*ctx_, net, batch, rng);
  const int drop = net.desc().find("drop2"), flat = net.desc().find("flat1");
  const std::size_t n = layer_floats(net, drop, batch);
  const Layer& fc = net.desc().layers.back();
  const std::vector<double> r(probe.r().begin(), probe.r().end());
  const std::vector<float> params = net.trainable_to_host();
  const std::vector<double> dy_ref =
      linear_backward_data_ref(r, batch, static_cast<int>(fc.in.count()), kNumClasses,
                               params.data() + spec_of(net, "fc3.weight").offset);
  const double scale = 1.0 / (1.0 - kDropoutP);

  // One training forward + backward; returns its mask (1 = kept) after checking both passes use it.
  const auto pass = [&]() {
    probe.forward_backward();
    const std::vector<float> x = download(*ctx_, net.layer_output(flat), n);
    const std::vector<float> y = download(*ctx_, net.layer_output(drop), n);
    const std::vector<float> dy = download(*ctx_, net.layer_gradient(drop), n);
    const std::vector<float> dx = download(*ctx_, net.layer_gradient(flat), n);
    EXPECT_EQ(download(*ctx_, net.layer_gradient(0), n), dx) << "flatten's gradient is a view";
    double dy_scale = 0;
    for (double v : dy_ref) dy_scale = std::max(dy_scale, std::abs(v));
    std::vector<char> kept(n);
    std::size_t bad_forward = 0, bad_backward = 0, bad_dy = 0;
    for (std::size_t i = 0; i < n; ++i) {
      kept[i] = y[i] != 0.0f;
      if (std::abs(dy[i] - dy_ref[i]) > kActRelTol * dy_scale) ++bad_dy;
      if (!kept[i]) {
        if (dx[i] != 0.0f) ++bad_backward;
        continue;
      }
      if (std::abs(y[i] - x[i] * scale) > kDropoutRelTol * std::abs(x[i] * scale)) ++bad_forward;
      if (std::abs(dx[i] - dy[i] * scale) > kDropoutRelTol * std::abs(dy[i] * scale))
        ++bad_backward;
    }
    EXPECT_EQ(bad_forward, 0u) << "kept outputs that are not x / (1 - p)";
    EXPECT_EQ(bad_backward, 0u) << "input gradients that are not dy * mask / (1 - p)";
    EXPECT_EQ(bad_dy, 0u) << "dropout output gradients that are not R W";
    const double dropped = 1.0 - static_cast<double>(std::count(kept.begin(), kept.end(), 1)) / n;
    EXPECT_NEAR(dropped, kDropoutP, kDropoutShareTol);
    return kept;
  };
  const std::vector<char> first = pass();
  const std::vector<char> second = pass();
  // A new forward draws a new mask: independent masks differ in 2 p (1 - p) of the elements.
  std::size_t differ = 0;
  for (std::size_t i = 0; i < n; ++i) differ += first[i] != second[i];
  EXPECT_NEAR(static_cast<double>(differ) / n, 2 * kDropoutP * (1 - kDropoutP), kDropoutShareTol);
}

TEST_F(NetworkBackward, ActivationGradientsWithFanOutMatchACpuComputation) {
  Network net(*ctx_, fan_out_graph(), test::kSeed + 3);
  net.set_math_mode(MathMode::kFp32);
  std::mt19937_64 rng(test::kSeed + 3);
  const int batch = 2;
  LossProbe probe(*ctx_, net, batch, rng);
  probe.forward_backward();
  const std::vector<float> conv0_out =
      download(*ctx_, net.layer_output(0), layer_floats(net, 0, batch));
  const std::vector<std::vector<double>> ref =
      fan_out_gradients_ref(net, net.trainable_to_host(), conv0_out, probe.r(), batch);
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const Layer& l = net.desc().layers[i];
    SCOPED_TRACE(l.name);
    const std::vector<float> got = download(*ctx_, net.layer_gradient(static_cast<int>(i)),
                                            layer_floats(net, static_cast<int>(i), batch));
    ASSERT_EQ(got.size(), ref[i].size());
    double scale = 0;
    for (double v : ref[i]) scale = std::max(scale, std::abs(v));
    ASSERT_GT(scale, 0.0);
    double worst = 0;
    for (std::size_t k = 0; k < got.size(); ++k)
      worst = std::max(worst, std::abs(got[k] - ref[i][k]));
    EXPECT_LE(worst, kActRelTol * scale) << "largest |gradient| " << scale;
  }
}

TEST_F(NetworkBackward, AFannedOutActivationGetsTheSumOfItsBranchesGradients) {
  Network net(*ctx_, fan_out_graph(), test::kSeed + 4);
  net.set_math_mode(MathMode::kFp32);
  std::mt19937_64 rng(test::kSeed + 4);
  const int batch = 2;
  LossProbe probe(*ctx_, net, batch, rng);
  const std::vector<float> original = net.trainable_to_host();
  const int relu1 = net.desc().find("relu1");
  const std::size_t n = layer_floats(net, relu1, batch);
  // relu1's gradient with some branches cut: a conv branch by a zero weight, the pooled skip by
  // zeroing the linear's columns that read it (features 4..7). Nothing after relu1 is non-linear,
  // so each cut leaves the other branches' gradients as they were.
  const auto relu1_gradient = [&](bool conv_a, bool conv_b, bool skip) {
    std::vector<float> p = original;
    const auto zero = [&](const char* name) {
      const ParamSpec& s = spec_of(net, name);
      std::fill(p.begin() + s.offset, p.begin() + s.offset + s.count(), 0.0f);
    };
    if (!conv_a) zero("conv_a.weight");
    if (!conv_b) zero("conv_b.weight");
    if (!skip) {
      const ParamSpec& s = spec_of(net, "fc9.weight");
      for (int o = 0; o < kNumClasses; ++o)
        for (int i = 4; i < 8; ++i) p[s.offset + o * 8 + i] = 0.0f;
    }
    upload(*ctx_, net.trainable(), p);
    probe.forward_backward();
    return download(*ctx_, net.layer_gradient(relu1), n);
  };
  const std::vector<float> all = relu1_gradient(true, true, true);
  const std::vector<float> a = relu1_gradient(true, false, false);
  const std::vector<float> b = relu1_gradient(false, true, false);
  const std::vector<float> skip = relu1_gradient(false, false, true);
  EXPECT_GT(max_abs(a), 0.0);
  EXPECT_GT(max_abs(b), 0.0);
  EXPECT_GT(max_abs(skip), 0.0);
  const double scale = max_abs(all);
  for (std::size_t k = 0; k < n; ++k) {
    const double sum = static_cast<double>(a[k]) + b[k] + skip[k];
    ASSERT_LE(std::abs(all[k] - sum), kActRelTol * scale) << "element " << k;
  }
}

// True when the layer's output goes straight into a batch norm: its bias cannot change the loss.
bool feeds_batch_norm(const NetworkDesc& d, int layer) {
  return std::any_of(d.layers.begin(), d.layers.end(), [&](const Layer& l) {
    return l.kind == LayerKind::kBatchNorm && l.inputs[0] == layer;
  });
}

// Non-zero floats of the gradient arena outside every tensor (the alignment padding).
std::size_t written_padding(const std::vector<float>& arena, const std::vector<char>& covered) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < arena.size(); ++i) n += !covered[i] && arena[i] != 0.0f;
  return n;
}

// Graph-API convolutions (TF32 only) against the legacy calls alone, on the two hand-made graphs
// with every kind of convolution (3x3 on the input, strided, grouped 1x1, depthwise) and a layer
// read by two convolutions (a backward-data pass that adds into its gradient): under kGraph every
// pass with a matching plan runs on it, and in the step after the deciding one every layer's
// output and output gradient and every parameter gradient stay within 2e-2 of that tensor's
// largest value of the legacy run (TF32
// rounds each input to 11 bits, so each layer differs by about 1e-3; network_test's TF32 bound
// per layer, a few layers deep). Biases feeding a batch norm are left out: their gradient is
// rounding noise around 0 (see the next test but one).
constexpr double kEngineRelTol = 2e-2;

double worst_diff(const std::vector<float>& a, const float* b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  return d;
}

TEST_F(NetworkBackward, GraphConvPlansGiveTheLegacyGradientsOnEveryKindOfConvolution) {
  for (const NetworkDesc& desc : {parameter_graph(), fan_out_graph()}) {
    SCOPED_TRACE(desc.model);
    Network legacy(*ctx_, desc, test::kSeed);
    Network graph(*ctx_, desc, test::kSeed);
    legacy.set_conv_engines(ConvEngines::kLegacy);
    graph.set_conv_engines(ConvEngines::kGraph);
    legacy.set_math_mode(MathMode::kTf32);
    graph.set_math_mode(MathMode::kTf32);
    const int batch = 8;
    std::mt19937_64 rng_a(test::kSeed + 9), rng_b(test::kSeed + 9);
    LossProbe a(*ctx_, legacy, batch, rng_a), b(*ctx_, graph, batch, rng_b);
    // The first step decides; the second runs the chosen plans as every later step does (the
    // workspace shrunk to what they need, their variant packs kept). The weights do not change
    // between the two, so both networks' second steps are compared.
    for (int step = 0; step < 2; ++step) {
      a.forward_backward();
      b.forward_backward();
    }

    const std::vector<ConvEngineUse> report = graph.conv_engine_report();
    int on_plans = 0;
    for (const ConvEngineUse& use : report) {
      const bool on_plan = use.engine.rfind("legacy", 0) != 0;
      EXPECT_EQ(on_plan, use.candidates > use.mismatched) << use.key << " " << use.pass;
      on_plans += on_plan;
    }
    ASSERT_GT(on_plans, 0) << "no pass ran on a graph plan: the comparison below checks nothing";
    std::printf("%s: %d of %zu passes on graph plans\n", desc.model.c_str(), on_plans,
                report.size());

    for (std::size_t i = 0; i < desc.layers.size(); ++i) {
      const int layer = static_cast<int>(i);
      const std::size_t n = static_cast<std::size_t>(batch) * desc.layers[i].out.count();
      const std::vector<float> out_a = download(*ctx_, legacy.layer_output(layer), n);
      EXPECT_LE(worst_diff(out_a, download(*ctx_, graph.layer_output(layer), n).data()),
                kEngineRelTol * max_abs(out_a))
          << desc.layers[i].name << " output";
      const std::vector<float> grad_a = download(*ctx_, legacy.layer_gradient(layer), n);
      EXPECT_LE(worst_diff(grad_a, download(*ctx_, graph.layer_gradient(layer), n).data()),
                kEngineRelTol * max_abs(grad_a))
          << desc.layers[i].name << " output gradient";
    }
    const std::vector<float> ga = legacy.gradients_to_host(), gb = graph.gradients_to_host();
    for (const ParamSpec& s : legacy.layout().specs) {
      const Layer& l = desc.layers[s.layer];
      if (!s.trainable || (s.role == ParamRole::kBias && l.kind == LayerKind::kConv &&
                           feeds_batch_norm(desc, s.layer)))
        continue;
      const std::vector<float> ta(ga.begin() + s.offset, ga.begin() + s.offset + s.count());
      EXPECT_LE(worst_diff(ta, gb.data() + s.offset), kEngineRelTol * max_abs(ta)) << s.name;
    }
  }
}

// The study networks under kFastest (the default) in TF32: finite gradients, and a report that
// lists forward, backward-data (writing and adding) and backward-filter passes, each decided one
// timed as the faster of its legacy algorithm and its plans. Their gradients are not compared with
// a legacy run's: on the H200 the two differed by up to 4x this file's kEngineRelTol (ResNet_18)
// and by the gradients' own size (MobileNetV2) at batch 16, each pass within 1e-2 of the legacy
// one on the same inputs (the decision checks that), the TF32 differences grown through the
// batch norms of a deep untrained stack; FP32 reorderings grow the same way (1.5e-3 of a
// gradient through Inception_BN, next test).
TEST_F(NetworkBackward, StudyNetworksDecideEveryConvolutionPassAndReportIt) {
  for (const std::string model : {"ResNet_18", "MobileNetV2"}) {
    SCOPED_TRACE(model);
    Network net(*ctx_, build_network_desc(model), test::kSeed);
    ASSERT_EQ(net.conv_engines(), ConvEngines::kFastest);  // the default
    net.set_math_mode(MathMode::kTf32);
    std::mt19937_64 rng(test::kSeed + 9);
    LossProbe probe(*ctx_, net, 16, rng);
    probe.forward_backward();
    EXPECT_TRUE(all_finite(net.gradients_to_host()));

    const std::vector<ConvEngineUse> report = net.conv_engine_report();
    bool forward = false, data = false, data_adds = false, filter = false;
    int graph = 0;
    for (const ConvEngineUse& use : report) {
      SCOPED_TRACE(use.key + " " + use.pass);
      forward = forward || use.pass == "forward";
      data = data || use.pass == "backward-data";
      data_adds = data_adds || use.pass == "backward-data +=";
      filter = filter || use.pass == "backward-filter";
      EXPECT_FALSE(use.engine.empty());
      EXPECT_GE(use.candidates, use.mismatched);
      if (use.candidates > use.mismatched) {  // plans matched: they and the legacy call were timed
        EXPECT_GT(use.legacy_ms, 0.0f);
        EXPECT_GT(use.chosen_ms, 0.0f);
      }
      graph += use.engine.rfind("legacy", 0) != 0;
    }
    EXPECT_TRUE(forward && data && filter);
    EXPECT_TRUE(data_adds) << "a residual fork's gradient is added by a backward-data pass";
    std::printf("%s: %zu passes decided, %d on graph plans\n", model.c_str(), report.size(), graph);

    Network legacy(*ctx_, build_network_desc(model), test::kSeed);
    legacy.set_conv_engines(ConvEngines::kLegacy);
    legacy.set_math_mode(MathMode::kTf32);
    std::mt19937_64 rng_legacy(test::kSeed + 9);
    LossProbe(*ctx_, legacy, 16, rng_legacy).forward_backward();
    EXPECT_TRUE(legacy.conv_engine_report().empty());
  }
}

TEST_F(NetworkBackward, EveryStudyNetworkGetsFiniteGradientsWrittenNotAccumulated) {
  const int batch = 2;
  for (const std::string& model : model_names()) {
    SCOPED_TRACE(model);
    Network net(*ctx_, build_network_desc(model), test::kSeed);
    net.set_math_mode(MathMode::kFp32);
    // Deterministic algorithms, so that the second backward below must repeat the first bit for
    // bit. With the atomics-based backward algorithms allowed, the two differed by up to 1.5e-3 of
    // a tensor's largest gradient in Inception_BN on the H200 (reordered sums, grown through the
    // batch norms of a deep stack at batch 2): too close to tell from a partial accumulation.
    net.set_deterministic(true);
    std::mt19937_64 rng(test::kSeed + 5);
    LossProbe probe(*ctx_, net, batch, rng);
    const NetworkDesc& d = net.desc();
    const int layers = static_cast<int>(d.layers.size());
    probe.forward_backward();
    const std::vector<float> first = net.gradients_to_host();
    ASSERT_EQ(first.size(), net.trainable_floats());

    std::vector<char> covered(first.size(), 0);
    for (const ParamSpec& s : net.layout().specs) {
      if (!s.trainable) continue;
      std::fill(covered.begin() + s.offset, covered.begin() + s.offset + s.count(), 1);
      const std::vector<float> g(first.begin() + s.offset, first.begin() + s.offset + s.count());
      EXPECT_TRUE(all_finite(g)) << s.name;
      // A bias feeding a batch norm has a zero gradient in exact arithmetic (the normalisation
      // removes any per-channel shift); everything else must receive some gradient.
      const Layer& l = d.layers[s.layer];
      const bool shift_invariant =
          s.role == ParamRole::kBias && l.kind == LayerKind::kConv && feeds_batch_norm(d, s.layer);
      if (!shift_invariant) {
        EXPECT_GT(max_abs(g), 0.0) << s.name << " gets no gradient";
      }
    }
    EXPECT_EQ(written_padding(first, covered), 0u);

    // The logits' gradient is R, and when the logits are a biased layer's output (behind
    // flattens only) that bias's gradient is R's batch sum: with batch 2 one float addition, the
    // same in any order. (Inception_BN ends conv -> avg-pool -> flatten: its classifier bias is
    // covered by the per-channel sums below.)
    EXPECT_EQ(download(*ctx_, net.layer_gradient(layers - 1), probe.r().size()), probe.r());
    int classifier = layers - 1;
    while (d.layers[classifier].kind == LayerKind::kFlatten)
      classifier = d.layers[classifier].inputs[0];
    if (d.layers[classifier].bias) {
      const ParamSpec& last_bias = spec_of(net, d.layers[classifier].name + ".bias");
      for (int o = 0; o < kNumClasses; ++o)
        EXPECT_EQ(first[last_bias.offset + o], probe.r()[o] + probe.r()[kNumClasses + o]) << o;
    }

    // Every bias's gradient is its layer's output gradient summed over batch and positions, to
    // within the rounding of that sum (a bias feeding a batch norm has an exact gradient of 0, so
    // only rounding noise of that size remains).
    for (int i = 0; i < layers; ++i) {
      const Layer& l = d.layers[i];
      if (!l.bias) continue;
      const std::vector<float> dy =
          download(*ctx_, net.layer_gradient(i), layer_floats(net, i, batch));
      const std::size_t plane = static_cast<std::size_t>(l.out.h) * l.out.w;
      const ParamSpec& s = spec_of(net, l.name + ".bias");
      int bad = 0;
      for (int c = 0; c < l.out.c; ++c) {
        double sum = 0, magnitude = 0;
        for (int b = 0; b < batch; ++b) {
          const std::size_t base = (static_cast<std::size_t>(b) * l.out.c + c) * plane;
          for (std::size_t k = 0; k < plane; ++k) {
            sum += dy[base + k];
            magnitude += std::abs(dy[base + k]);
          }
        }
        bad += !(std::abs(first[s.offset + c] - sum) <= kBiasSumRelTol * magnitude);
      }
      EXPECT_EQ(bad, 0) << l.name << ": bias gradients that are not the sum of dy per channel";
    }

    // Poison every gradient (tensor ranges of the arena and every layer's output gradient, but
    // not R itself should the last layer's gradient be R's buffer) and backpropagate again.
    for (const ParamSpec& s : net.layout().specs)
      if (s.trainable) poison(*ctx_, net.gradients() + s.offset, s.count());
    for (int i = 0; i < layers; ++i) {
      const float* d_g = net.layer_gradient(i);
      if (d_g != probe.d_r()) poison(*ctx_, const_cast<float*>(d_g), layer_floats(net, i, batch));
    }
    net.backward(probe.d_r());
    ctx_->synchronize();
    const std::vector<float> second = net.gradients_to_host();
    for (const ParamSpec& s : net.layout().specs) {
      if (!s.trainable) continue;
      const std::vector<float> g1(first.begin() + s.offset, first.begin() + s.offset + s.count());
      const std::vector<float> g2(second.begin() + s.offset, second.begin() + s.offset + s.count());
      if (!all_finite(g2)) {
        ADD_FAILURE() << s.name << " not rewritten by the second backward";
        continue;
      }
      std::size_t differing = 0;
      for (std::size_t k = 0; k < g1.size(); ++k) differing += g2[k] != g1[k];
      EXPECT_EQ(differing, 0u) << s.name << " differs on a second backward (of " << g1.size()
                               << " floats)";
    }
    EXPECT_EQ(written_padding(second, covered), 0u);
    for (int i = 0; i < layers; ++i) {
      EXPECT_TRUE(all_finite(download(*ctx_, net.layer_gradient(i), layer_floats(net, i, batch))))
          << d.layers[i].name << "'s output gradient not rewritten by the second backward";
    }
  }
}

// Layer timing records nothing while off; on, it gives every layer of each pass that ran a
// finite, non-negative time, whose sum fits between events around the whole pass, and it changes
// no result (deterministic algorithms, so the gradients must repeat bit for bit).
TEST_F(NetworkBackward, LayerTimingTimesEveryLayerOfThePassesThatRanAndChangesNothing) {
  Network net(*ctx_, build_network_desc("ResNet_18"), test::kSeed);
  net.set_math_mode(MathMode::kTf32);
  net.set_deterministic(true);
  std::mt19937_64 rng(test::kSeed + 9);
  LossProbe probe(*ctx_, net, 4, rng);
  const std::size_t layers = net.desc().layers.size();
  probe.forward_backward();
  const std::vector<float> untimed = net.gradients_to_host();
  EXPECT_TRUE(net.layer_times().forward_ms.empty());
  EXPECT_TRUE(net.layer_times().backward_ms.empty());

  net.set_layer_timing(true);
  CudaEvent before, after;
  before.record(ctx_->stream());
  probe.loss();  // a forward only
  after.record(ctx_->stream());
  const float pass_ms = after.elapsed_ms_since(before);
  Network::LayerTimes t = net.layer_times();
  ASSERT_EQ(t.forward_ms.size(), layers);
  EXPECT_TRUE(t.backward_ms.empty()) << "no backward has run since timing was switched on";
  double sum = 0;
  int positive = 0;
  for (const float ms : t.forward_ms) {
    EXPECT_TRUE(std::isfinite(ms) && ms >= 0) << ms;
    sum += ms;
    positive += ms > 0;
  }
  EXPECT_LE(sum, pass_ms + 1e-3 * layers);  // within the events' resolution
  EXPECT_GT(positive, static_cast<int>(layers) / 2);

  probe.forward_backward();
  t = net.layer_times();
  ASSERT_EQ(t.forward_ms.size(), layers);
  ASSERT_EQ(t.backward_ms.size(), layers);
  const int conv0 = 0;  // the first layer: a convolution on the image, whose backward is dW only
  ASSERT_EQ(net.desc().layers[conv0].kind, LayerKind::kConv);
  EXPECT_GT(t.backward_ms[conv0], 0.0f);
  for (const float ms : t.backward_ms) EXPECT_TRUE(std::isfinite(ms) && ms >= 0) << ms;
  EXPECT_EQ(net.gradients_to_host(), untimed);

  net.set_layer_timing(false);
  probe.forward_backward();
  EXPECT_EQ(net.gradients_to_host(), untimed);
}

// cuDNN's batch norm, training forward and backward, in both modes against a CPU computation in
// double on the study's batch-norm shapes at the batches scripts/train_fast.sh trains them with
// (the tiny graphs above are too small for cuDNN's persistent kernels): y, dx, dgamma, dbeta and
// the updated running mean and (unbiased) variance within 1e-4 of each tensor's largest value
// (float32 sums of up to 256 x 32 x 32 terms round at about 1e-6). Whole networks cannot tell the
// modes' precision apart: a last-bit difference in a forward moves ReLU kinks and max-pool winners,
// so two correct modes differed by up to 0.15 of a tensor's largest gradient in ResNet_152 at batch
// 256 (H200, FP32, deterministic algorithms). x is shifted and scaled (mean 0.5, sd 2) so that the
// variance does not come for free.
TEST_F(NetworkBackward, BatchNormModesMatchADoubleReferenceOnStudyShapes) {
  constexpr double kBnRelTol = 1e-4;
  struct Shape {
    const char* where;
    int n, c, h, w;
  };
  const Shape shapes[] = {
      {"VGG_19 last", 256, 512, 2, 2},         {"ResNet_18 stage 4", 128, 512, 4, 4},
      {"ResNet_152 stage 4", 256, 2048, 4, 4}, {"Inception_BN 8x8", 256, 384, 8, 8},
      {"MobileNetV2 stem", 256, 32, 32, 32},   {"AlexNet_BN first", 128, 64, 32, 32}};
  std::mt19937_64 rng(test::kSeed + 13);
  for (const Shape& sh : shapes) {
    SCOPED_TRACE(sh.where);
    const std::size_t plane = static_cast<std::size_t>(sh.h) * sh.w, count = sh.n * sh.c * plane;
    std::vector<float> x = test::normal_values(count, 2.0f, rng),
                       dy = test::normal_values(count, 1.0f, rng);
    for (float& v : x) v += 0.5f;
    std::vector<float> gamma = test::normal_values(sh.c, 0.2f, rng),
                       beta = test::normal_values(sh.c, 0.1f, rng);
    for (float& g : gamma) g += 1.0f;

    // The reference: batch mean, biased variance, xhat; dbeta = sum dy, dgamma = sum dy xhat,
    // dx = gamma invstd (dy - dbeta / k - xhat dgamma / k), k = n h w.
    const double k = static_cast<double>(sh.n) * plane;
    std::vector<double> y_ref(count), dx_ref(count), dgamma_ref(sh.c), dbeta_ref(sh.c);
    // Running statistics from non-trivial ones: (1 - m) r + m (batch mean | unbiased variance).
    const std::vector<float> rmean0 = test::normal_values(sh.c, 1.0f, rng);
    std::vector<float> rvar0 = test::normal_values(sh.c, 0.3f, rng);
    for (float& v : rvar0) v = 1.0f + std::abs(v);
    std::vector<double> rmean_ref(sh.c), rvar_ref(sh.c);
    for (int c = 0; c < sh.c; ++c) {
      const auto at = [&](int b, std::size_t i) {
        return (static_cast<std::size_t>(b) * sh.c + c) * plane + i;
      };
      double mean = 0, var = 0, sdy = 0, sdyx = 0;
      for (int b = 0; b < sh.n; ++b)
        for (std::size_t i = 0; i < plane; ++i) mean += x[at(b, i)];
      mean /= k;
      for (int b = 0; b < sh.n; ++b)
        for (std::size_t i = 0; i < plane; ++i) var += (x[at(b, i)] - mean) * (x[at(b, i)] - mean);
      var /= k;
      const double invstd = 1.0 / std::sqrt(var + kBatchNormEps);
      for (int b = 0; b < sh.n; ++b)
        for (std::size_t i = 0; i < plane; ++i) {
          const double xhat = (x[at(b, i)] - mean) * invstd;
          y_ref[at(b, i)] = gamma[c] * xhat + beta[c];
          sdy += dy[at(b, i)];
          sdyx += dy[at(b, i)] * xhat;
        }
      dbeta_ref[c] = sdy;
      rmean_ref[c] = (1 - kBatchNormMomentum) * rmean0[c] + kBatchNormMomentum * mean;
      rvar_ref[c] = (1 - kBatchNormMomentum) * rvar0[c] + kBatchNormMomentum * var * k / (k - 1);
      dgamma_ref[c] = sdyx;
      for (int b = 0; b < sh.n; ++b)
        for (std::size_t i = 0; i < plane; ++i) {
          const double xhat = (x[at(b, i)] - mean) * invstd;
          dx_ref[at(b, i)] = gamma[c] * invstd * (dy[at(b, i)] - sdy / k - xhat * sdyx / k);
        }
    }
    // NaN or Inf anywhere (the persistent mode's documented overflow) gives NaN, which fails.
    const auto rel_error = [](const std::vector<float>& got, const std::vector<double>& ref) {
      double diff = 0, scale = 0;
      for (std::size_t i = 0; i < ref.size(); ++i) {
        const double d = std::abs(got[i] - ref[i]);
        if (std::isnan(d) || d > diff) diff = d;  // keeps a NaN, which std::max would drop
        scale = std::max(scale, std::abs(ref[i]));
      }
      return diff / scale;
    };

    const TensorDescriptor xd = make_tensor_descriptor(sh.n, sh.c, sh.h, sh.w);
    const TensorDescriptor cd = make_tensor_descriptor(1, sh.c, 1, 1);
    DeviceBuffer<float> d_x = to_device(*ctx_, x), d_dy = to_device(*ctx_, dy);
    DeviceBuffer<float> d_gamma = to_device(*ctx_, gamma), d_beta = to_device(*ctx_, beta);
    DeviceBuffer<float> d_y(count), d_dx(count), d_dgamma(sh.c), d_dbeta(sh.c), d_rmean(sh.c),
        d_rvar(sh.c), d_smean(sh.c), d_sinv(sh.c);
    const float one = 1.0f, zero = 0.0f;
    for (const cudnnBatchNormMode_t mode :
         {CUDNN_BATCHNORM_SPATIAL, CUDNN_BATCHNORM_SPATIAL_PERSISTENT}) {
      const bool persistent = mode == CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
      SCOPED_TRACE(persistent ? "persistent" : "spatial");
      d_rmean.upload(rmean0);
      d_rvar.upload(rvar0);
      CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
          ctx_->cudnn(), mode, &one, &zero, xd.get(), d_x.data(), xd.get(), d_y.data(), cd.get(),
          d_gamma.data(), d_beta.data(), kBatchNormMomentum, d_rmean.data(), d_rvar.data(),
          kBatchNormEps, d_smean.data(), d_sinv.data()));
      CUDNN_CHECK(cudnnBatchNormalizationBackward(
          ctx_->cudnn(), mode, &one, &zero, &one, &zero, xd.get(), d_x.data(), xd.get(),
          d_dy.data(), xd.get(), d_dx.data(), cd.get(), d_gamma.data(), d_dgamma.data(),
          d_dbeta.data(), kBatchNormEps, d_smean.data(), d_sinv.data()));
      const double ey = rel_error(download(*ctx_, d_y.data(), count), y_ref);
      const double edx = rel_error(download(*ctx_, d_dx.data(), count), dx_ref);
      const double edg = rel_error(download(*ctx_, d_dgamma.data(), sh.c), dgamma_ref);
      const double edb = rel_error(download(*ctx_, d_dbeta.data(), sh.c), dbeta_ref);
      EXPECT_LE(ey, kBnRelTol);
      EXPECT_LE(edx, kBnRelTol);
      EXPECT_LE(edg, kBnRelTol);
      EXPECT_LE(edb, kBnRelTol);
      const double erm = rel_error(download(*ctx_, d_rmean.data(), sh.c), rmean_ref);
      const double erv = rel_error(download(*ctx_, d_rvar.data(), sh.c), rvar_ref);
      EXPECT_LE(erm, kBnRelTol) << "running mean";
      EXPECT_LE(erv, kBnRelTol) << "running variance";
      std::printf(
          "batch norm %s (%d x %d x %d x %d), %s: error of y %.2g, dx %.2g, dgamma %.2g, "
          "dbeta %.2g, running mean %.2g, running variance %.2g of the largest\n",
          sh.where, sh.n, sh.c, sh.h, sh.w, persistent ? "persistent" : "spatial", ey, edx, edg,
          edb, erm, erv);
    }
  }
}

}  // namespace
}  // namespace ptq
