#include "test.h"
#include "test_nn_fixture.h"

#include "engine/base/mem.h"
#include "engine/nn/tokenizer.h"

static rg_tokenizer *tok;
static fix_texts fx;

static void test_parity_fixture(void)
{
    int32_t ids[1024];
    int bad = 0;
    for (uint32_t i = 0; i < fx.n; i++) {
        size_t n = 0;
        rg_error err;
        rg_status rc = rg_tokenizer_encode(tok, fx.text[i], fx.len[i], fx.max_len, ids, 1024, &n, &err);
        CHECK_INT(rc, RG_OK);
        int same = n == fx.n_ids[i];
        for (size_t j = 0; same && j < n; j++)
            same = (uint32_t)ids[j] == fx.ids[i][j];
        if (!same && bad++ < 10) {
            fprintf(stderr, "text %u (%.60s): got %zu ids, want %u\n  got :", i, fx.text[i], n,
                    fx.n_ids[i]);
            for (size_t j = 0; j < n && j < 24; j++)
                fprintf(stderr, " %d", ids[j]);
            fprintf(stderr, "\n  want:");
            for (size_t j = 0; j < fx.n_ids[i] && j < 24; j++)
                fprintf(stderr, " %u", fx.ids[i][j]);
            fprintf(stderr, "\n");
        }
        CHECK(same);
        size_t count = 0;
        CHECK_INT(rg_tokenizer_count(tok, fx.text[i], fx.len[i], &count, &err), RG_OK);
        CHECK_INT(count, fx.full_count[i]);
    }
    fprintf(stderr, "tokenizer parity: %u strings, %d differ\n", fx.n, bad);
}

static void test_basics(void)
{
    int32_t ids[8];
    size_t n;
    rg_error err;
    CHECK_INT(rg_tokenizer_pad_id(tok), 0);
    CHECK_INT(rg_tokenizer_num_special(tok), 2);
    CHECK_INT(rg_tokenizer_token_to_id(tok, "[CLS]"), 101);
    CHECK_STR(rg_tokenizer_id_to_token(tok, 102), "[SEP]");
    CHECK(rg_tokenizer_id_to_token(tok, 1 << 30) == NULL);
    /* truncation keeps the template */
    CHECK_INT(rg_tokenizer_encode(tok, "a b c d e f", 11, 4, ids, 8, &n, &err), RG_OK);
    CHECK_INT(n, 4);
    CHECK_INT(ids[0], 101);
    CHECK_INT(ids[3], 102);
    /* too small an output array is an error, not an overflow */
    CHECK_INT(rg_tokenizer_encode(tok, "a b c d e f g h i", 17, 0, ids, 8, &n, &err), RG_ELIMIT);
    CHECK_INT(n, 0);
    CHECK_INT(rg_tokenizer_encode(tok, "ab\xff", 3, 0, ids, 8, &n, &err), RG_EUTF8);
}

static void test_bad_json(void)
{
    rg_tokenizer *t = NULL;
    rg_error err;
    CHECK_INT(rg_tokenizer_from_json("{", 1, &t, &err), RG_EPARSE);
    CHECK(t == NULL);
    const char *bpe = "{\"model\":{\"type\":\"BPE\"}}";
    CHECK_INT(rg_tokenizer_from_json(bpe, strlen(bpe), &t, &err), RG_EUNSUPPORTED);
    const char *nounk = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"a\":0}},"
                        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}";
    CHECK_INT(rg_tokenizer_from_json(nounk, strlen(nounk), &t, &err), RG_ECORRUPT);
    const char *hole = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"b\":2}},"
                       "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}";
    CHECK_INT(rg_tokenizer_from_json(hole, strlen(hole), &t, &err), RG_ECORRUPT);
    CHECK_INT(rg_tokenizer_open("/nonexistent/tokenizer.json", &t, &err), RG_ENOTFOUND);
    /* special-token ids the post-processor or padding would emit must be in
     * the vocabulary and whole numbers (found by fuzz_tokenizer_json: a sep
     * id of -2 was emitted as a token) */
    static const char *const bad_ids[] = {"[\"[SEP]\",-2]", "[\"[SEP]\",4]", "[\"[SEP]\",1.5]",
                                          "[\"[SEP]\",1e300]"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":"
                 "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"x\":3}},"
                 "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                 "\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"[CLS]\",1],"
                 "\"sep\":%s}}",
                 bad_ids[i]);
        CHECK_INT(rg_tokenizer_from_json(json, strlen(json), &t, &err), RG_ECORRUPT);
        CHECK(t == NULL);
    }
    const char *pad = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":"
                      "{\"[UNK]\":0,\"x\":1}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                      "\"padding\":{\"pad_id\":7}}";
    CHECK_INT(rg_tokenizer_from_json(pad, strlen(pad), &t, &err), RG_ECORRUPT);
    CHECK(strstr(err.msg, "outside the vocabulary") != NULL);
}

/*
 * Sizes in tokenizer.json too large for a size_t (1e37, or 1e400 which cJSON
 * reads as infinity) were converted as they stood, undefined behaviour
 * (tests/fuzz: fuzz_tokenizer_json, corpus/tokenizer_json/
 * regress-huge-max-chars.json). They now read as their named limit; a small
 * max_input_chars_per_word still sends longer words to [UNK].
 */
static void test_size_fields(void)
{
    static const struct {
        const char *max_chars, *max_len;
        int unk; /* "hello" encodes as [UNK] */
    } cases[] = {
        {"1e37", "1e300", 0}, {"1e400", "1e400", 0}, {"-5", "-1", 0}, {"4", "3", 1}, {"5", "0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":"
                 "{\"[UNK]\":0,\"hel\":1,\"##lo\":2},\"max_input_chars_per_word\":%s},"
                 "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                 "\"truncation\":{\"max_length\":%s}}",
                 cases[i].max_chars, cases[i].max_len);
        rg_tokenizer *t = NULL;
        rg_error err;
        CHECK_INT(rg_tokenizer_from_json(json, strlen(json), &t, &err), RG_OK);
        REQUIRE(t);
        int32_t ids[8];
        size_t n = 0;
        CHECK_INT(rg_tokenizer_encode(t, "hello", 5, 0, ids, 8, &n, &err), RG_OK);
        if (cases[i].unk) {
            CHECK_INT(n, 1);
            CHECK_INT(ids[0], 0);
        } else {
            CHECK_INT(n, 2);
            CHECK_INT(ids[0], 1);
            CHECK_INT(ids[1], 2);
        }
        size_t ml = rg_tokenizer_max_length(t);
        if (cases[i].max_len[0] == '1')
            CHECK(ml >= ((size_t)1 << 20)); /* read as the limit, not wrapped */
        else if (cases[i].max_len[0] == '3')
            CHECK_INT(ml, 3);
        rg_tokenizer_close(t);
    }
}

/* Every allocation failure while loading must be reported, never crash or leak. */
static void test_alloc_failures(void)
{
    const char *json = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":"
                       "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"x\":3,\"##lo\":4,\"hel\":5}},"
                       "\"normalizer\":{\"type\":\"BertNormalizer\"},"
                       "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                       "\"added_tokens\":[{\"id\":1,\"content\":\"[CLS]\"},{\"id\":2,\"content\":\"[SEP]\"}],"
                       "\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"[CLS]\",1],\"sep\":[\"[SEP]\",2]}}";
    for (unsigned long k = 1; k < 200; k++) {
        rg_tokenizer *t = NULL;
        rg_error err;
        rg_mem_fail_at(k, 1);
        rg_status rc = rg_tokenizer_from_json(json, strlen(json), &t, &err);
        int32_t ids[16];
        size_t n = 0;
        rg_status rc2 = rc == RG_OK ? rg_tokenizer_encode(t, "Hello helLO", 11, 0, ids, 16, &n, &err) : rc;
        rg_mem_fail_at(0, 0);
        CHECK(rc == RG_OK || rc == RG_ENOMEM);
        CHECK(rc2 == RG_OK || rc2 == RG_ENOMEM);
        if (rc2 == RG_OK) {
            CHECK_INT(n, 6); /* [CLS] hel ##lo hel ##lo [SEP] */
            CHECK_INT(ids[1], 5);
            CHECK_INT(ids[2], 4);
            CHECK_INT(ids[4], 4);
        }
        rg_tokenizer_close(t);
        if (rc2 == RG_OK)
            break;
    }
}

int main(void)
{
    static const test_case cases[] = {TEST(test_bad_json), TEST(test_size_fields),
                                      TEST(test_alloc_failures)};
    int rc = test_run(cases, sizeof cases / sizeof cases[0]);
    const char *dir = fix_model_dir();
    if (!dir)
        return rc ? rc : FIX_SKIP;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    rg_error err;
    if (rg_tokenizer_open(path, &tok, &err) != RG_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, rg_error_message(&err));
        return 1;
    }
    fix_load(&fx);
    static const test_case model_cases[] = {TEST(test_basics), TEST(test_parity_fixture)};
    rc |= test_run(model_cases, sizeof model_cases / sizeof model_cases[0]);
    fix_free(&fx);
    rg_tokenizer_close(tok);
    return rc;
}
