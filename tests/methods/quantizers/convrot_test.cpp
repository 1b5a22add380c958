// convrot (methods/quantizers/convrot.cpp): the block keys are checked, ragged widths are rotated
// in smaller regular blocks (recorded), and no calibration is needed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "framework/interfaces/method.h"
#include "framework/quant/input_transform.h"
#include "framework/quant/linear_site.h"
#include "tests/common/builtin_model.h"
#include "tests/common/error_text.h"

namespace pqlab {
namespace {

const std::string kInt4 =
    "weight_format: {name: int, bits: 4, group_size: 16}, act_format: {name: int, bits: 4, group_size: 16}, "
    "only: [\"double.*\", \"single.*\"], skip: [\"*.mod\"]";

TEST(convrot, block_keys_are_checked) {
  EXPECT_NE(test::message_of([] {
              test::make_plugin<Method>(test::builtin(), "{name: convrot, block: 32, weight_format: int}");
            }).find("a regular Hadamard block must be a power of 4 (4, 16, 64, 256, ...)"),
            std::string::npos);
  auto s = test::make_plugin<Method>(test::builtin(), "{name: convrot, block: 32, hadamard: sylvester, " + kInt4 + "}");
  EXPECT_EQ(s->describe(), "convrot int4 g16 sym / int4 g16 sym, sylvester block 32");
  EXPECT_FALSE(s->needs().statistics);
}

TEST(convrot, ragged_widths_get_smaller_regular_blocks) {
  auto m = test::make_plugin<Method>(test::builtin(), "{name: convrot, " + kInt4 + "}");
  auto model = test::builtin_flux();
  const MethodReport r = m->apply(*model, nullptr);
  std::map<std::string, std::string> blocks;
  for (const SiteRecord& s : r.sites) blocks[s.key] = s.texts.at(1).second;
  EXPECT_EQ(blocks.at("double.0.img.attn.qkv"), "2x64");        // K = 128
  EXPECT_EQ(blocks.at("double.0.img.mlp.down"), "2x256");       // K = 512
  EXPECT_EQ(blocks.at("single.0.linear2"), "2x256 + 2x64");     // K = 640
  for (LinearSite* s : model->linear_sites())
    if (m->selects(s->key())) EXPECT_EQ(s->input_transform()->describe(), "regular block 256") << s->key();
}

}  // namespace
}  // namespace pqlab
