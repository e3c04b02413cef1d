/* Compiles include/vigia/bus.h on its own: public headers are self-contained. */
#include <vigia/bus.h>
int header_bus_compiles(void);
int header_bus_compiles(void) { return 1; }
