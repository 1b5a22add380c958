// Folding a transform of a permutation site's channels into the layers that produce them, so
// that it costs nothing at inference (methods.md 3.3, 4.1): per-channel divisors (SmoothQuant)
// into a modulation's shift and scale rows or a linear producer's rows, and a per-head rotation
// (QuaRot's V/O rotation) into the value rows of the attention. The consumers' weights take the
// inverse, so in full precision the model computes the same up to round-off; the consumers'
// SiteState::input_map and the producers' output_map record the change for the runner's
// like-with-like layer errors. Tests: tests/framework/quant/producer_fold_test.cpp
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "framework/interfaces/permutation_site.h"

namespace pqlab {

class LinearSite;

/// Whether x -> x / s on the consumers' K input channels can be folded into the producers:
/// every channel is written by blocks whose algebra is linear or modulation (shift and scale
/// must both cover a channel written by modulation), and no block is elementwise.
bool scales_foldable(const PermutationSite& site, int64_t k);

/// Folds x -> x / s (s: [K], positive): producer rows of linear and shift blocks and their
/// biases / s; scale blocks' rows / s and biases (1 + b) / s - 1 (h / s = n (1 + a') + c' with
/// a' = (1 + a) / s - 1, c' = c / s); consumers' weights W s. UsageError unless scales_foldable.
/// sites: every linear site by key.
void fold_scales(const PermutationSite& site, const at::Tensor& s, const std::map<std::string, LinearSite*>& sites);

/// The head size when `site` can take a per-head rotation of its value channels: one block,
/// linear, covering all K consumer columns, in groups (heads) of a power-of-two size; else 0.
int64_t head_rotation_size(const PermutationSite& site, int64_t k);

/// Folds v -> v R per head (R = H_g / sqrt(g), Sylvester, g = head_rotation_size) into the
/// producers' value rows and biases; attention mixes tokens only, so the consumers' input becomes
/// x (I (x) R), folded into their weights. UsageError when the site cannot take it.
void fold_head_rotation(const PermutationSite& site, const std::map<std::string, LinearSite*>& sites);

}  // namespace pqlab
