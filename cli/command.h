// The `ptqbench` subcommands share this small argument model: a subcommand gets its arguments
// (without the program and subcommand names) and returns the process exit code. Usage mistakes
// throw UsageError, which main turns into a message and exit code 2.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ptq::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Args = std::vector<std::string>;

// Value of `--name VALUE` at args[i]; advances i past the value. Throws UsageError when missing.
std::string option_value(const Args& args, std::size_t& i);

int run_formats(const Args& args);
int run_grid(const Args& args);
int run_fit(const Args& args);
int run_models(const Args& args);

}  // namespace ptq::cli
