// `pqlab forward`: one FLUX transformer forward on inputs from a safetensors file, named as in
// the golden data (img, img_ids, txt, txt_ids, y, timesteps[, guidance]); writes `out` and, with
// --intermediates, every per-block intermediate. This is how the adapter is checked from outside.
#include <ATen/ATen.h>

#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "framework/cli/options.h"
#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/core/version.h"
#include "framework/io/safetensors.h"
#include "framework/registry/registries.h"
#include "models/flux/flux_transformer.h"

namespace pqlab::models {
namespace po = cli::po;
using cli::CommandContext;
using cli::parse_options;

namespace {

std::vector<int64_t> parse_axes_dim(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t x = 0;
    try {
      x = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || x <= 0)
      throw UsageError("--axes-dim must be a comma-separated list of positive integers, got '" + excerpt(s) + "'");
    v.push_back(x);
  }
  return v;
}

}  // namespace

class Forward final : public ConfiguredPlugin<CliCommand, NoCommandConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string synopsis() const override {
    return "forward --checkpoint PATH --inputs IN.safetensors --out OUT.safetensors [--dtype fp32|bf16] "
           "[--device cpu|cuda] [--intermediates] [--axes-dim A,B,C]";
  }
  int run(CommandContext& c) const override;
};

int Forward::run(CommandContext& c) const {
  po::options_description desc("options");
  std::string checkpoint, inputs, out, dtype = "fp32", device = "cpu", axes;
  bool intermediates = false;
  desc.add_options()("help,h", "this text")(
      "checkpoint", po::value(&checkpoint)->required(),
      "FLUX transformer weights: .safetensors file (BFL or diffusers names), *.index.json, or folder")(
      "inputs", po::value(&inputs)->required(), "safetensors with img, img_ids, txt, txt_ids, y, timesteps[, guidance]")(
      "out", po::value(&out)->required(), "output safetensors (all tensors stored as F32)")(
      "dtype", po::value(&dtype), "compute dtype: fp32 (default) or bf16")(
      "device", po::value(&device), "cpu (default) or cuda")(
      "intermediates", po::bool_switch(&intermediates), "also write x_embedder, temb, rope.*, double.N.*, single.N.*, norm_out")(
      "axes-dim", po::value(&axes), "RoPE axes_dim when no config.json is next to the weights, e.g. 16,56,56");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;

  if (dtype != "fp32" && dtype != "bf16") throw UsageError("--dtype must be fp32 or bf16, got '" + excerpt(dtype) + "'");
  if (device != "cpu" && device != "cuda") throw UsageError("--device must be cpu or cuda, got '" + excerpt(device) + "'");
  if (device == "cuda" && !at::hasCUDA()) throw UsageError("--device cuda requested but CUDA is not available");
  const at::ScalarType st = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const at::Device dev = device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);

  const auto model =
      load_flux_transformer(checkpoint, st, dev, axes.empty() ? std::vector<int64_t>{} : parse_axes_dim(axes));
  c.out << "model: FLUX transformer, " << model->params().describe() << "\n";

  SafetensorsFile in(inputs);
  auto get = [&](const char* name, bool required) {
    if (in.contains(name)) return in.get(name);
    if (required) throw RuntimeError("inputs file '" + inputs + "' has no tensor '" + name + "'");
    return at::Tensor();
  };
  FluxInputs x;
  x.img = get("img", true);
  x.img_ids = get("img_ids", true);
  x.txt = get("txt", true);
  x.txt_ids = get("txt_ids", true);
  x.y = get("y", true);
  x.timesteps = get("timesteps", true);
  x.guidance = get("guidance", model->params().guidance_embed);

  std::map<std::string, at::Tensor> inter;
  const at::Tensor y = model->forward(x, intermediates ? &inter : nullptr);
  std::vector<std::pair<std::string, at::Tensor>> tensors{{"out", y.to(at::kCPU, at::kFloat)}};
  for (const auto& [name, t] : inter) tensors.emplace_back(name, t.to(at::kCPU, at::kFloat));
  write_safetensors(out, tensors,
                    {{"pqlab_version", version()}, {"git_commit", git_commit()}, {"checkpoint", checkpoint},
                     {"inputs", inputs}, {"dtype", dtype}, {"device", device}});
  c.out << "out " << y.sizes() << " max|out| " << std::setprecision(6) << y.abs().max().item<double>() << "\n"
        << "wrote " << out << " (" << tensors.size() << " tensor" << (tensors.size() == 1 ? "" : "s") << ")\n";
  return 0;
}

}  // namespace pqlab::models

PQLAB_PLUGIN(command, forward, pqlab::models::Forward, "run one FLUX transformer forward on saved inputs")
