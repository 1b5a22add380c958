// All plugin registries of one process (or one test). Created explicitly, never global.
#pragma once
#include "framework/interfaces/image_metric.h"
#include "framework/interfaces/method.h"
#include "framework/interfaces/metric.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/number_format.h"
#include "framework/interfaces/ordering.h"
#include "framework/registry/registry.h"

namespace pqlab {

struct Registries {
  Registry<NumberFormat> formats{"format", "name"};
  Registry<Method> methods{"method", "name"};
  Registry<Ordering> orderings{"ordering", "name"};
  Registry<ModelAdapter> models{"model", "adapter"};
  Registry<Metric> metrics{"metric", "name"};
  Registry<ImageMetric> image_metrics{"image_metric", "name"};

  template <class I> Registry<I>& get();
  template <class I> const Registry<I>& get() const { return const_cast<Registries*>(this)->get<I>(); }
  /// Kind names in display order.
  static std::vector<std::string> kinds();
};

template <> inline Registry<NumberFormat>& Registries::get<NumberFormat>() { return formats; }
template <> inline Registry<Method>& Registries::get<Method>() { return methods; }
template <> inline Registry<Ordering>& Registries::get<Ordering>() { return orderings; }
template <> inline Registry<ModelAdapter>& Registries::get<ModelAdapter>() { return models; }
template <> inline Registry<Metric>& Registries::get<Metric>() { return metrics; }
template <> inline Registry<ImageMetric>& Registries::get<ImageMetric>() { return image_metrics; }

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
/// generated builtin list calls. kind is one of format, method, ordering, model, metric, image_metric.
#define PQLAB_PLUGIN(kind, name, Impl, help)                                   \
  void pqlab_register_##kind##_##name(::pqlab::Registries& r) {                \
    ::pqlab::pqlab_registry_of_##kind(r).template add<Impl>(#name, help, __FILE__, __LINE__); \
  }

namespace pqlab {
inline Registry<NumberFormat>& pqlab_registry_of_format(Registries& r) { return r.formats; }
inline Registry<Method>& pqlab_registry_of_method(Registries& r) { return r.methods; }
inline Registry<Ordering>& pqlab_registry_of_ordering(Registries& r) { return r.orderings; }
inline Registry<ModelAdapter>& pqlab_registry_of_model(Registries& r) { return r.models; }
inline Registry<Metric>& pqlab_registry_of_metric(Registries& r) { return r.metrics; }
inline Registry<ImageMetric>& pqlab_registry_of_image_metric(Registries& r) { return r.image_metrics; }
}  // namespace pqlab
