// Runs the real pqlab binary (PQLAB_BINARY) for end-to-end tests: exit code, stdout, stderr.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/common/temp_dir.h"

namespace pqlab::test {

struct CliResult {
  int rc = -1;
  std::string out, err;
};

/// `pqlab <args>`; stderr goes through a file in `dir`. cwd: folder to run in (default: the
/// test's own working directory).
inline CliResult pqlab_cli(const std::string& args, const TempDir& dir, const std::string& cwd = "") {
  const std::string err_file = dir.file("stderr.txt");
  const std::string cmd =
      (cwd.empty() ? "" : "cd " + cwd + " && ") + std::string(PQLAB_BINARY) + " " + args + " 2>" + err_file;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

}  // namespace pqlab::test
