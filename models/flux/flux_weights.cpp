// FLUX weight loading and the diffusers -> BFL key map; see flux_weights.h.
#include "models/flux/flux_weights.h"

#include <ATen/ATen.h>

#include <set>
#include <sstream>

#include "framework/core/text.h"
#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/io/safetensors.h"
#include "models/flux/flux_conditioning.h"

namespace pqlab::models {
namespace {

using Shape = std::vector<int64_t>;

/// One BFL tensor and the checkpoint tensors it is made of (row blocks, concatenated in order).
struct Recipe {
  std::string name;  // BFL
  Shape shape;
  std::vector<std::pair<std::string, Shape>> parts;  // checkpoint names (no prefix) and shapes
  bool swap_halves = false;                          // diffusers norm_out: [scale; shift]
};

// Builds the recipes for `format`. Shapes per models.md 1.11; names per 1.12.
std::vector<Recipe> recipes(const FluxParams& p, FluxKeyFormat format) {
  const bool bfl = format == FluxKeyFormat::bfl;
  const int64_t H = p.hidden_size, M = p.mlp_hidden(), D = p.head_dim();
  std::vector<Recipe> out;
  // A BFL tensor copied from one checkpoint tensor `src` (same name in BFL format).
  auto one = [&](const std::string& name, const std::string& src, const Shape& shape) {
    out.push_back({name, shape, {{bfl ? name : src, shape}}, false});
  };
  // Linear weight [o, i] and bias [o] under stems `b` (BFL) / `d` (diffusers).
  auto linear = [&](const std::string& b, const std::string& d, int64_t o, int64_t i, bool bias = true) {
    one(b + ".weight", d + ".weight", {o, i});
    if (bias) one(b + ".bias", d + ".bias", {o});
  };
  // Linear whose rows are split across several diffusers linears of `rows` output rows each.
  auto fused = [&](const std::string& b, const std::vector<std::pair<std::string, int64_t>>& d, int64_t in,
                   bool bias) {
    int64_t rows = 0;
    for (const auto& part : d) rows += part.second;
    for (const char* kind : {"weight", "bias"}) {
      const bool w = kind[0] == 'w';
      if (!w && !bias) continue;
      Recipe r{b + "." + kind, w ? Shape{rows, in} : Shape{rows}, {}, false};
      if (bfl) {
        r.parts.push_back({r.name, r.shape});
      } else {
        for (const auto& [stem, n] : d) r.parts.push_back({stem + "." + kind, w ? Shape{n, in} : Shape{n}});
      }
      out.push_back(r);
    }
  };
  auto mlp_embedder = [&](const std::string& b, const std::string& d, int64_t in) {
    linear(b + ".in_layer", d + ".linear_1", H, in);
    linear(b + ".out_layer", d + ".linear_2", H, H);
  };

  linear("img_in", "x_embedder", H, p.in_channels);
  linear("txt_in", "context_embedder", H, p.context_in_dim);
  mlp_embedder("time_in", "time_text_embed.timestep_embedder", 256);
  mlp_embedder("vector_in", "time_text_embed.text_embedder", p.vec_in_dim);
  if (p.guidance_embed) mlp_embedder("guidance_in", "time_text_embed.guidance_embedder", 256);

  for (int64_t i = 0; i < p.depth; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".";
    const std::string d = "transformer_blocks." + std::to_string(i) + ".";
    for (const bool img : {true, false}) {
      const std::string s = b + (img ? "img" : "txt");
      linear(s + "_mod.lin", d + (img ? "norm1.linear" : "norm1_context.linear"), 6 * H, H);
      if (img)
        fused(s + "_attn.qkv", {{d + "attn.to_q", H}, {d + "attn.to_k", H}, {d + "attn.to_v", H}}, H, p.qkv_bias);
      else
        fused(s + "_attn.qkv", {{d + "attn.add_q_proj", H}, {d + "attn.add_k_proj", H}, {d + "attn.add_v_proj", H}},
              H, p.qkv_bias);
      one(s + "_attn.norm.query_norm.scale", d + (img ? "attn.norm_q.weight" : "attn.norm_added_q.weight"), {D});
      one(s + "_attn.norm.key_norm.scale", d + (img ? "attn.norm_k.weight" : "attn.norm_added_k.weight"), {D});
      linear(s + "_attn.proj", d + (img ? "attn.to_out.0" : "attn.to_add_out"), H, H);
      linear(s + "_mlp.0", d + (img ? "ff.net.0.proj" : "ff_context.net.0.proj"), M, H);
      linear(s + "_mlp.2", d + (img ? "ff.net.2" : "ff_context.net.2"), H, M);
    }
  }
  for (int64_t j = 0; j < p.depth_single_blocks; ++j) {
    const std::string b = "single_blocks." + std::to_string(j) + ".";
    const std::string d = "single_transformer_blocks." + std::to_string(j) + ".";
    fused(b + "linear1", {{d + "attn.to_q", H}, {d + "attn.to_k", H}, {d + "attn.to_v", H}, {d + "proj_mlp", M}}, H,
          true);
    linear(b + "linear2", d + "proj_out", H, H + M);
    one(b + "norm.query_norm.scale", d + "attn.norm_q.weight", {D});
    one(b + "norm.key_norm.scale", d + "attn.norm_k.weight", {D});
    linear(b + "modulation.lin", d + "norm.linear", 3 * H, H);
  }
  linear("final_layer.linear", "proj_out", p.out_channels, H);
  linear("final_layer.adaLN_modulation.1", "norm_out.linear", 2 * H, H);
  if (!bfl) {
    out[out.size() - 1].swap_halves = true;
    out[out.size() - 2].swap_halves = true;
  }
  return out;
}

}  // namespace

const at::Tensor& FluxWeights::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw RuntimeError("FLUX weights: no tensor '" + name + "'");
  return it->second;
}

std::vector<std::pair<std::string, Shape>> flux_tensor_shapes(const FluxParams& p) {
  std::vector<std::pair<std::string, Shape>> v;
  for (const Recipe& r : recipes(p, FluxKeyFormat::bfl)) v.emplace_back(r.name, r.shape);
  return v;
}

FluxWeights load_flux_weights(const SafetensorsReader& r, const FluxParams& p, FluxKeyFormat format,
                              at::ScalarType dtype, at::Device device, const std::string& source) {
  const std::string pre = flux_key_prefix(r);
  const std::vector<Recipe> plan = recipes(p, format);

  // Validate everything first, so one error lists every problem.
  std::vector<std::string> problems;
  std::set<std::string> expected;
  for (const Recipe& rc : plan) {
    for (const auto& [name, shape] : rc.parts) {
      expected.insert(pre + name);
      if (!r.contains(pre + name)) {
        problems.push_back("missing tensor '" + pre + name + "' (expected shape " + shape_str(shape) + ")");
        continue;
      }
      const SafetensorsReader::TensorInfo info = r.info(pre + name);
      if (info.shape != shape)
        problems.push_back("tensor '" + pre + name + "' has shape " + shape_str(info.shape) + ", expected " +
                           shape_str(shape));
      if (!at::isFloatingType(info.scalar_type) || info.dtype.rfind("F8_", 0) == 0)
        problems.push_back("tensor '" + pre + name + "' has dtype " + info.dtype + ", expected F32, F16 or BF16");
    }
  }
  for (const std::string& name : r.names()) {
    // Built-in conditioning (flux_conditioning.h) rides along in the same file.
    if (name.rfind(pre + kBuiltinConditioningPrefix, 0) == 0) continue;
    if (!expected.count(name))
      problems.push_back("unexpected tensor '" + excerpt(name) + "' (shape " + shape_str(r.info(name).shape) + ")");
  }
  if (!problems.empty()) {
    std::ostringstream msg;
    msg << "FLUX checkpoint '" << source << "' (" << to_string(format) << " key names) does not match the model "
        << "inferred from it (" << p.describe() << "): " << problems.size() << " problem"
        << (problems.size() == 1 ? "" : "s");
    constexpr size_t kShown = 60;
    for (size_t i = 0; i < problems.size() && i < kShown; ++i) msg << "\n  " << problems[i];
    if (problems.size() > kShown) msg << "\n  ... and " << problems.size() - kShown << " more";
    throw RuntimeError(msg.str());
  }

  FluxWeights w;
  w.source_format = format;
  for (const Recipe& rc : plan) {
    std::vector<at::Tensor> parts;
    for (const auto& part : rc.parts) parts.push_back(r.get(pre + part.first));
    at::Tensor t = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
    if (rc.swap_halves) {
      const int64_t half = t.size(0) / 2;
      t = at::cat({t.narrow(0, half, half), t.narrow(0, 0, half)}, 0);
    }
    w.tensors[rc.name] = t.to(device, dtype).contiguous();
  }
  return w;
}

}  // namespace pqlab::models
