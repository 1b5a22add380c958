// `pqlab inspect <result.h5>`: provenance, the stored tree, and the per-variant output metrics.
#include <ATen/ATen.h>

#include <iomanip>
#include <ostream>
#include <sstream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/io/hdf5_file.h"

namespace pqlab::cli {

int command_inspect(CommandContext& c) {
  po::options_description desc("options");
  std::string path;
  bool show_config = false;
  desc.add_options()("help,h", "this text")("result", po::value(&path)->required(), "result file (.h5)")(
      "config", po::bool_switch(&show_config), "also print the resolved experiment config");
  po::positional_options_description pos;
  pos.add("result", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, "inspect <result.h5> [--config]", c.out)) return 0;

  H5Reader r(path);
  c.out << path << "\n";
  std::string config;
  for (const auto& [k, v] : r.attrs("/")) {
    if (k == "config") {
      config = v;
      continue;
    }
    c.out << "  " << std::left << std::setw(16) << k << v << '\n';
  }
  c.out << "\ncontents:\n";
  for (const auto& e : r.list()) {
    c.out << "  " << e.path;
    if (!e.is_group) {
      c.out << "  " << e.dtype << " [";
      for (size_t i = 0; i < e.shape.size(); ++i) c.out << (i ? ", " : "") << e.shape[i];
      c.out << "]";
    }
    c.out << '\n';
  }
  if (r.exists("/variant_labels")) {
    c.out << "\noutput metrics (mean over held-out samples):\n";
    for (const auto& label : r.read_strings("/variant_labels")) {
      const std::string g = "/variants/" + label;
      c.out << "  " << label;
      for (const auto& [k, v] : r.attrs(g))
        if (k == "weight_format" || k == "act_format" || k == "method") c.out << "  " << k << "=" << v;
      if (r.exists(g + "/output"))
        for (const auto& [k, v] : r.attrs(g + "/output")) c.out << "  " << k << "=" << v;
      c.out << '\n';
    }
  }
  if (show_config) c.out << "\nconfig:\n" << config;
  return 0;
}

}  // namespace pqlab::cli
