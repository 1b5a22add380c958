// permuquant_h: PermuQuant combined with a block Hadamard rotation (methods.md 1.6; the paper's
// construction is unknown [U], so both hypotheses are a choice, `variant`):
//   rotate_then_permute (default, hypothesis 1): y = Q(x H P) Q(W H P)^T. Every quantized layer's
//     input is rotated block-diagonally (regular Hadamard, block 256 as ConvRot), the ordering
//     sorts the rotated channels within each block (statistics of the rotated reservoir rows and
//     the rotated weight), and P is kept where it lowers the calibration error by more than tau
//     (PermuQuant's rule, on rotated rows). H P is one dense block: P is free at inference.
//   permute_then_rotate (hypothesis 2): PermuQuant's permutations at the adapter's permutation
//     sites (absorbed into producers, or a gather at norm outputs), accepted on the error measured
//     with the rotation in place, then a block rotation with block = the weight format's
//     quantization group (regular Hadamard when the group is a power of 4, else Sylvester; a group
//     that is not a power of two, e.g. a whole 640-channel row, in blocks of the largest power of
//     two dividing it). With
//     a rotation inside each group the group scale follows the group's l2 norm, so clustering
//     should help less; PeRQ argues for balancing groups instead. Both are measured, not assumed.
// The paired control (ordering identity) is the rotation alone: convrot for rotate_then_permute.
// Tests: tests/methods/quantizers/permuquant_h_test.cpp
#include <ATen/ATen.h>

#include <memory>

#include "framework/core/error.h"
#include "framework/interfaces/model_adapter.h"
#include "framework/interfaces/number_format.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/reorder.h"
#include "framework/quant/rotation.h"
#include "framework/quant/site_reorder.h"
#include "methods/quantizers/phase_timer.h"
#include "methods/quantizers/acceptance_keys.h"
#include "methods/quantizers/quant_targets.h"

namespace pqlab::methods {

struct PermuquantHConfig {
  QuantTargets targets;
  std::string variant = "rotate_then_permute";
  int64_t block = 256;
  Plugin<Ordering> ordering{"joint_second_moment", nullptr};
  int64_t ordering_bucket = -1;
  AcceptanceKeys accept;
  template <class IO> static void map(IO& io, PermuquantHConfig& c) {
    QuantTargets::map_formats(io, c.targets);
    io.field("variant", c.variant,
             "rotate_then_permute: Q(x H P), P sorted on rotated channels within each rotation block; "
             "permute_then_rotate: PermuQuant's absorbed P, then a rotation per quantization group",
             config::one_of({"rotate_then_permute", "permute_then_rotate"}));
    io.field("block", c.block, "rotation block of rotate_then_permute (a power of 4; permute_then_rotate uses the group)",
             config::in_range(4, 1 << 20));
    config::plugin_field(io, "ordering", c.ordering, "the channel ordering proposed at each site");
    io.field("ordering_bucket", c.ordering_bucket,
             "calibration timestep bucket the ordering's statistics come from; -1 = pooled over every step",
             config::in_range(-1, 1e6));
    AcceptanceKeys::map(io, c.accept);
    QuantTargets::map_layers(io, c.targets);
    int64_t v = c.block;
    while (v > 1 && v % 4 == 0) v /= 4;
    io.check(v == 1, "block", "the rotation block must be a power of 4 (4, 16, 64, 256, ...)");
    AcceptanceKeys::check(io, c.accept, c.targets);
  }
};

class PermuquantH final : public ConfiguredPlugin<Method, PermuquantHConfig> {
 public:
  using ConfiguredPlugin::ConfiguredPlugin;
  std::string describe() const override {
    return "permuquant_h " + weight_format_label() + " / " + act_format_label() + ", " + cfg_.variant + " + " +
           cfg_.ordering->describe() + ", tau=" + std::to_string(cfg_.accept.tau).substr(0, 6);
  }
  std::string weight_format_label() const override { return cfg_.targets.weight_label(); }
  std::string act_format_label() const override { return cfg_.targets.act_label(); }
  bool selects(const std::string& key) const override { return cfg_.targets.selects(key); }
  CalibrationNeeds needs() const override {
    CalibrationNeeds n;
    if (cfg_.ordering->is_identity()) return n;
    n.statistics = true;
    n.keep_rows = cfg_.accept.accept_rows;
    return n;
  }

  MethodReport apply(ModelAdapter& model, const Calibration* cal) const override {
    AcceptanceRule rule = cfg_.accept.rule(cfg_.targets);
    const bool order = !cfg_.ordering->is_identity();
    MethodReport report;
    const bool rotate_first = cfg_.variant == "rotate_then_permute";
    if (!rotate_first && order) {
      const at::Device dev = device_of(model);
      rule.then_transform = [this, dev](int64_t k) -> std::shared_ptr<const InputTransform> {
        const int64_t g = group_size(k);
        return std::make_shared<BlockRotation>(k, g, kind_for(g), dev);
      };
      ReorderOptions o;
      o.ordering = cfg_.ordering.impl.get();
      o.ordering_name = cfg_.ordering.name;
      o.bucket = cfg_.ordering_bucket;
      o.selects = cfg_.targets.selector();
      o.acceptance = &rule;
      MethodReport r = reorder_sites(model, cal, o);
      report.permutations = std::move(r.permutations);
      report.seconds = std::move(r.seconds);
    }
    SiteOrderingOptions so;
    so.ordering = cfg_.ordering.impl.get();
    so.ordering_name = cfg_.ordering.name;
    so.bucket = cfg_.ordering_bucket;
    so.segment = cfg_.block;
    so.acceptance = &rule;
    const std::vector<LinearSite*> sites = model.linear_sites();
    for (size_t i = 0; i < sites.size(); ++i) {
      LinearSite& s = *sites[i];
      if (!selects(s.key())) continue;
      {
        PhaseTimer timer(report, "rotation");
        report.sites.push_back(rotate(s, rotate_first ? cfg_.block : group_size(s.in_features())));
      }
      if (rotate_first && order) report.permutations.push_back(reorder_site_input(s, cal, so, i, report));
      PhaseTimer timer(report, "quantization");
      quantize_site(s, cfg_.targets.weight_format.impl, cfg_.targets.act_format.impl);
    }
    return report;
  }

 private:
  static BlockHadamard kind_for(int64_t b) {
    int64_t v = b;
    while (v > 1 && v % 4 == 0) v /= 4;
    return v == 1 ? BlockHadamard::regular : BlockHadamard::sylvester;
  }
  // The rotation block of permute_then_rotate for K input channels: the weight format's
  // quantization group (per-row formats: K), or, when the group is not a power of two (a
  // per-channel format on FLUX's 15360-wide linear2), the largest power of two dividing it, so
  // that every block stays inside one group.
  int64_t group_size(int64_t k) const {
    const int64_t g = cfg_.targets.weight_format->encode(at::zeros({1, k})).group_size;
    const int64_t b = g & -g;  // largest power of two dividing g
    if (b < 2)
      throw UsageError("permuquant_h permute_then_rotate: the weight format's group of " + std::to_string(g) +
                       " channels (K = " + std::to_string(k) + ") is odd, so no Hadamard block fits inside it");
    return b;
  }
  static at::Device device_of(ModelAdapter& model) {
    const auto sites = model.linear_sites();
    return sites.empty() ? at::Device(at::kCPU) : sites[0]->weight().device();
  }
  // A block rotation after whatever the site has (a gather at a norm output).
  SiteRecord rotate(LinearSite& s, int64_t block) const {
    auto rot = std::make_shared<BlockRotation>(s.in_features(), block, kind_for(block), s.weight().device());
    s.set_weight(rot->fold_weight(s.weight()));
    s.set_input_transform(TransformChain::then(s.state().input_transform, rot));
    SiteRecord rec;
    rec.key = s.key();
    rec.texts = {{"rotation", rot->describe()}, {"variant", cfg_.variant}};
    return rec;
  }
};

}  // namespace pqlab::methods

PQLAB_PLUGIN(method, permuquant_h, pqlab::methods::PermuquantH,
             "PermuQuant-H: PermuQuant's ordering and acceptance rule combined with a block Hadamard rotation")
