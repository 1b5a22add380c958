// `pqlab list [kind]` and `pqlab explain <kind> <name>`.
#include <algorithm>
#include <iomanip>
#include <ostream>

#include "framework/cli/cli.h"
#include "framework/cli/options.h"
#include "framework/config/config_writer.h"
#include "framework/core/error.h"
#include "framework/core/spellcheck.h"
#include "framework/registry/registries.h"

namespace pqlab::cli {
namespace {

// Visits the registry of `kind` with f(registry); unknown kinds are usage errors.
template <class F>
void with_registry(const Registries& r, const std::string& kind, F f) {
#define PQLAB_KIND(k, Interface, member, name_key) \
  if (kind == #k) return f(r.member);
#include "framework/registry/kinds.def"
#undef PQLAB_KIND
  std::string msg = "unknown plugin kind '" + kind + "'";
  const std::string guess = closest_match(kind, Registries::kinds());
  if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
  throw UsageError(msg + " (kinds: " + join(Registries::kinds()) + ")");
}

}  // namespace

int command_list(CommandContext& c) {
  po::options_description desc("options");
  std::string kind;
  desc.add_options()("help,h", "this text")("kind", po::value(&kind), "plugin kind (default: all)");
  po::positional_options_description pos;
  pos.add("kind", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, "list [kind]", c.out)) return 0;
  const std::vector<std::string> kinds = kind.empty() ? Registries::kinds() : std::vector<std::string>{kind};
  for (const auto& k : kinds)
    with_registry(c.registries, k, [&](const auto& reg) {
      c.out << k << ":\n";
      size_t w = 0;
      for (const auto& n : reg.names()) w = std::max(w, n.size());
      for (const auto* e : reg.entries())
        c.out << "  " << std::left << std::setw(static_cast<int>(w)) << e->name << "  " << e->help << '\n';
    });
  return 0;
}

int command_explain(CommandContext& c) {
  po::options_description desc("options");
  std::string kind, name;
  desc.add_options()("help,h", "this text")("kind", po::value(&kind)->required(), "plugin kind")(
      "name", po::value(&name)->required(), "plugin name");
  po::positional_options_description pos;
  pos.add("kind", 1).add("name", 1);
  po::variables_map vm;
  if (!parse_options(c.args, desc, pos, vm, "explain <kind> <name>", c.out)) return 0;
  with_registry(c.registries, kind, [&](const auto& reg) {
    const auto& e = reg.at(name);
    std::vector<config::KeyDoc> docs;
    config::ConfigExplainer ex(docs);
    e.explain(ex);
    c.out << kind << " '" << e.name << "': " << e.help << "\n(" << e.file << ")\n";
    if (docs.empty()) {
      c.out << "no config keys\n";
      return;
    }
    size_t wk = 3, wt = 4, wd = 7;
    for (const auto& d : docs) {
      wk = std::max(wk, d.key.size());
      wt = std::max(wt, d.type.size());
      wd = std::max(wd, d.default_value.size());
    }
    auto row = [&](const std::string& a, const std::string& b, const std::string& d, const std::string& h) {
      c.out << std::left << std::setw(static_cast<int>(wk)) << a << "  " << std::setw(static_cast<int>(wt)) << b
            << "  " << std::setw(static_cast<int>(wd)) << d << "  " << h << '\n';
    };
    row("key", "type", "default", "help");
    for (const auto& d : docs) row(d.key, d.type, d.default_value, d.help);
  });
  return 0;
}

}  // namespace pqlab::cli
