/* crc32.h — CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320; the same value as zlib's
 * crc32() and Python's binascii.crc32), used to validate every binary file chorus writes. */
#ifndef CHORUS_CRC32_H
#define CHORUS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0, feed chunks in order. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

#endif
