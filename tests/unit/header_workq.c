/* Compiles include/vigia/workq.h on its own: public headers are self-contained. */
#include <vigia/workq.h>
int header_workq_compiles(void);
int header_workq_compiles(void) { return 1; }
