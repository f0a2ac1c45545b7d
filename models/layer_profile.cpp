// Reduction of per-layer step times (see layer_profile.h).
#include "models/layer_profile.h"

#include <algorithm>
#include <stdexcept>

namespace ptq {
namespace {

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

void check_steps(const NetworkDesc& desc, const std::vector<std::vector<float>>& steps,
                 const char* pass) {
  if (steps.empty())
    throw std::invalid_argument(std::string("layer_profile: no ") + pass + " step");
  for (const std::vector<float>& s : steps) {
    if (s.size() != desc.layers.size()) {
      throw std::invalid_argument(std::string("layer_profile: a ") + pass + " step has " +
                                  std::to_string(s.size()) + " layer times for " +
                                  std::to_string(desc.layers.size()) + " layers");
    }
  }
}

}  // namespace

std::string layer_group(const Layer& l) {
  std::string g = layer_kind_name(l.kind);
  if (l.kind == LayerKind::kConv || l.kind == LayerKind::kMaxPool) {
    g += std::to_string(l.kernel) + "x" + std::to_string(l.kernel);
  }
  if (l.kind == LayerKind::kConv && l.groups > 1) {
    g += l.groups == l.in.c ? " dw" : " grouped";
  }
  return g;
}

std::vector<LayerProfileRow> layer_profile(const NetworkDesc& desc,
                                           const std::vector<std::vector<float>>& steps_forward,
                                           const std::vector<std::vector<float>>& steps_backward) {
  check_steps(desc, steps_forward, "forward");
  check_steps(desc, steps_backward, "backward");
  std::vector<LayerProfileRow> rows;
  for (std::size_t i = 0; i < desc.layers.size(); ++i) {
    std::vector<float> f, b;
    for (const std::vector<float>& s : steps_forward) f.push_back(s[i]);
    for (const std::vector<float>& s : steps_backward) b.push_back(s[i]);
    rows.push_back({desc.layers[i].name, layer_group(desc.layers[i]), median(f), median(b)});
  }
  return rows;
}

std::vector<GroupProfileRow> group_profile(const std::vector<LayerProfileRow>& rows) {
  std::vector<GroupProfileRow> groups;
  for (const LayerProfileRow& r : rows) {
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const GroupProfileRow& x) { return x.group == r.group; });
    if (g == groups.end()) g = groups.insert(groups.end(), GroupProfileRow{r.group});
    g->layers += 1;
    g->forward_ms += r.forward_ms;
    g->backward_ms += r.backward_ms;
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const GroupProfileRow& a, const GroupProfileRow& b) {
                     return a.total_ms() > b.total_ms();
                   });
  return groups;
}

}  // namespace ptq
