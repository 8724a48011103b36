#include "test.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "index/lexical.h"
#include "index/lexical_impl.h"

#define MAX_TOKS 64
#define SNIP_MAX 4096

typedef struct tokrec {
    char text[RG_TOKEN_MAX_BYTES + 1];
    size_t len, start, end;
    int colocated;
} tokrec;

typedef struct toklist {
    tokrec t[MAX_TOKS];
    size_t n;
    size_t total; /* tokens seen, also past MAX_TOKS */
    int bad;      /* a token broke the contract */
    size_t input_len;
} toklist;

static int record(void *ctx, const char *tok, size_t n, size_t start, size_t end, int colocated)
{
    toklist *l = ctx;
    if (n == 0 || n > RG_TOKEN_MAX_BYTES || !rg_utf8_valid(tok, n, NULL) || start >= end ||
        end > l->input_len || (colocated && l->total == 0)) {
        l->bad = 1;
    }
    l->total++;
    if (l->n < MAX_TOKS && n <= RG_TOKEN_MAX_BYTES) {
        tokrec *r = &l->t[l->n++];
        memcpy(r->text, tok, n);
        r->text[n] = '\0';
        r->len = n;
        r->start = start;
        r->end = end;
        r->colocated = colocated;
    }
    return 0;
}

static int stop_after_two(void *ctx, const char *tok, size_t n, size_t start, size_t end,
                          int colocated)
{
    (void)tok, (void)n, (void)start, (void)end, (void)colocated;
    return ++*(int *)ctx == 2;
}

static sqlite3 *open_db(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return NULL;
    rg_error err;
    if (rg_fts5_register(db, &err) != RG_OK) {
        fprintf(stderr, "register: %s\n", err.msg);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sql: %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

/* Tokenizes s with spec into *l; returns the status. */
static rg_status tokenize(sqlite3 *db, const char *spec, const char *s, size_t n, int query,
                          toklist *l)
{
    rg_fts5_tokenizer *t = NULL;
    rg_error err;
    memset(l, 0, sizeof *l);
    l->input_len = n;
    rg_status st = rg_fts5_tokenizer_open(db, spec, &t, &err);
    if (st != RG_OK) return st;
    st = rg_fts5_tokenizer_run(t, s, n, query, record, l, &err);
    rg_fts5_tokenizer_close(t);
    return st;
}

#define CHECK_TOK(l, i, txt, s, e, col)                                                            \
    do {                                                                                           \
        CHECK((i) < (l).n);                                                                        \
        if ((i) < (l).n) {                                                                         \
            CHECK_STR((l).t[i].text, txt);                                                         \
            CHECK_INT((l).t[i].start, s);                                                          \
            CHECK_INT((l).t[i].end, e);                                                            \
            CHECK_INT((l).t[i].colocated, col);                                                    \
        }                                                                                          \
    } while (0)

static void test_english(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    const char *s = "Hello WORLD, Straße! Élan";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 4);
    CHECK_TOK(l, 0, "hello", 0, 5, 0);
    CHECK_TOK(l, 1, "world", 6, 11, 0);
    CHECK_TOK(l, 2, "strasse", 13, 20, 0);
    CHECK_TOK(l, 3, "élan", 22, 27, 0);
    CHECK(!l.bad);

    s = "running runs RUN";
    CHECK_INT(tokenize(db, "porter ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 3);
    CHECK_TOK(l, 0, "run", 0, 7, 0);
    CHECK_TOK(l, 1, "run", 8, 12, 0);
    CHECK_TOK(l, 2, "run", 13, 16, 0);
    /* quotes around spec words are accepted as in FTS5 */
    CHECK_INT(tokenize(db, "'porter' \"ragd\"", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 3);
    sqlite3_close(db);
}

static void test_apostrophes_numbers(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    const char *s = "don\xe2\x80\x99t l'amour dog's qu'il 'quoted'";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 5);
    CHECK_TOK(l, 0, "don't", 0, 7, 0);
    CHECK_TOK(l, 1, "amour", 8, 15, 0);
    CHECK_TOK(l, 2, "dog", 16, 21, 0);
    CHECK_TOK(l, 3, "il", 22, 27, 0);
    CHECK_TOK(l, 4, "quoted", 29, 35, 0);

    s = "pi 3.14, 1,000 items; v2.0 end. 3.x";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 8);
    CHECK_TOK(l, 0, "pi", 0, 2, 0);
    CHECK_TOK(l, 1, "3.14", 3, 7, 0);
    CHECK_TOK(l, 2, "1,000", 9, 14, 0);
    CHECK_TOK(l, 3, "items", 15, 20, 0);
    CHECK_TOK(l, 4, "v2.0", 22, 26, 0);
    CHECK_TOK(l, 5, "end", 27, 30, 0);
    CHECK_TOK(l, 6, "3", 32, 33, 0);
    CHECK_TOK(l, 7, "x", 34, 35, 0);
    sqlite3_close(db);
}

static void test_chinese(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    /* Traditional: 資料庫 — unigrams with the bigram colocated */
    const char *s = "資料庫";
    CHECK_INT(tokenize(db, "porter ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 5);
    CHECK_TOK(l, 0, "資", 0, 3, 0);
    CHECK_TOK(l, 1, "資料", 0, 6, 1);
    CHECK_TOK(l, 2, "料", 3, 6, 0);
    CHECK_TOK(l, 3, "料庫", 3, 9, 1);
    CHECK_TOK(l, 4, "庫", 6, 9, 0);
    /* Simplified, broken by punctuation: no bigram across '，' */
    s = "数据，库";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 4);
    CHECK_TOK(l, 0, "数", 0, 3, 0);
    CHECK_TOK(l, 1, "数据", 0, 6, 1);
    CHECK_TOK(l, 2, "据", 3, 6, 0);
    CHECK_TOK(l, 3, "库", 9, 12, 0);
    /* queries: bigrams only, a lone character as itself */
    s = "数据库 中";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 3);
    CHECK_TOK(l, 0, "数据", 0, 6, 0);
    CHECK_TOK(l, 1, "据库", 3, 9, 0);
    CHECK_TOK(l, 2, "中", 10, 13, 0);
    /* a query's bigrams with an interrogative ask, they do not say: left out;
     * a document keeps them (statements may hold 多少 or 什么 too) */
    s = "婚假有幾天";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 2);
    CHECK_TOK(l, 0, "婚假", 0, 6, 0);
    CHECK_TOK(l, 1, "假有", 3, 9, 0);
    s = "什么是数据库吗";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 3);
    CHECK_TOK(l, 0, "是数", 6, 12, 0);
    CHECK_TOK(l, 1, "数据", 9, 15, 0);
    CHECK_TOK(l, 2, "据库", 12, 18, 0);
    s = "有幾天";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 5);
    CHECK_TOK(l, 1, "有幾", 0, 6, 1);
    CHECK_TOK(l, 3, "幾天", 3, 9, 1);
    sqlite3_close(db);
}

static void test_japanese_korean(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    const char *s = "ひらカナ漢字";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 11);
    CHECK_TOK(l, 0, "ひ", 0, 3, 0);
    CHECK_TOK(l, 1, "ひら", 0, 6, 1);
    CHECK_TOK(l, 3, "らカ", 3, 9, 1);
    CHECK_TOK(l, 7, "ナ漢", 9, 15, 1);
    CHECK_TOK(l, 10, "字", 15, 18, 0);
    /* half-width katakana with its voiced mark folds to one full-width unit */
    s = "ｶﾞｲﾄﾞ";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 2);
    CHECK_TOK(l, 0, "ガイ", 0, 9, 0);
    CHECK_TOK(l, 1, "イド", 6, 15, 0);
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 5);
    CHECK_TOK(l, 0, "ガ", 0, 6, 0);
    CHECK_TOK(l, 1, "ガイ", 0, 9, 1);

    s = "한국어 검색";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 8);
    CHECK_TOK(l, 0, "한", 0, 3, 0);
    CHECK_TOK(l, 1, "한국", 0, 6, 1);
    CHECK_TOK(l, 4, "어", 6, 9, 0);
    CHECK_TOK(l, 5, "검", 10, 13, 0);
    CHECK_TOK(l, 6, "검색", 10, 16, 1);
    sqlite3_close(db);
}

static void test_mixed_fullwidth(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    const char *s = "GPU加速2倍";
    CHECK_INT(tokenize(db, "porter ragd", s, strlen(s), 0, &l), RG_OK);
    CHECK_INT(l.n, 6);
    CHECK_TOK(l, 0, "gpu", 0, 3, 0);
    CHECK_TOK(l, 1, "加", 3, 6, 0);
    CHECK_TOK(l, 2, "加速", 3, 9, 1);
    CHECK_TOK(l, 3, "速", 6, 9, 0);
    CHECK_TOK(l, 4, "2", 9, 10, 0);
    CHECK_TOK(l, 5, "倍", 10, 13, 0);
    /* full-width letters and digits in a query fold to ASCII */
    s = "ＡＢＣ １２３ ３．１４";
    CHECK_INT(tokenize(db, "porter ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 3);
    CHECK_TOK(l, 0, "abc", 0, 9, 0);
    CHECK_TOK(l, 1, "123", 10, 19, 0);
    CHECK_TOK(l, 2, "3.14", 20, 32, 0);
    s = "ＤＯＮ＇Ｔ";
    CHECK_INT(tokenize(db, "ragd", s, strlen(s), 1, &l), RG_OK);
    CHECK_INT(l.n, 1);
    CHECK_TOK(l, 0, "don't", 0, 15, 0);
    sqlite3_close(db);
}

static void test_limits_and_garbage(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    toklist l;
    char big[512];
    memset(big, 'A', 300);
    memcpy(big + 300, " ok", 4);
    CHECK_INT(tokenize(db, "ragd", big, strlen(big), 0, &l), RG_OK);
    CHECK_INT(l.n, 2);
    CHECK_INT(l.t[0].len, RG_TOKEN_MAX_BYTES);
    CHECK_INT(l.t[0].end, 300);
    CHECK(l.t[0].text[0] == 'a');
    CHECK_STR(l.t[1].text, "ok");
    /* 'x' then 2-byte letters: the cut at 128 bytes would split one */
    big[0] = 'x';
    for (size_t i = 0; i < 150; i++)
        memcpy(big + 1 + 2 * i, "\xc3\xa9", 2);
    big[301] = '\0';
    CHECK_INT(tokenize(db, "ragd", big, 301, 0, &l), RG_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.t[0].len, RG_TOKEN_MAX_BYTES - 1);
    CHECK(rg_utf8_valid(l.t[0].text, l.t[0].len, NULL));
    CHECK(!l.bad);

    CHECK_INT(tokenize(db, "ragd", "", 0, 0, &l), RG_OK);
    CHECK_INT(l.total, 0);
    CHECK_INT(tokenize(db, "ragd", " ,.!? ", 6, 1, &l), RG_OK);
    CHECK_INT(l.total, 0);
    const char *bad = "ab\xff"
                      "cd\xe4\xb8"
                      "中\xc0\xaf";
    CHECK_INT(tokenize(db, "ragd", bad, strlen(bad), 0, &l), RG_OK);
    CHECK_INT(l.n, 3);
    CHECK_TOK(l, 0, "ab", 0, 2, 0);
    CHECK_TOK(l, 1, "cd", 3, 5, 0);
    CHECK_TOK(l, 2, "中", 7, 10, 0);

    /* random bytes, biased towards UTF-8 lead and trail bytes */
    uint32_t seed = 12345;
    char buf[256];
    int ok = 1;
    for (int round = 0; round < 3000 && ok; round++) {
        size_t n = 1 + round % (sizeof buf - 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            static const unsigned char pick[] = {'a',  'Z',  '9',  '.',  ',',  '\'', ' ',  0xe4,
                                                 0xb8, 0xad, 0xc3, 0xa9, 0xff, 0x80, 0xef, 0xbc};
            buf[i] = (char)pick[(seed >> 16) % sizeof pick];
        }
        for (int q = 0; q < 2; q++) {
            ok &= tokenize(db, "porter ragd", buf, n, q, &l) == RG_OK && !l.bad;
        }
    }
    CHECK(ok);

    rg_fts5_tokenizer *t = NULL;
    rg_error err;
    REQUIRE(rg_fts5_tokenizer_open(db, "porter ragd", &t, &err) == RG_OK);
    int seen = 0;
    CHECK_INT(rg_fts5_tokenizer_run(t, "one two three four", 18, 0, stop_after_two, &seen, &err),
              RG_OK);
    CHECK_INT(seen, 2);
    rg_fts5_tokenizer_close(t);
    t = NULL;
    CHECK_INT(rg_fts5_tokenizer_open(db, "nosuch", &t, &err), RG_ENOTFOUND);
    CHECK(t == NULL);
    CHECK(rg_fts5_tokenizer_open(db, "ragd extra-arg", &t, &err) != RG_OK);
    sqlite3_close(db);
}

/* Row count of SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH q. */
static int match_ids(sqlite3 *db, const char *q, int64_t *ids, int max)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?1 ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < max) ids[n] = sqlite3_column_int64(st, 0);
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

static sqlite3 *make_corpus(const char *const *rows, size_t n)
{
    sqlite3 *db = open_db();
    if (!db) return NULL;
    if (exec(db,
             "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, tokenize='porter ragd')")) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES (?1, ?2, ?3)", -1,
                       &st, NULL);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, atoll(rows[3 * i]));
        sqlite3_bind_text(st, 2, rows[3 * i + 1], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rows[3 * i + 2], -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return db;
}

static void test_match_sql(void)
{
    static const char *const rows[] = {
        "1", "課程",    "我們正在學習中文課程，每天練習。",
        "2", "新闻",    "今天的天气很好，我们去公园散步。",
        "3", "English", "The runners were running in the park",
        "4", "混合",    "GPU加速2倍，ＡＢＣ测试",
    };
    sqlite3 *db = make_corpus(rows, 4);
    REQUIRE(db);
    int64_t ids[8];
    CHECK_INT(match_ids(db, "中", ids, 8), 1);
    CHECK_INT(ids[0], 1);
    CHECK_INT(match_ids(db, "中文", ids, 8), 1);
    CHECK_INT(ids[0], 1);
    CHECK_INT(match_ids(db, "學習中文", ids, 8), 1);
    CHECK_INT(match_ids(db, "文中", ids, 8), 0);
    CHECK_INT(match_ids(db, "天气", ids, 8), 1);
    CHECK_INT(ids[0], 2);
    CHECK_INT(match_ids(db, "公", ids, 8), 1);
    CHECK_INT(match_ids(db, "园", ids, 8), 1);
    CHECK_INT(match_ids(db, "气很", ids, 8), 1);
    CHECK_INT(match_ids(db, "好我", ids, 8), 0); /* not across '，' */
    CHECK_INT(match_ids(db, "run", ids, 8), 1);
    CHECK_INT(ids[0], 3);
    CHECK_INT(match_ids(db, "RUNS", ids, 8), 1);
    CHECK_INT(match_ids(db, "加速", ids, 8), 1);
    CHECK_INT(ids[0], 4);
    CHECK_INT(match_ids(db, "gpu", ids, 8), 1);
    CHECK_INT(match_ids(db, "abc", ids, 8), 1);
    CHECK_INT(match_ids(db, "ＡＢＣ", ids, 8), 1);
    sqlite3_close(db);
}

/* BM25 as the header defines it, in double precision. */
static double bm25(double tf, double df, double dl, double n, double avgdl)
{
    double k1 = 0.9, b = 0.4;
    double idf = log(1.0 + (n - df + 0.5) / (df + 0.5));
    return idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl));
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-5 * (fabs(b) + 1e-9);
}

static void test_bm25(void)
{
    /* lengths (all columns): 3, 4, 2, 5; apple in 1 (tf 2) and 4 (tf 1);
     * banana in 1 (tf 1) and 2 (tf 3) */
    static const char *const rows[] = {
        "1", "apple",  "apple banana", "2", "banana", "cherry banana banana",
        "3", "cherry", "date",         "4", "apple",  "cherry date fig grape",
    };
    sqlite3 *db = make_corpus(rows, 4);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    CHECK_INT(rg_lexical_size(lx), 4);
    double n = 4, avgdl = 14.0 / 4;
    double s1 = bm25(2, 2, 3, n, avgdl) + bm25(1, 2, 3, n, avgdl);
    double s2 = bm25(3, 2, 4, n, avgdl);
    double s4 = bm25(1, 2, 5, n, avgdl);
    rg_lex_hit hits[8];
    size_t nh = 0;
    CHECK_INT(rg_lexical_search(lx, "Apples, BANANAS and apple?", 8, NULL, NULL, hits, &nh, &err),
              RG_OK);
    REQUIRE(nh == 3);
    CHECK(s1 > s2 && s2 > s4);
    CHECK_INT(hits[0].chunk_id, 1);
    CHECK_INT(hits[1].chunk_id, 2);
    CHECK_INT(hits[2].chunk_id, 4);
    CHECK(near(hits[0].score, s1));
    CHECK(near(hits[1].score, s2));
    CHECK(near(hits[2].score, s4));
    /* k smaller than the matches */
    CHECK_INT(rg_lexical_search(lx, "apple banana", 1, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 1);
    CHECK_INT(hits[0].chunk_id, 1);
    /* absent terms are ignored; nothing indexed gives no hits */
    CHECK_INT(rg_lexical_search(lx, "zebra date", 8, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 2);
    CHECK(near(hits[0].score, bm25(1, 2, 2, n, avgdl)));
    CHECK_INT(hits[0].chunk_id, 3);
    CHECK_INT(rg_lexical_search(lx, "zebra ... 中", 8, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 0);
    CHECK_INT(rg_lexical_search(lx, "", 8, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 0);
    CHECK_INT(rg_lexical_search(lx, "apple", 0, NULL, NULL, NULL, &nh, &err), RG_OK);
    CHECK_INT(nh, 0);
    static char longq[RG_QUERY_MAX_BYTES + 2];
    memset(longq, 'a', sizeof longq - 1);
    CHECK_INT(rg_lexical_search(lx, longq, 8, NULL, NULL, hits, &nh, &err), RG_ELIMIT);
    rg_lexical_close(lx);

    /* other k1, b */
    rg_lexical_options o = rg_lexical_default_options();
    o.k1 = 1.2f;
    o.b = 0.75f;
    REQUIRE(rg_lexical_open(db, &o, &lx, &err) == RG_OK);
    CHECK_INT(rg_lexical_search(lx, "fig", 8, NULL, NULL, hits, &nh, &err), RG_OK);
    REQUIRE(nh == 1);
    double idf = log(1.0 + (4 - 1 + 0.5) / (1 + 0.5));
    CHECK(near(hits[0].score, idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 5 / avgdl))));
    rg_lexical_close(lx);
    sqlite3_close(db);
}

static int even_only(void *ctx, int64_t id)
{
    int *calls = ctx;
    (*calls)++;
    return id % 2 == 0;
}

static int below(void *ctx, int64_t id)
{
    return id < *(int64_t *)ctx;
}

static void test_filter_ties(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    REQUIRE(exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')") == SQLITE_OK);
    /* 60 chunks; "common" everywhere, "rare" more often in odd ids, so the
     * best chunks are all filtered out */
    char sql[256];
    for (int i = 1; i <= 60; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO chunks_fts(rowid, title, body) VALUES (%d, 't', 'common %s')", i,
                 i % 2 ? "rare rare rare" : "rare filler words");
        REQUIRE(exec(db, sql) == SQLITE_OK);
    }
    /* identical chunks inserted out of id order */
    REQUIRE(exec(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES "
                     "(300, 'same', 'twin text'), (100, 'same', 'twin text'), "
                     "(200, 'same', 'twin text')") == SQLITE_OK);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    CHECK_INT(rg_lexical_size(lx), 63);
    rg_lex_hit hits[16];
    size_t nh = 0;
    int calls = 0;
    CHECK_INT(rg_lexical_search(lx, "rare", 10, even_only, &calls, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 10);
    CHECK(calls >= 10);
    for (size_t i = 0; i < nh; i++) {
        CHECK(hits[i].chunk_id % 2 == 0);
        if (i) CHECK(hits[i - 1].score >= hits[i].score);
    }
    /* all even chunks tie: lowest ids first */
    CHECK_INT(hits[0].chunk_id, 2);
    CHECK_INT(hits[9].chunk_id, 20);
    /* fewer allowed than k */
    int64_t limit = 4;
    CHECK_INT(rg_lexical_search(lx, "rare", 10, below, &limit, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 3);
    CHECK_INT(hits[0].chunk_id, 1);
    CHECK_INT(hits[1].chunk_id, 3);
    CHECK_INT(hits[2].chunk_id, 2);
    /* exact ties broken by lower chunk id */
    CHECK_INT(rg_lexical_search(lx, "twin", 2, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 2);
    CHECK_INT(hits[0].chunk_id, 100);
    CHECK_INT(hits[1].chunk_id, 200);
    CHECK(hits[0].score == hits[1].score);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

typedef struct race {
    rg_lexical *lx;
    int bad;
} race;

static void *race_search(void *p)
{
    race *r = p;
    rg_lex_hit hits[4];
    size_t nh = 0;
    rg_error err;
    for (int i = 0; i < 300; i++) {
        const char *q = i % 2 ? "rare" : "twin";
        if (rg_lexical_search(r->lx, q, 2, NULL, NULL, hits, &nh, &err) != RG_OK || nh != 2 ||
            hits[0].chunk_id != (i % 2 ? 1 : 100) || hits[1].chunk_id != (i % 2 ? 3 : 200)) {
            r->bad = 1;
        }
    }
    return NULL;
}

/* Searches from several threads share one handle (and its accumulator). */
static void test_threads(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    REQUIRE(exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')") == SQLITE_OK);
    REQUIRE(exec(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES "
                     "(1, 'x', 'rare rare'), (2, 'x', 'rare y z'), (3, 'x', 'rare rare'), "
                     "(100, 'x', 'twin'), (200, 'x', 'twin'), (300, 'x', 'twin')") == SQLITE_OK);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    enum { N_THREADS = 4 };
    pthread_t th[N_THREADS];
    race r[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        r[i] = (race){lx, 0};
        REQUIRE(pthread_create(&th[i], NULL, race_search, &r[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK(!r[i].bad);
    }
    rg_lexical_close(lx);
    sqlite3_close(db);
}

static void test_search_cjk(void)
{
    static const char *const rows[] = {
        "10", "課程", "我們正在學習中文課程，每天練習。",
        "20", "新闻", "今天的天气很好，我们去公园散步。",
        "30", "文章", "中國的文化很有趣，文字也很美。",
        "40", "gpu",  "GPU加速2倍",
    };
    sqlite3 *db = make_corpus(rows, 4);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    rg_lex_hit hits[4];
    size_t nh = 0;
    CHECK_INT(rg_lexical_search(lx, "中文", 4, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 1);
    CHECK_INT(hits[0].chunk_id, 10);
    CHECK_INT(rg_lexical_search(lx, "文", 4, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 2);
    CHECK_INT(rg_lexical_search(lx, "ｇｐｕ 加速", 4, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 1);
    CHECK_INT(hits[0].chunk_id, 40);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

/*
 * A question in one Chinese script finds text in the other (zh.h): every
 * bigram of "健康检查补助" is indexed only in Traditional. The coverage ideal
 * is the same for both scripts. A term indexed as typed is taken as typed.
 */
static void test_search_zh_scripts(void)
{
    static const char *const rows[] = {
        "10", "福利", "每位員工每年享有健康檢查補助八千元。",
        "20", "新闻", "今天的天气很好，我们去公园散步。",
        "30", "頭髮", "理髮店營業時間為上午九點。",
    };
    sqlite3 *db = make_corpus(rows, 3);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    rg_lex_hit trad[4], simp[4];
    size_t nt = 0, ns = 0;
    CHECK_INT(rg_lexical_search(lx, "健康檢查補助", 4, NULL, NULL, trad, &nt, &err), RG_OK);
    CHECK_INT(rg_lexical_search(lx, "健康检查补助", 4, NULL, NULL, simp, &ns, &err), RG_OK);
    CHECK_INT(nt, 1);
    CHECK_INT(ns, 1);
    CHECK_INT(simp[0].chunk_id, 10);
    CHECK(fabs(simp[0].score - trad[0].score) < 1e-6);
    CHECK(fabs(rg_lexical_ideal(lx, "健康检查补助") - rg_lexical_ideal(lx, "健康檢查補助")) < 1e-9);
    /* 发 has two Traditional forms (發 髮): the one indexed is found */
    CHECK_INT(rg_lexical_search(lx, "理发", 4, NULL, NULL, simp, &ns, &err), RG_OK);
    CHECK_INT(ns, 1);
    CHECK_INT(simp[0].chunk_id, 30);
    /* Simplified text stays matched as typed; the Traditional query folds */
    CHECK_INT(rg_lexical_search(lx, "天气", 4, NULL, NULL, simp, &ns, &err), RG_OK);
    CHECK_INT(ns, 1);
    CHECK_INT(simp[0].chunk_id, 20);
    CHECK_INT(rg_lexical_search(lx, "天氣", 4, NULL, NULL, simp, &ns, &err), RG_OK);
    CHECK_INT(ns, 1);
    CHECK_INT(simp[0].chunk_id, 20);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

/*
 * The coverage ideal leaves out a bigram the index lacks when both of its
 * characters are common (here in 6 and 5 of 12 chunks, never side by side):
 * "假有" in "婚假有" is the seam between two words, not a missing word. A
 * missing name's bigram (rare characters) still counts, and a query of
 * seams alone is not left with nothing.
 */
static void test_ideal_seams(void)
{
    static const char *const rows[] = {
        "1",  "a", "婚假共八天", "2",  "a", "病假需證明", "3",  "a", "事假不給薪",
        "4",  "a", "產假八週",   "5",  "a", "喪假三天",   "6",  "a", "公假半天",
        "7",  "a", "我有一本書", "8",  "a", "他們有空",   "9",  "a", "這裡有人",
        "10", "a", "有問題請問", "11", "a", "有效期限",   "12", "a", "天氣很好",
    };
    sqlite3 *db = make_corpus(rows, 12);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    double marriage = rg_lexical_ideal(lx, "婚假");
    CHECK(marriage > 0);
    CHECK(fabs(rg_lexical_ideal(lx, "婚假有") - marriage) < 1e-9);
    CHECK(rg_lexical_ideal(lx, "婚假廷頌") > marriage + 1.0); /* 假廷 廷頌: rare, counted */
    CHECK(rg_lexical_ideal(lx, "假有") > 0);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

static void check_snippet(rg_lexical *lx, const char *q, const char *text, size_t max_tokens,
                          const char *want)
{
    rg_buf b;
    rg_error err;
    rg_buf_init(&b, SNIP_MAX);
    CHECK_INT(rg_lexical_snippet(lx, q, text, strlen(text), max_tokens, "<b>", "</b>", &b, &err),
              RG_OK);
    CHECK_STR(rg_buf_str(&b), want);
    rg_buf_free(&b);
}

static void test_snippets(void)
{
    static const char *const rows[] = {"1", "t", "x"};
    sqlite3 *db = make_corpus(rows, 1);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    const char *en = "The quick brown fox jumps over the lazy dog. Runners kept running fast.";
    check_snippet(lx, "running DOGS", en, 0,
                  "The quick brown fox jumps over the lazy <b>dog</b>. Runners kept "
                  "<b>running</b> fast.");
    check_snippet(lx, "fox", en, 3, "…brown <b>fox</b> jumps…");
    check_snippet(lx, "running", en, 3, "…kept <b>running</b> fast.");
    check_snippet(lx, "lazy dog", en, 4, "…the <b>lazy</b> <b>dog</b>. Runners…");
    check_snippet(lx, "absent", en, 2, "The quick…");
    const char *zh = "我們正在學習中文課程，每天練習。";
    check_snippet(lx, "中文", zh, 0, "我們正在學習<b>中文</b>課程，每天練習。");
    check_snippet(lx, "練習", zh, 0, "我們正在學習中文課程，每天<b>練習</b>。");
    check_snippet(lx, "中文課", zh, 0, "我們正在學習<b>中文課</b>程，每天練習。");
    check_snippet(lx, "文", zh, 3, "…中<b>文</b>課…");
    /* the other script highlights the same words (zh.h) */
    check_snippet(lx, "学习 练习", zh, 0, "我們正在<b>學習</b>中文課程，每天<b>練習</b>。");
    check_snippet(lx, "练习", zh, 3, "…天<b>練習</b>。");
    check_snippet(lx, "練習", zh, 3, "…天<b>練習</b>。");
    check_snippet(lx, "GPU", "GPU加速2倍", 0, "<b>GPU</b>加速2倍");
    check_snippet(lx, "x", "", 10, "");
    /* invalid bytes are copied where the window keeps them, never split */
    check_snippet(lx, "fox", "\xff fox \xe4\xb8", 0, "\xff <b>fox</b> \xe4\xb8");
    check_snippet(lx, "fox", "a\xff b fox c \xe4\xb8 d", 1, "…<b>fox</b>…");
    rg_buf b;
    rg_buf_init(&b, 8); /* too small: the limit is reported, not overrun */
    CHECK_INT(rg_lexical_snippet(lx, "fox", en, strlen(en), 0, "<b>", "</b>", &b, &err), RG_ELIMIT);
    rg_buf_free(&b);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

static void test_open_errors_and_faults(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    CHECK(rg_lexical_open(db, NULL, &lx, &err) != RG_OK); /* no chunks_fts */
    CHECK(lx == NULL);
    REQUIRE(exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')") == SQLITE_OK);
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK); /* empty */
    CHECK_INT(rg_lexical_size(lx), 0);
    rg_lex_hit hits[2];
    size_t nh = 1;
    CHECK_INT(rg_lexical_search(lx, "anything", 2, NULL, NULL, hits, &nh, &err), RG_OK);
    CHECK_INT(nh, 0);
    rg_lexical_close(lx);
    REQUIRE(exec(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES (1, 'a b', 'c 中文'), "
                     "(2, 'b', 'c d'), (3, '', '... !')") == SQLITE_OK);
    /* every allocation failing in turn must fail cleanly (ASan checks leaks) */
    int opened = 0;
    for (unsigned long n = 1; n < 200 && !opened; n++) {
        lx = NULL;
        rg_mem_fail_at(n, 0);
        rg_status st = rg_lexical_open(db, NULL, &lx, &err);
        rg_mem_fail_at(0, 0);
        if (st == RG_OK) {
            opened = 1;
            CHECK_INT(rg_lexical_size(lx), 2);
            rg_lexical_close(lx);
        } else {
            CHECK(lx == NULL);
        }
    }
    CHECK(opened);
    /* the temporary vocabulary tables are gone */
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM temp.sqlite_master", -1, &st, NULL) ==
            SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    rg_lexical_options o = rg_lexical_default_options();
    o.b = 2.0f;
    CHECK_INT(rg_lexical_open(db, &o, &lx, &err), RG_EINVAL);
    sqlite3_close(db);
}

/* ---- pruning: the same top k as scoring every posting ---- */

static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

#define PR_VOCAB 400
#define PR_DOCS  3000

/* Word w of a Zipf-like vocabulary: letters only ("ba", "ca", ...). */
static void pr_word(unsigned w, char *out)
{
    size_t n = 0;
    out[n++] = 'q';
    do {
        out[n++] = (char)('a' + w % 26);
        w /= 26;
    } while (w);
    out[n] = 0;
}

/* A word index skewed to the head: the first few are in most chunks. */
static unsigned pr_pick(uint64_t *s)
{
    double u = (rnd(s) + 0.5) / 2147483648.0;
    return (unsigned)(PR_VOCAB * u * u * u);
}

static int not_third(void *ctx, int64_t id)
{
    (void)ctx;
    return id % 3 != 0;
}

static int below_id(void *ctx, int64_t id)
{
    return id < *(int64_t *)ctx;
}

static void test_pruning_exact(void)
{
    sqlite3 *db = open_db();
    REQUIRE(db);
    REQUIRE(exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')") == SQLITE_OK);
    uint64_t seed = 42;
    sqlite3_stmt *ins = NULL;
    REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES (?1, '', ?2)",
                               -1, &ins, NULL) == SQLITE_OK);
    REQUIRE(exec(db, "BEGIN") == SQLITE_OK);
    for (int i = 1; i <= PR_DOCS; i++) {
        char body[1024], w[8];
        size_t len = 0, words = 3 + rnd(&seed) % 60;
        for (size_t j = 0; j < words; j++) {
            pr_word(pr_pick(&seed), w);
            len += (size_t)snprintf(body + len, sizeof body - len, "%s ", w);
        }
        sqlite3_bind_int64(ins, 1, i);
        sqlite3_bind_text(ins, 2, body, (int)len, SQLITE_TRANSIENT);
        REQUIRE(sqlite3_step(ins) == SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    REQUIRE(exec(db, "COMMIT") == SQLITE_OK);

    rg_lexical *fast = NULL, *full = NULL;
    rg_error err;
    rg_lexical_options o = rg_lexical_default_options();
    REQUIRE(rg_lexical_open(db, &o, &fast, &err) == RG_OK);
    o.exhaustive = 1;
    REQUIRE(rg_lexical_open(db, &o, &full, &err) == RG_OK);

    /* 1100: past the k (1024) whose pruning floor comes from final scores */
    static const size_t ks[] = {1, 3, 10, 50, 400, 1100};
    rg_lex_hit a[1100], b[1100];
    int64_t limit = 40;
    int mismatches = 0;
    for (int qi = 0; qi < 600; qi++) {
        char q[256], w[8];
        size_t len = 0, words = 1 + rnd(&seed) % 8;
        for (size_t j = 0; j < words; j++) {
            /* common words with rarer ones, and now and then a word of no chunk */
            unsigned x = rnd(&seed) % 4 == 0 ? rnd(&seed) % 6 : pr_pick(&seed);
            if (rnd(&seed) % 16 == 0) x = PR_VOCAB + 7;
            pr_word(x, w);
            len += (size_t)snprintf(q + len, sizeof q - len, "%s ", w);
        }
        size_t k = ks[qi % 6];
        rg_chunk_filter f = qi % 3 == 1 ? not_third : qi % 3 == 2 && qi % 7 == 0 ? below_id : NULL;
        void *fc = f == below_id ? (void *)&limit : NULL;
        size_t na = 0, nb = 0;
        CHECK_INT(rg_lexical_search(fast, q, k, f, fc, a, &na, &err), RG_OK);
        CHECK_INT(rg_lexical_search(full, q, k, f, fc, b, &nb, &err), RG_OK);
        int same = na == nb;
        for (size_t i = 0; same && i < na; i++)
            same = a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score;
        if (!same && mismatches++ < 3) fprintf(stderr, "pruning differs: k=%zu q='%s'\n", k, q);
    }
    CHECK_INT(mismatches, 0);
    /* the comparison means something only if pruning happened, often */
    CHECK(rg_lexical_pruned(fast) >= 100);
    CHECK_INT(rg_lexical_pruned(full), 0);
    rg_lexical_close(fast);
    rg_lexical_close(full);
    sqlite3_close(db);
}

/* ---- refresh: the same index as a fresh build ---- */

static const char *const rf_words[] = {
    "the",      "of",   "and",      "search",  "index",  "query", "running",
    "runs",     "3.14", "1,000",    "l'amour", "don't",  "中文",  "检索",
    "搜尋引擎", "東京", "대한민국", "zebra",   "quartz", "fjord",
};
#define RF_WORDS (sizeof rf_words / sizeof rf_words[0])

static void rf_insert(sqlite3 *db, int64_t id, uint64_t *seed)
{
    char body[2048];
    size_t len = 0, n = rnd(seed) % 12 == 0 ? 0 : 1 + rnd(seed) % 30;
    for (size_t j = 0; j < n; j++) {
        double u = (rnd(seed) + 0.5) / 2147483648.0;
        len += (size_t)snprintf(body + len, sizeof body - len, "%s ",
                                rf_words[(size_t)(RF_WORDS * u * u)]);
    }
    if (n == 0) len = (size_t)snprintf(body, sizeof body, "... !!! ---"); /* no token */
    sqlite3_stmt *st = NULL;
    REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO chunks_fts(rowid, title, body) VALUES (?1, ?2, ?3)",
                               -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, n == 0 ? "" : id % 5 ? "t" : "中文 title", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, body, (int)len, SQLITE_TRANSIENT);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Same size, same hits and scores, same ideal as a fresh build, for queries
 * of the vocabulary (k and filters varied). */
static int rf_same(sqlite3 *db, rg_lexical *lx, uint64_t *seed)
{
    rg_lexical *fresh = NULL;
    rg_error err;
    if (rg_lexical_open(db, NULL, &fresh, &err) != RG_OK) return 0;
    int same = rg_lexical_size(lx) == rg_lexical_size(fresh);
    static rg_lex_hit a[300], b[300];
    static const size_t ks[] = {1, 5, 20, 300};
    for (int qi = 0; same && qi < 120; qi++) {
        char q[512];
        size_t len = 0, n = 1 + rnd(seed) % 5;
        for (size_t j = 0; j < n; j++)
            len += (size_t)snprintf(q + len, sizeof q - len, "%s ", rf_words[rnd(seed) % RF_WORDS]);
        size_t k = ks[qi % 4], na = 0, nb = 0;
        rg_chunk_filter f = qi % 3 == 0 ? not_third : NULL;
        same = rg_lexical_search(lx, q, k, f, NULL, a, &na, &err) == RG_OK &&
               rg_lexical_search(fresh, q, k, f, NULL, b, &nb, &err) == RG_OK && na == nb &&
               rg_lexical_ideal(lx, q) == rg_lexical_ideal(fresh, q);
        for (size_t i = 0; same && i < na; i++)
            same = a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score;
        if (!same) fprintf(stderr, "refresh differs: k=%zu q='%s'\n", k, q);
    }
    rg_lexical_close(fresh);
    return same;
}

/* A chunks_fts of 1500 random rows (ids 1..1500; *next: the next id), or NULL. */
static sqlite3 *rf_db(uint64_t *seed, int64_t *next)
{
    sqlite3 *db = open_db();
    if (!db ||
        exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                 "tokenize='porter ragd')") != SQLITE_OK ||
        exec(db, "BEGIN") != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    for (*next = 1; *next <= 1500; (*next)++)
        rf_insert(db, *next, seed);
    CHECK(exec(db, "COMMIT") == SQLITE_OK);
    return db;
}

static void test_refresh(void)
{
    uint64_t seed = 5;
    int64_t next;
    sqlite3 *db = rf_db(&seed, &next);
    REQUIRE(db);
    rg_lexical *lx = NULL;
    rg_error err;
    REQUIRE(rg_lexical_open(db, NULL, &lx, &err) == RG_OK);
    int rebuilt = -1;
    /* nothing changed */
    CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
    CHECK_INT(rebuilt, 0);
    CHECK(rf_same(db, lx, &seed));
    /* rounds of deletes (never of a row without a token) and inserts */
    for (int round = 0; round < 6; round++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks_fts WHERE "
                 "body NOT LIKE '...%%' AND rowid %% 7 = %d LIMIT %d)",
                 round, 20 + 40 * round);
        REQUIRE(exec(db, sql) == SQLITE_OK);
        int64_t upto = next + (round == 3 ? 0 : 25 + 100 * round); /* round 3: deletes only */
        for (; next < upto; next++)
            rf_insert(db, next, &seed);
        rebuilt = -1;
        CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
        CHECK_INT(rebuilt, 0);
        CHECK(rf_same(db, lx, &seed));
    }
    size_t pruned = rg_lexical_pruned(lx);
    CHECK(pruned > 0); /* refreshed postings stay in chunk order: pruning still runs */
    /* a row without a token deleted below the last id: it cannot tell, rebuilds */
    REQUIRE(exec(db, "DELETE FROM chunks_fts WHERE rowid = (SELECT min(rowid) FROM chunks_fts "
                     "WHERE body LIKE '...%')") == SQLITE_OK);
    CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
    CHECK_INT(rebuilt, 1);
    CHECK(rf_same(db, lx, &seed));
    /* everything deleted, then one row back */
    REQUIRE(exec(db, "DELETE FROM chunks_fts") == SQLITE_OK);
    CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
    CHECK_INT(rg_lexical_size(lx), 0);
    CHECK(rf_same(db, lx, &seed));
    rf_insert(db, next++, &seed);
    rf_insert(db, next++, &seed);
    CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
    CHECK(rf_same(db, lx, &seed));
    CHECK_INT(rg_lexical_refresh(NULL, db, &rebuilt, &err), RG_EINVAL);
    rg_lexical_close(lx);
    sqlite3_close(db);
}

/* ---- update: a delta beside the main index, deleted chunks masked ---- */

static int cmp_hit_id(const void *a, const void *b)
{
    int64_t x = ((const rg_lex_hit *)a)->chunk_id, y = ((const rg_lex_hit *)b)->chunk_id;
    return (x > y) - (x < y);
}

#define UP_ALL 8192

/*
 * After an update: the same size as a fresh build, and for queries of the
 * vocabulary the same set of matching chunks (so none deleted, none new
 * missing) with scores near the fresh build's (they lag until a merge);
 * the pruned search (lx) gives exactly the top k of the exhaustive one
 * (lxe, given the same updates), filters included.
 */
static int cmp_dlist_start(const void *a, const void *b)
{
    const lex_dlist *x = *(const lex_dlist *const *)a, *y = *(const lex_dlist *const *)b;
    return (x->start > y->start) - (x->start < y->start);
}

/* The delta's lists (lexical_impl.h), checked from the inside: each within
 * its room, the rooms apart inside dpost, postings by ascending chunk among
 * the delta's chunks, max the largest impact, n_dlists the count. */
static int delta_lists_sound(const rg_lexical *lx)
{
    static const lex_dlist *seen[UP_ALL * 8];
    size_t n = 0;
    int ok = lx->dpost_len <= lx->dpost_cap;
    for (size_t h = 0; ok && lx->dlists && h <= lx->dlist_mask; h++) {
        const lex_dlist *d = &lx->dlists[h];
        if (!d->term1) continue;
        ok = n < sizeof seen / sizeof seen[0] && d->n >= 1 && d->n <= d->cap &&
             d->start + d->cap <= lx->dpost_len && rg_lex_dlist(lx, d->term1 - 1) == d;
        float max = 0.0f;
        for (uint32_t i = 0; ok && i < d->n; i++) {
            const lex_post *p = &lx->dpost[d->start + i];
            ok = p->doc >= lx->n_main && p->doc < lx->n_docs && p->w > 0.0f &&
                 (i == 0 || p->doc > lx->dpost[d->start + i - 1].doc);
            if (p->w > max) max = p->w;
        }
        ok = ok && max == d->max;
        if (ok) seen[n++] = d;
    }
    ok = ok && n == lx->n_dlists;
    qsort(seen, n, sizeof seen[0], cmp_dlist_start);
    for (size_t i = 1; ok && i < n; i++)
        ok = seen[i - 1]->start + seen[i - 1]->cap <= seen[i]->start;
    if (!ok) fprintf(stderr, "update: the delta's lists are not sound\n");
    return ok;
}

static int up_same(sqlite3 *db, rg_lexical *lx, rg_lexical *lxe, uint64_t *seed, double *worst)
{
    rg_lexical *fresh = NULL;
    rg_error err;
    if (rg_lexical_open(db, NULL, &fresh, &err) != RG_OK) return 0;
    int same = rg_lexical_size(lx) == rg_lexical_size(fresh) &&
               rg_lexical_size(lxe) == rg_lexical_size(fresh) && delta_lists_sound(lx) &&
               delta_lists_sound(lxe);
    static rg_lex_hit a[UP_ALL], b[UP_ALL];
    static const size_t ks[] = {1, 5, 20, 300};
    for (int qi = 0; same && qi < 60; qi++) {
        char q[512];
        size_t len = 0, n = 1 + rnd(seed) % 5;
        for (size_t j = 0; j < n; j++)
            len += (size_t)snprintf(q + len, sizeof q - len, "%s ", rf_words[rnd(seed) % RF_WORDS]);
        size_t na = 0, nb = 0;
        same = rg_lexical_search(lx, q, UP_ALL, NULL, NULL, a, &na, &err) == RG_OK &&
               rg_lexical_search(fresh, q, UP_ALL, NULL, NULL, b, &nb, &err) == RG_OK && na == nb &&
               na < UP_ALL;
        qsort(a, na, sizeof a[0], cmp_hit_id);
        qsort(b, nb, sizeof b[0], cmp_hit_id);
        for (size_t i = 0; same && i < na; i++) {
            same = a[i].chunk_id == b[i].chunk_id;
            double rel = fabs((double)a[i].score - (double)b[i].score) / (double)b[i].score;
            if (rel > *worst) *worst = rel;
        }
        if (!same) fprintf(stderr, "update: matches differ from a fresh build: q='%s'\n", q);
        size_t k = ks[qi % 4];
        rg_chunk_filter f = qi % 3 == 0 ? not_third : NULL;
        same = same && rg_lexical_search(lx, q, k, f, NULL, a, &na, &err) == RG_OK &&
               rg_lexical_search(lxe, q, k, f, NULL, b, &nb, &err) == RG_OK && na == nb;
        for (size_t i = 0; same && i < na; i++)
            same = a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score;
        if (!same) fprintf(stderr, "update: pruned differs from exhaustive: k=%zu q='%s'\n", k, q);
    }
    rg_lexical_close(fresh);
    return same;
}

/* Deletes up to n rows with rowid % 7 == r (rows without a token too when
 * empty_too), recording their ids in gone; returns how many. */
static size_t up_delete(sqlite3 *db, int r, int n, int empty_too, int64_t *gone)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT rowid FROM chunks_fts WHERE (%d OR body NOT LIKE '...%%') AND rowid %% 7 = %d "
             "LIMIT %d",
             empty_too, r, n);
    sqlite3_stmt *st = NULL;
    size_t k = 0;
    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        gone[k++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t i = 0; i < k; i++) {
        snprintf(sql, sizeof sql, "DELETE FROM chunks_fts WHERE rowid = %lld", (long long)gone[i]);
        CHECK(exec(db, sql) == SQLITE_OK);
    }
    return k;
}

/* The index of db twice: pruned (*lx) and exhaustive (*lxe). */
static void open_pair(sqlite3 *db, rg_lexical **lx, rg_lexical **lxe)
{
    rg_error err;
    rg_lexical_options eo = rg_lexical_default_options();
    eo.exhaustive = 1;
    REQUIRE(rg_lexical_open(db, NULL, lx, &err) == RG_OK);
    REQUIRE(rg_lexical_open(db, &eo, lxe, &err) == RG_OK);
}

static void test_update(void)
{
    uint64_t seed = 11;
    int64_t next;
    sqlite3 *db = rf_db(&seed, &next);
    REQUIRE(db);
    rg_lexical *lx = NULL, *lxe = NULL;
    rg_error err;
    open_pair(db, &lx, &lxe);
    int merged = -1;
    double worst = 0.0;
    CHECK_INT(rg_lexical_update(lx, db, NULL, 0, 0, &merged, &err), RG_OK);
    CHECK_INT(merged, 0);
    static int64_t gone[UP_ALL];
    size_t pruned = rg_lexical_pruned(lx);
    /* rounds of deletes and inserts; round 2 deletes rows without a token
     * too, round 4 names an id never indexed and one twice */
    for (int round = 0; round < 6; round++) {
        size_t n_gone = up_delete(db, round, 20 + 30 * round, round == 2, gone);
        int64_t upto = next + (round == 3 ? 0 : 25 + 100 * round); /* round 3: deletes only */
        for (; next < upto; next++)
            rf_insert(db, next, &seed);
        if (round == 4) {
            gone[n_gone++] = next + 1000;
            gone[n_gone] = gone[0];
            n_gone++;
        }
        merged = -1;
        CHECK_INT(rg_lexical_update(lx, db, gone, n_gone, 0, &merged, &err), RG_OK);
        CHECK_INT(rg_lexical_update(lxe, db, gone, n_gone, 0, NULL, &err), RG_OK);
        CHECK_INT(merged, 0);
        CHECK(up_same(db, lx, lxe, &seed, &worst));
    }
    /* many small updates: terms' lists fill their room and move, again and again */
    for (int round = 0; round < 24; round++) {
        for (int64_t upto = next + 1 + round % 3; next < upto; next++)
            rf_insert(db, next, &seed);
        size_t n_small = round % 4 == 3 ? up_delete(db, round % 7, 3, 0, gone) : 0;
        CHECK_INT(rg_lexical_update(lx, db, gone, n_small, 0, &merged, &err), RG_OK);
        CHECK_INT(rg_lexical_update(lxe, db, gone, n_small, 0, NULL, &err), RG_OK);
        CHECK_INT(merged, 0);
        CHECK(delta_lists_sound(lx));
        if (round % 6 == 5) CHECK(up_same(db, lx, lxe, &seed, &worst));
    }
    CHECK(up_same(db, lx, lxe, &seed, &worst));
    fprintf(stderr, "update: largest score lag behind a fresh build %.4f\n", worst);
    CHECK(rg_lexical_pruned(lx) > pruned + 20); /* the comparisons above pruned, often */
    CHECK(worst > 0.0 && worst < 0.2);          /* it lags, a little */
    /* a refresh merges: exactly a fresh build again, without rebuilding
     * (so the rows without a token were counted right) */
    int rebuilt = -1;
    CHECK_INT(rg_lexical_refresh(lx, db, &rebuilt, &err), RG_OK);
    CHECK_INT(rebuilt, 0);
    CHECK(rf_same(db, lx, &seed));
    /* past RG_LEX_DELTA_MIN new chunks an update merges by itself */
    REQUIRE(exec(db, "BEGIN") == SQLITE_OK);
    for (int64_t upto = next + 4700; next < upto; next++)
        rf_insert(db, next, &seed);
    REQUIRE(exec(db, "COMMIT") == SQLITE_OK);
    size_t n_gone = up_delete(db, 5, 50, 0, gone);
    CHECK_INT(rg_lexical_update(lx, db, gone, n_gone, 0, &merged, &err), RG_OK);
    CHECK_INT(merged, 1);
    CHECK(rf_same(db, lx, &seed));
    CHECK_INT(rg_lexical_update(lxe, db, gone, n_gone, 0, &merged, &err), RG_OK);
    /* every allocation failing in turn: an update fails cleanly and leaves
     * the index as it was (lx still equals lxe, which has not updated) */
    n_gone = up_delete(db, 6, 40, 1, gone);
    for (int64_t upto = next + 30; next < upto; next++)
        rf_insert(db, next, &seed);
    int done = 0;
    for (unsigned long n = 1; n < 400 && !done; n++) {
        rg_mem_fail_at(n, 0);
        rg_status st = rg_lexical_update(lx, db, gone, n_gone, 0, &merged, &err);
        rg_mem_fail_at(0, 0);
        done = st == RG_OK;
        if (!done) {
            CHECK_INT(st, RG_ENOMEM);
            rg_lex_hit a[20], b[20];
            size_t na = 0, nb = 0;
            CHECK(rg_lexical_search(lx, "the search 中文 zebra", 20, NULL, NULL, a, &na, &err) ==
                      RG_OK &&
                  rg_lexical_search(lxe, "the search 中文 zebra", 20, NULL, NULL, b, &nb, &err) ==
                      RG_OK);
            int same = na == nb && na > 0;
            for (size_t i = 0; same && i < na; i++)
                same = a[i].chunk_id == b[i].chunk_id && a[i].score == b[i].score;
            CHECK(same);
        }
    }
    CHECK(done);
    CHECK_INT(rg_lexical_update(lxe, db, gone, n_gone, 0, NULL, &err), RG_OK);
    CHECK(up_same(db, lx, lxe, &seed, &worst));
    CHECK_INT(rg_lexical_update(NULL, db, NULL, 0, 0, NULL, &err), RG_EINVAL);
    CHECK_INT(rg_lexical_update(lx, db, NULL, 3, 0, NULL, &err), RG_EINVAL);
    rg_lexical_close(lx);
    rg_lexical_close(lxe);
    sqlite3_close(db);
}

/* A store with no main index yet (opened empty, fewer than RG_LEX_DELTA_MIN
 * chunks since): every update lays out the whole delta again from its keys,
 * sorted across the runs the updates appended, by comparison while they are
 * few and by radix past KEY_RADIX_MIN (lexical_refresh.c). Each state must
 * match a fresh build. */
static void test_update_without_main(void)
{
    uint64_t seed = 23;
    sqlite3 *db = open_db();
    REQUIRE(db);
    REQUIRE(exec(db, "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, body, "
                     "tokenize='porter ragd')") == SQLITE_OK);
    rg_lexical *lx = NULL, *lxe = NULL;
    rg_error err;
    open_pair(db, &lx, &lxe);
    static int64_t gone[UP_ALL];
    int64_t next = 1;
    double worst = 0.0;
    int merged = -1;
    for (int round = 0; round < 14; round++) {
        /* a few rows, then more: the delta's keys pass KEY_RADIX_MIN */
        for (int64_t upto = next + (round < 6 ? 2 + round : 60 + 20 * round); next < upto; next++)
            rf_insert(db, next, &seed);
        size_t n_gone = round % 3 == 2 ? up_delete(db, round % 7, 4, 0, gone) : 0;
        CHECK_INT(rg_lexical_update(lx, db, gone, n_gone, 0, &merged, &err), RG_OK);
        CHECK_INT(rg_lexical_update(lxe, db, gone, n_gone, 0, NULL, &err), RG_OK);
        CHECK_INT(merged, 0);
        CHECK(up_same(db, lx, lxe, &seed, &worst));
    }
    CHECK(next > 1500); /* some 20 terms a row: well past KEY_RADIX_MIN keys */
    fprintf(stderr, "update without a main index: largest score lag %.6f\n", worst);
    rg_lexical_close(lx);
    rg_lexical_close(lxe);
    sqlite3_close(db);
}

TEST_MAIN(TEST(test_english), TEST(test_apostrophes_numbers), TEST(test_chinese),
          TEST(test_japanese_korean), TEST(test_mixed_fullwidth), TEST(test_limits_and_garbage),
          TEST(test_match_sql), TEST(test_bm25), TEST(test_filter_ties), TEST(test_threads),
          TEST(test_search_cjk), TEST(test_search_zh_scripts), TEST(test_ideal_seams),
          TEST(test_snippets), TEST(test_open_errors_and_faults), TEST(test_pruning_exact),
          TEST(test_refresh), TEST(test_update), TEST(test_update_without_main))
