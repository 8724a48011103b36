/*
 * test_search.c — index/search.h with both legs real: a store of generated
 * chunks, the tiny XLM-R fixture model as encoder, FAISS vectors. A hybrid
 * query answers the same whether its lexical leg runs on the searcher's
 * second thread (rg_search_set_parallel) or inline: same hits, same
 * scores, same leg signals, with filters, readers and errors too. A
 * refreshed searcher agrees with a fresh one, and a dense index saved
 * behind the store is never stamped as current.
 */
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "engine/nn/encoder.h"
#include "index/dense.h"
#include "index/search.h"
#include "index/store.h"
#include "index/vectors.h"

#define N_DOCS    60
#define N_QUERIES 40
#define TEXT_MAX  600

static char dir[64];

static const char *const words[] = {
    "river",  "mountain", "ledger", "invoice", "harbour", "lantern", "copper", "meadow",
    "signal", "archive",  "violet", "compass", "glacier", "orchard", "beacon", "granite",
    "falcon", "quarry",   "tundra", "velvet",  "資料庫",  "索引",    "查詢",   "向量"};
#define N_WORDS (sizeof words / sizeof words[0])

static unsigned rng = 12345;
static unsigned next(void)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 8) & 0xffffff;
}

static void sentence(char *out, size_t cap, int n)
{
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? " " : "", words[next() % N_WORDS]);
    }
}

/* Puts document d (replacing an earlier one of the same number) with fresh
 * random text: two chunks; every third private to group "ops"; every fifth
 * in collection other. */
static void put_doc(rg_store *s, int d, int64_t coll, int64_t other)
{
    rg_error err;
    char text[TEXT_MAX], a[TEXT_MAX / 2], b[TEXT_MAX / 2], uri[32], meta[96];
    sentence(a, sizeof a, 6 + (int)(next() % 10));
    sentence(b, sizeof b, 6 + (int)(next() % 10));
    int split = snprintf(text, sizeof text, "%s.", a);
    snprintf(text + split, sizeof text - (size_t)split, " %s.", b);
    snprintf(uri, sizeof uri, "/d/%02d.txt", d);
    snprintf(meta, sizeof meta, "{\"tag\":\"%s\"%s}", d % 2 ? "odd" : "even",
             d % 3 == 0 ? ",\"acl\":{\"groups\":[\"ops\"]}" : "");
    rg_doc_meta m = {.collection_id = d % 5 == 4 ? other : coll,
                     .source_uri = uri,
                     .title = "T",
                     .media_type = "text/plain",
                     .content_hash = uri,
                     .size = 1,
                     .metadata_json = meta,
                     .text = text,
                     .text_len = strlen(text)};
    rg_chunk_row rows[2] = {{0, (size_t)split, 8, NULL},
                            {(size_t)split + 1, strlen(text), 8, NULL}};
    MUST(rg_store_put_document(s, &m, rows, 2, NULL, &err) == RG_OK);
}

static rg_store *build(rg_encoder **enc, rg_dense **dense)
{
    snprintf(dir, sizeof dir, "/tmp/ragd-search-XXXXXX");
    MUST(mkdtemp(dir) != NULL);
    rg_store *s = NULL;
    rg_error err;
    MUST(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    int64_t coll, other;
    MUST(rg_store_collection(s, "main", 1, &coll, &err) == RG_OK);
    MUST(rg_store_collection(s, "other", 1, &other, &err) == RG_OK);
    for (int d = 0; d < N_DOCS; d++)
        put_doc(s, d, coll, other);
    const char *src = getenv("RG_SOURCE_ROOT");
    char model[512];
    snprintf(model, sizeof model, "%s/tests/fixtures/xlmr-tiny", src ? src : "..");
    rg_encoder_options eo = rg_encoder_default_options();
    eo.threads = 1;
    MUST(rg_encoder_open(model, &eo, enc, &err) == RG_OK);
    rg_dense_options o = {.model_name = "xlmr-tiny", .encoder = *enc};
    MUST(rg_dense_open(s, dir, &o, dense, &err) == RG_OK);
    MUST(rg_dense_attach(*dense, coll, &err) == RG_OK);
    MUST(rg_dense_attach(*dense, other, &err) == RG_OK);
    return s;
}

/* Closes what build opened and removes its directory. */
static void teardown(rg_store *s, rg_encoder *enc, rg_dense *dense)
{
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) abort();
}

static int same_float(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Scores of the dense and hybrid legs may differ by this much between two
 * searchers whose vectors were embedded in different batches, where the
 * encoder is not batch-invariant (rg_encoder_batch_invariant); 0: exact. */
static double vec_tol;
static double vec_diff_seen; /* the largest such difference seen */

static int close_float(double a, double b, double tol)
{
    if (same_float(a, b)) return 1;
    if (isnan(a) || isnan(b) || fabs(a - b) > tol) return 0;
    vec_diff_seen = fmax(vec_diff_seen, fabs(a - b));
    return 1;
}

/* Runs req on both searchers; 1 when they agree exactly (within vec_tol on
 * the dense and hybrid legs, where two hits so close may also swap). */
static int agree(rg_search *serial, rg_search *par, const rg_search_request *req)
{
    rg_search_hit h1[20], h2[20];
    size_t n1 = 0, n2 = 0;
    rg_search_stats t1, t2;
    rg_error e1, e2;
    rg_status s1 = rg_search_run(serial, req, h1, &n1, &t1, &e1);
    rg_status s2 = rg_search_run(par, req, h2, &n2, &t2, &e2);
    if (s1 != s2) return 0;
    if (s1) return strcmp(e1.msg, e2.msg) == 0;
    if (n1 != n2) return 0;
    double tol = req->mode == RG_SEARCH_LEXICAL ? 0 : vec_tol;
    for (size_t i = 0; i < n1; i++) {
        if (!close_float(h1[i].score, h2[i].score, tol)) return 0;
        int tie = tol > 0 && ((i > 0 && h1[i - 1].score - h1[i].score <= 2 * tol) ||
                              (i + 1 < n1 && h1[i].score - h1[i + 1].score <= 2 * tol) ||
                              i + 1 == n1); /* the next one is not seen */
        if (h1[i].chunk_id != h2[i].chunk_id && !tie) return 0;
    }
    return close_float(t1.dense_top, t2.dense_top, tol) &&
           same_float(t1.lexical_top, t2.lexical_top) &&
           same_float(t1.lexical_ideal, t2.lexical_ideal) && t1.dense_skipped == t2.dense_skipped;
}

/* Looser, for a searcher whose lexical scores lag (rg_search_refresh
 * without exact refresh) against one opened afresh: the same outcome and
 * number of hits, every hit of the lagging one among all those the fresh
 * one can return for the request (so nothing deleted, filtered out or
 * unreadable), scores within 10%. */
static int agree_loosely(rg_search *fresh, rg_search *lag, const rg_search_request *req)
{
    static rg_search_hit all[RG_SEARCH_MAX_K];
    rg_search_hit h[20];
    size_t n_all = 0, n = 0;
    rg_error e1, e2;
    rg_search_request deep = *req;
    deep.k = RG_SEARCH_MAX_K;
    rg_status s1 = rg_search_run(fresh, &deep, all, &n_all, NULL, &e1);
    rg_status s2 = rg_search_run(lag, req, h, &n, NULL, &e2);
    if (s1 != s2) return 0;
    if (s1) return strcmp(e1.msg, e2.msg) == 0;
    if (n != (n_all < req->k ? n_all : req->k) || n_all == RG_SEARCH_MAX_K) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < n_all && all[j].chunk_id != h[i].chunk_id)
            j++;
        if (j == n_all) return 0;
        /* lexical mode: BM25 scores, comparable; hybrid scores are fused */
        if (req->mode == RG_SEARCH_LEXICAL && fabs(h[i].score - all[j].score) > 0.1 * all[j].score)
            return 0;
    }
    return 1;
}

/* N_QUERIES varied requests (k, a collection, a metadata filter on tag,
 * readers with and without group "ops", RRF, lexical mode) run on a and b;
 * returns how many agreed (loosely: agree_loosely), and counts in
 * *hits_seen those with hits on b. */
static int agree_many_as(rg_search *a, rg_search *b, const char *coll, const char *tag,
                         int *hits_seen, int loosely)
{
    const char *groups[] = {"ops"};
    rg_reader ops = {.user = "u1", .groups = groups, .n_groups = 1};
    rg_reader nobody = {.user = "u2"};
    const char *keys[] = {"tag"}, *values[] = {tag};
    rg_search_filter tagged = {.meta_keys = keys, .meta_values = values, .n_meta = 1};
    int agreed = 0;
    for (int i = 0; i < N_QUERIES; i++) {
        char query[200];
        sentence(query, sizeof query, 1 + i % 5);
        rg_search_request req = rg_search_default_request(query);
        req.k = 1 + (size_t)(i % 12);
        if (i % 4 == 1) req.collection = coll;
        if (i % 4 == 2) req.filter = &tagged;
        if (i % 3 == 1) req.reader = &ops;
        if (i % 3 == 2) req.reader = &nobody;
        if (i % 7 == 3) req.fusion.method = RG_FUSE_RRF;
        if (i % 5 == 3) req.mode = RG_SEARCH_LEXICAL;
        agreed += loosely ? agree_loosely(a, b, &req) : agree(a, b, &req);
        rg_search_hit h[20];
        size_t n = 0;
        rg_error err;
        if (rg_search_run(b, &req, h, &n, NULL, &err) == RG_OK && n) (*hits_seen)++;
    }
    return agreed;
}

static int agree_many(rg_search *a, rg_search *b, const char *coll, const char *tag, int *hits_seen)
{
    return agree_many_as(a, b, coll, tag, hits_seen, 0);
}

static void test_parallel_legs_agree(void)
{
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_store *s = build(&enc, &dense);
    rg_search *serial = NULL, *par = NULL;
    rg_error err;
    REQUIRE(rg_search_open(s, dense, &serial, &err) == RG_OK);
    REQUIRE(rg_search_open(s, dense, &par, &err) == RG_OK);
    REQUIRE(rg_search_set_parallel(par, 1, &err) == RG_OK);
    REQUIRE(rg_search_set_parallel(par, 1, &err) == RG_OK); /* idempotent */

    int hits_seen = 0, agreed = agree_many(serial, par, "main", "even", &hits_seen);
    CHECK_INT(agreed, N_QUERIES);
    CHECK(hits_seen > N_QUERIES / 2); /* the comparison is not between empty lists */

    /* Errors come back the same way on both. */
    rg_search_request bad = rg_search_default_request("river");
    bad.collection = "no-such-collection";
    CHECK(agree(serial, par, &bad));
    rg_search_hit h[4];
    size_t n;
    CHECK(rg_search_run(par, &bad, h, &n, NULL, &err) != RG_OK);
    /* The other modes ignore the thread; turning it off and on again works. */
    rg_search_request lex = rg_search_default_request("glacier orchard");
    lex.mode = RG_SEARCH_LEXICAL;
    CHECK(agree(serial, par, &lex));
    lex.mode = RG_SEARCH_DENSE;
    CHECK(agree(serial, par, &lex));
    REQUIRE(rg_search_set_parallel(par, 0, &err) == RG_OK);
    lex.mode = RG_SEARCH_HYBRID;
    CHECK(agree(serial, par, &lex));
    REQUIRE(rg_search_set_parallel(par, 1, &err) == RG_OK);
    CHECK(agree(serial, par, &lex));

    rg_search_close(par); /* joins the idle thread */
    rg_search_close(serial);
    teardown(s, enc, dense);
}

/* A searcher refreshed in place after documents were added, replaced and
 * deleted answers as one opened afresh: with exact refresh, the same hits,
 * scores, signals, filters and access lists; without (lag), the same hits
 * allowed by filters and access lists, scores close. */
static void test_refresh_agrees(void)
{
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_store *s = build(&enc, &dense);
    rg_search *old = NULL, *fresh = NULL, *lag = NULL;
    rg_error err;
    REQUIRE(rg_search_open(s, dense, &old, &err) == RG_OK);
    REQUIRE(rg_search_open(s, dense, &lag, &err) == RG_OK);
    rg_search_set_exact_refresh(old, 1);
    REQUIRE(rg_search_set_parallel(old, 1, &err) == RG_OK);
    CHECK(!rg_search_stale(old));
    int64_t coll, other;
    REQUIRE(rg_store_collection(s, "main", 0, &coll, &err) == RG_OK);
    REQUIRE(rg_store_collection(s, "other", 0, &other, &err) == RG_OK);
    for (int d = N_DOCS; d < N_DOCS + 25; d++) /* new ones */
        put_doc(s, d, coll, other);
    for (int d = 0; d < 12; d++) /* replaced: new chunks, the old ones deleted */
        put_doc(s, d, coll, other);
    REQUIRE(rg_store_delete_document(s, 20, &err) == RG_OK);
    REQUIRE(rg_store_delete_document(s, 33, &err) == RG_OK);
    CHECK(rg_search_stale(old));
    /* as serve does: the dense index caught up in place (the few new chunks
     * embedded), the searcher refreshed; against both opened afresh */
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    REQUIRE(rg_search_refresh(old, dense, &err) == RG_OK);
    REQUIRE(rg_search_refresh(lag, dense, &err) == RG_OK);
    CHECK(!rg_search_stale(old));
    CHECK(!rg_search_stale(lag));
    rg_dense *dense2 = NULL;
    rg_dense_options o = {.model_name = "xlmr-tiny", .encoder = enc};
    REQUIRE(rg_dense_open(s, dir, &o, &dense2, &err) == RG_OK);
    REQUIRE(rg_dense_attach(dense2, coll, &err) == RG_OK);
    REQUIRE(rg_dense_attach(dense2, other, &err) == RG_OK);
    REQUIRE(rg_search_open(s, dense2, &fresh, &err) == RG_OK);
    CHECK_INT(rg_dense_count(dense, coll), rg_dense_count(dense2, coll));
    /* the new chunks were embedded in other batches by dense2 than by dense */
    vec_tol = rg_encoder_batch_invariant(enc) ? 0 : 2e-5;
    vec_diff_seen = 0;
    int hits_seen = 0, agreed = agree_many(fresh, old, "other", "odd", &hits_seen);
    CHECK_INT(agreed, N_QUERIES);
    CHECK_INT(agree_many_as(fresh, lag, "other", "odd", &hits_seen, 1), N_QUERIES);
    rg_search_close(fresh);
    /* again, with more new chunks than it embeds itself: the collections are
     * detached and attached again on the next query */
    for (int d = N_DOCS + 25; d < N_DOCS + 40; d++)
        put_doc(s, d, coll, other);
    REQUIRE(rg_dense_refresh(dense, 0, &err) == RG_OK);
    CHECK_INT(rg_dense_count(dense, coll), 0); /* detached */
    REQUIRE(rg_search_refresh(old, dense, &err) == RG_OK);
    REQUIRE(rg_search_refresh(lag, dense, &err) == RG_OK);
    REQUIRE(rg_dense_refresh(dense2, 256, &err) == RG_OK);
    REQUIRE(rg_search_open(s, dense2, &fresh, &err) == RG_OK);
    agreed = agree_many(fresh, old, "main", "even", &hits_seen);
    CHECK_INT(agreed, N_QUERIES);
    CHECK_INT(agree_many_as(fresh, lag, "main", "even", &hits_seen, 1), N_QUERIES);
    CHECK(hits_seen > N_QUERIES);
    fprintf(stderr, "refreshed vs fresh: encoder %s, dense and hybrid scores apart by up to %.2e\n",
            vec_tol > 0 ? "not batch-invariant" : "batch-invariant", vec_diff_seen);
    CHECK(vec_tol > 0 || vec_diff_seen == 0);
    vec_tol = 0;
    CHECK(rg_search_refresh(NULL, dense, &err) == RG_EINVAL);
    CHECK(rg_dense_refresh(NULL, 0, &err) == RG_EINVAL);

    rg_search_close(old);
    rg_search_close(lag);
    rg_search_close(fresh);
    rg_dense_close(dense2);
    teardown(s, enc, dense);
}

/* The file's stamp, and the store's sequence. */
static void stamps(rg_store *s, rg_dense *dense, int64_t coll, uint64_t *file, int64_t *store,
                   size_t *count)
{
    char path[128];
    snprintf(path, sizeof path, "%s/vectors/%lld.rgv", dir, (long long)coll);
    rg_vectors_options expect = rg_vectors_default_options();
    expect.dim = rg_dense_dim(dense);
    expect.model = "xlmr-tiny";
    rg_vectors *v = NULL;
    rg_error err;
    MUST(rg_vectors_load(path, &expect, &v, &err) == RG_OK);
    *file = rg_vectors_change_seq(v);
    *count = rg_vectors_count(v);
    rg_vectors_close(v);
    MUST(rg_store_change_seq(s, store, &err) == RG_OK);
}

/* A save writes what the handle changed, stamped current only when it
 * holds exactly the store's chunks: a change committed past the handle
 * (another worker, another process) leaves it stamped stale, and the next
 * open embeds what it lacks; vectors of chunks deleted past it are dropped;
 * a collection the handle did not change is not written again. */
static void test_save_behind_store(void)
{
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_store *s = build(&enc, &dense);
    rg_error err;
    int64_t coll, other, seq, seq0;
    uint64_t stamp;
    size_t n;
    rg_store_counts c;
    REQUIRE(rg_store_collection(s, "main", 0, &coll, &err) == RG_OK);
    REQUIRE(rg_store_collection(s, "other", 0, &other, &err) == RG_OK);
    REQUIRE(rg_dense_save(dense, &err) == RG_OK);
    stamps(s, dense, coll, &stamp, &seq0, &n);
    CHECK_INT((int64_t)stamp, seq0);
    REQUIRE(rg_store_counts_get(s, coll, &c, &err) == RG_OK);
    CHECK_INT((int64_t)n, c.chunks);

    /* committed past the handle, which then changes the collection itself
     * (an upload by a worker that missed another's): saved stale */
    put_doc(s, N_DOCS + 100, coll, other);
    REQUIRE(rg_dense_update(dense, coll, NULL, 0, NULL, 0, &err) == RG_OK);
    REQUIRE(rg_dense_save(dense, &err) == RG_OK);
    stamps(s, dense, coll, &stamp, &seq, &n);
    CHECK(stamp != (uint64_t)seq);
    REQUIRE(rg_store_counts_get(s, coll, &c, &err) == RG_OK);
    CHECK_INT((int64_t)n, c.chunks - 2);
    rg_dense *fresh = NULL;
    rg_dense_options o = {.model_name = "xlmr-tiny", .encoder = enc};
    REQUIRE(rg_dense_open(s, dir, &o, &fresh, &err) == RG_OK);
    REQUIRE(rg_dense_attach(fresh, coll, &err) == RG_OK);
    CHECK_INT((int64_t)rg_dense_count(fresh, coll), c.chunks);
    rg_dense_close(fresh);

    /* caught up, its next save is current again */
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    REQUIRE(rg_dense_update(dense, coll, NULL, 0, NULL, 0, &err) == RG_OK);
    REQUIRE(rg_dense_save(dense, &err) == RG_OK);
    stamps(s, dense, coll, &stamp, &seq, &n);
    CHECK_INT((int64_t)stamp, seq);
    CHECK_INT((int64_t)n, c.chunks);

    /* a document deleted past the handle: its vectors do not survive the save */
    REQUIRE(rg_store_delete_document(s, 2, &err) == RG_OK);
    REQUIRE(rg_dense_update(dense, coll, NULL, 0, NULL, 0, &err) == RG_OK);
    REQUIRE(rg_dense_save(dense, &err) == RG_OK);
    stamps(s, dense, coll, &stamp, &seq0, &n);
    REQUIRE(rg_store_counts_get(s, coll, &c, &err) == RG_OK);
    CHECK_INT((int64_t)stamp, seq0);
    CHECK_INT((int64_t)n, c.chunks);

    /* another collection changes: this one's file is not written again, and
     * a new handle, finding its stamp old, checks it and keeps it as it is */
    put_doc(s, N_DOCS + 104, coll, other); /* d % 5 == 4: in other */
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    REQUIRE(rg_dense_save(dense, &err) == RG_OK);
    stamps(s, dense, coll, &stamp, &seq, &n);
    CHECK(seq > seq0);
    CHECK_INT((int64_t)stamp, seq0);
    REQUIRE(rg_dense_open(s, dir, &o, &fresh, &err) == RG_OK);
    REQUIRE(rg_dense_attach(fresh, coll, &err) == RG_OK);
    CHECK_INT((int64_t)rg_dense_count(fresh, coll), c.chunks);
    REQUIRE(rg_dense_save(fresh, &err) == RG_OK);
    rg_dense_close(fresh);
    stamps(s, dense, coll, &stamp, &seq, &n);
    CHECK_INT((int64_t)stamp, seq0);
    teardown(s, enc, dense);
}

/* Statements that listed every chunk id of a collection (a whole comparison). */
static int whole_listings;

static int count_listings(unsigned type, void *ctx, void *stmt, void *sql)
{
    (void)type, (void)ctx, (void)sql;
    const char *text = sqlite3_sql(stmt);
    if (text && strstr(text, "c.document_id WHERE d.collection_id = ?1")) whole_listings++;
    return 0;
}

/* 1 when the handle holds one vector per chunk of coll. */
static int in_step(rg_store *s, rg_dense *dense, int64_t coll)
{
    rg_store_counts c;
    rg_error err;
    MUST(rg_store_counts_get(s, coll, &c, &err) == RG_OK);
    return (int64_t)rg_dense_count(dense, coll) == c.chunks;
}

/* A refresh follows the store's deletion log and its new chunk ids, and
 * lists no collection whole; when the log was pruned past the handle, it
 * compares whole id sets once, then follows again. */
static void test_refresh_follows_log(void)
{
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_store *s = build(&enc, &dense);
    rg_error err;
    int64_t coll, other;
    REQUIRE(rg_store_collection(s, "main", 0, &coll, &err) == RG_OK);
    REQUIRE(rg_store_collection(s, "other", 0, &other, &err) == RG_OK);
    sqlite3 *db = rg_store_db(s);
    REQUIRE(sqlite3_trace_v2(db, SQLITE_TRACE_STMT, count_listings, NULL) == SQLITE_OK);
    for (int d = N_DOCS; d < N_DOCS + 5; d++)
        put_doc(s, d, coll, other);
    for (int d = 0; d < 3; d++) /* replaced */
        put_doc(s, d, coll, other);
    REQUIRE(rg_store_delete_document(s, 20, &err) == RG_OK);
    whole_listings = 0;
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    CHECK_INT(whole_listings, 0);
    CHECK(in_step(s, dense, coll) && in_step(s, dense, other));
    /* the deletions this handle has not read are pruned from the log */
    REQUIRE(rg_store_delete_document(s, 21, &err) == RG_OK);
    REQUIRE(sqlite3_exec(db, "DELETE FROM chunk_deletions", NULL, NULL, NULL) == SQLITE_OK);
    whole_listings = 0;
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    CHECK_INT(whole_listings, 2); /* both collections */
    CHECK(in_step(s, dense, coll) && in_step(s, dense, other));
    REQUIRE(rg_store_delete_document(s, 22, &err) == RG_OK);
    put_doc(s, N_DOCS + 5, coll, other);
    whole_listings = 0;
    REQUIRE(rg_dense_refresh(dense, 256, &err) == RG_OK);
    CHECK_INT(whole_listings, 0);
    CHECK(in_step(s, dense, coll) && in_step(s, dense, other));
    sqlite3_trace_v2(db, 0, NULL, NULL);
    teardown(s, enc, dense);
}

TEST_MAIN(TEST(test_parallel_legs_agree), TEST(test_refresh_agrees), TEST(test_save_behind_store),
          TEST(test_refresh_follows_log))
