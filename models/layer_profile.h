// Where a training step's GPU time goes: per-layer forward and backward times of several steps
// (Network::layer_times) reduced to one median per layer, and those medians summed over groups of
// like layers ("conv3x3", "conv1x1 dw", "bn", ...). Host-only; bench/layer_profile.cu measures.
#pragma once

#include <string>
#include <vector>

#include "models/model_desc.h"

namespace ptq {

// A layer's group: its kind name (layer_kind_name), with the kernel size for convolutions and
// max-pools ("conv3x3", "maxpool3x3"), and " dw" for a depthwise convolution (groups == input
// channels > 1) or " grouped" for another grouped one.
std::string layer_group(const Layer& layer);

struct LayerProfileRow {
  std::string name, group;
  float forward_ms = 0, backward_ms = 0;  // medians over the steps
};

// steps_forward[s][i] and steps_backward[s][i]: layer i's milliseconds in step s. Every step must
// have one time per layer of desc and there must be at least one step (std::invalid_argument
// otherwise). The median of an even count is the mean of the two middle values.
std::vector<LayerProfileRow> layer_profile(const NetworkDesc& desc,
                                           const std::vector<std::vector<float>>& steps_forward,
                                           const std::vector<std::vector<float>>& steps_backward);

struct GroupProfileRow {
  std::string group;
  int layers = 0;
  double forward_ms = 0, backward_ms = 0;
  double total_ms() const { return forward_ms + backward_ms; }
};

// The rows summed by group, largest total first (ties: the group seen first in layer order).
std::vector<GroupProfileRow> group_profile(const std::vector<LayerProfileRow>& rows);

}  // namespace ptq
