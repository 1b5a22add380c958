// A channel ordering: a permutation of a linear layer's K input channels (PermuQuant sorts
// channels so each contiguous quantization group holds similar magnitudes).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace pqlab {
namespace config { class ConfigIo; }

/// Per-channel statistics an ordering may use; undefined tensors mean "not collected".
struct ChannelStats {
  at::Tensor act_second_moment;  ///< float64 [K]: E[x_k^2] over calibration tokens
  at::Tensor act_absmax;         ///< float32 [K]
  at::Tensor weight;             ///< [N, K] the layer's weight
};

class Ordering {
 public:
  virtual ~Ordering() = default;
  virtual void map_config(config::ConfigIo& io) = 0;
  virtual std::string describe() const = 0;
  /// Returns int64 [K]: new channel j takes old channel perm[j].
  virtual at::Tensor permutation(const ChannelStats& stats) const = 0;
};

}  // namespace pqlab
