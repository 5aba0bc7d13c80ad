/*
 * Baseline for ferry's XBZRLE benchmarks: a C implementation of the plain (non-AVX512) XBZRLE
 * encoder and decoder written from the format and algorithm description in
 * shared/reference/qemu-migration.md section 3 (QEMU's migration/xbzrle.c plain path: unchanged
 * runs compared one `long` at a time once the remaining length is a multiple of 8, changed runs
 * tested a `long` at a time with the has-zero-byte trick, runs copied with memcpy).
 *
 * Not part of CI. Built and run by bench/native/compare.ts:
 *   gcc -O2 -o xbzrle bench/native/xbzrle.c
 *   ./xbzrle MODE FILE PAGES PAGE_SIZE LIMIT MIN_MS
 * MODE: enc (encode), save (memcpy of the new page + encode, as QEMU's save path snapshots it),
 *       dec (decode FILE's payloads). Prints "best_ns_per_iter mean_ns_per_iter checksum".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int put_len(uint8_t *p, uint32_t n) {
  if (n < 0x80) { p[0] = (uint8_t)n; return 1; }
  p[0] = (uint8_t)((n & 0x7f) | 0x80);
  p[1] = (uint8_t)(n >> 7);
  return 2;
}

static int get_len(const uint8_t *p, uint32_t *n) {
  if (!(p[0] & 0x80)) { *n = p[0]; return 1; }
  if (p[1] & 0x80) return -1;
  *n = (p[0] & 0x7f) | ((uint32_t)p[1] << 7);
  return 2;
}

static inline uint64_t ld(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Returns 0 (identical), -1 (overflow) or the encoded length. */
static int encode(const uint8_t *o, const uint8_t *n, int slen, uint8_t *dst, int dlen) {
  int d = 0, i = 0;
  const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  while (i < slen) {
    if (d + 2 > dlen) return -1;
    int z = 0;
    int odd = (slen - i) % 8;
    while (odd && o[i] == n[i]) { z++; i++; odd--; }
    if (!odd) {
      while (i < slen && ld(o + i) == ld(n + i)) { i += 8; z += 8; }
      while (i < slen && o[i] == n[i]) { z++; i++; }
    }
    if (z == slen) return 0;
    if (i == slen) return d;
    d += put_len(dst + d, (uint32_t)z);
    if (d + 2 > dlen) return -1;
    int start = i, nz = 0;
    odd = (slen - i) % 8;
    while (odd && o[i] != n[i]) { i++; nz++; odd--; }
    if (!odd) {
      while (i < slen) {
        uint64_t x = ld(o + i) ^ ld(n + i);
        if ((x - ones) & ~x & highs) {
          while (o[i] != n[i]) { nz++; i++; }
          break;
        }
        i += 8; nz += 8;
      }
    }
    d += put_len(dst + d, (uint32_t)nz);
    if (d + nz > dlen) return -1;
    memcpy(dst + d, n + start, (size_t)nz);
    d += nz;
  }
  return d;
}

static int decode(const uint8_t *src, int slen, uint8_t *dst, int dlen) {
  int i = 0, d = 0;
  while (i < slen) {
    uint32_t c;
    if (slen - i < 2) return -1;
    int r = get_len(src + i, &c);
    if (r < 0 || (i && !c)) return -1;
    i += r; d += (int)c;
    if (d > dlen) return -1;
    if (slen - i < 2) return -1;
    r = get_len(src + i, &c);
    if (r < 0 || !c) return -1;
    i += r;
    if (d + (int)c > dlen || i + (int)c > slen) return -1;
    memcpy(dst + d, src + i, c);
    i += (int)c; d += (int)c;
  }
  return d;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s enc|save|dec FILE PAGES PAGE_SIZE LIMIT MIN_MS\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1];
  int pages = atoi(argv[3]), ps = atoi(argv[4]), limit = atoi(argv[5]);
  double min_ms = atof(argv[6]);
  FILE *f = fopen(argv[2], "rb");
  if (!f) { fprintf(stderr, "%s: cannot open\n", argv[2]); return 2; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)size);
  if (fread(data, 1, (size_t)size, f) != (size_t)size) { fprintf(stderr, "short read\n"); return 2; }
  fclose(f);
  /* enc/save: old pages then new pages. dec: the base pages, then per page a u32 length and
     `limit` payload bytes. */
  uint8_t *old = data, *neu = data + (size_t)pages * ps;
  uint8_t *out = malloc((size_t)limit + 16), *snap = malloc((size_t)ps);
  uint8_t *dest = malloc((size_t)pages * ps);
  memcpy(dest, old, (size_t)pages * ps);
  int dec = strcmp(mode, "dec") == 0, save = strcmp(mode, "save") == 0;
  long check = 0;
  double best = 1e300, total = 0;
  long iters = 0;
  double t_end = now_ns() + min_ms * 1e6;
  do {
    double t0 = now_ns();
    for (int p = 0; p < pages; p++) {
      if (dec) {
        const uint8_t *rec = data + (size_t)pages * ps + (size_t)p * (4 + limit);
        uint32_t len;
        memcpy(&len, rec, 4);
        check += decode(rec + 4, (int)len, dest + (size_t)p * ps, ps);
      } else if (save) {
        memcpy(snap, neu + (size_t)p * ps, (size_t)ps);
        check += encode(old + (size_t)p * ps, snap, ps, out, limit);
      } else {
        check += encode(old + (size_t)p * ps, neu + (size_t)p * ps, ps, out, limit);
      }
    }
    double dt = now_ns() - t0;
    if (dt < best) best = dt;
    total += dt;
    iters++;
  } while (now_ns() < t_end);
  printf("%.1f %.1f %ld\n", best, total / (double)iters, check / iters);
  return 0;
}
