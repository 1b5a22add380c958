// The typed experiment: what `pqlab run` does, parsed once from YAML (with includes and --set
// overrides). Nothing past this point sees YAML.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/config/config_io.h"
#include "framework/config/config_value.h"
#include "framework/experiment/calibration.h"
#include "framework/core/excerpt.h"
#include "framework/core/paths.h"
#include "framework/registry/registries.h"

namespace pqlab {

struct DataSpec {
  int64_t eval_samples = 8;    ///< held-out inputs every output and image metric is computed on
  int64_t layer_samples = 8;   ///< of those, the first min(layer_samples, eval_samples) are traced per layer
  int64_t batch_size = 1;      ///< samples per model call
  bool propagated = true;      ///< measure propagated per-layer errors (needs one step of site outputs in memory)
  template <class IO> static void map(IO& io, DataSpec& c) {
    io.field("eval_samples", c.eval_samples, "number of held-out evaluation inputs (diffusion models: images)",
             config::in_range(1, 1e9));
    io.field("layer_samples", c.layer_samples,
             "the first min(layer_samples, eval_samples) samples are also evaluated teacher-forced: at every step "
             "the full-precision latent feeds both models, giving per-layer and velocity errors per step "
             "(0 = free-running evaluation only)",
             config::in_range(0, 1e9));
    io.field("batch_size", c.batch_size,
             "samples per model call (activation groups 'tensor' then span the batch)", config::in_range(1, 1e6));
    io.field("propagated", c.propagated,
             "teacher-forced propagated per-layer errors (each layer's output inside the quantized model against "
             "full precision); they keep one step of one batch of every layer's full-precision output in memory "
             "(~13 GB for FLUX.1 at 1024x1024, batch 1); false keeps only isolated errors");
  }
};

/// The image stage, for models whose outputs are images (ModelAdapter::to_images).
struct ImagesSpec {
  std::vector<Plugin<ImageMetric>> metrics;  ///< on each image set, full precision included
  std::vector<Plugin<Metric>> paired;        ///< each variant's images against full precision's
  bool grids = true;
  int64_t grid_columns = 10;
  template <class IO> static void map(IO& io, ImagesSpec& c) {
    config::plugin_list_field(io, "metrics", c.metrics,
                              "image metrics of each variant's images (and of full precision's): class_accuracy, ...");
    config::plugin_list_field(io, "paired", c.paired,
                              "metrics of each variant's images against full precision's images from the same "
                              "seeds and prompts (psnr, ssim with peak/data_range 1: images are in [0, 1])");
    io.field("grids", c.grids, "write a PNG grid of the images per variant (<output.dir>/<name>_images/<label>.png)");
    io.field("grid_columns", c.grid_columns, "images per grid row", config::in_range(1, 1e6));
  }
  bool any() const { return !metrics.empty() || !paired.empty() || grids; }
};

/// One quantized variant of the model; all variants of a run share model, data and seeds.
struct VariantSpec {
  std::string label;
  Plugin<Method> method;
  /// The paired no-permutation control: the same method with this ordering, added as variant
  /// "<label>.control" when the method takes an `ordering` and its own differs ("none": no control).
  std::string control = "identity";
  SourceLocation where;  ///< the variant's mapping in the config, for errors found at run time
  // Set by load_experiment, not read from YAML:
  std::string control_label;  ///< label of this variant's control variant ("" = none)
  std::string control_of;     ///< for a control variant: the label of the variant it controls
  template <class IO> static void map(IO& io, VariantSpec& c) {
    if (io.reading()) c.where = io.location();
    io.field("label", c.label,
             "name of this variant in tables, in the result file and as its image grid's file stem "
             "(letters, digits, _ . -)",
             config::required());
    config::plugin_field(io, "method", c.method, "the quantization method and its settings", config::required());
    io.field("control", c.control,
             "paired control for a method with an 'ordering': identity (default) or random adds variant "
             "'<label>.control', the same method with that ordering on the same calibration statistics, samples and "
             "seeds, and per-sample differences with bootstrap intervals; none = no control",
             config::one_of({"identity", "random", "none"}));
    // The label names <name>_images/<label>.png: a '/' or '..' would write outside the output folder.
    io.check(is_plain_file_stem(c.label), "label",
             std::string("'label' must be a plain file stem (") + kPlainFileStemRule + "), got '" + excerpt(c.label) +
                 "'");
  }
};

/// Confidence intervals of the paired differences between a variant and its control.
struct BootstrapSpec {
  int64_t resamples = 1000;
  double level = 0.95;
  template <class IO> static void map(IO& io, BootstrapSpec& c) {
    io.field("resamples", c.resamples, "bootstrap resamples of the held-out samples (paired percentile bootstrap)",
             config::in_range(1, 1e7));
    io.field("level", c.level, "confidence level of the intervals", config::in_range(0.5, 0.9999));
  }
};

struct OutputSpec {
  std::string dir = "results";  ///< relative paths resolve against the working directory
  template <class IO> static void map(IO& io, OutputSpec& c) {
    io.field("dir", c.dir, "folder for the result file <dir>/<experiment name>.h5");
  }
};

struct ExperimentSpec {
  std::string name;        ///< defaults to the file stem
  int64_t seed = 0;        ///< every random draw of the run derives from it
  int64_t threads = 0;     ///< CPU intra-op threads of the process (0 = libtorch's default)
  bool pack_weights = true;  ///< quantized weights kept as codes + scales (LinearSite::set_pack_quantized)
  Plugin<ModelAdapter> model;
  DataSpec data;
  CalibrationSpec calibration;
  std::vector<VariantSpec> variants;
  std::vector<std::string> run_variants;  ///< labels to run (with their controls); empty = all
  std::vector<Plugin<Metric>> metrics;
  ImagesSpec images;
  BootstrapSpec bootstrap;
  OutputSpec output;

  template <class IO> static void map(IO& io, ExperimentSpec& c) {
    io.field("name", c.name,
             "experiment name, the stem of every file the run writes (<name>.h5, <name>_images/); letters, "
             "digits, _ . -; default: the YAML file's stem");
    // Empty = the file stem, checked by load_experiment once it is known.
    io.check(c.name.empty() || is_plain_file_stem(c.name), "name",
             std::string("'name' must be a plain file stem (") + kPlainFileStemRule + "), got '" + excerpt(c.name) +
                 "'");
    io.field("seed", c.seed, "master seed for data and any randomized method", config::in_range(0, 9.0e15));
    io.field("threads", c.threads,
             "CPU intra-op threads of the run (at::set_num_threads); 0 = libtorch's default. A run option, not a "
             "model's: tiny models run fastest on 1 (their ops are too small to split)",
             config::in_range(0, 4096));
    io.field("pack_weights", c.pack_weights,
             "keep quantized weights as their format's codes and scales, decoded at each call (4-8 bits per weight "
             "next to the full-precision model, instead of a 16-bit copy); false: fake-quantized copies, no decode. "
             "A run option: results are identical either way");
    config::plugin_field(io, "model", c.model, "model adapter and its settings", config::required());
    io.field("data", c.data, "held-out evaluation data");
    io.field("calibration", c.calibration,
             "calibration trajectories and the statistics collected on them (stored under /calibration)");
    io.field("variants", c.variants, "quantized variants compared against full precision", config::required());
    io.field("run_variants", c.run_variants,
             "labels of the variants this run computes, each with its control (e.g. --set run_variants=[svdquant] to "
             "run one method of a file that lists many); empty = all");
    config::plugin_list_field(io, "metrics", c.metrics,
                              "metrics comparing each variant to full precision, per layer and on the model output");
    io.field("images", c.images, "image metrics and sample grids (models whose outputs are images)");
    io.field("bootstrap", c.bootstrap, "intervals of each variant's paired differences to its control");
    io.field("output", c.output, "where results go");
  }

  /// Sets the process's CPU threads when `threads` asks for a number (run and sample call it).
  void apply_run_options() const;

  /// Seed of the held-out inputs: one stream per split, all derived from `seed`, so `pqlab run`
  /// and `pqlab sample` draw identical held-out samples.
  uint64_t eval_seed() const { return static_cast<uint64_t>(seed) * 1000003ULL + 2; }
  /// Seed of the calibration noise: another stream of the same family, disjoint from eval_seed().
  uint64_t calibration_seed() const { return static_cast<uint64_t>(seed) * 1000003ULL + 1; }
  /// Seed of the bootstrap resampling of paired differences.
  uint64_t bootstrap_seed() const { return static_cast<uint64_t>(seed) * 1000003ULL + 3; }

  std::string source_path;    ///< the YAML file it came from
  bool has_sweep = false;     ///< the file has a `sweep:` block (`pqlab sweep` expands it; `run` ignores it)
  std::string resolved_yaml;  ///< every key with its final value (includes, --set and defaults applied)
};

/// Loads and validates an experiment. Throws ConfigError (all errors, located) on bad input.
/// Control variants (VariantSpec::control) are added right after the variant they control;
/// resolved_yaml is the config before that, so that reloading it adds them again.
/// sets: "--set key.path=value" overrides (without the flag), applied after includes.
ExperimentSpec load_experiment(const std::string& path, const std::vector<std::string>& sets,
                               const Registries& registries);

/// Removes the `sweep:` block from an experiment tree and returns it (null when there is none):
/// a sweep describes many runs, so no single run's config holds it (framework/sweep/).
std::unique_ptr<config::Node> strip_sweep(config::Node& root);

/// load_experiment on a tree already loaded (config::load_config_tree) and stripped of its sweep
/// block; `path` is the file it came from (default name, messages).
ExperimentSpec load_experiment_tree(const config::Node& root, const std::string& path, const Registries& registries);

/// Resolved YAML of any config struct (via its map()).
std::string dump_experiment(ExperimentSpec& spec);

}  // namespace pqlab
