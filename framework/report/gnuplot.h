// Figures as gnuplot scripts with their data beside them (<name>.gp, <name>.dat), so that a user
// can restyle a figure by editing its script and running `gnuplot <name>.gp` in its folder. Each
// script draws the figure as <name>.pdf (pdfcairo), then as <name>.png (pngcairo); both
// terminals are in Debian's gnuplot-nox. gnuplot runs as a child process (fork/exec, no shell),
// so paths need no quoting.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace pqlab::report {

struct Plot {
  std::string name;    ///< file stem: <name>.gp, <name>.dat, <name>.pdf, <name>.png
  std::string what;    ///< one line for the listing, e.g. "velocity against group_size"
  std::string script;  ///< the whole gnuplot script (gnuplot_script())
  std::string data;    ///< text of <name>.dat
};

/// `s` as a gnuplot single-quoted string ('' stands for a quote inside).
std::string gnuplot_quote(const std::string& s);

/// A complete script for figure `name`: `comment` lines (each prefixed "# "), the PDF terminal,
/// `body` (set commands and one plot command reading '<name>.dat'), then the PNG terminal and
/// replot. Text is drawn as given (noenhanced: '_' is not a subscript).
std::string gnuplot_script(const std::string& name, const std::vector<std::string>& comment, const std::string& body);

/// The gnuplot executable found in PATH, or "" when there is none.
std::string find_gnuplot();

/// Writes <dir>/<name>.gp and .dat of every plot (creating dir), then, when `gnuplot` is not
/// empty, runs it on each script in `dir`. Returns one line per script that gnuplot failed on
/// (its name, exit status and output); empty when all succeeded or gnuplot was not run.
std::vector<std::string> write_plots(const std::string& dir, const std::vector<Plot>& plots, const std::string& gnuplot);

}  // namespace pqlab::report
