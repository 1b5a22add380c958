#include "framework/registry/registries.h"

#include "framework/core/spellcheck.h"

namespace pqlab {

std::vector<std::string> Registries::kinds() {
  return {
#define PQLAB_KIND(kind, Interface, member, name_key) #kind,
#include "framework/registry/kinds.def"
#undef PQLAB_KIND
  };
}

std::string unknown_plugin_message(const char* kind, const std::string& name,
                                   const std::vector<std::string>& names) {
  std::string msg = std::string("unknown ") + kind + " '" + name + "'";
  const std::string guess = closest_match(name, names);
  if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
  return msg + " (registered " + kind + "s: " + join(names) + ")";
}

}  // namespace pqlab
