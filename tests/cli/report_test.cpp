// `pqlab report` end to end: two real runs of a shrunk PermuQuant experiment on the built-in
// Fashion-MNIST FLUX (4 steps, group sizes 16 and 32) laid out as a sweep folder with a
// hand-written manifest.json (and a third task that has no result); the CSV's numbers against the
// result files, byte-identical CSVs for identical results, the plot files with and without
// gnuplot, result files given directly, and the errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "framework/core/paths.h"
#include "framework/experiment/result_paths.h"
#include "framework/io/hdf5_file.h"
#include "tests/common/run_cli.h"

namespace pqlab {
namespace {

namespace rp = result_paths;
using Csv = std::vector<std::map<std::string, std::string>>;

const std::string kAxis = "variants.0.method.weight_format.group_size";
const std::string kActAxis = "variants.0.method.act_format.group_size";

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Our CSV has no quoted fields here (no value holds a comma or a quote).
Csv parse_csv(const std::string& text) {
  std::istringstream is(text);
  std::string line;
  std::vector<std::string> head;
  Csv rows;
  while (std::getline(is, line)) {
    EXPECT_EQ(line.find('"'), std::string::npos) << line;
    std::vector<std::string> f;
    std::istringstream ls(line);
    std::string x;
    while (std::getline(ls, x, ',')) f.push_back(x);
    if (line.back() == ',') f.push_back("");
    if (head.empty()) {
      head = f;
      continue;
    }
    EXPECT_EQ(f.size(), head.size()) << line;
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < head.size() && i < f.size(); ++i) row[head[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

double num(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

std::string manifest(const std::string& sweep_id) {
  std::string tasks;
  const char* groups[] = {"16", "32", "64"};
  for (int i = 0; i < 3; ++i)
    tasks += std::string(i ? ", " : "") + "{\"index\": " + std::to_string(i) + ", \"hash\": \"h" + std::to_string(i) +
             "\", \"dir\": \"" + std::to_string(i) + "-h" + std::to_string(i) + "\", \"result\": \"pq.h5\", \"values\": {\"" +
             kAxis + "\": \"" + groups[i] + "\", \"" + kActAxis + "\": \"" + groups[i] + "\"}}";
  return "{\"format_version\": 1, \"experiment\": \"pq\", \"sweep_id\": \"" + sweep_id + "\", \"source\": \"pq.yaml\",\n"
         " \"axes\": [{\"key\": \"" + kAxis + "\", \"name\": \"group_size\", \"kind\": \"zip\", \"values\": [\"16\", \"32\", \"64\"]},\n"
         "          {\"key\": \"" + kActAxis + "\", \"name\": \"act_group_size\", \"kind\": \"zip\", \"values\": [\"16\", \"32\", \"64\"]}],\n"
         " \"tasks\": [" + tasks + "]}\n";
}

bool gnuplot_installed() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// Two runs laid out as a sweep: <dir>/sw/0-h0/pq.h5 (group size 16), 1-h1 (32); 2-h2 has no result.
void make_sweep(const test::TempDir& dir) {
  const std::string yaml = dir.write(
      "pq.yaml", "include: " + std::string(PQLAB_SOURCE_DIR) + "/configs/models/flux_fmnist.yaml\n"
                 "model: {steps: 4}\n"
                 "data: {eval_samples: 3, layer_samples: 2, batch_size: 3}\n"
                 "calibration: {samples: 2, keep_rows: 8, buckets: [0, 2]}\n"
                 "metrics: [rel_mse]\n"
                 "bootstrap: {resamples: 200}\n"
                 "variants:\n"
                 "  - label: pq\n"
                 "    method:\n"
                 "      name: permuquant\n"
                 "      weight_format: {name: int, bits: 4, group_size: 16}\n"
                 "      act_format: {name: int, bits: 4, group_size: 16}\n"
                 "      ordering: {name: joint_second_moment, alpha: 0.5}\n"
                 "      tau: 0\n"
                 "      only: [\"double.*.attn.*\", \"double.*.mlp.*\", \"single.*.linear1\", \"single.*.linear2\"]\n");
  for (const char* g : {"16", "32"}) {
    const std::string task = std::string(g) == "16" ? "0-h0" : "1-h1";
    const auto r = test::pqlab_cli("run " + yaml + " --quiet --out " + dir.file("sw/" + task) + " --set " + kAxis + "=" + g +
                                       " --set " + kActAxis + "=" + g,
                                   dir);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  dir.write("sw/manifest.json", manifest("first"));
}

void csv_numbers_are_the_result_files_numbers(const test::TempDir& dir) {
  const auto r = test::pqlab_cli("report " + dir.file("sw") + " --out " + dir.file("rep"), dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("pqlab report: note: missing task 2 (group_size=64, act_group_size=64): no result " +
                       dir.file("sw") + "/2-h2/pq.h5\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.rfind("| group_size | act_group_size | velocity ↓ | final_latent ↓ | isolated ↓ | Δ velocity ↓ | accepted |\n", 0), 0u)
      << r.out;
  const Csv csv = parse_csv(read(dir.file("rep/report.csv")));
  ASSERT_EQ(csv.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& row = csv[i];
    EXPECT_EQ(row.at("task"), std::to_string(i));
    EXPECT_EQ(row.at("group_size"), i == 0 ? "16" : "32");
    EXPECT_EQ(row.at("variant"), "pq");
    EXPECT_EQ(row.at("control"), "pq.control");
    const H5Reader h5(dir.file("sw/" + row.at("file")));
    // The run's summary numbers, recomputed here from the datasets.
    const at::Tensor vel = h5.read(rp::variant_tf_velocity_rel_mse("pq"));
    EXPECT_EQ(num(row.at("velocity")), vel.mean().item<double>());
    EXPECT_EQ(num(row.at("velocity_last")), vel.select(1, vel.size(1) - 1).mean().item<double>());
    const at::Tensor lat = h5.read(rp::variant_fr_latent_rel_mse("pq"));
    EXPECT_EQ(num(row.at("final_latent")), lat.select(1, lat.size(1) - 1).mean().item<double>());
    const at::Tensor q = h5.read(rp::variant_quantized("pq")).to(at::kBool);
    EXPECT_EQ(num(row.at("isolated")), h5.read(rp::variant_isolated("pq")).masked_select(q).mean().item<double>());
    EXPECT_EQ(num(row.at("control_velocity")), h5.read(rp::variant_tf_velocity_rel_mse("pq.control")).mean().item<double>());
    std::map<std::string, std::string> paired;
    for (const auto& [k, v] : h5.attrs(rp::variant_paired_number("pq", "velocity"))) paired[k] = v;
    for (const char* k : {"mean", "lo", "hi"})
      EXPECT_EQ(num(row.at(std::string("delta_velocity") + (k == std::string("mean") ? "" : std::string("_") + k))), num(paired.at(k))) << k;
    const at::Tensor accepted = h5.read(rp::variant_permutations("pq") + "/accepted");
    EXPECT_EQ(row.at("accepted"), std::to_string(accepted.sum().item<int64_t>()));
    EXPECT_EQ(row.at("considered"), std::to_string(accepted.numel()));
  }
  const std::string tex = read(dir.file("rep/report.tex"));
  EXPECT_NE(tex.find("\\toprule\ngroup\\_size & act\\_group\\_size & velocity $\\downarrow$"), std::string::npos) << tex;

  // Plots: a step curve per task, velocity against group size, acceptance bars; no heatmap.
  const bool drawn = gnuplot_installed();
  for (const char* name : {"steps_0_pq", "steps_1_pq", "velocity_vs_group_size", "acceptance"}) {
    for (const char* ext : {".gp", ".dat"}) EXPECT_TRUE(is_regular_file(dir.file("rep/plots/") + name + ext)) << name << ext;
    for (const char* ext : {".pdf", ".png"}) EXPECT_EQ(is_regular_file(dir.file("rep/plots/") + name + ext), drawn) << name << ext;
  }
  EXPECT_EQ(list_directory(dir.file("rep/plots")).size(), drawn ? 16u : 8u);
  EXPECT_NE(r.err.find("  velocity_vs_group_size.{gp,dat"), std::string::npos) << r.err;
}

void identical_results_give_byte_identical_csv(const test::TempDir& dir) {
  // A second sweep elsewhere, with another id, holding the same result files.
  for (const char* task : {"0-h0", "1-h1"}) {
    create_directories(dir.file(std::string("sw2/") + task));
    std::ofstream(dir.file(std::string("sw2/") + task + "/pq.h5"), std::ios::binary)
        << read(dir.file(std::string("sw/") + task + "/pq.h5"));
  }
  dir.write("sw2/manifest.json", manifest("second"));
  ASSERT_EQ(test::pqlab_cli("report " + dir.file("sw") + " --out " + dir.file("a"), dir).rc, 0);
  ASSERT_EQ(test::pqlab_cli("report " + dir.file("sw2"), dir).rc, 0);  // default: <sweep>/report
  const std::string a = read(dir.file("a/report.csv")), b = read(dir.file("sw2/report/report.csv"));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
}

void without_gnuplot_scripts_and_data_are_written_with_a_warning(const test::TempDir& dir) {
  const std::string out = dir.file("nognuplot");
  // popen starts /bin/sh by its path and the binary is named by its path, so only gnuplot's
  // lookup sees the empty PATH.
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  const auto r = test::pqlab_cli("report " + dir.file("sw") + " --out " + out, dir);
  setenv("PATH", path.c_str(), 1);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("pqlab report: warning: gnuplot not found in PATH, so no PDF or PNG was drawn; install it (Debian: "
                       "apt-get install gnuplot-nox), then run `gnuplot NAME.gp` in " + out + "/plots\n"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(is_regular_file(out + "/plots/acceptance.gp"));
  EXPECT_TRUE(is_regular_file(out + "/plots/acceptance.dat"));
  EXPECT_FALSE(is_regular_file(out + "/plots/acceptance.pdf"));
}

void result_files_given_directly_make_a_methods_table(const test::TempDir& dir) {
  const std::string a = dir.file("sw/0-h0/pq.h5"), b = dir.file("sw/1-h1/pq.h5");
  const auto r = test::pqlab_cli("report " + a + " " + b + " --rows file,variant --cols velocity,delta_latent --out " +
                                     dir.file("files"),
                                 dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("| file | variant | velocity ↓ | Δ latent ↓ |\n|---|---|---:|---:|\n| " + a + " | pq | ", 0), 0u) << r.out;
  const Csv csv = parse_csv(read(dir.file("files/report.csv")));
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[1].at("file"), b);
  EXPECT_EQ(csv[1].at("task"), "1");
}

void errors(const test::TempDir& dir) {
  auto run = [&](const std::string& args) { return test::pqlab_cli("report " + args, dir); };
  auto r = run(dir.file("nope.h5"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "pqlab report: error: " + dir.file("nope.h5") + ": neither a result file (.h5) nor a sweep folder (with manifest.json)\n");
  r = run(dir.file("sw") + " --cols velocity,final_latnt --out " + dir.file("e"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("pqlab report: error: unknown column 'final_latnt'; did you mean 'final_latent'? (columns: "), std::string::npos) << r.err;
  r = run(dir.file("sw") + " --rows group --out " + dir.file("e"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown row key 'group'"), std::string::npos) << r.err;
  r = run(dir.file("sw") + " --metric velocty --out " + dir.file("e"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown metric 'velocty'; did you mean 'velocity'?"), std::string::npos) << r.err;
  r = run("");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("usage: pqlab report <sweep dir | result.h5 ...>"), std::string::npos) << r.err;
  dir.write("none/manifest.json", "{\"format_version\": 1, \"axes\": [], \"tasks\": [{\"index\": 0, \"dir\": \"0-x\", \"result\": \"e.h5\"}]}");
  r = run(dir.file("none"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("pqlab report: error: no result file found in " + dir.file("none") + "\n"), std::string::npos) << r.err;
}

// One test, so that the two runs (about 10 s on 2 cores) are made once: ctest runs every test
// of a file in a process of its own.
TEST(Report, a_sweep_of_two_runs_end_to_end) {
  test::TempDir dir;
  make_sweep(dir);
  if (HasFatalFailure()) return;
  {
    SCOPED_TRACE("csv numbers");
    csv_numbers_are_the_result_files_numbers(dir);
  }
  {
    SCOPED_TRACE("byte-identical csv");
    identical_results_give_byte_identical_csv(dir);
  }
  {
    SCOPED_TRACE("without gnuplot");
    without_gnuplot_scripts_and_data_are_written_with_a_warning(dir);
  }
  {
    SCOPED_TRACE("result files");
    result_files_given_directly_make_a_methods_table(dir);
  }
  {
    SCOPED_TRACE("errors");
    errors(dir);
  }
}

}  // namespace
}  // namespace pqlab
