/* Compiles include/vigia/channel.h on its own: public headers are self-contained. */
#include <vigia/channel.h>
int header_channel_compiles(void);
int header_channel_compiles(void) { return 1; }
