// Absorbing a channel permutation at a PermutationSite: the index algebra in one place, used by
// methods (PermuQuant) and tests alike.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

#include "framework/interfaces/permutation_site.h"

namespace pqlab {

class LinearSite;

/// Throws UsageError unless perm (int64 [K], K = the consumers' input channels) is a permutation
/// that maps every block of `site` onto itself (and each group within it onto itself) and leaves
/// channels outside the blocks in place.
void check_permutation(const PermutationSite& site, const at::Tensor& perm, int64_t k);

/// A uniformly random permutation allowed at `site` (each block, or each group of it, shuffled
/// within itself; other channels in place), seeded: int64 [k] on the CPU. Blocks that share
/// consumer columns get one shuffle.
at::Tensor random_permutation(const PermutationSite& site, int64_t k, uint64_t seed);

/// Applies perm: consumer channel j reads what channel perm[j] held. Consumers' weight columns are
/// permuted; producers' weight rows and biases of every block too, or, for a site that needs a
/// gather, the consumers get a ChannelGather input transform instead. With full precision this
/// leaves the model's output unchanged up to round-off; only the quantization groups change.
/// sites: every linear site of the model by key (RuntimeError for a key that is not there).
void absorb_permutation(const PermutationSite& site, const at::Tensor& perm,
                        const std::map<std::string, LinearSite*>& sites);

}  // namespace pqlab
