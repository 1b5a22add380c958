// FluxParams inference from tensor shapes and config.json cross-checks; see flux_params.h.
#include "models/flux/flux_params.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/io/json_limits.h"
#include "framework/io/safetensors.h"

namespace pqlab::models {
namespace {

using nlohmann::json;

constexpr const char* kComfyPrefix = "model.diffusion_model.";

std::string join_dims(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return "(" + s + ")";
}

// Shape of prefix+name, or empty when absent.
std::vector<int64_t> shape_of(const SafetensorsReader& r, const std::string& prefix, const std::string& name) {
  return r.contains(prefix + name) ? r.info(prefix + name).shape : std::vector<int64_t>{};
}

// Dimension `dim` of a tensor the inference cannot do without; `what` names the model size it
// gives. Zero is refused here, naming the tensor, so no later check blames a derived quantity.
int64_t required_dim(const SafetensorsReader& r, const std::string& prefix, const std::string& name, size_t dim,
                     const char* what) {
  const std::vector<int64_t> s = shape_of(r, prefix, name);
  if (s.size() <= dim)
    throw RuntimeError("FLUX checkpoint: tensor '" + prefix + name + "' is " +
                       (s.empty() ? std::string("missing") : "of shape " + join_dims(s)) +
                       "; it is needed to infer the model size");
  if (s[dim] <= 0)
    throw RuntimeError("FLUX checkpoint: tensor '" + prefix + name + "' has shape " + join_dims(s) + ", so the " +
                       what + " (its dimension " + std::to_string(dim) + ") would be " + std::to_string(s[dim]) +
                       "; it must be positive");
  return s[dim];
}

// Number of blocks = 1 + the largest N among keys "<prefix><stem>.N.*" (gaps show up later as
// missing tensors, with names).
int64_t count_blocks(const SafetensorsReader& r, const std::string& prefix, const std::string& stem) {
  const std::string head = prefix + stem + ".";
  int64_t n = 0;
  for (const std::string& name : r.names()) {
    if (name.compare(0, head.size(), head) != 0) continue;
    const size_t dot = name.find('.', head.size());
    const std::string idx = name.substr(head.size(), dot == std::string::npos ? std::string::npos : dot - head.size());
    if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos || idx.size() > 6) continue;
    n = std::max<int64_t>(n, std::stoll(idx) + 1);
  }
  return n;
}

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  // Before parsing: copies and dumps of a deeply nested value would overflow the stack.
  const std::string too_deep = json_depth_error(text.str());
  if (!too_deep.empty()) throw UsageError("config file '" + path + "' is not usable JSON: " + too_deep);
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw UsageError("config file '" + path + "' is not valid JSON: " + excerpt(e.what()));
  }
}

// A config value quoted in a message, in bounded length.
std::string quote(const json& v) { return excerpt(v.dump(-1, ' ', false, json::error_handler_t::replace)); }

// The diffusers and BFL sections of a config.json (either may be null).
struct ConfigSections {
  json diffusers, bfl;
};

ConfigSections sections_of(const json& j, const std::string& path) {
  if (!j.is_object()) throw UsageError("config file '" + path + "' is not a JSON object");
  ConfigSections s;
  if (j.contains("diffusers") || j.contains("bfl")) {
    if (j.contains("diffusers")) s.diffusers = j["diffusers"];
    if (j.contains("bfl")) s.bfl = j["bfl"];
  } else if (j.contains("axes_dims_rope") || j.contains("num_layers") || j.contains("_class_name")) {
    s.diffusers = j;
  } else {
    s.bfl = j;
  }
  return s;
}

std::vector<int64_t> int_list(const json& v, const std::string& what) {
  std::vector<int64_t> out;
  if (!v.is_array()) throw UsageError(what + " must be a list of integers, got " + quote(v));
  for (const json& x : v) {
    if (!x.is_number_integer()) throw UsageError(what + " must be a list of integers, got " + quote(v));
    out.push_back(x.get<int64_t>());
  }
  return out;
}

}  // namespace

const char* to_string(FluxKeyFormat f) { return f == FluxKeyFormat::bfl ? "bfl" : "diffusers"; }

std::string FluxParams::describe() const {
  std::ostringstream s;
  s << "hidden " << hidden_size << " = " << num_heads << " x " << head_dim() << ", " << depth << " double + "
    << depth_single_blocks << " single blocks, mlp_ratio " << mlp_ratio << ", in " << in_channels << ", out "
    << out_channels << ", context " << context_in_dim << ", vec " << vec_in_dim << ", axes_dim "
    << join_dims(axes_dim) << ", theta " << theta << ", qkv_bias " << (qkv_bias ? "on" : "off")
    << ", guidance_embed " << (guidance_embed ? "on" : "off");
  return s.str();
}

std::string flux_key_prefix(const SafetensorsReader& r) {
  for (const char* probe : {"img_in.weight", "x_embedder.weight"}) {
    if (r.contains(probe)) return "";
    if (r.contains(std::string(kComfyPrefix) + probe)) return kComfyPrefix;
  }
  return "";
}

FluxParams infer_flux_params(const SafetensorsReader& r, FluxKeyFormat* format_out, const std::string& config_json,
                             const std::vector<int64_t>& axes_dim) {
  const std::string pre = flux_key_prefix(r);
  FluxKeyFormat format;
  if (r.contains(pre + "img_in.weight")) {
    format = FluxKeyFormat::bfl;
  } else if (r.contains(pre + "x_embedder.weight")) {
    format = FluxKeyFormat::diffusers;
  } else {
    throw RuntimeError(
        "not a FLUX transformer checkpoint: it has neither 'img_in.weight' (BFL names) nor 'x_embedder.weight' "
        "(diffusers names)");
  }
  const bool bfl = format == FluxKeyFormat::bfl;
  if (format_out) *format_out = format;

  FluxParams p;
  const char* img_in = bfl ? "img_in.weight" : "x_embedder.weight";
  p.hidden_size = required_dim(r, pre, img_in, 0, "hidden size");
  p.in_channels = required_dim(r, pre, img_in, 1, "input channel count");
  p.out_channels = required_dim(r, pre, bfl ? "final_layer.linear.weight" : "proj_out.weight", 0, "output channel count");
  p.context_in_dim = required_dim(r, pre, bfl ? "txt_in.weight" : "context_embedder.weight", 1, "text embedding size");
  p.vec_in_dim = required_dim(r, pre, bfl ? "vector_in.in_layer.weight" : "time_text_embed.text_embedder.linear_1.weight",
                              1, "pooled text embedding size");
  p.depth = count_blocks(r, pre, bfl ? "double_blocks" : "transformer_blocks");
  p.depth_single_blocks = count_blocks(r, pre, bfl ? "single_blocks" : "single_transformer_blocks");
  p.guidance_embed =
      r.contains(pre + (bfl ? "guidance_in.in_layer.weight" : "time_text_embed.guidance_embedder.linear_1.weight"));

  // head_dim = size of the QK-norm scale; mlp hidden from the first block that has it.
  int64_t head_dim = 0, mlp_hidden = 0;
  std::string head_key, mlp_key;  // the tensors they come from, for messages
  if (p.depth > 0) {
    head_key = bfl ? "double_blocks.0.img_attn.norm.query_norm.scale" : "transformer_blocks.0.attn.norm_q.weight";
    mlp_key = bfl ? "double_blocks.0.img_mlp.0.weight" : "transformer_blocks.0.ff.net.0.proj.weight";
    head_dim = required_dim(r, pre, head_key, 0, "head dimension");
    mlp_hidden = required_dim(r, pre, mlp_key, 0, "MLP hidden size");
    p.qkv_bias = r.contains(pre + (bfl ? "double_blocks.0.img_attn.qkv.bias" : "transformer_blocks.0.attn.to_q.bias"));
  } else if (p.depth_single_blocks > 0) {
    head_key = bfl ? "single_blocks.0.norm.query_norm.scale" : "single_transformer_blocks.0.attn.norm_q.weight";
    mlp_key = bfl ? "single_blocks.0.linear1.weight" : "single_transformer_blocks.0.proj_mlp.weight";
    head_dim = required_dim(r, pre, head_key, 0, "head dimension");
    if (bfl) {
      // linear1 stacks q, k, v (hidden_size rows each) and the MLP input: rows = 3 H + M.
      const int64_t rows = required_dim(r, pre, mlp_key, 0, "fused qkv + MLP row count");
      mlp_hidden = rows - 3 * p.hidden_size;
      if (mlp_hidden <= 0)
        throw RuntimeError("FLUX checkpoint: tensor '" + pre + mlp_key + "' has shape " +
                           join_dims(shape_of(r, pre, mlp_key)) + ": its " + std::to_string(rows) +
                           " rows leave no MLP rows after q, k and v (3 x hidden size " +
                           std::to_string(p.hidden_size) + " from '" + pre + img_in + "')");
    } else {
      mlp_hidden = required_dim(r, pre, mlp_key, 0, "MLP hidden size");
    }
  } else {
    throw RuntimeError("FLUX checkpoint has no transformer blocks (neither double- nor single-stream)");
  }
  if (p.hidden_size % head_dim != 0)
    throw RuntimeError("FLUX checkpoint: hidden size " + std::to_string(p.hidden_size) + " (tensor '" + pre + img_in +
                       "' of shape " + join_dims(shape_of(r, pre, img_in)) +
                       ") is not a multiple of the head dimension " + std::to_string(head_dim) + " (tensor '" + pre +
                       head_key + "' of shape " + join_dims(shape_of(r, pre, head_key)) + ")");
  p.num_heads = p.hidden_size / head_dim;
  p.mlp_ratio = static_cast<double>(mlp_hidden) / static_cast<double>(p.hidden_size);
  if (p.mlp_hidden() != mlp_hidden)
    throw RuntimeError("FLUX checkpoint: MLP hidden size " + std::to_string(mlp_hidden) + " (tensor '" + pre + mlp_key +
                       "') is not representable as hidden_size * mlp_ratio");

  if (!axes_dim.empty()) {
    p.axes_dim = axes_dim;
  } else if (!config_json.empty() && !axes_dim_from_config_json(config_json).empty()) {
    p.axes_dim = axes_dim_from_config_json(config_json);
  } else if (head_dim == 128) {
    p.axes_dim = {16, 56, 56};
  } else {
    throw UsageError("FLUX checkpoint has head_dim " + std::to_string(head_dim) +
                     " (FLUX.1 has 128), so the RoPE axes_dim cannot be assumed: give a config.json with "
                     "'axes_dims_rope' (diffusers) or 'axes_dim' (BFL) next to the weights, or axes_dim explicitly; "
                     "its entries must be even and sum to " + std::to_string(head_dim));
  }
  int64_t sum = 0;
  for (int64_t d : p.axes_dim) {
    if (d <= 0 || d % 2 != 0) throw UsageError("axes_dim " + join_dims(p.axes_dim) + ": every entry must be even and positive");
    sum += d;
  }
  if (sum != head_dim)
    throw UsageError("axes_dim " + join_dims(p.axes_dim) + " sums to " + std::to_string(sum) +
                     " but the checkpoint's head_dim is " + std::to_string(head_dim));
  if (!config_json.empty()) {
    const ConfigSections s = sections_of(read_json(config_json), config_json);
    if (s.bfl.is_object() && s.bfl.contains("theta") && s.bfl["theta"].is_number()) p.theta = s.bfl["theta"].get<double>();
    check_against_config_json(p, config_json);
  }
  return p;
}

std::vector<int64_t> axes_dim_from_config_json(const std::string& config_json) {
  const ConfigSections s = sections_of(read_json(config_json), config_json);
  if (s.bfl.is_object() && s.bfl.contains("axes_dim")) return int_list(s.bfl["axes_dim"], config_json + ": axes_dim");
  if (s.diffusers.is_object() && s.diffusers.contains("axes_dims_rope"))
    return int_list(s.diffusers["axes_dims_rope"], config_json + ": axes_dims_rope");
  return {};
}

void check_against_config_json(const FluxParams& p, const std::string& config_json) {
  const ConfigSections s = sections_of(read_json(config_json), config_json);
  std::vector<std::string> bad;
  auto check = [&](const json& sec, const char* section, const char* key, const json& want) {
    if (!sec.is_object() || !sec.contains(key)) return;
    json got = sec[key];
    if (got.is_null() && std::string(key) == "out_channels") return;  // diffusers: null = in_channels
    const bool equal = (got.is_number() && want.is_number()) ? got.get<double>() == want.get<double>() : got == want;
    if (!equal)
      bad.push_back(std::string(section) + key + " is " + quote(got) + " but the weights give " + quote(want));
  };
  const json& d = s.diffusers;
  check(d, "", "patch_size", 1);
  check(d, "", "in_channels", p.in_channels);
  check(d, "", "out_channels", p.out_channels);
  check(d, "", "num_layers", p.depth);
  check(d, "", "num_single_layers", p.depth_single_blocks);
  check(d, "", "attention_head_dim", p.head_dim());
  check(d, "", "num_attention_heads", p.num_heads);
  check(d, "", "joint_attention_dim", p.context_in_dim);
  check(d, "", "pooled_projection_dim", p.vec_in_dim);
  check(d, "", "guidance_embeds", p.guidance_embed);
  check(d, "", "axes_dims_rope", p.axes_dim);
  const json& b = s.bfl;
  const char* bs = s.diffusers.is_object() ? "bfl." : "";
  check(b, bs, "in_channels", p.in_channels);
  check(b, bs, "out_channels", p.out_channels);
  check(b, bs, "vec_in_dim", p.vec_in_dim);
  check(b, bs, "context_in_dim", p.context_in_dim);
  check(b, bs, "hidden_size", p.hidden_size);
  check(b, bs, "mlp_ratio", p.mlp_ratio);
  check(b, bs, "num_heads", p.num_heads);
  check(b, bs, "depth", p.depth);
  check(b, bs, "depth_single_blocks", p.depth_single_blocks);
  check(b, bs, "axes_dim", p.axes_dim);
  check(b, bs, "theta", p.theta);
  check(b, bs, "qkv_bias", p.qkv_bias);
  check(b, bs, "guidance_embed", p.guidance_embed);
  if (s.diffusers.is_object() && b.is_object()) {
    // Prefix the diffusers messages too, so the two sections are told apart.
    for (std::string& m : bad)
      if (m.compare(0, 4, "bfl.") != 0) m = "diffusers." + m;
  }
  if (bad.empty()) return;
  std::string msg = "config file '" + config_json + "' disagrees with the checkpoint's tensors:";
  for (const std::string& m : bad) msg += "\n  " + m;
  throw RuntimeError(msg);
}

}  // namespace pqlab::models
