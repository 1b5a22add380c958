#include <iostream>
#include <string>
#include <vector>

#include "framework/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return pqlab::cli::run_cli(args, std::cout, std::cerr);
}
