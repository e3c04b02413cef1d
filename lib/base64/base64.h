/* base64 (RFC 4648 sections 4 and 5), one codec for every plugin.
 *
 * Encoding writes the standard alphabet (+/) with '=' padding, or the URL
 * alphabet (-_) without it. Decoding is strict, so each byte string has
 * exactly one accepted text per alphabet: characters of the alphabets the
 * flags allow, and not both alphabets in one text; padding only at the end
 * and only as much as completes a group of four (or none); no length of
 * 4k+1; the unused low bits of the last character zero. Every refusal says
 * what and where. */
#ifndef VIGIA_LIB_BASE64_H
#define VIGIA_LIB_BASE64_H

#include <stddef.h>

#define BASE64_STD 1u                        /* encode: +/ and '=' padding; decode: accept +/ */
#define BASE64_URL 2u                        /* encode: -_ without padding; decode: accept -_ */
#define BASE64_ANY (BASE64_STD | BASE64_URL) /* decode: either alphabet */
/* decode: let the unused low bits of the last character be non-zero, as
 * Node's Buffer does (the broker's Socket.IO peers); everything else stays
 * strict. */
#define BASE64_LAX_BITS 4u

/* Characters base64_encode writes for n bytes (without the terminating NUL). */
size_t base64_encoded_len(size_t n, unsigned flags);
/* Bytes the text of `len` characters decodes to at most (padding included). */
size_t base64_decoded_max(size_t len);

/* Encodes n bytes into out (base64_encoded_len + 1 bytes) and NUL-terminates
 * it; returns the length. flags: BASE64_STD or BASE64_URL. */
size_t base64_encode(const void *in, size_t n, char *out, unsigned flags);

/* Decodes in[0..len) into out (room for `max` bytes): the number of bytes,
 * or -1 with the reason in err ("invalid character '%' at 7", ...; err may
 * be NULL). flags: the alphabets accepted. */
long base64_decode(const char *in, size_t len, unsigned char *out, size_t max, unsigned flags,
                   char *err, size_t errn);

#endif
