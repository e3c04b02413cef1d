/* Compiles include/vigia/http.h on its own: public headers are self-contained. */
#include <vigia/http.h>
int header_http_compiles(void);
int header_http_compiles(void) { return 1; }
