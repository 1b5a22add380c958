// `pqlab train-flux` and `pqlab train-classifier`: the training programs of the built-in
// Fashion-MNIST models (models/fmnist/fmnist_train.h); configs in configs/train/.
#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/config/typed_config.h"
#include "framework/core/error.h"
#include "models/fmnist/fmnist_train.h"

namespace pqlab::cli {
namespace {

struct TrainArgs {
  std::string path, out;
  std::vector<std::string> sets;
};

bool parse_train_args(CommandContext& c, const char* synopsis, TrainArgs& a) {
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "this text")
      ("config", po::value(&a.path)->required(), "training config YAML")
      ("set", po::value(&a.sets)->composing(), "override a config value: key=value (repeatable)")
      ("out", po::value(&a.out)->required(), "safetensors file to write");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  return parse_options(c.args, desc, pos, vm, synopsis, c.out);
}

template <class Cfg, class Fn>
int train(CommandContext& c, const char* synopsis, const char* context, Fn fn) {
  TrainArgs a;
  if (!parse_train_args(c, synopsis, a)) return 0;
  Cfg cfg = config::load_typed_config<Cfg>(a.path, a.sets, context, &c.registries);
  const std::string yaml = config::dump_typed_config(cfg);
  fn(cfg, yaml, a.out, c.out);
  return 0;
}

}  // namespace

int command_train_flux(CommandContext& c) {
  return train<models::FluxTrainConfig>(c, "train-flux <config.yaml> --out FILE.safetensors [--set key=value ...]",
                                        "train-flux config", models::train_fmnist_flux);
}

int command_train_classifier(CommandContext& c) {
  return train<models::ClassifierTrainConfig>(
      c, "train-classifier <config.yaml> --out FILE.safetensors [--set key=value ...]", "train-classifier config",
      models::train_fmnist_classifier);
}

}  // namespace pqlab::cli
