// `pqlab quant-tensor`: fake-quantizes every floating tensor of a safetensors file with one
// format; with --codes also writes the packed codes and scales. This is how formats are checked
// from outside (against TransformerEngine, torchao, ...).
#include <ATen/ATen.h>

#include <cmath>
#include <iomanip>
#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/config/config_reader.h"
#include "framework/config/config_writer.h"
#include "framework/core/error.h"
#include "framework/core/version.h"
#include "framework/io/safetensors.h"
#include "framework/registry/registries.h"

namespace pqlab::cli {

int command_quant_tensor(CommandContext& c) {
  po::options_description desc("options");
  std::string format, group_size, in, out;
  std::vector<std::string> sets;
  bool codes = false;
  desc.add_options()("help,h", "this text")("format", po::value(&format)->required(), "format name (pqlab list format)")(
      "group-size", po::value(&group_size), "group size along the last axis: N, channel or tensor")(
      "set", po::value(&sets)->composing(), "format config key=value (pqlab explain format NAME)")(
      "in", po::value(&in)->required(), "input safetensors file")("out", po::value(&out)->required(),
                                                                     "output safetensors file")(
      "codes", po::bool_switch(&codes), "also write <name>.codes, <name>.scales (and global_scale, zero_points)");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;

  // Build the format through the same config path as experiments, so errors look the same.
  config::ErrorList errors;
  config::Node node;
  config::apply_set(node, "name=" + format, errors, "--format " + format);
  if (!group_size.empty()) config::apply_set(node, "group_size=" + group_size, errors, "--group-size " + group_size);
  for (const auto& s : sets) config::apply_set(node, s, errors);
  errors.throw_if_any();
  Plugin<NumberFormat> fmt;
  PluginSlotFor<NumberFormat> slot(fmt, &c.registries);
  config::ConfigReader reader(nullptr, "quant-tensor", errors, &c.registries);
  reader.plugin_here(node, slot);
  errors.throw_if_any();

  config::Node dumped;
  config::ConfigWriter::write_plugin(dumped, slot);
  const std::string format_yaml = config::to_yaml(dumped);

  SafetensorsFile file(in);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  c.out << "format: " << fmt->describe() << "\n";
  for (const auto& name : file.names()) {
    const at::Tensor x = file.get(name);
    if (!x.is_floating_point() || x.dim() == 0) {
      c.out << "  " << name << ": not a floating tensor with an axis; copied unchanged\n";
      tensors.emplace_back(name, x);
      continue;
    }
    const at::Tensor y = fmt->fake_quant(x);
    tensors.emplace_back(name, y);
    const at::Tensor xd = x.to(at::kDouble), yd = y.to(at::kDouble);
    const at::Tensor finite = at::isfinite(xd);
    const double denom = at::where(finite, xd, at::zeros_like(xd)).pow(2).sum().item<double>();
    const double err = at::where(finite, yd - xd, at::zeros_like(xd)).pow(2).sum().item<double>();
    c.out << "  " << name << " " << x.sizes() << " rel_mse " << std::setprecision(4)
          << (denom > 0 ? err / denom : std::nan("")) << '\n';
    if (codes) {
      const EncodedTensor e = fmt->encode(x);
      tensors.emplace_back(name + ".codes", e.codes);
      tensors.emplace_back(name + ".scales", e.scales);
      if (e.global_scale.defined()) tensors.emplace_back(name + ".global_scale", e.global_scale.reshape({1}));
      if (e.zero_points.defined()) tensors.emplace_back(name + ".zero_points", e.zero_points);
    }
  }
  write_safetensors(out, tensors,
                    {{"pqlab_version", version()}, {"git_commit", git_commit()}, {"format", format_yaml},
                     {"source", in}});
  c.out << "wrote " << out << '\n';
  return 0;
}

}  // namespace pqlab::cli
