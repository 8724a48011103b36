/*
 * test_loader_csv.c — the CSV and TSV loaders: RFC 4180 parsing, delimiter
 * sniffing, row blocks that name their columns, limits, and chunks that
 * keep rows whole.
 */
#include "test.h"

#include "engine/base/mem.h"
#include "ingest/chunker.h"
#include "ingest/loader.h"
#include "ingest_test.h"

static void test_people(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("csv/people.csv"), &d, &err) == RG_OK);
    CHECK_STR(d.media_type, "text/csv");
    CHECK_STR(d.title, "");
    CHECK(block_is(&d, 0, RG_BLOCK_TABLE_ROW, "name | city | note")); /* BOM gone */
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW,
                   "name: Alice | city: Taipei | note: Likes \"tea\". Also cake, lots."));
    CHECK(block_is(&d, 2, RG_BLOCK_TABLE_ROW, "name: Bob | note: line one line two"));
    CHECK(block_is(&d, 3, RG_BLOCK_TABLE_ROW, "name: 王小明 | city: 臺北市 | note: 简体备注"));
    CHECK(block_is(&d, 4, RG_BLOCK_TABLE_ROW,
                   "name: Carol | city: Paris | note: ok | column 4: extra"));
    CHECK_INT(d.n_blocks, 5); /* the blank line and the row of empty fields give nothing */
    if (test_failures) dump_doc(&d);
    rg_document_free(&d);
}

static void test_semicolon_and_tsv(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("csv/semicolon.csv"), &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_TABLE_ROW, "Produkt | Preis | Beschreibung"));
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW,
                   "Produkt: Käse | Preis: 4,50 | Beschreibung: Hart; alt"));
    CHECK(block_is(&d, 2, RG_BLOCK_TABLE_ROW, "Produkt: Brot | Preis: 2,10"));
    CHECK_INT(d.n_blocks, 3);
    rg_document_free(&d);
    REQUIRE(rg_load_file(fixture("csv/data.tsv"), &d, &err) == RG_OK);
    CHECK_STR(d.media_type, "text/tab-separated-values");
    CHECK(block_is(&d, 0, RG_BLOCK_TABLE_ROW, "id | text"));
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, "id: 1 | text: quoted tab"));
    CHECK(block_is(&d, 2, RG_BLOCK_TABLE_ROW, "id: 2 | text: plain \"quote\" inside"));
    CHECK_INT(d.n_blocks, 3);
    rg_document_free(&d);
}

static rg_status load(const char *path, const char *src, rg_document *d, rg_error *err)
{
    return rg_load_buffer(path, src, strlen(src), d, err);
}

static void test_edge_cases(void)
{
    rg_document d;
    rg_error err;
    /* CR-only line ends; a comma header with one ';' stays comma-separated */
    REQUIRE(load("t.csv", "a;x,b\r1,2\r", &d, &err) == RG_OK);
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, "a;x: 1 | b: 2"));
    rg_document_free(&d);
    /* text after a closing quote is kept; a quote inside an unquoted field is literal */
    REQUIRE(load("t.csv", "h,i\n\"ab\"cd,5\" disk\n", &d, &err) == RG_OK);
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, "h: abcd | i: 5\" disk"));
    rg_document_free(&d);
    /* empty header names are numbered; no final line end; quoted empty field */
    REQUIRE(load("t.csv", ",b,\nx,\"\",z", &d, &err) == RG_OK);
    CHECK(block_is(&d, 0, RG_BLOCK_TABLE_ROW, "column 1 | b | column 3"));
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, "column 1: x | column 3: z"));
    CHECK_INT(d.n_blocks, 2);
    rg_document_free(&d);
    /* header only; empty file */
    REQUIRE(load("t.csv", "only,header\n", &d, &err) == RG_OK);
    CHECK_STR(d.text, "only | header");
    rg_document_free(&d);
    REQUIRE(load("t.csv", "", &d, &err) == RG_OK);
    CHECK_INT(d.n_blocks, 0);
    rg_document_free(&d);
    CHECK_INT(load("t.csv", "a\n\xff\n", &d, &err), RG_EUTF8);
    CHECK(rg_loader_find("x.CSV", NULL, 0) == &rg_loader_csv);
    CHECK(rg_loader_find("x.tsv", NULL, 0) == &rg_loader_tsv);
}

static void test_errors(void)
{
    rg_document d = {0};
    rg_error err;
    CHECK_INT(rg_load_file(fixture("csv/unterminated.csv"), &d, &err), RG_EPARSE);
    CHECK(strstr(err.msg, "unterminated quoted field starting on line 3") != NULL);
    CHECK_INT(load("t.csv", "a,b\r\n\"x\r\ny\",1\r\n\"open", &d, &err), RG_EPARSE);
    CHECK(strstr(err.msg, "line 4") != NULL); /* CRLF inside quotes counts once */
    CHECK(d.text == NULL);

    /* 4097 fields in a record */
    rg_buf b;
    rg_buf_init(&b, 1u << 26);
    for (int i = 0; i < 4097; i++)
        rg_buf_puts(&b, i ? ",x" : "x");
    CHECK_INT(rg_load_buffer("t.csv", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "line 1: more than 4096 fields") != NULL);
    /* a field of 1 MiB + 1 bytes */
    rg_buf_reset(&b);
    rg_buf_puts(&b, "h\n\"");
    for (size_t i = 0; i <= (1u << 20); i++)
        rg_buf_putc(&b, 'a');
    rg_buf_puts(&b, "\"\n");
    CHECK_INT(rg_load_buffer("t.csv", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "line 2: a field is over 1048576 bytes") != NULL);
    /* one row more than a document holds blocks, counting the header */
    rg_buf_reset(&b);
    rg_buf_puts(&b, "h\n");
    for (size_t i = 0; i < RG_DOC_MAX_BLOCKS; i++)
        rg_buf_puts(&b, "1\n");
    CHECK_INT(rg_load_buffer("t.csv", b.data, b.len, &d, &err), RG_ELIMIT);
    CHECK(strstr(err.msg, "more than 999999 rows") != NULL);
    rg_buf_free(&b);
}

/*
 * A long header name is whole in the header block and cut to 64 bytes with
 * "..." in data rows, on a character boundary; so a small file with one long
 * name over many short rows cannot become a document thousands of times
 * its size.
 */
static void test_long_names(void)
{
    rg_buf b;
    rg_buf_init(&b, 1u << 26);
    char ascii[101], cjk[91]; /* 100 bytes; 30 ideographs of 3 bytes */
    memset(ascii, 'n', 100);
    ascii[100] = '\0';
    for (int i = 0; i < 30; i++)
        memcpy(cjk + 3 * i, "\xe5\x90\x8d", 3); /* 名 */
    cjk[90] = '\0';
    rg_buf_puts(&b, ascii);
    rg_buf_puts(&b, ",");
    rg_buf_puts(&b, cjk);
    rg_buf_puts(&b, ",short\n1,2,3\n");
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_buffer("t.csv", b.data, b.len, &d, &err) == RG_OK);
    char want[512];
    snprintf(want, sizeof want, "%s | %s | short", ascii, cjk);
    CHECK(block_is(&d, 0, RG_BLOCK_TABLE_ROW, want));
    /* 61 bytes and "..."; for the ideographs 60 bytes (20 of them), then "..." */
    snprintf(want, sizeof want, "%.61s...: 1 | %.60s...: 2 | short: 3", ascii, cjk);
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, want));
    rg_document_free(&d);

    /* 64 bytes is kept whole */
    rg_buf_reset(&b);
    rg_buf_printf(&b, "%.64s\nx\n", ascii);
    REQUIRE(rg_load_buffer("t.csv", b.data, b.len, &d, &err) == RG_OK);
    snprintf(want, sizeof want, "%.64s: x", ascii);
    CHECK(block_is(&d, 1, RG_BLOCK_TABLE_ROW, want));
    rg_document_free(&d);

    /* 16 KB: an 8,000-byte name over 4,000 rows of "x" (32 MB of text uncut) */
    rg_buf_reset(&b);
    for (int i = 0; i < 8000; i++)
        rg_buf_putc(&b, 'n');
    for (int i = 0; i < 4000; i++)
        rg_buf_puts(&b, "\nx");
    REQUIRE(rg_load_buffer("t.csv", b.data, b.len, &d, &err) == RG_OK);
    CHECK_INT(d.n_blocks, 4001);
    CHECK(d.len < 8000 + 4000 * 72); /* each row: 64-byte name, ": x", " \n" */
    rg_document_free(&d);
    rg_buf_free(&b);
}

/* Every chunk of a CSV document is made of whole rows. */
static void test_chunks_keep_rows(void)
{
    rg_document d;
    rg_error err;
    REQUIRE(rg_load_file(fixture("csv/people.csv"), &d, &err) == RG_OK);
    rg_chunk_options o = rg_chunk_default_options();
    o.target_tokens = 24;
    o.overlap_tokens = 8;
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, &err) == RG_OK);
    CHECK(n > 1);
    for (size_t i = 0; i < n; i++) {
        int starts = 0, ends = 0;
        for (size_t k = 0; k < d.n_blocks; k++) {
            starts |= d.blocks[k].start == c[i].start;
            ends |= d.blocks[k].end == c[i].end;
        }
        if (!starts || !ends)
            fprintf(stderr, "  chunk %zu cuts a row: \"%.*s\"\n", i, (int)(c[i].end - c[i].start),
                    d.text + c[i].start);
        CHECK(starts && ends);
    }
    rg_free(c);
    rg_document_free(&d);
}

/* Loading fails cleanly (RG_ENOMEM, nothing leaked) at every allocation. */
static void test_alloc_failures(void)
{
    CHECK(load_past_alloc_failures("csv/people.csv", 1000, NULL, NULL) > 2);
}

TEST_MAIN(TEST(test_people), TEST(test_semicolon_and_tsv), TEST(test_edge_cases), TEST(test_errors),
          TEST(test_long_names), TEST(test_chunks_keep_rows), TEST(test_alloc_failures))
