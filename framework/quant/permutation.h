// Absorbing a channel permutation at a PermutationSite: the index algebra in one place, used by
// methods (PermuQuant) and tests alike.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/interfaces/permutation_site.h"

namespace pqlab {

class LinearSite;

/// Throws UsageError unless perm (int64 [K], K = the consumers' input channels) is a permutation
/// that maps every block of `site` onto itself (and each group within it onto itself) and leaves
/// channels outside the blocks in place.
void check_permutation(const PermutationSite& site, const at::Tensor& perm, int64_t k);

/// The segments a permutation at `site` may reorder: each distinct block (blocks that share
/// consumer columns count once), or each `group` of it; ascending, disjoint. Channels outside them
/// stay in place. Throws UsageError for a block outside [0, k).
std::vector<ChannelSegment> permutation_segments(const PermutationSite& site, int64_t k);

/// Stable sort of score (float64 [k], any device) within each segment, largest first when
/// `descending`; ties keep their order; channels outside every segment stay. int64 [k] on the CPU:
/// new channel j takes old channel perm[j].
at::Tensor sort_within_segments(const at::Tensor& score, const std::vector<ChannelSegment>& segments, bool descending);

/// A uniformly random shuffle within each segment (one randperm per segment, in order), seeded:
/// int64 [k] on the CPU.
at::Tensor shuffle_within_segments(int64_t k, const std::vector<ChannelSegment>& segments, uint64_t seed);

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
