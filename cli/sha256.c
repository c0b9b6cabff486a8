/* cli/sha256.c: SHA-256 as FIPS 180-4 specifies it (one 64-round compression per 64-byte block,
 * big-endian words, the length in bits in the last 8 bytes of the padding); checked in
 * tests/test_faults.py against Python's hashlib on the committed fixtures. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "sha256.h"

static const uint32_t K256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress(uint32_t h[8], const unsigned char *b) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++)
    w[t] = (uint32_t)b[4 * t] << 24 | (uint32_t)b[4 * t + 1] << 16 | (uint32_t)b[4 * t + 2] << 8 | b[4 * t + 3];
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = ROR(w[t - 15], 7) ^ ROR(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = ROR(w[t - 2], 17) ^ ROR(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
    hh = g; g = f; f = e; e = d + t1; d = c; c = bb; bb = a; a = t1 + t2;
  }
  h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

int lsce_sha256_file(char hex[65], const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return errno ? errno : EIO;
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  static unsigned char buf[1 << 16];
  uint64_t total = 0;
  size_t n, have = 0; /* bytes of buf not yet compressed (< 64 between reads) */
  while ((n = fread(buf + have, 1, sizeof buf - have, fp)) > 0) {
    have += n;
    total += n;
    size_t off = 0;
    for (; have - off >= 64; off += 64) compress(h, buf + off);
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  int bad = ferror(fp);
  fclose(fp);
  if (bad) return EIO;
  buf[have++] = 0x80;
  if (have > 56) { memset(buf + have, 0, 64 - have); compress(h, buf); have = 0; }
  memset(buf + have, 0, 56 - have);
  for (int k = 0; k < 8; k++) buf[56 + k] = (unsigned char)((total * 8) >> (56 - 8 * k));
  compress(h, buf);
  for (int k = 0; k < 8; k++) snprintf(hex + 8 * k, 9, "%08x", h[k]);
  return 0;
}
