/*
 * fuzz_lexical.c — the lexical query side (index/lexical.h): BM25 search,
 * the ideal score and snippets, for arbitrary query text over a small
 * fixed index (English, CJK, numbers, elisions).
 *
 * Input: a selector byte (k, and whether a filter drops odd chunk ids),
 * then the query; after a 0x00 byte, the text to cut a snippet from
 * (else a fixed chunk text). Checked: at most k hits, best first, known
 * chunk ids only, filtered ids never returned; the snippet stays valid
 * UTF-8 when its text is.
 *
 * The same query also runs over a larger generated index (PR_ROWS chunks of
 * words drawn with a skew, so common words are in most chunks and the
 * top-k pruning engages), once pruned and once exhaustive: both must give
 * the same hits with the same scores.
 */
#include "fuzz.h"

#include <sqlite3.h>

#include "engine/base/buf.h"
#include "engine/base/utf8.h"
#include "index/lexical.h"

static sqlite3 *db, *big_db;
static rg_lexical *lx, *big_fast, *big_full;

/* The generated index: words of WORDS, the first ones in most chunks. */
#define PR_ROWS  2048
#define PR_K_MAX 200
static const char *const words[] = {
    "the",    "of",     "and",     "a",      "in",       "to",       "is",         "for",
    "on",     "with",   "data",    "model",  "search",   "index",    "query",      "vector",
    "server", "cache",  "token",   "chunk",  "score",    "fusion",   "filter",     "latency",
    "memory", "thread", "encoder", "answer", "citation", "document", "collection", "sqlite",
    "faiss",  "bm25",   "hybrid",  "dense",  "lexical",  "pruning",  "posting",    "threshold",
    "zebra",  "quartz", "nebula",  "fjord",  "glyph",
};
#define N_WORDS (sizeof words / sizeof words[0])

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* An in-memory database with the chunks_fts table; returns its insert
 * statement (rowid ?1, body ?2). Aborts on failure. */
static sqlite3_stmt *open_fts(sqlite3 **out)
{
    rg_error err;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(":memory:", out) != SQLITE_OK || rg_fts5_register(*out, &err) != RG_OK ||
        sqlite3_exec(*out,
                     "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(*out, "INSERT INTO chunks_fts(rowid, title, body) VALUES (?1, 't', ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        abort();
    return st;
}

static void open_big(void)
{
    rg_error err;
    sqlite3_stmt *st = open_fts(&big_db);
    uint64_t seed = 7;
    for (int i = 1; i <= PR_ROWS; i++) {
        char body[1024];
        size_t len = 0, n = 2 + lcg(&seed) % 40;
        for (size_t j = 0; j < n; j++) {
            double u = (lcg(&seed) + 0.5) / 2147483648.0;
            len += (size_t)snprintf(body + len, sizeof body - len, "%s ",
                                    words[(size_t)(N_WORDS * u * u * u)]);
        }
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, body, (int)len, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) abort();
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    rg_lexical_options o = rg_lexical_default_options();
    if (rg_lexical_open(big_db, &o, &big_fast, &err)) abort();
    o.exhaustive = 1;
    if (rg_lexical_open(big_db, &o, &big_full, &err)) abort();
}

static const char *const rows[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Pricing: the Pro plan costs 1,000 dollars a year (v3.14 and later).",
    "東京は日本の首都です。大阪は第二の都市。",
    "l'amour et l'été; the dog's bone; don't panic",
    "서울은 한국의 수도입니다. カタカナとひらがな",
    "Running runners ran; ingestion ingests documents, documenting everything.",
    "WireGuard listens on UDP port 51820 by default.",
    "",
};
#define N_ROWS (sizeof rows / sizeof rows[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    rg_error err;
    sqlite3_stmt *st = open_fts(&db);
    for (size_t i = 0; i < N_ROWS; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 2, rows[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) abort();
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rg_lexical_open(db, NULL, &lx, &err) != RG_OK) {
        fprintf(stderr, "fuzz_lexical: %s\n", rg_error_message(&err));
        abort();
    }
    open_big();
    return 0;
}

static int even_only(void *ctx, int64_t chunk_id)
{
    (void)ctx;
    return chunk_id % 2 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t sel = fuzz_byte(&in);
    size_t k = 1 + sel % 16;
    const uint8_t *part[2];
    size_t len[2];
    size_t parts = fuzz_split(in.p, in.n, 0, 2, part, len);
    char *query = fuzz_strndup(part[0], len[0]);
    rg_lex_hit hits[16];
    size_t n = 0;
    rg_error err;
    rg_error_clear(&err);
    rg_chunk_filter filter = (sel & 0x10) ? even_only : NULL;
    if (rg_lexical_search(lx, query, k, filter, NULL, hits, &n, &err) == RG_OK) {
        FUZZ_CHECK(n <= k);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(hits[i].chunk_id >= 1 && hits[i].chunk_id <= (int64_t)N_ROWS);
            FUZZ_CHECK(!filter || hits[i].chunk_id % 2 == 0);
            FUZZ_CHECK(i == 0 || hits[i].score <= hits[i - 1].score);
        }
    } else {
        FUZZ_CHECK(err.code == RG_ELIMIT || err.code == RG_ENOMEM || err.code == RG_EUTF8 ||
                   err.code == RG_EINVAL);
    }
    (void)rg_lexical_ideal(lx, query);

    /* pruned and exhaustive agree, hit for hit */
    static rg_lex_hit a[PR_K_MAX], b[PR_K_MAX];
    static const size_t big_k[] = {1, 3, 10, 50, 100, PR_K_MAX};
    size_t bk = big_k[(sel >> 5) % 6], na = 0, nb = 0;
    rg_status sa = rg_lexical_search(big_fast, query, bk, filter, NULL, a, &na, &err);
    rg_status sb = rg_lexical_search(big_full, query, bk, filter, NULL, b, &nb, &err);
    FUZZ_CHECK(sa == sb && na == nb);
    for (size_t i = 0; i < na; i++)
        FUZZ_CHECK(a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score);
    const char *text = parts > 1 ? (const char *)part[1] : rows[(sel >> 5) % N_ROWS];
    size_t text_len = parts > 1 ? len[1] : strlen(text), bad;
    rg_buf out;
    rg_buf_init(&out, 1u << 20);
    if (rg_lexical_snippet(lx, query, text, text_len, sel % 48, "<b>", "</b>", &out, &err) ==
            RG_OK &&
        rg_utf8_valid(text, text_len, &bad))
        FUZZ_CHECK(rg_utf8_valid(out.data, out.len, &bad));
    rg_buf_free(&out);
    free(query);
    return 0;
}
