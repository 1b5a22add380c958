// All plugin registries of one process (or one test). Created explicitly, never global.
#pragma once
#include "framework/interfaces/command.h"
#include "framework/interfaces/image_classifier.h"
#include "framework/interfaces/image_metric.h"
#include "framework/interfaces/launcher.h"
#include "framework/interfaces/method.h"
#include "framework/interfaces/metric.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/number_format.h"
#include "framework/interfaces/ordering.h"
#include "framework/registry/registry.h"

namespace pqlab {

struct Registries {
#define PQLAB_KIND(kind, Interface, member, name_key) Registry<Interface> member{#kind, name_key};
#include "framework/registry/kinds.def"
#undef PQLAB_KIND

  template <class I> Registry<I>& get();
  template <class I> const Registry<I>& get() const { return const_cast<Registries*>(this)->get<I>(); }
  /// Kind names in display order.
  static std::vector<std::string> kinds();
};

#define PQLAB_KIND(kind, Interface, member, name_key) \
  template <> inline Registry<Interface>& Registries::get<Interface>() { return member; }
#include "framework/registry/kinds.def"
#undef PQLAB_KIND

/// Registers every built-in plugin (the CMake-generated list).
void register_builtin_plugins(Registries& r);

/// A plugin chosen in a config: its registry name and the instance built from its typed config.
template <class I>
struct Plugin {
  std::string name;
  std::shared_ptr<I> impl;
  I* operator->() const { return impl.get(); }
  explicit operator bool() const { return impl != nullptr; }
};

/// Adapts Plugin<I> to the type-erased slot ConfigIo works with.
template <class I>
class PluginSlotFor final : public config::PluginSlot {
 public:
  PluginSlotFor(Plugin<I>& p, const Registries* r) : p_(p), r_(r) {}
  const char* kind() const override { return reg().kind(); }
  const char* name_key() const override { return reg().name_key(); }
  std::vector<std::string> names() const override { return r_ ? reg().names() : std::vector<std::string>{}; }
  std::string current_name() const override { return p_.name; }
  bool create(const std::string& name, config::ConfigIo& io) override {
    p_.name = name;
    p_.impl = r_->get<I>().at(name).create(io);
    return p_.impl != nullptr;
  }
  void map_existing(config::ConfigIo& io) override {
    if (p_.impl) p_.impl->map_config(io);
  }

 private:
  const Registry<I>& reg() const {
    static const Registries empty;  // kind/name_key only; used when no registries are at hand
    return r_ ? r_->get<I>() : empty.get<I>();
  }
  Plugin<I>& p_;
  const Registries* r_;
};

}  // namespace pqlab

namespace pqlab::config {
template <class I>
void plugin_field(ConfigIo& io, const char* key, Plugin<I>& p, const char* help, FieldOpts o = {}) {
  PluginSlotFor<I> slot(p, io.registries());
  io.plugin(key, help, o, slot);
}
template <class I>
void plugin_list_field(ConfigIo& io, const char* key, std::vector<Plugin<I>>& v, const char* help,
                       FieldOpts o = {}) {
  size_t n = v.size();
  io.plugin_list(key, help, o, [&](size_t i) -> std::unique_ptr<PluginSlot> {
    if (v.size() <= i) v.resize(i + 1);
    return std::make_unique<PluginSlotFor<I>>(v[i], io.registries());
  }, n);
  v.resize(n);
}
}  // namespace pqlab::config

/// Ends a plugin source file: defines pqlab_register_<kind>_<name>(Registries&), which the
/// generated builtin list calls. kind is one of framework/registry/kinds.def.
#define PQLAB_PLUGIN(kind, name, Impl, help)                                   \
  void pqlab_register_##kind##_##name(::pqlab::Registries& r) {                \
    ::pqlab::pqlab_registry_of_##kind(r).template add<Impl>(#name, help, __FILE__, __LINE__); \
  }

namespace pqlab {
#define PQLAB_KIND(kind, Interface, member, name_key) \
  inline Registry<Interface>& pqlab_registry_of_##kind(Registries& r) { return r.member; }
#include "framework/registry/kinds.def"
#undef PQLAB_KIND
}  // namespace pqlab
