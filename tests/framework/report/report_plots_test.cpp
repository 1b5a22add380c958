// The figures of `pqlab report` (framework/report/report_plots.h) on hand-built records: which
// kinds are drawn for which axes, the exact data files, the scripts' key lines, the caps, and
// (where gnuplot is installed) that the scripts render to PDF and PNG.
#include "framework/report/report_plots.h"

#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>

#include "framework/core/paths.h"
#include "framework/report/report_tables.h"
#include "tests/common/temp_dir.h"
#include "tests/framework/report/report_fixture.h"

namespace pqlab {
namespace {

using namespace report;

std::vector<std::string> names_of(const std::vector<Plot>& plots) {
  std::vector<std::string> v;
  for (const Plot& p : plots) v.push_back(p.name);
  return v;
}

// By value: a reference into `plots` reads to gcc 13 as one into the temporary name string.
Plot named(const std::vector<Plot>& plots, const std::string& name) {
  for (const Plot& p : plots)
    if (p.name == name) return p;
  throw std::runtime_error("no plot " + name);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A 2 x 2 x 2 sweep over alpha, tau and group size; velocity = 10 alpha + tau + group size / 1000.
ReportData ablation() {
  ReportData d;
  d.axes = {{"variants.0.method.ordering.alpha", "alpha"}, {"variants.0.method.tau", "tau"}, {"variants.0.method.weight_format.group_size", "gs"}};
  int64_t index = 0;
  for (const char* a : {"0.5", "0.25"})
    for (const char* t : {"0", "0.1"})
      for (const char* g : {"32", "64"}) {
        ResultRecord r;
        r.index = index++;
        r.path = std::to_string(r.index) + "/x.h5";
        r.axis_values = {{"alpha", a}, {"tau", t}, {"gs", g}};
        r.variants.push_back(test::variant("pq", "", 10 * std::stod(a) + std::stod(t) + std::stod(g) / 1000, 1, 1, 1));
        d.results.push_back(r);
      }
  return d;
}

TEST(report_plots, a_group_size_sweep_gets_step_curves_error_vs_group_size_and_acceptance) {
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(test::sweep_fixture(), "velocity", notes);
  EXPECT_EQ(names_of(plots), (std::vector<std::string>{"steps_0_pq", "steps_1_pq", "steps_2_pq", "velocity_vs_group_size", "acceptance"}));
  EXPECT_TRUE(notes.empty());

  // Per step: control, variant, and the band control + [step_lo, step_hi].
  const Plot& steps = named(plots, "steps_0_pq");
  EXPECT_EQ(steps.data,
            "# step, control, variant, control + interval lo, control + interval hi (teacher-forced velocity relative MSE)\n"
            "0 0.26000000000000001 0.25 0.24000000000000002 0.26000000000000001\n"
            "1 0.77000000000000002 0.75 0.72999999999999998 0.78000000000000003\n");
  EXPECT_TRUE(has(steps.script, "plot 'steps_0_pq.dat' using 1:4:5 with filledcurves lc rgb '#1f77b4' title "
                                "'control + 95% interval of the difference'")) << steps.script;
  EXPECT_TRUE(has(steps.script, "set title 'pq and its control pq.control (group_size=16)'\n")) << steps.script;
  EXPECT_TRUE(has(steps.script, "set logscale y\n"));
  EXPECT_TRUE(has(steps.script, "set terminal pdfcairo noenhanced")) << steps.script;
  EXPECT_TRUE(has(steps.script, "set output 'steps_0_pq.png'\nreplot\n")) << steps.script;

  const Plot& gs = named(plots, "velocity_vs_group_size");
  EXPECT_EQ(gs.data,
            "# group_size (or its position), velocity mean, lo, hi, group_size; one block per line\n"
            "# pq\n"
            "16 0.5 0.5 0.5 \"16\"\n"
            "32 0.25 0.25 0.25 \"32\"\n"
            "64 0.125 0.125 0.125 \"64\"\n");
  EXPECT_TRUE(has(gs.script, "set logscale x 2\nset xtics (16, 32, 64)\n")) << gs.script;
  EXPECT_TRUE(has(gs.script, "plot 'velocity_vs_group_size.dat' index 0 using 1:2 with linespoints pt 7 title 'pq'\n")) << gs.script;
  EXPECT_TRUE(has(gs.script, "set ylabel 'velocity relative MSE (teacher-forced)'\n")) << gs.script;

  const Plot& acc = named(plots, "acceptance");
  EXPECT_EQ(acc.data,
            "# site kind, then per variant the accepted fraction (NaN: no such site); counts in the comments\n"
            "# column 2: group_size=16\n"
            "\"norm_out\" 0.75  # 3/4\n"
            "\"v_out\" 0.5  # 1/2\n");
  EXPECT_TRUE(has(acc.script, "plot 'acceptance.dat' using 2:xtic(1) lc rgb '#a6cee3' title 'group_size=16'")) << acc.script;
}

TEST(report_plots, an_axis_zipped_with_the_group_size_does_not_split_the_line) {
  ReportData d = test::sweep_fixture();
  d.axes.push_back({"variants.0.method.act_format.group_size", "act_group_size"});
  for (auto& r : d.results) r.axis_values["act_group_size"] = r.axis_values["group_size"];
  d.results.push_back(d.results[0]);  // a repeat of task 0 with another activation group size
  d.results.back().axis_values["act_group_size"] = "64";
  std::vector<std::string> notes;
  const std::vector<Plot> split = make_plots(d, "velocity", notes);
  const Plot& gs = named(split, "velocity_vs_group_size");
  EXPECT_EQ(gs.what, "velocity against group_size, one line per act_group_size");
  d.results.pop_back();
  const std::vector<Plot> one = make_plots(d, "velocity", notes);
  const Plot& zipped = named(one, "velocity_vs_group_size");
  EXPECT_EQ(zipped.what, "velocity against group_size, one line per variant");
  EXPECT_TRUE(has(zipped.data, "# pq\n16 0.5 0.5 0.5 \"16\"\n32 ")) << zipped.data;
}

TEST(report_plots, deltas_plot_with_error_bars) {
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(test::sweep_fixture(), "delta_velocity", notes);
  const Plot& gs = named(plots, "delta_velocity_vs_group_size");
  EXPECT_TRUE(has(gs.data, "\n16 -0.01 -0.029999999999999999 0.01 \"16\"\n")) << gs.data;
  EXPECT_TRUE(has(gs.data, "\n64 0.0050000000000000001 NaN NaN \"64\"\n")) << gs.data;
  EXPECT_TRUE(has(gs.script, "using 1:2:3:4 with yerrorlines")) << gs.script;
  EXPECT_FALSE(has(gs.script, "set logscale y")) << gs.script;
}

std::string g17(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

TEST(report_plots, alpha_tau_heatmap_per_group_size) {
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(ablation(), "velocity", notes);
  EXPECT_EQ(names_of(plots), (std::vector<std::string>{"velocity_vs_gs", "velocity_alpha_x_tau_0", "velocity_alpha_x_tau_1"}));
  EXPECT_TRUE(notes.empty());
  // Averaging group sizes would mix errors of different scales: one heatmap per group size, in
  // the order the rows show them, cells in (alpha, tau) position order, alpha sorted by value.
  for (const std::pair<std::string, double>& slice : {std::pair<std::string, double>{"velocity_alpha_x_tau_0", 32}, {"velocity_alpha_x_tau_1", 64}}) {
    const double gs = slice.second;
    const Plot& h = named(plots, slice.first);
    const std::string g = std::to_string(static_cast<int>(gs));
    EXPECT_EQ(h.what, "velocity by alpha and tau, gs=" + g);
    auto v = [&](double a, double t) { return g17(10 * a + t + gs / 1000); };
    EXPECT_EQ(h.data,
              "# alpha position, tau position, velocity, its label, alpha, tau\n"
              "0 0 " + v(0.25, 0) + " \"" + format_sig(10 * 0.25 + gs / 1000, 3) + "\" \"0.25\" \"0\"\n"
              "0 1 " + v(0.25, 0.1) + " \"" + format_sig(10 * 0.25 + 0.1 + gs / 1000, 3) + "\" \"0.25\" \"0.1\"\n"
              "1 0 " + v(0.5, 0) + " \"" + format_sig(10 * 0.5 + gs / 1000, 3) + "\" \"0.5\" \"0\"\n"
              "1 1 " + v(0.5, 0.1) + " \"" + format_sig(10 * 0.5 + 0.1 + gs / 1000, 3) + "\" \"0.5\" \"0.1\"\n");
    EXPECT_TRUE(has(h.script, "set xtics ('0.25' 0, '0.5' 1)\n")) << h.script;
    EXPECT_TRUE(has(h.script, "set title 'velocity by alpha and tau, gs=" + g + "'\n")) << h.script;
  }
  // Error against group size: one line per (alpha, tau).
  const Plot& gs = named(plots, "velocity_vs_gs");
  EXPECT_TRUE(has(gs.data, "# alpha=0.5, tau=0\n32 5.032 5.032 5.032 \"32\"\n64 5.0640000000000001 5.0640000000000001 5.0640000000000001 \"64\"\n")) << gs.data;
  EXPECT_EQ(gs.what, "velocity against gs, one line per alpha, tau");
}

TEST(report_plots, alpha_tau_heatmap_averages_seeds_and_says_so) {
  ReportData d = ablation();
  d.axes[2] = {"seed", "seed"};  // the third axis is now a seed: repeats of one setting
  for (ResultRecord& r : d.results) r.axis_values = {{"alpha", r.axis_values["alpha"]}, {"tau", r.axis_values["tau"]}, {"seed", r.axis_values["gs"]}};
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(d, "velocity", notes);
  const Plot& h = named(plots, "velocity_alpha_x_tau");
  EXPECT_EQ(h.what, "velocity by alpha and tau (mean over seed)");
  // Each cell the mean of the two "seeds": 10 alpha + tau + (0.032 + 0.064) / 2.
  const double a = 10 * 0.25 + 0 + 32.0 / 1000, b = 10 * 0.25 + 0 + 64.0 / 1000;
  EXPECT_TRUE(has(h.data, "0 0 " + g17((a + b) / 2) + " ")) << h.data;
}

TEST(report_plots, heatmaps_are_capped_with_a_note) {
  ReportData d = ablation();
  // 2 x 2 alpha x tau cells, and a fourth axis with enough values to pass the cap.
  d.axes.push_back({"model.steps", "steps"});
  std::vector<ResultRecord> more;
  for (size_t k = 0; k < kMaxHeatmaps; ++k)
    for (ResultRecord r : d.results) {
      r.axis_values["steps"] = std::to_string(k);
      r.index = static_cast<int64_t>(more.size());
      more.push_back(r);
    }
  d.results = more;
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(d, "velocity", notes);
  const auto heatmaps = std::count_if(plots.begin(), plots.end(), [](const Plot& p) { return has(p.name, "_alpha_x_tau_"); });
  EXPECT_EQ(heatmaps, static_cast<std::ptrdiff_t>(kMaxHeatmaps));
  ASSERT_FALSE(notes.empty());
  EXPECT_TRUE(has(notes.back(), "heatmaps drawn for the first 16 of 32 slices (gs, steps)")) << notes.back();
}

TEST(report_plots, kinds_without_their_data_are_skipped) {
  ReportData d = test::sweep_fixture();
  d.axes.clear();
  for (auto& r : d.results) {
    r.axis_values.clear();
    r.variants[0].sites.clear();
    r.variants[0].step_mean.clear();  // no per-step interval: no step curve
  }
  std::vector<std::string> notes;
  EXPECT_TRUE(make_plots(d, "velocity", notes).empty());
  // A categorical group axis ("channel") is drawn at positions with its values as tics.
  ReportData c = test::sweep_fixture();
  c.results[2].axis_values["group_size"] = "channel";
  const std::vector<Plot> plots = make_plots(c, "isolated", notes);
  const Plot& gs = named(plots, "isolated_vs_group_size");
  EXPECT_TRUE(has(gs.data, "\n2 0.20000000000000001 0.20000000000000001 0.20000000000000001 \"channel\"\n")) << gs.data;
  EXPECT_TRUE(has(gs.script, "using 1:2:xtic(5) with linespoints")) << gs.script;
}

TEST(report_plots, step_curves_are_capped_with_a_note) {
  ReportData d = test::sweep_fixture();
  while (d.results.size() < kMaxStepPlots + 4) {
    d.results.push_back(d.results[0]);
    d.results.back().index = static_cast<int64_t>(d.results.size() - 1);
  }
  std::vector<std::string> notes;
  const std::vector<Plot> plots = make_plots(d, "velocity", notes);
  EXPECT_EQ(std::count_if(plots.begin(), plots.end(), [](const Plot& p) { return p.name.rfind("steps_", 0) == 0; }),
            static_cast<std::ptrdiff_t>(kMaxStepPlots));
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0], "per-step plots drawn for the first 16 of 20 variants with a control");
  EXPECT_EQ(notes[1], "acceptance plot: the first 12 of 18 variants with permutation sites");
}

TEST(report_plots, scripts_render_to_pdf_and_png_with_gnuplot) {
  const std::string gnuplot = find_gnuplot();
  if (gnuplot.empty()) GTEST_SKIP() << "gnuplot not installed (Debian: gnuplot-nox)";
  test::TempDir dir;
  std::vector<std::string> notes;
  std::vector<Plot> plots = make_plots(test::sweep_fixture(), "velocity", notes);
  for (const Plot& p : make_plots(ablation(), "velocity", notes)) plots.push_back(p);
  plots.erase(std::unique(plots.begin(), plots.end(), [](const Plot& a, const Plot& b) { return a.name == b.name; }), plots.end());
  EXPECT_EQ(write_plots(dir.file("plots"), plots, gnuplot), std::vector<std::string>{});
  for (const Plot& p : plots)
    for (const char* ext : {".gp", ".dat", ".pdf", ".png"}) EXPECT_TRUE(is_regular_file(dir.file("plots/" + p.name + ext))) << p.name << ext;
  // A broken script is reported with gnuplot's message.
  plots.resize(1);
  plots[0].script = "plot nonsense(\n";
  const std::vector<std::string> failures = write_plots(dir.file("plots"), plots, gnuplot);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].rfind("steps_0_pq.gp: gnuplot exited with 1: ", 0), 0u) << failures[0];
}

}  // namespace
}  // namespace pqlab
