/*
 * fuzz_fts5_tokenizer.c — the "ragd" FTS5 tokenizer (index/fts5_tokenizer.c)
 * on arbitrary bytes, alone and as SQLite runs it.
 *
 * The first byte picks the spec ("ragd", "porter ragd", or the input's
 * first line as a tokenize= spec) and the mode (document or query). Each
 * token must lie inside the input with start <= end and be at most
 * RG_TOKEN_MAX_BYTES long, valid UTF-8. Then the text goes into an FTS5
 * table and FTS5's integrity-check must pass (the tokenizer gives the same
 * tokens each time it reads a text), and is deleted again.
 */
#include "fuzz.h"

#include <sqlite3.h>

#include "engine/base/utf8.h"
#include "index/lexical.h"

static sqlite3 *db;
static sqlite3_stmt *ins, *check, *del;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    rg_error err;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || rg_fts5_register(db, &err) != RG_OK ||
        sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter ragd')", NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (1, ?1)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO t(t) VALUES ('integrity-check')", -1, &check, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM t WHERE rowid = 1", -1, &del, NULL)) {
        fprintf(stderr, "fuzz_fts5_tokenizer: setup: %s\n", sqlite3_errmsg(db));
        abort();
    }
    return 0;
}

typedef struct span_ctx {
    size_t n;
    size_t tokens;
} span_ctx;

/* ragd's own tokens: inside the input, not empty, not too long, valid UTF-8. */
static int on_token(void *ctx, const char *tok, size_t n, size_t start, size_t end, int colocated)
{
    span_ctx *c = ctx;
    size_t bad;
    (void)colocated;
    FUZZ_CHECK(start <= end && end <= c->n);
    FUZZ_CHECK(n > 0 && n <= RG_TOKEN_MAX_BYTES && rg_utf8_valid(tok, n, &bad));
    c->tokens++;
    return 0;
}

/* Another tokenizer the spec named (SQLite's own): its spans are its business. */
static int on_any_token(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                        int colocated)
{
    (void)tok, (void)n, (void)start, (void)end, (void)colocated;
    ((span_ctx *)ctx)->tokens++;
    return 0;
}

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t mode = fuzz_byte(&in);
    const char *text = (const char *)in.p;
    size_t n = in.n;
    char spec[96] = "ragd";
    if (mode & 2) snprintf(spec, sizeof spec, "porter ragd");
    if ((mode & 12) == 12) { /* the spec from the first line, the rest is the text */
        size_t l = 0;
        while (l < n && text[l] != '\n' && l + 1 < sizeof spec)
            l++;
        memcpy(spec, text, l);
        spec[l] = '\0';
        text += l, n -= l;
    }
    rg_fts5_tokenizer *t = NULL;
    rg_error err;
    rg_error_clear(&err);
    int ours = (mode & 12) != 12;
    if (rg_fts5_tokenizer_open(db, spec, &t, &err) == RG_OK) {
        span_ctx c = {n, 0};
        rg_fts5_tokenizer_run(t, text, n, mode & 1, ours ? on_token : on_any_token, &c, &err);
        rg_fts5_tokenizer_close(t);
    } else {
        FUZZ_CHECK(!ours);
    }
    if (mode & 16) {
        sqlite3_bind_text(ins, 1, n ? text : "", (int)n, SQLITE_STATIC);
        if (step_reset(ins) == SQLITE_DONE) {
            int rc = step_reset(check);
            FUZZ_CHECK(rc == SQLITE_DONE);
            FUZZ_CHECK(step_reset(del) == SQLITE_DONE);
        }
        sqlite3_clear_bindings(ins);
    }
    return 0;
}
