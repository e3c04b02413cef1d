/* Compiles include/vigia/config.h on its own: public headers are self-contained. */
#include <vigia/config.h>
int header_config_compiles(void);
int header_config_compiles(void) { return 1; }
