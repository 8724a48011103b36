/*
 * test_loader_json.c — the JSON and JSON Lines loaders: records, text and
 * title fields, records without text, nesting and record limits, bad lines,
 * and the field configuration.
 */
#include "test.h"

#include "engine/base/mem.h"
#include "ingest/loader.h"
#include "ingest_test.h"

static void test_array(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("json/articles.json"), &d, &err) == RG_OK);
    CHECK_STR(d.media_type, "application/json");
    CHECK_STR(d.title, ""); /* several records: none of them names the file */
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Solar Power"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Panels convert light."));
    CHECK(block_is(&d, 2, RG_BLOCK_HEADING, "風力發電")); /* "Name": case does not matter */
    CHECK(block_is(&d, 3, RG_BLOCK_PARAGRAPH, "风力发电很好。"));
    CHECK(block_is(&d, 4, RG_BLOCK_PARAGRAPH, "第二段")); /* an object inside a text field */
    CHECK(block_is(&d, 5, RG_BLOCK_PARAGRAPH, "Wind."));
    CHECK(block_is(&d, 6, RG_BLOCK_TABLE_ROW, "id: 3 | sku: AB-12 | price: 9.5 | in_stock: true"));
    CHECK(block_is(&d, 7, RG_BLOCK_PARAGRAPH, "a bare string"));
    CHECK_INT(d.n_blocks, 8);
    CHECK(!text_has(&d, "energy")); /* not a text field */
    if (d.n_blocks == 8) CHECK_INT(d.blocks[1].section, 0);
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static void test_single_object(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("json/single.json"), &d, &err) == RG_OK);
    CHECK_STR(d.title, "Meeting notes");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Meeting notes"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Discussed the quokka budget."));
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);
}

static void test_lines(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("json/records.jsonl"), &d, &err) == RG_OK);
    CHECK_STR(d.media_type, "application/x-ndjson");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "First"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Line one text."));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Second abstract.")); /* n is not text */
    CHECK(block_is(&d, 3, RG_BLOCK_TABLE_ROW, "code: X1 | ratio: 0.1"));
    CHECK_INT(d.n_blocks, 4);
    CHECK_STR(d.title, "");
    rg_document_free(&d);
    rg_document bad = {0};
    CHECK_INT(rg_load_file(fixture("json/bad.ndjson"), &bad, &err), RG_EPARSE);
    CHECK(strstr(err.msg, "bad.ndjson: line 3: invalid JSON at column") != NULL);
    CHECK(bad.text == NULL);
}

static rg_status load(const char *path, const char *src, rg_document *d, rg_error *err)
{
    return rg_load_buffer(path, src, strlen(src), d, err);
}

static void test_errors(void)
{
    rg_document d = {0};
    rg_error err;
    char deep[2 * (RG_JSON_MAX_DEPTH + 1) + 1];
    for (int i = 0; i <= RG_JSON_MAX_DEPTH; i++) {
        deep[i] = '[';
        deep[2 * (RG_JSON_MAX_DEPTH + 1) - 1 - i] = ']';
    }
    deep[2 * (RG_JSON_MAX_DEPTH + 1)] = '\0';
    CHECK_INT(load("d.json", deep, &d, &err), RG_ELIMIT);
    CHECK_STR(err.msg, "d.json: line 1: JSON nests deeper than 64 levels");
    CHECK_INT(load("d.jsonl",
                   "{}\n\n{\"a\":1}\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                   "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                   &d, &err),
              RG_ELIMIT);
    CHECK(strstr(err.msg, "line 4: JSON nests deeper") != NULL);
    /* exactly the limit is fine, and brackets inside strings do not count */
    deep[RG_JSON_MAX_DEPTH] = '"';
    deep[RG_JSON_MAX_DEPTH + 1] = '"';
    REQUIRE(load("d.json", deep, &d, &err) == RG_OK);
    rg_document_free(&d);
    REQUIRE(load("s.json",
                 "{\"text\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                 "[[[[[[[[[[[[[[[[\\\"[[[[[\"}",
                 &d, &err) == RG_OK);
    CHECK(text_has(&d, "\"[[[[["));
    rg_document_free(&d);
    CHECK_INT(load("n.json", "42", &d, &err), RG_EUNSUPPORTED);
    CHECK_INT(load("t.json", "{\"a\": 1} x", &d, &err), RG_EPARSE);
    CHECK_STR(err.msg, "t.json: line 1: invalid JSON at column 10");
    CHECK_INT(load("t.json", "{\n  \"a\": tru\n}", &d, &err), RG_EPARSE);
    CHECK(strstr(err.msg, "line 2: invalid JSON") != NULL);
    CHECK_INT(load("u.json", "{\"text\": \"\xff\"}", &d, &err), RG_EUTF8);
    REQUIRE(load("e.json", "  \n", &d, &err) == RG_OK);
    CHECK_INT(d.n_blocks, 0);
    rg_document_free(&d);

    /* one record more than the limit (empty objects give no blocks) */
    rg_buf b;
    rg_buf_init(&b, 1u << 26);
    for (size_t i = 0; i <= 1000000; i++)
        rg_buf_puts(&b, "{}\n");
    CHECK_INT(rg_load_buffer("r.jsonl", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "more than 1000000 records") != NULL);
    rg_buf_free(&b);
}

static void test_configured_fields(void)
{
    static const char *const text[] = {"msg", NULL};
    static const char *const title[] = {"headline", NULL};
    rg_error err;
    REQUIRE(rg_loader_json_set_fields(text, title, &err) == RG_OK);
    rg_document d;
    const char *src = "{\"title\": \"T\", \"headline\": \"H\", \"text\": \"x\", \"MSG\": \"M\"}";
    REQUIRE(load("c.json", src, &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "H"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "M"));
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);

    /* bad lists change nothing */
    const char *many[RG_JSON_MAX_FIELDS + 2];
    for (int i = 0; i <= RG_JSON_MAX_FIELDS; i++)
        many[i] = "f";
    many[RG_JSON_MAX_FIELDS + 1] = NULL;
    CHECK_INT(rg_loader_json_set_fields(many, NULL, &err), RG_ELIMIT);
    static const char *const empty[] = {"", NULL};
    CHECK_INT(rg_loader_json_set_fields(NULL, empty, &err), RG_EINVAL);
    REQUIRE(load("c.json", src, &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "H"));
    rg_document_free(&d);

    /* NULL restores the defaults */
    REQUIRE(rg_loader_json_set_fields(NULL, NULL, &err) == RG_OK);
    REQUIRE(load("c.json", src, &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "T"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "x"));
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);
}

static void test_find(void)
{
    CHECK(rg_loader_find("a/b.JSON", NULL, 0) == &rg_loader_json);
    CHECK(rg_loader_find("b.jsonl", NULL, 0) == &rg_loader_jsonl);
    CHECK(rg_loader_find("b.ndjson", NULL, 0) == &rg_loader_jsonl);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation. */
static void test_alloc_failures(void)
{
    CHECK(load_past_alloc_failures("json/articles.json", 1000, NULL, NULL) > 2);
}

TEST_MAIN(TEST(test_array), TEST(test_single_object), TEST(test_lines), TEST(test_errors),
          TEST(test_configured_fields), TEST(test_find), TEST(test_alloc_failures))
