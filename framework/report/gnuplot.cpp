#include "framework/report/gnuplot.h"

#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/paths.h"
#include "framework/core/subprocess.h"

namespace pqlab::report {
namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) throw RuntimeError(path + ": cannot write");
}

}  // namespace

std::string gnuplot_quote(const std::string& s) {
  std::string o = "'";
  for (char ch : s) o += ch == '\'' ? std::string("''") : std::string(1, ch);
  return o + "'";
}

std::string gnuplot_script(const std::string& name, const std::vector<std::string>& comment, const std::string& body) {
  std::ostringstream os;
  for (const std::string& c : comment) os << "# " << c << '\n';
  os << "# Data: " << name << ".dat. Restyle: edit this file, then run `gnuplot " << name
     << ".gp` in this folder (writes " << name << ".pdf and " << name << ".png).\n"
     << "set terminal pdfcairo noenhanced size 5in,3.4in font 'Sans,9'\n"
     << "set output " << gnuplot_quote(name + ".pdf") << '\n'
     << body
     << "set terminal pngcairo noenhanced size 1000,680 font 'Sans,11'\n"
     << "set output " << gnuplot_quote(name + ".png") << '\n'
     << "replot\n"
     << "unset output\n";
  return os.str();
}

std::string find_gnuplot() { return find_program("gnuplot"); }

std::vector<std::string> write_plots(const std::string& dir, const std::vector<Plot>& plots, const std::string& gnuplot) {
  create_directories(dir);
  for (const Plot& p : plots) {
    write_text(path_join(dir, p.name + ".dat"), p.data);
    write_text(path_join(dir, p.name + ".gp"), p.script);
  }
  std::vector<std::string> failures;
  if (gnuplot.empty()) return failures;
  // The scripts name their files relative to their folder.
  for (const Plot& p : plots) {
    const CommandOutput o = run_command({gnuplot, p.name + ".gp"}, dir);
    if (o.exit_code != 0)
      failures.push_back(p.name + ".gp: gnuplot exited with " + std::to_string(o.exit_code) + ": " + o.output);
  }
  return failures;
}

}  // namespace pqlab::report
