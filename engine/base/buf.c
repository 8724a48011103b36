#include "engine/base/buf.h"

#include <stdio.h>
#include <string.h>

#include "engine/base/fuzz.h"
#include "engine/base/mem.h"

void rg_buf_init(rg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void rg_buf_free(rg_buf *b)
{
    rg_free(b->data);
    rg_buf_init(b, b->max);
}

void rg_buf_reset(rg_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

RG_FUZZ_UNTRACED rg_status rg_buf_reserve(rg_buf *b, size_t n)
{
    if (n > b->max - b->len) return RG_ELIMIT;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return RG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = rg_realloc(b->data, cap);
    if (!p) return RG_ENOMEM;
    b->data = p;
    b->cap = cap;
    return RG_OK;
}

RG_FUZZ_UNTRACED rg_status rg_buf_append(rg_buf *b, const void *p, size_t n)
{
    rg_status st = rg_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RG_OK;
}

rg_status rg_buf_puts(rg_buf *b, const char *s)
{
    return rg_buf_append(b, s, strlen(s));
}

rg_status rg_buf_putc(rg_buf *b, char c)
{
    return rg_buf_append(b, &c, 1);
}

rg_status rg_buf_vprintf(rg_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return RG_EINVAL;
    rg_status st = rg_buf_reserve(b, (size_t)n);
    if (st) return st;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RG_OK;
}

rg_status rg_buf_printf(rg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rg_status st = rg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return st;
}

char *rg_buf_steal(rg_buf *b)
{
    char *d = b->data;
    rg_buf_init(b, b->max);
    return d;
}

const char *rg_buf_str(const rg_buf *b)
{
    return b->data ? b->data : "";
}
