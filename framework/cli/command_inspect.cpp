// `pqlab inspect <result.h5>`: provenance, the stored tree, and the per-variant output metrics.
#include <ATen/ATen.h>

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/experiment/result_paths.h"
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
  const auto attrs = r.attrs("/");
  size_t width = 0;
  for (const auto& a : attrs) width = std::max(width, a.first.size());
  for (const auto& [k, v] : attrs) {
    if (k == "config") {
      config = v;
      continue;
    }
    c.out << "  " << std::left << std::setw(static_cast<int>(width + 2)) << k << v << '\n';
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
  if (r.exists(result_paths::kVariantLabels)) {
    c.out << "\noutput metrics (mean over held-out samples):\n";
    for (const auto& label : r.read_strings(result_paths::kVariantLabels)) {
      const std::string g = result_paths::variant(label);
      c.out << "  " << label;
      for (const auto& [k, v] : r.attrs(g))
        if (k == "weight_format" || k == "act_format" || k == "method") c.out << "  " << k << "=" << v;
      if (r.exists(result_paths::variant_output(label)))
        for (const auto& [k, v] : r.attrs(result_paths::variant_output(label))) c.out << "  " << k << "=" << v;
      c.out << '\n';
      // Per-step errors, mean over samples: teacher-forced velocity and free-running latent.
      for (const auto& [name, path] : {std::pair<std::string, std::string>{"velocity rel_mse (teacher-forced)",
                                                                             result_paths::variant_tf_velocity_rel_mse(label)},
                                       {"latent rel_mse (free-running)", result_paths::variant_fr_latent_rel_mse(label)}}) {
        if (!r.exists(path)) continue;
        const at::Tensor per_step = r.read(path).to(at::kDouble).mean(0);
        c.out << "    " << name << " per step:";
        for (int64_t s = 0; s < per_step.size(0); ++s) c.out << ' ' << std::setprecision(3) << per_step[s].item<double>();
        c.out << '\n';
      }
    }
  }
  if (show_config) c.out << "\nconfig:\n" << config;
  return 0;
}

}  // namespace pqlab::cli
