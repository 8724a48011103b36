#include "test.h"

#include "ingest/loader.h"
#include "ingest_test.h"

static void test_sample(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("sample.md"), &d, &err) == RG_OK);
    CHECK_STR(d.title, "Front Matter Title");
    CHECK_STR(d.media_type, "text/markdown");
    CHECK(block_is(&d, 0, RG_BLOCK_HEADING, "Main Heading"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH,
                   "Intro paragraph with emphasis, strong, code *span*, and a link. An image "
                   "alt text here. snake_case_name stays. 2 * 3 * 4 stays."));
    CHECK(block_is(&d, 2, RG_BLOCK_HEADING, "Setext Heading"));
    CHECK(block_is(&d, 3, RG_BLOCK_LIST_ITEM, "item one"));
    CHECK(block_is(&d, 4, RG_BLOCK_LIST_ITEM, "item two continued"));
    CHECK(block_is(&d, 5, RG_BLOCK_LIST_ITEM, "done task"));
    CHECK(block_is(&d, 6, RG_BLOCK_LIST_ITEM, "first"));
    CHECK(block_is(&d, 7, RG_BLOCK_LIST_ITEM, "second"));
    CHECK(block_is(&d, 8, RG_BLOCK_CODE, "def f():\n    return 1"));
    CHECK(block_is(&d, 9, RG_BLOCK_CODE, "indented code\n  more"));
    CHECK(block_is(&d, 10, RG_BLOCK_TABLE_ROW, "Name | Value"));
    CHECK(block_is(&d, 11, RG_BLOCK_TABLE_ROW, "a | 1"));
    CHECK(block_is(&d, 12, RG_BLOCK_TABLE_ROW, "b | c | x|y"));
    CHECK(block_is(&d, 13, RG_BLOCK_PARAGRAPH, "quoted paragraph"));
    CHECK(block_is(&d, 14, RG_BLOCK_HEADING, "Quoted heading"));
    CHECK(block_is(&d, 15, RG_BLOCK_PARAGRAPH,
                   "Term with & entity, inline html and https://auto.link/x. Nested link with "
                   "img inside and ref link."));
    CHECK(block_is(&d, 16, RG_BLOCK_PARAGRAPH, "Last struck paragraph."));
    CHECK_INT(d.n_blocks, 17);
    if (d.n_blocks > 14) {
        CHECK_INT(d.blocks[0].level, 1);
        CHECK_INT(d.blocks[2].level, 2);
        CHECK_INT(d.blocks[14].level, 2);
        CHECK_INT(d.blocks[3].section, 2);
    }
    /* what must not survive */
    CHECK(!text_has(&d, "example.com"));
    CHECK(!text_has(&d, "comment"));
    CHECK(!text_has(&d, "author"));
    CHECK(!text_has(&d, "---"));
    CHECK(!text_has(&d, "**"));
    CHECK(!text_has(&d, "img.png"));
    CHECK(!text_has(&d, "python"));
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

/* Loads a Markdown string and compares the joined text and the title. */
static int md_is(const char *src, const char *text, const char *title)
{
    rg_document d;
    rg_error err;
    if (rg_load_buffer("t.md", src, strlen(src), &d, &err) != RG_OK) {
        fprintf(stderr, "  load failed: %s\n", err.msg);
        return 0;
    }
    int ok = strcmp(d.text, text) == 0 && strcmp(d.title, title) == 0;
    if (!ok)
        fprintf(stderr, "  markdown \"%s\" gave \"%s\" (title \"%s\"), expected \"%s\" (\"%s\")\n",
                src, d.text, d.title, text, title);
    rg_document_free(&d);
    return ok;
}

static void test_headings_and_title(void)
{
    CHECK(md_is("Title\n=====\n\ntext", "Title\n\ntext", "Title"));
    CHECK(md_is("intro\n\n## Two ##\n# One", "intro\n\nTwo\n\nOne", "Two"));
    CHECK(md_is("#not a heading\n####### seven", "#not a heading ####### seven", ""));
    CHECK(md_is("---\na: b\n---\n# H\n", "H", "H"));
    CHECK(md_is("---\ntitle: 'Quoted'\n...\nbody", "body", "Quoted"));
    CHECK(md_is("---\nno close\n", "no close", "")); /* "---" was a rule, not front matter */
    CHECK(md_is("\xEF\xBB\xBF# BOM heading", "BOM heading", "BOM heading"));
}

static void test_code(void)
{
    CHECK(md_is("```\ncode *not emph*\n", "code *not emph*", "")); /* unclosed fence */
    CHECK(md_is("~~~~\na\n~~~\nb\n~~~~\nafter", "a\n~~~\nb\n\nafter", ""));
    CHECK(md_is("para\n    not code", "para not code", ""));
    CHECK(md_is("\tcode\n\n\tmore", "code\n\nmore", ""));
    CHECK(md_is("> ```\n> quoted code\n> ```", "quoted code", ""));
}

static void test_lists_and_inline(void)
{
    CHECK(md_is("in\n2019. we went", "in 2019. we went", ""));
    CHECK(md_is("* a\n  * nested\n+ b", "a\n\nnested\n\nb", ""));
    CHECK(md_is("a <!-- hidden --> b", "a b", ""));
    CHECK(md_is("<!--\nmulti\n\nline\n-->\nvisible", "visible", ""));
    CHECK(md_is("snake_case and _emph_ and *a **b** c*", "snake_case and emph and a b c", ""));
    CHECK(md_is("\\*literal\\* and \\[x\\]", "*literal* and [x]", ""));
    CHECK(md_is("[1] citation stays, &#x4E2D;&#25991; &bogus; &#; &#x;",
                "[1] citation stays, 中文 &bogus; &#; &#x;", ""));
    CHECK(md_is("a<br/>b <em>c</em> 1 < 2 > 0", "ab c 1 < 2 > 0", ""));
    CHECK(md_is("| a | b |\n|---|---|\n| 1 | 2 |\n\nafter", "a | b\n\n1 | 2\n\nafter", ""));
    CHECK(md_is("a | b\nnot a table", "a | b not a table", ""));
}

TEST_MAIN(TEST(test_sample), TEST(test_headings_and_title), TEST(test_code),
          TEST(test_lists_and_inline))
