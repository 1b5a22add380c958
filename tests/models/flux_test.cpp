// FLUX transformer against the golden data (tests/data/flux_tiny_a): both key formats in
// fp32, a bf16 run, batched ids, a sharded diffusers folder, CUDA when present, and the
// `pqlab forward` command end to end. Weight-loading errors: flux_weights_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/io/safetensors.h"
#include "models/flux/flux_transformer.h"
#include "models/flux/sharded_checkpoint.h"
#include "tests/common/run_cli.h"
#include "tests/common/temp_dir.h"
#include "tests/models/flux_golden.h"

namespace pqlab {
namespace {

using models::FluxTransformer;
using test::flux_golden;
using test::max_abs_diff;

// fp32: the two reference implementations agree to 4e-6 (golden report.json); 1e-4 leaves room
// for CPU vs GPU summation order and nothing else.
constexpr double kFp32Tol = 1e-4;
// bf16: max |diff| <= 4 bf16 ulps at the tensor's max |value|. Every op of the reference rounds
// to bf16 (8 significant bits), and a different GEMM/reduction order (CPU vs cuBLAS) flips
// last-bit roundings that propagate through the blocks: the two reference implementations on the
// same GPU already differ by 1 ulp of the output (0.0156 at max|out| = 2.19). Measured (CPU
// libtorch 1.13 and 2.11, CUDA 2.11): <= 1 ulp on `out`, <= 2 on `norm_out` (a LayerNorm, which
// amplifies last-bit flips of its input), <= 1 elsewhere.
constexpr double kBf16Ulps = 4;
// ... and on average we must reproduce the bf16 roundings themselves (1000*t in bf16, casts after
// each op): mean |ours - golden bf16| <= 1/8 of mean |golden bf16 - golden fp32| (measured <= 1/20).
constexpr double kBf16MeanRatio = 0.125;

double bf16_ulp(double x) { return std::ldexp(1.0, std::ilogb(x) - 7); }

// out [B, (h w), (c 2 2)] -> [B, c, 2h, 2w] (models.md 1.9).
at::Tensor unpack(const at::Tensor& out, int64_t c, int64_t h2, int64_t w2) {
  return out.reshape({out.size(0), h2 / 2, w2 / 2, c, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({out.size(0), c, h2, w2});
}

struct ForwardRun {
  at::Tensor out;
  std::map<std::string, at::Tensor> inter;
};

ForwardRun run_forward(const std::string& weights, at::ScalarType dtype, const std::string& inputs, at::Device dev = at::kCPU) {
  const auto model = models::load_flux_transformer(weights, dtype, dev);
  ForwardRun r;
  r.out = model->forward(test::flux_golden_inputs(inputs), &r.inter);
  EXPECT_EQ(r.out.scalar_type(), dtype);
  return r;
}

// Compares every tensor of the golden outputs file with `r`, fp32 tolerance.
void expect_fp32_golden(const ForwardRun& r, const char* label) {
  SafetensorsFile g(flux_golden("fp32/outputs.safetensors"));
  std::printf("[%s] max |ours - golden| (fp32):\n", label);
  for (const std::string& name : g.names()) {
    at::Tensor ours;
    if (name == "out" || name == "out_bfl_ref") ours = r.out;
    else if (name == "out_unpacked") ours = unpack(r.out, 4, 16, 16);
    else if (r.inter.count(name)) ours = r.inter.at(name);
    ASSERT_TRUE(ours.defined()) << "golden output '" << name << "' has no counterpart";
    ASSERT_EQ(ours.sizes(), g.get(name).sizes()) << name;
    const double d = max_abs_diff(ours, g.get(name));
    std::printf("  %-18s %.3g\n", name.c_str(), d);
    EXPECT_LT(d, kFp32Tol) << name;
  }
  for (const auto& kv : r.inter) EXPECT_TRUE(g.contains(kv.first)) << "intermediate '" << kv.first << "' not in golden";
}

TEST(flux_golden, fp32_bfl_and_diffusers_weights_match_every_output) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  const ForwardRun bfl = run_forward(flux_golden("fp32/weights_bfl.safetensors"), at::kFloat, flux_golden("fp32/inputs.safetensors"));
  expect_fp32_golden(bfl, "bfl");
  const ForwardRun dif =
      run_forward(flux_golden("fp32/weights_diffusers.safetensors"), at::kFloat, flux_golden("fp32/inputs.safetensors"));
  expect_fp32_golden(dif, "diffusers");
  // Same tensors after the key map, so bit-identical results.
  EXPECT_TRUE(at::equal(bfl.out, dif.out));
}

TEST(flux_golden, bf16_within_a_few_ulps_and_reproduces_bf16_rounding) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  const ForwardRun r = run_forward(flux_golden("fp32/weights_bfl.safetensors"), at::kBFloat16, flux_golden("bf16/inputs.safetensors"));
  SafetensorsFile g(flux_golden("bf16/outputs.safetensors")), g32(flux_golden("fp32/outputs.safetensors"));
  std::printf("max |ours - golden| (bf16), bound %g ulps at max|golden|:\n", kBf16Ulps);
  for (const auto& [name, ours] : r.inter) {
    const at::Tensor gold = g.get(name).to(at::kDouble), o = ours.to(at::kDouble);
    const double scale = gold.abs().max().item<double>();
    const double d = max_abs_diff(o, gold), bound = kBf16Ulps * bf16_ulp(scale);
    const double mean = (o - gold).abs().mean().item<double>();
    const double bf16_err = (gold - g32.get(name).to(at::kDouble)).abs().mean().item<double>();
    std::printf("  %-18s %.3g (bound %.3g); mean %.3g vs bf16 error %.3g\n", name.c_str(), d, bound, mean, bf16_err);
    EXPECT_LE(d, bound) << name;
    EXPECT_LE(mean, kBf16MeanRatio * bf16_err + 1e-7) << name;
  }
  const at::Tensor gold = g.get("out");
  const double d = max_abs_diff(r.out, gold), bound = kBf16Ulps * bf16_ulp(gold.abs().max().item<double>());
  std::printf("  %-18s %.3g (bound %.3g); references differ by %.3g\n", "out", d, bound,
              max_abs_diff(gold, g.get("out_bfl_ref")));
  EXPECT_LE(d, bound);
  EXPECT_EQ(r.inter.size() + 3, g.names().size());  // + out, out_unpacked, out_bfl_ref

  const ForwardRun dif =
      run_forward(flux_golden("fp32/weights_diffusers.safetensors"), at::kBFloat16, flux_golden("bf16/inputs.safetensors"));
  EXPECT_TRUE(at::equal(r.out, dif.out));
}

TEST(flux_golden, batched_ids_give_the_same_result) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  const auto model = models::load_flux_transformer(flux_golden("fp32/weights_bfl.safetensors"), at::kFloat, at::kCPU);
  models::FluxInputs x = test::flux_golden_inputs(flux_golden("fp32/inputs.safetensors"));
  const at::Tensor a = model->forward(x);
  x.img_ids = x.img_ids.unsqueeze(0).expand({2, -1, -1});
  x.txt_ids = x.txt_ids.unsqueeze(0).expand({2, -1, -1}).contiguous();
  EXPECT_LT(max_abs_diff(model->forward(x), a), 1e-6);
}

// Writes the golden diffusers weights as `shards` shards + index.json + a diffusers config.json.
void write_sharded(const std::string& dir, int shards) {
  create_directories(dir);
  SafetensorsFile src(flux_golden("fp32/weights_diffusers.safetensors"));
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> parts(shards);
  const std::vector<std::string> names = src.names();
  std::string map;
  for (size_t i = 0; i < names.size(); ++i) {
    const int s = static_cast<int>(i * shards / names.size());
    parts[s].emplace_back(names[i], src.get(names[i]));
    char file[96];
    std::snprintf(file, sizeof file, "diffusion_pytorch_model-%05d-of-%05d.safetensors", s + 1, shards);
    map += std::string(i ? ",\n" : "") + "    \"" + names[i] + "\": \"" + file + "\"";
  }
  for (int s = 0; s < shards; ++s) {
    char file[96];
    std::snprintf(file, sizeof file, "diffusion_pytorch_model-%05d-of-%05d.safetensors", s + 1, shards);
    write_safetensors(dir + "/" + file, parts[s]);
  }
  std::ofstream(dir + "/diffusion_pytorch_model.safetensors.index.json")
      << "{\n  \"metadata\": {\"total_size\": 7393280},\n  \"weight_map\": {\n" << map << "\n  }\n}\n";
  std::ofstream(dir + "/config.json")
      << R"({"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.40.0.dev0", "patch_size": 1,
  "in_channels": 16, "out_channels": null, "num_layers": 2, "num_single_layers": 2, "attention_head_dim": 32,
  "num_attention_heads": 4, "joint_attention_dim": 64, "pooled_projection_dim": 32, "guidance_embeds": true,
  "axes_dims_rope": [8, 12, 12]})";
}

TEST(flux_golden, sharded_diffusers_folder_gives_identical_results) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  write_sharded(tmp.file("transformer"), 3);
  const std::string inputs = flux_golden("fp32/inputs.safetensors");
  const at::Tensor ref = run_forward(flux_golden("fp32/weights_diffusers.safetensors"), at::kFloat, inputs).out;
  // The folder, the diffusers pipeline folder above it, and the index file itself.
  for (const std::string& path : {tmp.file("transformer"), tmp.path(),
                                  tmp.file("transformer/diffusion_pytorch_model.safetensors.index.json")}) {
    const models::OpenedCheckpoint ck = models::open_checkpoint(path);
    EXPECT_EQ(static_cast<const models::ShardedSafetensors&>(*ck.reader).shard_count(), 3u);
    EXPECT_EQ(ck.config_json, tmp.file("transformer/config.json"));
    EXPECT_TRUE(at::equal(run_forward(path, at::kFloat, inputs).out, ref)) << path;
  }
}

TEST(flux_golden, inconsistent_shard_index_is_one_clear_error) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  write_sharded(tmp.path(), 2);
  const std::string a = "diffusion_pytorch_model-00001-of-00002.safetensors";
  tmp.write("diffusion_pytorch_model.safetensors.index.json",
            "{\"weight_map\": {\"x_embedder.weight\": \"" + a + "\", \"proj_out.weight\": \"" + a +
                "\", \"proj_out.bias\": \"missing-shard.safetensors\"}}");
  try {
    models::open_checkpoint(tmp.path());
    FAIL() << "no error";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("\n  'x_embedder.weight' is mapped to '" + a + "', which does not hold it"), std::string::npos) << m;
    EXPECT_NE(m.find("missing-shard.safetensors' (holding 'proj_out.bias') does not exist"), std::string::npos) << m;
    EXPECT_NE(m.find(a + "' holds 54 tensor(s) the index does not list: 'context_embedder.bias', "
                         "'context_embedder.weight', 'norm_out.linear.bias', ..."),
              std::string::npos) << m;
  }
}

TEST(flux_golden, cuda_matches_fp32_and_bf16) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  expect_fp32_golden(run_forward(flux_golden("fp32/weights_diffusers.safetensors"), at::kFloat,
                         flux_golden("fp32/inputs.safetensors"), at::kCUDA),
                     "cuda diffusers");
  const ForwardRun r = run_forward(flux_golden("fp32/weights_bfl.safetensors"), at::kBFloat16, flux_golden("bf16/inputs.safetensors"),
                    at::kCUDA);
  SafetensorsFile g(flux_golden("bf16/outputs.safetensors"));
  for (const auto& [name, ours] : r.inter) {
    const double d = max_abs_diff(ours, g.get(name));
    std::printf("  cuda bf16 %-18s %.3g\n", name.c_str(), d);
    EXPECT_LE(d, kBf16Ulps * bf16_ulp(g.get(name).abs().max().item<double>())) << name;
  }
  const double d = max_abs_diff(r.out, g.get("out"));
  std::printf("  cuda bf16 %-18s %.3g\n", "out", d);
  EXPECT_LE(d, kBf16Ulps * bf16_ulp(g.get("out").abs().max().item<double>()));
}

// ---- `pqlab forward`, the real binary ----

using test::CliResult;
using test::pqlab_cli;

TEST(flux_cli, forward_writes_golden_outputs) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const CliResult r = pqlab_cli("forward --checkpoint " + flux_golden("fp32/weights_diffusers.safetensors") +
                                    " --inputs " + flux_golden("fp32/inputs.safetensors") + " --out " +
                                    tmp.file("o.safetensors") + " --intermediates",
                                tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("hidden 128 = 4 x 32, 2 double + 2 single blocks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + tmp.file("o.safetensors") + " (15 tensors)"), std::string::npos) << r.out;
  SafetensorsFile o(tmp.file("o.safetensors")), g(flux_golden("fp32/outputs.safetensors"));
  EXPECT_EQ(o.metadata().at("dtype"), "fp32");
  for (const std::string& name : o.names()) {
    ASSERT_TRUE(g.contains(name)) << name;
    EXPECT_LT(max_abs_diff(o.get(name), g.get(name)), kFp32Tol) << name;
  }
}

TEST(flux_cli, errors_name_the_problem) {
  PQLAB_REQUIRE_FLUX_GOLDEN();
  test::TempDir tmp;
  const std::string ck = " --checkpoint " + flux_golden("fp32/weights_bfl.safetensors");
  const std::string out = " --out " + tmp.file("o.safetensors");
  // Inputs without 'y': runtime failure naming the tensor.
  SafetensorsFile in(flux_golden("fp32/inputs.safetensors"));
  std::vector<std::pair<std::string, at::Tensor>> kept;
  for (const std::string& n : in.names())
    if (n != "y") kept.emplace_back(n, in.get(n));
  write_safetensors(tmp.file("in.safetensors"), kept);
  CliResult r = pqlab_cli("forward" + ck + " --inputs " + tmp.file("in.safetensors") + out, tmp);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "pqlab forward: error: inputs file '" + tmp.file("in.safetensors") + "' has no tensor 'y'\n");
  r = pqlab_cli("forward" + ck + " --inputs " + flux_golden("fp32/inputs.safetensors") + out + " --dtype fp16", tmp);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "pqlab forward: error: --dtype must be fp32 or bf16, got 'fp16'\n");
  r = pqlab_cli("forward --checkpoint " + tmp.file("nope") + " --inputs x" + out, tmp);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "pqlab forward: error: checkpoint '" + tmp.file("nope") + "' does not exist\n");
  EXPECT_FALSE(path_exists(tmp.file("o.safetensors")));
}

}  // namespace
}  // namespace pqlab
