// FLUX.1 transformer forward; see flux_transformer.h. Operation order follows diffusers
// (the golden data's reference) so that bf16 roundings happen at the same places:
// LayerNorm and RMSNorm in fp32 (one rounding each), RoPE tables in float64 -> fp32, rotation in
// fp32, 1000 * t in the model dtype, everything else elementwise in the model dtype.
#include "models/flux/flux_transformer.h"

#include <ATen/ATen.h>
#include <torch/version.h>  // macros only; not the torch C++ frontend

#include <cmath>

#include "framework/core/text.h"
#include "framework/core/error.h"
#include "framework/quant/linear_site.h"
#include "models/flux/sharded_checkpoint.h"

namespace pqlab::models {
namespace {

constexpr double kNormEps = 1e-6;
constexpr int64_t kTimeEmbedDim = 256;

// Parameter-free LayerNorm over the last axis; statistics in fp32, result in x's dtype.
// On CUDA the bf16 kernel already accumulates in fp32 and rounds once, so the casts around it
// only cost two extra passes (7.8 ms of a 1024x1024 FLUX.1-dev step on an H100, bit-identical).
at::Tensor layer_norm(const at::Tensor& x) {
  if (x.is_cuda()) return at::layer_norm(x, {x.size(-1)}, {}, {}, kNormEps);
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, kNormEps).to(x.scalar_type());
}

// RMSNorm with learned scale as torch.nn.RMSNorm (diffusers) computes it: normalize and scale in
// fp32, round once. BFL's own RMSNorm rounds before the scale; the two differ by <= 1 bf16 ulp,
// and on the golden data torch 2.11's CUDA F.rms_norm matched this order on 100% of elements.
// On CUDA with libtorch >= 2.4 the fused at::rms_norm computes exactly this in one pass (18 ms
// less per FLUX.1-dev step on an H100, bit-identical on the golden data).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& scale) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (x.is_cuda()) return at::rms_norm(x, {x.size(-1)}, scale, kNormEps);
#endif
  const at::Tensor xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(-1, true) + kNormEps) * scale.to(at::kFloat)).to(x.scalar_type());
}

// (1 + scale) * x + shift with per-sample [B, H] modulation, in diffusers' operation order.
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

// Sinusoidal embedding of t ([B], already x1000, any dtype): [cos | sin], fp32 [B, dim].
at::Tensor timestep_embedding(const at::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  const at::Tensor freqs =
      at::exp(at::arange(0, half, t.options().dtype(at::kFloat)) * (-std::log(10000.0)) / static_cast<double>(half));
  const at::Tensor args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  return at::cat({at::cos(args), at::sin(args)}, -1);
}

// RoPE tables for ids [..., L, 3] (fp32): cos and sin [..., L, head_dim], each angle repeated for
// its (2j, 2j+1) pair. Angles in float64 as diffusers' FluxPosEmbed, then rounded to fp32.
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& ids, const std::vector<int64_t>& axes_dim,
                                              double theta) {
  const at::Tensor pos = ids.to(at::kCPU, at::kFloat).to(at::kDouble);
  std::vector<at::Tensor> cos, sin;
  for (size_t i = 0; i < axes_dim.size(); ++i) {
    const int64_t d = axes_dim[i];
    const at::Tensor exponent = at::arange(0, d, 2, at::TensorOptions().dtype(at::kDouble)) / static_cast<double>(d);
    const at::Tensor freqs = 1.0 / at::pow(theta, exponent);
    const at::Tensor angles = pos.select(-1, static_cast<int64_t>(i)).unsqueeze(-1) * freqs;
    cos.push_back(at::stack({at::cos(angles), at::cos(angles)}, -1).flatten(-2));
    sin.push_back(at::stack({at::sin(angles), at::sin(angles)}, -1).flatten(-2));
  }
  return {at::cat(cos, -1).to(at::kFloat).to(ids.device()), at::cat(sin, -1).to(at::kFloat).to(ids.device())};
}

// Rotates adjacent pairs of x [B, L, heads, D] in fp32: x*cos + rot(x)*sin, rot(x)_{2j} = -x_{2j+1},
// rot(x)_{2j+1} = x_{2j}; cos/sin [L, D] or [B, L, D]. Result in x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const at::Tensor xf = x.to(at::kFloat);
  std::vector<int64_t> pairs(xf.sizes().begin(), xf.sizes().end());
  pairs.back() /= 2;
  pairs.push_back(2);
  // rot(x) * sin == swap(x) * (sin with even entries negated), exactly (negation is exact), which
  // saves the stack of a negated copy: 10 ms per FLUX.1-dev step on an H100.
  std::vector<int64_t> sin_pairs(sin.sizes().begin(), sin.sizes().end());
  sin_pairs.back() /= 2;
  sin_pairs.push_back(2);
  const at::Tensor sign = at::tensor({-1.0f, 1.0f}, sin.options());
  const at::Tensor signed_sin = (sin.reshape(sin_pairs) * sign).flatten(-2);
  const at::Tensor swapped = xf.reshape(pairs).flip({-1}).flatten(-2);
  const at::Tensor c = cos.dim() == 2 ? cos.unsqueeze(0).unsqueeze(2) : cos.unsqueeze(2);
  const at::Tensor s = signed_sin.dim() == 2 ? signed_sin.unsqueeze(0).unsqueeze(2) : signed_sin.unsqueeze(2);
  return (xf * c + swapped * s).to(x.scalar_type());
}

// Joint attention: q, k, v [B, L, heads, D] (RoPE applied here to q and k), no mask, scale
// 1/sqrt(D). Returns [B, L, heads * D].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                     const at::Tensor& sin) {
  const at::Tensor qh = apply_rope(q, cos, sin).transpose(1, 2);
  const at::Tensor kh = apply_rope(k, cos, sin).transpose(1, 2);
  const at::Tensor vh = v.transpose(1, 2);
#if TORCH_VERSION_MAJOR >= 2
  const at::Tensor o = at::scaled_dot_product_attention(qh, kh, vh);
#else
  // libtorch 1.x has no fused attention: softmax(q k^T / sqrt(D)) v in fp32, cast back.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const at::Tensor scores = at::matmul(qh.to(at::kFloat), kh.to(at::kFloat).transpose(-2, -1)) * scale;
  const at::Tensor o = at::matmul(at::softmax(scores, -1), vh.to(at::kFloat)).to(q.scalar_type());
#endif
  return o.transpose(1, 2).flatten(2);
}

// Columns [offset, offset + heads * head_dim) of x [B, L, *] as [B, L, heads, head_dim].
at::Tensor head_split(const at::Tensor& x, int64_t offset, int64_t heads, int64_t head_dim) {
  return x.narrow(-1, offset, heads * head_dim).reshape({x.size(0), x.size(1), heads, head_dim});
}

}  // namespace

struct FluxTransformer::Stream {
  LinearSite *mod, *qkv, *proj, *up, *down;
  at::Tensor q_scale, k_scale;
};

struct FluxTransformer::DoubleBlock {
  Stream img, txt;
};

struct FluxTransformer::SingleBlock {
  LinearSite *mod, *linear1, *linear2;
  at::Tensor q_scale, k_scale;
};

FluxTransformer::~FluxTransformer() = default;

LinearSite* FluxTransformer::add_site(const FluxWeights& w, const std::string& key, const std::string& role,
                                      const std::string& bfl) {
  auto it = w.tensors.find(bfl + ".bias");
  const at::Tensor bias = it == w.tensors.end() ? at::Tensor() : it->second;
  sites_.push_back(std::make_unique<LinearSite>(key, role, w.at(bfl + ".weight"), bias));
  return sites_.back().get();
}

FluxTransformer::FluxTransformer(const FluxParams& p, const FluxWeights& w)
    : p_(p), dtype_(w.at("img_in.weight").scalar_type()), device_(w.at("img_in.weight").device()) {
  img_in_ = add_site(w, "embed.img_in", "embed", "img_in");
  time_in_ = add_site(w, "embed.time.in", "embed", "time_in.in_layer");
  time_out_ = add_site(w, "embed.time.out", "embed", "time_in.out_layer");
  if (p_.guidance_embed) {
    guidance_in_ = add_site(w, "embed.guidance.in", "embed", "guidance_in.in_layer");
    guidance_out_ = add_site(w, "embed.guidance.out", "embed", "guidance_in.out_layer");
  }
  vector_in_ = add_site(w, "embed.vector.in", "embed", "vector_in.in_layer");
  vector_out_ = add_site(w, "embed.vector.out", "embed", "vector_in.out_layer");
  txt_in_ = add_site(w, "embed.txt_in", "embed", "txt_in");
  for (int64_t i = 0; i < p_.depth; ++i) {
    auto blk = std::make_unique<DoubleBlock>();
    const std::string k = "double." + std::to_string(i) + ".", b = "double_blocks." + std::to_string(i) + ".";
    // Execution order: both modulations, both qkv, then each stream's output path.
    for (auto [s, name] : {std::pair<Stream*, const char*>{&blk->img, "img"}, {&blk->txt, "txt"}})
      s->mod = add_site(w, k + name + ".mod", "modulation", b + name + "_mod.lin");
    for (auto [s, name] : {std::pair<Stream*, const char*>{&blk->img, "img"}, {&blk->txt, "txt"}}) {
      s->qkv = add_site(w, k + name + ".attn.qkv", "attn_qkv", b + name + "_attn.qkv");
      s->q_scale = w.at(b + name + "_attn.norm.query_norm.scale");
      s->k_scale = w.at(b + name + "_attn.norm.key_norm.scale");
    }
    for (auto [s, name] : {std::pair<Stream*, const char*>{&blk->img, "img"}, {&blk->txt, "txt"}}) {
      s->proj = add_site(w, k + name + ".attn.proj", "attn_out", b + name + "_attn.proj");
      s->up = add_site(w, k + name + ".mlp.up", "mlp_up", b + name + "_mlp.0");
      s->down = add_site(w, k + name + ".mlp.down", "mlp_down", b + name + "_mlp.2");
    }
    double_.push_back(std::move(blk));
  }
  for (int64_t j = 0; j < p_.depth_single_blocks; ++j) {
    auto blk = std::make_unique<SingleBlock>();
    const std::string k = "single." + std::to_string(j) + ".", b = "single_blocks." + std::to_string(j) + ".";
    blk->mod = add_site(w, k + "mod", "modulation", b + "modulation.lin");
    blk->linear1 = add_site(w, k + "linear1", "single_linear1", b + "linear1");
    blk->linear2 = add_site(w, k + "linear2", "single_linear2", b + "linear2");
    blk->q_scale = w.at(b + "norm.query_norm.scale");
    blk->k_scale = w.at(b + "norm.key_norm.scale");
    single_.push_back(std::move(blk));
  }
  final_mod_ = add_site(w, "final.adaLN", "final_modulation", "final_layer.adaLN_modulation.1");
  final_linear_ = add_site(w, "final.linear", "final", "final_layer.linear");
}

std::vector<LinearSite*> FluxTransformer::linear_sites() {
  std::vector<LinearSite*> v;
  for (auto& s : sites_) v.push_back(s.get());
  return v;
}

LinearSite& FluxTransformer::site(const std::string& key) {
  for (auto& s : sites_)
    if (s->key() == key) return *s;
  throw RuntimeError("FLUX transformer has no linear site '" + key + "'");
}

at::Tensor FluxTransformer::mlp_embed(const LinearSite* in, const LinearSite* out, const at::Tensor& x) const {
  return out->forward(at::silu(in->forward(x)));
}

at::Tensor FluxTransformer::forward(const FluxInputs& in, std::map<std::string, at::Tensor>* inter) const {
  auto record = [&](const std::string& name, const at::Tensor& t) {
    if (inter) (*inter)[name] = t;
  };
  auto require = [&](const at::Tensor& t, const char* name, std::vector<int64_t> shape) {
    // shape: -1 = any size.
    bool ok = t.defined() && t.dim() == static_cast<int64_t>(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || t.size(static_cast<int64_t>(i)) == shape[i];
    if (ok) return;
    std::string want = "[";
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
    throw RuntimeError(std::string("FLUX input '") + name + "' " +
                       (t.defined() ? "has shape " + shape_str(t) : std::string("is missing")) + ", expected " +
                       want + "]");
  };
  require(in.img, "img", {-1, -1, p_.in_channels});
  const int64_t B = in.img.size(0), H = p_.hidden_size, heads = p_.num_heads, D = p_.head_dim();
  require(in.txt, "txt", {B, -1, p_.context_in_dim});
  require(in.y, "y", {B, p_.vec_in_dim});
  require(in.timesteps, "timesteps", {B});
  if (p_.guidance_embed) require(in.guidance, "guidance", {B});
  const int64_t L_img = in.img.size(1), L_txt = in.txt.size(1);
  // Empty batches or sequences would reach attention and LayerNorm with zero-sized dims and fail
  // deep inside ATen; say which input is empty instead.
  if (B < 1 || L_img < 1 || L_txt < 1)
    throw RuntimeError("FLUX inputs 'img' " + shape_str(in.img) + " and 'txt' " + shape_str(in.txt) +
                       " must each have at least one sample and one token");
  for (auto [ids, name, L] : {std::tuple<const at::Tensor*, const char*, int64_t>{&in.img_ids, "img_ids", L_img},
                              {&in.txt_ids, "txt_ids", L_txt}}) {
    if (ids->defined() && ids->dim() == 3) require(*ids, name, {B, L, 3});
    else require(*ids, name, {L, 3});
  }

  const at::Tensor img = in.img.to(device_, dtype_), txt = in.txt.to(device_, dtype_);
  at::Tensor x = img_in_->forward(img);
  record("x_embedder", x);

  // Conditioning vector: time (+ guidance) + pooled text, each through its MLP embedder.
  const at::Tensor t = in.timesteps.to(device_, dtype_) * 1000;
  at::Tensor vec = mlp_embed(time_in_, time_out_, timestep_embedding(t, kTimeEmbedDim).to(dtype_));
  if (p_.guidance_embed) {
    const at::Tensor g = in.guidance.to(device_, dtype_) * 1000;
    vec = vec + mlp_embed(guidance_in_, guidance_out_, timestep_embedding(g, kTimeEmbedDim).to(dtype_));
  }
  vec = vec + mlp_embed(vector_in_, vector_out_, in.y.to(device_, dtype_));
  record("temb", vec);
  at::Tensor c = txt_in_->forward(txt);
  record("context_embedder", c);

  // RoPE over the joint sequence, text first.
  at::Tensor ids;
  if (in.img_ids.dim() == 2 && in.txt_ids.dim() == 2) {
    ids = at::cat({in.txt_ids.to(at::kFloat), in.img_ids.to(at::kFloat)}, 0);
  } else {
    auto batched = [&](const at::Tensor& t3) { return t3.dim() == 3 ? t3 : t3.unsqueeze(0).expand({B, -1, -1}); };
    ids = at::cat({batched(in.txt_ids).to(at::kFloat), batched(in.img_ids).to(at::kFloat)}, 1);
  }
  const std::pair<at::Tensor, at::Tensor> rope = rope_tables(ids.to(device_), p_.axes_dim, p_.theta);
  const at::Tensor &rope_cos = rope.first, &rope_sin = rope.second;
  record("rope.0", rope_cos);
  record("rope.1", rope_sin);

  const at::Tensor silu_vec = at::silu(vec);
  for (size_t i = 0; i < double_.size(); ++i) {
    const DoubleBlock& blk = *double_[i];
    const std::vector<at::Tensor> mi = blk.img.mod->forward(silu_vec).chunk(6, 1);
    const std::vector<at::Tensor> mt = blk.txt.mod->forward(silu_vec).chunk(6, 1);
    // chunks: shift1, scale1, gate1, shift2, scale2, gate2
    const at::Tensor qkv_i = blk.img.qkv->forward(modulate(layer_norm(x), mi[0], mi[1]));
    const at::Tensor qkv_t = blk.txt.qkv->forward(modulate(layer_norm(c), mt[0], mt[1]));
    auto qk = [&](const at::Tensor& qkv, const Stream& s, int part) {
      const at::Tensor h = head_split(qkv, part * H, heads, D);
      return part == 2 ? h : rms_norm(h, part == 0 ? s.q_scale : s.k_scale);
    };
    const at::Tensor q = at::cat({qk(qkv_t, blk.txt, 0), qk(qkv_i, blk.img, 0)}, 1);
    const at::Tensor k = at::cat({qk(qkv_t, blk.txt, 1), qk(qkv_i, blk.img, 1)}, 1);
    const at::Tensor v = at::cat({qk(qkv_t, blk.txt, 2), qk(qkv_i, blk.img, 2)}, 1);
    const at::Tensor a = attention(q, k, v, rope_cos, rope_sin);
    const at::Tensor a_txt = a.narrow(1, 0, L_txt), a_img = a.narrow(1, L_txt, L_img);

    x = x + mi[2].unsqueeze(1) * blk.img.proj->forward(a_img);
    x = x + mi[5].unsqueeze(1) *
                blk.img.down->forward(at::gelu(blk.img.up->forward(modulate(layer_norm(x), mi[3], mi[4])), "tanh"));
    c = c + mt[2].unsqueeze(1) * blk.txt.proj->forward(a_txt);
    c = c + mt[5].unsqueeze(1) *
                blk.txt.down->forward(at::gelu(blk.txt.up->forward(modulate(layer_norm(c), mt[3], mt[4])), "tanh"));
    record("double." + std::to_string(i) + ".0", c);
    record("double." + std::to_string(i) + ".1", x);
  }

  at::Tensor h = at::cat({c, x}, 1);
  for (size_t j = 0; j < single_.size(); ++j) {
    const SingleBlock& blk = *single_[j];
    const std::vector<at::Tensor> m = blk.mod->forward(silu_vec).chunk(3, 1);  // shift, scale, gate
    const at::Tensor l1 = blk.linear1->forward(modulate(layer_norm(h), m[0], m[1]));
    const at::Tensor q = rms_norm(head_split(l1, 0, heads, D), blk.q_scale);
    const at::Tensor k = rms_norm(head_split(l1, H, heads, D), blk.k_scale);
    const at::Tensor v = head_split(l1, 2 * H, heads, D);
    const at::Tensor mlp = at::gelu(l1.narrow(-1, 3 * H, p_.mlp_hidden()), "tanh");
    const at::Tensor a = attention(q, k, v, rope_cos, rope_sin);
    h = h + m[2].unsqueeze(1) * blk.linear2->forward(at::cat({a, mlp}, -1));
    record("single." + std::to_string(j) + ".0", h.narrow(1, 0, L_txt));
    record("single." + std::to_string(j) + ".1", h.narrow(1, L_txt, L_img));
  }

  const std::vector<at::Tensor> fm = final_mod_->forward(silu_vec).chunk(2, 1);  // BFL: shift, scale
  const at::Tensor n = modulate(layer_norm(h.narrow(1, L_txt, L_img)), fm[0], fm[1]);
  record("norm_out", n);
  return final_linear_->forward(n);
}

std::unique_ptr<FluxTransformer> load_flux_transformer(const std::string& checkpoint, at::ScalarType dtype,
                                                       at::Device device, const std::vector<int64_t>& axes_dim) {
  const OpenedCheckpoint ck = open_checkpoint(checkpoint);
  FluxKeyFormat format;
  const FluxParams p = infer_flux_params(*ck.reader, &format, ck.config_json, axes_dim);
  const FluxWeights w = load_flux_weights(*ck.reader, p, format, dtype, device, ck.weights_path);
  return std::make_unique<FluxTransformer>(p, w);
}

}  // namespace pqlab::models
