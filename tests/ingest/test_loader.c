#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/mem.h"
#include "ingest/loader.h"
#include "ingest_test.h"

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void test_looks_binary(void)
{
    CHECK(rg_looks_binary("\x89PNG\r\n\x1a\n\0\0", 10));
    CHECK(rg_looks_binary("%PDF-1.7\n", 9));
    CHECK(rg_looks_binary("PK\x03\x04zip", 7));
    CHECK(rg_looks_binary("\x7f"
                          "ELF\x02\x01",
                          6));
    CHECK(rg_looks_binary("hello\0world", 11));
    CHECK(rg_looks_binary("\x01\x02\x03\x04 ab", 7)); /* mostly control bytes */
    CHECK(!rg_looks_binary("hello world\n\tindented\r\n", strlen("hello world\n\tindented\r\n")));
    CHECK(
        !rg_looks_binary("\x1b[31mred\x1b[0m log line\n", strlen("\x1b[31mred\x1b[0m log line\n")));
    CHECK(!rg_looks_binary("中文文本", 12));
    CHECK(!rg_looks_binary("", 0));
}

static void test_find(void)
{
    const char *html = "<!DOCTYPE html><html><body>x</body></html>";
    CHECK(rg_loader_find("a/b/notes.md", "x", 1) == &rg_loader_markdown);
    CHECK(rg_loader_find("x.Markdown", "x", 1) == &rg_loader_markdown);
    CHECK(rg_loader_find("page.HTML", "x", 1) == &rg_loader_html);
    CHECK(rg_loader_find("page.htm", "x", 1) == &rg_loader_html);
    CHECK(rg_loader_find("notes.txt", html, strlen(html)) == &rg_loader_text);
    CHECK(rg_loader_find("notes.text", "x", 1) == &rg_loader_text);
    CHECK(rg_loader_find("README", html, strlen(html)) == &rg_loader_html);
    CHECK(rg_loader_find("dir.v2/README", "plain", 5) == &rg_loader_text);
    CHECK(rg_loader_find(".profile", "plain", 5) == &rg_loader_text);
    CHECK(rg_loader_find(NULL, "plain", 5) == &rg_loader_text);
    CHECK(rg_loader_find(NULL, "\n  <html lang=en>", 17) == &rg_loader_html);
    CHECK(rg_loader_find("report.pdf", "plain", 5) == NULL);
    CHECK(rg_loader_find("by/name.md", NULL, 0) == &rg_loader_markdown);
    CHECK(rg_loader_find("by/name", NULL, 0) == &rg_loader_text);
    CHECK(rg_loader_find("by/name.exe", NULL, 0) == NULL);
    CHECK(rg_loader_find("data.json", "{}", 2) == &rg_loader_json);
}

static void test_binary_rejected(void)
{
    rg_document d = {0};
    rg_error err;
    CHECK_INT(rg_load_buffer("x.txt", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, &d, &err), RG_EBINARY);
    CHECK(strstr(err.msg, "x.txt") != NULL);
    CHECK_INT(rg_load_buffer("y.md", "text\0with nul", 13, &d, &err), RG_EBINARY);
    CHECK_INT(rg_load_file(fixture("image.png"), &d, &err), RG_EBINARY);
    CHECK(strstr(err.msg, "image.png") != NULL);
    CHECK(d.text == NULL);
    CHECK_INT(rg_load_buffer("u16.txt", "\xFF\xFEh\0i\0", 6, &d, &err), RG_EUNSUPPORTED);
    CHECK(strstr(err.msg, "UTF-16") != NULL);
    CHECK_INT(rg_load_buffer("x.docx", "plain", 5, &d, &err), RG_EUNSUPPORTED);
}

static void test_invalid_utf8_names_file_and_offset(void)
{
    rg_document d = {0};
    rg_error err;
    const char *path = fixture("bad_utf8.txt");
    CHECK_INT(rg_load_file(path, &d, &err), RG_EUTF8);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(strstr(err.msg, "byte 9") != NULL);
    CHECK(d.text == NULL);
    CHECK_INT(rg_load_buffer("m.md", "# ok\n\n\xc3\x28", 8, &d, &err), RG_EUTF8);
    CHECK_STR(err.msg, "m.md: invalid UTF-8 at byte 6");
    CHECK_INT(rg_load_buffer("h.html", "<p>ok \xe4\xb8</p>", 12, &d, &err), RG_EUTF8);
    CHECK_STR(err.msg, "h.html: invalid UTF-8 at byte 6");
}

static void test_file_errors(void)
{
    rg_document d = {0};
    rg_error err;
    const char *missing = tmp_path("no-such-file.txt");
    CHECK_INT(rg_load_file(missing, &d, &err), RG_ENOTFOUND);
    CHECK(strstr(err.msg, missing) != NULL);
    CHECK_INT(rg_load_file(tmpdir, &d, &err), RG_EINVAL); /* a directory */

    /* a sparse file one byte over the limit is refused before it is read */
    const char *big = tmp_path("big.txt");
    FILE *f = fopen(big, "wb");
    REQUIRE(f != NULL);
    CHECK(ftruncate(fileno(f), (off_t)RG_LOADER_MAX_FILE_BYTES + 1) == 0);
    fclose(f);
    CHECK_INT(rg_load_file(big, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "big.txt") != NULL);
    unlink(big);
    CHECK_INT(rg_load_buffer("b.txt", "x", (size_t)RG_LOADER_MAX_FILE_BYTES + 1, &d, &err),
              RG_ELIMIT);
    CHECK(d.text == NULL);
}

static void test_text_loader(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("sample.txt"), &d, &err) == RG_OK);
    CHECK_STR(d.title, "Plain Title");
    CHECK_STR(d.media_type, "text/plain");
    CHECK_INT(d.n_blocks, 3);
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH, "Plain Title"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "First paragraph wraps here."));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Second A paragraph."));
    rg_document_free(&d);

    /* no title when the first paragraph has several lines; BOM and CR-only line ends */
    const char *t = "\xEF\xBB\xBFline one\rline two\r\rnext";
    REQUIRE(rg_load_buffer("t.txt", t, strlen(t), &d, &err) == RG_OK);
    CHECK_STR(d.title, "");
    CHECK_STR(d.text, "line one line two\n\nnext");
    rg_document_free(&d);

    /* empty and blank files give empty documents */
    REQUIRE(rg_load_buffer("e.txt", "", 0, &d, &err) == RG_OK);
    CHECK_INT(d.len, 0);
    CHECK_INT(d.n_blocks, 0);
    rg_document_free(&d);
    REQUIRE(rg_load_buffer("e.txt", " \n\n \t\n", 6, &d, &err) == RG_OK);
    CHECK_INT(d.len, 0);
    rg_document_free(&d);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation. */
static void test_alloc_failures(void)
{
    static const char *const paths[] = {"sample.txt", "sample.md", "sample.html"};
    for (size_t p = 0; p < 3; p++) {
        CHECK(load_past_alloc_failures(paths[p], 1000, NULL, NULL) > 2);
    }
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rg-ingest-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void teardown(void)
{
    rmdir(tmpdir);
}

static void test_setup(void)
{
    setup();
    CHECK(tmpdir[0] != '\0');
}

static void test_teardown(void)
{
    teardown();
}

TEST_MAIN(TEST(test_setup), TEST(test_looks_binary), TEST(test_find), TEST(test_binary_rejected),
          TEST(test_invalid_utf8_names_file_and_offset), TEST(test_file_errors),
          TEST(test_text_loader), TEST(test_alloc_failures), TEST(test_teardown))
