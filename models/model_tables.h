// The rows the network tables are written in (model_tables.cpp holds the nine tables; the
// builder in model_desc.cpp expands them). A row is one unit of the study's configuration tables:
// a conv with its batch norm and activation, a pool, a linear layer, or a whole block (inception
// block, residual stage, inverted-residual stage) described by its small channel table.
#pragma once

#include <string>
#include <vector>

namespace ptq::tables {

enum class RowKind {
  kConv,
  kRelu,
  kMaxPool,
  kAvgPool,
  kFlatten,
  kDropout,
  kLinear,
  kInception,
  kResStage,
  kMbStage
};

// What follows a conv inside the same unit.
enum class Post { kNone, kBn, kBnRelu, kBnRelu6 };

// Inception block channels: in, branch1 1x1, branch2 reduce and 3x3, branch3 reduce and 5x5,
// branch4 (pool projection) 1x1.
struct InceptionSpec {
  int in, b1, b2r, b2, b3r, b3, b4;
};

enum class Block { kBasic, kBottleneck };

// A ResNet stage: `blocks` blocks of `planes` width; the first block has `stride`.
struct ResStageSpec {
  Block block;
  int planes, blocks, stride;
};

// A MobileNetV2 stage: the first block maps in -> out with `hidden` channels and `stride`; the
// other blocks map out -> out with `hidden_rest` channels, stride 1, and a residual add.
struct MbStageSpec {
  int blocks, in, out, hidden, stride, hidden_rest;
};

struct Row {
  RowKind kind;
  int in = 0, out = 0, kernel = 0, stride = 1, padding = 0, groups = 1;
  bool bias = false;
  Post post = Post::kNone;
  InceptionSpec inception{};
  ResStageSpec res{};
  MbStageSpec mb{};
};

struct ModelTable {
  std::string model;
  std::vector<Row> rows;
};

// The nine tables in the study's order.
const std::vector<ModelTable>& model_tables();

}  // namespace ptq::tables
