// quarot: QuaRot's rotation (arXiv 2404.00456; methods.md 4) as it maps to diffusion
// transformers: a random-sign Hadamard rotation x -> x D H_K / sqrt(K) at every quantized layer's
// input, applied online with a fast Walsh-Hadamard transform (H_m (x) H_2^n for K = m 2^n: FLUX's
// 3072 = 12 x 256, 12288 = 12 x 1024, 15360 = 60 x 256), the weights rotated offline, then
// round-to-nearest. QuaRot's residual-stream rotation is not used: FLUX's AdaLN modulation
// (a per-sample diagonal) and gated residual break its invariance (methods.md 4.2), so every
// rotation here is online. No calibration unless an ordering asks for it (it then sorts the
// rotated channels, measured on rotated reservoir rows, and is a gather after the rotation).
// V/O (vo_heads): at the adapter's per-head value sites (FLUX double blocks: v of both streams'
// qkv -> each stream's attention proj) the per-head Hadamard H_head is folded into the value rows
// (attention mixes tokens only, so it reaches the proj input), and the proj rotates online over
// heads only: its quantizer sees x (H_heads (x) H_head), QuaRot's rotate_ov_proj with
// online_partial_had. FLUX's single blocks read attention and MLP together in linear2, so that
// layer keeps a full online rotation.
// Tests: tests/methods/quantizers/quarot_test.cpp
#include <ATen/ATen.h>

#include <map>
#include <memory>

#include "framework/core/error.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/quant/hadamard.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/producer_fold.h"
#include "framework/quant/reorder.h"
#include "framework/quant/rotation.h"
#include "methods/quantizers/phase_timer.h"
#include "methods/quantizers/quant_targets.h"
#include "methods/quantizers/site_ordering.h"

namespace pqlab::methods {

struct QuarotConfig {
  QuantTargets targets;
  int64_t seed = 0;
  bool random_signs = true;
  bool vo_heads = true;
  SiteOrderingKeys order;
  template <class IO> static void map(IO& io, QuarotConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("seed", c.seed, "seed of the random signs; layer i uses seed + i", config::in_range(0, 1e15));
    io.field("random_signs", c.random_signs, "multiply by random signs D before H (QuIP#'s randomised Hadamard)");
    io.field("vo_heads", c.vo_heads,
             "at attention output projections: fold the per-head Hadamard into the value rows (it cancels through "
             "attention) and rotate online over heads only, as QuaRot's rotate_ov_proj; false: a full online rotation");
    SiteOrderingKeys::map(io, c.order);
    QuantTargets::map_layers(io, c.targets);
  }
};

class Quarot final : public ConfiguredPlugin<Method, QuarotConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    const std::string order = cfg_.order.active() ? " + " + cfg_.order.ordering->describe() : "";
    return "quarot " + weight_format_label() + " / " + act_format_label() + ", online Hadamard" +
           (cfg_.random_signs ? " (seed " + std::to_string(cfg_.seed) + ")" : "") + order;
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override { return cfg_.order.needs(true); }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    MethodReport report;
    const std::vector<LinearSite*> sites = model.linear_sites();
    std::map<std::string, LinearSite*> by_key;
    for (LinearSite* s : sites) by_key[s->key()] = s;
    // V/O: the per-head part folded into the values, the rotation over heads left online.
    std::map<std::string, std::pair<int64_t, int64_t>> split;  // consumer -> (heads, head size)
    if (cfg_.vo_heads) {
      PhaseTimer timer(report, "rotation");
      for (const PermutationSite& ps : model.permutation_sites()) {
        bool ok = !ps.consumers.empty();
        for (const std::string& c : ps.consumers) ok = ok && by_key.count(c) && selects(c);
        if (!ok) continue;
        const int64_t k = by_key.at(ps.consumers[0])->in_features();
        const int64_t g = head_rotation_size(ps, k);
        if (g == 0 || !has_hadamard(k / g)) continue;
        fold_head_rotation(ps, by_key);
        for (const std::string& c : ps.consumers) split[c] = {k / g, g};
      }
    }
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& s = *sites[i];
      if (!selects(s.key())) continue;
      {
        PhaseTimer timer(report, "rotation");
        SiteRecord rec;
        rec.key = s.key();
        std::shared_ptr<const InputTransform> rot;
        const auto it = split.find(s.key());
        if (it != split.end()) {
          rot = std::make_shared<HeadRotation>(it->second.first, it->second.second, s.weight().device());
          rec.texts = {{"rotation", rot->describe() + ", " + std::to_string(it->second.second) +
                                        " per head folded into the values (H_heads (x) H_head)"}};
        } else {
          const uint64_t seed = static_cast<uint64_t>(cfg_.seed) + i;
          std::shared_ptr<HadamardRotation> h;
          try {
            h = std::make_shared<HadamardRotation>(s.in_features(), seed, cfg_.random_signs, s.weight().device());
          } catch (const UsageError& e) {
            throw UsageError("quarot: layer '" + s.key() + "': " + e.what() + "; leave it out with 'skip'");
          }
          rec.texts = {{"rotation", h->describe()}};
          rec.numbers = {{"seed", static_cast<double>(seed)}, {"random_signs", cfg_.random_signs ? 1.0 : 0.0}};
          rot = h;
        }
        s.set_weight(rot->fold_weight(s.weight()));
        s.set_input_transform(rot);
        report.sites.push_back(std::move(rec));
      }
      cfg_.order.apply(s, cal, i, 0, report);
      PhaseTimer timer(report, "quantization");
      quantize_site(s, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, quarot, pqlab::methods::Quarot,
             "QuaRot: random-sign Hadamard rotation of every quantized layer's input (online FWHT), then RTN")
