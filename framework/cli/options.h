// Shared Boost.Program_options plumbing for sub-commands.
#pragma once
#include <boost/program_options.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace pqlab::cli {
namespace po = boost::program_options;

/// Parses args; returns false after printing help (when --help was given).
inline bool parse_options(const std::vector<std::string>& args, const po::options_description& desc,
                          const po::positional_options_description& pos, po::variables_map& vm,
                          const std::string& synopsis, std::ostream& out) {
  po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
  if (vm.count("help")) {
    out << "usage: pqlab " << synopsis << "\n\n" << desc;
    return false;
  }
  po::notify(vm);
  return true;
}
}  // namespace pqlab::cli
