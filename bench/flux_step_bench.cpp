// FLUX.1-dev transformer step benchmark: one full-size forward (random weights) in bf16.
//
//   flux_step_bench --write-random PATH [--seed S]
//       Writes a BFL-format checkpoint (every key and shape of flux1-dev.safetensors, models.md
//       1.11; metadata format=bfl) with random weights: Linear weights ~ N(0, 1/fan_in), biases
//       ~ N(0, 0.02^2), RMSNorm scales 1. Tensors are generated one at a time (on the GPU when
//       there is one) and streamed to disk, so host memory stays bounded (~24 GB file in bf16).
//   flux_step_bench --checkpoint PATH [--dtype bf16] [--device cuda] [--warmup 3] [--reps 10]
//                   [--height 1024 --width 1024 --txt-len 512] [--matmul-n 8192] [--no-diagnose]
//       Loads the checkpoint with load_flux_transformer, times warm-up then timed forwards on
//       random inputs, and prints: load time, step time (median/min), peak GPU memory, a bf16
//       matmul rate measured in the same run, the step's matmul FLOPs and the resulting "matmul
//       floor", and (unless --no-diagnose) where the time goes: every linear shape and the
//       attention timed alone, one double and one single block, and the elementwise pieces of
//       flux_transformer.cpp next to alternatives with the same math (and their max |diff|).
//   flux_step_bench --micro-only [--dtype/--device/--height/--width/--txt-len]
//       Only the elementwise table, for the model size below (FLUX.1-dev by default); no checkpoint.
// Shrunken models for CPU smoke runs: --hidden N --heads N --depth N --single-depth N
// --context-dim N --vec-dim N with --write-random. See bench/README.md.
#include <ATen/ATen.h>
#include <dlfcn.h>
#include <torch/version.h>  // macros only; not the torch C++ frontend

// Caching-allocator statistics without CUDA headers: torch >= 2.9 exposes them through
// c10::DeviceAllocator (c10/core/CachingDeviceAllocator.h, no CUDA include). Older torch gets
// the driver's used memory only (cudaMemGetInfo looked up at run time).
#if !defined(PQLAB_BENCH_NO_ALLOC_STATS) && \
    (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9))
#if __has_include(<c10/core/CachingDeviceAllocator.h>)
#include <c10/core/CachingDeviceAllocator.h>
#define PQLAB_BENCH_ALLOC_STATS 1
#endif
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unistd.h>
#include <utility>
#include <vector>

#include "framework/io/safetensors.h"
#include "models/flux/flux_params.h"
#include "models/flux/flux_conditioning.h"
#include "models/flux/flux_transformer.h"
#include "models/flux/flux_weights.h"

namespace {

using pqlab::models::FluxParams;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string write_random, checkpoint, dtype = "bf16", device;
  uint64_t seed = 0;
  int warmup = 3, reps = 10;
  int64_t height = 1024, width = 1024, txt_len = 512, matmul_n = 0;
  bool diagnose = true, micro_only = false;
  FluxParams shape;  // --write-random model size (FLUX.1-dev by default)
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "flux_step_bench: %s\n"
               "usage: flux_step_bench --write-random PATH [--seed S] [--hidden N --heads N --depth N\n"
               "                       --single-depth N --context-dim N --vec-dim N]\n"
               "       flux_step_bench --checkpoint PATH [--dtype bf16|fp16|fp32] [--device cuda|cpu]\n"
               "                       [--warmup 3] [--reps 10] [--height 1024 --width 1024 --txt-len 512]\n"
               "                       [--matmul-n 8192] [--no-diagnose] [--seed S]\n"
               "       flux_step_bench --micro-only [--dtype/--device/--height/--width/--txt-len, model sizes]\n"
               "       flux_step_bench --write-conditioning PATH [N=20]   (random FLUX.1-dev prompt embeddings)\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto integer = [&]() -> int64_t {
      const std::string v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end) usage(a + " needs an integer, got '" + v + "'");
      return n;
    };
    if (a == "--write-random") o.write_random = value();
    else if (a == "--checkpoint") o.checkpoint = value();
    else if (a == "--dtype") o.dtype = value();
    else if (a == "--device") o.device = value();
    else if (a == "--seed") o.seed = static_cast<uint64_t>(integer());
    else if (a == "--warmup") o.warmup = static_cast<int>(integer());
    else if (a == "--reps") o.reps = static_cast<int>(integer());
    else if (a == "--height") o.height = integer();
    else if (a == "--width") o.width = integer();
    else if (a == "--txt-len") o.txt_len = integer();
    else if (a == "--matmul-n") o.matmul_n = integer();
    else if (a == "--no-diagnose") o.diagnose = false;
    else if (a == "--micro-only") o.micro_only = true;
    else if (a == "--hidden") o.shape.hidden_size = integer();
    else if (a == "--heads") o.shape.num_heads = integer();
    else if (a == "--depth") o.shape.depth = integer();
    else if (a == "--single-depth") o.shape.depth_single_blocks = integer();
    else if (a == "--context-dim") o.shape.context_in_dim = integer();
    else if (a == "--vec-dim") o.shape.vec_in_dim = integer();
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown argument '" + a + "'");
  }
  if (o.micro_only ? !(o.write_random.empty() && o.checkpoint.empty())
                   : o.write_random.empty() == o.checkpoint.empty())
    usage("give exactly one of --write-random, --checkpoint and --micro-only");
  if (o.reps < 1 || o.warmup < 0) usage("--reps must be >= 1 and --warmup >= 0");
  if (o.height % 16 || o.width % 16 || o.height <= 0 || o.width <= 0) usage("--height/--width must be multiples of 16");
  if (o.shape.hidden_size % o.shape.num_heads) usage("--hidden must be a multiple of --heads");
  if (o.device.empty()) o.device = at::hasCUDA() ? "cuda" : "cpu";
  if (o.device != "cuda" && o.device != "cpu") usage("--device must be cuda or cpu");
  if (o.device == "cuda" && !at::hasCUDA()) usage("--device cuda requested but CUDA is not available");
  if (o.matmul_n <= 0) o.matmul_n = o.device == "cuda" ? 8192 : 1024;
  return o;
}

at::ScalarType parse_dtype(const std::string& s) {
  if (s == "bf16") return at::kBFloat16;
  if (s == "fp16") return at::kHalf;
  if (s == "fp32") return at::kFloat;
  usage("--dtype must be bf16, fp16 or fp32");
}

// ---------------------------------------------------------------------------------------------
// Random weights

// One tensor of a random FLUX checkpoint: Linear weights N(0, 1/fan_in), biases N(0, 0.02^2),
// RMSNorm scales 1.
at::Tensor random_tensor(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType dtype,
                         at::Device device) {
  const at::TensorOptions gen = at::TensorOptions().device(device).dtype(device.is_cuda() ? dtype : at::kFloat);
  at::Tensor t;
  if (name.size() >= 6 && name.compare(name.size() - 6, 6, ".scale") == 0) {
    t = at::ones(shape, gen);
  } else if (shape.size() == 2) {
    t = at::randn(shape, gen) * (1.0 / std::sqrt(static_cast<double>(shape[1])));
  } else {
    t = at::randn(shape, gen) * 0.02;
  }
  return t.to(dtype);
}

pqlab::models::FluxWeights random_weights(const FluxParams& p, at::ScalarType dtype, at::Device device) {
  pqlab::models::FluxWeights w;
  for (const auto& [name, shape] : pqlab::models::flux_tensor_shapes(p))
    w.tensors[name] = random_tensor(name, shape, dtype, device);
  return w;
}

void write_all(FILE* f, const void* data, size_t n, const std::string& path) {
  if (n && std::fwrite(data, 1, n, f) != n) throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
}

// Streams a BFL-format safetensors file: u64 header length, JSON header padded with spaces to a
// multiple of 8, then every tensor in checkpoint order (all bf16, so all aligned). Written to
// PATH.tmp-<pid> and renamed when complete, like pqlab::write_safetensors.
int write_random(const Options& o) {
  const FluxParams& p = o.shape;
  const auto shapes = pqlab::models::flux_tensor_shapes(p);
  const at::Device gen_device = at::hasCUDA() ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  at::manual_seed(o.seed);

  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "bfl"}, {"pqlab_note", "random weights for benchmarking (flux_step_bench)"}};
  uint64_t offset = 0, params = 0;
  for (const auto& [name, shape] : shapes) {
    uint64_t n = 1;
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    params += n;
    header[name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + 2 * n}}};
    offset += 2 * n;
  }
  std::string text = header.dump();
  while (text.size() % 8) text.push_back(' ');
  std::printf("writing %s: %s\n  %zu tensors, %llu parameters, %.2f GB of bf16, generated on %s, seed %llu\n",
              o.write_random.c_str(), p.describe().c_str(), shapes.size(), static_cast<unsigned long long>(params),
              static_cast<double>(offset) / 1e9, gen_device.is_cuda() ? "cuda" : "cpu",
              static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  const std::string tmp = o.write_random + ".tmp-" + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error(tmp + ": cannot create: " + std::strerror(errno));
  std::vector<char> buffer(size_t{64} << 20);
  std::setvbuf(f, buffer.data(), _IOFBF, buffer.size());
  const auto t0 = Clock::now();
  try {
    const uint64_t len = text.size();
    write_all(f, &len, 8, tmp);
    write_all(f, text.data(), text.size(), tmp);
    uint64_t written = 0;
    size_t count = 0;
    for (const auto& [name, shape] : shapes) {
      const at::Tensor t = random_tensor(name, shape, at::kBFloat16, gen_device).cpu().contiguous();
      write_all(f, t.data_ptr(), static_cast<size_t>(t.nbytes()), tmp);
      written += static_cast<uint64_t>(t.nbytes());
      if (++count % 100 == 0 || count == shapes.size()) {
        std::printf("  %4zu/%zu tensors, %6.2f GB, %.1f s\n", count, shapes.size(), static_cast<double>(written) / 1e9,
                    seconds_since(t0));
        std::fflush(stdout);
      }
    }
    if (std::fclose(f) != 0) throw std::runtime_error(tmp + ": close failed: " + std::strerror(errno));
    f = nullptr;
  } catch (...) {
    if (f) std::fclose(f);
    ::unlink(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), o.write_random.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(o.write_random + ": rename failed: " + std::strerror(errno));
  }
  // Validate the header the way every loader will see it.
  const pqlab::SafetensorsFile check(o.write_random);
  if (check.names().size() != shapes.size()) throw std::runtime_error("written file lists a different tensor count");
  std::printf("wrote %s in %.1f s (%.2f GB/s)\n", o.write_random.c_str(), seconds_since(t0),
              static_cast<double>(offset) / 1e9 / seconds_since(t0));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Timing and memory

// Reading one element back waits for every kernel queued before it (no CUDA headers needed).
void sync(const at::Tensor& t) { t.reshape(-1)[0].item<float>(); }

// Mean milliseconds per call: `warm` calls, then `reps` calls back to back and one sync.
template <class F>
double mean_ms(F f, int reps, int warm = 2) {
  at::Tensor r;
  for (int i = 0; i < warm; ++i) r = f();
  if (r.defined()) sync(r);
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) r = f();
  sync(r);
  return seconds_since(t0) * 1e3 / reps;
}

struct GpuMemory {
  bool cuda = false;
  void reset_peak() const {
#ifdef PQLAB_BENCH_ALLOC_STATS
    if (auto* a = allocator()) a->resetPeakStats(0);
#endif
  }
  // {peak allocated, peak reserved} bytes of the caching allocator since reset_peak; -1 unknown.
  std::pair<double, double> peak() const {
#ifdef PQLAB_BENCH_ALLOC_STATS
    if (auto* a = allocator()) {
      const auto s = a->getDeviceStats(0);
      return {static_cast<double>(s.allocated_bytes[0].peak), static_cast<double>(s.reserved_bytes[0].peak)};
    }
#endif
    return {-1, -1};
  }
  double current_allocated() const {
#ifdef PQLAB_BENCH_ALLOC_STATS
    if (auto* a = allocator()) return static_cast<double>(a->getDeviceStats(0).allocated_bytes[0].current);
#endif
    return -1;
  }
  // Device-wide used memory from the driver (all processes, CUDA context included); -1 unknown.
  double driver_used() const {
    if (!cuda) return -1;
    using MemGetInfo = int (*)(size_t*, size_t*);
    auto fn = reinterpret_cast<MemGetInfo>(::dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
    size_t free_b = 0, total_b = 0;
    if (!fn || fn(&free_b, &total_b) != 0) return -1;
    return static_cast<double>(total_b - free_b);
  }

 private:
#ifdef PQLAB_BENCH_ALLOC_STATS
  c10::DeviceAllocator* allocator() const {
    if (!cuda) return nullptr;
    try {
      return dynamic_cast<c10::DeviceAllocator*>(c10::GetAllocator(c10::DeviceType::CUDA));
    } catch (const std::exception&) {
      return nullptr;
    }
  }
#endif
};

std::string gb(double bytes) {
  if (bytes < 0) return "-";
  char s[32];
  std::snprintf(s, sizeof s, "%.2f", bytes / 1e9);
  return s;
}

// ---------------------------------------------------------------------------------------------
// FLOP count and the shapes of one step

struct LinearShape {
  std::string what;
  int64_t tokens, in, out, count;
};

// Every Linear of one forward with batch B, in execution order (grouped by shape).
std::vector<LinearShape> linear_shapes(const FluxParams& p, int64_t B, int64_t L_img, int64_t L_txt) {
  const int64_t H = p.hidden_size, M = p.mlp_hidden(), L = L_img + L_txt, d = p.depth, s = p.depth_single_blocks;
  std::vector<LinearShape> v = {
      {"img_in", B * L_img, p.in_channels, H, 1},
      {"txt_in", B * L_txt, p.context_in_dim, H, 1},
      {"time/guidance in", B, 256, H, p.guidance_embed ? 2 : 1},
      {"vector in", B, p.vec_in_dim, H, 1},
      {"embedder out", B, H, H, p.guidance_embed ? 3 : 2},
      {"double mod (img+txt)", B, H, 6 * H, 2 * d},
      {"double qkv img", B * L_img, H, 3 * H, d},
      {"double qkv txt", B * L_txt, H, 3 * H, d},
      {"double proj img", B * L_img, H, H, d},
      {"double proj txt", B * L_txt, H, H, d},
      {"double mlp.up img", B * L_img, H, M, d},
      {"double mlp.up txt", B * L_txt, H, M, d},
      {"double mlp.down img", B * L_img, M, H, d},
      {"double mlp.down txt", B * L_txt, M, H, d},
      {"single mod", B, H, 3 * H, s},
      {"single linear1", B * L, H, 3 * H + M, s},
      {"single linear2", B * L, H + M, H, s},
      {"final adaLN", B, H, 2 * H, 1},
      {"final linear", B * L_img, H, p.out_channels, 1},
  };
  return v;
}

struct Flops {
  double linear = 0, attention = 0;
  double total() const { return linear + attention; }
};

// 2 * tokens * in * out per Linear; attention 4 * L^2 * hidden per block (QK^T and PV).
Flops step_flops(const FluxParams& p, int64_t B, int64_t L_img, int64_t L_txt) {
  Flops f;
  for (const LinearShape& s : linear_shapes(p, B, L_img, L_txt))
    f.linear += 2.0 * static_cast<double>(s.tokens) * static_cast<double>(s.in) * static_cast<double>(s.out) *
                static_cast<double>(s.count);
  const double L = static_cast<double>(L_img + L_txt);
  f.attention = 4.0 * static_cast<double>(B) * L * L * static_cast<double>(p.hidden_size) *
                static_cast<double>(p.depth + p.depth_single_blocks);
  return f;
}

at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const at::Tensor s = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) * scale;
  return at::matmul(at::softmax(s, -1), v.to(at::kFloat)).to(q.scalar_type());
#endif
}

// ---------------------------------------------------------------------------------------------
// Elementwise pieces of models/flux/flux_transformer.cpp (copied verbatim, to time them alone)
// and fused alternatives with the same math.

at::Tensor ln_model(const at::Tensor& x) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, {}, {}, 1e-6).to(x.scalar_type());
}
at::Tensor ln_native(const at::Tensor& x) { return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6); }

at::Tensor rms_model(const at::Tensor& x, const at::Tensor& scale) {
  const at::Tensor xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-6) * scale.to(at::kFloat)).to(x.scalar_type());
}

at::Tensor rope_model(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const at::Tensor xf = x.to(at::kFloat);
  std::vector<int64_t> pairs(xf.sizes().begin(), xf.sizes().end());
  pairs.back() /= 2;
  pairs.push_back(2);
  const at::Tensor xp = xf.reshape(pairs);
  const at::Tensor rot = at::stack({-xp.select(-1, 1), xp.select(-1, 0)}, -1).flatten(-2);
  const at::Tensor c = cos.unsqueeze(0).unsqueeze(2), s = sin.unsqueeze(0).unsqueeze(2);
  return (xf * c + rot * s).to(x.scalar_type());
}

// The same rotation as one complex multiply: (x_2j + i x_2j+1) * (cos a_j + i sin a_j).
at::Tensor rope_complex(const at::Tensor& x, const at::Tensor& freqs_cis /* complex64 [L, 1, D/2] */) {
  std::vector<int64_t> pairs(x.sizes().begin(), x.sizes().end());
  pairs.back() /= 2;
  pairs.push_back(2);
  const at::Tensor xc = at::view_as_complex(x.to(at::kFloat).reshape(pairs));
  return at::view_as_real(xc * freqs_cis).flatten(-2).to(x.scalar_type());
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

std::string fmt(const char* f, double v) {
  char s[64];
  std::snprintf(s, sizeof s, f, v);
  return s;
}

// Elementwise pieces on the joint sequence (L tokens), as flux_transformer.cpp runs them, next to
// alternatives with the same math; "count" is per step in L-token units; max|diff| is against the
// model's version on the same input (0 = bit-identical).
void elementwise_table(const FluxParams& p, int64_t L, const at::TensorOptions& mo, int reps, double attn_ms) {
  const at::Device dev = mo.device();
  const int64_t H = p.hidden_size, heads = p.num_heads, D = p.head_dim(), M = p.mlp_hidden();
  const double n_attn = static_cast<double>(p.depth + p.depth_single_blocks);
  const double n_ln = 2.0 * static_cast<double>(p.depth) + static_cast<double>(p.depth_single_blocks);
  const double n_qk = 2.0 * n_attn, n_single = static_cast<double>(p.depth_single_blocks);
  const at::Tensor q4 = at::randn({1, L, heads, D}, mo), k4 = at::randn({1, L, heads, D}, mo),
                   v4 = at::randn({1, L, heads, D}, mo);
  const at::Tensor qc = q4.transpose(1, 2).contiguous(), kc = k4.transpose(1, 2).contiguous(),
                   vc = v4.transpose(1, 2).contiguous();
  if (attn_ms < 0) attn_ms = mean_ms([&] { return sdpa(qc, kc, vc); }, reps);
  const at::Tensor xh = at::randn({1, L, H}, mo);
  const at::Tensor l1 = at::randn({1, L, 3 * H + M}, mo);  // single-block linear1 output
  const at::Tensor qv = l1.narrow(-1, 0, H).reshape({1, L, heads, D});  // head_split view, as the model
  const at::Tensor scale = at::ones({D}, mo) + 0.1 * at::randn({D}, mo);
  const at::Tensor pos = at::randn({L, D / 2}, at::TensorOptions().dtype(at::kFloat).device(dev)) * 30;
  const at::Tensor cos = at::stack({at::cos(pos), at::cos(pos)}, -1).flatten(-2),
                   sin = at::stack({at::sin(pos), at::sin(pos)}, -1).flatten(-2);
  // -sin at even positions: x*cos + swap_pairs(x)*sin_signed is the model's x*cos + rot(x)*sin exactly.
  const at::Tensor sin_signed = at::stack({-at::sin(pos), at::sin(pos)}, -1).flatten(-2);
  const at::Tensor freqs_cis = at::complex(at::cos(pos), at::sin(pos)).unsqueeze(1);  // [L, 1, D/2]
  const at::Tensor c4 = cos.unsqueeze(0).unsqueeze(2), s4 = sin_signed.unsqueeze(0).unsqueeze(2);
  auto rope_swap = [&](const at::Tensor& x) {
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor sw = xf.reshape({x.size(0), x.size(1), x.size(2), D / 2, 2}).flip(-1).flatten(-2);
    return (xf * c4 + sw * s4).to(x.scalar_type());
  };
  const at::Tensor qr = rms_model(qv, scale), rope_ref = rope_model(qr, cos, sin);

  std::printf("\nelementwise pieces on %lld tokens: the model's code vs. the same math with fewer passes\n",
              static_cast<long long>(L));
  std::printf("  %-46s %9s %7s %9s %10s\n", "op", "ms each", "count", "ms/step", "max|diff|");
  auto row = [&](const char* name, double ms, double count, double diff) {
    const std::string d = diff < 0 ? "" : fmt("%.3g", diff);
    std::printf("  %-46s %9.3f %7.0f %9.2f %10s\n", name, ms, count, ms * count, d.c_str());
  };
  row("layer_norm via fp32 round trip (model)", mean_ms([&] { return ln_model(xh); }, reps), n_ln, -1);
  row("  at::layer_norm on bf16 (fp32 inside)", mean_ms([&] { return ln_native(xh); }, reps), n_ln,
      max_abs_diff(ln_model(xh), ln_native(xh)));
  row("rms_norm q or k, 7 ops (model)", mean_ms([&] { return rms_model(qv, scale); }, reps), n_qk, -1);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  row("  at::rms_norm on the head-split view", mean_ms([&] { return at::rms_norm(qv, {D}, scale, 1e-6); }, reps),
      n_qk, max_abs_diff(qr, at::rms_norm(qv, {D}, scale, 1e-6)));
  const at::Tensor qv_c = qv.contiguous();
  row("  at::rms_norm on a contiguous q", mean_ms([&] { return at::rms_norm(qv_c, {D}, scale, 1e-6); }, reps), n_qk,
      max_abs_diff(qr, at::rms_norm(qv_c, {D}, scale, 1e-6)));
#endif
  row("rope q or k, stack form (model)", mean_ms([&] { return rope_model(qr, cos, sin); }, reps), n_qk, -1);
  row("  rope, pair swap + signed sin (exact)", mean_ms([&] { return rope_swap(qr); }, reps), n_qk,
      max_abs_diff(rope_ref, rope_swap(qr)));
  row("  rope as one complex multiply (FMA)", mean_ms([&] { return rope_complex(qr, freqs_cis); }, reps), n_qk,
      max_abs_diff(rope_ref, rope_complex(qr, freqs_cis)));
  row("sdpa on transposed [B,L,H,D] views (model)",
      mean_ms([&] { return sdpa(q4.transpose(1, 2), k4.transpose(1, 2), v4.transpose(1, 2)); }, reps), n_attn, -1);
  row("  sdpa on contiguous [B,H,L,D]", attn_ms, n_attn, -1);
  row("attn out transpose+flatten copy", mean_ms([&] { return qc.transpose(1, 2).flatten(2); }, reps), n_attn, -1);
  row("q/k/v cat of the two streams (double, x3)",
      mean_ms([&] { return at::cat({q4.narrow(1, 0, L / 9), q4.narrow(1, L / 9, L - L / 9)}, 1); }, reps),
      3.0 * static_cast<double>(p.depth), -1);
  row("gelu tanh on linear1's mlp part (single)",
      mean_ms([&] { return at::gelu(l1.narrow(-1, 3 * H, M), "tanh"); }, reps), n_single, -1);
  const at::Tensor g = at::gelu(l1.narrow(-1, 3 * H, M), "tanh");
  row("cat([attn, mlp]) for linear2 (single)", mean_ms([&] { return at::cat({xh, g}, -1); }, reps), n_single, -1);
  const at::Tensor sh = at::randn({1, H}, mo), sc = at::randn({1, H}, mo);
  row("modulate x*(1+scale)+shift", mean_ms([&] { return xh * (1 + sc.unsqueeze(1)) + sh.unsqueeze(1); }, reps), n_ln,
      -1);
  row("residual x + gate*y", mean_ms([&] { return xh + sc.unsqueeze(1) * xh; }, reps), n_ln, -1);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

pqlab::models::FluxInputs make_inputs(const FluxParams& p, int64_t h_tok, int64_t w_tok, int64_t L_txt,
                                      at::ScalarType dtype, at::Device dev) {
  const at::TensorOptions o = at::TensorOptions().device(dev).dtype(dtype);
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
  pqlab::models::FluxInputs in;
  in.img = at::randn({1, h_tok * w_tok, p.in_channels}, o);
  // [0, row, col] for the packed (height/16) x (width/16) grid, row-major.
  const at::Tensor rows = at::arange(h_tok, f32).unsqueeze(1).expand({h_tok, w_tok});
  const at::Tensor cols = at::arange(w_tok, f32).unsqueeze(0).expand({h_tok, w_tok});
  in.img_ids = at::stack({at::zeros({h_tok, w_tok}, f32), rows, cols}, -1).reshape({h_tok * w_tok, 3}).to(dev);
  in.txt = at::randn({1, L_txt, p.context_in_dim}, o);
  in.txt_ids = at::zeros({L_txt, 3}, f32.device(dev));
  in.y = at::randn({1, p.vec_in_dim}, o);
  in.timesteps = at::full({1}, 0.75, o);
  in.guidance = at::full({1}, 3.5, o);
  return in;
}

struct Row {
  std::string name;
  std::string value;
};

void print_rows(const char* title, const std::vector<Row>& rows) {
  std::printf("\n%s\n", title);
  size_t w = 0;
  for (const Row& r : rows) w = std::max(w, r.name.size());
  for (const Row& r : rows) std::printf("  %-*s  %s\n", static_cast<int>(w), r.name.c_str(), r.value.c_str());
}

int bench(const Options& o) {
  const at::ScalarType dtype = parse_dtype(o.dtype);
  const at::Device dev = o.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  GpuMemory mem;
  mem.cuda = dev.is_cuda();
  at::manual_seed(o.seed);
  std::printf("flux_step_bench: torch %s, device %s, dtype %s\n", TORCH_VERSION, o.device.c_str(), o.dtype.c_str());
  if (dev.is_cuda()) at::zeros({1}, at::TensorOptions().device(dev)).reshape(-1)[0].item<float>();  // context
  const double driver_before = mem.driver_used();

  auto t0 = Clock::now();
  const std::unique_ptr<pqlab::models::FluxTransformer> model =
      pqlab::models::load_flux_transformer(o.checkpoint, dtype, dev);
  if (dev.is_cuda()) at::zeros({1}, at::TensorOptions().device(dev)).reshape(-1)[0].item<float>();
  const double load_s = seconds_since(t0);
  const FluxParams& p = model->params();
  const double weights_bytes = mem.current_allocated();
  std::printf("loaded %s in %.1f s: %s\n", o.checkpoint.c_str(), load_s, p.describe().c_str());

  const int64_t h_tok = o.height / 16, w_tok = o.width / 16, L_img = h_tok * w_tok, L_txt = o.txt_len;
  const pqlab::models::FluxInputs in = make_inputs(p, h_tok, w_tok, L_txt, dtype, dev);

  // Step: warm-up, then timed forwards, each synchronized. Host time = until forward() returns.
  mem.reset_peak();
  at::Tensor out;
  for (int i = 0; i < o.warmup; ++i) {
    out = model->forward(in);
    sync(out);
  }
  std::vector<double> step_ms, host_ms;
  for (int i = 0; i < o.reps; ++i) {
    const auto a = Clock::now();
    out = model->forward(in);
    host_ms.push_back(seconds_since(a) * 1e3);
    sync(out);
    step_ms.push_back(seconds_since(a) * 1e3);
  }
  const auto [peak_alloc, peak_reserved] = mem.peak();
  const double driver_after = mem.driver_used();
  std::vector<double> sorted = step_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2], best = sorted.front();
  std::sort(host_ms.begin(), host_ms.end());
  const at::Tensor of = out.to(at::kFloat);
  const bool finite = at::isfinite(of).all().item<bool>();
  const double out_std = of.std().item<double>();

  // Matmul rate: n^3 bf16 (the model dtype) at::matmul, timed the same way.
  const int64_t n = o.matmul_n;
  const at::TensorOptions mo = at::TensorOptions().device(dev).dtype(dtype);
  const at::Tensor ma = at::randn({n, n}, mo), mb = at::randn({n, n}, mo);
  const double mm_ms = mean_ms([&] { return at::matmul(ma, mb); }, dev.is_cuda() ? 20 : 2);
  const double tflops = 2.0 * std::pow(static_cast<double>(n), 3) / (mm_ms * 1e-3) / 1e12;
  // Copy bandwidth (bytes read + written) for the elementwise floor.
  const at::Tensor cs = at::randn({int64_t{256} << 20}, mo);  // 512 MiB in bf16
  at::Tensor cd = at::empty_like(cs);
  const double copy_ms = mean_ms([&] { return cd.copy_(cs); }, dev.is_cuda() ? 20 : 2);
  const double copy_gbs = 2.0 * static_cast<double>(cs.nbytes()) / (copy_ms * 1e-3) / 1e9;

  const Flops fl = step_flops(p, 1, L_img, L_txt);
  const double floor_ms = fl.total() / (tflops * 1e12) * 1e3;

  std::printf("\nFLUX transformer step, batch 1, %lldx%lld px = %lld image + %lld text tokens, %s on %s\n",
              static_cast<long long>(o.width), static_cast<long long>(o.height), static_cast<long long>(L_img),
              static_cast<long long>(L_txt), o.dtype.c_str(), o.device.c_str());
  print_rows("result", {
      {"load time (s)", fmt("%.1f", load_s)},
      {"step time median (ms)", fmt("%.1f", median)},
      {"step time min (ms)", fmt("%.1f", best)},
      {"steps timed / warm-up", std::to_string(o.reps) + " / " + std::to_string(o.warmup)},
      {"host enqueue per step, median (ms)", fmt("%.1f", host_ms[host_ms.size() / 2])},
      {"peak GPU memory allocated (GB)", gb(peak_alloc)},
      {"peak GPU memory reserved (GB)", gb(peak_reserved)},
      {"weights on GPU (GB)", gb(weights_bytes)},
      {"driver used memory before load / after (GB)", gb(driver_before) + " / " + gb(driver_after)},
      {"output finite / std", std::string(finite ? "yes" : "NO") + " / " + fmt("%.3g", out_std)},
      {"matmul " + std::to_string(n) + "^3 " + o.dtype + " (TFLOP/s)", fmt("%.3g", tflops)},
      {"copy bandwidth, read+write (GB/s)", fmt("%.0f", copy_gbs)},
      {"matmul FLOPs per step: linear + attention (TFLOP)",
       fmt("%.2f", fl.linear / 1e12) + " + " + fmt("%.2f", fl.attention / 1e12) + " = " +
           fmt("%.2f", fl.total() / 1e12)},
      {"matmul floor = FLOPs / rate (ms)", fmt("%.1f", floor_ms)},
      {"step / floor", fmt("%.2f", median / floor_ms)},
      {"achieved (TFLOP/s)", fmt("%.3g", fl.total() / (median * 1e-3) / 1e12)},
  });
  std::fflush(stdout);
  if (!o.diagnose) return finite ? 0 : 1;

  // --- Where the time goes -------------------------------------------------------------------
  const int reps = dev.is_cuda() ? 20 : 2;
  const int64_t H = p.hidden_size, heads = p.num_heads, D = p.head_dim(), L = L_img + L_txt;
  std::printf("\nkernel floor: every linear shape and the attention timed alone (random operands)\n");
  std::printf("  %-22s %8s %6s %6s %6s %9s %9s %7s\n", "op", "tokens", "in", "out", "count", "ms each", "ms/step",
              "TFLOP/s");
  double kernel_ms = 0;
  for (const LinearShape& s : linear_shapes(p, 1, L_img, L_txt)) {
    const at::Tensor x = at::randn({s.tokens, s.in}, mo), w = at::randn({s.out, s.in}, mo) * 0.02,
                     b = at::randn({s.out}, mo);
    const double ms = mean_ms([&] { return at::linear(x, w, b); }, reps);
    kernel_ms += ms * static_cast<double>(s.count);
    std::printf("  %-22s %8lld %6lld %6lld %6lld %9.3f %9.2f %7.0f\n", s.what.c_str(), static_cast<long long>(s.tokens),
                static_cast<long long>(s.in), static_cast<long long>(s.out), static_cast<long long>(s.count), ms,
                ms * static_cast<double>(s.count),
                2.0 * static_cast<double>(s.tokens * s.in) * static_cast<double>(s.out) / (ms * 1e-3) / 1e12);
  }
  const at::Tensor q4 = at::randn({1, L, heads, D}, mo), k4 = at::randn({1, L, heads, D}, mo),
                   v4 = at::randn({1, L, heads, D}, mo);
  const at::Tensor qc = q4.transpose(1, 2).contiguous(), kc = k4.transpose(1, 2).contiguous(),
                   vc = v4.transpose(1, 2).contiguous();
  const int64_t n_attn = p.depth + p.depth_single_blocks;
  const double attn_ms = mean_ms([&] { return sdpa(qc, kc, vc); }, reps);
  kernel_ms += attn_ms * static_cast<double>(n_attn);
  std::printf("  %-22s %8lld %6lld %6lld %6lld %9.3f %9.2f %7.0f\n", "attention (sdpa)", static_cast<long long>(L),
              static_cast<long long>(heads), static_cast<long long>(D), static_cast<long long>(n_attn), attn_ms,
              attn_ms * static_cast<double>(n_attn),
              4.0 * static_cast<double>(L) * static_cast<double>(L) * static_cast<double>(H) / (attn_ms * 1e-3) / 1e12);
  std::printf("  %-22s %45.2f ms  (step %.1f ms: %.1f ms, %.0f%% of the step, outside these kernels)\n",
              "sum (kernel floor)", kernel_ms, median, median - kernel_ms, 100 * (median - kernel_ms) / median);

  // One double and one single block: sub-models with random weights, minus the embedders.
  {
    auto time_model = [&](int64_t depth, int64_t single) {
      FluxParams q = p;
      q.depth = depth;
      q.depth_single_blocks = single;
      const pqlab::models::FluxTransformer m(q, random_weights(q, dtype, dev));
      return mean_ms([&] { return m.forward(in); }, reps / 2 + 1);
    };
    const double base = time_model(0, 0), dbl = (time_model(2, 0) - base) / 2, sgl = (time_model(0, 2) - base) / 2;
    auto block_kernels = [&](bool single) {
      double ms = 0;
      for (const LinearShape& s : linear_shapes(p, 1, L_img, L_txt)) {
        const bool is_single = s.what.rfind("single", 0) == 0, is_double = s.what.rfind("double", 0) == 0;
        if (!(single ? is_single : is_double)) continue;
        const at::Tensor x = at::randn({s.tokens, s.in}, mo), w = at::randn({s.out, s.in}, mo) * 0.02,
                         b = at::randn({s.out}, mo);
        const double per_block =
            static_cast<double>(s.count) / static_cast<double>(single ? p.depth_single_blocks : p.depth);
        ms += mean_ms([&] { return at::linear(x, w, b); }, reps) * per_block;
      }
      return ms + attn_ms;
    };
    const double dbl_k = block_kernels(false), sgl_k = block_kernels(true);
    print_rows("blocks (sub-models with 2 blocks of one kind, minus embedders/final layer; few kernels per sync,\n"
               "so host-launch bound and noisy: 3.8 and 6.5 ms for the same single block in two H100 runs)", {
        {"embedders + final layer (ms)", fmt("%.2f", base)},
        {"one double block (ms)", fmt("%.2f", dbl) + "   its matmuls+attention alone: " + fmt("%.2f", dbl_k) +
                                      "  -> other ops " + fmt("%.2f", dbl - dbl_k)},
        {"one single block (ms)", fmt("%.2f", sgl) + "   its matmuls+attention alone: " + fmt("%.2f", sgl_k) +
                                      "  -> other ops " + fmt("%.2f", sgl - sgl_k)},
        {"predicted step = base + depth*double + single*single (ms)",
         fmt("%.1f", base + static_cast<double>(p.depth) * dbl + static_cast<double>(p.depth_single_blocks) * sgl)},
    });
  }

  elementwise_table(p, L, mo, reps, attn_ms);
  return finite ? 0 : 1;
}

// --micro-only: the elementwise table for the --hidden/--heads/... model (FLUX.1-dev by
// default) without loading a checkpoint.
int micro_only(const Options& o) {
  const at::Device dev = o.device == "cuda" ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  at::manual_seed(o.seed);
  const int64_t L = (o.height / 16) * (o.width / 16) + o.txt_len;
  std::printf("flux_step_bench --micro-only: torch %s, device %s, dtype %s, %s\n", TORCH_VERSION, o.device.c_str(),
              o.dtype.c_str(), o.shape.describe().c_str());
  elementwise_table(o.shape, L, at::TensorOptions().device(dev).dtype(parse_dtype(o.dtype)), dev.is_cuda() ? 20 : 2,
                    -1);
  return 0;
}

}  // namespace

// Random prompt embeddings shaped as FLUX.1-dev's (T5 [N, 512, 4096], CLIP [N, 768]) for runs
// that measure time and memory on a random-weight checkpoint (no text encoders here).
int write_random_conditioning(const std::string& path, int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor txt = at::normal(0.0, 0.3, {n, 512, 4096}, gen, at::TensorOptions().dtype(at::kFloat)).to(at::kBFloat16);
  const at::Tensor y = at::normal(0.0, 0.3, {n, 768}, gen, at::TensorOptions().dtype(at::kFloat)).to(at::kBFloat16);
  std::vector<std::string> prompts;
  for (int64_t i = 0; i < n; ++i) prompts.push_back("random prompt " + std::to_string(i));
  pqlab::models::write_flux_conditioning(path, txt, y, prompts, {{"note", "random embeddings for benchmarks"}});
  std::printf("wrote %s: txt [%lld, 512, 4096], y [%lld, 768] bf16\n", path.c_str(), static_cast<long long>(n),
              static_cast<long long>(n));
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc >= 3 && std::string(argv[1]) == "--write-conditioning")
      return write_random_conditioning(argv[2], argc >= 4 ? std::atoll(argv[3]) : 20, 0);
    const Options o = parse(argc, argv);
    if (o.micro_only) return micro_only(o);
    return o.write_random.empty() ? bench(o) : write_random(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flux_step_bench: error: %s\n", e.what());
    return 1;
  }
}
