#include "test.h"

#include "ingest/loader.h"
#include "ingest_test.h"

static void test_sample(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("sample.html"), &d, &err) == RG_OK);
    CHECK_STR(d.title, "Page Title");
    CHECK_STR(d.media_type, "text/html");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Main Heading"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "First paragraph & more."));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Div text"));
    CHECK(block_is(&d, 3, RG_BLOCK_PARAGRAPH, "nested para"));
    CHECK(block_is(&d, 4, RG_BLOCK_PARAGRAPH, "after"));
    CHECK(block_is(&d, 5, RG_BLOCK_LIST_ITEM, "one"));
    CHECK(block_is(&d, 6, RG_BLOCK_LIST_ITEM, "two"));
    CHECK(block_is(&d, 7, RG_BLOCK_LIST_ITEM, "nested"));
    CHECK(block_is(&d, 8, RG_BLOCK_TABLE_ROW, "Name | Value"));
    CHECK(block_is(&d, 9, RG_BLOCK_TABLE_ROW, "a | 1"));
    CHECK(block_is(&d, 10, RG_BLOCK_CODE, "  code line 1\n    code line 2"));
    CHECK(block_is(&d, 11, RG_BLOCK_PARAGRAPH, "Quoted text"));
    CHECK(block_is(&d, 12, RG_BLOCK_HEADING, "中文標題"));
    CHECK(block_is(&d, 13, RG_BLOCK_PARAGRAPH, "中文段落。第二句!"));
    CHECK_INT(d.n_blocks, 14);
    if (d.n_blocks == 14) {
        CHECK_INT(d.blocks[0].level, 1);
        CHECK_INT(d.blocks[12].level, 2);
        CHECK_INT(d.blocks[13].section, 12);
    }
    static const char *const dropped[] = {"color",     "secret", "Home",  "About",
                                          "Enable JS", "tmpl",   "alert", "comment"};
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
        if (text_has(&d, dropped[i])) fprintf(stderr, "  \"%s\" was kept\n", dropped[i]);
        CHECK(!text_has(&d, dropped[i]));
    }
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static rg_status load(const char *src, rg_document *d, rg_error *err)
{
    return rg_load_buffer("t.html", src, strlen(src), d, err);
}

static void test_title_rules(void)
{
    rg_document d;
    REQUIRE(load("<html><body><h2>Sub</h2><h1>Big <b>One</b></h1><p>x</p></body></html>", &d,
                 NULL) == RG_OK);
    CHECK_STR(d.title, "Big One"); /* no <title>: the first <h1> */
    rg_document_free(&d);
    REQUIRE(load("<html><head><title> </title></head><body><h3>Only h3</h3></body></html>", &d,
                 NULL) == RG_OK);
    CHECK_STR(d.title, "Only h3"); /* blank <title>, no <h1>: the first heading */
    rg_document_free(&d);
    REQUIRE(load("<html><body><svg><title>icon</title></svg><p>text</p></body></html>", &d, NULL) ==
            RG_OK);
    CHECK_STR(d.title, "");
    CHECK_STR(d.text, "text");
    rg_document_free(&d);
}

static void test_malformed(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("malformed.html"), &d, &err) == RG_OK);
    static const char *const kept[] = {"Unclosed para", "bold", "italic",     "inner text",
                                       "another",       "tail", "stray item", "cell"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        if (!text_has(&d, kept[i])) fprintf(stderr, "  \"%s\" was lost\n", kept[i]);
        CHECK(text_has(&d, kept[i]));
    }
    rg_document_free(&d);
    REQUIRE(load("<p>no html element at all", &d, &err) == RG_OK);
    CHECK_STR(d.text, "no html element at all");
    rg_document_free(&d);
    REQUIRE(load("", &d, &err) == RG_OK);
    CHECK_INT(d.len, 0);
    rg_document_free(&d);
}

static void test_charsets(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("latin1.html"), &d, &err) == RG_OK);
    CHECK(text_has(&d, "café crème"));
    CHECK(text_has(&d, "\xe2\x80\x9cquoted\xe2\x80\x9d")); /* windows-1252 quotes */
    rg_document_free(&d);
    CHECK_INT(load("<meta charset=\"x-no-such-charset\"><p>x</p>", &d, &err), RG_EUNSUPPORTED);
    CHECK(strstr(err.msg, "x-no-such-charset") != NULL);
    CHECK(strstr(err.msg, "t.html") != NULL);
    CHECK_INT(load("<meta charset=utf-8><p>caf\xe9</p>", &d, &err), RG_EUTF8);
    CHECK_STR(err.msg, "t.html: invalid UTF-8 at byte 26");
    REQUIRE(load("<meta name=x content=\"charset is fine\"><p>ok</p>", &d, &err) == RG_OK);
    CHECK_STR(d.text, "ok");
    rg_document_free(&d);
    REQUIRE(load("\xEF\xBB\xBF<meta charset='UTF-8'><p>中文</p>", &d, &err) == RG_OK);
    CHECK_STR(d.text, "中文");
    rg_document_free(&d);
}

TEST_MAIN(TEST(test_sample), TEST(test_title_rules), TEST(test_malformed), TEST(test_charsets))
