/* Compiles include/vigia/vigia.h on its own: public headers are self-contained. */
#include <vigia/vigia.h>
int header_vigia_compiles(void);
int header_vigia_compiles(void) { return 1; }
