/*
 * loader_csv.c — CSV and TSV tables, one block per record.
 *
 * Records are parsed by RFC 4180 (quoted fields, "" for a quote, line breaks
 * inside quotes) with the usual leniencies: any line end, text after a
 * closing quote kept as it is, a quote inside an unquoted field taken
 * literally. The first record is the header; every data record becomes a
 * table row that names its columns ("city: Taipei | population: 2.6M"), so
 * any chunk of the document carries its column names with it — a row read
 * alone still says what its values are.
 */
#include "ingest/loader.h"

#include <stdio.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"

/* Fields in one record; more is RG_ELIMIT. */
#define CSV_MAX_FIELDS 4096
/* Bytes in one field after unquoting; more is RG_ELIMIT. */
#define CSV_MAX_FIELD_BYTES (1u << 20)
/* Data records in one file, so the header and every row fit in a document; more is RG_ELIMIT. */
#define CSV_MAX_ROWS (RG_DOC_MAX_BLOCKS - 1u)
/* The delimiter sniff reads at most this much of the first line. */
#define CSV_SNIFF_BYTES 65536
/* A formatted row is never larger than the file it came from plus its names. */
#define CSV_MAX_ROW_BYTES (2 * (size_t)RG_LOADER_MAX_FILE_BYTES)
/* Longest generated column name, "column 4096". */
#define CSV_COLUMN_NAME_MAX 24
/*
 * A header name repeated in a data row is cut to this many bytes, "..."
 * included; the header block keeps it whole. Without it one long name and
 * many one-byte rows would make a document thousands of times its file
 * (16 KB: an 8,000-byte name over 4,000 rows of "x" gave 32 MB of text),
 * and a row led by a name that long would not fit a chunk anyway.
 */
#define CSV_ROW_NAME_MAX_BYTES 64
#define CSV_ELLIPSIS           "..."

typedef struct record {
    rg_buf text;  /* the unquoted fields back to back */
    size_t *ends; /* ends[i]: end of field i in text; CSV_MAX_FIELDS entries */
    size_t n;
} record;

typedef struct csv {
    const char *data;
    size_t n, pos;
    char delim;
    size_t line; /* 1-based line of data[pos] */
    record rec;
    record head; /* the header record */
    rg_buf row;  /* the block being formatted */
    rg_error *err;
} csv;

static const char *field(const record *r, size_t i, size_t *len)
{
    size_t start = i ? r->ends[i - 1] : 0;
    *len = r->ends[i] - start;
    return r->text.data ? r->text.data + start : "";
}

/* --- parsing ------------------------------------------------------------------ */

static rg_status append(csv *c, const char *s, size_t len, size_t field_start)
{
    rg_status st = rg_buf_append(&c->rec.text, s, len);
    if (st == RG_OK && c->rec.text.len - field_start <= CSV_MAX_FIELD_BYTES) return RG_OK;
    if (st == RG_ENOMEM) return rg_fail(c->err, st, "out of memory reading line %zu", c->line);
    return rg_fail(c->err, RG_ELIMIT, "line %zu: a field is over %u bytes", c->line,
                   CSV_MAX_FIELD_BYTES);
}

static int is_eol(char ch)
{
    return ch == '\n' || ch == '\r';
}

/* Skips the line end at pos (\r\n, \n or \r) and counts it. */
static void skip_eol(csv *c)
{
    char ch = c->data[c->pos++];
    if (ch == '\r' && c->pos < c->n && c->data[c->pos] == '\n') c->pos++;
    c->line++;
}

/* The rest of a quoted field after its opening quote, up to the closing one. */
static rg_status quoted(csv *c, size_t field_start)
{
    size_t start_line = c->line;
    for (;;) {
        size_t i = c->pos;
        while (i < c->n && c->data[i] != '"') {
            /* a line end inside quotes: \r\n counts once, at its \n */
            char ch = c->data[i];
            if (ch == '\n' || (ch == '\r' && (i + 1 >= c->n || c->data[i + 1] != '\n'))) c->line++;
            i++;
        }
        rg_status st = append(c, c->data + c->pos, i - c->pos, field_start);
        if (st) return st;
        if (i >= c->n)
            return rg_fail(c->err, RG_EPARSE, "unterminated quoted field starting on line %zu",
                           start_line);
        if (i + 1 < c->n && c->data[i + 1] == '"') { /* "" is one quote */
            if ((st = append(c, "\"", 1, field_start))) return st;
            c->pos = i + 2;
            continue;
        }
        c->pos = i + 1;
        return RG_OK;
    }
}

/* Reads the next record into c->rec; *got is 0 at the end of the data. */
static rg_status read_record(csv *c, int *got)
{
    rg_buf_reset(&c->rec.text);
    c->rec.n = 0;
    *got = c->pos < c->n;
    if (!*got) return RG_OK;
    for (;;) {
        if (c->rec.n == CSV_MAX_FIELDS)
            return rg_fail(c->err, RG_ELIMIT, "line %zu: more than %d fields", c->line,
                           CSV_MAX_FIELDS);
        size_t start = c->rec.text.len;
        rg_status st;
        if (c->pos < c->n && c->data[c->pos] == '"') {
            c->pos++;
            if ((st = quoted(c, start))) return st;
        }
        size_t i = c->pos; /* unquoted text, or what follows a closing quote */
        while (i < c->n && c->data[i] != c->delim && !is_eol(c->data[i]))
            i++;
        if ((st = append(c, c->data + c->pos, i - c->pos, start))) return st;
        c->pos = i;
        c->rec.ends[c->rec.n++] = c->rec.text.len;
        if (c->pos < c->n && c->data[c->pos] == c->delim) {
            c->pos++;
            continue;
        }
        if (c->pos < c->n) skip_eol(c);
        return RG_OK;
    }
}

/* --- output ----------------------------------------------------------------------- */

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

static rg_status put(csv *c, const char *s, size_t n)
{
    rg_status st = rg_buf_append(&c->row, s, n);
    if (st == RG_ELIMIT)
        return rg_fail(c->err, st, "line %zu: a row is over %zu bytes", c->line, CSV_MAX_ROW_BYTES);
    if (st) return rg_fail(c->err, st, "out of memory formatting line %zu", c->line);
    return RG_OK;
}

/*
 * The name of column i: its header, or "column i+1" when that is empty or
 * missing; in a data row (cut) at most CSV_ROW_NAME_MAX_BYTES.
 */
static rg_status put_name(csv *c, size_t i, int cut)
{
    size_t len = 0;
    const char *name = i < c->head.n ? field(&c->head, i, &len) : "";
    if (!blank(name, len)) {
        if (!cut || len <= CSV_ROW_NAME_MAX_BYTES) return put(c, name, len);
        size_t keep = rg_utf8_floor(name, CSV_ROW_NAME_MAX_BYTES - (sizeof CSV_ELLIPSIS - 1));
        rg_status st = put(c, name, keep);
        return st ? st : put(c, CSV_ELLIPSIS, sizeof CSV_ELLIPSIS - 1);
    }
    char gen[CSV_COLUMN_NAME_MAX];
    int k = snprintf(gen, sizeof gen, "column %zu", i + 1);
    return put(c, gen, (size_t)k);
}

static rg_status header_block(csv *c, rg_doc_builder *b)
{
    rg_buf_reset(&c->row);
    rg_status st = RG_OK;
    for (size_t i = 0; i < c->head.n && !st; i++) {
        if (i) st = put(c, " | ", 3);
        if (!st) st = put_name(c, i, 0);
    }
    if (st) return st;
    return rg_doc_add(b, RG_BLOCK_TABLE_ROW, 0, rg_buf_str(&c->row), c->row.len, c->err);
}

/* "name: value | name: value" for the non-empty values of the current record. */
static rg_status data_block(csv *c, rg_doc_builder *b)
{
    rg_buf_reset(&c->row);
    rg_status st = RG_OK;
    for (size_t i = 0; i < c->rec.n && !st; i++) {
        size_t len;
        const char *v = field(&c->rec, i, &len);
        if (blank(v, len)) continue;
        if (c->row.len) st = put(c, " | ", 3);
        if (!st) st = put_name(c, i, 1);
        if (!st) st = put(c, ": ", 2);
        if (!st) st = put(c, v, len);
    }
    if (st || !c->row.len) return st;
    return rg_doc_add(b, RG_BLOCK_TABLE_ROW, 0, c->row.data, c->row.len, c->err);
}

static int record_blank(const record *r)
{
    return r->n == 0 || (r->n == 1 && r->ends[0] == 0);
}

/* Swaps the record just read into the header slot. */
static void keep_header(csv *c)
{
    record t = c->head;
    c->head = c->rec;
    c->rec = t;
}

/* --- the loader ---------------------------------------------------------------------- */

/* ';' when the first line has more semicolons than commas outside quotes. */
static char sniff_delimiter(const char *data, size_t n)
{
    size_t commas = 0, semis = 0, lim = n < CSV_SNIFF_BYTES ? n : CSV_SNIFF_BYTES;
    int in_quotes = 0;
    for (size_t i = 0; i < lim; i++) {
        char ch = data[i];
        if (ch == '"') in_quotes = !in_quotes;
        if (in_quotes) continue;
        if (is_eol(ch)) break;
        commas += ch == ',';
        semis += ch == ';';
    }
    return semis > commas ? ';' : ',';
}

static const char *const tsv_exts[] = {"tsv", NULL};

static rg_status run(csv *c, rg_doc_builder *b)
{
    int got;
    rg_status st;
    size_t rows = 0;
    do { /* the header: the first record with something in it */
        if ((st = read_record(c, &got))) return st;
    } while (got && record_blank(&c->rec));
    if (!got) return RG_OK;
    keep_header(c);
    if ((st = header_block(c, b))) return st;
    for (;;) {
        if ((st = read_record(c, &got))) return st;
        if (!got) return RG_OK;
        if (record_blank(&c->rec)) continue;
        if (++rows > CSV_MAX_ROWS)
            return rg_fail(c->err, RG_ELIMIT, "more than %u rows", CSV_MAX_ROWS);
        if ((st = data_block(c, b))) return st;
    }
}

static rg_status csv_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                          rg_error *err)
{
    rg_status st = rg_loader_check_utf8(data, n, err);
    if (st) return st;
    size_t bom = rg_loader_bom_len(data, n);
    csv c;
    memset(&c, 0, sizeof c);
    c.data = data + bom;
    c.n = n - bom;
    c.line = 1;
    c.err = err;
    c.delim = rg_path_has_ext(path, tsv_exts) ? '\t' : sniff_delimiter(c.data, c.n);
    rg_buf_init(&c.rec.text, CSV_MAX_ROW_BYTES);
    rg_buf_init(&c.head.text, CSV_MAX_ROW_BYTES);
    rg_buf_init(&c.row, CSV_MAX_ROW_BYTES);
    c.rec.ends = rg_calloc(CSV_MAX_FIELDS, sizeof *c.rec.ends);
    c.head.ends = rg_calloc(CSV_MAX_FIELDS, sizeof *c.head.ends);
    if (!c.rec.ends || !c.head.ends)
        st = rg_fail(err, RG_ENOMEM, "out of memory reading CSV");
    else
        st = run(&c, b);
    rg_free(c.rec.ends);
    rg_free(c.head.ends);
    rg_buf_free(&c.rec.text);
    rg_buf_free(&c.head.text);
    rg_buf_free(&c.row);
    return st;
}

static const char *const csv_exts[] = {"csv", NULL};

static int csv_can_load(const char *path, const char *data, size_t n)
{
    (void)data, (void)n;
    return rg_path_has_ext(path, csv_exts);
}

static int tsv_can_load(const char *path, const char *data, size_t n)
{
    (void)data, (void)n;
    return rg_path_has_ext(path, tsv_exts);
}

const rg_loader rg_loader_csv = {"csv", "text/csv", csv_can_load, csv_load, 1};
const rg_loader rg_loader_tsv = {"tsv", "text/tab-separated-values", tsv_can_load, csv_load, 1};
