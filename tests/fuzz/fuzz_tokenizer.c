/*
 * fuzz_tokenizer.c — an engine/nn tokenizer on arbitrary bytes.
 *
 * The tokenizer.json comes from the environment variable named by
 * FUZZ_TOKENIZER_ENV (built twice: RAGD_FUZZ_WORDPIECE for the BERT
 * WordPiece of all-MiniLM-L6-v2, RAGD_FUZZ_UNIGRAM for the SentencePiece
 * Unigram of tests/fixtures/xlmr-tiny); scripts/fuzz.sh sets both. Without
 * it the target says so and exits 0 before running any input.
 *
 * The first byte picks max_len (0: none). Checked: every id is in the
 * vocabulary; without truncation an encoding is rg_tokenizer_count's
 * tokens plus the template's special tokens; truncation never gives more
 * than max_len ids (or the special tokens alone, when max_len is
 * smaller); invalid UTF-8 is RG_EUTF8, never a crash.
 */
#include "fuzz.h"

#include "engine/base/utf8.h"
#include "engine/nn/tokenizer.h"

#ifndef FUZZ_TOKENIZER_ENV
#error "build with -DFUZZ_TOKENIZER_ENV='\"NAME\"'"
#endif

#define CAP 8192

static rg_tokenizer *tok;
static int32_t ids[CAP];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *path = getenv(FUZZ_TOKENIZER_ENV);
    if (!path || !*path) {
        fprintf(stderr, "skip: %s is not set (the tokenizer.json to load)\n", FUZZ_TOKENIZER_ENV);
        exit(0);
    }
    rg_error err;
    if (rg_tokenizer_open(path, &tok, &err) != RG_OK) {
        fprintf(stderr, "skip: %s=%s: %s\n", FUZZ_TOKENIZER_ENV, path, rg_error_message(&err));
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    size_t max_len = fuzz_byte(&in) % 64;
    const char *text = (const char *)in.p;
    size_t vocab = rg_tokenizer_vocab_size(tok), n = 0, count = 0, bad;
    rg_error err;
    rg_error_clear(&err);
    int valid = rg_utf8_valid(text, in.n, &bad);
    rg_status st = rg_tokenizer_encode(tok, text, in.n, 0, ids, CAP, &n, &err);
    FUZZ_CHECK(valid || st == RG_EUTF8);
    if (st == RG_OK) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0 && (size_t)ids[i] < vocab);
        FUZZ_CHECK(rg_tokenizer_count(tok, text, in.n, &count, &err) == RG_OK);
        FUZZ_CHECK(count + rg_tokenizer_num_special(tok) == n);
    } else {
        FUZZ_CHECK(n == 0 && (st == RG_EUTF8 || st == RG_ELIMIT));
    }
    if (max_len && st != RG_EUTF8) {
        st = rg_tokenizer_encode(tok, text, in.n, max_len, ids, CAP, &n, &err);
        /* a max_len below the template's special tokens still gives all of them */
        size_t special = rg_tokenizer_num_special(tok);
        if (st == RG_OK) FUZZ_CHECK(n <= (max_len > special ? max_len : special));
    }
    return 0;
}
