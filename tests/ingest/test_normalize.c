#include "test.h"

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/normalize.h"

#define OUT_MAX (1u << 24)

/* Normalises s in mode and compares with want. */
static int norm_is(const char *s, rg_ws_mode mode, const char *want)
{
    rg_buf out;
    rg_error err;
    rg_buf_init(&out, OUT_MAX);
    rg_status st = rg_normalize(s, strlen(s), mode, &out, &err);
    int ok = st == RG_OK && strcmp(rg_buf_str(&out), want) == 0;
    if (!ok)
        fprintf(stderr, "  normalize(\"%s\", %d) = %d \"%s\", expected \"%s\"\n", s, (int)mode,
                (int)st, rg_buf_str(&out), want);
    rg_buf_free(&out);
    return ok;
}

static void test_nfkc_full_width(void)
{
    CHECK(norm_is("ＡＢＣ１２３", RG_WS_COLLAPSE, "ABC123"));
    CHECK(norm_is("ｈｅｌｌｏ，ｗｏｒｌｄ！", RG_WS_COLLAPSE, "hello,world!"));
    /* half-width katakana, with the voiced mark composed into one character */
    CHECK(norm_is("ｶﾀｶﾅ", RG_WS_COLLAPSE, "カタカナ"));
    CHECK(norm_is("ｶﾞｷﾞ", RG_WS_COLLAPSE, "ガギ"));
    CHECK(norm_is("ﬁne ①", RG_WS_COLLAPSE, "fine 1"));
    /* canonical composition: e + combining acute is one code point */
    CHECK(norm_is("e\xcc\x81", RG_WS_COLLAPSE, "\xc3\xa9"));
    /* ideographic space and no-break space are spaces */
    CHECK(norm_is("中文\xe3\x80\x80测试\xc2\xa0ok", RG_WS_COLLAPSE, "中文 测试 ok"));
    /* CJK text passes unchanged (Traditional and Simplified) */
    CHECK(norm_is("這是繁體。这是简体。", RG_WS_COLLAPSE, "這是繁體。这是简体。"));
}

static void test_whitespace_modes(void)
{
    CHECK(norm_is("  a \t b\n\n c  ", RG_WS_COLLAPSE, "a b c"));
    CHECK(norm_is("\n\n  line one  \n   line two\n\n\n\npara   two \n\n", RG_WS_PARAGRAPHS,
                  "line one\nline two\n\npara two"));
    CHECK(norm_is("a\n \t \nb", RG_WS_PARAGRAPHS, "a\n\nb"));
    CHECK(
        norm_is("int x;   \r\n\tif (y)  \r\n\r\n  z;\t ", RG_WS_KEEP, "int x;\n\tif (y)\n\n  z;"));
    CHECK(norm_is("a\rb\r\nc\n", RG_WS_KEEP, "a\nb\nc\n"));
    CHECK(norm_is("a\r\rb", RG_WS_PARAGRAPHS, "a\n\nb"));
    CHECK(norm_is("   ", RG_WS_COLLAPSE, ""));
    CHECK(norm_is("", RG_WS_PARAGRAPHS, ""));
    /* form feed and the Unicode line separator end lines */
    CHECK(norm_is("a\fb\xe2\x80\xa8"
                  "c",
                  RG_WS_KEEP, "a\nb\nc"));
}

/* Runs of printable ASCII are taken whole: their edges, and what follows them. */
static void test_ascii_runs(void)
{
    /* '!' and '~' are the first and last of a run; space and DEL are not */
    CHECK(norm_is("!~  ~!\x7f!\r~", RG_WS_COLLAPSE, "!~ ~!! ~"));
    CHECK(norm_is(" \t!a~ ", RG_WS_COLLAPSE, "!a~"));
    CHECK(norm_is("ab\r\n\r\ncd  \n  ef", RG_WS_PARAGRAPHS, "ab\n\ncd\nef"));
    CHECK(norm_is("x=1;  \ny~\t", RG_WS_KEEP, "x=1;\ny~"));
    /* a '\r' ending a run is a line end, and its '\n' is not a second one */
    CHECK(norm_is("a;\r\nb;\rc", RG_WS_KEEP, "a;\nb;\nc"));
    CHECK(norm_is("x\ry\nz", RG_WS_KEEP, "x\ny\nz"));
    /* a run cut by a non-ASCII character (a segment that goes through NFKC) */
    CHECK(norm_is("ab\xc3\xa9"
                  "cd \xef\xbc\xa1z",
                  RG_WS_COLLAPSE,
                  "ab\xc3\xa9"
                  "cd Az"));
}

static void test_control_chars(void)
{
    CHECK(norm_is("a\x01"
                  "b\x7f c\x1b",
                  RG_WS_COLLAPSE, "ab c"));
    CHECK(norm_is("tab\there\x02", RG_WS_KEEP, "tab\there"));
    CHECK(norm_is("c1\xc2\x80\xc2\x9f"
                  "x",
                  RG_WS_COLLAPSE, "c1x"));
    CHECK(norm_is("nul\0", RG_WS_COLLAPSE, "nul")); /* strlen stops at the NUL anyway */
    rg_buf out;
    rg_buf_init(&out, OUT_MAX);
    CHECK_INT(rg_normalize("a\0b", 3, RG_WS_COLLAPSE, &out, NULL), RG_OK);
    CHECK_STR(rg_buf_str(&out), "ab");
    rg_buf_free(&out);
}

static void test_invalid_utf8(void)
{
    rg_buf out;
    rg_error err;
    rg_buf_init(&out, OUT_MAX);
    rg_buf_puts(&out, "keep");
    CHECK_INT(rg_normalize("abc\xff", 4, RG_WS_COLLAPSE, &out, &err), RG_EUTF8);
    CHECK_INT(err.code, RG_EUTF8);
    CHECK_STR(err.msg, "invalid UTF-8 at byte 3");
    CHECK_STR(rg_buf_str(&out), "keep");
    CHECK_INT(rg_normalize("ok \xc3\xa9 \xc0\xaf", 8, RG_WS_KEEP, &out, &err), RG_EUTF8);
    CHECK_STR(err.msg, "invalid UTF-8 at byte 6");
    CHECK_INT(rg_normalize("\xe4\xb8", 2, RG_WS_KEEP, &out, &err), RG_EUTF8); /* truncated */
    CHECK_STR(err.msg, "invalid UTF-8 at byte 0");
    CHECK_INT(rg_normalize("\xed\xa0\x80", 3, RG_WS_KEEP, &out, &err), RG_EUTF8); /* surrogate */
    CHECK_STR(rg_buf_str(&out), "keep");
    rg_buf_free(&out);
}

static void test_bom_and_append(void)
{
    CHECK(norm_is("\xEF\xBB\xBFhello", RG_WS_COLLAPSE, "hello"));
    CHECK(norm_is("\xEF\xBB\xBF  hi", RG_WS_KEEP, "  hi"));
    rg_buf out;
    rg_buf_init(&out, OUT_MAX);
    rg_buf_puts(&out, "X");
    CHECK_INT(rg_normalize(" abc ", 5, RG_WS_COLLAPSE, &out, NULL), RG_OK);
    CHECK_STR(rg_buf_str(&out), "Xabc");
    rg_buf_free(&out);
}

static void test_limit_leaves_out(void)
{
    rg_buf out;
    rg_error err;
    rg_buf_init(&out, 6);
    rg_buf_puts(&out, "ab");
    CHECK_INT(rg_normalize("cdefgh", 6, RG_WS_COLLAPSE, &out, &err), RG_ELIMIT);
    CHECK_STR(rg_buf_str(&out), "ab");
    CHECK(strstr(err.msg, "limit") != NULL);
    CHECK_INT(rg_normalize("x", 1, (rg_ws_mode)42, &out, &err), RG_EINVAL);
    rg_buf_free(&out);
}

/*
 * Input longer than one normalisation segment: a CRLF split across the cut,
 * full-width text after it, and the result equal to normalising each line.
 */
static void test_long_input_segments(void)
{
    size_t n = 70000 + 200;
    char *in = rg_malloc(n);
    REQUIRE(in != NULL);
    memset(in, 'a', n);
    size_t cr = (64u << 10) + 10;
    in[cr] = '\r';
    in[cr + 1] = '\n';
    memcpy(in + cr + 2, "ＡＢ  ", 8);
    in[cr + 100] = '\n';
    rg_buf out;
    rg_buf_init(&out, OUT_MAX);
    CHECK_INT(rg_normalize(in, n, RG_WS_KEEP, &out, NULL), RG_OK);
    size_t lf = 0;
    for (size_t i = 0; i < out.len; i++)
        lf += out.data[i] == '\n';
    CHECK_INT(lf, 2);
    CHECK(out.data[cr] == '\n');
    CHECK(memcmp(out.data + cr + 1, "AB  a", 5) == 0);
    CHECK_INT(out.len, n - 1 - 4); /* CRLF -> LF, two full-width letters 3 -> 1 byte each */
    CHECK(rg_utf8_valid(out.data, out.len, NULL));
    rg_buf_free(&out);
    rg_free(in);
}

/* Every allocation failure gives RG_ENOMEM and leaves out as it was. */
static void test_alloc_failures(void)
{
    const char *in = "ＡＢＣ　ｶﾞ\r\nline";
    rg_status st = RG_ENOMEM;
    for (unsigned long k = 1; st == RG_ENOMEM && k < 100; k++) {
        rg_buf out;
        rg_buf_init(&out, OUT_MAX);
        rg_mem_fail_at(k, 0);
        st = rg_normalize(in, strlen(in), RG_WS_PARAGRAPHS, &out, NULL);
        rg_mem_fail_at(0, 0);
        if (st == RG_ENOMEM) CHECK_INT(out.len, 0);
        rg_buf_free(&out);
    }
    CHECK_INT(st, RG_OK);
}

TEST_MAIN(TEST(test_nfkc_full_width), TEST(test_whitespace_modes), TEST(test_ascii_runs),
          TEST(test_control_chars), TEST(test_invalid_utf8), TEST(test_bom_and_append),
          TEST(test_limit_leaves_out), TEST(test_long_input_segments), TEST(test_alloc_failures))
