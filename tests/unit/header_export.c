/* Compiles include/vigia/export.h on its own: public headers are self-contained. */
#include <vigia/export.h>
int header_export_compiles(void);
int header_export_compiles(void) { return 1; }
