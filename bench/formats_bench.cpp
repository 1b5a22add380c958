// Fake-quantization throughput of every number format: fast ATen path on CPU and (when present)
// CUDA, and the scalar reference on CPU. Prints one table.
// Usage: build/bench/formats_bench [rows=4096] [cols=4096] [reps=5]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "framework/config/config_reader.h"
#include "framework/registry/registries.h"

namespace {

std::shared_ptr<pqlab::NumberFormat> make_format(const pqlab::Registries& r, const std::string& yaml) {
  pqlab::config::ErrorList errors;
  auto file = std::make_shared<pqlab::config::SourceFile>();
  file->path = "<bench>";
  const auto node = pqlab::config::parse_yaml(yaml, file, errors);
  pqlab::Plugin<pqlab::NumberFormat> p;
  pqlab::PluginSlotFor<pqlab::NumberFormat> slot(p, &r);
  pqlab::config::ConfigReader reader(nullptr, "bench", errors, &r);
  reader.plugin_here(node, slot);
  errors.throw_if_any();
  return p.impl;
}

// Median wall time; reading one element back synchronizes a CUDA stream without CUDA headers.
template <class F>
double median_seconds(F f, int reps) {
  std::vector<double> t;
  f().view(-1)[0].template item<float>();  // warm-up
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f().view(-1)[0].template item<float>();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int64_t cols = argc > 2 ? std::atoll(argv[2]) : 4096;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  pqlab::Registries r;
  pqlab::register_builtin_plugins(r);
  const std::vector<std::string> formats = {
      "{name: int, bits: 4, group_size: 64}", "{name: int, bits: 8, group_size: channel}",
      "{name: int, bits: 4, group_size: 64, symmetric: false}", "{name: fp8_e4m3, group_size: tensor}",
      "nvfp4", "{name: nvfp4, global_scale: none}", "mxfp4", "{name: mxfp4, scale_mode: rceil}"};
  const at::Tensor x = at::randn({rows, cols}, at::TensorOptions().dtype(at::kFloat));
  const bool cuda = at::hasCUDA();
  const at::Tensor xc = cuda ? x.to(at::kCUDA) : at::Tensor();
  const at::Tensor xr = x.narrow(0, 0, std::min<int64_t>(rows, 256)).contiguous();  // ref is slow
  const double gb = static_cast<double>(x.numel()) * 4 / 1e9;
  std::printf("fake_quant of fp32 [%lld, %lld], median of %d (threads: %d)\n", static_cast<long long>(rows),
              static_cast<long long>(cols), reps, at::get_num_threads());
  std::printf("%-28s %14s %14s %14s\n", "format", "cpu GB/s", "cuda GB/s", "ref cpu GB/s");
  for (const auto& spec : formats) {
    auto f = make_format(r, spec);
    const double t_cpu = median_seconds([&] { return f->fake_quant(x); }, reps);
    const double t_ref = median_seconds([&] { return f->fake_quant_ref(xr); }, 1);
    const double gb_ref = static_cast<double>(xr.numel()) * 4 / 1e9;
    std::string cuda_col = "-";
    if (cuda) {
      const double t_cuda = median_seconds([&] { return f->fake_quant(xc); }, reps * 4);
      cuda_col = std::to_string(gb / t_cuda).substr(0, 8);
    }
    std::printf("%-28s %14.2f %14s %14.3f\n", f->describe().c_str(), gb / t_cpu, cuda_col.c_str(), gb_ref / t_ref);
  }
  return 0;
}
