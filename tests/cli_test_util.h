// Running the `ptqbench` binary from a test as a user would: stdout and stderr kept apart (a
// command's --json - must own stdout) and the exit code. Header only; POSIX popen.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace ptq::test {

struct CommandOutput {
  int exit_code = -1;  // -1 when the shell could not start or the command did not exit normally
  std::string out, err;
};

// The whole content of a file; empty when it cannot be read.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the shell command line `command` with its stderr sent to `err_path` (a temporary file of
// the calling test, removed afterwards): returns stdout, stderr and the exit code.
inline CommandOutput run_command(const std::string& command, const std::string& err_path) {
  CommandOutput o;
  FILE* pipe = popen((command + " 2>" + err_path).c_str(), "r");
  if (!pipe) return o;
  char buf[4096];
  for (std::size_t got; (got = fread(buf, 1, sizeof buf, pipe)) > 0;) o.out.append(buf, got);
  const int status = pclose(pipe);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.err = slurp(err_path);
  std::remove(err_path.c_str());
  return o;
}

// Whether `python3` runs here (the scripts' tests skip without it); `probe_path` as in run_command.
inline bool python3_available(const std::string& probe_path) {
  return run_command("python3 -c pass", probe_path).exit_code == 0;
}

}  // namespace ptq::test
