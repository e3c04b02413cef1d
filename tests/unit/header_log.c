/* Compiles include/vigia/log.h on its own: public headers are self-contained. */
#include <vigia/log.h>
int header_log_compiles(void);
int header_log_compiles(void) { return 1; }
