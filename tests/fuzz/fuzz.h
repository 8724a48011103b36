/*
 * fuzz.h — what the libFuzzer targets of tests/fuzz share: a scratch
 * folder, a reader that takes structure (choices, split points) from the
 * input, and a check that aborts so libFuzzer records the input.
 *
 * Each target is one file with LLVMFuzzerTestOneInput; scripts/fuzz.sh
 * builds and runs them. A target must free everything an input allocates
 * (leak detection is on) and keep long-lived state (a tokenizer, a store)
 * in statics set up once, in LLVMFuzzerInitialize or on the first input.
 */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <ftw.h> /* nftw: meson builds these files with _XOPEN_SOURCE=700 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test promised does not hold: crash, so the input is kept. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- reading structure from the input ---- */

/*
 * Takes choices from the front of the input and leaves the rest as the
 * payload; when the input runs out, choices are 0. A small PRNG seeded from
 * the whole input gives split points the fuzzer does not have to find
 * byte by byte, yet every run of one input splits it the same way.
 */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
    uint64_t rng;
} fuzz_in;

static inline fuzz_in fuzz_in_make(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    return (fuzz_in){data, size, h | 1};
}

static inline uint8_t fuzz_byte(fuzz_in *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline uint64_t fuzz_rand(fuzz_in *in)
{
    in->rng ^= in->rng << 13;
    in->rng ^= in->rng >> 7;
    in->rng ^= in->rng << 17;
    return in->rng;
}

/*
 * Calls feed(ctx, piece, len) over data[0..n) in pieces chosen by mode:
 * 0 whole, 1 one byte at a time, 2 random pieces of 1..8 bytes, else random
 * pieces of 1..256 bytes. Stops at the first non-zero return and returns it.
 */
static inline int fuzz_feed_split(fuzz_in *in, unsigned mode, const uint8_t *data, size_t n,
                                  int (*feed)(void *ctx, const uint8_t *p, size_t len), void *ctx)
{
    size_t at = 0;
    while (at < n) {
        size_t take = n - at;
        if (mode % 4 == 1)
            take = 1;
        else if (mode % 4 == 2)
            take = 1 + fuzz_rand(in) % 8;
        else if (mode % 4 == 3)
            take = 1 + fuzz_rand(in) % 256;
        if (take > n - at) take = n - at;
        int rc = feed(ctx, data + at, take);
        if (rc) return rc;
        at += take;
    }
    return 0;
}

/* A NUL-terminated copy of data[0..n) (malloc; the caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) abort();
    if (n) memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/*
 * Cuts data[0..n) at each byte sep into at most max parts (the last part
 * keeps the rest). Returns the number of parts; parts point into data.
 */
static inline size_t fuzz_split(const uint8_t *data, size_t n, uint8_t sep, size_t max,
                                const uint8_t **part, size_t *len)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i < n && k + 1 < max; i++)
        if (data[i] == sep) {
            part[k] = data + start, len[k++] = i - start;
            start = i + 1;
        }
    part[k] = data + start, len[k++] = n - start;
    return k;
}

/* ---- a scratch folder ---- */

static inline int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static inline char *fuzz_scratch_buf(void)
{
    static char path[4096];
    return path;
}

static inline void fuzz_scratch_remove(void)
{
    char *p = fuzz_scratch_buf();
    if (p[0]) nftw(p, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A fresh folder under $TMPDIR (scripts/fuzz.sh points it at /dev/shm),
 * else /dev/shm, else /tmp, removed at exit. One per translation unit
 * that asks; aborts when none can be made.
 */
static inline const char *fuzz_scratch(void)
{
    char *p = fuzz_scratch_buf();
    if (p[0]) return p;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(p, 4096, "%s/ragd-fuzz-XXXXXX", base);
    if (!mkdtemp(p)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_scratch_remove);
    return p;
}

/* Writes data[0..n) to path (replacing it); aborts on failure. */
static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}

#endif
