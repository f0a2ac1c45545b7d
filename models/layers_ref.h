// CPU references for the network layers and for a whole inference forward pass: plain loops with
// double accumulation, written straight from the formulas, to check the cuDNN/cuBLAS path against.
// All tensors are host float arrays in NCHW order with batch n; outputs are resized here.
#pragma once

#include <vector>

#include "models/model_desc.h"

namespace ptq {

// y[b,o,i,j] = bias[o] + sum_{c in group(o), u, v} w[o, c - g0, u, v] * x[b, c, i*s+u-p, j*s+v-p]
// (zero outside the input); w is out x in/groups x k x k; bias may be null.
void conv2d_ref(const std::vector<float>& x, int n, TensorShape in, const std::vector<float>& w,
                const float* bias, int out_channels, int kernel, int stride, int padding,
                int groups, std::vector<float>& y);

// The two backward passes of conv2d_ref (no bias), for an output gradient dy of n x out_channels
// x oh x ow: dx[b,c,r,q] = sum over the (o, i, j, u, v) with r = i*s+u-p, q = j*s+v-p of
// w[o, c - g0, u, v] dy[b,o,i,j]; dw[o,c,u,v] = sum_{b,i,j} dy[b,o,i,j] x[b, g0 + c, i*s+u-p,
// j*s+v-p] (zero outside the input). dx is n x in, dw out x in/groups x k x k.
void conv2d_backward_data_ref(const std::vector<float>& dy, int n, TensorShape in,
                              const std::vector<float>& w, int out_channels, int kernel, int stride,
                              int padding, int groups, std::vector<float>& dx);
void conv2d_backward_filter_ref(const std::vector<float>& x, int n, TensorShape in,
                                const std::vector<float>& dy, int out_channels, int kernel,
                                int stride, int padding, int groups, std::vector<float>& dw);

// y = gamma * (x - mean) / sqrt(var + eps) + beta per channel, with the running statistics.
void batch_norm_inference_ref(const std::vector<float>& x, int n, TensorShape s, const float* gamma,
                              const float* beta, const float* mean, const float* var,
                              std::vector<float>& y);

// Training mode: normalises with the batch mean and biased batch variance; then
// running_mean = (1 - m) mean_r + m mean_b, running_var = (1 - m) var_r + m var_b * k / (k - 1)
// with k = n*h*w (unbiased), m = kBatchNormMomentum.
void batch_norm_training_ref(const std::vector<float>& x, int n, TensorShape s, const float* gamma,
                             const float* beta, float* running_mean, float* running_var,
                             std::vector<float>& y);

// max(x, 0), or min(max(x, 0), clip) when clip > 0 (relu6: clip = 6).
void relu_ref(const std::vector<float>& x, float clip, std::vector<float>& y);

// Max over each kernel x kernel window (padding never wins); floor output size.
void max_pool_ref(const std::vector<float>& x, int n, TensorShape in, int kernel, int stride,
                  int padding, std::vector<float>& y);

// Mean over each channel's h x w plane (adaptive average pool to 1x1).
void avg_pool_ref(const std::vector<float>& x, int n, TensorShape in, std::vector<float>& y);

// y[b, o] = bias[o] + sum_i w[o, i] x[b, i]; w is out x in; bias may be null.
void linear_ref(const std::vector<float>& x, int n, int in_features, const std::vector<float>& w,
                const float* bias, int out_features, std::vector<float>& y);

// Element-wise a + b.
void add_ref(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& y);

// Channel concatenation of per-image blocks: parts[i] is n x shapes[i].
void concat_ref(const std::vector<const std::vector<float>*>& parts,
                const std::vector<TensorShape>& shapes, int n, std::vector<float>& y);

// Inference forward of a whole graph (dropout = identity, batch norm with running statistics).
// trainable and stats are the two parameter arenas laid out by param_layout(desc). Returns every
// layer's output (n x layer.out each); the last one holds the logits.
std::vector<std::vector<float>> network_forward_ref(const NetworkDesc& desc,
                                                    const std::vector<float>& trainable,
                                                    const std::vector<float>& stats,
                                                    const std::vector<float>& input, int n);

}  // namespace ptq
