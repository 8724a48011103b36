/*
 * test_loader_docx.c — the DOCX loader on the fixtures that
 * scripts/gen_docx_fixtures.py writes into data/docx/.
 */
#include "test.h"

#include "engine/base/mem.h"
#include "ingest/loader.h"
#include "ingest_test.h"

static void test_sample(void)
{
    rg_document d;
    rg_error err;
    rg_status st = rg_load_file(fixture("docx/sample.docx"), &d, &err);
    if (st) fprintf(stderr, "  %s\n", err.msg);
    REQUIRE(st == RG_OK);
    CHECK_STR(d.title, "Quarterly Report"); /* docProps/core.xml, not the first heading */
    CHECK_STR(d.media_type,
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Introduction"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH,
                   "First paragraph after a tab after a break and a link."));
    CHECK(block_is(&d, 2, RG_BLOCK_HEADING, "Details")); /* style id Kop2, name "heading 2" */
    CHECK(block_is(&d, 3, RG_BLOCK_LIST_ITEM, "Item one"));
    CHECK(block_is(&d, 4, RG_BLOCK_LIST_ITEM, "Item two"));
    CHECK(block_is(&d, 5, RG_BLOCK_LIST_ITEM, "Styled item")); /* numPr from the style */
    CHECK(block_is(&d, 6, RG_BLOCK_PARAGRAPH, "Inside a content control"));
    CHECK(block_is(&d, 7, RG_BLOCK_TABLE_ROW, "名稱 | 说明"));
    CHECK(block_is(&d, 8, RG_BLOCK_TABLE_ROW, "資料庫 | 数据库 第二段"));
    CHECK(block_is(&d, 9, RG_BLOCK_TABLE_ROW, "outer | in1 in2 in3")); /* nested table */
    CHECK(block_is(&d, 10, RG_BLOCK_PARAGRAPH, "繁體中文段落。简体中文段落。"));
    CHECK(block_is(&d, 11, RG_BLOCK_HEADING, "Closing words")); /* Title style */
    CHECK_INT(d.n_blocks, 12);
    if (d.n_blocks == 12) {
        CHECK_INT(d.blocks[0].level, 1);
        CHECK_INT(d.blocks[2].level, 2);
        CHECK_INT(d.blocks[3].section, 2);
        CHECK_INT(d.blocks[11].level, 1);
    }
    CHECK(!text_has(&d, "removed words")); /* w:del */
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

/* Damaged styles.xml and core.xml are passed over; the text still loads. */
static void test_damaged_side_parts(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("docx/badparts.docx"), &d, &err) == RG_OK);
    CHECK_STR(d.title, "Kept heading");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Kept heading"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Kept text"));
    CHECK_INT(d.n_blocks, 2);
    if (d.n_blocks == 2) CHECK_INT(d.blocks[0].level, 2);
    rg_document_free(&d);
}

static void check_fails(const char *name, rg_status want, const char *msg_part)
{
    rg_document d = {0};
    rg_error err;
    const char *path = fixture(name);
    CHECK_INT(rg_load_file(path, &d, &err), want);
    if (!strstr(err.msg, msg_part)) fprintf(stderr, "  %s: message \"%s\"\n", name, err.msg);
    CHECK(strstr(err.msg, msg_part) != NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(d.text == NULL);
}

static void test_refused(void)
{
    check_fails("docx/bomb.docx", RG_ELIMIT, "word/document.xml declares 4294967280 bytes");
    check_fails("docx/inflate.docx", RG_ELIMIT, "word/document.xml inflates past the limit");
    check_fails("docx/deep.docx", RG_ELIMIT, "deeper than 128 levels");
    check_fails("docx/bzip2.docx", RG_EUNSUPPORTED,
                "word/document.xml is compressed with zip method 12; a Word document's parts are "
                "stored or deflated");
    check_fails("docx/encrypted.docx", RG_EUNSUPPORTED,
                "encrypted or not a Word document (a password-protected Word file)");
    check_fails("docx/notword.docx", RG_EUNSUPPORTED,
                "encrypted or not a Word document (the zip has no word/document.xml)");
    check_fails("docx/truncated.docx", RG_EPARSE, "corrupt zip archive");
    rg_document d = {0};
    rg_error err;
    CHECK_INT(rg_load_buffer("old.docx", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0", 10, &d, &err),
              RG_EUNSUPPORTED);
    CHECK(strstr(err.msg, "legacy .doc") != NULL);
    /* a zip is binary for every loader that does not read zips */
    CHECK_INT(rg_load_buffer("a.txt", "PK\x03\x04word/document.xml", 21, &d, &err), RG_EBINARY);
    CHECK_INT(rg_load_buffer("b.docx", "\x89PNG\r\n\x1a\n\0\0", 10, &d, &err), RG_EBINARY);
}

static void test_find(void)
{
    const char *zip = "PK\x03\x04....word/document.xml";
    CHECK(rg_loader_find("a/report.docx", NULL, 0) == &rg_loader_docx);
    CHECK(rg_loader_find("REPORT.DOCX", zip, 26) == &rg_loader_docx);
    CHECK(rg_loader_find("README", zip, 26) == &rg_loader_docx);
    CHECK(rg_loader_find("README", "PK\x03\x04....other.xml", 18) != &rg_loader_docx);
    CHECK(rg_loader_find("x.docx", "plain", 5) == NULL);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation. */
static void test_alloc_failures(void)
{
    CHECK(load_past_alloc_failures("docx/sample.docx", 1000, NULL, NULL) > 2);
}

TEST_MAIN(TEST(test_sample), TEST(test_damaged_side_parts), TEST(test_refused), TEST(test_find),
          TEST(test_alloc_failures))
