/*
 * document.c — collects raw blocks from a loader, then normalises and joins
 * them into one text with the span and section of every block.
 *
 * Raw block texts are copied back to back into one buffer (one allocation
 * that grows, not one per block); normalisation happens once, in finish, so
 * a loader never has to care about Unicode forms or white space.
 */
#include "ingest/document.h"

#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/normalize.h"
#include "ingest/pii.h"

/*
 * Raw text may shrink a lot when white space collapses (indented HTML), so
 * the raw store gets twice the room of the normalised limit.
 */
#define DOC_MAX_RAW_BYTES (2 * (size_t)RG_DOC_MAX_BYTES)
/* Raw titles are cut here before normalisation; NFKC rarely grows text 4x. */
#define DOC_MAX_RAW_TITLE_BYTES (4 * (size_t)RG_DOC_MAX_TITLE_BYTES)
/* Separator between blocks in the joined text. */
#define DOC_BLOCK_SEP     "\n\n"
#define DOC_BLOCK_SEP_LEN 2

typedef struct raw_block {
    rg_block_kind kind;
    int level;
    size_t off; /* in rg_doc_builder.raw */
    size_t len;
    unsigned page;
} raw_block;

struct rg_doc_builder {
    rg_buf raw; /* block texts back to back */
    raw_block *blocks;
    size_t n_blocks;
    size_t cap_blocks;
    rg_buf title; /* raw title */
    int has_title;
    unsigned page;             /* rg_doc_begin_page's, 0 until then */
    unsigned pii_types;        /* rg_doc_builder_mask's; 0: nothing masked */
    rg_pii_counts *pii_counts; /* borrowed, may be NULL */
    const struct rg_json_fields *json; /* borrowed, may be NULL */
};

rg_doc_builder *rg_doc_builder_new(void)
{
    rg_doc_builder *b = rg_calloc(1, sizeof *b);
    if (!b) return NULL;
    rg_buf_init(&b->raw, DOC_MAX_RAW_BYTES);
    rg_buf_init(&b->title, DOC_MAX_RAW_TITLE_BYTES);
    return b;
}

void rg_doc_builder_free(rg_doc_builder *b)
{
    if (!b) return;
    rg_buf_free(&b->raw);
    rg_buf_free(&b->title);
    rg_free(b->blocks);
    rg_free(b);
}

void rg_doc_builder_set_json_fields(rg_doc_builder *b, const struct rg_json_fields *f)
{
    b->json = f;
}

const struct rg_json_fields *rg_doc_builder_json_fields(const rg_doc_builder *b)
{
    return b->json;
}

void rg_doc_builder_mask(rg_doc_builder *b, unsigned pii_types, rg_pii_counts *counts)
{
    b->pii_types = pii_types;
    b->pii_counts = counts;
}

/*
 * Appends text to buf, masked when the builder masks. Only block text is
 * counted: a title is most often a copy of the first line or heading.
 */
static rg_status append_text(rg_doc_builder *b, rg_buf *buf, const char *text, size_t len,
                             rg_error *err)
{
    if (!b->pii_types) return rg_buf_append(buf, text, len);
    size_t at = buf->len;
    rg_status st =
        rg_pii_mask(text, len, b->pii_types, buf, buf == &b->title ? NULL : b->pii_counts, err);
    if (st) buf->len = at; /* drop the partial copy */
    return st;
}

static int all_ascii_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

static int kind_valid(rg_block_kind kind)
{
    return kind == RG_BLOCK_PARAGRAPH || kind == RG_BLOCK_HEADING || kind == RG_BLOCK_LIST_ITEM ||
           kind == RG_BLOCK_TABLE_ROW || kind == RG_BLOCK_CODE;
}

rg_status rg_doc_add(rg_doc_builder *b, rg_block_kind kind, int level, const char *text, size_t len,
                     rg_error *err)
{
    if (!kind_valid(kind)) return rg_fail(err, RG_EINVAL, "unknown block kind %d", (int)kind);
    /* cheap early drop; anything else that normalises to nothing goes in finish */
    if (all_ascii_space(text, len)) return RG_OK;
    if (b->n_blocks >= RG_DOC_MAX_BLOCKS)
        return rg_fail(err, RG_ELIMIT, "document has more than %u blocks", RG_DOC_MAX_BLOCKS);
    if (b->n_blocks == b->cap_blocks) {
        size_t cap = b->cap_blocks ? b->cap_blocks * 2 : 64;
        raw_block *p = rg_realloc(b->blocks, cap * sizeof *p);
        if (!p) return rg_fail(err, RG_ENOMEM, "out of memory adding a block");
        b->blocks = p;
        b->cap_blocks = cap;
    }
    size_t off = b->raw.len;
    rg_status st = append_text(b, &b->raw, text, len, err);
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "document text exceeds %zu bytes before normalisation",
                       DOC_MAX_RAW_BYTES);
    if (st) return rg_fail(err, st, "out of memory adding a block");
    if (kind == RG_BLOCK_HEADING) {
        if (level < 1) level = 1;
        if (level > RG_HEADING_MAX_LEVEL) level = RG_HEADING_MAX_LEVEL;
    } else {
        level = 0;
    }
    b->blocks[b->n_blocks++] = (raw_block){kind, level, off, b->raw.len - off, b->page};
    return RG_OK;
}

rg_status rg_doc_begin_page(rg_doc_builder *b, unsigned page, rg_error *err)
{
    if (page > RG_DOC_MAX_PAGES)
        return rg_fail(err, RG_ELIMIT, "document has more than %u pages", RG_DOC_MAX_PAGES);
    if (page == 0 || page < b->page)
        return rg_fail(err, RG_EINVAL, "page %u after page %u", page, b->page);
    b->page = page;
    return RG_OK;
}

rg_status rg_doc_set_title(rg_doc_builder *b, const char *title, size_t len, rg_error *err)
{
    if (len > DOC_MAX_RAW_TITLE_BYTES) len = rg_utf8_floor(title, DOC_MAX_RAW_TITLE_BYTES);
    rg_buf_reset(&b->title);
    rg_status st = append_text(b, &b->title, title, len, err);
    if (st == RG_ELIMIT) { /* masked, a title longer than the cap: keep what fits */
        rg_buf_reset(&b->title);
        size_t cut = rg_utf8_floor(title, len / 2);
        st = append_text(b, &b->title, title, cut, err);
    }
    if (st) return rg_fail(err, RG_ENOMEM, "out of memory setting the title");
    b->has_title = 1;
    return RG_OK;
}

int rg_doc_has_title(const rg_doc_builder *b)
{
    return b->has_title;
}

static int is_code_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/*
 * Code keeps its indentation, but blank lines before the first line and
 * white space after the last one carry nothing. Works on text[start..len).
 */
static void trim_code(rg_buf *text, size_t start)
{
    if (text->len == start) return;
    size_t f = start;
    while (f < text->len && is_code_blank(text->data[f]))
        f++;
    if (f == text->len) {
        text->len = start;
        text->data[start] = '\0';
        return;
    }
    size_t line = f;
    while (line > start && text->data[line - 1] != '\n')
        line--;
    size_t end = text->len;
    while (end > line && is_code_blank(text->data[end - 1]))
        end--;
    memmove(text->data + start, text->data + line, end - line);
    text->len = start + (end - line);
    text->data[text->len] = '\0';
}

/* Turns a normalisation error into one that names the block. */
static rg_status block_error(rg_error *err, rg_status st, const rg_error *inner, size_t i)
{
    if (st == RG_ELIMIT)
        return rg_fail(err, st, "document exceeds %u bytes after normalisation", RG_DOC_MAX_BYTES);
    return rg_fail(err, st, "block %zu: %s", i, rg_error_message(inner));
}

static rg_status join_blocks(rg_doc_builder *b, rg_buf *text, rg_block *blocks, size_t *n_out,
                             rg_error *err)
{
    size_t n = 0;
    long section = -1;
    for (size_t i = 0; i < b->n_blocks; i++) {
        const raw_block *rb = &b->blocks[i];
        size_t before = text->len;
        rg_error inner;
        rg_error_clear(&inner);
        rg_status st = n ? rg_buf_append(text, DOC_BLOCK_SEP, DOC_BLOCK_SEP_LEN) : RG_OK;
        if (st) return block_error(err, st, &inner, i);
        size_t start = text->len;
        rg_ws_mode mode = rb->kind == RG_BLOCK_CODE ? RG_WS_KEEP : RG_WS_COLLAPSE;
        st = rg_normalize(b->raw.data + rb->off, rb->len, mode, text, &inner);
        if (st) return block_error(err, st, &inner, i);
        if (rb->kind == RG_BLOCK_CODE) trim_code(text, start);
        if (text->len == start) { /* empty once normalised: drop it and its separator */
            text->len = before;
            if (text->data) text->data[before] = '\0';
            continue;
        }
        if (rb->kind == RG_BLOCK_HEADING) section = (long)n;
        blocks[n] = (rg_block){rb->kind, rb->level, start, text->len, section, rb->page};
        n++;
    }
    *n_out = n;
    return RG_OK;
}

/* Normalises the raw title, or takes the first heading; cuts it to the limit. */
static rg_status make_title(rg_doc_builder *b, const rg_buf *text, const rg_block *blocks, size_t n,
                            rg_buf *title, rg_error *err)
{
    rg_status st = RG_OK;
    rg_error inner;
    rg_error_clear(&inner);
    if (b->has_title) {
        st = rg_normalize(rg_buf_str(&b->title), b->title.len, RG_WS_COLLAPSE, title, &inner);
        if (st == RG_EUTF8) return rg_fail(err, st, "title: %s", rg_error_message(&inner));
    } else {
        for (size_t i = 0; i < n; i++) {
            if (blocks[i].kind != RG_BLOCK_HEADING) continue;
            st =
                rg_buf_append(title, text->data + blocks[i].start, blocks[i].end - blocks[i].start);
            break;
        }
    }
    if (st) return rg_fail(err, st, "out of memory building the title");
    if (title->len > RG_DOC_MAX_TITLE_BYTES) {
        size_t k = rg_utf8_floor(title->data, RG_DOC_MAX_TITLE_BYTES);
        while (k > 0 && title->data[k - 1] == ' ')
            k--;
        title->len = k;
        title->data[k] = '\0';
    }
    return RG_OK;
}

static char *steal_or_empty(rg_buf *buf)
{
    char *s = rg_buf_steal(buf);
    return s ? s : rg_strdup("");
}

rg_status rg_doc_builder_finish(rg_doc_builder *b, rg_document *doc, rg_error *err)
{
    rg_buf text, title;
    rg_buf_init(&text, RG_DOC_MAX_BYTES);
    rg_buf_init(&title, RG_DOC_MAX_BYTES);
    rg_block *blocks = NULL;
    size_t n = 0;
    rg_status st = RG_OK;
    if (b->n_blocks) {
        blocks = rg_calloc(b->n_blocks, sizeof *blocks);
        if (!blocks) {
            st = rg_fail(err, RG_ENOMEM, "out of memory joining blocks");
            goto out;
        }
    }
    st = join_blocks(b, &text, blocks, &n, err);
    if (st) goto out;
    st = make_title(b, &text, blocks, n, &title, err);
    if (st) goto out;
    size_t len = text.len;
    char *t = steal_or_empty(&text);
    char *ti = steal_or_empty(&title);
    if (!t || !ti) {
        rg_free(t);
        rg_free(ti);
        st = rg_fail(err, RG_ENOMEM, "out of memory finishing the document");
        goto out;
    }
    *doc = (rg_document){ti, t, len, blocks, n, "text/plain", NULL};
    blocks = NULL;
    /* reuse: the builder keeps its memory but forgets its content */
    rg_buf_reset(&b->raw);
    rg_buf_reset(&b->title);
    b->n_blocks = 0;
    b->has_title = 0;
    b->page = 0;
out:
    rg_free(blocks);
    rg_buf_free(&text);
    rg_buf_free(&title);
    return st;
}

unsigned rg_doc_page_count(const rg_document *doc)
{
    return doc->n_blocks ? doc->blocks[doc->n_blocks - 1].page : 0;
}

void rg_doc_page_starts(const rg_document *doc, size_t *starts, unsigned n)
{
    unsigned next = 1; /* the first page whose start is not known yet */
    for (size_t i = 0; i < doc->n_blocks && next <= n; i++)
        while (next <= doc->blocks[i].page && next <= n)
            starts[next++ - 1] = doc->blocks[i].start;
    while (next <= n)
        starts[next++ - 1] = doc->len;
}

void rg_document_free(rg_document *doc)
{
    if (!doc) return;
    rg_free(doc->title);
    rg_free(doc->text);
    rg_free(doc->blocks);
    memset(doc, 0, sizeof *doc);
}
