/* API keys (index/keys.h) and document access lists in search (search.h). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/keys.h"
#include "index/search.h"
#include "index/store.h"

static char dir[64];

static rg_store *fresh(void)
{
    snprintf(dir, sizeof dir, "/tmp/ragd-keys-XXXXXX");
    if (!mkdtemp(dir)) abort();
    rg_store *s = NULL;
    rg_error err;
    if (rg_store_open(dir, NULL, &s, &err)) abort();
    return s;
}

static void done(rg_store *s)
{
    rg_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) abort();
}

static void test_scopes(void)
{
    char out[32];
    CHECK_INT(rg_scopes_parse("read"), RG_SCOPE_READ);
    CHECK_INT(rg_scopes_parse("read,write,admin"), RG_SCOPE_READ | RG_SCOPE_WRITE | RG_SCOPE_ADMIN);
    CHECK_INT(rg_scopes_parse("read,root"), 0);
    CHECK_INT(rg_scopes_parse(""), 0);
    rg_scopes_format(RG_SCOPE_READ | RG_SCOPE_ADMIN, out, sizeof out);
    CHECK_STR(out, "read,admin");
}

static void test_create_lookup_revoke(void)
{
    rg_store *s = fresh();
    rg_error err;
    const char *colls[] = {"hr"}, *groups[] = {"eng", "ops"};
    rg_key_spec spec = {.name = "bot",
                        .scopes = RG_SCOPE_READ,
                        .collections = colls,
                        .n_collections = 1,
                        .groups = groups,
                        .n_groups = 2};
    char key[RG_KEY_TEXT_LEN + 1], key2[RG_KEY_TEXT_LEN + 1];
    REQUIRE(rg_key_create(s, &spec, key, &err) == RG_OK);
    CHECK_INT(strlen(key), RG_KEY_TEXT_LEN);
    CHECK(strncmp(key, "rgk_", 4) == 0);
    CHECK_INT(rg_key_create(s, &spec, key2, &err), RG_EEXISTS);
    spec.name = "bot2";
    REQUIRE(rg_key_create(s, &spec, key2, &err) == RG_OK);
    CHECK(strcmp(key, key2) != 0);
    /* the store keeps a hash, never the key */
    sqlite3_stmt *st;
    int leaked = 0;
    REQUIRE(sqlite3_prepare_v2(rg_store_db(s),
                               "SELECT name, prefix, hash, collections, groups "
                               "FROM api_keys",
                               -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < 5; c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            leaked |= v && (strstr(v, key + 4) != NULL || strstr(v, key2 + 4) != NULL);
        }
    sqlite3_finalize(st);
    CHECK(!leaked);

    rg_key_info k;
    REQUIRE(rg_key_lookup(s, key, &k, &err) == RG_OK);
    CHECK_STR(k.name, "bot");
    CHECK_STR(k.user, "bot"); /* the name, when no user is given */
    CHECK_INT(k.scopes, RG_SCOPE_READ);
    CHECK_INT(k.n_groups, 2);
    CHECK(rg_key_allows(&k, "hr"));
    CHECK(!rg_key_allows(&k, "finance"));
    CHECK(!rg_key_allows(&k, NULL));
    rg_reader rd = rg_key_reader(&k);
    CHECK_STR(rd.user, "bot");
    CHECK_STR(rd.groups[1], "ops");
    rg_key_info_free(&k);

    char wrong[RG_KEY_TEXT_LEN + 1];
    memcpy(wrong, key, sizeof wrong);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    CHECK_INT(rg_key_lookup(s, wrong, &k, &err), RG_ENOTFOUND);
    CHECK_INT(rg_key_lookup(s, "rgk_short", &k, &err), RG_ENOTFOUND);
    CHECK_INT(rg_key_lookup(s, NULL, &k, &err), RG_ENOTFOUND);

    REQUIRE(rg_key_revoke(s, "bot", &err) == RG_OK);
    CHECK_INT(rg_key_lookup(s, key, &k, &err), RG_ENOTFOUND);
    CHECK_INT(rg_key_revoke(s, "bot", &err), RG_ENOTFOUND);
    REQUIRE(rg_key_lookup(s, key2, &k, &err) == RG_OK);
    rg_key_info_free(&k);
    rg_key_info *all;
    size_t n;
    REQUIRE(rg_key_list(s, &all, &n, &err) == RG_OK);
    CHECK_INT(n, 2);
    CHECK(all[0].revoked_at != 0 && all[1].revoked_at == 0);
    CHECK_INT(strlen(all[0].prefix), RG_KEY_PREFIX_LEN);
    rg_key_list_free(all, n);

    rg_key_spec bad = {.name = "has space", .scopes = RG_SCOPE_READ};
    CHECK_INT(rg_key_create(s, &bad, key, &err), RG_EINVAL);
    bad.name = "ok";
    bad.scopes = 0;
    CHECK_INT(rg_key_create(s, &bad, key, &err), RG_EINVAL);
    done(s);
}

/* Three documents: public, alice's, the eng group's; one with an empty list. */
static void put(rg_store *s, int64_t coll, const char *uri, const char *body, const char *meta)
{
    rg_doc_meta m = {.collection_id = coll,
                     .source_uri = uri,
                     .title = uri,
                     .media_type = "text/plain",
                     .content_hash = "h",
                     .size = 1,
                     .metadata_json = meta,
                     .text = body,
                     .text_len = strlen(body)};
    rg_chunk_row row = {0, strlen(body), 4, NULL};
    rg_error err;
    if (rg_store_put_document(s, &m, &row, 1, NULL, &err)) abort();
}

static size_t search_n(rg_search *q, const rg_reader *rd, int64_t *ids)
{
    rg_search_request r = rg_search_default_request("orchid greenhouse");
    r.mode = RG_SEARCH_LEXICAL;
    r.reader = rd;
    rg_search_hit hits[10];
    size_t n = 0;
    rg_error err;
    if (rg_search_run(q, &r, hits, &n, NULL, &err)) abort();
    for (size_t i = 0; i < n; i++)
        ids[i] = hits[i].chunk_id;
    return n;
}

static void test_access_lists(void)
{
    rg_store *s = fresh();
    rg_error err;
    int64_t coll;
    REQUIRE(rg_store_collection(s, "c", 1, &coll, &err) == RG_OK);
    put(s, coll, "public", "orchid greenhouse public note", NULL);
    put(s, coll, "alice", "orchid greenhouse for alice", "{\"acl\":{\"users\":[\"alice\"]}}");
    put(s, coll, "eng", "orchid greenhouse for eng", "{\"acl\":{\"groups\":[\"eng\"]}}");
    put(s, coll, "nobody", "orchid greenhouse for nobody", "{\"acl\":{}}");
    rg_search *q;
    REQUIRE(rg_search_open(s, NULL, &q, &err) == RG_OK);
    int64_t ids[10];
    const char *eng[] = {"eng"};
    rg_reader alice = {"alice", NULL, 0}, bob_eng = {"bob", eng, 1}, carol = {"carol", NULL, 0},
              anon = {"", NULL, 0};
    CHECK_INT(search_n(q, NULL, ids), 4); /* no reader: no check */
    CHECK_INT(search_n(q, &alice, ids), 2);
    CHECK_INT(search_n(q, &bob_eng, ids), 2);
    CHECK_INT(search_n(q, &carol, ids), 1);
    CHECK_INT(search_n(q, &anon, ids), 1); /* an empty name matches no list's entry */
    CHECK_INT(rg_search_readable(q, &carol, ids[0]), 1);
    /* the same through the store's views */
    rg_store_reader sa = {"alice", "[]"}, sc = {"carol", "[]"}, se = {"x", "[\"eng\"]"};
    rg_store_counts c;
    REQUIRE(rg_store_counts_readable(s, coll, &sa, &c, &err) == RG_OK);
    CHECK_INT(c.documents, 2);
    REQUIRE(rg_store_counts_readable(s, coll, &sc, &c, &err) == RG_OK);
    CHECK_INT(c.documents, 1);
    REQUIRE(rg_store_counts_readable(s, coll, &se, &c, &err) == RG_OK);
    CHECK_INT(c.documents, 2);
    REQUIRE(rg_store_counts_readable(s, coll, NULL, &c, &err) == RG_OK);
    CHECK_INT(c.documents, 4);
    rg_doc_row *rows;
    size_t n;
    REQUIRE(rg_store_documents(s, coll, &sc, 0, 10, &rows, &n, &err) == RG_OK);
    CHECK_INT(n, 1);
    CHECK_STR(rows[0].source_uri, "public");
    rg_doc_rows_free(rows, n);
    rg_doc_row one;
    CHECK_INT(rg_store_document_get(s, coll, 2, &sc, &one, &err), RG_ENOTFOUND);
    REQUIRE(rg_store_document_get(s, 0, 2, &sa, &one, &err) == RG_OK);
    CHECK_STR(one.source_uri, "alice");
    CHECK_STR(one.collection, "c");
    rg_doc_row_free(&one);
    rg_search_close(q);
    done(s);
}

TEST_MAIN(TEST(test_scopes), TEST(test_create_lookup_revoke), TEST(test_access_lists))
