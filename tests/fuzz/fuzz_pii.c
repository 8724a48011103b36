/*
 * fuzz_pii.c — ingest/pii.h: masking and the match iterator on arbitrary
 * bytes. The first byte picks the types (0: all). Checked: matches lie
 * inside the text, in order; the masked text is no longer than pii.h's
 * bound and stays valid UTF-8 when the input was; the counts' JSON parses.
 */
#include "fuzz.h"

#include <cjson/cJSON.h>

#include "engine/base/buf.h"
#include "engine/base/utf8.h"
#include "ingest/pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    unsigned types = fuzz_byte(&in) & RG_PII_ALL;
    if (!types) types = RG_PII_ALL;
    const char *text = (const char *)in.p;
    size_t len = in.n, from = 0, bad;
    rg_pii_match m;
    while (from <= len && rg_pii_next(text, len, from, types, &m)) {
        FUZZ_CHECK(m.start >= from && m.start < m.end && m.end <= len);
        FUZZ_CHECK(types & RG_PII_BIT(m.type));
        from = m.end;
    }
    rg_buf out, json;
    rg_buf_init(&out, len + len / 6 + 2);
    rg_buf_init(&json, 4096);
    rg_pii_counts counts = {0};
    rg_error err;
    rg_error_clear(&err);
    if (rg_pii_mask(text, len, types, &out, &counts, &err) == RG_OK) {
        FUZZ_CHECK(out.len <= len + len / 6 + 1);
        if (rg_utf8_valid(text, len, &bad)) FUZZ_CHECK(rg_utf8_valid(out.data, out.len, &bad));
        FUZZ_CHECK(rg_pii_counts_json(&counts, &json) == RG_OK);
        cJSON *j = cJSON_ParseWithLength(json.data, json.len);
        FUZZ_CHECK(j && cJSON_IsObject(j));
        cJSON_Delete(j);
    }
    rg_buf_free(&out);
    rg_buf_free(&json);
    return 0;
}
