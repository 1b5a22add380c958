// Precomputed FLUX.1 text conditioning: T5-XXL token embeddings and CLIP-L pooled embeddings of
// a list of prompts (models.md 2.1), stored in one safetensors file so that pqlab never runs the
// text encoders. File layout (written by scripts/make_flux_conditioning.py or
// write_flux_conditioning):
//   txt  [N, L_txt, context_in_dim]  T5 last_hidden_state (L_txt = 512 for dev, 256 for schnell)
//   y    [N, vec_in_dim]             CLIP text model pooler_output
//   __metadata__ "prompts"           JSON list of the N prompt strings
// Tests: tests/models/flux_plugin_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pqlab {
class SafetensorsReader;
}

namespace pqlab::models {

struct FluxParams;

struct FluxConditioning {
  at::Tensor txt;      ///< [N, L_txt, context_in_dim], dtype as stored (or as converted by to())
  at::Tensor txt_ids;  ///< [L_txt, 3] zeros, fp32 (text tokens carry no position)
  at::Tensor y;        ///< [N, vec_in_dim]
  std::vector<std::string> prompts;  ///< N prompts, row i of txt/y encodes prompts[i]

  int64_t size() const { return txt.defined() ? txt.size(0) : 0; }
  /// The rows `index` (each in [0, size())), in that order; txt_ids shared.
  FluxConditioning rows(const std::vector<int64_t>& index) const;
  /// txt and y moved/cast (txt_ids moved only; ids stay fp32).
  FluxConditioning to(at::Device device, at::ScalarType dtype) const;
};

/// Reads a conditioning file and checks it is self-consistent: txt 3-D, y 2-D, the same N >= 1,
/// floating dtypes, and a "prompts" metadata entry that is a JSON list of N strings.
/// Tensors are CPU, as stored. Throws RuntimeError naming the file, the tensor and its shape.
FluxConditioning load_flux_conditioning(const std::string& path);
/// As above from tensors `prefix`txt and `prefix`y of an open file (`path` names it in messages).
/// Checkpoints with built-in conditioning (the Fashion-MNIST model's learned class table) hold it
/// as conditioning.txt / conditioning.y next to the transformer weights, prompts in the metadata.
FluxConditioning load_flux_conditioning(const SafetensorsReader& f, const std::string& path, const std::string& prefix);
/// Checks txt [N, *, p.context_in_dim] and y [N, p.vec_in_dim]; returns c. RuntimeError naming path.
FluxConditioning check_flux_conditioning(FluxConditioning c, const std::string& path, const FluxParams& p);
/// Name prefix of the built-in conditioning tensors inside a checkpoint.
inline constexpr const char* kBuiltinConditioningPrefix = "conditioning.";
/// As load_flux_conditioning(path), and checks txt [N, *, p.context_in_dim] and y [N, p.vec_in_dim] against the model.
FluxConditioning load_flux_conditioning(const std::string& path, const FluxParams& p);

/// The prompts as a JSON list of strings (the "prompts" metadata format).
std::string flux_prompts_json(const std::vector<std::string>& prompts);

/// Writes txt [N, L, C], y [N, V] and the prompts (the layout above), plus `metadata`.
/// Throws UsageError when the shapes or the prompt count disagree.
void write_flux_conditioning(const std::string& path, const at::Tensor& txt, const at::Tensor& y,
                             const std::vector<std::string>& prompts,
                             const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace pqlab::models
