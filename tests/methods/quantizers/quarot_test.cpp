// quarot (methods/quantizers/quarot.cpp): every quantized layer gets its own seeded random-sign
// Hadamard rotation (FWHT factorisation recorded), no calibration unless an ordering asks for
// it, and an ordering sorts the rotated channels of every layer.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/interfaces/method.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "framework/quant/rotation.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

const std::string kInt4 =
    "weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, "
    "only: [\"double.*\", \"single.*\"], skip: [\"*.mod\"]";

TEST(quarot, rotations_per_layer_seeded_and_recorded) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: quarot, seed: 5, " + kInt4 + "}");
  EXPECT_FALSE(m->needs().statistics);
  EXPECT_EQ(m->describe(), "quarot int4 g16 sym / int4 g16 sym, online Hadamard (seed 5)");
  auto model = test::builtin_flux();
  const MethodReport r = m->apply(*model, nullptr);
  const auto sites = model->linear_sites();
  size_t rec = 0;
  int split = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    if (!m->selects(sites[i]->key())) continue;
    ASSERT_LT(rec, r.sites.size());
    EXPECT_EQ(r.sites[rec].key, sites[i]->key());
    if (sites[i]->key().find(".attn.proj") != std::string::npos) {
      // V/O: H_head folded into the values (the proj's input map), only the heads rotated online.
      ASSERT_NE(dynamic_cast<const HeadRotation*>(sites[i]->input_transform()), nullptr) << sites[i]->key();
      EXPECT_EQ(sites[i]->state().input_map->describe(), "sylvester block 32") << sites[i]->key();
      EXPECT_EQ(r.sites[rec].texts.at(0).second,
                "hadamard over 4 heads, 32 per head folded into the values (H_heads (x) H_head)");
      ++split;
    } else {
      const auto* rot = dynamic_cast<const HadamardRotation*>(sites[i]->input_transform());
      ASSERT_NE(rot, nullptr) << sites[i]->key();
      EXPECT_TRUE(at::equal(rot->signs(), HadamardRotation(sites[i]->in_features(), 5 + i, true, at::kCPU).signs()));
      EXPECT_EQ(r.sites[rec].numbers.at(0).second, double(5 + i));
    }
    ++rec;
  }
  EXPECT_EQ(rec, r.sites.size());
  EXPECT_EQ(split, 4);  // img and txt proj of 2 double blocks
  // The qkv layers took R on their value rows, recorded as an output map.
  for (LinearSite* s : model->linear_sites())
    if (s->key().find(".attn.qkv") != std::string::npos) {
      EXPECT_NE(s->state().output_map, nullptr) << s->key();
    }
  auto full = test::builtin_flux();
  test::make_plugin<Method>(test::builtin(), "{name: quarot, vo_heads: false, " + kInt4 + "}")->apply(*full, nullptr);
  for (LinearSite* s : full->linear_sites())
    if (s->key().find(".attn.proj") != std::string::npos) {
      EXPECT_NE(dynamic_cast<const HadamardRotation*>(s->input_transform()), nullptr) << s->key();
    }
  // linear2 reads 640 = 20 x 32 channels.
  for (const SiteRecord& s : r.sites)
    if (s.key == "single.0.linear2") {
      EXPECT_EQ(s.texts.at(0).second, "hadamard 20x32");
    }
  // Another seed, another model; the same seed, the same one.
  auto other = test::builtin_flux(), same = test::builtin_flux();
  test::make_plugin<Method>(test::builtin(), "{name: quarot, seed: 6, " + kInt4 + "}")->apply(*other, nullptr);
  m->apply(*same, nullptr);
  const at::Tensor x = model->sample_inputs(1, 3);
  EXPECT_FALSE(at::equal(run_trajectory(*model, x, 0), run_trajectory(*other, x, 0)));
  EXPECT_TRUE(at::equal(run_trajectory(*model, x, 0), run_trajectory(*same, x, 0)));
}

TEST(quarot, a_width_without_a_hadamard_matrix_names_the_layer) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: quarot, weight_format: int}");
  auto toy = test::make_plugin<ModelAdapter>(test::builtin(), "{adapter: toy_mlp, hidden: 52, blocks: 1}");
  toy->load();
  const std::string msg = test::message_of([&] { m->apply(*toy, nullptr); });
  EXPECT_NE(msg.find("quarot: layer '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("': no Hadamard rotation of size 52: it must be 2^n times 1 or a Paley order"), std::string::npos) << msg;
  EXPECT_NE(msg.find("; leave it out with 'skip'"), std::string::npos) << msg;
}

TEST(quarot, an_ordering_sorts_the_rotated_channels) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: quarot, ordering: joint_second_moment, ordering_rows: 48, " + kInt4 + "}");
  EXPECT_TRUE(m->needs().statistics);
  EXPECT_EQ(m->needs().keep_rows, 48);
  auto model = test::builtin_flux();
  const Calibration cal = test::calibrate_all(*model, 2, 64);
  const MethodReport r = m->apply(*model, &cal);
  ASSERT_EQ(r.permutations.size(), r.sites.size());
  for (const PermutationDecision& d : r.permutations) {
    EXPECT_TRUE(d.accepted);
    EXPECT_EQ(d.kind, "site_input");
  }
  for (LinearSite* s : model->linear_sites())
    if (m->selects(s->key())) {
      EXPECT_NE(s->input_transform()->describe().find("hadamard"), std::string::npos);
    }
}

}  // namespace
}  // namespace pqlab
