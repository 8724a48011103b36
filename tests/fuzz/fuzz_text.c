/*
 * fuzz_text.c — the answer stages' text analysis (engine/rag/text.h) on
 * arbitrary bytes: sentence spans, markers, numbers, quotes, content
 * terms, and the neutralisation of source text before it is prompted.
 *
 * Checked, as text.h promises: sentences lie inside the text, in order;
 * neutralised text (both kinds) holds no citation marker that
 * rg_text_marker_at finds and no '<' or '>'; numbers and quotes lie
 * inside the text; rg_text_find finds what it reports.
 */
#include "fuzz.h"

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/rag/text.h"

typedef struct span_check {
    size_t n;
} span_check;

static int on_number(void *ctx, const char *canon, size_t len, rg_span span)
{
    span_check *c = ctx;
    FUZZ_CHECK(canon && len <= 63 && span.start < span.end && span.end <= c->n);
    return 0;
}

static int on_quote(void *ctx, rg_span content)
{
    span_check *c = ctx;
    FUZZ_CHECK(content.start <= content.end && content.end <= c->n);
    FUZZ_CHECK(content.end - content.start >= RG_QUOTE_MIN_BYTES &&
               content.end - content.start <= RG_QUOTE_MAX_BYTES);
    return 0;
}

static void check_neutral(const rg_buf *b)
{
    rg_marker m;
    for (size_t i = 0; i < b->len; i++) {
        FUZZ_CHECK(b->data[i] != '<' && b->data[i] != '>');
        FUZZ_CHECK(rg_text_marker_at(b->data, b->len, i, &m) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t n = size;
    rg_error err;
    rg_error_clear(&err);

    rg_span *sent = NULL;
    size_t ns = 0;
    if (rg_text_sentences(s, n, &sent, &ns, &err) == RG_OK)
        for (size_t i = 0; i < ns; i++) {
            FUZZ_CHECK(sent[i].start < sent[i].end && sent[i].end <= n);
            FUZZ_CHECK(i == 0 || sent[i].start >= sent[i - 1].end);
        }
    rg_free(sent);

    rg_marker m;
    for (size_t i = 0; i < n; i++) {
        size_t k = rg_text_marker_at(s, n, i, &m);
        if (k) FUZZ_CHECK(k <= RG_MARKER_MAX_BYTES && i + k <= n && m.n_nums >= 1);
    }

    rg_buf out;
    rg_buf_init(&out, 8 * n + 64);
    if (rg_text_neutralise(s, n, &out) == RG_OK) check_neutral(&out);
    rg_buf_reset(&out);
    if (rg_text_neutralise_source(s, n, &out) == RG_OK) check_neutral(&out);
    rg_buf_free(&out);

    span_check c = {n};
    rg_text_numbers(s, n, on_number, &c);
    rg_text_quotes(s, n, on_quote, &c);

    rg_terms t, q;
    rg_terms_init(&t);
    rg_terms_init(&q);
    if (rg_terms_add(&t, s, n) == RG_OK && rg_terms_add(&q, s, n / 2) == RG_OK) {
        rg_terms_seal(&t);
        rg_terms_seal(&q);
        FUZZ_CHECK(rg_terms_overlap(&q, &t) <= q.n);
    }
    rg_terms_free(&t);
    rg_terms_free(&q);

    if (n > 2) {
        size_t nn = 1 + data[0] % 4;
        if (nn > n - 1) nn = n - 1;
        long at = rg_text_find(s + 1 + nn, n - 1 - nn, s + 1, nn);
        FUZZ_CHECK(at < 0 ||
                   ((size_t)at + nn <= n - 1 - nn && !memcmp(s + 1 + nn + at, s + 1, nn)));
    }
    (void)rg_text_is_cjk(s, n);
    return 0;
}
