// FLUX checkpoint handling: parameter inference, config.json cross-checks, corrupt checkpoints
// (one clear error listing every problem), key prefixes, linear-site keys, bad forward inputs.
// Uses the golden tiny model (tests/data/flux_tiny_a) as the base of every case.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>

#include "framework/core/error.h"
#include "framework/io/safetensors.h"
#include "framework/quant/linear_site.h"
#include "models/flux/flux_params.h"
#include "models/flux/flux_transformer.h"
#include "models/flux/flux_weights.h"
#include "tests/common/temp_dir.h"
#include "tests/models/flux_golden.h"

namespace pqlab {
namespace {

using models::FluxKeyFormat;
using models::FluxParams;
using test::flux_golden;

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// The golden weights of `format` ("bfl" / "diffusers"), edited by `edit`, written to dir/name.
std::string edited(const test::TempDir& dir, const std::string& format, const std::function<void(Tensors&)>& edit,
                   const std::string& name = "w.safetensors") {
  SafetensorsFile src(flux_golden("fp32/weights_" + format + ".safetensors"));
  Tensors t;
  for (const std::string& n : src.names()) t.emplace_back(n, src.get(n));
  edit(t);
  write_safetensors(dir.file(name), t);
  return dir.file(name);
}

at::Tensor& find(Tensors& t, const std::string& name) {
  for (auto& kv : t)
    if (kv.first == name) return kv.second;
  throw std::runtime_error("test: no tensor " + name);
}

void erase(Tensors& t, const std::string& name) {
  for (auto it = t.begin(); it != t.end(); ++it)
    if (it->first == name) return void(t.erase(it));
  throw std::runtime_error("test: no tensor " + name);
}

// The RuntimeError message of loading `path`; "" if it loads.
std::string load_error(const std::string& path) {
  try {
    models::load_flux_transformer(path, at::kFloat, at::kCPU, {8, 12, 12});
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "";
}

TEST(flux_params, inferred_from_both_formats) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  for (const char* f : {"bfl", "diffusers"}) {
    SafetensorsFile r(flux_golden(std::string("fp32/weights_") + f + ".safetensors"));
    FluxKeyFormat format;
    const FluxParams p = models::infer_flux_params(r, &format, flux_golden("fp32/config.json"));
    EXPECT_STREQ(models::to_string(format), f);
    EXPECT_EQ(p.describe(),
              "hidden 128 = 4 x 32, 2 double + 2 single blocks, mlp_ratio 4, in 16, out 16, context 64, vec 32, "
              "axes_dim (8, 12, 12), theta 10000, qkv_bias on, guidance_embed on");
    if (format == FluxKeyFormat::bfl) {
      EXPECT_EQ(models::flux_tensor_shapes(p).size(), r.names().size());
    }
  }
}

TEST(flux_params, axes_dim_needs_a_source_unless_head_dim_is_128) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  SafetensorsFile r(flux_golden("fp32/weights_bfl.safetensors"));
  try {
    models::infer_flux_params(r);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim 32 (FLUX.1 has 128)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sum to 32"), std::string::npos) << e.what();
  }
  EXPECT_EQ(models::infer_flux_params(r, nullptr, "", {8, 8, 16}).axes_dim, (std::vector<int64_t>{8, 8, 16}));
  EXPECT_THROW(models::infer_flux_params(r, nullptr, "", {8, 12, 14}), UsageError);  // sums to 34
}

TEST(flux_params, config_json_disagreement_lists_every_field) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const std::string cfg = tmp.write("config.json", R"({"num_layers": 3, "attention_head_dim": 32,
    "joint_attention_dim": 4096, "guidance_embeds": false, "axes_dims_rope": [8, 12, 12]})");
  SafetensorsFile r(flux_golden("fp32/weights_diffusers.safetensors"));
  try {
    models::infer_flux_params(r, nullptr, cfg);
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()), "config file '" + cfg + "' disagrees with the checkpoint's tensors:\n"
                                     "  num_layers is 3 but the weights give 2\n"
                                     "  joint_attention_dim is 4096 but the weights give 64\n"
                                     "  guidance_embeds is false but the weights give true");
  }
  tmp.write("bad.json", "{\"num_layers\": ");
  EXPECT_THROW(models::check_against_config_json(FluxParams{}, tmp.file("bad.json")), UsageError);
}

TEST(flux_weights, bfl_missing_unexpected_and_misshaped_in_one_error) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const std::string path = edited(tmp, "bfl", [](Tensors& t) {
    erase(t, "double_blocks.1.txt_mlp.2.bias");
    t.emplace_back("double_blocks.0.extra.weight", at::zeros({3}));
    find(t, "single_blocks.1.linear2.weight") = at::zeros({128, 641});
    find(t, "img_in.bias") = at::zeros({128}, at::kInt);
  });
  const std::string m = load_error(path);
  EXPECT_NE(m.find("FLUX checkpoint '" + path + "' (bfl key names) does not match the model inferred from it"),
            std::string::npos) << m;
  EXPECT_NE(m.find(": 4 problems"), std::string::npos) << m;
  EXPECT_NE(m.find("\n  missing tensor 'double_blocks.1.txt_mlp.2.bias' (expected shape [128])"), std::string::npos) << m;
  EXPECT_NE(m.find("\n  unexpected tensor 'double_blocks.0.extra.weight' (shape [3])"), std::string::npos) << m;
  EXPECT_NE(m.find("\n  tensor 'single_blocks.1.linear2.weight' has shape [128, 641], expected [128, 640]"),
            std::string::npos) << m;
  EXPECT_NE(m.find("\n  tensor 'img_in.bias' has dtype I32, expected F32, F16 or BF16"), std::string::npos) << m;
}

TEST(flux_weights, diffusers_errors_use_diffusers_names) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const std::string path = edited(tmp, "diffusers", [](Tensors& t) {
    erase(t, "single_transformer_blocks.1.attn.to_k.weight");
    find(t, "norm_out.linear.bias") = at::zeros({255});
  });
  const std::string m = load_error(path);
  EXPECT_NE(m.find("(diffusers key names)"), std::string::npos) << m;
  EXPECT_NE(m.find(": 2 problems"), std::string::npos) << m;
  EXPECT_NE(m.find("missing tensor 'single_transformer_blocks.1.attn.to_k.weight' (expected shape [128, 128])"),
            std::string::npos) << m;
  EXPECT_NE(m.find("tensor 'norm_out.linear.bias' has shape [255], expected [256]"), std::string::npos) << m;
}

TEST(flux_weights, not_a_flux_checkpoint) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  write_safetensors(tmp.file("w.safetensors"), {{"foo.weight", at::zeros({2, 2})}});
  EXPECT_EQ(load_error(tmp.file("w.safetensors")),
            "not a FLUX transformer checkpoint: it has neither 'img_in.weight' (BFL names) nor 'x_embedder.weight' "
            "(diffusers names)");
  const std::string no_blocks = edited(tmp, "bfl", [](Tensors& t) {
    Tensors keep;
    for (auto& kv : t)
      if (kv.first.find("_blocks.") == std::string::npos) keep.push_back(kv);
    t = keep;
  });
  EXPECT_EQ(load_error(no_blocks), "FLUX checkpoint has no transformer blocks (neither double- nor single-stream)");
}

TEST(flux_weights, comfy_prefix_and_diffusers_map_give_the_bfl_tensors) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const std::string path = edited(tmp, "bfl", [](Tensors& t) {
    for (auto& kv : t) kv.first = "model.diffusion_model." + kv.first;
  });
  SafetensorsFile prefixed(path), bfl(flux_golden("fp32/weights_bfl.safetensors")),
      dif(flux_golden("fp32/weights_diffusers.safetensors"));
  const FluxParams p = models::infer_flux_params(bfl, nullptr, "", {8, 12, 12});
  const auto a = models::load_flux_weights(bfl, p, FluxKeyFormat::bfl, at::kFloat, at::kCPU, "bfl");
  const auto b = models::load_flux_weights(prefixed, p, FluxKeyFormat::bfl, at::kFloat, at::kCPU, "prefixed");
  const auto c = models::load_flux_weights(dif, p, FluxKeyFormat::diffusers, at::kBFloat16, at::kCPU, "dif");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  ASSERT_EQ(a.tensors.size(), c.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    EXPECT_TRUE(at::equal(t, b.at(name))) << name;
    EXPECT_EQ(c.at(name).scalar_type(), at::kBFloat16);
    EXPECT_TRUE(at::equal(t.to(at::kBFloat16), c.at(name))) << name;
  }
}

TEST(flux_transformer, linear_sites_have_semantic_keys_in_execution_order) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  auto model = models::load_flux_transformer(flux_golden("fp32/weights_bfl.safetensors"), at::kFloat, at::kCPU);
  std::vector<std::string> keys;
  for (LinearSite* s : model->linear_sites()) keys.push_back(s->key() + " " + s->role());
  std::vector<std::string> want = {"embed.img_in embed",     "embed.time.in embed",     "embed.time.out embed",
                                   "embed.guidance.in embed", "embed.guidance.out embed", "embed.vector.in embed",
                                   "embed.vector.out embed",  "embed.txt_in embed"};
  for (const char* i : {"0", "1"}) {
    const std::string d = std::string("double.") + i + ".";
    for (const char* s : {"img", "txt"}) want.push_back(d + s + ".mod modulation");
    for (const char* s : {"img", "txt"}) want.push_back(d + s + ".attn.qkv attn_qkv");
    for (const char* s : {"img", "txt"}) {
      want.push_back(d + s + ".attn.proj attn_out");
      want.push_back(d + s + ".mlp.up mlp_up");
      want.push_back(d + s + ".mlp.down mlp_down");
    }
  }
  for (const char* j : {"0", "1"}) {
    want.push_back(std::string("single.") + j + ".mod modulation");
    want.push_back(std::string("single.") + j + ".linear1 single_linear1");
    want.push_back(std::string("single.") + j + ".linear2 single_linear2");
  }
  want.push_back("final.adaLN final_modulation");
  want.push_back("final.linear final");
  EXPECT_EQ(keys, want);
  EXPECT_EQ(model->site("single.1.linear1").weight().sizes(), (at::IntArrayRef{896, 128}));
  EXPECT_EQ(model->site("double.0.txt.attn.qkv").bias().sizes(), (at::IntArrayRef{384}));
  EXPECT_THROW(model->site("double.9.img.mod"), RuntimeError);

  // Taps see what the matmul sees: image tokens, and the joint sequence in single blocks.
  at::Tensor qkv_in, l2_in;
  model->site("double.1.img.attn.qkv").set_tap([&](const LinearSite&, const at::Tensor& in, const at::Tensor&) { qkv_in = in; });
  model->site("single.0.linear2").set_tap([&](const LinearSite&, const at::Tensor& in, const at::Tensor&) { l2_in = in; });
  model->forward(test::flux_golden_inputs(flux_golden("fp32/inputs.safetensors")));
  EXPECT_EQ(qkv_in.sizes(), (at::IntArrayRef{2, 64, 128}));
  EXPECT_EQ(l2_in.sizes(), (at::IntArrayRef{2, 72, 640}));
}

TEST(flux_transformer, bad_inputs_name_the_input_and_shape) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  auto model = models::load_flux_transformer(flux_golden("fp32/weights_bfl.safetensors"), at::kFloat, at::kCPU);
  const models::FluxInputs good = test::flux_golden_inputs(flux_golden("fp32/inputs.safetensors"));
  auto error = [&](const std::function<void(models::FluxInputs&)>& edit) -> std::string {
    models::FluxInputs x = good;
    edit(x);
    try {
      model->forward(x);
    } catch (const RuntimeError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error([](models::FluxInputs& x) { x.txt = at::zeros({2, 8, 63}); }),
            "FLUX input 'txt' has shape [2, 8, 63], expected [2, *, 64]");
  EXPECT_EQ(error([](models::FluxInputs& x) { x.guidance = at::Tensor(); }),
            "FLUX input 'guidance' is missing, expected [2]");
  EXPECT_EQ(error([](models::FluxInputs& x) { x.img_ids = at::zeros({63, 3}); }),
            "FLUX input 'img_ids' has shape [63, 3], expected [64, 3]");
  EXPECT_EQ(error([](models::FluxInputs& x) { x.y = at::zeros({3, 32}); }),
            "FLUX input 'y' has shape [3, 32], expected [2, 32]");
  // issue 8: zero image tokens used to surface an internal ATen message.
  EXPECT_EQ(error([](models::FluxInputs& x) {
              x.img = at::zeros({2, 0, 16});
              x.img_ids = at::zeros({0, 3});
            }),
            "FLUX inputs 'img' [2, 0, 16] and 'txt' [2, 8, 64] must each have at least one sample and one token");
}

// issue 8: a zero inferred dimension is refused naming the tensor it comes from, not a quantity
// derived from it (img_in.weight with 0 rows used to blame the "MLP hidden size").
TEST(flux_params, issue_8_zero_dimensions_name_the_tensor_and_its_shape) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir dir;
  EXPECT_EQ(load_error(edited(dir, "bfl", [](Tensors& t) { find(t, "img_in.weight") = at::zeros({0, 16}); })),
            "FLUX checkpoint: tensor 'img_in.weight' has shape (0, 16), so the hidden size (its dimension 0) would "
            "be 0; it must be positive");
  EXPECT_EQ(load_error(edited(dir, "diffusers", [](Tensors& t) { find(t, "x_embedder.weight") = at::zeros({128, 0}); })),
            "FLUX checkpoint: tensor 'x_embedder.weight' has shape (128, 0), so the input channel count (its "
            "dimension 1) would be 0; it must be positive");
  EXPECT_EQ(load_error(edited(dir, "bfl",
                              [](Tensors& t) { find(t, "double_blocks.0.img_attn.norm.query_norm.scale") = at::zeros({0}); })),
            "FLUX checkpoint: tensor 'double_blocks.0.img_attn.norm.query_norm.scale' has shape (0), so the head "
            "dimension (its dimension 0) would be 0; it must be positive");
  EXPECT_EQ(load_error(edited(dir, "bfl", [](Tensors& t) { find(t, "double_blocks.0.img_mlp.0.weight") = at::zeros({0, 128}); })),
            "FLUX checkpoint: tensor 'double_blocks.0.img_mlp.0.weight' has shape (0, 128), so the MLP hidden size "
            "(its dimension 0) would be 0; it must be positive");
  EXPECT_EQ(load_error(edited(dir, "bfl",
                              [](Tensors& t) { find(t, "double_blocks.0.img_attn.norm.query_norm.scale") = at::zeros({48}); })),
            "FLUX checkpoint: hidden size 128 (tensor 'img_in.weight' of shape (128, 16)) is not a multiple of the "
            "head dimension 48 (tensor 'double_blocks.0.img_attn.norm.query_norm.scale' of shape (48))");
}

}  // namespace
}  // namespace pqlab
