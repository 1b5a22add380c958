// flux: the FLUX.1 [dev]/[schnell] model adapter. Loads a transformer checkpoint and precomputed
// text conditioning, and runs the reference flow-matching Euler sampler (models/flux/flux_sampler.h)
// from seeded latent noise to the final packed latents. The class and the permutation sites are
// declared in models/flux/flux_adapter.h.
// Tests: tests/models/flux_plugin_test.cpp
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sstream>

#include "framework/core/text.h"
#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/quant/linear_site.h"
#include "models/flux/flux_adapter.h"
#include "models/flux/sharded_checkpoint.h"
#include "models/flux/flux_sampler.h"
#include "models/flux/flux_transformer.h"

namespace pqlab::models {
std::vector<PermutationSite> flux_permutation_sites(const FluxParams& p) {
  // Algebra of each kind: see flux_permutation_sites in flux_adapter.h.
  const int64_t H = p.hidden_size, M = p.mlp_hidden(), D = p.head_dim();
  // The modulation chunks (shift, scale) that act on the norm output before a consumer.
  auto norm_mod = [&](const std::string& mod, const std::string& consumer, int64_t shift_chunk) {
    PermutationSite s{"norm_mod", {mod}, {consumer}, {}, true};
    s.blocks = {{shift_chunk * H, 0, H, 0, BlockAlgebra::modulation_shift},
                {(shift_chunk + 1) * H, 0, H, 0, BlockAlgebra::modulation_scale}};
    return s;
  };
  std::vector<PermutationSite> v;
  for (int64_t i = 0; i < p.depth; ++i) {
    const std::string b = "double." + std::to_string(i) + ".";
    v.push_back(norm_mod(b + "img.mod", b + "img.attn.qkv", 0));
    v.push_back(norm_mod(b + "txt.mod", b + "txt.attn.qkv", 0));
    // The joint attention mixes both streams' v: both qkv take the same P, both proj read it.
    v.push_back({"attn_v_heads", {b + "img.attn.qkv", b + "txt.attn.qkv"}, {b + "img.attn.proj", b + "txt.attn.proj"},
                 {{2 * H, 0, H, D, BlockAlgebra::linear}}, false});
    for (const char* s : {"img", "txt"}) {
      const std::string k = b + s;
      v.push_back(norm_mod(k + ".mod", k + ".mlp.up", 3));
      v.push_back({"mlp", {k + ".mlp.up"}, {k + ".mlp.down"}, {{0, 0, M, 0}}, false});
    }
  }
  for (int64_t j = 0; j < p.depth_single_blocks; ++j) {
    const std::string b = "single." + std::to_string(j) + ".";
    v.push_back(norm_mod(b + "mod", b + "linear1", 0));
    v.push_back({"single_linear1", {b + "linear1"}, {b + "linear2"},
                 {{2 * H, 0, H, D, BlockAlgebra::linear}, {3 * H, H, M, 0, BlockAlgebra::elementwise}}, false});
  }
  return v;
}

FluxAdapter::FluxAdapter(const FluxConfig& c) : ConfiguredPlugin(c) {}
FluxAdapter::~FluxAdapter() = default;

std::string FluxAdapter::describe() const {
  std::string s = "flux " + std::to_string(cfg_.width) + "x" + std::to_string(cfg_.height) + ", " +
                  std::to_string(cfg_.steps) + " steps";
  if (!model_) return s + ", shift " + cfg_.shift;
  if (model_->params().guidance_embed) {
    std::ostringstream g;
    g << cfg_.guidance;
    s += ", guidance " + g.str();
  }
  return s + ", shift " + (shift_enabled() ? "on" : "off") + "; " + model_->params().describe();
}

void FluxAdapter::load() {
  // The config reader refuses these (FluxConfig::map); a FluxConfig built in code is checked here,
  // before any file is read.
  const int64_t m = 2 * cfg_.latent_downsample;
  if (cfg_.latent_downsample < 1 || cfg_.width < m || cfg_.height < m || cfg_.width % m != 0 || cfg_.height % m != 0)
    throw UsageError("flux: 'width' " + std::to_string(cfg_.width) + " and 'height' " + std::to_string(cfg_.height) +
                     " with 'latent_downsample' " + std::to_string(cfg_.latent_downsample) +
                     " do not give a whole, positive number of image tokens: both must be positive multiples of "
                     "2 x latent_downsample");
  if (cfg_.device == "cuda" && !at::hasCUDA()) throw RuntimeError("flux: device 'cuda' requested but CUDA is not available");
  const at::ScalarType dtype = cfg_.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  const at::Device device = cfg_.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  model_.reset();
  cond_ = FluxConditioning();
  const std::string checkpoint = resolve_data_path(cfg_.checkpoint);
  auto model = load_flux_transformer(checkpoint, dtype, device, cfg_.axes_dim);
  const FluxParams& p = model->params();
  if (p.in_channels % 4 != 0 || p.out_channels != p.in_channels)
    throw RuntimeError("flux: checkpoint '" + cfg_.checkpoint + "' has in_channels " + std::to_string(p.in_channels) +
                       " and out_channels " + std::to_string(p.out_channels) +
                       "; the text-to-image sampler needs out_channels == in_channels, a multiple of 4 (2x2 packing)");
  if (!cfg_.conditioning.empty()) {
    cond_ = load_flux_conditioning(cfg_.conditioning, p).to(device, dtype);
  } else {
    const OpenedCheckpoint ck = open_checkpoint(checkpoint);
    if (ck.reader->contains(std::string(kBuiltinConditioningPrefix) + "txt"))
      cond_ = check_flux_conditioning(load_flux_conditioning(*ck.reader, ck.weights_path, kBuiltinConditioningPrefix),
                                      ck.weights_path, p)
                  .to(device, dtype);
  }
  model_ = std::move(model);
  timesteps_ = flux_schedule(static_cast<int>(cfg_.steps), image_seq_len(), shift_enabled());
  img_ids_ = flux_img_ids(latent_height(), latent_width());
}

void FluxAdapter::require_loaded(const char* what) const {
  if (!model_) throw RuntimeError(std::string("flux: ") + what + " before load()");
}

const FluxTransformer& FluxAdapter::transformer() const {
  require_loaded("transformer()");
  return *model_;
}

const FluxParams& FluxAdapter::params() const { return transformer().params(); }

bool FluxAdapter::shift_enabled() const {
  if (cfg_.shift == "on") return true;
  if (cfg_.shift == "off") return false;
  return params().guidance_embed;  // auto: dev (guidance embedding) shifts, schnell does not
}

int64_t FluxAdapter::latent_channels() const { return params().in_channels / 4; }

std::vector<LinearSite*> FluxAdapter::linear_sites() {
  return model_ ? model_->linear_sites() : std::vector<LinearSite*>{};
}

at::Tensor FluxAdapter::sample_inputs(int64_t count, uint64_t seed) const {
  require_loaded("sample_inputs()");
  const at::Tensor noise = flux_noise(count, latent_channels(), latent_height(), latent_width(), seed);
  return flux_pack_latents(noise).to(model_->device(), model_->dtype());
}

std::vector<double> FluxAdapter::schedule() const {
  require_loaded("schedule()");
  return std::vector<double>(timesteps_.begin(), timesteps_.end());
}

const UpdateRule& FluxAdapter::update_rule() const {
  static const EulerUpdate euler;
  return euler;
}

at::Tensor FluxAdapter::velocity(const at::Tensor& x, const StepContext& ctx) {
  require_loaded("velocity()");
  if (cond_.size() == 0)
    throw RuntimeError("flux: sampling needs text conditioning and checkpoint '" + cfg_.checkpoint +
                       "' has none built in; set the model's 'conditioning' to a file made by "
                       "scripts/make_flux_conditioning.py");
  const FluxParams& p = model_->params();
  if (x.dim() != 3 || x.size(1) != image_seq_len() || x.size(2) != p.in_channels)
    throw RuntimeError("flux: latents must be packed [B, " + std::to_string(image_seq_len()) + ", " +
                       std::to_string(p.in_channels) + "] for " + std::to_string(cfg_.width) + "x" +
                       std::to_string(cfg_.height) + " px, got " + shape_str(x));
  // Row r uses prompt (first_sample + r) mod N; the tensors are built as flux_sample builds them
  // (models/flux/flux_sampler.cpp), so a trajectory of velocity() calls reproduces it bit for bit.
  const int64_t B = x.size(0), n = cond_.size();
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < B; ++i) rows.push_back(((ctx.first_sample + i) % n + n) % n);
  const FluxConditioning c = cond_.rows(rows);
  const at::TensorOptions opts = at::TensorOptions().dtype(model_->dtype()).device(model_->device());
  FluxInputs in;
  in.img = x.to(model_->device(), model_->dtype());
  in.txt = c.txt;
  in.y = c.y;
  in.txt_ids = c.txt_ids.to(model_->device());
  in.img_ids = img_ids_.to(model_->device());
  if (p.guidance_embed) in.guidance = at::full({B}, static_cast<double>(static_cast<float>(cfg_.guidance)), opts);
  in.timesteps = at::full({B}, ctx.t, opts);
  return model_->forward(in);
}

at::Tensor FluxAdapter::unpack(const at::Tensor& packed) const {
  return flux_unpack_latents(packed, latent_height(), latent_width());
}

at::Tensor FluxAdapter::to_images(const at::Tensor& outputs) const {
  if (cfg_.latent_downsample != 1) return {};
  at::Tensor x = unpack(outputs).detach().to(at::kCPU, at::kFloat);
  const int64_t c = cfg_.image_crop;
  if (c > 0) x = x.narrow(2, c, x.size(2) - 2 * c).narrow(3, c, x.size(3) - 2 * c);
  return ((x + 1) * 0.5).clamp(0, 1).contiguous();
}

std::vector<std::string> FluxAdapter::prompts(int64_t first_sample, int64_t count) const {
  std::vector<std::string> v;
  const int64_t n = static_cast<int64_t>(cond_.prompts.size());
  for (int64_t i = 0; i < count && n > 0; ++i) v.push_back(cond_.prompts[static_cast<size_t>(((first_sample + i) % n + n) % n)]);
  return v;
}

}  // namespace pqlab::models

PQLAB_PLUGIN(model, flux, pqlab::models::FluxAdapter,
             "FLUX.1 dev/schnell transformer with the reference flow-matching Euler sampler (needs a checkpoint and text conditioning)")
