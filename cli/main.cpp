// The `ptqbench` command: dispatches to one subcommand (DESIGN.md section 1).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "cli/command.h"
#include "quant/format.h"

namespace ptq::cli {
namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const Args&);
};

const Subcommand kSubcommands[] = {
    {"formats", "the 43 study formats, one per line, in study order", run_formats},
    {"grid", "FORMAT: the format's representable values (unscaled), ascending", run_grid},
    {"fit", "--in CSV [--x COL] [--degree N] [--group model|all]: monotone fits", run_fit},
    {"models", "[--model M] [--csv]: networks, per-layer parameters and MACs", run_models},
    {"train", "--model M --out DIR [--data DIR] [--optimizer O] [--epochs N]: train", run_train},
    {"train-group", "--plan FILE --out DIR [--jobs N] [--resume]: runs together on one GPU",
     run_train_group},
};

void print_usage(std::ostream& out) {
  out << "usage: ptqbench SUBCOMMAND [ARGS]\n\nsubcommands:\n";
  for (const Subcommand& s : kSubcommands) {
    out << "  " << s.name << std::string(12 - std::string(s.name).size(), ' ') << s.summary
        << '\n';
  }
}

}  // namespace

std::string option_value(const Args& args, std::size_t& i) {
  if (i + 1 >= args.size()) throw UsageError("option " + args[i] + " needs a value");
  return args[++i];
}

double number_arg(const std::string& option, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    throw UsageError(option + " needs a number, got '" + text + "'");
  return v;
}

long long integer_arg(const std::string& option, const std::string& text, long long min) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min) {
    throw UsageError(option + " needs a whole number >= " + std::to_string(min) + ", got '" +
                     text + "'");
  }
  return v;
}

}  // namespace ptq::cli

int main(int argc, char** argv) {
  using namespace ptq::cli;
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  const Args args(argv + 2, argv + argc);
  for (const Subcommand& s : kSubcommands) {
    if (name != s.name) continue;
    try {
      return s.run(args);
    } catch (const UsageError& e) {
      std::cerr << "ptqbench " << name << ": " << e.what() << '\n';
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "ptqbench " << name << ": error: " << e.what() << '\n';
      return 1;
    }
  }
  std::cerr << "ptqbench: unknown subcommand '" << name << "'\n";
  print_usage(std::cerr);
  return 2;
}
