#include <iostream>
#include <string>
#include <vector>

#include "framework/cli/cli.h"
#include "framework/core/partial_files.h"

int main(int argc, char** argv) {
  // Here and not in a static initializer: only the real binary, never a test that links the
  // library, exits on SIGINT/SIGTERM.
  pqlab::install_interrupt_cleanup();
  std::vector<std::string> args(argv, argv + argc);
  return pqlab::cli::run_cli(args, std::cout, std::cerr);
}
