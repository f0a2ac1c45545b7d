// Layer groups and the reduction of per-layer step times (models/layer_profile.h), on the CPU.
#include "models/layer_profile.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace ptq {
namespace {

Layer conv(int in_c, int kernel, int groups) {
  Layer l;
  l.kind = LayerKind::kConv;
  l.in = {in_c, 8, 8};
  l.kernel = kernel;
  l.groups = groups;
  return l;
}

TEST(LayerProfile, GroupsNameKernelSizeAndGrouping) {
  EXPECT_EQ(layer_group(conv(64, 3, 1)), "conv3x3");
  EXPECT_EQ(layer_group(conv(64, 1, 1)), "conv1x1");
  EXPECT_EQ(layer_group(conv(64, 3, 64)), "conv3x3 dw");
  EXPECT_EQ(layer_group(conv(64, 3, 2)), "conv3x3 grouped");
  Layer pool;
  pool.kind = LayerKind::kMaxPool;
  pool.kernel = 3;
  EXPECT_EQ(layer_group(pool), "maxpool3x3");
  Layer bn;
  bn.kind = LayerKind::kBatchNorm;
  bn.kernel = 3;  // ignored outside conv and max-pool
  EXPECT_EQ(layer_group(bn), "bn");
}

TEST(LayerProfile, EveryStudyLayerHasAGroup) {
  for (const std::string& model : model_names()) {
    const NetworkDesc desc = build_network_desc(model);
    for (const Layer& l : desc.layers)
      EXPECT_FALSE(layer_group(l).empty()) << model << " " << l.name;
  }
}

// Three layers: conv3x3, bn, conv3x3 again; medians of odd and even step counts.
NetworkDesc three_layers() {
  NetworkDesc d;
  d.model = "tiny";
  d.layers = {conv(3, 3, 1), Layer{}, conv(8, 3, 1)};
  d.layers[1].kind = LayerKind::kBatchNorm;
  d.layers[0].name = "c0";
  d.layers[1].name = "b0";
  d.layers[2].name = "c1";
  return d;
}

TEST(LayerProfile, MediansPerLayerThenSumsPerGroupLargestFirst) {
  const NetworkDesc d = three_layers();
  // Forward: 3 steps (odd: the middle value); backward: 2 steps (even: the mean of the two).
  const std::vector<std::vector<float>> fwd = {{1, 10, 2}, {3, 30, 9}, {2, 20, 4}};
  const std::vector<std::vector<float>> bwd = {{1, 4, 8}, {3, 6, 2}};
  const std::vector<LayerProfileRow> rows = layer_profile(d, fwd, bwd);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].name, "c0");
  EXPECT_EQ(rows[0].group, "conv3x3");
  EXPECT_FLOAT_EQ(rows[0].forward_ms, 2);
  EXPECT_FLOAT_EQ(rows[0].backward_ms, 2);
  EXPECT_FLOAT_EQ(rows[1].forward_ms, 20);
  EXPECT_FLOAT_EQ(rows[1].backward_ms, 5);
  EXPECT_FLOAT_EQ(rows[2].forward_ms, 4);
  EXPECT_FLOAT_EQ(rows[2].backward_ms, 5);

  const std::vector<GroupProfileRow> groups = group_profile(rows);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].group, "bn");  // 25 ms against the convolutions' 13
  EXPECT_EQ(groups[0].layers, 1);
  EXPECT_DOUBLE_EQ(groups[0].total_ms(), 25);
  EXPECT_EQ(groups[1].group, "conv3x3");
  EXPECT_EQ(groups[1].layers, 2);
  EXPECT_DOUBLE_EQ(groups[1].forward_ms, 6);
  EXPECT_DOUBLE_EQ(groups[1].backward_ms, 7);
}

TEST(LayerProfile, TiedGroupsKeepLayerOrder) {
  const NetworkDesc d = three_layers();
  const std::vector<LayerProfileRow> rows = layer_profile(d, {{1, 2, 1}}, {{0, 0, 0}});
  const std::vector<GroupProfileRow> groups = group_profile(rows);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].group, "conv3x3");  // 2 ms, like bn's, and first in layer order
  EXPECT_EQ(groups[1].group, "bn");
}

TEST(LayerProfile, RejectsMissingStepsAndWrongLayerCounts) {
  const NetworkDesc d = three_layers();
  EXPECT_THROW(layer_profile(d, {}, {{1, 1, 1}}), std::invalid_argument);
  EXPECT_THROW(layer_profile(d, {{1, 1, 1}}, {}), std::invalid_argument);
  EXPECT_THROW(layer_profile(d, {{1, 1, 1}, {1, 1}}, {{1, 1, 1}}), std::invalid_argument);
  EXPECT_THROW(layer_profile(d, {{1, 1, 1}}, {{1, 1, 1, 1}}), std::invalid_argument);
}

}  // namespace
}  // namespace ptq
