// The command of each training program of the built-in Fashion-MNIST models (`pqlab train-flux`,
// `pqlab train-classifier`; configs in configs/train/): read the typed config, train, write the
// safetensors file with the resolved config in its metadata.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "framework/cli/options.h"
#include "framework/config/typed_config.h"
#include "framework/interfaces/command.h"
#include "framework/registry/registries.h"

namespace pqlab::models {

/// Cfg: a typed training config; train(cfg, resolved_yaml, out_path, log) runs the program.
/// `context` names the config in errors, e.g. "train-flux config".
template <class Cfg, class Train>
class TrainCommand : public ConfiguredPlugin<CliCommand, NoCommandConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string synopsis() const override {
    return name() + " <config.yaml> --out FILE.safetensors [--set key=value ...]";
  }
  int run(cli::CommandContext& c) const override {
    namespace po = cli::po;
    std::string path, out;
    std::vector<std::string> sets;
    po::options_description desc("options");
    desc.add_options()
        ("help,h", "this text")
        ("config", po::value(&path)->required(), "training config YAML")
        ("set", po::value(&sets)->composing(), "override a config value: key=value (repeatable)")
        ("out", po::value(&out)->required(), "safetensors file to write");
    po::positional_options_description pos;
    pos.add("config", 1);
    po::variables_map vm;
    if (!cli::parse_options(c.args, desc, pos, vm, c.synopsis, c.out)) return 0;
    Cfg cfg = config::load_typed_config<Cfg>(path, sets, (name() + " config").c_str(), &c.registries);
    Train::train(cfg, config::dump_typed_config(cfg), out, c.out);
    return 0;
  }

 private:
  static std::string name() { return Train::kCommand; }
};

}  // namespace pqlab::models
