/*
 * mem.h — ragd's allocator wrapper.
 *
 * All ragd code allocates through these functions so that a test build can
 * make the Nth allocation fail (fault injection, as SQLite's test suite does)
 * and check that every failure leaves ragd consistent.
 */
#ifndef RG_MEM_H
#define RG_MEM_H

#include <stddef.h>

void *rg_malloc(size_t n);
void *rg_calloc(size_t count, size_t size); /* fails (NULL) on overflow */
void *rg_realloc(void *p, size_t n);
void rg_free(void *p);
char *rg_strdup(const char *s);
char *rg_strndup(const char *s, size_t n); /* always NUL-terminated */

/*
 * Fault injection. After rg_mem_fail_at(n) with n > 0, the nth allocation
 * from now (counting every rg_malloc/calloc/realloc/strdup) returns NULL, and
 * so does every later one while `sticky` is set. n == 0 turns it off.
 */
void rg_mem_fail_at(unsigned long n, int sticky);
/*
 * Counts one allocation made by another allocator that a test routes
 * through this counter (SQLite's through sqlite3_config, cJSON's hooks) and
 * returns 1 when that allocation must fail.
 */
int rg_mem_fault_next(void);
/* Allocations made since the last rg_mem_fail_at call. */
unsigned long rg_mem_count(void);

#endif
