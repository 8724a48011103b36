/*
 * fuzz_citations.c — citation parsing and checking (engine/rag/citations.h)
 * on an arbitrary generated answer against arbitrary sources.
 *
 * Input: a selector byte (remove unsupported sentences or flag them), then
 * the answer text, then up to 8 source texts, separated by 0x00 bytes.
 * Checked: markers lie inside the text, in order, with numbers in
 * 0..RG_MARKER_NUM_MAX ([0] parses, and then names no source); the
 * answer's citations point at given sources and quote a bounded passage;
 * each passage lies inside its chunk at the span the citation gives, on a
 * page between the chunk's first and last; sentences lie inside the answer
 * text; the supported share is in [0, 1]; the JSON builds.
 */
#include "fuzz.h"

#include "engine/base/mem.h"
#include "engine/rag/citations.h"

#define MAX_SOURCES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t sel = fuzz_byte(&in);
    const uint8_t *part[MAX_SOURCES + 1];
    size_t len[MAX_SOURCES + 1];
    size_t parts = fuzz_split(in.p, in.n, 0, MAX_SOURCES + 1, part, len);
    const char *text = (const char *)part[0];
    size_t text_len = len[0];

    rg_marker *m = NULL;
    size_t nm = 0;
    rg_error err;
    rg_error_clear(&err);
    if (rg_citations_parse(text, text_len, &m, &nm, &err) == RG_OK) {
        for (size_t i = 0; i < nm; i++) {
            FUZZ_CHECK(m[i].span.start < m[i].span.end && m[i].span.end <= text_len);
            FUZZ_CHECK(i == 0 || m[i].span.start >= m[i - 1].span.end);
            FUZZ_CHECK(m[i].n_nums >= 1 && m[i].n_nums <= RG_MARKER_NUMS_MAX);
            for (int k = 0; k < m[i].n_nums; k++)
                FUZZ_CHECK(m[i].nums[k] >= 0 && m[i].nums[k] <= RG_MARKER_NUM_MAX);
        }
    }
    rg_free(m);

    rg_source src[MAX_SOURCES];
    char *copies[MAX_SOURCES];
    int64_t breaks[MAX_SOURCES][2];
    size_t n_src = parts - 1;
    for (size_t i = 0; i < n_src; i++) {
        copies[i] = fuzz_strndup(part[i + 1], len[i + 1]); /* sources are C strings too */
        /* a chunk at offset 100 of its document; paged ones get two page starts inside */
        int64_t at = 100, n = (int64_t)len[i + 1];
        breaks[i][0] = at + n / 3;
        breaks[i][1] = at + 2 * n / 3;
        src[i] = (rg_source){.doc_id = (int64_t)i + 1,
                             .chunk_id = (int64_t)i + 10,
                             .byte_start = at,
                             .byte_end = at + n,
                             .title = "title",
                             .source_uri = "fuzz.txt",
                             .text = copies[i],
                             .text_len = len[i + 1],
                             .score = 1.0f / (float)(i + 1),
                             .page = (int64_t)(i % 3),
                             .page_breaks = i % 3 && n >= 3 ? breaks[i] : NULL,
                             .n_page_breaks = i % 3 && n >= 3 ? 2 : 0};
    }
    rg_cite_options co = rg_cite_default_options();
    co.remove_unsupported = sel & 1;
    rg_answer ans = {0};
    if (rg_citations_check(text, text_len, src, n_src, &co, &ans, &err) == RG_OK) {
        FUZZ_CHECK(ans.text && strlen(ans.text) == ans.text_len);
        FUZZ_CHECK(ans.supported_share >= 0 && ans.supported_share <= 1);
        for (size_t i = 0; i < ans.n_citations; i++) {
            const rg_citation *c = &ans.citations[i];
            FUZZ_CHECK(c->source >= 0 && (size_t)c->source < n_src);
            FUZZ_CHECK(c->passage && strlen(c->passage) <= RG_PASSAGE_MAX_BYTES + 4);
            const rg_source *s = &src[c->source];
            FUZZ_CHECK(c->passage_start >= s->byte_start && c->passage_end <= s->byte_end &&
                       c->passage_end - c->passage_start == (int64_t)strlen(c->passage));
            FUZZ_CHECK(memcmp(s->text + (c->passage_start - s->byte_start), c->passage,
                              strlen(c->passage)) == 0);
            FUZZ_CHECK(s->page ? c->page >= s->page &&
                                     c->page <= s->page + (int64_t)s->n_page_breaks
                               : c->page == 0);
        }
        for (size_t i = 0; i < ans.n_sentences; i++)
            FUZZ_CHECK(ans.sentences[i].span.start <= ans.sentences[i].span.end &&
                       ans.sentences[i].span.end <= ans.text_len);
        cJSON *j = NULL;
        if (rg_answer_to_json(&ans, &j, &err) == RG_OK) cJSON_Delete(j);
    }
    rg_answer_free(&ans);
    for (size_t i = 0; i < n_src; i++)
        free(copies[i]);
    return 0;
}
