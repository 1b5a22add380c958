// The tables of `pqlab report` (framework/report/report_tables.h) on hand-built records: exact
// Markdown, LaTeX and CSV text, best and second-best marks, deltas as mean ± half-width, the
// default rows and columns, and the errors for unknown names.
#include "framework/report/report_tables.h"

#include <gtest/gtest.h>

#include "framework/core/error.h"
#include "tests/framework/report/report_fixture.h"

namespace pqlab {
namespace {

using namespace report;

TEST(report_tables, defaults_are_the_varying_axes_and_the_numbers_present) {
  const ReportData d = test::sweep_fixture();
  EXPECT_EQ(default_row_keys(d), (std::vector<std::string>{"group_size"}));
  EXPECT_EQ(default_columns(d), (std::vector<std::string>{"velocity", "final_latent", "isolated", "delta_velocity", "accepted"}));
  EXPECT_EQ(available_columns(d),
            (std::vector<std::string>{"velocity", "final_latent", "isolated", "sqnr", "delta_velocity", "accepted"}));
  // Without a sweep: several results are told apart by experiment (or file), variants by label.
  ReportData files = d;
  files.axes.clear();
  for (auto& r : files.results) r.axis_values.clear();
  EXPECT_EQ(default_row_keys(files), (std::vector<std::string>{"file"}));  // all named "gs"
  files.results[1].experiment = "gs2";
  files.results[2].experiment = "gs3";
  EXPECT_EQ(default_row_keys(files), (std::vector<std::string>{"experiment"}));
  files.results[0].variants.push_back(test::variant("rtn", "", 1, 1, 1, 1));
  EXPECT_EQ(default_row_keys(files), (std::vector<std::string>{"experiment", "variant"}));
}

TEST(report_tables, markdown_marks_best_and_second_and_writes_deltas_with_half_widths) {
  const ReportData d = test::sweep_fixture();
  EXPECT_EQ(format_markdown(make_table(d, {}, {})),
            "| group_size | velocity ↓ | final_latent ↓ | isolated ↓ | Δ velocity ↓ | accepted |\n"
            "|---|---:|---:|---:|---:|---:|\n"
            "| 16 | 0.5 | **1e-05** | **0.1** | *-0.01 ± 0.02* | 4/6 |\n"
            "| 32 | *0.25* | *2e-05* | **0.1** | **-0.02 ± 0.03** | - |\n"
            "| 64 | **0.125** | 3e-05 | 0.2 | +0.005 | - |\n"
            "\n"
            "↓ lower is better, ↑ higher is better; per column **best**, *second best*. Δ: the variant minus its "
            "paired control (same samples and seeds), mean ± half-width of the 95% paired bootstrap interval. "
            "accepted: permutation sites accepted / considered.\n");
}

TEST(report_tables, latex_is_booktabs_with_bold_and_underline) {
  const ReportData d = test::sweep_fixture();
  EXPECT_EQ(format_latex(make_table(d, {}, {})),
            "% pqlab report; needs \\usepackage{booktabs}. Bold: best per column, underlined: second best.\n"
            "% Delta: the variant minus its paired control, mean \\pm half-width of the 95% paired bootstrap interval.\n"
            "\\begin{tabular}{lrrrrr}\n"
            "\\toprule\n"
            "group\\_size & velocity $\\downarrow$ & final\\_latent $\\downarrow$ & isolated $\\downarrow$ & "
            "$\\Delta$ velocity $\\downarrow$ & accepted \\\\\n"
            "\\midrule\n"
            "16 & $0.5$ & $\\mathbf{1\\times10^{-5}}$ & $\\mathbf{0.1}$ & \\underline{$-0.01 \\pm 0.02$} & 4/6 \\\\\n"
            "32 & \\underline{$0.25$} & \\underline{$2\\times10^{-5}$} & $\\mathbf{0.1}$ & $\\mathbf{-0.02 \\pm 0.03}$ & -- \\\\\n"
            "64 & $\\mathbf{0.125}$ & $3\\times10^{-5}$ & $0.2$ & $+0.005$ & -- \\\\\n"
            "\\bottomrule\n"
            "\\end{tabular}\n");
}

TEST(report_tables, chosen_rows_and_columns_higher_is_better_and_escaping) {
  ReportData d = test::sweep_fixture();
  d.results[2].variants[0].label = "pq_50%";
  // Rows by the axis's config key, too; sqnr is better higher.
  const Table t = make_table(d, {"variant", "variants.0.method.weight_format.group_size"}, {"sqnr"});
  EXPECT_EQ(t.row_keys, (std::vector<std::string>{"variant", "group_size"}));
  EXPECT_EQ(format_markdown(t),
            "| variant | group_size | sqnr ↑ |\n"
            "|---|---|---:|\n"
            "| pq | 16 | 10 |\n"
            "| pq | 32 | *20* |\n"
            "| pq_50% | 64 | **30** |\n"
            "\n"
            "↓ lower is better, ↑ higher is better; per column **best**, *second best*.\n");
  const std::string tex = format_latex(t);
  EXPECT_NE(tex.find("pq\\_50\\% & 64 & $\\mathbf{30}$ \\\\\n"), std::string::npos) << tex;
  EXPECT_NE(tex.find("variant & group\\_size & sqnr $\\uparrow$ \\\\\n"), std::string::npos) << tex;
}

TEST(report_tables, unknown_names_are_usage_errors_with_a_suggestion) {
  const ReportData d = test::sweep_fixture();
  try {
    make_table(d, {}, {"velocty"});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown column 'velocty'; did you mean 'velocity'? (columns: velocity, final_latent, isolated, "
                           "sqnr, delta_velocity, accepted)");
  }
  try {
    make_table(d, {"group_sise"}, {});
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown row key 'group_sise'; did you mean 'group_size'? (row keys: group_size, variant, "
                           "experiment, file, method, weight_format, act_format)");
  }
}

TEST(report_tables, csv_has_every_number_at_full_precision) {
  const ReportData d = test::sweep_fixture();
  EXPECT_EQ(format_csv(d),
            "experiment,file,task,group_size,variant,control,method,weight_format,act_format,velocity,final_latent,isolated,"
            "sqnr,control_velocity,control_final_latent,control_isolated,control_sqnr,delta_velocity,delta_velocity_lo,"
            "delta_velocity_hi,level,accepted,considered,accepted_norm_out,considered_norm_out,accepted_v_out,considered_v_out\n"
            "gs,0-abc/gs.h5,0,16,pq,pq.control,permuquant,int4_g32,int4_g32,0.5,1.0000000000000001e-05,0.10000000000000001,10,"
            "0.51000000000000001,2.0000000000000002e-05,0.20000000000000001,9,-0.01,-0.029999999999999999,0.01,"
            "0.94999999999999996,4,6,3,4,1,2\n"
            "gs,1-abc/gs.h5,1,32,pq,pq.control,permuquant,int4_g32,int4_g32,0.25,2.0000000000000002e-05,0.10000000000000001,20,"
            "0.26000000000000001,4.0000000000000003e-05,0.20000000000000001,19,-0.02,-0.050000000000000003,0.01,"
            "0.94999999999999996,,,,,,\n"
            "gs,2-abc/gs.h5,2,64,pq,pq.control,permuquant,int4_g32,int4_g32,0.125,3.0000000000000001e-05,0.20000000000000001,30,"
            "0.13500000000000001,6.0000000000000002e-05,0.40000000000000002,29,0.0050000000000000001,nan,nan,"
            "0.94999999999999996,,,,,,\n");
}

TEST(report_tables, csv_quotes_fields_with_commas_and_quotes) {
  ReportData d = test::sweep_fixture();
  d.results.resize(1);
  d.results[0].axis_values["group_size"] = "{name: int, bits: 4}";
  d.results[0].variants[0].label = "a\"b";
  const std::string csv = format_csv(d);
  EXPECT_NE(csv.find("\ngs,0-abc/gs.h5,0,\"{name: int, bits: 4}\",\"a\"\"b\",pq.control,"), std::string::npos) << csv;
}

TEST(report_tables, directions_and_ranks) {
  EXPECT_EQ(better_of("rel_mse"), Better::lower);
  EXPECT_EQ(better_of("classifier_fd"), Better::lower);
  EXPECT_EQ(better_of("delta_latent"), Better::lower);
  EXPECT_EQ(better_of("class_accuracy"), Better::higher);
  EXPECT_EQ(better_of("delta_psnr"), Better::higher);
  EXPECT_EQ(better_of("ssim"), Better::higher);
  EXPECT_EQ(better_of("accepted"), Better::none);
  // One distinct value: nothing is marked.
  ReportData d = test::sweep_fixture();
  for (auto& r : d.results) r.variants[0].values["velocity"] = 1.0;
  const Table t = make_table(d, {}, {"velocity"});
  EXPECT_EQ(rank_column(t, t.columns[0]), (std::vector<Rank>{Rank::none, Rank::none, Rank::none}));
}

}  // namespace
}  // namespace pqlab
