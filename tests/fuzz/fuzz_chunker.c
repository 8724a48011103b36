/*
 * fuzz_chunker.c — ingest/chunker.h on documents built from the input.
 *
 * The first bytes choose the options (target and overlap tokens); the rest
 * is cut at 0x1e into blocks, each led by a byte that picks its kind and
 * heading level, and bit 0x80 of it starts a new page. Every chunk must be
 * what chunker.h promises: non-empty, inside the text, in document order,
 * on UTF-8 boundaries, without leading or trailing white space.
 */
#include "fuzz.h"

#include "engine/base/mem.h"
#include "ingest/chunker.h"
#include "ingest/document.h"

#define MAX_BLOCKS 512

static int is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}
static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    rg_chunk_options co = rg_chunk_default_options();
    co.target_tokens = 1 + fuzz_byte(&in) % 64;
    co.overlap_tokens = fuzz_byte(&in) % co.target_tokens;
    const uint8_t *part[MAX_BLOCKS];
    size_t len[MAX_BLOCKS];
    size_t n_parts = fuzz_split(in.p, in.n, 0x1e, MAX_BLOCKS, part, len);
    rg_doc_builder *b = rg_doc_builder_new();
    if (!b) return 0;
    rg_error err;
    rg_error_clear(&err);
    unsigned page = 0;
    for (size_t i = 0; i < n_parts; i++) {
        if (!len[i]) continue;
        uint8_t head = part[i][0];
        if (head & 0x80) rg_doc_begin_page(b, ++page, &err);
        rg_block_kind kind = (rg_block_kind)((head & 0x7f) % 5);
        rg_doc_add(b, kind, 1 + (head >> 3) % 6, (const char *)part[i] + 1, len[i] - 1, &err);
    }
    rg_document doc = {0};
    if (rg_doc_builder_finish(b, &doc, &err) == RG_OK) {
        rg_chunk *chunks = NULL;
        size_t n = 0;
        if (rg_chunk_document(&doc, &co, &chunks, &n, &err) == RG_OK) {
            const unsigned char *t = (const unsigned char *)doc.text;
            for (size_t i = 0; i < n; i++) {
                const rg_chunk *c = &chunks[i];
                FUZZ_CHECK(c->start < c->end && c->end <= doc.len);
                FUZZ_CHECK(i == 0 || c->start >= chunks[i - 1].start);
                FUZZ_CHECK(!is_cont(t[c->start]) && (c->end == doc.len || !is_cont(t[c->end])));
                FUZZ_CHECK(!is_ws(t[c->start]) && !is_ws(t[c->end - 1]));
            }
            rg_free(chunks);
        }
        rg_document_free(&doc);
    }
    rg_doc_builder_free(b);
    return 0;
}
