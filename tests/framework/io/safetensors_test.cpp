#include "framework/core/paths.h"
#include "framework/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "framework/core/error.h"

namespace pqlab {
namespace {


// A fresh directory per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() : path_(make_temp_directory("pqlab_safetensors_")) {}
  ~ScratchDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  std::vector<std::string> entries() const { return list_directory(path_); }

 private:
  std::string path_;
};

std::string raw_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A safetensors file from a hand-written header and buffer; the header is not padded, so the
// tests control every byte.
std::string make_file(const std::string& header, const std::string& buffer) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + buffer;
}

// Every supported dtype, filled with bit patterns that a value conversion would not preserve:
// NaN payloads, -0, infinities, subnormals, integer extremes.
std::vector<SafetensorsEntry> every_dtype() {
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  const double dnan = std::numeric_limits<double>::quiet_NaN();
  const float finf = std::numeric_limits<float>::infinity();
  std::vector<SafetensorsEntry> v;
  v.push_back({"f64", at::tensor({1.0, -0.0, dnan, 5e-324, -1e308}, at::kDouble).reshape({5, 1}), ""});
  v.push_back({"f32", at::tensor({1.5f, -0.0f, fnan, finf, -finf, 1e-45f}, at::kFloat).reshape({2, 3}), ""});
  // Random 16-bit patterns reinterpreted cover NaNs with payloads and subnormals of both types.
  v.push_back({"f16", at::randint(-32768, 32768, {7, 5}, at::kShort).view(at::kHalf), ""});
  v.push_back({"bf16", at::randint(-32768, 32768, {3, 4, 5}, at::kShort).view(at::kBFloat16), ""});
  v.push_back({"i64", at::tensor({std::numeric_limits<int64_t>::min(), int64_t{-1}, int64_t{0},
                                  std::numeric_limits<int64_t>::max()}, at::kLong), ""});
  v.push_back({"i32", at::tensor({std::numeric_limits<int32_t>::min(), -7, 0,
                                  std::numeric_limits<int32_t>::max()}, at::kInt), ""});
  v.push_back({"i16", at::randint(-32768, 32768, {9}, at::kShort), ""});
  v.push_back({"i8", at::randint(-128, 128, {3, 3}, at::kChar), ""});
  v.push_back({"u8", at::randint(0, 256, {11}, at::kByte), ""});
  v.push_back({"bool", at::tensor({1, 0, 0, 1, 1}, at::kByte).to(at::kBool), ""});
  v.push_back({"fp8", at::randint(0, 256, {4, 4}, at::kByte), "F8_E4M3"});
  v.push_back({"fp8_e5m2", at::randint(0, 256, {2, 2}, at::kByte), "F8_E5M2"});
  v.push_back({"scalar", at::scalar_tensor(3.25, at::kFloat), ""});
  v.push_back({"empty", at::empty({0, 3}, at::kFloat), ""});
  return v;
}

// Checks that `fn` throws RuntimeError whose message names the file and `key`.
template <class Fn>
void expect_runtime_error(Fn fn, const std::string& path, const std::string& key) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one naming '" << key << "'";
  } catch (const RuntimeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
    EXPECT_EQ(e.exit_code(), 1);
  }
}

TEST(safetensors, round_trip_every_dtype_bit_identical) {
  ScratchDir dir;
  const std::string path = dir.file("all.safetensors");
  const auto tensors = every_dtype();
  write_safetensors_entries(path, tensors);

  SafetensorsFile f(path);
  std::vector<std::string> expected_names;
  for (const auto& t : tensors) expected_names.push_back(t.name);
  std::sort(expected_names.begin(), expected_names.end());
  EXPECT_EQ(f.names(), expected_names);

  const std::map<std::string, std::string> disk_dtype = {
      {"f64", "F64"}, {"f32", "F32"}, {"f16", "F16"},     {"bf16", "BF16"},     {"i64", "I64"},
      {"i32", "I32"}, {"i16", "I16"}, {"i8", "I8"},       {"u8", "U8"},         {"bool", "BOOL"},
      {"fp8", "F8_E4M3"}, {"fp8_e5m2", "F8_E5M2"}, {"scalar", "F32"}, {"empty", "F32"}};
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(f.contains(t.name));
    const auto info = f.info(t.name);
    EXPECT_EQ(info.dtype, disk_dtype.at(t.name));
    EXPECT_EQ(info.shape, t.tensor.sizes().vec());
    EXPECT_EQ(info.byte_size, t.tensor.numel() * t.tensor.element_size());
    const at::Tensor back = f.get(t.name);
    EXPECT_EQ(back.scalar_type(), t.tensor.scalar_type());
    EXPECT_EQ(info.scalar_type, t.tensor.scalar_type());
    EXPECT_EQ(back.sizes(), t.tensor.sizes());
    EXPECT_TRUE(back.device().is_cpu());
    EXPECT_EQ(raw_bytes(back), raw_bytes(t.tensor));
  }
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_FALSE(f.contains("missing"));
}

TEST(safetensors, writer_accepts_non_contiguous_tensors) {
  ScratchDir dir;
  const std::string path = dir.file("t.safetensors");
  const at::Tensor base = at::arange(12, at::kFloat).reshape({3, 4});
  write_safetensors(path, {{"t", base.t()}, {"slice", base.select(1, 2)}});
  SafetensorsFile f(path);
  EXPECT_TRUE(at::equal(f.get("t"), base.t()));
  EXPECT_TRUE(at::equal(f.get("slice"), base.select(1, 2)));
}

TEST(safetensors, metadata_round_trip) {
  ScratchDir dir;
  const std::string path = dir.file("m.safetensors");
  const std::map<std::string, std::string> meta = {
      {"format", "bfl"}, {"note", "héllo \"quoted\" \\ back\nslash"}, {"empty", ""}};
  write_safetensors(path, {{"x", at::ones({2}, at::kFloat)}}, meta);
  EXPECT_EQ(SafetensorsFile(path).metadata(), meta);
}

TEST(safetensors, writer_pads_header_and_aligns_every_tensor) {
  ScratchDir dir;
  const std::string path = dir.file("a.safetensors");
  // Odd-sized 1- and 2-byte tensors before wider ones would misalign them without reordering.
  write_safetensors(path, {{"a_u8", at::zeros({3}, at::kByte)},
                           {"b_f16", at::zeros({1}, at::kHalf)},
                           {"c_f64", at::ones({5}, at::kDouble)},
                           {"d_f32", at::ones({3}, at::kFloat)}},
                    {{"k", "v"}});
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ(bytes.find_last_not_of(' ', 8 + n - 1), bytes.rfind('}', 8 + n - 1));
  SafetensorsFile f(path);
  for (const std::string& name : f.names()) {
    const at::Tensor t = f.get(name);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % t.element_size(), 0u) << name;
  }
}

// Whether `p` lies in a mapping of `file` according to /proc/self/maps.
bool mapped_from(const void* p, const std::string& file) {
  const std::string target = path_canonical(file);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    if (line.size() < target.size() || line.compare(line.size() - target.size(), target.size(), target) != 0) {
      continue;
    }
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && lo <= addr && addr < hi) return true;
  }
  return false;
}

bool file_is_mapped(const std::string& file) {
  const std::string target = path_canonical(file);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(target) != std::string::npos) return true;
  }
  return false;
}

TEST(safetensors, get_is_zero_copy_and_outlives_the_file_object) {
  ScratchDir dir;
  const std::string path = dir.file("z.safetensors");
  const at::Tensor w = at::randn({64, 32}, at::kFloat);
  write_safetensors(path, {{"w", w}});

  at::Tensor kept;
  {
    SafetensorsFile f(path);
    const at::Tensor a = f.get("w");
    EXPECT_TRUE(mapped_from(a.data_ptr(), path));
    EXPECT_EQ(f.get("w").data_ptr(), a.data_ptr());  // no copy per call either
    kept = a;
  }
  // The file object is gone; the tensor keeps the mapping alive.
  ASSERT_TRUE(file_is_mapped(path));
  EXPECT_TRUE(mapped_from(kept.data_ptr(), path));
  EXPECT_TRUE(at::equal(kept, w));
  kept = at::Tensor();
  EXPECT_FALSE(file_is_mapped(path));  // the last tensor unmapped it
}

TEST(safetensors, in_place_edits_never_reach_the_file) {
  ScratchDir dir;
  const std::string path = dir.file("cow.safetensors");
  write_safetensors(path, {{"w", at::ones({16}, at::kFloat)}});
  const std::string before = read_file(path);
  {
    SafetensorsFile f(path);
    at::Tensor t = f.get("w");
    t.mul_(3);  // must neither crash (read-only page) nor write through
    EXPECT_EQ(t[0].item<float>(), 3.0f);
  }
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(SafetensorsFile(path).get("w")[0].item<float>(), 1.0f);
}

TEST(safetensors, misaligned_data_is_copied_with_correct_values) {
  ScratchDir dir;
  const std::string path = dir.file("mis.safetensors");
  // 8-byte header ({...} padded to 64) + u8 at [0,1) puts the F32 at an odd address.
  std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const float vals[2] = {1.25f, -7.5f};
  write_file(path, make_file(header, std::string("\x2a", 1) +
                                         std::string(reinterpret_cast<const char*>(vals), 8)));
  SafetensorsFile f(path);
  const at::Tensor b = f.get("b");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) % 4, 0u);
  EXPECT_EQ(b[0].item<float>(), 1.25f);
  EXPECT_EQ(b[1].item<float>(), -7.5f);
  EXPECT_EQ(f.get("a")[0].item<uint8_t>(), 42);
}

TEST(safetensors, reads_golden_flux_tiny_checkpoint) {
  const std::string path = std::string(PQLAB_TEST_DATA_DIR) + "/flux_tiny_a/fp32/weights_bfl.safetensors";
  ASSERT_TRUE(path_exists(path)) << "golden file missing: " << path;
  const auto reader = open_safetensors(path);
  EXPECT_EQ(reader->metadata().at("format"), "bfl");
  const std::string name = "double_blocks.0.img_attn.qkv.weight";
  ASSERT_TRUE(reader->contains(name));
  const auto info = reader->info(name);
  EXPECT_EQ(info.dtype, "F32");
  EXPECT_EQ(info.shape, (std::vector<int64_t>{384, 128}));
  const at::Tensor w = reader->get(name);
  EXPECT_EQ(w.sizes(), (at::IntArrayRef{384, 128}));
  EXPECT_TRUE(at::isfinite(w).all().item<bool>());
  EXPECT_GT(w.abs().sum().item<double>(), 0.0);
  const auto names = reader->names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(safetensors, open_errors_name_the_file) {
  ScratchDir dir;
  const std::string path = dir.file("nope.safetensors");
  expect_runtime_error([&] { SafetensorsFile f(path); }, path, "cannot open");
  expect_runtime_error([&] { SafetensorsFile f(dir.file("")); }, dir.file(""), "not a regular file");
}

TEST(safetensors, missing_tensor_is_runtime_error_with_suggestion) {
  ScratchDir dir;
  const std::string path = dir.file("s.safetensors");
  write_safetensors(path, {{"blocks.0.weight", at::ones({1})}});
  SafetensorsFile f(path);
  expect_runtime_error([&] { f.get("blocks.0.weigth"); }, path, "blocks.0.weigth");
  try {
    f.info("blocks.0.weigth");
    ADD_FAILURE() << "info() of a missing tensor did not throw";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'blocks.0.weight'"), std::string::npos);
  }
}

struct CorruptCase {
  const char* label;
  std::string bytes;
  const char* key;  // must appear in the message
};

std::vector<CorruptCase> corrupt_cases() {
  const std::string buf16(16, '\0');
  auto entry = [](const std::string& name, const std::string& body) {
    return "\"" + name + "\":" + body;
  };
  std::vector<CorruptCase> v;
  v.push_back({"truncated", std::string("\x10\x00\x00", 3), "header length"});
  v.push_back({"empty file", "", "header length"});
  {
    std::string b = make_file("{}", "");
    const uint64_t n = 1000;
    std::memcpy(b.data(), &n, 8);
    v.push_back({"header past EOF", b, "header length"});
  }
  {
    std::string b = make_file("{}", std::string(64, ' '));
    const uint64_t n = 200'000'000;
    std::memcpy(b.data(), &n, 8);
    v.push_back({"absurd header", b, "header length"});
  }
  v.push_back({"bad json", make_file(R"({"w": {"dtype": "F32", )", buf16), "header JSON"});
  v.push_back({"json not object", make_file("[1, 2]", buf16), "header JSON"});
  v.push_back({"entry not object", make_file("{" + entry("w", "5") + "}", buf16), "'w'"});
  v.push_back({"unknown dtype",
               make_file("{" + entry("w", R"({"dtype":"F33","shape":[4],"data_offsets":[0,16]})") + "}", buf16),
               "F33"});
  v.push_back({"unknown dtype names tensor",
               make_file("{" + entry("w", R"({"dtype":"F33","shape":[4],"data_offsets":[0,16]})") + "}", buf16),
               "'w'"});
  v.push_back({"negative shape",
               make_file("{" + entry("neg", R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})") + "}", buf16),
               "'neg'"});
  v.push_back({"fractional shape",
               make_file("{" + entry("frac", R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,16]})") + "}", buf16),
               "'frac'"});
  v.push_back({"offsets past buffer",
               make_file("{" + entry("far", R"({"dtype":"F32","shape":[16],"data_offsets":[0,64]})") + "}", buf16),
               "'far'"});
  v.push_back({"end before begin",
               make_file("{" + entry("rev", R"({"dtype":"F32","shape":[2],"data_offsets":[16,8]})") + "}", buf16),
               "'rev'"});
  v.push_back({"overlap",
               make_file("{" + entry("a", R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})") + "," +
                             entry("b", R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})") + "}",
                         buf16),
               "'b'"});
  v.push_back({"size mismatch",
               make_file("{" + entry("short", R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})") + "}", buf16),
               "'short'"});
  v.push_back({"shape overflow",
               make_file("{" + entry("huge", R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,16]})") + "}", buf16),
               "'huge'"});
  v.push_back({"missing offsets",
               make_file("{" + entry("nooff", R"({"dtype":"F32","shape":[4]})") + "}", buf16), "'nooff'"});
  v.push_back({"metadata not string",
               make_file(R"({"__metadata__":{"format":1}})", ""), "__metadata__.format"});
  v.push_back({"duplicate key",
               make_file("{" + entry("dup", R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})") + "," +
                             entry("dup", R"({"dtype":"U8","shape":[1],"data_offsets":[1,2]})") + "}",
                         buf16),
               "'dup'"});
  return v;
}

TEST(safetensors, corrupt_headers_are_runtime_errors_naming_file_and_key) {
  ScratchDir dir;
  int i = 0;
  for (const CorruptCase& c : corrupt_cases()) {
    SCOPED_TRACE(c.label);
    const std::string path = dir.file("bad" + std::to_string(i++) + ".safetensors");
    write_file(path, c.bytes);
    expect_runtime_error([&] { SafetensorsFile f(path); }, path, c.key);
  }
}

// Exact message of the RuntimeError `fn` throws.
template <class Fn>
std::string runtime_error_text(Fn fn) {
  try {
    fn();
  } catch (const RuntimeError& e) {
    return e.what();
  }
  return "(no RuntimeError)";
}

// issue 8: 100,000 nested arrays (a 200 KB header) used to parse, then overflow the stack in the
// dump() of the error path. The nesting is refused before parsing, wherever it occurs.
TEST(safetensors, issue_8_deeply_nested_header_is_refused_before_parsing) {
  ScratchDir dir;
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string path = dir.file("deep.safetensors");
  write_file(path, make_file("{\"w\":" + deep + "}", ""));
  EXPECT_EQ(runtime_error_text([&] { SafetensorsFile f(path); }),
            path + ": invalid safetensors header: 'header JSON': arrays and objects nest deeper than 64 levels "
                   "(at byte 68)");
  // Inside metadata, and as a shape: the same error, at the first level too many.
  write_file(path, make_file(R"({"__metadata__":{"a":)" + deep + "}}", ""));
  EXPECT_EQ(runtime_error_text([&] { SafetensorsFile f(path); }),
            path + ": invalid safetensors header: 'header JSON': arrays and objects nest deeper than 64 levels "
                   "(at byte 83)");
  // Brackets inside strings (escaped quotes included) are text, not nesting.
  const std::string name = "w\\\"" + std::string(1000, '[');
  write_file(path, make_file("{\"" + name + R"(":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"));
  SafetensorsFile ok(path);
  EXPECT_EQ(ok.names(), std::vector<std::string>{"w\"" + std::string(1000, '[')});
  // 64 levels are allowed: the root, the entry and 62 levels of a (wrong) shape.
  const std::string shape = std::string(62, '[') + std::string(62, ']');
  write_file(path, make_file(R"({"w":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,1]}})", "x"));
  EXPECT_EQ(runtime_error_text([&] { SafetensorsFile f(path); }),
            path + ": invalid safetensors header: 'w': shape " + shape + " must hold non-negative integers");
}

// issue 8: offending values are quoted in at most 200 characters, however large.
TEST(safetensors, issue_8_offending_values_are_quoted_in_bounded_length) {
  ScratchDir dir;
  const std::string path = dir.file("long.safetensors");
  std::string shape = "[";
  for (int i = 0; i < 100'000; ++i) shape += (i ? ",-1" : "-1");
  shape += "]";
  write_file(path, make_file(R"({"w":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,1]}})", "x"));
  EXPECT_EQ(runtime_error_text([&] { SafetensorsFile f(path); }),
            path + ": invalid safetensors header: 'w': shape " + shape.substr(0, 200) +
                "... must hold non-negative integers");
  // The entry itself, and a tensor name of 100,000 characters.
  const std::string long_name(100'000, 'n');
  write_file(path, make_file("{\"" + long_name + "\":\"" + std::string(100'000, 'v') + "\"}", ""));
  EXPECT_EQ(runtime_error_text([&] { SafetensorsFile f(path); }),
            path + ": invalid safetensors header: '" + std::string(200, 'n') + "...': entry is not an object: \"" +
                std::string(199, 'v') + "...");
}

TEST(safetensors, hand_written_valid_file_with_gaps_and_empty_tensors_reads) {
  // Not everything valid comes from our writer: unpadded header, a gap, a zero-byte tensor.
  ScratchDir dir;
  const std::string path = dir.file("ok.safetensors");
  const int32_t vals[2] = {7, -9};
  write_file(path, make_file(R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[4,4]},)"
                             R"("x":{"dtype":"I32","shape":[2],"data_offsets":[8,16]}})",
                             std::string(8, '\0') + std::string(reinterpret_cast<const char*>(vals), 8)));
  SafetensorsFile f(path);
  EXPECT_EQ(f.get("e").sizes(), (at::IntArrayRef{0, 4}));
  EXPECT_TRUE(at::equal(f.get("x"), at::tensor({7, -9}, at::kInt)));
}

// Checks that `fn` throws UsageError whose message contains `needle`.
template <class Fn>
void expect_usage_error(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one naming '" << needle << "'";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(safetensors, writer_rejects_bad_requests_with_usage_error) {
  ScratchDir dir;
  const std::string path = dir.file("w.safetensors");
  const at::Tensor x = at::ones({2});
  expect_usage_error([&] { write_safetensors(path, {{"twice", x}, {"other", x}, {"twice", x}}); },
                     "'twice'");
  expect_usage_error([&] { write_safetensors(path, {{"cplx", at::ones({2}, at::kComplexFloat)}}); },
                     "'cplx'");
  expect_usage_error([&] { write_safetensors(path, {{"__metadata__", x}}); }, "__metadata__");
  expect_usage_error([&] { write_safetensors_entries(path, {{"f8", x, "F8_E4M3"}}); }, "'f8'");
  expect_usage_error([&] { write_safetensors_entries(path, {{"bogus", x, "F17"}}); }, "'bogus'");
  EXPECT_TRUE(dir.entries().empty());  // nothing, not even a temporary, was left behind
}

TEST(safetensors, writer_replaces_atomically_and_leaves_no_temporary) {
  ScratchDir dir;
  const std::string path = dir.file("r.safetensors");
  write_safetensors(path, {{"v", at::full({3}, 1.0f)}});
  write_safetensors(path, {{"v", at::full({4}, 2.0f)}, {"w", at::zeros({1})}});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"r.safetensors"});
  SafetensorsFile f(path);
  EXPECT_TRUE(at::equal(f.get("v"), at::full({4}, 2.0f)));
  EXPECT_TRUE(f.contains("w"));
}

TEST(safetensors, writer_reports_unwritable_destination) {
  ScratchDir dir;
  const std::string path = dir.file("no_such_dir/x.safetensors");
  expect_runtime_error([&] { write_safetensors(path, {{"v", at::ones({1})}}); }, path, "cannot create");
}

}  // namespace
}  // namespace pqlab
