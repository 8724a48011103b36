/*
 * test_alloc_faults.c — allocation failures injected through a whole
 * ingest, a sync and a search with an answer, the way SQLite's test suite
 * does it: for N = 1, 2, 3, ... the Nth allocation fails, once
 * ("transient") or together with every later one ("persistent"). ragd's
 * own allocator (mem.h), SQLite's (sqlite3_config) and cJSON's (its hooks)
 * share one counter, so every allocation on these paths is a fault site.
 *
 * After each faulted run, with faults off again:
 *   - the run said so (an error with a message, or failed files with
 *     theirs), or its result is exactly the clean run's;
 *   - the store is consistent: every document holds all of its chunks and
 *     is either its state before the run or after it (no partial document,
 *     none lost), the FTS index holds exactly the chunks, and the live
 *     vector index one vector per chunk (no orphan vector); reopened, too;
 *   - a clean rerun reaches exactly the clean run's state.
 * Under AddressSanitizer a leak on any error path fails the test at exit.
 *
 * The default test run tries every 11th N (every 37th under the
 * sanitizers), RG_FAULT_STEP=1 every one (scripts/faults.sh); RG_FAULT_FIRST
 * and RG_FAULT_MAX bound N (to replay one failure). The tiny XLM-R fixture is the encoder.
 */
#include "test.h"

#include <cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "index/dense.h"
#include "index/search.h"
#include "index/store.h"
#include "ingest/pii.h"
#include "ingest/pipeline.h"

/* Longest path and state dump the test builds. */
#define PATH_MAX_T 512
#define STATE_MAX  8192
/* Highest N tried unless RG_FAULT_MAX says otherwise: far above any run here. */
#define FAULT_N_MAX 2000000ul

static char root[PATH_MAX_T / 4];      /* everything the test writes */
static char docs[PATH_MAX_T / 2];      /* scenario A's files */
static char sync_docs[PATH_MAX_T / 2]; /* scenario B's files, changed after its base was built */
static rg_encoder *encoder;
static unsigned long step = 1, n_first = 1, n_max = FAULT_N_MAX;

/* --- SQLite's and cJSON's allocations through the shared fault counter --- */

#define SQ_HDR 16 /* keeps SQLite's 8-byte alignment and the size */

static void *sq_malloc(int n)
{
    if (rg_mem_fault_next()) return NULL;
    unsigned char *p = malloc(SQ_HDR + (size_t)n);
    if (!p) return NULL;
    memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
    return p + SQ_HDR;
}

static void sq_free(void *p)
{
    if (p) free((unsigned char *)p - SQ_HDR);
}

static int sq_size(void *p)
{
    if (!p) return 0;
    size_t n;
    memcpy(&n, (unsigned char *)p - SQ_HDR, sizeof n);
    return (int)n;
}

static void *sq_realloc(void *p, int n)
{
    if (rg_mem_fault_next()) return NULL;
    unsigned char *q = realloc((unsigned char *)p - SQ_HDR, SQ_HDR + (size_t)n);
    if (!q) return NULL;
    memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
    return q + SQ_HDR;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *app)
{
    (void)app;
    return SQLITE_OK;
}

static void sq_shutdown(void *app)
{
    (void)app;
}

static void *cj_malloc(size_t n)
{
    return rg_mem_fault_next() ? NULL : malloc(n);
}

static void hook_allocators(void)
{
    static const sqlite3_mem_methods m = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                          sq_roundup, sq_init, sq_shutdown, NULL};
    MUST(sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK);
    cJSON_Hooks h = {cj_malloc, free};
    cJSON_InitHooks(&h);
}

/* --- files --- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    MUST(f != NULL);
    MUST(fputs(text, f) >= 0);
    MUST(fclose(f) == 0);
}

static void sh(const char *fmt, ...)
{
    char cmd[3 * PATH_MAX_T];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    MUST(system(cmd) == 0);
}

static const char md_text[] =
    "# Remote access\n\nThe VPN gateway listens on port 443. Staff connect with the "
    "TunnelDeck client and a hardware token.\n\n## Support\n\nWrite to help@example.com or "
    "call +886 2 2345 6789 when the token is lost.\n";
static const char html_text[] =
    "<html><head><title>Leave policy</title></head><body><h1>Annual leave</h1>"
    "<p>Employees receive fourteen days of annual leave each year.</p>"
    "<table><tr><th>Years</th><th>Days</th></tr><tr><td>1</td><td>14</td></tr></table>"
    "</body></html>\n";
static const char csv_text[] = "name,office,phone\nAda,Taipei,0912-345-678\nLin,Shanghai,"
                               "138 0013 8000\n";
static const char jsonl_text[] = "{\"title\":\"Backups\",\"text\":\"Nightly backups run at two "
                                 "in the morning and are kept for thirty days.\"}\n"
                                 "{\"title\":\"Printers\",\"text\":\"The third floor printer "
                                 "needs a badge.\"}\n";
static const char eml_text[] = "From: IT <it@example.com>\nTo: all@example.com\nSubject: "
                               "Password rotation\nContent-Type: text/plain; charset=utf-8\n\n"
                               "Passwords expire every ninety days. Change yours before "
                               "Friday.\n";
static const char zh_text[] = "資料庫備份每天凌晨兩點執行，備份保留三十天。\n"
                              "如需還原，請聯絡資訊部門。\n";

static void write_docs(const char *dir)
{
    MUST(mkdir(dir, 0700) == 0);
    write_file(dir, "access.md", md_text);
    write_file(dir, "leave.html", html_text);
    write_file(dir, "people.csv", csv_text);
    write_file(dir, "notes.jsonl", jsonl_text);
    write_file(dir, "rotation.eml", eml_text);
    write_file(dir, "backup-zh.txt", zh_text);
}

/* --- the store's state, read with plain SQL --- */

static int64_t sql_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st = NULL;
    MUST(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK);
    MUST(sqlite3_step(st) == SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/*
 * One line per document, in source order: source, content hash, chunk
 * count, and a checksum of the chunk texts. Returns 0 when the store has
 * no database yet (a run that failed before creating it).
 */
static int store_state(const char *dir, char *out, size_t cap)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/ragd.db", dir);
    out[0] = '\0';
    if (access(path, F_OK) != 0) return 0;
    sqlite3 *db = NULL;
    MUST(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT d.source_uri, d.content_hash, count(c.id), "
                           "coalesce(sum(length(c.text) * (c.ordinal + 1)), 0) "
                           "FROM documents d LEFT JOIN chunks c ON c.document_id = d.id "
                           "GROUP BY d.id ORDER BY d.source_uri",
                           -1, &st, NULL) != SQLITE_OK) {
        /* a database file whose schema was never committed */
        sqlite3_close(db);
        return 0;
    }
    size_t len = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *uri = (const char *)sqlite3_column_text(st, 0);
        const char *slash = strrchr(uri, '/');
        int n = snprintf(out + len, cap - len, "%s %.12s %lld %lld\n", slash ? slash + 1 : uri,
                         (const char *)sqlite3_column_text(st, 1),
                         (long long)sqlite3_column_int64(st, 2),
                         (long long)sqlite3_column_int64(st, 3));
        MUST(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 1;
}

/* 1 when the database's own invariants hold: FTS rows = chunks, ordinals dense. */
static int store_sound(const char *dir, const char *what)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/ragd.db", dir);
    if (access(path, F_OK) != 0) return 1;
    sqlite3 *db = NULL;
    MUST(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    int ok = 1;
    /* FTS5's shadow table of per-row sizes: one row per indexed chunk (the
       table itself needs ragd's tokenizer, which this connection lacks) */
    if (sqlite3_exec(db, "SELECT 1 FROM chunks_fts_docsize LIMIT 1", NULL, NULL, NULL) ==
        SQLITE_OK) {
        int64_t chunks = sql_int(db, "SELECT count(*) FROM chunks");
        int64_t fts = sql_int(db, "SELECT count(*) FROM chunks_fts_docsize d JOIN chunks c "
                                  "ON c.id = d.id");
        fts -= sql_int(db, "SELECT count(*) FROM chunks_fts_docsize WHERE id NOT IN "
                           "(SELECT id FROM chunks)");
        int64_t gaps = sql_int(db, "SELECT count(*) FROM documents d WHERE "
                                   "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id) "
                                   "!= (SELECT coalesce(max(ordinal) + 1, 0) FROM chunks c "
                                   "WHERE c.document_id = d.id)");
        int64_t empty = sql_int(db, "SELECT count(*) FROM documents d WHERE NOT EXISTS "
                                    "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)");
        int64_t orphans = sql_int(db, "SELECT count(*) FROM chunks WHERE document_id NOT IN "
                                      "(SELECT id FROM documents)");
        if (chunks != fts || gaps || empty || orphans) {
            fprintf(stderr,
                    "%s: chunks %lld, fts %lld, documents with gaps %lld, empty %lld, "
                    "orphan chunks %lld\n",
                    what, (long long)chunks, (long long)fts, (long long)gaps, (long long)empty,
                    (long long)orphans);
            ok = 0;
        }
    }
    sqlite3_close(db);
    return ok;
}

/*
 * Every document line of got must be a line of before or of after (no
 * partial or unknown state), and a source in both before and after must
 * be in got (a failed file never deletes what was stored).
 */
static int states_allowed(const char *got, const char *before, const char *after)
{
    char line[PATH_MAX_T];
    for (const char *p = got; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p) + 1;
        MUST(n < sizeof line);
        memcpy(line, p, n);
        line[n] = '\0';
        if (!strstr(before, line) && !strstr(after, line)) {
            fprintf(stderr, "unexpected document state: %s", line);
            return 0;
        }
        p = nl + 1;
    }
    /* each line of got and after starts after a newline, the first one too */
    char gotnl[STATE_MAX + 1], afternl[STATE_MAX + 1];
    snprintf(gotnl, sizeof gotnl, "\n%s", got);
    snprintf(afternl, sizeof afternl, "\n%s", after);
    for (const char *p = before; *p;) {
        const char *nl = strchr(p, '\n');
        const char *sp = strchr(p, ' ');
        char name[PATH_MAX_T];
        size_t n = (size_t)(sp - p);
        MUST(n + 2 < sizeof name);
        name[0] = '\n';
        memcpy(name + 1, p, n);
        name[n + 1] = ' ';
        name[n + 2] = '\0';
        if (strstr(afternl, name) && !strstr(gotnl, name)) {
            fprintf(stderr, "document lost: %s\n", name + 1);
            return 0;
        }
        p = nl + 1;
    }
    return 1;
}

/* --- handles --- */

/* SQLite's and FTS5's own checks, through a fresh connection (faults off). */
static int store_verified(const char *dir, const char *what)
{
    char path[PATH_MAX_T];
    snprintf(path, sizeof path, "%s/ragd.db", dir);
    if (access(path, F_OK) != 0) return 1;
    rg_store *s = NULL;
    rg_error err;
    rg_store_options so = rg_store_default_options();
    so.create = 0;
    rg_status st = rg_store_open(dir, &so, &s, &err);
    if (st == RG_ENOTFOUND || (st && strstr(err.msg, "schema"))) return 1; /* never created */
    if (!st) st = rg_store_verify(s, &err);
    if (s) rg_store_close(s);
    if (st) fprintf(stderr, "%s: %s\n", what, err.msg);
    return st == RG_OK;
}

typedef struct handles {
    rg_store *store;
    rg_dense *dense;
} handles;

static rg_status open_handles(const char *dir, handles *h, rg_error *err)
{
    memset(h, 0, sizeof *h);
    rg_status st = rg_store_open(dir, NULL, &h->store, err);
    if (st) return st;
    rg_dense_options o = {.model_name = "xlmr-tiny", .encoder = encoder};
    return rg_dense_open(h->store, dir, &o, &h->dense, err);
}

static void close_handles(handles *h)
{
    if (h->dense) rg_dense_close(h->dense);
    if (h->store) rg_store_close(h->store);
    memset(h, 0, sizeof *h);
}

/* With faults off: every collection's vectors equal its chunks. */
static int vectors_match(handles *h, const char *what)
{
    rg_error err;
    rg_collection_info *cs = NULL;
    size_t n = 0;
    if (rg_store_collections(h->store, &cs, &n, &err)) {
        fprintf(stderr, "%s: listing collections: %s\n", what, err.msg);
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        rg_store_counts c;
        /* attach is a no-op on an attached collection: what it holds is what was served */
        if (rg_dense_attach(h->dense, cs[i].id, &err) ||
            rg_store_counts_get(h->store, cs[i].id, &c, &err)) {
            fprintf(stderr, "%s: %s\n", what, err.msg);
            ok = 0;
        } else if ((int64_t)rg_dense_count(h->dense, cs[i].id) != c.chunks) {
            fprintf(stderr, "%s: %zu vectors for %lld chunks\n", what,
                    rg_dense_count(h->dense, cs[i].id), (long long)c.chunks);
            ok = 0;
        }
    }
    rg_free(cs);
    return ok;
}

typedef struct run_report {
    int failed_silently; /* a failed file reported without a message */
} run_report;

static void on_file(void *ctx, const char *path, rg_ingest_event ev, const rg_error *err,
                    const rg_ingest_stats *so_far)
{
    (void)path;
    (void)so_far;
    run_report *r = ctx;
    if (ev == RG_INGEST_FAILED && (!err || !err->msg[0])) r->failed_silently = 1;
}

/* Ingests (sync when dir_sync) path into dir's store through h; saves the vectors. */
static rg_status ingest(handles *h, const char *path, int sync, rg_ingest_stats *stats,
                        run_report *rep, rg_error *err)
{
    rg_ingest_options o = rg_ingest_default_options();
    o.dense = h->dense;
    o.loaders = 1;
    o.sync = sync;
    o.pii_types = RG_PII_ALL;
    o.on_file = on_file;
    o.ctx = rep;
    const char *paths[] = {path};
    rg_status st = rg_ingest_paths(h->store, paths, 1, &o, stats, err);
    if (st) return st;
    return rg_dense_save(h->dense, err);
}

/* A clean run from scratch: opens, ingests, checks, closes. Returns 0 on failure. */
static int clean_ingest(const char *dir, const char *path, int sync)
{
    handles h;
    rg_error err;
    rg_ingest_stats stats;
    run_report rep = {0};
    if (open_handles(dir, &h, &err) || ingest(&h, path, sync, &stats, &rep, &err)) {
        fprintf(stderr, "clean run in %s: %s\n", dir, err.msg);
        close_handles(&h);
        return 0;
    }
    int ok = stats.failed == 0 && vectors_match(&h, "clean run");
    close_handles(&h);
    return ok;
}

/*
 * The fault loop over one ingest: base (a data dir to start from, or NULL
 * for an empty one), path to ingest, sync. Returns the highest N reached.
 */
static unsigned long ingest_faults(const char *name, const char *base, const char *path, int sync,
                                   int sticky)
{
    char work[PATH_MAX_T], before[STATE_MAX], after[STATE_MAX], got[STATE_MAX];
    snprintf(work, sizeof work, "%s/work", root);

    /* the clean run's result, and the state it starts from */
    sh("rm -rf '%s'", work);
    if (base)
        sh("cp -a '%s' '%s'", base, work);
    else
        MUST(mkdir(work, 0700) == 0);
    store_state(work, before, sizeof before);
    MUST(clean_ingest(work, path, sync));
    MUST(store_state(work, after, sizeof after));

    unsigned long n = n_first, fired = 0;
    int bad = 0;
    for (; n <= n_max && bad < 3; n += step) {
        sh("rm -rf '%s'", work);
        if (base)
            sh("cp -a '%s' '%s'", base, work);
        else
            MUST(mkdir(work, 0700) == 0);

        handles h;
        rg_error err = {0};
        rg_ingest_stats stats = {0};
        run_report rep = {0};
        rg_mem_fail_at(n, sticky);
        rg_status st = open_handles(work, &h, &err);
        if (!st) st = ingest(&h, path, sync, &stats, &rep, &err);
        unsigned long count = rg_mem_count();
        rg_mem_fail_at(0, 0);
        if (count < n) { /* the run needed fewer than n allocations: done */
            close_handles(&h);
            MUST(store_state(work, got, sizeof got));
            CHECK(!st && strcmp(got, after) == 0);
            break;
        }
        fired++;
        int reported = (st && err.msg[0]) || stats.failed > 0;
        int ok = 1;
        if (st && !err.msg[0])
            ok = 0, fprintf(stderr, "N=%lu: error %d without a message\n", n, st);
        if (rep.failed_silently) ok = 0, fprintf(stderr, "N=%lu: a file failed silently\n", n);
        if (h.store && h.dense && !vectors_match(&h, "live handles")) ok = 0;
        close_handles(&h);
        store_state(work, got, sizeof got);
        if (!reported && strcmp(got, after) != 0) {
            ok = 0;
            fprintf(stderr, "N=%lu: no error reported, yet the result differs:\n%s", n, got);
        }
        if (!store_sound(work, "after the fault") || !states_allowed(got, before, after) ||
            !store_verified(work, "after the fault"))
            ok = 0;
        /* reopened, the vectors agree with the chunks */
        if (!open_handles(work, &h, &err)) {
            if (!vectors_match(&h, "reopened")) ok = 0;
        } else {
            ok = 0;
            fprintf(stderr, "N=%lu: reopening fails: %s\n", n, err.msg);
        }
        close_handles(&h);
        /* a clean rerun finishes the job */
        if (!clean_ingest(work, path, sync) || !store_state(work, got, sizeof got) ||
            strcmp(got, after) != 0) {
            ok = 0;
            fprintf(stderr, "N=%lu: the rerun does not reach the clean state:\n%s", n, got);
        }
        if (!ok) {
            fprintf(stderr, "%s (%s): fault at allocation %lu (error: %s)\n", name,
                    sticky ? "persistent" : "transient", n, st ? err.msg : "none");
            bad++;
        }
        CHECK(ok);
    }
    fprintf(stderr, "%s (%s): %lu faults injected, every %lu of %lu allocations\n", name,
            sticky ? "persistent" : "transient", fired, step, n - 1);
    CHECK(fired > 0 || n_first > 1);
    return n;
}

static char base_b[PATH_MAX_T];

static void test_ingest_faults(void)
{
    ingest_faults("ingest", NULL, docs, 0, 0);
    ingest_faults("ingest", NULL, docs, 0, 1);
}

static void test_sync_faults(void)
{
    /* base: the first version of the folder; then one file changes, one goes, one comes */
    snprintf(base_b, sizeof base_b, "%s/base-b", root);
    MUST(mkdir(base_b, 0700) == 0);
    REQUIRE(clean_ingest(base_b, sync_docs, 1));
    write_file(sync_docs, "access.md", "# Remote access\n\nThe VPN gateway moved to port 8443.\n");
    char gone[PATH_MAX_T];
    snprintf(gone, sizeof gone, "%s/people.csv", sync_docs);
    MUST(unlink(gone) == 0);
    write_file(sync_docs, "new.md", "# Badges\n\nBadges are renewed every two years.\n");
    ingest_faults("sync", base_b, sync_docs, 1, 0);
    ingest_faults("sync", base_b, sync_docs, 1, 1);
}

/* --- search and answer --- */

typedef struct query_result {
    rg_status search_status, answer_status;
    rg_search_hit hits[5];
    size_t n_hits;
    char text[1024];
    char msg[RG_ERROR_MSG_MAX];
} query_result;

static void query(const char *dir, query_result *r)
{
    memset(r, 0, sizeof *r);
    handles h;
    rg_error err = {0};
    rg_search *q = NULL;
    rg_generator gen = {0};
    rg_status st = open_handles(dir, &h, &err);
    if (!st) st = rg_search_open(h.store, h.dense, &q, &err);
    if (!st) {
        rg_search_request req = rg_search_default_request("which port does the VPN use");
        req.k = 5;
        st = rg_search_run(q, &req, r->hits, &r->n_hits, NULL, &err);
    }
    r->search_status = st;
    if (!st) {
        rg_extractive_options xo = rg_extractive_default_options();
        xo.encoder = encoder;
        xo.dense = h.dense;
        xo.model = "xlmr-tiny";
        st = rg_extractive_open(&xo, &gen, &err);
        if (!st) {
            rg_answer a;
            rg_answer_options ao = rg_answer_default_options();
            st = rg_answer_question(q, h.store, &gen, "How long are backups kept?", &ao, &a, &err);
            if (!st) {
                snprintf(r->text, sizeof r->text, "%s|%zu|%d", a.text ? a.text : "", a.n_citations,
                         a.refused);
                rg_answer_free(&a);
            }
            rg_generator_close(&gen);
        }
        r->answer_status = st;
    }
    if (st) snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    if (q) rg_search_close(q);
    close_handles(&h);
}

static void test_query_faults(void)
{
    char dir[PATH_MAX_T], before[STATE_MAX], got[STATE_MAX];
    snprintf(dir, sizeof dir, "%s/query", root);
    MUST(mkdir(dir, 0700) == 0);
    REQUIRE(clean_ingest(dir, docs, 0));
    MUST(store_state(dir, before, sizeof before));
    query_result clean, r;
    query(dir, &clean);
    REQUIRE(clean.search_status == RG_OK && clean.n_hits == 5);
    REQUIRE(clean.answer_status == RG_OK && clean.text[0]);

    for (int sticky = 0; sticky < 2; sticky++) {
        unsigned long n = n_first, fired = 0;
        int bad = 0;
        for (; n <= n_max && bad < 3; n += step) {
            rg_mem_fail_at(n, sticky);
            query(dir, &r);
            unsigned long count = rg_mem_count();
            rg_mem_fail_at(0, 0);
            if (count < n) {
                CHECK(r.search_status == RG_OK && r.answer_status == RG_OK);
                break;
            }
            fired++;
            int ok = 1;
            if (r.search_status || r.answer_status) {
                ok = r.msg[0] != '\0';
            } else {
                ok = r.n_hits == clean.n_hits &&
                     memcmp(r.hits, clean.hits, sizeof r.hits[0] * r.n_hits) == 0 &&
                     strcmp(r.text, clean.text) == 0;
            }
            if (!ok) {
                fprintf(stderr,
                        "query (%s): fault at allocation %lu: status %d/%d \"%s\", "
                        "answer %s\n",
                        sticky ? "persistent" : "transient", n, r.search_status, r.answer_status,
                        r.msg, r.text);
                bad++;
            }
            CHECK(ok);
        }
        fprintf(stderr, "query (%s): %lu faults injected, every %lu of %lu allocations\n",
                sticky ? "persistent" : "transient", fired, step, n - 1);
        CHECK(fired > 0 || n_first > 1);
        /* queries wrote nothing; a clean query answers as before */
        MUST(store_state(dir, got, sizeof got));
        CHECK_STR(got, before);
        CHECK(store_sound(dir, "after the query faults"));
        CHECK(store_verified(dir, "after the query faults"));
        query(dir, &r);
        CHECK(r.n_hits == clean.n_hits && strcmp(r.text, clean.text) == 0);
    }
}

int main(void)
{
    hook_allocators();
    /* every N takes minutes (scripts/faults.sh); the default run strides */
    step = getenv("RAGD_SANITIZED") ? 37 : 11;
    const char *s = getenv("RG_FAULT_STEP");
    if (s && atol(s) > 0) step = (unsigned long)atol(s);
    s = getenv("RG_FAULT_FIRST");
    if (s && atol(s) > 0) n_first = (unsigned long)atol(s);
    s = getenv("RG_FAULT_MAX");
    if (s && atol(s) > 0) n_max = (unsigned long)atol(s);

    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(root, sizeof root, "%s/ragd-faults-XXXXXX", tmp);
    MUST(mkdtemp(root) != NULL);
    snprintf(docs, sizeof docs, "%s/docs", root);
    snprintf(sync_docs, sizeof sync_docs, "%s/sync-docs", root);
    write_docs(docs);
    write_docs(sync_docs);

    const char *src = getenv("RG_SOURCE_ROOT");
    char model[PATH_MAX_T];
    snprintf(model, sizeof model, "%s/tests/fixtures/xlmr-tiny", src ? src : "..");
    rg_encoder_options eo = rg_encoder_default_options();
    eo.threads = 1;
    rg_error err;
    MUST(rg_encoder_open(model, &eo, &encoder, &err) == RG_OK);

    static const test_case cases[] = {TEST(test_ingest_faults), TEST(test_sync_faults),
                                      TEST(test_query_faults)};
    int rc = test_run(cases, sizeof cases / sizeof cases[0]);
    rg_encoder_close(encoder);
    sh("rm -rf '%s'", root);
    return rc;
}
