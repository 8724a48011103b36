/*
 * buf.h — a growable byte buffer with a hard maximum (curl's dynbuf idea).
 *
 * Invariant: data is NULL or holds len bytes followed by a NUL, len < cap,
 * len <= max. Appending past max fails with RG_ELIMIT and leaves the buffer
 * as it was. The buffer owns data; rg_buf_free releases it, rg_buf_steal
 * hands it to the caller (who frees it with rg_free).
 */
#ifndef RG_BUF_H
#define RG_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "engine/base/status.h"

typedef struct rg_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
} rg_buf;

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void rg_buf_init(rg_buf *b, size_t max);
void rg_buf_free(rg_buf *b);
/* Empties the buffer, keeping its memory. */
void rg_buf_reset(rg_buf *b);
rg_status rg_buf_append(rg_buf *b, const void *p, size_t n);
rg_status rg_buf_puts(rg_buf *b, const char *s);
rg_status rg_buf_putc(rg_buf *b, char c);
rg_status rg_buf_printf(rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
rg_status rg_buf_vprintf(rg_buf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes without changing len. */
rg_status rg_buf_reserve(rg_buf *b, size_t n);
/* Returns data ("" never: may be NULL when empty) and leaves b empty. */
char *rg_buf_steal(rg_buf *b);
/* Pointer to a NUL-terminated string; "" when empty. Valid until next change. */
const char *rg_buf_str(const rg_buf *b);

#endif
