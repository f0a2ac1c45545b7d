// CPU references for the layers (see layers_ref.h): the formulas as loops, double accumulation.
#include "models/layers_ref.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ptq {
namespace {

// Visits every (b, o, i, j, c, u, v) term of the convolution that lands inside the input, with
// the flat indices of its x (or dx), w (or dw) and y (or dy) elements.
template <typename Term>
void for_each_conv_term(int n, TensorShape in, int out_channels, int kernel, int stride,
                        int padding, int groups, Term term) {
  const int oh = (in.h + 2 * padding - kernel) / stride + 1;
  const int ow = (in.w + 2 * padding - kernel) / stride + 1;
  const int in_per_group = in.c / groups, out_per_group = out_channels / groups;
  for (int b = 0; b < n; ++b) {
    for (int o = 0; o < out_channels; ++o) {
      const int c0 = (o / out_per_group) * in_per_group;
      for (int i = 0; i < oh; ++i) {
        for (int j = 0; j < ow; ++j) {
          const std::size_t yi =
              ((static_cast<std::size_t>(b) * out_channels + o) * oh + i) * ow + j;
          for (int c = 0; c < in_per_group; ++c) {
            for (int u = 0; u < kernel; ++u) {
              const int r = i * stride + u - padding;
              if (r < 0 || r >= in.h) continue;
              for (int v = 0; v < kernel; ++v) {
                const int q = j * stride + v - padding;
                if (q < 0 || q >= in.w) continue;
                term(((static_cast<std::size_t>(b) * in.c + c0 + c) * in.h + r) * in.w + q,
                     ((static_cast<std::size_t>(o) * in_per_group + c) * kernel + u) * kernel + v,
                     yi);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

void conv2d_ref(const std::vector<float>& x, int n, TensorShape in, const std::vector<float>& w,
                const float* bias, int out_channels, int kernel, int stride, int padding,
                int groups, std::vector<float>& y) {
  const int oh = (in.h + 2 * padding - kernel) / stride + 1;
  const int ow = (in.w + 2 * padding - kernel) / stride + 1;
  const std::size_t plane = static_cast<std::size_t>(oh) * ow;
  std::vector<double> acc(static_cast<std::size_t>(n) * out_channels * plane, 0.0);
  if (bias) {
    for (std::size_t k = 0; k < acc.size(); ++k) acc[k] = bias[k / plane % out_channels];
  }
  for_each_conv_term(n, in, out_channels, kernel, stride, padding, groups,
                     [&](std::size_t xi, std::size_t wi, std::size_t yi) {
                       acc[yi] += static_cast<double>(x[xi]) * w[wi];
                     });
  y.assign(acc.begin(), acc.end());
}

void conv2d_backward_data_ref(const std::vector<float>& dy, int n, TensorShape in,
                              const std::vector<float>& w, int out_channels, int kernel, int stride,
                              int padding, int groups, std::vector<float>& dx) {
  std::vector<double> acc(static_cast<std::size_t>(n) * in.count(), 0.0);
  for_each_conv_term(n, in, out_channels, kernel, stride, padding, groups,
                     [&](std::size_t xi, std::size_t wi, std::size_t yi) {
                       acc[xi] += static_cast<double>(w[wi]) * dy[yi];
                     });
  dx.assign(acc.begin(), acc.end());
}

void conv2d_backward_filter_ref(const std::vector<float>& x, int n, TensorShape in,
                                const std::vector<float>& dy, int out_channels, int kernel,
                                int stride, int padding, int groups, std::vector<float>& dw) {
  std::vector<double> acc(
      static_cast<std::size_t>(out_channels) * (in.c / groups) * kernel * kernel, 0.0);
  for_each_conv_term(n, in, out_channels, kernel, stride, padding, groups,
                     [&](std::size_t xi, std::size_t wi, std::size_t yi) {
                       acc[wi] += static_cast<double>(x[xi]) * dy[yi];
                     });
  dw.assign(acc.begin(), acc.end());
}

void batch_norm_inference_ref(const std::vector<float>& x, int n, TensorShape s, const float* gamma,
                              const float* beta, const float* mean, const float* var,
                              std::vector<float>& y) {
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  y.resize(x.size());
  for (int b = 0; b < n; ++b) {
    for (int c = 0; c < s.c; ++c) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(var[c]) + kBatchNormEps);
      const std::size_t base = (static_cast<std::size_t>(b) * s.c + c) * plane;
      for (std::size_t k = 0; k < plane; ++k) {
        y[base + k] = static_cast<float>(
            gamma[c] * (x[base + k] - static_cast<double>(mean[c])) * inv + beta[c]);
      }
    }
  }
}

void batch_norm_training_ref(const std::vector<float>& x, int n, TensorShape s, const float* gamma,
                             const float* beta, float* running_mean, float* running_var,
                             std::vector<float>& y) {
  const std::size_t plane = static_cast<std::size_t>(s.h) * s.w;
  const double count = static_cast<double>(n) * plane;
  y.resize(x.size());
  for (int c = 0; c < s.c; ++c) {
    double sum = 0.0;
    for (int b = 0; b < n; ++b) {
      for (std::size_t k = 0; k < plane; ++k)
        sum += x[(static_cast<std::size_t>(b) * s.c + c) * plane + k];
    }
    const double mean = sum / count;
    double sq = 0.0;
    for (int b = 0; b < n; ++b) {
      for (std::size_t k = 0; k < plane; ++k) {
        const double d = x[(static_cast<std::size_t>(b) * s.c + c) * plane + k] - mean;
        sq += d * d;
      }
    }
    const double var = sq / count;
    const double inv = 1.0 / std::sqrt(var + kBatchNormEps);
    for (int b = 0; b < n; ++b) {
      const std::size_t base = (static_cast<std::size_t>(b) * s.c + c) * plane;
      for (std::size_t k = 0; k < plane; ++k) {
        y[base + k] = static_cast<float>(gamma[c] * (x[base + k] - mean) * inv + beta[c]);
      }
    }
    const double m = kBatchNormMomentum;
    running_mean[c] = static_cast<float>((1 - m) * running_mean[c] + m * mean);
    running_var[c] = static_cast<float>((1 - m) * running_var[c] + m * var * count / (count - 1));
  }
}

void relu_ref(const std::vector<float>& x, float clip, std::vector<float>& y) {
  y.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    float v = std::max(x[i], 0.0f);
    if (clip > 0) v = std::min(v, clip);
    y[i] = v;
  }
}

void max_pool_ref(const std::vector<float>& x, int n, TensorShape in, int kernel, int stride,
                  int padding, std::vector<float>& y) {
  const int oh = (in.h + 2 * padding - kernel) / stride + 1;
  const int ow = (in.w + 2 * padding - kernel) / stride + 1;
  y.assign(static_cast<std::size_t>(n) * in.c * oh * ow, 0.0f);
  for (int bc = 0; bc < n * in.c; ++bc) {
    for (int i = 0; i < oh; ++i) {
      for (int j = 0; j < ow; ++j) {
        float best = -std::numeric_limits<float>::infinity();
        for (int u = 0; u < kernel; ++u) {
          for (int v = 0; v < kernel; ++v) {
            const int r = i * stride + u - padding, q = j * stride + v - padding;
            if (r < 0 || r >= in.h || q < 0 || q >= in.w) continue;
            best = std::max(best, x[(static_cast<std::size_t>(bc) * in.h + r) * in.w + q]);
          }
        }
        y[(static_cast<std::size_t>(bc) * oh + i) * ow + j] = best;
      }
    }
  }
}

void avg_pool_ref(const std::vector<float>& x, int n, TensorShape in, std::vector<float>& y) {
  const std::size_t plane = static_cast<std::size_t>(in.h) * in.w;
  y.assign(static_cast<std::size_t>(n) * in.c, 0.0f);
  for (std::size_t bc = 0; bc < y.size(); ++bc) {
    double sum = 0.0;
    for (std::size_t k = 0; k < plane; ++k) sum += x[bc * plane + k];
    y[bc] = static_cast<float>(sum / static_cast<double>(plane));
  }
}

void linear_ref(const std::vector<float>& x, int n, int in_features, const std::vector<float>& w,
                const float* bias, int out_features, std::vector<float>& y) {
  y.assign(static_cast<std::size_t>(n) * out_features, 0.0f);
  for (int b = 0; b < n; ++b) {
    for (int o = 0; o < out_features; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (int i = 0; i < in_features; ++i) {
        acc += static_cast<double>(w[static_cast<std::size_t>(o) * in_features + i]) *
               x[static_cast<std::size_t>(b) * in_features + i];
      }
      y[static_cast<std::size_t>(b) * out_features + o] = static_cast<float>(acc);
    }
  }
}

void add_ref(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& y) {
  y.resize(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
}

void concat_ref(const std::vector<const std::vector<float>*>& parts,
                const std::vector<TensorShape>& shapes, int n, std::vector<float>& y) {
  std::size_t per_image = 0;
  for (const TensorShape& s : shapes) per_image += static_cast<std::size_t>(s.count());
  y.resize(per_image * n);
  for (int b = 0; b < n; ++b) {
    std::size_t at = per_image * b;
    for (std::size_t p = 0; p < parts.size(); ++p) {
      const std::size_t len = static_cast<std::size_t>(shapes[p].count());
      std::copy_n(parts[p]->begin() + static_cast<std::ptrdiff_t>(len * b), len,
                  y.begin() + static_cast<std::ptrdiff_t>(at));
      at += len;
    }
  }
}

std::vector<std::vector<float>> network_forward_ref(const NetworkDesc& desc,
                                                    const std::vector<float>& trainable,
                                                    const std::vector<float>& stats,
                                                    const std::vector<float>& input, int n) {
  const ParamLayout layout = param_layout(desc);
  // The tensor of layer li with the given name suffix, as a pointer into its arena.
  const auto param = [&](const Layer& l, const char* suffix) -> const float* {
    const int i = layout.find(l.name + suffix);
    if (i < 0) return nullptr;
    const ParamSpec& s = layout.specs[i];
    return (s.trainable ? trainable.data() : stats.data()) + s.offset;
  };
  const auto as_vector = [](const float* p, std::size_t count) {
    return std::vector<float>(p, p + count);
  };
  std::vector<std::vector<float>> out(desc.layers.size());
  for (std::size_t li = 0; li < desc.layers.size(); ++li) {
    const Layer& l = desc.layers[li];
    const auto in_of = [&](int k) -> const std::vector<float>& {
      const int p = l.inputs[k];
      return p == kNetworkInput ? input : out[p];
    };
    const std::vector<float>& x = in_of(0);
    std::vector<float>& y = out[li];
    switch (l.kind) {
      case LayerKind::kConv: {
        const std::size_t wcount =
            static_cast<std::size_t>(l.channels) * (l.in.c / l.groups) * l.kernel * l.kernel;
        conv2d_ref(x, n, l.in, as_vector(param(l, ".weight"), wcount), param(l, ".bias"),
                   l.channels, l.kernel, l.stride, l.padding, l.groups, y);
        break;
      }
      case LayerKind::kBatchNorm:
        batch_norm_inference_ref(x, n, l.in, param(l, ".weight"), param(l, ".bias"),
                                 param(l, ".running_mean"), param(l, ".running_var"), y);
        break;
      case LayerKind::kRelu:
        relu_ref(x, 0.0f, y);
        break;
      case LayerKind::kRelu6:
        relu_ref(x, 6.0f, y);
        break;
      case LayerKind::kMaxPool:
        max_pool_ref(x, n, l.in, l.kernel, l.stride, l.padding, y);
        break;
      case LayerKind::kAvgPool:
        avg_pool_ref(x, n, l.in, y);
        break;
      case LayerKind::kFlatten:
      case LayerKind::kDropout:
        y = x;
        break;
      case LayerKind::kLinear: {
        const int in_features = static_cast<int>(l.in.count());
        linear_ref(
            x, n, in_features,
            as_vector(param(l, ".weight"), static_cast<std::size_t>(l.channels) * in_features),
            param(l, ".bias"), l.channels, y);
        break;
      }
      case LayerKind::kAdd:
        add_ref(in_of(0), in_of(1), y);
        for (std::size_t k = 2; k < l.inputs.size(); ++k) add_ref(y, in_of(static_cast<int>(k)), y);
        break;
      case LayerKind::kConcat: {
        std::vector<const std::vector<float>*> parts;
        std::vector<TensorShape> shapes;
        for (std::size_t k = 0; k < l.inputs.size(); ++k) {
          parts.push_back(&in_of(static_cast<int>(k)));
          const int p = l.inputs[k];
          shapes.push_back(p == kNetworkInput ? desc.input : desc.layers[p].out);
        }
        concat_ref(parts, shapes, n, y);
        break;
      }
    }
  }
  return out;
}

}  // namespace ptq
