#include "framework/io/hdf5_file.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "framework/core/error.h"
#include "framework/core/partial_files.h"
#include "framework/core/paths.h"

namespace pqlab {
namespace {


class ScratchDir {
 public:
  ScratchDir() : path_(make_temp_directory("pqlab_hdf5_")) {}
  ~ScratchDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_join(path_, name); }
  std::vector<std::string> entries() const { return list_directory(path_); }

 private:
  std::string path_;
};

template <class Fn>
void expect_runtime_error(Fn fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeError& e) {
    for (const std::string& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << "\nmissing: " << n;
    }
  }
}

template <class Fn>
void expect_usage_error(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::map<std::string, std::string> attr_map(const H5Reader& r, const std::string& object) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : r.attrs(object)) m[k] = v;
  return m;
}

TEST(hdf5_file, round_trip_datasets_strings_and_attributes) {
  ScratchDir dir;
  const std::string path = dir.file("result.h5");
  const at::Tensor f32 = at::randn({3, 4}, at::kFloat);
  const at::Tensor f64 = at::tensor({1.0, -0.0, 1e-300, std::numeric_limits<double>::infinity()},
                                    at::kDouble);
  const at::Tensor i32 = at::tensor({std::numeric_limits<int32_t>::min(), 0, 5}, at::kInt);
  const at::Tensor i64 = at::tensor({std::numeric_limits<int64_t>::max(), int64_t{-3}}, at::kLong);
  const at::Tensor u8 = at::randint(0, 256, {2, 2, 2}, at::kByte);
  const at::Tensor b = at::tensor({1, 0, 1}, at::kByte).to(at::kBool);
  const at::Tensor i8 = at::tensor({-128, 127}, at::kChar);
  const at::Tensor i16 = at::tensor({-32768, 32767}, at::kShort);
  const at::Tensor bf16 = at::randn({5}, at::kFloat).to(at::kBFloat16);
  const at::Tensor f16 = at::randn({5}, at::kFloat).to(at::kHalf);
  const at::Tensor strided = at::arange(12, at::kLong).reshape({3, 4}).t();
  const std::vector<std::string> prompts = {"a cat", "", "ünïcödé ✓", "a much longer prompt, with commas"};
  {
    H5Writer w(path);
    w.create_group("/layers");
    w.create_group("/layers");  // idempotent
    w.write("/layers/block.0/f32", f32);
    w.write("layers/block.0/f64", f64);  // leading '/' optional
    w.write("/ints/i32", i32);
    w.write("/ints/i64", i64);
    w.write("/ints/i8", i8);
    w.write("/ints/i16", i16);
    w.write("/ints/u8", u8);
    w.write("/ints/bool", b);
    w.write("/half/bf16", bf16);
    w.write("/half/f16", f16);
    w.write("/strided", strided);
    w.write("/scalar", at::scalar_tensor(2.5, at::kDouble));
    w.write("/empty", at::empty({0, 7}, at::kFloat));
    w.write_strings("/prompts", prompts);
    w.write_strings("/no_prompts", {});
    w.set_attr("/", "pqlab_version", "0.1.0");
    w.set_attr("/", "seed", int64_t{1234});
    w.set_attr("/", "count", 7);  // int goes to int64
    w.set_attr("/", "fid", 12.375);
    w.set_attr("/", "third", 1.0 / 3.0);
    w.set_attr("/", "whole", 2.0);
    w.set_attr("/", "scales", std::vector<double>{0.5, -1.0, 1e-10});
    w.set_attr("/", "no_scales", std::vector<double>{});
    w.set_attr("/layers/block.0", "bits", 4);
    w.set_attr("/layers/block.0/f32", "units", "mse");  // on a dataset
    w.set_attr("/layers/block.0/f32", "units", "rmse");  // replaced, not duplicated
    w.set_attr("/meta/config", "yaml", "model: toy\nbits: 4\n");  // creates the group
    w.commit();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"result.h5"});

  H5Reader r(path);
  std::vector<std::string> paths;
  std::map<std::string, H5Reader::Entry> by_path;
  for (const auto& e : r.list()) {
    paths.push_back(e.path);
    by_path[e.path] = e;
  }
  const std::vector<std::string> expected = {
      "/empty",      "/half",          "/half/bf16",        "/half/f16",
      "/ints",       "/ints/bool",     "/ints/i16",         "/ints/i32",
      "/ints/i64",   "/ints/i8",       "/ints/u8",          "/layers",
      "/layers/block.0", "/layers/block.0/f32", "/layers/block.0/f64", "/meta",
      "/meta/config", "/no_prompts",   "/prompts",          "/scalar",
      "/strided"};
  EXPECT_EQ(paths, expected);
  EXPECT_TRUE(by_path["/layers/block.0"].is_group);
  EXPECT_FALSE(by_path["/layers/block.0/f32"].is_group);
  EXPECT_EQ(by_path["/layers/block.0/f32"].shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(by_path["/layers/block.0/f32"].dtype, "float32");
  EXPECT_EQ(by_path["/layers/block.0/f64"].dtype, "float64");
  EXPECT_EQ(by_path["/ints/i8"].dtype, "int8");
  EXPECT_EQ(by_path["/ints/i16"].dtype, "int16");
  EXPECT_EQ(by_path["/ints/i32"].dtype, "int32");
  EXPECT_EQ(by_path["/ints/i64"].dtype, "int64");
  EXPECT_EQ(by_path["/ints/u8"].dtype, "uint8");
  EXPECT_EQ(by_path["/ints/bool"].dtype, "uint8");
  EXPECT_EQ(by_path["/half/bf16"].dtype, "float32");
  EXPECT_EQ(by_path["/prompts"].dtype, "string");
  EXPECT_EQ(by_path["/prompts"].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(by_path["/scalar"].shape, std::vector<int64_t>{});
  EXPECT_EQ(by_path["/empty"].shape, (std::vector<int64_t>{0, 7}));
  EXPECT_EQ(by_path["/strided"].shape, (std::vector<int64_t>{4, 3}));

  auto expect_same = [&](const std::string& p, const at::Tensor& want, at::ScalarType as) {
    SCOPED_TRACE(p);
    const at::Tensor got = r.read(p);
    EXPECT_EQ(got.scalar_type(), as);
    EXPECT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(at::equal(got, want.to(as))) << got << "\nvs\n" << want;
  };
  expect_same("/layers/block.0/f32", f32, at::kDouble);
  expect_same("/layers/block.0/f64", f64, at::kDouble);
  expect_same("/ints/i32", i32, at::kLong);
  expect_same("/ints/i64", i64, at::kLong);
  expect_same("/ints/i8", i8, at::kLong);
  expect_same("/ints/i16", i16, at::kLong);
  expect_same("/ints/u8", u8, at::kLong);
  expect_same("/ints/bool", b, at::kLong);
  expect_same("/half/bf16", bf16, at::kDouble);  // widening is exact
  expect_same("/half/f16", f16, at::kDouble);
  expect_same("/strided", strided, at::kLong);
  EXPECT_EQ(r.read("/scalar").dim(), 0);
  EXPECT_EQ(r.read("/scalar").item<double>(), 2.5);
  EXPECT_EQ(r.read("/empty").sizes(), (at::IntArrayRef{0, 7}));

  EXPECT_EQ(r.read_strings("/prompts"), prompts);
  EXPECT_TRUE(r.read_strings("/no_prompts").empty());

  const auto root = attr_map(r, "/");
  EXPECT_EQ(root.at("pqlab_version"), "0.1.0");
  EXPECT_EQ(root.at("seed"), "1234");
  EXPECT_EQ(root.at("count"), "7");
  EXPECT_EQ(root.at("fid"), "12.375");
  EXPECT_EQ(std::stod(root.at("third")), 1.0 / 3.0);  // shortest round-trip text
  EXPECT_EQ(root.at("third"), "0.3333333333333333");
  EXPECT_EQ(root.at("whole"), "2.0");
  EXPECT_EQ(root.at("scales"), "[0.5, -1.0, 1e-10]");
  EXPECT_EQ(root.at("no_scales"), "[]");
  const auto attrs = r.attrs("/");
  EXPECT_TRUE(std::is_sorted(attrs.begin(), attrs.end()));
  EXPECT_EQ(attr_map(r, "/layers/block.0").at("bits"), "4");
  const auto ds_attrs = r.attrs("/layers/block.0/f32");
  ASSERT_EQ(ds_attrs.size(), 1u);
  EXPECT_EQ(ds_attrs[0], (std::pair<std::string, std::string>{"units", "rmse"}));
  EXPECT_EQ(attr_map(r, "meta/config").at("yaml"), "model: toy\nbits: 4\n");

  EXPECT_TRUE(r.exists("/"));
  EXPECT_TRUE(r.exists("/layers/block.0/f32"));
  EXPECT_TRUE(r.exists("layers/block.0"));
  EXPECT_FALSE(r.exists("/layers/block.1"));
  EXPECT_FALSE(r.exists("/nope/deeper/still"));
  EXPECT_FALSE(r.exists("/scalar/child"));  // a dataset has no children
}

TEST(hdf5_file, nothing_exists_at_final_path_before_commit) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  H5Writer w(path);
  w.write("/x", at::ones({2}));
  EXPECT_EQ(w.partial_path(), path + ".partial-" + partial_file_tag());
  EXPECT_FALSE(path_exists(path));
  EXPECT_TRUE(path_exists(w.partial_path()));
  w.commit();
  EXPECT_TRUE(path_exists(path));
  EXPECT_FALSE(path_exists(w.partial_path()));
  expect_usage_error([&] { w.write("/y", at::ones({2})); }, "committed");
  expect_usage_error([&] { w.commit(); }, "committed");
}

TEST(hdf5_file, destructor_without_commit_leaves_nothing) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  {
    H5Writer w(path);
    w.write("/x", at::ones({1000}));
    w.set_attr("/", "a", "b");
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(hdf5_file, exception_mid_write_leaves_nothing) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  try {
    H5Writer w(path);
    w.write("/x", at::ones({4}));
    throw std::runtime_error("metric failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(hdf5_file, killed_writer_never_produces_the_final_file) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child dies without unwinding, as under SIGKILL: no destructor, no commit.
    H5Writer w(path);
    w.write("/x", at::ones({4}));
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(path_exists(path));
  // Only the recognisable partial file can remain.
  for (const std::string& name : dir.entries()) {
    const std::string host = partial_file_tag().substr(0, partial_file_tag().rfind('-'));
    EXPECT_EQ(name, "r.h5.partial-" + host + "-" + std::to_string(child));
  }
}

TEST(hdf5_file, commit_replaces_an_existing_result) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  {
    H5Writer w(path);
    w.set_attr("/", "run", int64_t{1});
    w.commit();
  }
  {
    H5Writer w(path);
    w.set_attr("/", "run", int64_t{2});
    // Until commit, readers still see the old, complete file.
    EXPECT_EQ(attr_map(H5Reader(path), "/").at("run"), "1");
    w.commit();
  }
  EXPECT_EQ(attr_map(H5Reader(path), "/").at("run"), "2");
}

TEST(hdf5_file, writer_rejects_bad_requests) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  H5Writer w(path);
  w.write("/x", at::ones({2}));
  expect_usage_error([&] { w.write("/x", at::ones({2})); }, "'/x'");
  expect_usage_error([&] { w.write_strings("/x", {"a"}); }, "'/x'");
  expect_usage_error([&] { w.write("/c", at::ones({2}, at::kComplexFloat)); }, "'/c'");
  expect_usage_error([&] { w.create_group("/x"); }, "'/x'");
  expect_usage_error([&] { w.write("/x/under", at::ones({1})); }, "'/x'");
  expect_usage_error([&] { w.write("/", at::ones({1})); }, "'/'");
}

TEST(hdf5_file, writer_reports_uncreatable_file) {
  ScratchDir dir;
  const std::string path = dir.file("missing_dir/r.h5");
  expect_runtime_error([&] { H5Writer w(path); }, {path});
}

TEST(hdf5_file, reader_errors_name_file_and_object) {
  ScratchDir dir;
  const std::string missing = dir.file("missing.h5");
  expect_runtime_error([&] { H5Reader r(missing); }, {missing});

  const std::string text = dir.file("text.h5");
  std::ofstream(text) << "this is not HDF5\n";
  expect_runtime_error([&] { H5Reader r(text); }, {text, "HDF5"});

  const std::string path = dir.file("r.h5");
  {
    H5Writer w(path);
    w.write("/g/x", at::ones({2}));
    w.write_strings("/names", {"a"});
    w.commit();
  }
  H5Reader r(path);
  expect_runtime_error([&] { r.read("/g/y"); }, {path, "/g/y"});
  expect_runtime_error([&] { r.read("/nope/deeper"); }, {path, "/nope/deeper"});
  expect_runtime_error([&] { r.read("/g"); }, {path, "/g", "not a dataset"});
  expect_runtime_error([&] { r.read("/names"); }, {path, "/names", "not numeric"});
  expect_runtime_error([&] { r.read_strings("/g/x"); }, {path, "/g/x"});
  expect_runtime_error([&] { r.read_strings("/missing"); }, {path, "/missing"});
  expect_runtime_error([&] { r.attrs("/missing"); }, {path, "/missing"});
}

TEST(hdf5_file, moved_writer_commits_once) {
  ScratchDir dir;
  const std::string path = dir.file("r.h5");
  H5Writer a(path);
  a.write("/x", at::ones({1}));
  H5Writer b(std::move(a));
  expect_usage_error([&] { a.write("/y", at::ones({1})); }, "moved");
  b.commit();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"r.h5"});
  EXPECT_TRUE(H5Reader(path).exists("/x"));
}

}  // namespace
}  // namespace pqlab
