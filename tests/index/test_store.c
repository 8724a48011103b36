#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/base/mem.h"
#include "index/store.h"

static char dir[64];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ragd-store-XXXXXX");
    if (!mkdtemp(dir)) abort();
}

static void remove_dir(void)
{
    char p[128];
    const char *files[] = {"ragd.db", "ragd.db-wal", "ragd.db-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int64_t count(rg_store *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t n = -1;
    if (sqlite3_prepare_v2(rg_store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void text_of(rg_store *s, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(rg_store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static const char text[] = "Alpha beta gamma. Delta epsilon zeta.";

static rg_status put(rg_store *s, int64_t coll, const char *uri, const char *hash,
                     size_t split_at)
{
    rg_doc_meta m = {.collection_id = coll, .source_uri = uri, .title = "T",
                     .media_type = "text/plain", .content_hash = hash, .size = 10,
                     .text = text, .text_len = sizeof text - 1};
    rg_chunk_row rows[2] = {{0, split_at, 3, NULL}, {split_at + 1, sizeof text - 1, 3, "S"}};
    rg_error err;
    return rg_store_put_document(s, &m, rows, 2, NULL, &err);
}

static void test_schema_and_reopen(void)
{
    fresh_dir();
    rg_store *s;
    rg_error err;
    REQUIRE(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    CHECK_INT(count(s, "PRAGMA user_version"), RG_STORE_SCHEMA_VERSION);
    CHECK_STR(rg_store_tokenize_spec(s), "porter ragd");
    char mode[16];
    text_of(s, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK_STR(mode, "wal");
    CHECK_INT(count(s, "PRAGMA foreign_keys"), 1);
    rg_store_close(s);
    /* Reopening migrates nothing and keeps the tokenizer chosen at creation. */
    rg_store_options o = rg_store_default_options();
    o.stemming = 0;
    REQUIRE(rg_store_open(dir, &o, &s, &err) == RG_OK);
    CHECK_STR(rg_store_tokenize_spec(s), "porter ragd");
    /* A database from a newer ragd is refused, not damaged. */
    sqlite3_exec(rg_store_db(s), "PRAGMA user_version = 99", NULL, NULL, NULL);
    rg_store_close(s);
    CHECK_INT(rg_store_open(dir, NULL, &s, &err), RG_ECORRUPT);
    CHECK(strstr(err.msg, "schema version 99") != NULL);
    remove_dir();

    fresh_dir();
    REQUIRE(rg_store_open(dir, &o, &s, &err) == RG_OK);
    CHECK_STR(rg_store_tokenize_spec(s), "ragd");
    rg_store_close(s);
    remove_dir();
}

static void test_missing_and_corrupt(void)
{
    rg_store *s;
    rg_error err;
    rg_store_options o = rg_store_default_options();
    o.create = 0;
    CHECK_INT(rg_store_open("/tmp/ragd-no-such-dir", &o, &s, &err), RG_ENOTFOUND);
    fresh_dir();
    char p[128];
    snprintf(p, sizeof p, "%s/ragd.db", dir);
    FILE *f = fopen(p, "w");
    REQUIRE(f != NULL);
    for (int i = 0; i < 200; i++) fputs("garbage garbage garbage ", f);
    fclose(f);
    CHECK_INT(rg_store_open(dir, NULL, &s, &err), RG_ECORRUPT);
    CHECK(strstr(err.msg, "damaged") != NULL);
    remove_dir();
}

static void test_put_replace_delete(void)
{
    fresh_dir();
    rg_store *s;
    rg_error err;
    REQUIRE(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    int64_t coll, coll2, seq0, seq1;
    REQUIRE(rg_store_collection(s, "docs", 1, &coll, &err) == RG_OK);
    CHECK_INT(rg_store_collection(s, "docs", 0, &coll2, &err), RG_OK);
    CHECK_INT(coll2, coll);
    CHECK_INT(rg_store_collection(s, "other", 0, &coll2, &err), RG_ENOTFOUND);
    CHECK_INT(rg_store_collection(s, "bad name!", 1, &coll2, &err), RG_EINVAL);
    REQUIRE(rg_store_change_seq(s, &seq0, &err) == RG_OK);

    CHECK_INT(put(s, coll, "/a.txt", "h1", 17), RG_OK);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks"), 2);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks_fts"), 2);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'epsilon'"), 1);
    REQUIRE(rg_store_change_seq(s, &seq1, &err) == RG_OK);
    CHECK(seq1 > seq0);

    int found;
    int64_t id;
    char hash[65];
    CHECK_INT(rg_store_find_document(s, coll, "/a.txt", &found, &id, hash, &err), RG_OK);
    CHECK(found);
    CHECK_STR(hash, "h1");

    /* Replacing keeps one document and swaps the chunks and their index rows. */
    CHECK_INT(put(s, coll, "/a.txt", "h2", 5), RG_OK);
    CHECK_INT(count(s, "SELECT count(*) FROM documents"), 1);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks"), 2);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks_fts"), 2);
    CHECK_INT(count(s, "SELECT min(byte_end) FROM chunks"), 5);

    rg_chunk_view v;
    int64_t cid = count(s, "SELECT max(id) FROM chunks");
    REQUIRE(rg_store_chunk_get(s, cid, &v, &err) == RG_OK);
    CHECK_STR(v.title, "T");
    CHECK_STR(v.section, "S");
    CHECK_STR(v.collection, "docs");
    CHECK_STR(v.source_uri, "/a.txt");
    CHECK((size_t)(v.byte_end - v.byte_start) == v.text_len);
    CHECK(memcmp(v.text, text + v.byte_start, v.text_len) == 0);
    rg_chunk_view_free(&v);
    CHECK_INT(rg_store_chunk_collection(s, cid), coll);

    /* A bad chunk span rolls the whole document back. */
    rg_doc_meta m = {.collection_id = coll, .source_uri = "/b.txt", .content_hash = "x",
                     .text = text, .text_len = sizeof text - 1};
    rg_chunk_row bad[2] = {{0, 5, 1, NULL}, {5, 999, 1, NULL}};
    CHECK_INT(rg_store_put_document(s, &m, bad, 2, NULL, &err), RG_EINTERNAL);
    CHECK_INT(count(s, "SELECT count(*) FROM documents"), 1);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks"), 2);

    /* Prefix deletes take a folder's documents, byte-exact (no LIKE wildcards). */
    CHECK_INT(put(s, coll, "/dir/x.md", "h", 17), RG_OK);
    CHECK_INT(put(s, coll, "/dir/sub/y.md", "h", 17), RG_OK);
    CHECK_INT(put(s, coll, "/dirx/z.md", "h", 17), RG_OK);
    size_t n;
    CHECK_INT(rg_store_delete_prefix(s, coll, "/di_", &n, &err), RG_OK);
    CHECK_INT(n, 0);
    CHECK_INT(rg_store_delete_prefix(s, coll, "/dir", &n, &err), RG_OK);
    CHECK_INT(n, 2);
    CHECK_INT(count(s, "SELECT count(*) FROM documents"), 2);

    CHECK_INT(rg_store_delete_document(s, id + 1000, &err), RG_ENOTFOUND);
    REQUIRE(rg_store_find_document(s, coll, "/a.txt", &found, &id, NULL, &err) == RG_OK);
    CHECK_INT(rg_store_delete_document(s, id, &err), RG_OK);
    /* Only /dirx/z.md is left: its two chunks, and their two index rows. */
    CHECK_INT(count(s, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'epsilon'"), 1);
    CHECK_INT(count(s, "SELECT count(*) FROM chunks_fts"), 2);
    rg_store_counts c;
    CHECK_INT(rg_store_counts_get(s, coll, &c, &err), RG_OK);
    CHECK_INT(c.documents, 1);
    CHECK_INT(c.chunks, 2);
    rg_manifest_entry me = {"/a.txt", 10, 123000000007, "h", "set1", "ok", NULL, 3};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    me = (rg_manifest_entry){"/a.txt", 11, 124000000000, NULL, NULL, "error", "bad", 0};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    CHECK_INT(count(s, "SELECT count(*) FROM manifest"), 1);
    CHECK_INT(count(s, "SELECT size FROM manifest"), 11);
    CHECK_INT(count(s, "SELECT mtime FROM manifest"), 124);
    rg_manifest_row row;
    CHECK_INT(rg_store_manifest_get(s, coll, "/a.txt", &row, &found, &err), RG_OK);
    CHECK_INT(found, 1);
    CHECK_INT(row.mtime_ns, 124000000000);
    CHECK_STR(row.status, "error");
    CHECK_STR(row.content_hash, "");
    CHECK_STR(row.settings_hash, "");
    CHECK_STR(row.document_hash, ""); /* /a.txt's document was deleted above */
    CHECK_INT(rg_store_manifest_get(s, coll, "/none", &row, &found, &err), RG_OK);
    CHECK_INT(found, 0);

    /* Sources under a folder: documents and manifest-only rows, sorted, byte-exact. */
    CHECK_INT(put(s, coll, "/m/b.md", "hb", 17), RG_OK);
    CHECK_INT(put(s, coll, "/m/a.md", "ha", 17), RG_OK);
    me = (rg_manifest_entry){"/m/a.md", 17, 5, "ha", "set1", "ok", NULL, 0};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    me = (rg_manifest_entry){"/m/c.md", 3, 5, NULL, "set1", "error", "broken", 0};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    me = (rg_manifest_entry){"/m_/d.md", 3, 5, NULL, "set1", "ok", NULL, 0};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    CHECK_INT(rg_store_manifest_get(s, coll, "/m/a.md", &row, &found, &err), RG_OK);
    CHECK_STR(row.document_hash, "ha");
    CHECK_STR(row.settings_hash, "set1");
    char **uris;
    size_t nu;
    CHECK_INT(rg_store_sources_under(s, coll, "/m", &uris, &nu, &err), RG_OK);
    REQUIRE(nu == 3);
    CHECK_STR(uris[0], "/m/a.md");
    CHECK_STR(uris[1], "/m/b.md");
    CHECK_STR(uris[2], "/m/c.md");
    rg_store_sources_free(uris, nu);
    /* Forgetting a source takes its document and its manifest row. */
    int removed;
    CHECK_INT(rg_store_forget_source(s, coll, "/m/a.md", &removed, &err), RG_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(rg_store_forget_source(s, coll, "/m/c.md", &removed, &err), RG_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(rg_store_sources_under(s, coll, "/m", &uris, &nu, &err), RG_OK);
    REQUIRE(nu == 1);
    CHECK_STR(uris[0], "/m/b.md");
    rg_store_sources_free(uris, nu);
    /* Deleting by prefix or by id takes manifest rows too. */
    me = (rg_manifest_entry){"/m/b.md", 17, 5, "hb", "set1", "ok", NULL, 0};
    CHECK_INT(rg_store_manifest_put(s, coll, &me, &err), RG_OK);
    CHECK_INT(rg_store_delete_prefix(s, coll, "/m", &n, &err), RG_OK);
    CHECK_INT(n, 1);
    CHECK_INT(count(s, "SELECT count(*) FROM manifest WHERE source_uri LIKE '/m/%'"), 0);
    CHECK_INT(count(s, "SELECT count(*) FROM manifest WHERE source_uri = '/m_/d.md'"), 1);
    CHECK_INT(put(s, coll, "/m_/d.md", "hd", 17), RG_OK);
    REQUIRE(rg_store_find_document(s, coll, "/m_/d.md", &found, &id, NULL, &err) == RG_OK);
    CHECK_INT(rg_store_delete_document(s, id, &err), RG_OK);
    CHECK_INT(count(s, "SELECT count(*) FROM manifest WHERE source_uri = '/m_/d.md'"), 0);
    rg_store_close(s);
    remove_dir();
}

/* The deletion log: a reader follows deletions from a position, in order,
 * and learns when the log was pruned past it; new chunks are those above
 * the largest id it saw. */
static void test_deletion_log(void)
{
    fresh_dir();
    rg_store *s;
    rg_error err;
    REQUIRE(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    int64_t coll, start, pos, *ids;
    size_t n;
    int complete, found;
    REQUIRE(rg_store_collection(s, "docs", 1, &coll, &err) == RG_OK);
    CHECK_INT(rg_store_deletion_pos(s, &start, &err), RG_OK);
    CHECK_INT(start, 0);
    CHECK_INT(put(s, coll, "/a.txt", "h1", 17), RG_OK);
    CHECK_INT(put(s, coll, "/b.txt", "h1", 17), RG_OK);
    int64_t a1 = count(s, "SELECT min(id) FROM chunks"),
            seen = count(s, "SELECT max(id) FROM chunks");
    CHECK_INT(put(s, coll, "/a.txt", "h2", 5), RG_OK); /* replaced: a's two chunks go */
    CHECK_INT(put(s, coll, "/c.txt", "h1", 17), RG_OK);
    /* new since the reader saw `seen`: a's two new chunks and c's two */
    CHECK_INT(rg_store_chunk_ids_after(s, coll, seen, &ids, &n, &err), RG_OK);
    CHECK_INT(n, 4);
    CHECK_INT(ids[0], seen + 1);
    CHECK_INT(ids[3], count(s, "SELECT max(id) FROM chunks"));
    rg_free(ids);
    CHECK_INT(rg_store_chunk_ids_after(s, coll + 1, 0, &ids, &n, &err), RG_OK);
    CHECK_INT(n, 0);
    REQUIRE(rg_store_find_document(s, coll, "/b.txt", &found, &start, NULL, &err) == RG_OK);
    CHECK_INT(rg_store_delete_document(s, start, &err), RG_OK);
    pos = 0;
    CHECK_INT(rg_store_deletions_since(s, &pos, &ids, &n, &complete, &err), RG_OK);
    CHECK(complete);
    REQUIRE(n == 4); /* a's old chunks, then b's, in the order they went */
    CHECK_INT(ids[0], a1);
    CHECK_INT(ids[1], a1 + 1);
    CHECK_INT(ids[2], a1 + 2);
    CHECK_INT(ids[3], a1 + 3);
    rg_free(ids);
    CHECK_INT(pos, 4);
    CHECK_INT(rg_store_deletion_pos(s, &start, &err), RG_OK);
    CHECK_INT(start, pos);
    /* nothing new: nothing read, the position stays */
    CHECK_INT(rg_store_deletions_since(s, &pos, &ids, &n, &complete, &err), RG_OK);
    CHECK(complete && n == 0 && pos == 4 && ids == NULL);
    /* entries a reader has not read are pruned: it is told, and nothing moves */
    REQUIRE(sqlite3_exec(rg_store_db(s), "DELETE FROM chunk_deletions WHERE seq <= 2", NULL, NULL,
                         NULL) == SQLITE_OK);
    pos = 1;
    CHECK_INT(rg_store_deletions_since(s, &pos, &ids, &n, &complete, &err), RG_OK);
    CHECK(!complete && n == 0 && pos == 1);
    pos = 2; /* read up to the pruned part: the rest is all there */
    CHECK_INT(rg_store_deletions_since(s, &pos, &ids, &n, &complete, &err), RG_OK);
    CHECK(complete && n == 2 && pos == 4);
    rg_free(ids);
    /* a position past the log's end (a store put back from a copy) cannot be followed */
    pos = 9;
    CHECK_INT(rg_store_deletions_since(s, &pos, &ids, &n, &complete, &err), RG_OK);
    CHECK(!complete && pos == 9);
    rg_store_close(s);
    remove_dir();
}

/* An allocation failure while opening is reported, and the store opens after. */
static void test_allocation_failure(void)
{
    fresh_dir();
    rg_store *s = NULL;
    rg_error err;
    rg_mem_fail_at(1, 1);
    CHECK_INT(rg_store_open(dir, NULL, &s, &err), RG_ENOMEM);
    rg_mem_fail_at(0, 0);
    CHECK(s == NULL);
    REQUIRE(rg_store_open(dir, NULL, &s, &err) == RG_OK);
    char ok[16];
    text_of(s, "PRAGMA integrity_check", ok, sizeof ok);
    CHECK_STR(ok, "ok");
    rg_store_close(s);
    remove_dir();
}

TEST_MAIN(TEST(test_schema_and_reopen), TEST(test_missing_and_corrupt),
          TEST(test_put_replace_delete), TEST(test_deletion_log), TEST(test_allocation_failure))
