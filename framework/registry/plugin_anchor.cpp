// pqlab_plugins needs at least one source of its own before pqlab_add_plugin() adds the plugins.
namespace pqlab { int plugin_anchor = 0; }
