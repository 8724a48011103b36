/*
 * fuzz_tokenizer_json.c — loading a tokenizer.json (engine/nn/tokenizer.h,
 * rg_tokenizer_from_json) from arbitrary bytes. A file that loads must then
 * encode a few fixed texts (Latin, CJK, accents, special-token look-alikes)
 * with ids inside its vocabulary, and answer its vocabulary lookups.
 */
#include "fuzz.h"

#include "engine/nn/tokenizer.h"

static const char *const texts[] = {
    "Hello, World! Don't stop.",
    "東京は日本の首都です。",
    "naïve café ÅNGSTRÖM",
    "[CLS] <s> x </s> [MASK] ▁word",
    "  \t\n  ",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_tokenizer *tok = NULL;
    rg_error err;
    rg_error_clear(&err);
    if (rg_tokenizer_from_json((const char *)data, size, &tok, &err) != RG_OK) return 0;
    size_t vocab = rg_tokenizer_vocab_size(tok);
    int32_t ids[256];
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n = 0, count = 0;
        if (rg_tokenizer_encode(tok, texts[t], strlen(texts[t]), 0, ids, 256, &n, &err) == RG_OK)
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < vocab);
        rg_tokenizer_count(tok, texts[t], strlen(texts[t]), &count, &err);
        rg_tokenizer_encode(tok, texts[t], strlen(texts[t]), 3, ids, 256, &n, &err);
    }
    for (int32_t id = -1; id < 8; id++) {
        const char *s = rg_tokenizer_id_to_token(tok, id);
        if (s) FUZZ_CHECK(rg_tokenizer_token_to_id(tok, s) >= 0);
    }
    (void)rg_tokenizer_pad_id(tok);
    (void)rg_tokenizer_max_length(tok);
    rg_tokenizer_close(tok);
    return 0;
}
