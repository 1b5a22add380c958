// FLUX text conditioning files; see flux_conditioning.h.
#include "models/flux/flux_conditioning.h"

#include <ATen/ATen.h>

#include <map>
#include <nlohmann/json.hpp>

#include "framework/core/text.h"
#include "framework/core/error.h"
#include "framework/core/excerpt.h"
#include "framework/io/json_limits.h"
#include "framework/io/safetensors.h"
#include "models/flux/flux_params.h"

namespace pqlab::models {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw RuntimeError("FLUX conditioning file '" + path + "': " + what);
}

}  // namespace

FluxConditioning FluxConditioning::rows(const std::vector<int64_t>& index) const {
  const int64_t n = size();
  for (int64_t i : index)
    if (i < 0 || i >= n)
      throw RuntimeError("FLUX conditioning has " + std::to_string(n) + " prompts; row " + std::to_string(i) +
                         " does not exist");
  const at::Tensor idx = at::tensor(index, at::TensorOptions().dtype(at::kLong)).to(txt.device());
  FluxConditioning c;
  c.txt = txt.index_select(0, idx);
  c.y = y.index_select(0, idx.to(y.device()));
  c.txt_ids = txt_ids;
  for (int64_t i : index) c.prompts.push_back(prompts[static_cast<size_t>(i)]);
  return c;
}

FluxConditioning FluxConditioning::to(at::Device device, at::ScalarType dtype) const {
  FluxConditioning c = *this;
  c.txt = txt.to(device, dtype);
  c.y = y.to(device, dtype);
  c.txt_ids = txt_ids.to(device);
  return c;
}

FluxConditioning load_flux_conditioning(const std::string& path) {
  SafetensorsFile f(path);
  return load_flux_conditioning(f, path, "");
}

FluxConditioning load_flux_conditioning(const SafetensorsReader& f, const std::string& path, const std::string& prefix) {
  for (const std::string name : {"txt", "y"})
    if (!f.contains(prefix + name))
      fail(path, "has no tensor '" + prefix + name + "' (expected " + prefix + "txt [N, L, context_dim] and " + prefix +
                     "y [N, vec_dim])");
  FluxConditioning c;
  c.txt = f.get(prefix + "txt");
  c.y = f.get(prefix + "y");
  if (c.txt.dim() != 3) fail(path, "tensor 'txt' has shape " + shape_str(c.txt) + ", expected [N, L, context_dim]");
  if (c.y.dim() != 2) fail(path, "tensor 'y' has shape " + shape_str(c.y) + ", expected [N, vec_dim]");
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"txt", &c.txt}, {"y", &c.y}})
    if (!at::isFloatingType(t->scalar_type()))
      fail(path, "tensor '" + prefix + name + "' has a non-floating dtype " + f.info(prefix + name).dtype);
  const int64_t n = c.txt.size(0);
  if (n < 1 || c.txt.size(1) < 1) fail(path, "tensor 'txt' has shape " + shape_str(c.txt) + ": no prompts or no tokens");
  if (c.y.size(0) != n)
    fail(path, "tensor 'y' has shape " + shape_str(c.y) + " but 'txt' has shape " + shape_str(c.txt) +
                   " (the first dimension, the prompt count, must agree)");

  const auto& meta = f.metadata();
  const auto it = meta.find("prompts");
  if (it == meta.end()) fail(path, "has no metadata entry 'prompts' (a JSON list of the " + std::to_string(n) + " prompts)");
  // Before parsing: copies and dumps of a deeply nested value would overflow the stack.
  const std::string too_deep = json_depth_error(it->second);
  if (!too_deep.empty()) fail(path, "metadata 'prompts' is not usable JSON: " + too_deep);
  json j;
  try {
    j = json::parse(it->second);
  } catch (const json::exception& e) {
    fail(path, std::string("metadata 'prompts' is not valid JSON: ") + excerpt(e.what()));
  }
  if (!j.is_array()) fail(path, "metadata 'prompts' must be a JSON list of strings");
  for (const auto& p : j) {
    if (!p.is_string()) fail(path, "metadata 'prompts' must be a JSON list of strings, found " + excerpt(p.dump()));
    c.prompts.push_back(p.get<std::string>());
  }
  if (static_cast<int64_t>(c.prompts.size()) != n)
    fail(path, "metadata 'prompts' lists " + std::to_string(c.prompts.size()) + " prompts but 'txt' has shape " +
                   shape_str(c.txt) + " (" + std::to_string(n) + " prompts)");
  c.txt_ids = at::zeros({c.txt.size(1), 3}, at::TensorOptions().dtype(at::kFloat));
  return c;
}

FluxConditioning load_flux_conditioning(const std::string& path, const FluxParams& p) {
  return check_flux_conditioning(load_flux_conditioning(path), path, p);
}

FluxConditioning check_flux_conditioning(FluxConditioning c, const std::string& path, const FluxParams& p) {
  if (c.txt.size(2) != p.context_in_dim)
    fail(path, "tensor 'txt' has shape " + shape_str(c.txt) + ", expected [N, L, " + std::to_string(p.context_in_dim) +
                   "] (the model's context_in_dim, T5-XXL: 4096)");
  if (c.y.size(1) != p.vec_in_dim)
    fail(path, "tensor 'y' has shape " + shape_str(c.y) + ", expected [N, " + std::to_string(p.vec_in_dim) +
                   "] (the model's vec_in_dim, CLIP-L pooled: 768)");
  return c;
}

std::string flux_prompts_json(const std::vector<std::string>& prompts) { return json(prompts).dump(); }

void write_flux_conditioning(const std::string& path, const at::Tensor& txt, const at::Tensor& y,
                             const std::vector<std::string>& prompts,
                             const std::vector<std::pair<std::string, std::string>>& metadata) {
  if (txt.dim() != 3 || y.dim() != 2 || y.size(0) != txt.size(0) ||
      static_cast<int64_t>(prompts.size()) != txt.size(0))
    throw UsageError("FLUX conditioning to write: txt " + shape_str(txt) + " and y " + shape_str(y) +
                     " must be [N, L, C] and [N, V] with N = " + std::to_string(prompts.size()) + " prompts");
  std::map<std::string, std::string> meta(metadata.begin(), metadata.end());
  meta["prompts"] = flux_prompts_json(prompts);
  write_safetensors(path, {{"txt", txt}, {"y", y}}, meta);
}

}  // namespace pqlab::models
