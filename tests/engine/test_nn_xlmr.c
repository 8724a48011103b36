/*
 * test_nn_xlmr.c — the XLM-R path end to end against PyTorch: the tiny
 * random XLMRobertaModel of tests/fixtures/xlmr-tiny/ (Unigram tokenizer,
 * position ids offset by padding_idx + 1, one token type, mean pooling,
 * Normalize) embeds every fixture text as transformers does.
 */
#include "test.h"
#include "test_nn_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/nn/bert.h"
#include "engine/nn/encoder.h"

static fix_texts fx;

static void compare(const float *got, const char *what)
{
    double min_cos = 1, max_diff = 0;
    uint32_t worst = 0;
    for (uint32_t i = 0; i < fx.n; i++) {
        const float *a = got + (size_t)i * fx.dim, *b = fx.emb + (size_t)i * fx.dim;
        double ab = 0, aa = 0, bb = 0;
        for (uint32_t d = 0; d < fx.dim; d++) {
            ab += (double)a[d] * b[d];
            aa += (double)a[d] * a[d];
            bb += (double)b[d] * b[d];
            max_diff = fmax(max_diff, fabs((double)a[d] - b[d]));
        }
        double c = ab / sqrt(aa * bb + 1e-30);
        if (c < min_cos) {
            min_cos = c;
            worst = i;
        }
    }
    fprintf(stderr, "%s: %u texts, min cosine %.7f (text %u), max abs diff %.2e\n", what, fx.n,
            min_cos, worst, max_diff);
    CHECK(min_cos >= 0.9999);
    CHECK(max_diff <= 1e-4);
}

static void embed_with(rg_gemm_backend be, size_t batch_tokens)
{
    rg_encoder_options o = rg_encoder_default_options();
    o.backend = be;
    o.batch_tokens = batch_tokens;
    rg_encoder *enc = NULL;
    rg_error err;
    rg_status rc = rg_encoder_open(RAGD_FIXTURE_DIR, &o, &enc, &err);
    if (rc)
        fprintf(stderr, "open %s: %s\n", RAGD_FIXTURE_DIR, rg_error_message(&err));
    REQUIRE(rc == RG_OK);
    CHECK_INT(rg_encoder_dim(enc), fx.dim);
    CHECK_INT(rg_encoder_max_length(enc), fx.max_len);
    CHECK_INT(rg_encoder_pooling(enc), RG_POOL_MEAN);
    CHECK(rg_encoder_normalizes(enc));
    CHECK_INT(rg_tokenizer_pad_id(rg_encoder_tokenizer(enc)), 1);
    float *out = malloc(sizeof(float) * fx.n * fx.dim);
    size_t *lens = malloc(sizeof(size_t) * fx.n);
    for (uint32_t i = 0; i < fx.n; i++)
        lens[i] = fx.len[i];
    rc = rg_encoder_embed(enc, (const char *const *)fx.text, lens, fx.n, out, &err);
    if (rc)
        fprintf(stderr, "embed: %s\n", rg_error_message(&err));
    CHECK_INT(rc, RG_OK);
    char what[128];
    snprintf(what, sizeof what, "xlm-r fp32 %s, %s batches vs PyTorch",
             rg_gemm_name(be == RG_GEMM_AUTO ? rg_gemm_best() : be), batch_tokens ? "one-text" : "default");
    if (rc == RG_OK)
        compare(out, what);
    free(out);
    free(lens);
    rg_encoder_close(enc);
}

static void test_parity_reference(void) { embed_with(RG_GEMM_REF, 0); }
static void test_parity_best(void) { embed_with(RG_GEMM_AUTO, 0); }
/* one sequence per batch: the position offset restarts for each */
static void test_parity_small_batches(void) { embed_with(RG_GEMM_AUTO, 130); }

static void test_config(void)
{
    rg_bert *b = NULL;
    rg_error err;
    REQUIRE(rg_bert_open(RAGD_FIXTURE_DIR, &b, &err) == RG_OK);
    const rg_bert_config *c = rg_bert_get_config(b);
    CHECK_INT(c->position_offset, 2); /* pad_token_id 1 + 1 */
    CHECK_INT(c->type_vocab, 1);
    CHECK_INT(c->max_positions, 130);
    rg_bert_close(b);
}

/*
 * Model metadata read from the folder: prompts (config_sentence_transformers
 * .json) and languages (the README front matter). The fixture has neither,
 * so a copy of it by symbolic links gets both.
 */
static void test_metadata(void)
{
    rg_encoder *enc = NULL;
    rg_error err;
    REQUIRE(rg_encoder_open(RAGD_FIXTURE_DIR, NULL, &enc, &err) == RG_OK);
    CHECK_STR(rg_encoder_query_prompt(enc), "");
    CHECK_STR(rg_encoder_passage_prompt(enc), "");
    CHECK_STR(rg_encoder_languages(enc), "");
    rg_encoder_close(enc);

    char dir[] = "/tmp/ragd-xlmr-meta-XXXXXX", path[512], target[512];
    REQUIRE(mkdtemp(dir) != NULL);
    const char *files[] = {"config.json", "tokenizer.json", "model.safetensors", "modules.json",
                           "sentence_bert_config.json", "1_Pooling"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        snprintf(target, sizeof target, "%s/%s", RAGD_FIXTURE_DIR, files[i]);
        CHECK(symlink(target, path) == 0);
    }
    snprintf(path, sizeof path, "%s/config_sentence_transformers.json", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"prompts\": {\"query\": \"query: \", \"passage\": \"passage: \"}}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/README.md", dir);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("---\nlanguage:\n- multilingual\n- zh\n- en\nlicense: mit\n---\n# card\n", f);
    fclose(f);
    REQUIRE(rg_encoder_open(dir, NULL, &enc, &err) == RG_OK);
    CHECK_STR(rg_encoder_query_prompt(enc), "query: ");
    CHECK_STR(rg_encoder_passage_prompt(enc), "passage: ");
    CHECK_STR(rg_encoder_languages(enc), "multilingual,zh,en");
    /* a multilingual card reads every script */
    CHECK_INT(rg_encoder_covers(enc, "年度健康檢查補助多少", strlen("年度健康檢查補助多少")), 1);
    CHECK_INT(rg_encoder_covers(enc, "Привет", strlen("Привет")), 1);
    rg_encoder_close(enc);
    const char *all[] = {"config.json", "tokenizer.json", "model.safetensors", "modules.json",
                         "sentence_bert_config.json", "1_Pooling",
                         "config_sentence_transformers.json", "README.md"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, all[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    (void)fix_model_dir; /* the shared header's helper for the MiniLM tests */
    fix_load(&fx);
    static const test_case cases[] = {TEST(test_config), TEST(test_metadata),
                                      TEST(test_parity_reference),
                                      TEST(test_parity_best), TEST(test_parity_small_batches)};
    int rc = test_run(cases, sizeof cases / sizeof cases[0]);
    fix_free(&fx);
    return rc;
}
