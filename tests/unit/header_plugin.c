/* Compiles include/vigia/plugin.h on its own: public headers are self-contained. */
#include <vigia/plugin.h>
int header_plugin_compiles(void);
int header_plugin_compiles(void) { return 1; }
