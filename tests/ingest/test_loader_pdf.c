/*
 * test_loader_pdf.c — the PDF loader on the fixtures of data/pdf/ (written
 * by scripts/gen_pdf_fixtures.py), its font decoding and layout rules on
 * hand-made content, content-based type detection, and the per-file size
 * limit.
 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/loader.h"
#include "ingest/pdf_content.h"
#include "ingest/pdf_font.h"
#include "ingest_test.h"

/* The text of english.pdf (and of objstm.pdf and encrypted-empty.pdf). */
static const char *const english_blocks[] = {
    "Annual Report 2023",
    "The quick brown fox jumps over the lazy dog. This paragraph contains an example of a "
    "hyphenated line break and World wide kerning.",
    "A second paragraph starts after a larger gap.",
    "Page two starts here with the euro sign \xE2\x82\xAC and \xE2\x80\x9Cquotes\xE2\x80\x9D. "
    "Second line via the quote operator. Third line via the double quote operator.",
    "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9"
    "e",
};
static const unsigned english_pages[] = {1, 1, 1, 2, 2};

static int load(const char *name, rg_document *d)
{
    rg_error err;
    rg_status st = rg_load_file(fixture(name), d, &err);
    if (st) fprintf(stderr, "  %s: %s\n", name, err.msg);
    return st == RG_OK;
}

static void check_english(const char *name)
{
    rg_document d;
    REQUIRE(load(name, &d));
    CHECK_STR(d.title, "Fixture Report"); /* /Info /Title, not the first line */
    CHECK_STR(d.media_type, "application/pdf");
    CHECK_INT(d.n_blocks, 5);
    for (size_t i = 0; i < 5; i++) {
        CHECK(block_is(&d, i, RG_BLOCK_PARAGRAPH, english_blocks[i]));
        if (i < d.n_blocks) CHECK_INT(d.blocks[i].page, english_pages[i]);
    }
    CHECK_INT(rg_doc_page_count(&d), 2);
    size_t starts[2];
    rg_doc_page_starts(&d, starts, 2);
    CHECK_INT(starts[0], 0);
    if (d.n_blocks == 5) CHECK_INT(starts[1], d.blocks[3].start);
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

/* (a) WinAnsi Helvetica, TJ kerning, a hyphenated break, ' and ", fonts from the page tree */
static void test_english(void)
{
    check_english("pdf/english.pdf");
}

/* (c) the same text, FlateDecode content in object streams with an xref stream */
static void test_object_streams(void)
{
    check_english("pdf/objstm.pdf");
}

/* (d) AES-256: a user password is refused, an empty one opens */
static void test_encrypted(void)
{
    rg_document d = {0};
    rg_error err;
    const char *path = fixture("pdf/encrypted-user.pdf");
    CHECK_INT(rg_load_file(path, &d, &err), RG_EUNSUPPORTED);
    CHECK(strstr(err.msg, "encrypted PDF (password required)") != NULL);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(d.text == NULL);
    check_english("pdf/encrypted-empty.pdf");
}

/* (b) Type0 / Identity-H with a ToUnicode CMap: Traditional, Simplified, outside the BMP */
static void test_cjk(void)
{
    rg_document d;
    REQUIRE(load("pdf/cjk.pdf", &d));
    CHECK_STR(d.text, "繁體中文測試。简体中文测试。\n\n三上下\xF0\xA0\x80\x80");
    CHECK_STR(d.title, "繁體中文測試。"); /* no /Info: the first line */
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);
}

/* (f) form XObjects, nested with inherited resources; a form drawing itself stops */
static void test_forms(void)
{
    rg_document d;
    REQUIRE(load("pdf/forms.pdf", &d));
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH, "Text on the page itself."));
    CHECK(block_is(&d, 1, RG_BLOCK_PARAGRAPH, "Text inside a form XObject."));
    CHECK(block_is(&d, 2, RG_BLOCK_PARAGRAPH, "Text in a nested form."));
    char loops[256] = "";
    for (int i = 0; i < RG_PDF_MAX_FORM_DEPTH; i++)
        snprintf(loops + strlen(loops), sizeof loops - strlen(loops), "%sLoop", i ? " " : "");
    CHECK(block_is(&d, 3, RG_BLOCK_PARAGRAPH, loops));
    CHECK_INT(d.n_blocks, 4);
    if (d.n_blocks == 4) CHECK_INT(d.blocks[3].page, 2);
    CHECK_STR(d.title, "Text on the page itself.");
    rg_document_free(&d);
}

static char *read_fixture(const char *name, size_t *n)
{
    FILE *f = fopen(fixture(name), "rb");
    if (!f) return NULL;
    char *data = malloc(1 << 16);
    *n = data ? fread(data, 1, 1 << 16, f) : 0;
    fclose(f);
    return data;
}

/* Any outcome but a crash; errors are one short line, text is valid UTF-8. */
static rg_status load_anything(const char *data, size_t n)
{
    rg_document d;
    rg_error err;
    rg_status st = rg_load_buffer("x.pdf", data, n, &d, &err);
    if (st) {
        CHECK(strchr(err.msg, '\n') == NULL);
        CHECK(strlen(err.msg) < 300);
        CHECK(st == RG_EPARSE || st == RG_EUNSUPPORTED || st == RG_ELIMIT || st == RG_EUTF8);
        return st;
    }
    CHECK(rg_utf8_valid(d.text, d.len, NULL));
    rg_document_free(&d);
    return st;
}

/* (e) truncated, garbage and bit-flipped PDFs fail cleanly or load what qpdf repairs */
static void test_corrupt(void)
{
    rg_document d = {0};
    rg_error err;
    size_t n;
    char *good = read_fixture("pdf/english.pdf", &n);
    REQUIRE(good != NULL);
    char junk[4096] = "%PDF-1.7\n";
    unsigned x = 12345;
    for (size_t i = 9; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (char)(x >> 16);
    }
    CHECK_INT(rg_load_buffer("junk.pdf", junk, sizeof junk, &d, &err), RG_EPARSE);
    CHECK(strstr(err.msg, "junk.pdf: damaged PDF: ") == err.msg);
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK_INT(rg_load_buffer("header.pdf", "%PDF-", 5, &d, &err), RG_EPARSE);
    CHECK(d.text == NULL);
    for (size_t cut = 5; cut < n; cut += 23) /* truncated anywhere */
        load_anything(good, cut);
    char *bad = malloc(n);
    REQUIRE(bad != NULL);
    for (int round = 0; round < 300; round++) { /* a few bytes changed anywhere */
        memcpy(bad, good, n);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245u + 12345u;
            bad[(x >> 8) % n] = (char)(x >> 20);
        }
        load_anything(bad, n);
    }
    free(bad);
    free(good);
}

/* Appends printf output to out[*k..cap). */
static void put(char *out, size_t cap, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out + *k, cap - *k, fmt, ap);
    va_end(ap);
    if (r > 0) *k += (size_t)r < cap - *k ? (size_t)r : cap - *k - 1;
}

/*
 * A one-page PDF in memory whose page content is stream[0..n) with the given
 * extra stream dictionary entries (a /Filter). Caller frees.
 */
static char *one_page_pdf(const char *entries, const void *stream, size_t n, size_t *len)
{
    size_t cap = n + 1024, k = 0, off[5];
    char *out = malloc(cap);
    if (!out) return NULL;
    put(out, cap, &k, "%%PDF-1.7\n");
    off[1] = k;
    put(out, cap, &k, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = k;
    put(out, cap, &k, "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    off[3] = k;
    put(out, cap, &k,
        "3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> "
        ">> >>\nendobj\n");
    off[4] = k;
    put(out, cap, &k, "4 0 obj\n<< /Length %zu %s >>\nstream\n", n, entries);
    memcpy(out + k, stream, n);
    k += n;
    put(out, cap, &k, "\nendstream\nendobj\n");
    size_t xref = k;
    put(out, cap, &k, "xref\n0 5\n0000000000 65535 f \n");
    for (int i = 1; i <= 4; i++)
        put(out, cap, &k, "%010zu 00000 n \n", off[i]);
    put(out, cap, &k, "trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", xref);
    *len = k;
    return out;
}

/* A small file whose content inflates past the page limit is refused, not inflated. */
static void test_decompression_bomb(void)
{
    size_t raw = RG_PDF_MAX_PAGE_CONTENT_BYTES + (1u << 20);
    char *spaces = malloc(raw);
    uLongf zn = compressBound(raw);
    unsigned char *z = malloc(zn);
    REQUIRE(spaces && z);
    memset(spaces, ' ', raw);
    REQUIRE(compress2(z, &zn, (const Bytef *)spaces, raw, 9) == Z_OK);
    free(spaces);
    size_t n;
    char *pdf = one_page_pdf("/Filter /FlateDecode", z, zn, &n);
    free(z);
    REQUIRE(pdf != NULL);
    rg_document d = {0};
    rg_error err;
    CHECK(n < (1u << 20));
    CHECK_INT(rg_load_buffer("bomb.pdf", pdf, n, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "bomb.pdf: page 1: content exceeds") != NULL);
    /* the same file with a little text loads */
    const char *text = "BT /F1 12 Tf 72 700 Td (small) Tj ET";
    free(pdf);
    pdf = one_page_pdf("", text, strlen(text), &n);
    REQUIRE(pdf != NULL);
    REQUIRE(rg_load_buffer("small.pdf", pdf, n, &d, &err) == RG_OK);
    CHECK_STR(d.text, "small");
    rg_document_free(&d);
    free(pdf);
}

/*
 * A PDF in memory: n_pages pages that each draw form /X and show "page",
 * with a font written directly in the page's resources (no object of its
 * own). /X shows "x" and draws /X `fan` times, nested to the depth limit;
 * /M (an empty form with resources of its own) is drawn `marks` times by
 * every page. Caller frees.
 */
static char *forms_pdf(int n_pages, int fan, int marks, size_t *len)
{
    size_t cap = 4096 + (size_t)n_pages * 512 + (size_t)(fan + marks) * 8, k = 0;
    char *out = malloc(cap);
    size_t *off = malloc(((size_t)n_pages + 6) * sizeof *off);
    if (!out || !off) {
        free(out);
        free(off);
        return NULL;
    }
    int content = 4 + n_pages, mark = content + 1, n_obj = mark;
    put(out, cap, &k, "%%PDF-1.7\n");
    off[1] = k;
    put(out, cap, &k, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = k;
    put(out, cap, &k, "2 0 obj\n<< /Type /Pages /Count %d /Kids [", n_pages);
    for (int i = 0; i < n_pages; i++)
        put(out, cap, &k, " %d 0 R", 4 + i);
    put(out, cap, &k, " ] >>\nendobj\n");
    size_t form_len = strlen("BT /F1 12 Tf 72 700 Td (x) Tj ET\n") + (size_t)fan * 6;
    off[3] = k;
    put(out, cap, &k,
        "3 0 obj\n<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length %zu >>\nstream\n"
        "BT /F1 12 Tf 72 700 Td (x) Tj ET\n",
        form_len);
    for (int i = 0; i < fan; i++)
        put(out, cap, &k, "/X Do ");
    put(out, cap, &k, "\nendstream\nendobj\n");
    for (int i = 0; i < n_pages; i++) {
        off[4 + i] = k;
        put(out, cap, &k,
            "%d 0 obj\n<< /Type /Page /Parent 2 0 R /Contents %d 0 R /MediaBox [0 0 612 792] "
            "/Resources << /XObject << /X 3 0 R /M %d 0 R >> /Font << /F1 << /Type /Font "
            "/Subtype /Type1 /BaseFont /Helvetica >> >> >> >>\nendobj\n",
            4 + i, content, mark);
    }
    size_t page_len = strlen("BT /F1 12 Tf 72 500 Td (page) Tj ET\n/X Do\n") + (size_t)marks * 5;
    off[content] = k;
    put(out, cap, &k,
        "%d 0 obj\n<< /Length %zu >>\nstream\nBT /F1 12 Tf 72 500 Td (page) Tj ET\n/X Do\n",
        content, page_len);
    for (int i = 0; i < marks; i++)
        put(out, cap, &k, "/M Do");
    put(out, cap, &k, "\nendstream\nendobj\n");
    off[mark] = k;
    put(out, cap, &k,
        "%d 0 obj\n<< /Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << >> "
        "/Length 6 >>\nstream\n0 0 m\n\nendstream\nendobj\n",
        mark);
    size_t xref = k;
    put(out, cap, &k, "xref\n0 %d\n0000000000 65535 f \n", n_obj + 1);
    for (int i = 1; i <= n_obj; i++)
        put(out, cap, &k, "%010zu 00000 n \n", off[i]);
    put(out, cap, &k, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%zu\n%%%%EOF\n", n_obj + 1,
        xref);
    free(off);
    *len = k;
    return out;
}

/*
 * Forms drawn many times are read once per page and their fonts decoded once:
 * a 732-byte file whose form draws itself ten times at every level took 27 s
 * and 4.4 GB before the content limit stopped it (each draw read the form
 * again, decoded the page's direct font again and kept it to the end; the
 * lexer allocated anew). Allocations are counted: they grew with every draw.
 */
static void test_form_fan_out(void)
{
    rg_document d = {0};
    rg_error err;
    size_t n;
    /* 2 draws at every level: 510 draws a page, 20 pages, 2,000 marks a page */
    char *pdf = forms_pdf(20, 2, 2000, &n);
    REQUIRE(pdf != NULL);
    rg_mem_fail_at(0, 0);
    REQUIRE(rg_load_buffer("fan.pdf", pdf, n, &d, &err) == RG_OK);
    unsigned long allocs = rg_mem_count();
    CHECK(allocs < 2000); /* 10,276 before: a font and the form read at every draw */
    CHECK_INT(rg_doc_page_count(&d), 20);
    size_t x = 0, pages = 0;
    for (const char *s = d.text; *s; s++) {
        x += *s == 'x';
        pages += strncmp(s, "page", 4) == 0;
    }
    CHECK_INT(pages, 20);
    CHECK(x >= 20); /* every page ran its forms (drawn on one spot, most "x" overlap) */
    rg_document_free(&d);
    free(pdf);
    /* 10 draws at every level: stopped by the content limit, after little work */
    pdf = forms_pdf(1, 10, 0, &n);
    REQUIRE(pdf != NULL);
    CHECK(n < 1024);
    rg_mem_fail_at(0, 0);
    CHECK_INT(rg_load_buffer("fan10.pdf", pdf, n, &d, &err), RG_ELIMIT);
    CHECK(rg_mem_count() < 1000); /* 721,638 before */
    CHECK(strstr(err.msg, "fan10.pdf: page 1: content exceeds") != NULL);
    CHECK(strstr(err.msg, "forms drawn") != NULL);
    free(pdf);
}

/* --- fonts and layout on hand-made content ------------------------------------------ */

static size_t decode(const rg_pdf_font *f, const char *bytes, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t code;
        size_t code_len;
        i += rg_pdf_font_next_code(f, (const unsigned char *)bytes + i, n - i, &code, &code_len);
        len += rg_pdf_font_decode(f, code, code_len, out + len);
    }
    out[len] = '\0';
    return len;
}

static int near(double a, double b)
{
    return a - b < 1e-9 && b - a < 1e-9;
}

static void test_simple_fonts(void)
{
    char out[512];
    rg_pdf_font *f = rg_pdf_font_new_simple(RG_PDF_ENC_WINANSI, "Helvetica");
    REQUIRE(f != NULL);
    rg_pdf_font_set_glyph(f, 0x41, "eacute"); /* decomposed; normalisation composes it */
    rg_pdf_font_set_glyph(f, 0x42, "f_i");
    rg_pdf_font_set_glyph(f, 0x43, "uni20AC");
    rg_pdf_font_set_glyph(f, 0x44, "a.sc");
    rg_pdf_font_set_glyph(f, 0x45, "g123"); /* a glyph index name: no text */
    rg_pdf_font_set_glyph(f, 0x46, "Scommaaccent");
    rg_pdf_font_finish(f);
    decode(f, "ABCDEF\x80\x93x\x94\x01\x81", 12, out);
    CHECK_STR(out, "e\xCC\x81"
                   "fi\xE2\x82\xAC"
                   "aS\xCC\xA6\xE2\x82\xAC\xE2\x80\x9Cx\xE2\x80\x9D");
    CHECK(rg_pdf_font_width(f, 'i') > 0.2 && rg_pdf_font_width(f, 'i') < 0.25); /* Helvetica */
    rg_pdf_font_free(f);

    f = rg_pdf_font_new_simple(RG_PDF_ENC_STANDARD, "Times-Roman");
    REQUIRE(f != NULL);
    rg_pdf_font_finish(f);
    decode(f, "it's \xAE", 6, out); /* quoteright, fi */
    CHECK_STR(out, "it\xE2\x80\x99s \xEF\xAC\x81");
    rg_pdf_font_free(f);

    f = rg_pdf_font_new_simple(RG_PDF_ENC_MACROMAN, NULL);
    REQUIRE(f != NULL);
    double w[2] = {500, 250};
    rg_pdf_font_set_widths(f, 0x8E, w, 2, 100);
    rg_pdf_font_finish(f);
    decode(f, "caf\x8E", 4, out);
    CHECK_STR(out, "caf\xC3\xA9");
    CHECK(near(rg_pdf_font_width(f, 0x8F), 0.25));
    CHECK(near(rg_pdf_font_width(f, 'a'), 0.1)); /* /MissingWidth outside /Widths */
    rg_pdf_font_free(f);

    /* a symbol font decodes nothing without a ToUnicode; with one, its map wins */
    f = rg_pdf_font_new_simple(RG_PDF_ENC_NONE, "Symbol");
    REQUIRE(f != NULL);
    const char *cmap = "begincmap 1 begincodespacerange <00> <FF> endcodespacerange\n"
                       "3 beginbfchar <61> <03B1> <62> /space <63> <E000> endbfchar\n"
                       "1 beginbfrange <70> <71> <0070> endbfrange endcmap";
    REQUIRE(rg_pdf_font_load_to_unicode(f, cmap, strlen(cmap)) == RG_OK);
    rg_pdf_font_finish(f);
    decode(f, "axbcpq", 6, out); /* x unmapped, c private use: both dropped */
    CHECK_STR(out, "\xCE\xB1 pq");
    rg_pdf_font_free(f);
}

static void test_composite_fonts(void)
{
    char out[512];
    rg_pdf_font *f = rg_pdf_font_new_composite();
    REQUIRE(f != NULL);
    /* mixed code lengths, as in Shift-JIS CMaps: 00-80 one byte, 8140-9FFC two */
    const char *enc = "begincodespacerange <00> <80> <8140> <9FFC> endcodespacerange";
    const char *tu = "beginbfchar <41> <0041> <8140> <3000> <8141> <D83DDE00> endbfchar\n"
                     "beginbfrange <8150> <8152> [<4E00> <4E8C> <4E09>] endbfrange";
    REQUIRE(rg_pdf_font_load_encoding_cmap(f, enc, strlen(enc)) == RG_OK);
    REQUIRE(rg_pdf_font_load_to_unicode(f, tu, strlen(tu)) == RG_OK);
    REQUIRE(rg_pdf_font_add_width(f, 0x8150, 0x8152, 500) == RG_OK);
    rg_pdf_font_finish(f);
    decode(f, "A\x81\x41\x81\x50\x81\x51\x81\x52\x81\x40", 11, out);
    CHECK_STR(out, "A\xF0\x9F\x98\x80一二三\xE3\x80\x80");
    CHECK(near(rg_pdf_font_width(f, 0x8151), 0.5));
    CHECK(near(rg_pdf_font_width(f, 0x41), 1.0)); /* /DW default */
    rg_pdf_font_free(f);

    /* a Unicode-coded CMap (UniGB-UCS2-H) decodes codes as UTF-16 without a ToUnicode */
    f = rg_pdf_font_new_composite();
    REQUIRE(f != NULL);
    rg_pdf_font_set_unicode_codes(f);
    rg_pdf_font_finish(f);
    decode(f, "\x4E\x2D\x65\x87\xD8\x00", 6, out); /* a lone surrogate is dropped */
    CHECK_STR(out, "中文");
    rg_pdf_font_free(f);
}

/* A fixed set of fonts for content tests: F1 Helvetica WinAnsi, F2 a CJK Unicode font. */
typedef struct fonts {
    rg_pdf_font *f1, *f2;
} fonts;

static rg_status font_cb(void *ctx, const char *name, size_t len, const rg_pdf_font **font,
                         rg_error *err)
{
    fonts *fs = ctx;
    (void)err;
    *font = len == 2 && memcmp(name, "F1", 2) == 0   ? fs->f1
            : len == 2 && memcmp(name, "F2", 2) == 0 ? fs->f2
                                                     : NULL;
    return RG_OK;
}

static rg_status xobject_cb(void *ctx, rg_pdf_interp *ip, const char *name, size_t len,
                            rg_error *err)
{
    (void)ctx, (void)name, (void)len;
    static const double id[6] = {1, 0, 0, 1, 0, 0};
    static const char form[] = "BT /F1 10 Tf 300 100 Td (formtext) Tj ET";
    return rg_pdf_interp_form(ip, form, sizeof form - 1, id, err);
}

/* Runs content as page 1 and returns the document's text (caller frees with rg_document_free). */
static int run_content(const char *content, size_t n, rg_document *d)
{
    fonts fs = {rg_pdf_font_new_simple(RG_PDF_ENC_WINANSI, "Helvetica"),
                rg_pdf_font_new_composite()};
    rg_doc_builder *b = rg_doc_builder_new();
    rg_pdf_interp *ip = b ? rg_pdf_interp_new(b, 1 << 20) : NULL;
    int ok = 0;
    if (fs.f1 && fs.f2 && ip) {
        rg_pdf_font_set_unicode_codes(fs.f2);
        rg_pdf_font_finish(fs.f1);
        rg_pdf_font_finish(fs.f2);
        rg_pdf_content_ops ops = {&fs, font_cb, xobject_cb};
        rg_error err;
        ok = rg_pdf_interp_page(ip, 1, content, n, &ops, &err) == RG_OK &&
             rg_doc_builder_finish(b, d, &err) == RG_OK;
        if (!ok) fprintf(stderr, "  %s\n", err.msg);
    }
    rg_pdf_interp_free(ip);
    rg_doc_builder_free(b);
    rg_pdf_font_free(fs.f1);
    rg_pdf_font_free(fs.f2);
    return ok;
}

static void check_content(const char *content, const char *want)
{
    rg_document d;
    if (!run_content(content, strlen(content), &d)) {
        CHECK(0);
        return;
    }
    if (strcmp(d.text, want) != 0) fprintf(stderr, "  content: %s\n", content);
    CHECK_STR(d.text, want);
    rg_document_free(&d);
}

static void test_layout(void)
{
    /* hyphens join only lowercase Latin halves */
    check_content(
        "BT /F1 12 Tf 14 TL 72 700 Td (a well-) Tj T* (Known term; e-) Tj T* (mail) Tj ET",
        "a well- Known term; email");
    /* words placed one by one: gaps are spaces, touching runs are not */
    check_content("BT /F1 12 Tf 72 700 Td (one) Tj 40 0 Td (two) Tj 19.35 0 Td (three) Tj ET",
                  "one twothree");
    /* Tz and Tc widen the advance; the gap after it still decides */
    check_content("BT /F1 12 Tf 200 Tz 2 Tc 72 700 Td (ab) Tj 40 0 Td (cd) Tj ET", "ab cd");
    /* CJK lines join without a space */
    check_content("BT /F2 12 Tf 72 700 Td <4E2D6587> Tj 0 -14 Td <6E2C8A66> Tj ET", "中文測試");
    /* rotated text (90 degrees): the lines run upwards, each one right of the last */
    check_content("BT /F1 12 Tf 0 1 -1 0 300 100 Tm (first line) Tj 0 -14 Td (second) Tj ET",
                  "first line second");
    /* a jump back up the page starts a paragraph (a second column) */
    check_content("BT /F1 12 Tf 72 700 Td (left) Tj 300 0 Td 0 -14 Td (x) Tj ET "
                  "BT /F1 12 Tf 300 700 Td (right) Tj ET",
                  "left x\n\nright");
    /* inline image data is skipped, whatever it holds */
    check_content(
        "BI /W 1 /H 1 /BPC 8 /CS /G ID \x01)(junk) Tj EI\nBT /F1 12 Tf 9 9 Td (after) Tj ET",
        "after");
    /* a form drawn from the page; unknown fonts show nothing */
    check_content("BT /F9 12 Tf 72 700 Td (lost) Tj ET /Fm Do", "formtext");
    /* unbalanced state operators, junk and too many operands do no harm */
    check_content("Q Q ET ] >> ) } q q cm Tm 1 2 Td (x) TJ [ (y) BT /F1 12 Tf 1 1 Td (ok) Tj",
                  "ok");
    size_t n = RG_PDF_MAX_OPERANDS * 2 + 64;
    char *many = malloc(n * 2 + 128);
    REQUIRE(many != NULL);
    size_t k = (size_t)snprintf(many, 64, "BT /F1 12 Tf ");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(many + k, 3, "1 ");
    k += (size_t)snprintf(many + k, 64, "(lost) Tj (kept) Tj ET");
    rg_document d = {0};
    CHECK(run_content(many, k, &d));
    if (d.text) CHECK_STR(d.text, "kept");
    rg_document_free(&d);
    free(many);
}

static void test_builder_pages(void)
{
    rg_doc_builder *b = rg_doc_builder_new();
    REQUIRE(b != NULL);
    rg_error err;
    rg_document d;
    CHECK_INT(rg_doc_begin_page(b, 0, &err), RG_EINVAL);
    CHECK(rg_doc_begin_page(b, 1, &err) == RG_OK);
    CHECK(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, "one", 3, &err) == RG_OK);
    CHECK(rg_doc_begin_page(b, 3, &err) == RG_OK); /* page 2 has no text */
    CHECK_INT(rg_doc_begin_page(b, 2, &err), RG_EINVAL);
    CHECK_INT(rg_doc_begin_page(b, RG_DOC_MAX_PAGES + 1, &err), RG_ELIMIT);
    CHECK(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, "three", 5, &err) == RG_OK);
    CHECK(rg_doc_begin_page(b, 4, &err) == RG_OK); /* trailing blank page: not counted */
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_INT(rg_doc_page_count(&d), 3);
    size_t starts[3];
    rg_doc_page_starts(&d, starts, 3);
    CHECK_INT(starts[0], 0);
    CHECK_INT(starts[1], 5);
    CHECK_INT(starts[2], 5);
    rg_document_free(&d);
    /* the builder forgets pages on finish; unpaged documents have page 0 */
    CHECK(rg_doc_add(b, RG_BLOCK_PARAGRAPH, 0, "plain", 5, &err) == RG_OK);
    REQUIRE(rg_doc_builder_finish(b, &d, &err) == RG_OK);
    CHECK_INT(d.blocks[0].page, 0);
    CHECK_INT(rg_doc_page_count(&d), 0);
    rg_document_free(&d);
    rg_doc_builder_free(b);
}

/* --- type detection and file limits -------------------------------------------------- */

static void test_detection(void)
{
    size_t n;
    char *pdf = read_fixture("pdf/english.pdf", &n);
    REQUIRE(pdf != NULL);
    rg_document d;
    rg_error err;
    CHECK(rg_loader_by_name("pdf") == &rg_loader_pdf);
    CHECK(rg_loader_by_name("no-such-loader") == NULL);
    CHECK(rg_loader_find("report.pdf", NULL, 0) == &rg_loader_pdf);
    CHECK(rg_loader_find("report.PDF", pdf, n) == &rg_loader_pdf);
    CHECK(rg_loader_find("report.pdf", "plain text", 10) == NULL); /* the name lies */
    CHECK(rg_loader_find("report", pdf, n) == &rg_loader_pdf);     /* no extension */
    REQUIRE(rg_load_buffer("dir/report", pdf, n, &d, &err) == RG_OK);
    CHECK_STR(d.media_type, "application/pdf");
    rg_document_free(&d);
    /* a text extension on PDF content: refused, naming what the content is */
    CHECK_INT(rg_load_buffer("report.txt", pdf, n, &d, &err), RG_EBINARY);
    CHECK(strstr(err.msg, "report.txt") != NULL);
    char mime[RG_MIME_MAX];
    if (!rg_loader_detect_type(pdf, n, mime)) {
        fprintf(stderr, "  libmagic has no database here: skipping content-type checks\n");
        free(pdf);
        return;
    }
    CHECK_STR(mime, "application/pdf");
    CHECK(strstr(err.msg, "application/pdf") != NULL && strstr(err.msg, "rename") != NULL);
    /* an unknown extension: a signature decides, text does not */
    CHECK(rg_loader_find("report.bin", pdf, n) == &rg_loader_pdf);
    REQUIRE(rg_load_buffer("report.bin", pdf, n, &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_PARAGRAPH, "Annual Report 2023"));
    rg_document_free(&d);
    CHECK(rg_loader_find("notes.log", "just some text\n", 15) == NULL);
    CHECK(rg_loader_detect_type("<!DOCTYPE html><html><body>x</body></html>", 42, mime));
    CHECK_STR(mime, "text/html");
    CHECK(!rg_loader_detect_type(NULL, 0, mime));
    CHECK_STR(mime, "");
    free(pdf);
}

/* A 2 GB file (sparse: no disk used) is refused from its size, before any read. */
static void test_huge_file(void)
{
    char dir[] = "/tmp/rg-pdf-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/huge.pdf", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    CHECK(ftruncate(fileno(f), (off_t)2 << 30) == 0);
    fclose(f);
    rg_document d = {0};
    rg_error err;
    CHECK_INT(rg_load_file(path, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "huge.pdf: 2147483648 bytes is over the file limit") != NULL);
    CHECK(d.text == NULL);
    unlink(path);
    rmdir(dir);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation of ours. */
static void test_alloc_failures(void)
{
    static const char *const names[] = {"pdf/english.pdf", "pdf/cjk.pdf", "pdf/forms.pdf"};
    for (size_t p = 0; p < 3; p++) {
        rg_document want;
        REQUIRE(load(names[p], &want));
        int same;
        CHECK(load_past_alloc_failures(names[p], 5000, want.text, &same) > 4);
        CHECK(same); /* no failure was swallowed on the way */
        rg_document_free(&want);
    }
}

TEST_MAIN(TEST(test_english), TEST(test_object_streams), TEST(test_encrypted), TEST(test_cjk),
          TEST(test_forms), TEST(test_corrupt), TEST(test_decompression_bomb),
          TEST(test_form_fan_out), TEST(test_simple_fonts), TEST(test_composite_fonts),
          TEST(test_layout), TEST(test_builder_pages), TEST(test_detection), TEST(test_huge_file),
          TEST(test_alloc_failures))
