// `ptqbench models [--model M] [--csv]`: the networks' layers with parameters and MACs counted
// with the profiler's conventions (models/model_desc.h, DESIGN.md section 2).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "models/model_desc.h"

namespace ptq::cli {
namespace {

void print_csv(const NetworkDesc& desc) {
  for (const Layer& l : desc.layers) {
    const LayerCost c = layer_cost(l);
    std::cout << desc.model << ',' << l.name << ',' << layer_kind_name(l.kind) << ',' << c.params
              << ',' << c.macs << '\n';
  }
}

std::string percent(std::int64_t part, std::int64_t total) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", total > 0 ? 100.0 * part / total : 0.0);
  return buf;
}

void print_table(const NetworkDesc& desc) {
  const LayerCost total = network_cost(desc);
  std::printf("%s: %zu layers, %lld parameters, %lld MACs per image\n", desc.model.c_str(),
              desc.layers.size(), static_cast<long long>(total.params),
              static_cast<long long>(total.macs));
  std::printf("  %-22s %-8s %-13s %12s %8s %14s %8s\n", "layer", "kind", "output", "params",
              "params%", "MACs", "MACs%");
  for (const Layer& l : desc.layers) {
    const LayerCost c = layer_cost(l);
    const std::string shape =
        std::to_string(l.out.c) + "x" + std::to_string(l.out.h) + "x" + std::to_string(l.out.w);
    std::printf("  %-22s %-8s %-13s %12lld %8s %14lld %8s\n", l.name.c_str(),
                layer_kind_name(l.kind), shape.c_str(), static_cast<long long>(c.params),
                percent(c.params, total.params).c_str(), static_cast<long long>(c.macs),
                percent(c.macs, total.macs).c_str());
  }
  std::printf("  %-22s %-8s %-13s %12lld %8s %14lld %8s\n\n", "TOTAL", "", "",
              static_cast<long long>(total.params), "100.000", static_cast<long long>(total.macs),
              "100.000");
}

}  // namespace

int run_models(const Args& args) {
  std::vector<std::string> models = model_names();
  bool csv = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--csv") {
      csv = true;
    } else if (args[i] == "--model") {
      models = {option_value(args, i)};
    } else {
      throw UsageError("unknown argument '" + args[i] +
                       "' (usage: ptqbench models [--model M] [--csv])");
    }
  }
  std::vector<NetworkDesc> descs;
  for (const std::string& m : models) {
    try {
      descs.push_back(build_network_desc(m));
    } catch (const ModelError& e) {
      throw UsageError(e.what());
    }
  }
  if (csv) std::cout << "model,layer,kind,params,macs\n";
  for (const NetworkDesc& d : descs) csv ? print_csv(d) : print_table(d);
  return 0;
}

}  // namespace ptq::cli
