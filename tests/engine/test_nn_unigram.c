/*
 * test_nn_unigram.c — the SentencePiece Unigram pipeline against Hugging
 * Face tokenizers: every fixture string of tests/fixtures/xlmr-tiny/ with
 * its tokenizer.json and with each pipeline variant of variants.json, plus
 * hand-made vocabularies for Viterbi, unknowns and byte fallback, and
 * damaged files.
 */
#include "test.h"
#include "test_nn_fixture.h"

#include <cjson/cJSON.h>

#include "engine/base/mem.h"
#include "engine/nn/tokenizer.h"

#define IDS_CAP 4096

static fix_texts fx;
static char *main_json;
static size_t main_json_len;

/* Ids of a variant: tokens-<name>.bin, in the tokens.bin format. */
typedef struct want_ids {
    uint32_t max_len;
    uint32_t *full, *n, **ids;
} want_ids;

static int load_want(const char *name, want_ids *w)
{
    char file[256];
    snprintf(file, sizeof file, "tokens-%s.bin", name);
    size_t size;
    unsigned char *k = fix_slurp(RAGD_FIXTURE_DIR, file, &size);
    if (!k || size < 12 || memcmp(k, "RGTK", 4) != 0) {
        free(k);
        return 0;
    }
    const unsigned char *p = k + 4;
    uint32_t n = fix_u32(&p);
    w->max_len = fix_u32(&p);
    w->full = calloc(n, sizeof *w->full);
    w->n = calloc(n, sizeof *w->n);
    w->ids = calloc(n, sizeof *w->ids);
    for (uint32_t i = 0; i < n && i < fx.n; i++) {
        w->full[i] = fix_u32(&p);
        w->n[i] = fix_u32(&p);
        w->ids[i] = malloc((w->n[i] + 1) * sizeof(uint32_t));
        for (uint32_t j = 0; j < w->n[i]; j++)
            w->ids[i][j] = fix_u32(&p);
    }
    free(k);
    return n == fx.n;
}

static void free_want(want_ids *w)
{
    for (uint32_t i = 0; i < fx.n; i++)
        free(w->ids ? w->ids[i] : NULL);
    free(w->full);
    free(w->n);
    free(w->ids);
}

/* Encodes every fixture text; returns how many differ from w. */
static int parity(const rg_tokenizer *tok, const want_ids *w, const char *what)
{
    static int32_t ids[IDS_CAP];
    int bad = 0;
    for (uint32_t i = 0; i < fx.n; i++) {
        size_t n = 0, count = 0;
        rg_error err;
        rg_status rc = rg_tokenizer_encode(tok, fx.text[i], fx.len[i], w->max_len, ids, IDS_CAP, &n, &err);
        CHECK_INT(rc, RG_OK);
        int same = rc == RG_OK && n == w->n[i];
        for (size_t j = 0; same && j < n; j++)
            same = (uint32_t)ids[j] == w->ids[i][j];
        CHECK_INT(rg_tokenizer_count(tok, fx.text[i], fx.len[i], &count, &err), RG_OK);
        same = same && count == w->full[i];
        if (!same && bad++ < 8) {
            fprintf(stderr, "%s text %u (%.40s): got %zu ids (count %zu), want %u (count %u)\n  got :",
                    what, i, fx.text[i], n, count, w->n[i], w->full[i]);
            for (size_t j = 0; j < n && j < 20; j++)
                fprintf(stderr, " %d", ids[j]);
            fprintf(stderr, "\n  want:");
            for (size_t j = 0; j < w->n[i] && j < 20; j++)
                fprintf(stderr, " %u", w->ids[i][j]);
            fprintf(stderr, "\n");
        }
    }
    fprintf(stderr, "%s: %u strings, %d differ\n", what, fx.n, bad);
    return bad;
}

static rg_tokenizer *open_json(const char *json)
{
    rg_tokenizer *t = NULL;
    rg_error err;
    if (rg_tokenizer_from_json(json, strlen(json), &t, &err) != RG_OK)
        fprintf(stderr, "tokenizer: %s\n", rg_error_message(&err));
    return t;
}

static void test_parity_main(void)
{
    rg_tokenizer *t = NULL;
    char path[4096];
    rg_error err;
    snprintf(path, sizeof path, "%s/tokenizer.json", RAGD_FIXTURE_DIR);
    REQUIRE(rg_tokenizer_open(path, &t, &err) == RG_OK);
    want_ids w = {fx.max_len, fx.full_count, fx.n_ids, fx.ids};
    CHECK_INT(parity(t, &w, "tokenizer.json"), 0);
    CHECK_INT(rg_tokenizer_pad_id(t), 1);
    CHECK_INT(rg_tokenizer_num_special(t), 2);
    CHECK_INT(rg_tokenizer_token_to_id(t, "<mask>"), (long long)rg_tokenizer_vocab_size(t) - 1);
    CHECK_STR(rg_tokenizer_id_to_token(t, 3), "<unk>");
    rg_tokenizer_close(t);
}

/* Applies a variants.json entry to tokenizer.json as the fixture script does. */
static void test_parity_variants(void)
{
    size_t size;
    unsigned char *vj = fix_slurp(RAGD_FIXTURE_DIR, "variants.json", &size);
    REQUIRE(vj);
    cJSON *variants = cJSON_ParseWithLength((const char *)vj, size);
    free(vj);
    REQUIRE(cJSON_IsObject(variants));
    int seen = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, variants)
    {
        cJSON *root = cJSON_ParseWithLength(main_json, main_json_len);
        const cJSON *item;
        cJSON_ArrayForEach(item, v)
        {
            if (strcmp(item->string, "byte_fallback") == 0)
                cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "model"),
                                                       "byte_fallback", cJSON_Duplicate(item, 1));
            else
                cJSON_ReplaceItemInObjectCaseSensitive(root, item->string, cJSON_Duplicate(item, 1));
        }
        char *json = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        rg_tokenizer *t = open_json(json);
        cJSON_free(json);
        want_ids w = {0};
        CHECK(t != NULL);
        CHECK(load_want(v->string, &w));
        if (t && w.n)
            CHECK_INT(parity(t, &w, v->string), 0);
        free_want(&w);
        rg_tokenizer_close(t);
        seen++;
    }
    cJSON_Delete(variants);
    CHECK(seen >= 3);
}

/* A vocabulary small enough to reason about every path by hand. */
static const char *tiny_json(const char *model_extra, const char *normalizer)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"normalizer\":%s,"
             "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\","
             "\"prepend_scheme\":\"always\",\"split\":true},"
             "\"added_tokens\":[{\"id\":0,\"content\":\"<s>\"},{\"id\":2,\"content\":\"</s>\"}],"
             "\"post_processor\":{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",0],\"sep\":[\"</s>\",2]},"
             "\"model\":{\"type\":\"Unigram\"%s,\"vocab\":[[\"<s>\",0],[\"<unk>\",0],[\"</s>\",0],"
             "[\"\\u2581\",-1],[\"a\",-2],[\"b\",-2],[\"ab\",-3],[\"\\u2581ab\",-3.5],[\"<0xC3>\",0],"
             "[\"<0xA9>\",0],[\"c\",-9]]}}",
             normalizer, model_extra);
    return buf;
}

static size_t enc(const rg_tokenizer *t, const char *s, size_t max_len, int32_t *ids)
{
    size_t n = 0;
    rg_error err;
    rg_status rc = rg_tokenizer_encode(t, s, strlen(s), max_len, ids, 64, &n, &err);
    if (rc)
        fprintf(stderr, "encode '%s': %s\n", s, rg_error_message(&err));
    return n;
}

static void test_viterbi_unknown_bytes(void)
{
    int32_t ids[64];
    rg_tokenizer *t = open_json(tiny_json(",\"unk_id\":1,\"byte_fallback\":true", "null"));
    REQUIRE(t);
    /* "▁ab" (-3.5) beats "▁"+"ab" (-4) and "▁"+"a"+"b" (-5) */
    CHECK_INT(enc(t, "ab", 0, ids), 3);
    CHECK_INT(ids[1], 7);
    /* unknown "é" (C3 A9) falls back to its bytes; "ü" (C3 BC) lacks <0xBC>: one unk */
    CHECK_INT(enc(t, "é", 0, ids), 5);
    CHECK_INT(ids[1], 3);
    CHECK_INT(ids[2], 8);
    CHECK_INT(ids[3], 9);
    CHECK_INT(enc(t, "üü", 0, ids), 4);
    CHECK_INT(ids[2], 1); /* consecutive unknowns fuse into one */
    /* an unknown character costs min score - 10 = -19: "c" (-9) still wins */
    CHECK_INT(enc(t, "c", 0, ids), 4);
    CHECK_INT(ids[2], 10);
    /* truncation keeps <s> and </s> */
    CHECK_INT(enc(t, "ab ab ab ab", 4, ids), 4);
    CHECK_INT(ids[0], 0);
    CHECK_INT(ids[1], 7);
    CHECK_INT(ids[2], 7);
    CHECK_INT(ids[3], 2);
    CHECK_INT(enc(t, "ab</s>ab", 0, ids), 5);
    CHECK_INT(ids[2], 2);
    CHECK_INT(ids[3], 7); /* "always": each segment gets its own ▁ */
    rg_tokenizer_close(t);

    /* without byte fallback every unknown is unk; without unk_id, an error */
    t = open_json(tiny_json(",\"unk_id\":1", "null"));
    REQUIRE(t);
    CHECK_INT(enc(t, "é", 0, ids), 4);
    CHECK_INT(ids[2], 1);
    rg_tokenizer_close(t);
    t = open_json(tiny_json("", "null"));
    REQUIRE(t);
    size_t n = 9;
    rg_error err;
    CHECK_INT(rg_tokenizer_encode(t, "é", 2, 0, ids, 64, &n, &err), RG_EINVAL);
    CHECK_INT(n, 0);
    CHECK_INT(enc(t, "ab", 0, ids), 3);
    rg_tokenizer_close(t);
}

static void test_normalizers(void)
{
    int32_t ids[64];
    /* a run of spaces becomes one; NFKC folds the full-width letters; Strip */
    rg_tokenizer *t = open_json(tiny_json(
        ",\"unk_id\":1", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},"
                         "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
                         "{\"type\":\"Lowercase\"},"
                         "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]}"));
    REQUIRE(t);
    CHECK_INT(enc(t, "  ＡＢ    ab\t", 0, ids), 4);
    CHECK_INT(ids[1], 7);
    CHECK_INT(ids[2], 7);
    rg_tokenizer_close(t);
}

/*
 * A Replace pattern or content, or a Prepend string, that is not UTF-8 (the
 * file's bytes: cJSON does not check them) left the normalizer looping on a
 * stray byte, or a pattern ending inside a character matched half of one
 * (tests/fuzz: fuzz_tokenizer_json, corpus/tokenizer_json/regress-*). Such a
 * file is now refused when it is opened.
 */
static void test_normalizer_invalid_utf8(void)
{
    static const char *const norms[] = {
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\"  \"},\"content\":\"\xff\xff \"}",
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\"K] \xe2\"},\"content\":\" \"}",
        "{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\"}",
    };
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
        const char *json = tiny_json(",\"unk_id\":1", norms[i]);
        rg_tokenizer *t = NULL;
        rg_error err;
        CHECK_INT(rg_tokenizer_from_json(json, strlen(json), &t, &err), RG_ECORRUPT);
        CHECK(t == NULL);
    }
}

/*
 * An added token that is not UTF-8 ("\xe2", the first byte of "▁") split the
 * text inside a character; the normalizer then looped on the stray bytes
 * (tests/fuzz: fuzz_tokenizer_json, corpus/tokenizer_json/
 * regress-added-token-half-char.json). Such a file is refused when opened; the
 * same token as a whole character loads and encodes.
 */
static void test_added_token_invalid_utf8(void)
{
    static const char *const contents[] = {"\xe2", "a\xe2\x96", "\x96\x81"};
    char json[1024];
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\"or\"},"
                 "\"content\":\" \"},\"added_tokens\":[{\"id\":0,\"content\":\"%s\"}],"
                 "\"model\":{\"type\":\"Unigram\",\"unk_id\":1,\"vocab\":[[\"<s>\",0],"
                 "[\"<unk>\",0]]}}",
                 contents[i]);
        rg_tokenizer *t = NULL;
        rg_error err;
        CHECK_INT(rg_tokenizer_from_json(json, strlen(json), &t, &err), RG_ECORRUPT);
        CHECK(t == NULL);
    }
    snprintf(json, sizeof json,
             "{\"added_tokens\":[{\"id\":0,\"content\":\"\xe2\x96\x81\"}],"
             "\"model\":{\"type\":\"Unigram\",\"unk_id\":1,\"vocab\":[[\"<s>\",0],"
             "[\"<unk>\",0]]}}");
    rg_tokenizer *t = open_json(json);
    REQUIRE(t);
    int32_t ids[64];
    CHECK(enc(t, "x \xe2\x96\x81word", 0, ids) > 0);
    rg_tokenizer_close(t);
}

/*
 * <mask> strips the white space before it (lstrip). The last byte of 입
 * (EC 9E 85) once passed for U+0085, a space: the strip cut the character in
 * two and the normalizer looped on the stray bytes (tests/fuzz: fuzz_unigram,
 * corpus/unigram/regress-lstrip-multibyte).
 */
static void test_lstrip_multibyte(void)
{
    rg_tokenizer *t = open_json(main_json);
    REQUIRE(t);
    int32_t a[64], b[64];
    size_t na = 0, nb = 0;
    rg_error err;
    static const char nl[] = "x \xec\x9e\x85\n\u00a0<mask>", sp[] = "x \xec\x9e\x85 <mask>";
    CHECK_INT(rg_tokenizer_encode(t, nl, strlen(nl), 0, a, 64, &na, &err), RG_OK);
    CHECK_INT(rg_tokenizer_encode(t, sp, strlen(sp), 0, b, 64, &nb, &err), RG_OK);
    CHECK(na == nb && na > 0 && memcmp(a, b, na * sizeof a[0]) == 0); /* all the space stripped */
    rg_tokenizer_close(t);
}

static void test_malformed(void)
{
    static const char *bad[][2] = {
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\"]]}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",-1]]}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1],[\"a\",-2]]}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},"
                     "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!!!\"}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},"
                     "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"/////w==\"}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},"
                     "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"}}"},
        {"ECORRUPT", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"pre_tokenizer\":"
                     "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"sometimes\"}}"},
        {"EUNSUPPORTED", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},"
                         "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a|b\"},\"content\":\"\"}}"},
        {"EUNSUPPORTED", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},"
                         "\"normalizer\":{\"type\":\"ByteLevel\"}}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_tokenizer *t = NULL;
        rg_error err;
        rg_status rc = rg_tokenizer_from_json(bad[i][1], strlen(bad[i][1]), &t, &err);
        rg_status want = strcmp(bad[i][0], "ECORRUPT") == 0 ? RG_ECORRUPT : RG_EUNSUPPORTED;
        if (rc != want)
            fprintf(stderr, "case %zu: %s\n", i, rc ? rg_error_message(&err) : "accepted");
        CHECK_INT(rc, want);
        CHECK(t == NULL);
        CHECK(rc == RG_OK || strlen(err.msg) > 0);
    }
}

/* A charsmap whose trie units are garbage must give ids or an error, never a stray read. */
static void test_damaged_charsmap(void)
{
    cJSON *root = cJSON_ParseWithLength(main_json, main_json_len);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "normalizer"),
                                                   "normalizers");
    cJSON *pre = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0), "precompiled_charsmap");
    REQUIRE(cJSON_IsString(pre));
    char *s = pre->valuestring;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    /* the size word is the first 4 bytes: 6 base64 digits and 2 bits of a 7th */
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 6 | (uint64_t)(strchr(b64, s[i]) - b64);
    uint32_t trie = (uint32_t)(bits >> 40 & 0xff) | (uint32_t)(bits >> 32 & 0xff) << 8 |
                    (uint32_t)(bits >> 24 & 0xff) << 16 | (uint32_t)(bits >> 16 & 0xff) << 24;
    size_t end = ((size_t)trie + 4) / 3 * 4; /* base64 digits wholly inside the trie */
    REQUIRE(end < strlen(s));
    uint32_t seed = 12345;
    for (size_t i = 8; i < end; i += 5) { /* scramble trie units, keep the string pool */
        seed = seed * 1103515245u + 12345u;
        s[i] = b64[(seed >> 16) & 63];
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    rg_tokenizer *t = NULL;
    rg_error err;
    rg_status rc = rg_tokenizer_from_json(json, strlen(json), &t, &err);
    cJSON_free(json);
    CHECK_INT(rc, RG_OK);
    static int32_t ids[IDS_CAP];
    for (uint32_t i = 0; t && i < fx.n; i++) {
        size_t n;
        rc = rg_tokenizer_encode(t, fx.text[i], fx.len[i], 0, ids, IDS_CAP, &n, &err);
        CHECK(rc == RG_OK || rc == RG_ECORRUPT || rc == RG_ELIMIT);
    }
    rg_tokenizer_close(t);
}

/* Every allocation failure while loading or encoding is reported, never a crash or leak. */
static void test_alloc_failures(void)
{
    const char *json = tiny_json(",\"unk_id\":1,\"byte_fallback\":true",
                                 "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},"
                                 "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]}");
    for (unsigned long k = 1; k < 400; k++) {
        rg_tokenizer *t = NULL;
        rg_error err;
        int32_t ids[16];
        size_t n = 0;
        rg_mem_fail_at(k, 1);
        rg_status rc = rg_tokenizer_from_json(json, strlen(json), &t, &err);
        rg_status rc2 = rc == RG_OK ? rg_tokenizer_encode(t, "ab  é", 6, 0, ids, 16, &n, &err) : rc;
        rg_mem_fail_at(0, 0);
        CHECK(rc == RG_OK || rc == RG_ENOMEM);
        CHECK(rc2 == RG_OK || rc2 == RG_ENOMEM);
        rg_tokenizer_close(t);
        if (rc2 == RG_OK) {
            CHECK_INT(n, 6); /* <s> ▁ab ▁ <0xC3> <0xA9> </s> */
            break;
        }
    }
}

int main(void)
{
    (void)fix_model_dir; /* the shared header's helper for the MiniLM tests */
    size_t size;
    main_json = (char *)fix_slurp(RAGD_FIXTURE_DIR, "tokenizer.json", &size);
    if (!main_json) {
        fprintf(stderr, "cannot read %s/tokenizer.json\n", RAGD_FIXTURE_DIR);
        return 1;
    }
    main_json_len = size;
    fix_load(&fx);
    static const test_case cases[] = {
        TEST(test_parity_main),
        TEST(test_parity_variants),
        TEST(test_viterbi_unknown_bytes),
        TEST(test_normalizers),
        TEST(test_malformed),
        TEST(test_damaged_charsmap),
        TEST(test_alloc_failures),
        TEST(test_normalizer_invalid_utf8),
        TEST(test_added_token_invalid_utf8),
        TEST(test_lstrip_multibyte),
    };
    int rc = test_run(cases, sizeof cases / sizeof cases[0]);
    fix_free(&fx);
    free(main_json);
    return rc;
}
