// Where a channel permutation can be absorbed so that it costs nothing at inference (PermuQuant):
// the quantized consumers read their K input channels in order P, and whatever produces those
// channels writes them in order P instead (the producers' output rows, and biases, permuted
// offline). Adapters declare their sites (ModelAdapter::permutation_sites); the index algebra is
// framework/quant/permutation.h. Tests: tests/framework/quant/permutation_test.cpp and the FLUX
// folding test in tests/models/flux_plugin_test.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pqlab {

/// Consumer columns [consumer_col, consumer_col + size) are written by producer rows
/// [producer_row, producer_row + size), in the same order. P must map the block onto itself,
/// and, with group > 0, each aligned run of `group` channels onto itself (e.g. one attention head).
/// How a block's producer rows make the consumer's channels, for transforms other than
/// permutations that a method may fold into the producer (framework/quant/producer_fold.h).
enum class BlockAlgebra {
  elementwise,       ///< through a nonlinearity (GELU): only permutations pass
  linear,            ///< the channel is linear in its producer row (and bias), also through attention over tokens
  modulation_shift,  ///< the channel adds the row's output: h = n * (1 + scale) + shift
  modulation_scale,  ///< the channel multiplies (1 + the row's output)
};

struct PermutationBlock {
  int64_t producer_row = 0;
  int64_t consumer_col = 0;
  int64_t size = 0;
  int64_t group = 0;
  BlockAlgebra algebra = BlockAlgebra::elementwise;
};

/// Channels [begin, end) that a permutation maps onto themselves (a block, or a group of one).
struct ChannelSegment {
  int64_t begin = 0;
  int64_t end = 0;
};

struct PermutationSite {
  std::string kind;                    ///< the adapter's name for the algebra (flux: norm_mod, attn_v_heads, ...)
  std::vector<std::string> producers;  ///< linear sites whose output rows take P (all the same P)
  std::vector<std::string> consumers;  ///< linear sites whose input columns take P (all the same K)
  /// Producer row blocks. Several blocks may feed the same consumer columns (a modulation's shift
  /// and scale chunks both act on the norm output); channels outside every block stay in place.
  std::vector<PermutationBlock> blocks;
  /// The consumers' input is not a producer's output alone (LayerNorm of the residual stream,
  /// modulated): in deployment the norm kernel writes its output in P order; in the simulation the
  /// consumers gather their input (ChannelGather) and the producers are left as they are.
  bool needs_gather = false;
};

}  // namespace pqlab
