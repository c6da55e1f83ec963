/* sha1.h — SHA-1 (FIPS 180-4) of a byte string, for the Speech Commands split hash
 * (data/speech_commands.c), which TensorFlow defines as SHA-1 of the speaker's file-name stem.
 * Not for security. Pure function, no allocation.
 */
#ifndef CHORUS_SHA1_H
#define CHORUS_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 20-byte digest of data[0..n) into out. */
void sha1_digest(const void *data, size_t n, uint8_t out[20]);

/* Writes the 40 lowercase hex digits of the digest plus a NUL into hex (41 bytes). */
void sha1_hex(const void *data, size_t n, char hex[41]);

#endif
