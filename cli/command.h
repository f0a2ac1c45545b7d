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

// `text` as a finite number (the whole of it); throws UsageError naming the option otherwise.
double number_arg(const std::string& option, const std::string& text);

// `text` as a whole number >= min (decimal, the whole of it); throws UsageError otherwise.
long long integer_arg(const std::string& option, const std::string& text, long long min);

int run_formats(const Args& args);
int run_grid(const Args& args);
int run_fit(const Args& args);
int run_models(const Args& args);
int run_train(const Args& args);
int run_train_group(const Args& args);

}  // namespace ptq::cli
