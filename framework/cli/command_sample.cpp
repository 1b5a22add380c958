// `pqlab sample`: runs an experiment's model adapter in full precision (no variant applied) on
// the experiment's held-out inputs and saves what it produces. For a diffusion adapter that is
// the sampler: seeded noise -> final latents. Sample i gets the input and conditioning of sample i
// of `pqlab run`'s reference trajectories (same seed derivation and prompts) and runs through the
// same run_trajectory, one sample per call: with data.batch_size 1 the outputs are bit-identical
// to run's reference; with larger batches they agree up to the matmuls' batch-shape rounding.
//
// Output (safetensors, all tensors F32):
//   output   the trajectory's result (run_trajectory), first dim = count (FLUX: packed latents [N, L_img, 64])
//   inputs   the inputs it started from (FLUX: packed noise)
//   <view>   the adapter's output_views (FLUX: latents, output unpacked to [N, 16, H/8, W/8], ready
//            for the VAE after latents / 0.3611 + 0.1159, models.md 2.5)
//   metadata prompts (JSON list, prompt of each sample, when the model is conditioned),
//            timesteps (the schedule), experiment, model, seed, config, ...
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/core/version.h"
#include "framework/experiment/experiment_spec.h"
#include "framework/experiment/trajectory.h"
#include "framework/io/safetensors.h"

namespace pqlab::cli {

int command_sample(CommandContext& c) {
  po::options_description desc("options");
  std::string path, out;
  std::vector<std::string> sets;
  int64_t count = 0;
  desc.add_options()("help,h", "this text")("experiment", po::value(&path)->required(), "experiment YAML file")(
      "set", po::value(&sets)->composing(), "override a config value: key.path=value (repeatable)")(
      "out", po::value(&out), "output safetensors (default <output.dir>/<name>_samples.safetensors)")(
      "count", po::value(&count), "number of samples (default data.eval_samples)");
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;

  ExperimentSpec spec = load_experiment(path, sets, c.registries);
  spec.apply_run_options();
  if (!vm.count("count")) count = spec.data.eval_samples;
  if (count < 1) throw UsageError("--count must be >= 1, got " + std::to_string(count));
  if (out.empty()) {
    create_directories(spec.output.dir);
    out = path_join(spec.output.dir, spec.name + "_samples.safetensors");
  } else if (!path_parent(out).empty()) {
    create_directories(path_parent(out));
  }

  ModelAdapter& model = *spec.model.impl;
  model.load();
  const at::Tensor inputs = model.sample_inputs(count, spec.eval_seed());
  std::vector<at::Tensor> outs;
  for (int64_t i = 0; i < count; ++i) {
    outs.push_back(run_trajectory(model, inputs.narrow(0, i, 1), i).to(at::kCPU, at::kFloat));
    c.out << "sample " << i + 1 << "/" << count << " done\n" << std::flush;
  }
  const at::Tensor output = at::cat(outs, 0);

  std::vector<std::pair<std::string, at::Tensor>> tensors{{"output", output},
                                                          {"inputs", inputs.to(at::kCPU, at::kFloat)}};
  std::map<std::string, std::string> meta{{"pqlab_version", version()},
                                          {"git_commit", git_commit()},
                                          {"experiment", spec.name},
                                          {"config_source", spec.source_path},
                                          {"config", spec.resolved_yaml},
                                          {"model", spec.model.name},
                                          {"model_describe", model.describe()},
                                          {"seed", std::to_string(spec.seed)},
                                          {"input_seed", std::to_string(spec.eval_seed())},
                                          {"dtype", model.dtype()},
                                          {"device", model.device()}};
  for (auto& view : model.output_views(output)) tensors.push_back(std::move(view));
  const std::vector<std::string> prompts = model.prompts(0, count);
  if (!prompts.empty()) meta["prompts"] = nlohmann::json(prompts).dump();
  std::ostringstream ts;
  ts << std::setprecision(9);
  const std::vector<double> schedule = model.schedule();
  for (size_t i = 0; i < schedule.size(); ++i) ts << (i ? ", " : "[") << schedule[i];
  meta["timesteps"] = ts.str() + "]";
  write_safetensors(out, tensors, meta);
  c.out << "model " << spec.model.name << " (" << model.describe() << ")\n"
        << "wrote " << out << ": " << count << " sample" << (count == 1 ? "" : "s") << ", output " << output.sizes()
        << '\n';
  return 0;
}

}  // namespace pqlab::cli
