/*
 * test_loader_email.c — the e-mail loader (headers, MIME structure, body
 * choice, attachments, limits) and the decoders of mime.h it relies on.
 */
#include "test.h"

#include "engine/base/mem.h"
#include "ingest/loader.h"
#include "ingest/mime.h"
#include "ingest_test.h"

static int load_ok(const char *name, rg_document *d)
{
    rg_error err;
    rg_status st = rg_load_file(fixture(name), d, &err);
    if (st) fprintf(stderr, "  %s: %s\n", name, err.msg);
    return st == RG_OK;
}

static void test_plain(void)
{
    rg_document d;
    REQUIRE(load_ok("email/plain.eml", &d));
    CHECK_STR(d.media_type, "message/rfc822");
    CHECK_STR(d.title, "Quarterly numbers"); /* folded Subject */
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH,
                   "From: \"Alice Chen\" <alice@example.com> To: bob@example.com, "
                   "carol@example.com Cc: dave@example.com Date: Mon, 4 Mar 2024 10:00:00 "
                   "+0800 Subject: Quarterly numbers"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Hello Bob,"));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "The numbers are in. Second line."));
    CHECK_INT(d.n_blocks, 3);
    CHECK(!text_has(&d, "Message-ID"));
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static void test_alternative_prefers_plain(void)
{
    rg_document d;
    REQUIRE(load_ok("email/alternative.eml", &d));
    CHECK_STR(d.title, "季度報告"); /* RFC 2047 B, UTF-8 */
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH,
                   "From: José <jose@example.com> To: team@example.com Subject: 季度報告"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Café prices rose.")); /* QP soft break */
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Soft space and a lone = sign."));
    CHECK_INT(d.n_blocks, 3);
    CHECK(!text_has(&d, "HTML version"));
    CHECK(!text_has(&d, "multi-part message")); /* the preamble */
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static void test_mixed(void)
{
    rg_document d;
    REQUIRE(load_ok("email/mixed.eml", &d));
    CHECK_STR(d.title, "中文報告"); /* two Big5 words, the space between them dropped */
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH,
                   "From: sender@example.com To: rcpt@example.com Date: Tue, 5 Mar 2024 "
                   "09:30:00 +0000 Subject: 中文報告"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "中文內容。")); /* base64, Big5 */
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Attachment: report.pdf"));
    CHECK(block_is(&d, 3, RG_BLOCK_PARAGRAPH, "Attachment: 報告.txt")); /* RFC 2231 name */
    CHECK(block_is(&d, 4, RG_BLOCK_PARAGRAPH, "From: inner@example.com Subject: Inner"));
    CHECK(block_is(&d, 5, RG_BLOCK_PARAGRAPH, "Inner body."));
    CHECK_INT(d.n_blocks, 6); /* the unnamed inline image gives nothing */
    CHECK(!text_has(&d, "not this"));
    CHECK(!text_has(&d, "is not read"));
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static void test_html_body(void)
{
    rg_document d;
    REQUIRE(load_ok("email/html_only.eml", &d));
    CHECK_STR(d.title, "Lunch"); /* the Subject, not the HTML <title> */
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH, "From: chef@example.com Subject: Lunch"));
    CHECK(block_is(&d, 1, RG_BLOCK_HEADING, "Café")); /* ISO-8859-1, quoted-printable */
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Menü of the day"));
    CHECK_INT(d.n_blocks, 3);
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static rg_status load(const char *src, rg_document *d, rg_error *err)
{
    return rg_load_buffer("m.eml", src, strlen(src), d, err);
}

static void test_malformed(void)
{
    rg_document d;
    rg_error err;
    /* the declared boundary never occurs: split at the one the body uses */
    REQUIRE(load_ok("email/malformed.eml", &d));
    CHECK(
        block_is(&d, 0, RG_BLOCK_PARAGRAPH, "From: broken@example.com Subject: Boundary mismatch"));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Recovered text."));
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);
    /* no boundary at all: the body is text */
    REQUIRE(load("Subject: S\nContent-Type: multipart/mixed\n\nJust text.\n", &d, &err) == RG_OK);
    CHECK_STR(d.text, "Subject: S\n\nJust text.");
    rg_document_free(&d);
    /* an unclosed multipart keeps its last part; a header block that stops early */
    REQUIRE(load("Subject: U\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nOpen part.\n", &d,
                 &err) == RG_OK);
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Open part."));
    rg_document_free(&d);
    REQUIRE(load("Subject: V\nthis line is no header\nbody\n", &d, &err) == RG_OK);
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "this line is no header body"));
    rg_document_free(&d);
    /* unlabelled 8-bit text that is not UTF-8 */
    REQUIRE(load("Subject: caf\xe9\n\nna\xefve\n", &d, &err) == RG_OK);
    CHECK_STR(d.title, "café");
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "naïve"));
    rg_document_free(&d);
}

static void test_limits(void)
{
    rg_document d = {0};
    rg_error err;
    rg_buf b;
    rg_buf_init(&b, 1u << 24);
    for (int i = 0; i < 1001; i++)
        rg_buf_puts(&b, "X-A: b\n");
    rg_buf_puts(&b, "\nbody\n");
    CHECK_INT(rg_load_buffer("m.eml", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "more than 1000 header fields") != NULL);

    rg_buf_reset(&b);
    rg_buf_puts(&b, "Subject: ");
    for (size_t i = 0; i < (64u << 10); i++)
        rg_buf_putc(&b, 'x');
    rg_buf_puts(&b, "\n\nbody\n");
    CHECK_INT(rg_load_buffer("m.eml", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "a header line is over 65536 bytes") != NULL);

    rg_buf_reset(&b); /* 17 multiparts inside one another */
    rg_buf_puts(&b, "Content-Type: multipart/mixed; boundary=b0\n\n");
    for (int i = 1; i <= 17; i++)
        rg_buf_printf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i - 1, i);
    rg_buf_puts(&b, "--b17\n\ndeep text\n");
    CHECK_INT(rg_load_buffer("m.eml", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "nest deeper than 16 levels") != NULL);

    rg_buf_reset(&b); /* 1000 parts and the multipart itself */
    rg_buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\n\n");
    for (int i = 0; i < 1000; i++)
        rg_buf_puts(&b, "--p\n\nx\n");
    CHECK_INT(rg_load_buffer("m.eml", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "more than 1000 MIME parts") != NULL);
    CHECK(d.text == NULL);
    rg_buf_free(&b);
}

/* mime.h on its own: out holds exactly want after f appended to it. */
#define CHECK_DECODES(call, want)                                                                  \
    do {                                                                                           \
        rg_buf out_;                                                                               \
        rg_buf_init(&out_, 1u << 20);                                                              \
        rg_buf *out = &out_;                                                                       \
        CHECK_INT(call, RG_OK);                                                                    \
        CHECK_STR(rg_buf_str(&out_), want);                                                        \
        rg_buf_free(&out_);                                                                        \
    } while (0)

static void test_decoders(void)
{
    CHECK_DECODES(rg_mime_base64("aGVs\r\nbG8*!", 11, out), "hello");
    CHECK_DECODES(rg_mime_base64("aGk=ignored", 11, out), "hi");
    CHECK_DECODES(rg_mime_qp("a=3Db=\r\nc = d=", 14, 0, out), "a=bc = d");
    CHECK_DECODES(rg_mime_qp("a_b=5F", 6, 1, out), "a b_");
    CHECK_DECODES(rg_mime_to_utf8("ISO-8859-1", "caf\xe9 \x80", 6, out), "café €");
    CHECK_DECODES(rg_mime_to_utf8(NULL, "caf\xe9", 4, out), "café");
    CHECK_DECODES(rg_mime_to_utf8("utf-8", "a\xffz\0!", 5, out), "a\xEF\xBF\xBDz!");
    CHECK_DECODES(rg_mime_to_utf8("x-no-such", "ok\xff", 3, out), "ok\xEF\xBF\xBD");
    CHECK_DECODES(rg_mime_to_utf8("GB2312", "\xd6\xd0\xce\xc4", 4, out), "中文");
    CHECK_DECODES(rg_mime_to_utf8("Big5", "\xa4\xa4\xa4", 3, out), "中\xEF\xBF\xBD");
    const char *h1 = "=?UTF-8?Q?a?= \t =?UTF-8?Q?b?=";
    CHECK_DECODES(rg_mime_decode_header(h1, strlen(h1), out), "ab");
    const char *h2 = "=?UTF-8?Q?a?= x =?utf-8*en?q?b?= tail";
    CHECK_DECODES(rg_mime_decode_header(h2, strlen(h2), out), "a x b tail");
    const char *h3 = "Re: =?ISO-8859-1?Q?caf=E9_cr=E8me?=";
    CHECK_DECODES(rg_mime_decode_header(h3, strlen(h3), out), "Re: café crème");
    const char *h4 = "=?UTF-8?X?abc?= =?UTF-8?B?no end";
    CHECK_DECODES(rg_mime_decode_header(h4, strlen(h4), out), h4);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation. */
static void test_alloc_failures(void)
{
    static const char *const names[] = {"email/mixed.eml", "email/html_only.eml"};
    for (size_t i = 0; i < 2; i++) {
        CHECK(load_past_alloc_failures(names[i], 2000, NULL, NULL) > 2);
    }
}

TEST_MAIN(TEST(test_plain), TEST(test_alternative_prefers_plain), TEST(test_mixed),
          TEST(test_html_body), TEST(test_malformed), TEST(test_limits), TEST(test_decoders),
          TEST(test_alloc_failures))
