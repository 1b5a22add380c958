#include "framework/core/paths.h"

#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "framework/core/error.h"

namespace pqlab {

bool path_is_absolute(const std::string& p) { return !p.empty() && p[0] == '/'; }

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || path_is_absolute(b)) return b;
  if (b.empty()) return a;
  return a.back() == '/' ? a + b : a + "/" + b;
}

std::string path_parent(const std::string& p) {
  const auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

std::string path_stem(const std::string& p) {
  const auto slash = p.find_last_of('/');
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  const auto dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

bool is_plain_file_stem(const std::string& s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
         std::string::npos;
}

std::string path_normal(const std::string& p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    const size_t j = std::min(p.find('/', i), p.size());
    const std::string c = p.substr(i, j - i);
    if (c == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else if (!path_is_absolute(p)) parts.push_back(c);
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    i = j + 1;
  }
  std::string out = path_is_absolute(p) ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? "/" : "") + parts[k];
  return out.empty() ? "." : out;
}

std::string path_canonical(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  if (path_is_absolute(p)) return path_normal(p);
  char cwd[PATH_MAX];
  return path_normal(path_join(::getcwd(cwd, sizeof cwd) ? cwd : "", p));
}

bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

bool is_regular_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void create_directories(const std::string& p) {
  if (p.empty() || path_exists(p)) return;
  create_directories(path_parent(path_normal(p)));
  if (::mkdir(p.c_str(), 0777) != 0 && errno != EEXIST)
    throw RuntimeError("cannot create directory '" + p + "': " + std::strerror(errno));
}

std::vector<std::string> list_directory(const std::string& p) {
  DIR* d = ::opendir(p.c_str());
  if (!d) throw RuntimeError("cannot read directory '" + p + "': " + std::strerror(errno));
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

void remove_tree(const std::string& p) {
  if (!path_exists(p)) return;
  ::nftw(
      p.c_str(), [](const char* f, const struct stat*, int, struct FTW*) { return ::remove(f); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

std::string make_temp_directory(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = path_join(tmp && *tmp ? tmp : "/tmp", prefix + "XXXXXX");
  if (!::mkdtemp(templ.data())) throw RuntimeError("cannot create a temporary directory in '" + path_parent(templ) + "'");
  return templ;
}

std::string resolve_data_path(const std::string& p) {
  if (p.empty() || path_is_absolute(p) || path_exists(p)) return p;
  const std::string in_source = path_join(PQLAB_SOURCE_DIR, p);
  return path_exists(in_source) ? in_source : p;
}

}  // namespace pqlab
