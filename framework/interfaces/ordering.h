// A channel ordering: a permutation of a linear layer's K input channels (PermuQuant sorts
// channels so each contiguous quantization group holds channels of similar magnitude). Orderings
// see per-channel statistics only; where the permutation may act (the site's blocks, per head)
// comes with them as segments, so every ordering respects the same constraints.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "framework/interfaces/permutation_site.h"

namespace pqlab {
namespace config { class ConfigIo; }

/// Per-channel statistics of one permutation site; undefined tensors mean "not collected".
struct ChannelStats {
  int64_t k = 0;                    ///< channels
  at::Tensor act_second_moment;     ///< float64 [K]: E[x_k^2] over the calibration tokens at the consumers' input
  at::Tensor act_absmax;            ///< float64 [K]: max |x_k|
  at::Tensor weight_second_moment;  ///< float64 [K]: mean over the output rows of every consumer of W[:, k]^2
  at::Tensor weight_absmax;         ///< float64 [K]: max over those rows of |W[:, k]|
  /// Where the permutation may reorder (framework/quant/permutation.h, permutation_segments);
  /// empty = all of [0, K).
  std::vector<ChannelSegment> segments;
  uint64_t seed = 0;                ///< per-site seed, for orderings that draw
};

class Ordering {
 public:
  virtual ~Ordering() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// Returns int64 [K] on the CPU: new channel j takes old channel perm[j]; it maps every segment
  /// onto itself and leaves other channels in place. RuntimeError naming the statistic when one
  /// it needs is missing.
  virtual at::Tensor permutation(const ChannelStats& stats) const = 0;
  /// Whether permutation() reads the calibration statistics (false: k, segments and seed suffice).
  virtual bool needs_statistics() const { return true; }
  /// Whether every permutation it returns is the identity (the method then permutes nothing).
  virtual bool is_identity() const { return false; }
};

}  // namespace pqlab
