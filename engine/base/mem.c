#include "engine/base/mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_ulong fail_at;
static atomic_int fail_sticky;

static int should_fail(void)
{
    unsigned long n = atomic_fetch_add(&alloc_count, 1) + 1;
    unsigned long at = atomic_load(&fail_at);
    if (at == 0) return 0;
    return n == at || (atomic_load(&fail_sticky) && n > at);
}

void rg_mem_fail_at(unsigned long n, int sticky)
{
    atomic_store(&alloc_count, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, n);
}

int rg_mem_fault_next(void)
{
    return should_fail();
}

unsigned long rg_mem_count(void)
{
    return atomic_load(&alloc_count);
}

void *rg_malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *rg_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *rg_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void rg_free(void *p)
{
    free(p);
}

char *rg_strndup(const char *s, size_t n)
{
    char *d = rg_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *rg_strdup(const char *s)
{
    return rg_strndup(s, strlen(s));
}
