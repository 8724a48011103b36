#include "test.h"

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/document.h"
#include "ingest_test.h"

static rg_status add(rg_doc_builder *b, rg_block_kind kind, int level, const char *s)
{
    return rg_doc_add(b, kind, level, s, strlen(s), NULL);
}

static void test_join_and_spans(void)
{
    rg_doc_builder *b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    CHECK_INT(add(b, RG_BLOCK_PARAGRAPH, 0, "Before   any\nheading"), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_HEADING, 1, "  Ｉｎｔｒｏ  "), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_PARAGRAPH, 0, "   "), RG_OK);      /* dropped */
    CHECK_INT(add(b, RG_BLOCK_PARAGRAPH, 0, "\x01\x02"), RG_OK); /* empty once normalised */
    CHECK_INT(add(b, RG_BLOCK_PARAGRAPH, 0, "Hello\r\n  world"), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_CODE, 0, "\n  \n  int x;  \n\tif (y)\n\n\n"), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_HEADING, 9, "Deep"), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_LIST_ITEM, 0, "item"), RG_OK);
    CHECK_INT(add(b, RG_BLOCK_TABLE_ROW, 0, "a | b"), RG_OK);
    rg_document d;
    rg_error err;
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_STR(d.text, "Before any heading\n\nIntro\n\nHello world\n\n  int x;\n\tif (y)\n\nDeep"
                      "\n\nitem\n\na | b");
    CHECK_INT(d.len, strlen(d.text));
    CHECK_INT(d.n_blocks, 7);
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH, "Before any heading"));
    CHECK(block_is(&d, 1, RG_BLOCK_HEADING, "Intro"));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Hello world"));
    CHECK(block_is(&d, 3, RG_BLOCK_CODE, "  int x;\n\tif (y)"));
    CHECK(block_is(&d, 4, RG_BLOCK_HEADING, "Deep"));
    CHECK(block_is(&d, 5, RG_BLOCK_LIST_ITEM, "item"));
    CHECK(block_is(&d, 6, RG_BLOCK_TABLE_ROW, "a | b"));
    if (d.n_blocks == 7) {
        CHECK_INT(d.blocks[0].section, -1);
        CHECK_INT(d.blocks[1].section, 1);
        CHECK_INT(d.blocks[1].level, 1);
        CHECK_INT(d.blocks[2].section, 1);
        CHECK_INT(d.blocks[3].section, 1);
        CHECK_INT(d.blocks[4].level, RG_HEADING_MAX_LEVEL);
        CHECK_INT(d.blocks[4].section, 4);
        CHECK_INT(d.blocks[6].section, 4);
        CHECK_INT(d.blocks[2].level, 0);
    }
    CHECK_STR(d.title, "Intro"); /* first heading when none was set */
    CHECK_STR(d.media_type, "text/plain");
    rg_document_free(&d);
    CHECK(d.text == NULL && d.blocks == NULL);

    /* the builder is empty again and can be reused */
    CHECK(!rg_doc_has_title(b));
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_STR(d.text, "");
    CHECK_STR(d.title, "");
    CHECK_INT(d.n_blocks, 0);
    CHECK_INT(d.len, 0);
    rg_document_free(&d);
    rg_doc_builder_free(b);
}

static void test_title(void)
{
    rg_doc_builder *b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    CHECK_INT(rg_doc_set_title(b, "first", 5, NULL), RG_OK);
    const char *raw = "  ＴＩＴＬＥ\n two ";
    CHECK_INT(rg_doc_set_title(b, raw, strlen(raw), NULL), RG_OK);
    CHECK(rg_doc_has_title(b));
    add(b, RG_BLOCK_HEADING, 2, "Heading");
    rg_document d;
    REQUIRE(rg_doc_builder_finish(b, &d, NULL) == RG_OK);
    CHECK_STR(d.title, "TITLE two");
    rg_document_free(&d);

    /* a very long title is cut on a character boundary */
    size_t n = 3000;
    char *t = rg_malloc(n * 2);
    REQUIRE(t != NULL);
    for (size_t i = 0; i < n; i++)
        memcpy(t + 2 * i, "\xc3\xa9", 2);
    CHECK_INT(rg_doc_set_title(b, t, n * 2, NULL), RG_OK);
    REQUIRE(rg_doc_builder_finish(b, &d, NULL) == RG_OK);
    CHECK(strlen(d.title) <= RG_DOC_MAX_TITLE_BYTES);
    CHECK(strlen(d.title) >= RG_DOC_MAX_TITLE_BYTES - 1);
    CHECK(rg_utf8_valid(d.title, strlen(d.title), NULL));
    rg_document_free(&d);
    rg_free(t);
    rg_doc_builder_free(b);
}

static void test_errors(void)
{
    rg_doc_builder *b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    rg_error err;
    add(b, RG_BLOCK_PARAGRAPH, 0, "fine");
    add(b, RG_BLOCK_PARAGRAPH, 0, "bad \xff byte");
    rg_document d = {0};
    CHECK_INT(rg_doc_builder_finish(b, &d, &err), RG_EUTF8);
    CHECK(strstr(err.msg, "block 1") != NULL);
    CHECK(strstr(err.msg, "byte 4") != NULL);
    CHECK(d.text == NULL); /* untouched */
    CHECK_INT(rg_doc_add(b, (rg_block_kind)77, 0, "x", 1, &err), RG_EINVAL);
    rg_doc_builder_free(b);

    b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    CHECK_INT(rg_doc_set_title(b, "\xc3", 1, NULL), RG_OK);
    CHECK_INT(rg_doc_builder_finish(b, &d, &err), RG_EUTF8);
    CHECK(strstr(err.msg, "title") != NULL);
    rg_doc_builder_free(b);
}

/* Each failing allocation gives RG_ENOMEM, leaks nothing, and the retry works. */
static void test_alloc_failures(void)
{
    rg_status st = RG_ENOMEM;
    for (unsigned long k = 1; st != RG_OK && k < 200; k++) {
        rg_mem_fail_at(k, 0);
        rg_doc_builder *b = rg_doc_builder_new();
        st = b ? RG_OK : RG_ENOMEM;
        if (st == RG_OK) st = rg_doc_add(b, RG_BLOCK_HEADING, 1, "Ｔｉｔｌｅ", 15, NULL);
        if (st == RG_OK) st = rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, "some text", 9, NULL);
        if (st == RG_OK) st = rg_doc_set_title(b, "t", 1, NULL);
        rg_document d;
        if (st == RG_OK) st = rg_doc_builder_finish(b, &d, NULL);
        rg_mem_fail_at(0, 0);
        CHECK(st == RG_OK || st == RG_ENOMEM);
        if (st == RG_OK) {
            CHECK_STR(d.text, "Title\n\nsome text");
            rg_document_free(&d);
        }
        rg_doc_builder_free(b);
    }
    CHECK_INT(st, RG_OK);
}

/* A masking builder keeps only placeholders; spans stay exact on the masked text. */
static void test_mask(void)
{
    rg_doc_builder *b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    rg_pii_counts counts = {{0}};
    rg_doc_builder_mask(b, RG_PII_ALL, &counts);
    rg_error err;
    const char *p1 = "Write to amy.li@example.com today.";
    const char *p2 = "客戶電話0912-345-678，卡號4111 1111 1111 1111。";
    const char *title = "Notes for amy.li@example.com";
    CHECK_INT(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, p1, strlen(p1), &err), RG_OK);
    CHECK_INT(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, p2, strlen(p2), &err), RG_OK);
    CHECK_INT(rg_doc_set_title(b, title, strlen(title), &err), RG_OK);
    rg_document d;
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_STR(d.title, "Notes for [EMAIL]");
    CHECK_STR(d.text,
              "Write to [EMAIL] today.\n\n客戶電話[PHONE],卡號[CARD]。"); /* NFKC folds the comma */
    REQUIRE(d.n_blocks == 2);
    CHECK_INT(d.blocks[0].end - d.blocks[0].start, strlen("Write to [EMAIL] today."));
    CHECK(memcmp(d.text + d.blocks[1].start, "客戶電話[PHONE]", strlen("客戶電話[PHONE]")) == 0);
    CHECK_INT(d.blocks[1].end, d.len);
    CHECK_INT(counts.n[RG_PII_EMAIL], 1); /* the title's is masked, not counted */
    CHECK_INT(counts.n[RG_PII_PHONE], 1);
    CHECK_INT(counts.n[RG_PII_CARD], 1);
    CHECK(strstr(d.text, "example.com") == NULL);
    rg_document_free(&d);
    /* types 0: nothing masked */
    rg_doc_builder_mask(b, 0, NULL);
    CHECK_INT(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, p1, strlen(p1), &err), RG_OK);
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_STR(d.text, p1);
    rg_document_free(&d);
    rg_doc_builder_free(b);
}

TEST_MAIN(TEST(test_join_and_spans), TEST(test_title), TEST(test_errors), TEST(test_mask),
          TEST(test_alloc_failures))
