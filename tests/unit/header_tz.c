/* Compiles include/vigia/tz.h on its own: public headers are self-contained. */
#include <vigia/tz.h>
int header_tz_compiles(void);
int header_tz_compiles(void) { return 1; }
