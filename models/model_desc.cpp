// The one builder: expands a model table (model_tables.cpp) into the layer graph, naming every
// layer the way the study's modules were named, so the graph lines up row for row with the
// profiler output in ../shared/reference/param_flops.csv:
//   top-level row i:         conv{i} bn{i} relu{i} (relus{i} for relu6), pool{i}, aap{i},
//                            flatten{i}, drop{i}, fc{i}
//   n-th inception block:    inc{n}_br{b}_<row>{j} (j counts rows inside branch b), inc{n}_cat
//   n-th residual stage:     ml{n}_blk{j}_ma_<row>{r} (main path), ml{n}_blk{j}_ds_conv0/bn0
//                            (shortcut), ml{n}_blk{j}_add, ml{n}_blk{j}_relu1 (after the add)
#include "models/model_desc.h"

#include <numeric>

#include "models/model_tables.h"

namespace ptq {

using tables::Post;
using tables::Row;
using tables::RowKind;

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConv:
      return "conv";
    case LayerKind::kBatchNorm:
      return "bn";
    case LayerKind::kRelu:
      return "relu";
    case LayerKind::kRelu6:
      return "relu6";
    case LayerKind::kMaxPool:
      return "maxpool";
    case LayerKind::kAvgPool:
      return "avgpool";
    case LayerKind::kFlatten:
      return "flatten";
    case LayerKind::kDropout:
      return "dropout";
    case LayerKind::kLinear:
      return "linear";
    case LayerKind::kAdd:
      return "add";
    case LayerKind::kConcat:
      return "concat";
  }
  return "?";
}

int NetworkDesc::find(const std::string& layer_name) const {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].name == layer_name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

std::string shape_str(const TensorShape& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

[[noreturn]] void fail(const NetworkDesc& desc, const Layer& layer, const std::string& problem) {
  throw ModelError(desc.model + " layer '" + layer.name + "': " + problem);
}

// Output size of a window of `kernel` sliding with `stride` over `size` padded by `padding`.
int window_out(int size, int kernel, int stride, int padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

}  // namespace

TensorShape infer_shape(const NetworkDesc& desc, int index) {
  const Layer& l = desc.layers[index];
  if (l.inputs.empty()) fail(desc, l, "has no input");
  std::vector<TensorShape> in;
  for (int p : l.inputs) {
    if (p != kNetworkInput && (p < 0 || p >= index)) {
      fail(desc, l, "reads layer " + std::to_string(p) + ", which does not come before it");
    }
    in.push_back(p == kNetworkInput ? desc.input : desc.layers[p].out);
  }
  const bool two_plus = l.kind == LayerKind::kAdd || l.kind == LayerKind::kConcat;
  if (two_plus ? in.size() < 2 : in.size() != 1) {
    fail(desc, l, "has " + std::to_string(in.size()) + " inputs");
  }
  const TensorShape x = in[0];
  if (x.count() <= 0) fail(desc, l, "has an empty input " + shape_str(x));
  switch (l.kind) {
    case LayerKind::kConv: {
      if (l.channels <= 0 || l.kernel <= 0 || l.stride <= 0 || l.padding < 0 || l.groups <= 0) {
        fail(desc, l, "has a non-positive channel count, kernel, stride or group count");
      }
      if (x.c % l.groups != 0 || l.channels % l.groups != 0) {
        fail(desc, l,
             "groups " + std::to_string(l.groups) + " do not divide channels " +
                 std::to_string(x.c) + " -> " + std::to_string(l.channels));
      }
      const TensorShape y{l.channels, window_out(x.h, l.kernel, l.stride, l.padding),
                          window_out(x.w, l.kernel, l.stride, l.padding)};
      if (y.h <= 0 || y.w <= 0)
        fail(desc, l, "kernel larger than its padded input " + shape_str(x));
      return y;
    }
    case LayerKind::kMaxPool: {
      if (l.kernel <= 0 || l.stride <= 0 || l.padding < 0 || 2 * l.padding > l.kernel) {
        fail(desc, l, "needs kernel > 0, stride > 0 and padding <= kernel / 2");
      }
      const TensorShape y{x.c, window_out(x.h, l.kernel, l.stride, l.padding),
                          window_out(x.w, l.kernel, l.stride, l.padding)};
      if (y.h <= 0 || y.w <= 0)
        fail(desc, l, "window larger than its padded input " + shape_str(x));
      return y;
    }
    case LayerKind::kBatchNorm:
    case LayerKind::kRelu:
    case LayerKind::kRelu6:
    case LayerKind::kDropout:
      return x;
    case LayerKind::kAvgPool:
      return {x.c, 1, 1};
    case LayerKind::kFlatten:
      return {static_cast<int>(x.count()), 1, 1};
    case LayerKind::kLinear:
      if (x.h != 1 || x.w != 1) fail(desc, l, "needs a flattened input, got " + shape_str(x));
      if (l.channels <= 0) fail(desc, l, "has no output features");
      return {l.channels, 1, 1};
    case LayerKind::kAdd:
      for (const TensorShape& s : in) {
        if (s != x) fail(desc, l, "adds " + shape_str(x) + " and " + shape_str(s));
      }
      return x;
    case LayerKind::kConcat: {
      int c = 0;
      for (const TensorShape& s : in) {
        if (s.h != x.h || s.w != x.w) {
          fail(desc, l, "concatenates " + shape_str(x) + " with " + shape_str(s));
        }
        c += s.c;
      }
      return {c, x.h, x.w};
    }
  }
  fail(desc, l, "has an unknown kind");
}

namespace {

// Appends layers to a NetworkDesc, checking each as it goes. A row-level helper takes the
// producer index and returns the index of its last layer.
class Builder {
 public:
  explicit Builder(NetworkDesc& desc) : desc_(desc) {}

  int add(Layer layer) {
    desc_.layers.push_back(std::move(layer));
    const int index = static_cast<int>(desc_.layers.size()) - 1;
    Layer& l = desc_.layers.back();
    l.in = l.inputs.at(0) == kNetworkInput ? desc_.input : desc_.layers[l.inputs[0]].out;
    l.out = infer_shape(desc_, index);
    return index;
  }

  int simple(LayerKind kind, const std::string& name, int input) {
    Layer l;
    l.name = name, l.kind = kind, l.inputs = {input};
    return add(std::move(l));
  }

  TensorShape shape(int node) const {
    return node == kNetworkInput ? desc_.input : desc_.layers[node].out;
  }

  void expect_channels(int node, int channels, const std::string& where) {
    if (shape(node).c != channels) {
      throw ModelError(desc_.model + " " + where + ": table says " + std::to_string(channels) +
                       " input channels, the graph has " + std::to_string(shape(node).c));
    }
  }

  // One unit row named with `prefix` and position `i`: conv{i} [bn{i}] [relu{i} | relus{i}],
  // relu{i}, pool{i}, aap{i}, flatten{i}, drop{i}, fc{i}.
  int unit(const Row& r, const std::string& prefix, int i, int input) {
    const std::string n = std::to_string(i);
    switch (r.kind) {
      case RowKind::kConv: {
        expect_channels(input, r.in, prefix + "conv" + n);
        Layer l;
        l.name = prefix + "conv" + n, l.kind = LayerKind::kConv, l.inputs = {input};
        l.channels = r.out, l.kernel = r.kernel, l.stride = r.stride, l.padding = r.padding;
        l.groups = r.groups, l.bias = r.bias;
        int last = add(std::move(l));
        if (r.post != Post::kNone) last = simple(LayerKind::kBatchNorm, prefix + "bn" + n, last);
        if (r.post == Post::kBnRelu) last = simple(LayerKind::kRelu, prefix + "relu" + n, last);
        if (r.post == Post::kBnRelu6) last = simple(LayerKind::kRelu6, prefix + "relus" + n, last);
        return last;
      }
      case RowKind::kRelu:
        return simple(LayerKind::kRelu, prefix + "relu" + n, input);
      case RowKind::kMaxPool: {
        Layer l;
        l.name = prefix + "pool" + n, l.kind = LayerKind::kMaxPool, l.inputs = {input};
        l.kernel = r.kernel, l.stride = r.stride, l.padding = r.padding;
        return add(std::move(l));
      }
      case RowKind::kAvgPool:
        return simple(LayerKind::kAvgPool, prefix + "aap" + n, input);
      case RowKind::kFlatten:
        return simple(LayerKind::kFlatten, prefix + "flatten" + n, input);
      case RowKind::kDropout:
        return simple(LayerKind::kDropout, prefix + "drop" + n, input);
      case RowKind::kLinear: {
        if (shape(input).count() != r.in) {
          throw ModelError(desc_.model + " " + prefix + "fc" + n + ": table says " +
                           std::to_string(r.in) + " in-features, the graph has " +
                           std::to_string(shape(input).count()));
        }
        Layer l;
        l.name = prefix + "fc" + n, l.kind = LayerKind::kLinear, l.inputs = {input};
        l.channels = r.out, l.bias = r.bias;
        return add(std::move(l));
      }
      default:
        break;
    }
    throw ModelError(desc_.model + ": a block row inside a block (" + prefix + ")");
  }

  int sequence(const std::vector<Row>& rows, const std::string& prefix, int input) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      input = unit(rows[i], prefix, static_cast<int>(i), input);
    }
    return input;
  }

  int join(LayerKind kind, const std::string& name, std::vector<int> inputs) {
    Layer l;
    l.name = name, l.kind = kind, l.inputs = std::move(inputs);
    return add(std::move(l));
  }

  // Four branches (1x1 | 1x1, 3x3 | 1x1, 5x5 | max-pool, relu, 1x1), every conv + bn + relu
  // without bias, concatenated on channels.
  int inception(const tables::InceptionSpec& s, const std::string& prefix, int input) {
    expect_channels(input, s.in, prefix);
    const auto cbr = [](int in, int out, int k) {
      Row r{RowKind::kConv};
      r.in = in, r.out = out, r.kernel = k, r.padding = k / 2, r.post = Post::kBnRelu;
      return r;
    };
    Row pool{RowKind::kMaxPool};
    pool.kernel = 3, pool.stride = 1, pool.padding = 1;
    const std::vector<std::vector<Row>> branches = {
        {cbr(s.in, s.b1, 1)},
        {cbr(s.in, s.b2r, 1), cbr(s.b2r, s.b2, 3)},
        {cbr(s.in, s.b3r, 1), cbr(s.b3r, s.b3, 5)},
        {pool, Row{RowKind::kRelu}, cbr(s.in, s.b4, 1)},
    };
    std::vector<int> outs;
    for (std::size_t b = 0; b < branches.size(); ++b) {
      outs.push_back(sequence(branches[b], prefix + "br" + std::to_string(b) + "_", input));
    }
    return join(LayerKind::kConcat, prefix + "cat", outs);
  }

  // Residual stage: basic blocks (3x3 s, 3x3) or bottlenecks (1x1, 3x3 s, 1x1 to 4 x planes), all
  // convs with bias + bn, relu inside; a 1x1 conv + bn shortcut on a block that changes stride
  // or width; add; relu.
  int res_stage(const tables::ResStageSpec& s, const std::string& prefix, int input) {
    const bool basic = s.block == tables::Block::kBasic;
    const int out = basic ? s.planes : 4 * s.planes;
    for (int j = 0; j < s.blocks; ++j) {
      const int in = shape(input).c;
      const int stride = j == 0 ? s.stride : 1;
      const std::string blk = prefix + "blk" + std::to_string(j) + "_";
      const auto c = [](int ci, int co, int k, int st, Post post) {
        Row r{RowKind::kConv};
        r.in = ci, r.out = co, r.kernel = k, r.stride = st, r.padding = k / 2, r.bias = true;
        r.post = post;
        return r;
      };
      const std::vector<Row> main =
          basic ? std::vector<Row>{c(in, s.planes, 3, stride, Post::kBnRelu),
                                   c(s.planes, s.planes, 3, 1, Post::kBn)}
                : std::vector<Row>{c(in, s.planes, 1, 1, Post::kBnRelu),
                                   c(s.planes, s.planes, 3, stride, Post::kBnRelu),
                                   c(s.planes, out, 1, 1, Post::kBn)};
      const int main_out = sequence(main, blk + "ma_", input);
      int shortcut = input;
      if (stride != 1 || in != out)
        shortcut = sequence({c(in, out, 1, stride, Post::kBn)}, blk + "ds_", input);
      const int sum = join(LayerKind::kAdd, blk + "add", {main_out, shortcut});
      input = simple(LayerKind::kRelu, blk + "relu1", sum);
    }
    return input;
  }

  // Inverted-residual stage: 1x1 expand + bn + relu6, depthwise 3x3 + bn + relu6, 1x1 project +
  // bn, all with bias; residual add (no relu) on every block but the first.
  int mb_stage(const tables::MbStageSpec& s, const std::string& prefix, int input) {
    expect_channels(input, s.in, prefix);
    for (int j = 0; j < s.blocks; ++j) {
      const int in = j == 0 ? s.in : s.out;
      const int hidden = j == 0 ? s.hidden : s.hidden_rest;
      const int stride = j == 0 ? s.stride : 1;
      const std::string blk = prefix + "blk" + std::to_string(j) + "_";
      Row expand{RowKind::kConv}, depthwise{RowKind::kConv}, project{RowKind::kConv};
      expand.in = in, expand.out = hidden, expand.kernel = 1, expand.post = Post::kBnRelu6;
      depthwise.in = hidden, depthwise.out = hidden, depthwise.kernel = 3, depthwise.padding = 1;
      depthwise.stride = stride, depthwise.groups = hidden, depthwise.post = Post::kBnRelu6;
      project.in = hidden, project.out = s.out, project.kernel = 1, project.post = Post::kBn;
      expand.bias = depthwise.bias = project.bias = true;
      const int main_out = sequence({expand, depthwise, project}, blk + "ma_", input);
      input = j == 0 ? main_out : join(LayerKind::kAdd, blk + "add", {main_out, input});
    }
    return input;
  }

 private:
  NetworkDesc& desc_;
};

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const tables::ModelTable& t : tables::model_tables()) n.push_back(t.model);
    return n;
  }();
  return names;
}

NetworkDesc build_network_desc(const std::string& model) {
  const tables::ModelTable* table = nullptr;
  for (const tables::ModelTable& t : tables::model_tables()) {
    if (t.model == model) table = &t;
  }
  if (!table) {
    std::string known;
    for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
    throw ModelError("unknown model '" + model + "' (known: " + known + ")");
  }
  NetworkDesc desc;
  desc.model = model;
  desc.input = {3, 32, 32};
  Builder b(desc);
  int last = kNetworkInput, inceptions = 0, stages = 0;
  for (std::size_t i = 0; i < table->rows.size(); ++i) {
    const Row& r = table->rows[i];
    if (r.kind == RowKind::kInception) {
      last = b.inception(r.inception, "inc" + std::to_string(inceptions++) + "_", last);
    } else if (r.kind == RowKind::kResStage) {
      last = b.res_stage(r.res, "ml" + std::to_string(stages++) + "_", last);
    } else if (r.kind == RowKind::kMbStage) {
      last = b.mb_stage(r.mb, "ml" + std::to_string(stages++) + "_", last);
    } else {
      last = b.unit(r, "", static_cast<int>(i), last);
    }
  }
  validate_network_desc(desc);
  return desc;
}

void validate_network_desc(const NetworkDesc& desc) {
  if (desc.layers.empty()) throw ModelError(desc.model + ": no layers");
  for (std::size_t i = 0; i < desc.layers.size(); ++i) {
    const Layer& l = desc.layers[i];
    const TensorShape out = infer_shape(desc, static_cast<int>(i));
    const TensorShape in = l.inputs[0] == kNetworkInput ? desc.input : desc.layers[l.inputs[0]].out;
    if (out != l.out || in != l.in) {
      fail(desc, l,
           "records shape " + shape_str(l.in) + " -> " + shape_str(l.out) + ", its inputs give " +
               shape_str(in) + " -> " + shape_str(out));
    }
    if (desc.find(l.name) != static_cast<int>(i)) fail(desc, l, "name is not unique");
  }
  const TensorShape logits = desc.layers.back().out;
  if (logits != TensorShape{kNumClasses, 1, 1}) {
    throw ModelError(desc.model + ": the last layer gives " + shape_str(logits) + ", not " +
                     std::to_string(kNumClasses) + " logits");
  }
}

LayerCost layer_cost(const Layer& l) {
  const std::int64_t in_elems = l.in.count();
  const std::int64_t out_elems = l.out.count();
  switch (l.kind) {
    case LayerKind::kConv: {
      const std::int64_t per_output =
          static_cast<std::int64_t>(l.in.c / l.groups) * l.kernel * l.kernel;
      const std::int64_t bias = l.bias ? 1 : 0;
      return {l.channels * per_output + bias * l.channels,
              out_elems * per_output + bias * out_elems};
    }
    case LayerKind::kBatchNorm:
      return {2 * static_cast<std::int64_t>(l.out.c), 2 * out_elems};
    case LayerKind::kRelu:
    case LayerKind::kRelu6:
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool:
      return {0, in_elems};
    case LayerKind::kLinear: {
      const std::int64_t n = in_elems * l.channels + (l.bias ? l.channels : 0);
      return {n, n};
    }
    case LayerKind::kFlatten:
    case LayerKind::kDropout:
    case LayerKind::kAdd:
    case LayerKind::kConcat:
      return {0, 0};
  }
  return {};
}

LayerCost network_cost(const NetworkDesc& desc) {
  LayerCost total;
  for (const Layer& l : desc.layers) {
    const LayerCost c = layer_cost(l);
    total.params += c.params;
    total.macs += c.macs;
  }
  return total;
}

std::size_t ParamSpec::count() const {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1},
                         [](std::size_t a, int d) { return a * static_cast<std::size_t>(d); });
}

int ParamLayout::find(const std::string& name) const {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

ParamLayout param_layout(const NetworkDesc& desc) {
  ParamLayout layout;
  const auto push = [&](int layer, ParamRole role, const char* suffix, std::vector<int> shape) {
    ParamSpec s;
    s.name = desc.layers[layer].name + suffix;
    s.layer = layer, s.role = role, s.shape = std::move(shape);
    s.trainable = role != ParamRole::kBnRunningMean && role != ParamRole::kBnRunningVar;
    std::size_t& arena = s.trainable ? layout.trainable_floats : layout.stats_floats;
    s.offset = arena;
    arena += (s.count() + kParamAlignment - 1) / kParamAlignment * kParamAlignment;
    layout.specs.push_back(std::move(s));
  };
  for (std::size_t i = 0; i < desc.layers.size(); ++i) {
    const Layer& l = desc.layers[i];
    const int li = static_cast<int>(i);
    if (l.kind == LayerKind::kConv) {
      push(li, ParamRole::kWeight, ".weight", {l.channels, l.in.c / l.groups, l.kernel, l.kernel});
      if (l.bias) push(li, ParamRole::kBias, ".bias", {l.channels});
    } else if (l.kind == LayerKind::kLinear) {
      push(li, ParamRole::kWeight, ".weight", {l.channels, static_cast<int>(l.in.count())});
      if (l.bias) push(li, ParamRole::kBias, ".bias", {l.channels});
    } else if (l.kind == LayerKind::kBatchNorm) {
      push(li, ParamRole::kBnGamma, ".weight", {l.out.c});
      push(li, ParamRole::kBnBeta, ".bias", {l.out.c});
      push(li, ParamRole::kBnRunningMean, ".running_mean", {l.out.c});
      push(li, ParamRole::kBnRunningVar, ".running_var", {l.out.c});
    }
  }
  return layout;
}

}  // namespace ptq
