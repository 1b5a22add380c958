// Folds into producers (framework/quant/producer_fold.h) and the output maps they leave
// (framework/quant/output_map.h), on the built-in FLUX's own permutation sites: which sites can
// take what, the modulation algebra of methods.md 3.3, and that the folded model computes what
// the full-precision one does.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "framework/core/error.h"
#include "framework/quant/hadamard.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/output_map.h"
#include "framework/quant/producer_fold.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

std::map<std::string, LinearSite*> by_key(ModelAdapter& m) {
  std::map<std::string, LinearSite*> k;
  for (LinearSite* s : m.linear_sites()) k[s->key()] = s;
  return k;
}

const PermutationSite& first_of(const std::vector<PermutationSite>& v, const std::string& kind) {
  for (const PermutationSite& s : v)
    if (s.kind == kind) return s;
  throw std::runtime_error("no site " + kind);
}

TEST(producer_fold, which_sites_take_scales_and_head_rotations) {
  auto m = test::builtin_flux();
  const auto sites = m->permutation_sites();
  EXPECT_TRUE(scales_foldable(first_of(sites, "norm_mod"), 128));
  EXPECT_TRUE(scales_foldable(first_of(sites, "attn_v_heads"), 128));
  EXPECT_FALSE(scales_foldable(first_of(sites, "mlp"), 512));             // GELU
  EXPECT_FALSE(scales_foldable(first_of(sites, "single_linear1"), 640));  // attention and GELU parts
  PermutationSite shift_only = first_of(sites, "norm_mod");
  shift_only.blocks.pop_back();
  EXPECT_FALSE(scales_foldable(shift_only, 128));
  EXPECT_EQ(head_rotation_size(first_of(sites, "attn_v_heads"), 128), 32);
  EXPECT_EQ(head_rotation_size(first_of(sites, "norm_mod"), 128), 0);
  EXPECT_EQ(head_rotation_size(first_of(sites, "single_linear1"), 640), 0);
  EXPECT_EQ(test::message_of([&] { fold_head_rotation(first_of(sites, "mlp"), by_key(*m)); }),
            "permutation site 'mlp' cannot take a per-head rotation");
}

TEST(producer_fold, scales_folded_into_a_modulation_follow_its_algebra_and_change_nothing) {
  auto ref = test::builtin_flux();
  const at::Tensor x = ref->sample_inputs(2, 4);
  const at::Tensor y = run_trajectory(*ref, x, 0);
  auto m = test::builtin_flux();
  auto sites = by_key(*m);
  const PermutationSite site = first_of(m->permutation_sites(), "norm_mod");  // double.0.img.mod -> qkv
  const at::Tensor s = at::rand({128}, at::kDouble) + 0.5;
  const at::Tensor b0 = sites.at(site.producers[0])->bias().clone();
  fold_scales(site, s, sites);
  const at::Tensor b1 = sites.at(site.producers[0])->bias();
  const PermutationBlock& shift = site.blocks[0];
  const PermutationBlock& scale = site.blocks[1];
  const at::Tensor sf = s.to(at::kFloat);
  EXPECT_TRUE(at::allclose(b1.narrow(0, shift.producer_row, 128), b0.narrow(0, shift.producer_row, 128) / sf, 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(b1.narrow(0, scale.producer_row, 128), (1 + b0.narrow(0, scale.producer_row, 128)) / sf - 1, 1e-6, 1e-6));
  EXPECT_TRUE(at::equal(b1.narrow(0, 4 * 128, 128), b0.narrow(0, 4 * 128, 128)));  // a gate chunk: untouched
  EXPECT_EQ(sites.at(site.consumers[0])->state().input_map->describe(), "scale");
  EXPECT_EQ(sites.at(site.producers[0])->state().output_map->describe(), "affine");
  EXPECT_LT(test::rel_l2(run_trajectory(*m, x, 0), y), 1e-5);
}

TEST(producer_fold, a_per_head_rotation_of_the_values_changes_nothing) {
  auto ref = test::builtin_flux();
  const at::Tensor x = ref->sample_inputs(2, 4);
  const at::Tensor y = run_trajectory(*ref, x, 0);
  auto m = test::builtin_flux();
  auto sites = by_key(*m);
  for (const PermutationSite& ps : m->permutation_sites())
    if (ps.kind == "attn_v_heads") fold_head_rotation(ps, sites);
  EXPECT_LT(test::rel_l2(run_trajectory(*m, x, 0), y), 1e-5);
  EXPECT_EQ(sites.at("double.0.img.attn.proj")->state().input_map->describe(), "sylvester block 32");
  EXPECT_EQ(sites.at("double.0.txt.attn.qkv")->state().output_map->describe(), "rows 256+4x32 rotated");
}

TEST(producer_fold, output_maps_fold_rows_consistently_with_their_outputs) {
  const at::Tensor w = at::randn({8, 5}), b = at::randn({8}), u = at::randn({3, 5});
  const at::Tensor y = at::matmul(u, w.t()) + b;
  ChannelAffine aff(at::rand({8}) + 0.5, at::randn({8}));
  // The linear part goes through fold_rows; the offset sits in the bias: apply(b).
  EXPECT_TRUE(at::allclose(aff.apply(y), at::matmul(u, aff.fold_rows(w).t()) + aff.apply(b.unsqueeze(0)).squeeze(0), 1e-5, 1e-5));
  RowBlockRotation rot(2, 1, hadamard_matrix(4) / 2.0);
  EXPECT_TRUE(at::allclose(rot.apply(y), at::matmul(u, rot.fold_rows(w).t()) + rot.apply(b.unsqueeze(0)).squeeze(0), 1e-5, 1e-5));
  EXPECT_TRUE(at::equal(rot.apply(y).narrow(1, 0, 2), y.narrow(1, 0, 2)));
  EXPECT_TRUE(at::equal(rot.apply(y).narrow(1, 6, 2), y.narrow(1, 6, 2)));
}

}  // namespace
}  // namespace pqlab
