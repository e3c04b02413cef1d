/* Compiles include/vigia/json.h on its own: public headers are self-contained. */
#include <vigia/json.h>
int header_json_compiles(void);
int header_json_compiles(void) { return 1; }
