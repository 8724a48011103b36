#include "test.h"

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/chunker.h"
#include "ingest/document.h"
#include "ingest_test.h"

/* Every unit costs the same: with target == UNIT, chunks are exactly the units. */
#define UNIT 10
static size_t count_unit(void *ctx, const char *s, size_t n)
{
    (void)ctx, (void)s, (void)n;
    return UNIT;
}

/* Words separated by spaces. */
static size_t count_words(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && (i == 0 || s[i - 1] == ' ')) w++;
    return w;
}

typedef struct blk {
    rg_block_kind kind;
    int level;
    const char *text;
} blk;

static int build(rg_document *d, const blk *blocks, size_t n)
{
    rg_doc_builder *b = rg_doc_builder_new();
    if (!b) return 0;
    for (size_t i = 0; i < n; i++)
        rg_doc_add(b, blocks[i].kind, blocks[i].level, blocks[i].text, strlen(blocks[i].text),
                   NULL);
    rg_status st = rg_doc_builder_finish(b, d, NULL);
    rg_doc_builder_free(b);
    return st == RG_OK;
}

static int boundary(const rg_document *d, size_t i)
{
    return i == d->len || ((unsigned char)d->text[i] & 0xC0) != 0x80;
}

/* The contract of rg_chunk_document, checked on any result. */
static void check_invariants(const rg_document *d, const rg_chunk *c, size_t n,
                             const rg_chunk_options *o)
{
    unsigned char *covered = rg_calloc(d->len + 1, 1);
    REQUIRE(covered != NULL);
    for (size_t i = 0; i < n; i++) {
        CHECK(c[i].start < c[i].end && c[i].end <= d->len);
        CHECK(boundary(d, c[i].start) && boundary(d, c[i].end));
        CHECK(rg_utf8_valid(d->text + c[i].start, c[i].end - c[i].start, NULL));
        uint32_t cp;
        rg_utf8_decode(d->text + c[i].start, c[i].end - c[i].start, &cp);
        CHECK(!rg_is_space(cp));
        size_t last = c[i].end - 1;
        while (last > c[i].start && !boundary(d, last))
            last--;
        rg_utf8_decode(d->text + last, c[i].end - last, &cp);
        CHECK(!rg_is_space(cp));
        if (i) CHECK(c[i].start > c[i - 1].start && c[i].end > c[i - 1].end);
        size_t want = o->count_tokens(o->count_ctx, d->text + c[i].start, c[i].end - c[i].start);
        CHECK_INT(c[i].token_count, want);
        for (size_t k = c[i].start; k < c[i].end; k++)
            covered[k] = 1;
    }
    /* the chunks cover every character that is not white space */
    size_t missed = 0;
    for (size_t k = 0; k < d->len; k++)
        if (!covered[k] && d->text[k] != ' ' && d->text[k] != '\n') missed++;
    CHECK_INT(missed, 0);
    rg_free(covered);
}

static int chunk_is(const rg_document *d, const rg_chunk *c, const char *want)
{
    size_t n = strlen(want);
    int ok = c->end - c->start == n && memcmp(d->text + c->start, want, n) == 0;
    if (!ok)
        fprintf(stderr, "  chunk \"%.*s\", expected \"%s\"\n", (int)(c->end - c->start),
                d->text + c->start, want);
    return ok;
}

/* Chunks text (one paragraph) with one unit per chunk and compares. */
static void check_sentences(const char *text, const char *const *want, size_t n_want)
{
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, text}};
    rg_document d;
    REQUIRE(build(&d, b, 1));
    rg_chunk_options o = {.target_tokens = UNIT, .overlap_tokens = 0, .count_tokens = count_unit};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        CHECK(chunk_is(&d, &c[i], want[i]));
    check_invariants(&d, c, n, &o);
    rg_free(c);
    rg_document_free(&d);
}

static void test_approx_tokens(void)
{
    CHECK_INT(rg_approx_token_count(NULL, "hello world", 11), 2);
    CHECK_INT(rg_approx_token_count(NULL, "你好", 6), 2);
    CHECK_INT(rg_approx_token_count(NULL, "a, b.", 5), 4);
    CHECK_INT(rg_approx_token_count(NULL, "internationalization", 20), 5);
    CHECK_INT(rg_approx_token_count(NULL, "   ", 3), 0);
    CHECK_INT(rg_approx_token_count(NULL, "", 0), 0);
    CHECK_INT(rg_approx_token_count(NULL, "日本語とEnglish", 19), 6);
}

static void test_english_sentences(void)
{
    const char *want[] = {"Dr. Smith went to Washington.",
                          "He arrived e.g. on time!",
                          "Pi is 3.14 today?",
                          "Yes... maybe.",
                          "\"Quoted.\"",
                          "J. R. R. Tolkien wrote it.",
                          "The end"};
    check_sentences("Dr. Smith went to Washington. He arrived e.g. on time! Pi is 3.14 today? "
                    "Yes... maybe. \"Quoted.\" J. R. R. Tolkien wrote it. The end",
                    want, sizeof want / sizeof want[0]);
}

static void test_chinese_sentences(void)
{
    /* Simplified, with full-width ！？； (folded to ASCII by NFKC) and … */
    const char *simp[] = {"我们今天去公园。", "天气很好!", "你想去吗?", "好的;", "我们走吧..."};
    check_sentences("我们今天去公园。天气很好！你想去吗？好的；我们走吧…", simp, 5);
    /* Traditional, with closing brackets after the stop */
    const char *trad[] = {"這是第一句。", "這是第二句!", "「引用。」", "最後一句?"};
    check_sentences("這是第一句。這是第二句！「引用。」最後一句？", trad, 4);
    /* half-width ideographic stop, and CJK mixed with Latin */
    const char *mixed[] = {"日本語です。", "Hello世界。", "Next sentence.", "OK!", "好"};
    check_sentences("日本語です｡Hello世界。Next sentence. OK!好", mixed, 5);
}

static void test_empty_document(void)
{
    rg_document d;
    REQUIRE(build(&d, NULL, 0));
    rg_chunk *c = (rg_chunk *)&d; /* must be reset */
    size_t n = 99;
    CHECK_INT(rg_chunk_document(&d, NULL, &c, &n, NULL), RG_OK);
    CHECK_INT(n, 0);
    CHECK(c == NULL);
    rg_document_free(&d);
    blk ws[] = {{RG_BLOCK_PARAGRAPH, 0, " \n\t "}, {RG_BLOCK_CODE, 0, "\n\n"}};
    REQUIRE(build(&d, ws, 2));
    CHECK_INT(rg_chunk_document(&d, NULL, &c, &n, NULL), RG_OK);
    CHECK_INT(n, 0);
    rg_free(c);
    rg_document_free(&d);
}

/* A document text without blocks (built by hand) is one paragraph. */
static void test_no_blocks(void)
{
    char text[] = "One. Two.";
    rg_document d = {"", text, strlen(text), NULL, 0, "text/plain", NULL};
    rg_chunk_options o = {.target_tokens = UNIT, .overlap_tokens = 0, .count_tokens = count_unit};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 2);
    if (n == 2) CHECK(chunk_is(&d, &c[1], "Two."));
    CHECK_INT(c[0].section, -1);
    rg_free(c);
}

/* Chunks a long run with the default counter and checks the pieces. */
static void check_long_run(const char *piece, size_t reps, int spaced)
{
    size_t plen = strlen(piece);
    char *s = rg_malloc(plen * reps + 1);
    REQUIRE(s != NULL);
    for (size_t i = 0; i < reps; i++)
        memcpy(s + i * plen, piece, plen);
    s[plen * reps] = '\0';
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, s}};
    rg_document d;
    REQUIRE(build(&d, b, 1));
    rg_chunk_options o = rg_chunk_default_options();
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK(n > 1);
    check_invariants(&d, c, n, &o);
    for (size_t i = 0; i < n; i++) {
        CHECK(c[i].token_count <= o.target_tokens);
        CHECK(c[i].token_count * 2 >= o.target_tokens || i == n - 1); /* pieces are not tiny */
        if (spaced) { /* cut between words, never inside one */
            CHECK(c[i].start == 0 || d.text[c[i].start - 1] == ' ');
            CHECK(c[i].end == d.len || d.text[c[i].end] == ' ');
        }
    }
    rg_free(c);
    rg_document_free(&d);
    rg_free(s);
}

static void test_huge_line_no_spaces(void)
{
    check_long_run("a", 100000, 0);
    check_long_run("\xc3\xa9", 30000, 0);                   /* é: one long word */
    check_long_run("中", 20000, 0);                         /* CJK: cut between characters */
    check_long_run("a\xc3\xa9中\xf0\x9f\x98\x80", 5000, 0); /* 1-4 byte mix */
    check_long_run("word ", 3000, 1);
}

/* Multi-byte characters at every possible chunk edge. */
static void test_multibyte_edges(void)
{
    char text[4096];
    size_t len = 0;
    const char *parts[] = {"Ünïcödé wörds.", "中文句子。", "😀 emoji here!", "Ελληνικά κείμενα."};
    for (size_t i = 0; len < sizeof text - 64; i++) {
        const char *p = parts[i % 4];
        memcpy(text + len, p, strlen(p));
        len += strlen(p);
        text[len++] = ' ';
    }
    text[len] = '\0';
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, text}};
    rg_document d;
    REQUIRE(build(&d, b, 1));
    for (size_t target = 3; target < 40; target += 3) {
        rg_chunk_options o = {.target_tokens = target,
                              .overlap_tokens = target / 3,
                              .count_tokens = rg_approx_token_count};
        rg_chunk *c;
        size_t n;
        REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
        check_invariants(&d, c, n, &o);
        rg_free(c);
    }
    rg_document_free(&d);
}

/* rg_approx_token_count behind another pointer: the chunker then takes the
 * path every other count takes (gallop and bisect). */
static size_t approx_again(void *ctx, const char *s, size_t n)
{
    return rg_approx_token_count(ctx, s, n);
}

/* With the built-in count the chunker finds each long unit's pieces in one
 * pass; they must be the pieces the general path finds, to the byte. */
static void test_one_pass_cuts_as_bisection(void)
{
    static const char *const parts[] = {"a",
                                        "word",
                                        "Supercalifragilisticexpialidocious",
                                        "\xc3\xa9t\xc3\xa9",
                                        "中",
                                        "文字",
                                        "\xf0\x9f\x98\x80",
                                        ",",
                                        "-",
                                        "(x)",
                                        "0123456789012345678901234567890",
                                        "\xe3\x80\x81"};
    uint32_t seed = 12345;
    char text[6000];
    for (int round = 0; round < 40; round++) {
        size_t len = 0;
        while (len < sizeof text - 64) {
            seed = seed * 1103515245u + 12345u;
            const char *p = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
            memcpy(text + len, p, strlen(p));
            len += strlen(p);
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 3) text[len++] = ' '; /* words run together too */
            if ((seed >> 16) % 97 == 0) text[len++] = '.';
        }
        text[len] = '\0';
        blk b[] = {{RG_BLOCK_PARAGRAPH, 0, text}};
        rg_document d;
        REQUIRE(build(&d, b, 1));
        size_t target = 2 + (size_t)round * 5;
        rg_chunk_options fast = {.target_tokens = target,
                                 .overlap_tokens = target / 4,
                                 .count_tokens = rg_approx_token_count};
        rg_chunk_options general = fast;
        general.count_tokens = approx_again;
        rg_chunk *c1, *c2;
        size_t n1, n2;
        REQUIRE(rg_chunk_document(&d, &fast, &c1, &n1, NULL) == RG_OK);
        REQUIRE(rg_chunk_document(&d, &general, &c2, &n2, NULL) == RG_OK);
        CHECK(n1 > 1);
        CHECK_INT(n1, n2);
        for (size_t i = 0; i < n1 && i < n2; i++) {
            CHECK_INT(c1[i].start, c2[i].start);
            CHECK_INT(c1[i].end, c2[i].end);
            CHECK_INT(c1[i].token_count, c2[i].token_count);
        }
        check_invariants(&d, c1, n1, &fast);
        rg_free(c1);
        rg_free(c2);
        rg_document_free(&d);
    }
}

static void test_overlap(void)
{
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0,
                "S one a b c. S two a b c. S three a b c. S four a b c. S five a b c. "
                "S six a b c. S seven a b c."}};
    rg_document d;
    REQUIRE(build(&d, b, 1));
    rg_chunk_options o = {.target_tokens = 15, .overlap_tokens = 5, .count_tokens = count_words};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK(chunk_is(&d, &c[0], "S one a b c. S two a b c. S three a b c."));
        CHECK(chunk_is(&d, &c[1], "S three a b c. S four a b c. S five a b c."));
        CHECK(chunk_is(&d, &c[2], "S five a b c. S six a b c. S seven a b c."));
    }
    check_invariants(&d, c, n, &o);
    rg_free(c);
    /* without overlap the chunks do not share text */
    o.overlap_tokens = 0;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    for (size_t i = 1; i < n; i++)
        CHECK(c[i].start >= c[i - 1].end);
    rg_free(c);
    rg_document_free(&d);
}

static void test_headings_start_chunks(void)
{
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, "Preface text."},
               {RG_BLOCK_HEADING, 1, "First"},
               {RG_BLOCK_PARAGRAPH, 0, "Body one. More body."},
               {RG_BLOCK_HEADING, 2, "Second"},
               {RG_BLOCK_PARAGRAPH, 0, "Body two."}};
    rg_document d;
    REQUIRE(build(&d, b, 5));
    rg_chunk_options o = {
        .target_tokens = 200, .overlap_tokens = 40, .count_tokens = rg_approx_token_count};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK(chunk_is(&d, &c[0], "Preface text."));
        CHECK(chunk_is(&d, &c[1], "First\n\nBody one. More body."));
        CHECK(chunk_is(&d, &c[2], "Second\n\nBody two."));
        CHECK_INT(c[0].section, -1);
        CHECK_INT(c[1].section, 1);
        CHECK_INT(c[2].section, 3);
    }
    check_invariants(&d, c, n, &o);
    rg_free(c);
    /* small chunks with overlap: nothing before a heading is repeated after it */
    o = (rg_chunk_options){
        .target_tokens = UNIT * 2, .overlap_tokens = UNIT, .count_tokens = count_unit};
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    for (size_t i = 0; i < n; i++) {
        int at_heading = memcmp(d.text + c[i].start, "First", 5) == 0 ||
                         memcmp(d.text + c[i].start, "Second", 6) == 0;
        if (i && c[i].start < c[i - 1].end) CHECK(!at_heading);
        if (strncmp(d.text + c[i].start, "Body two", 8) == 0) CHECK(0); /* joins "Second" */
    }
    check_invariants(&d, c, n, &o);
    rg_free(c);
    rg_document_free(&d);
}

/* Headings directly after one another share a chunk with the text below. */
static void test_consecutive_headings(void)
{
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, "Before."},
               {RG_BLOCK_HEADING, 1, "Part"},
               {RG_BLOCK_HEADING, 2, "Chapter"},
               {RG_BLOCK_PARAGRAPH, 0, "Text."},
               {RG_BLOCK_HEADING, 2, "Next"}};
    rg_document d;
    REQUIRE(build(&d, b, 5));
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, NULL, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK(chunk_is(&d, &c[1], "Part\n\nChapter\n\nText."));
        CHECK_INT(c[1].section, 1);
        CHECK(chunk_is(&d, &c[2], "Next"));
    }
    rg_free(c);
    rg_document_free(&d);
}

/* A table row is one unit: its sentence ends do not let a chunk boundary cut it. */
static void test_table_rows_whole(void)
{
    blk b[] = {{RG_BLOCK_TABLE_ROW, 0, "a: One. Two. | b: x"},
               {RG_BLOCK_TABLE_ROW, 0, "a: Three. Four. | b: y"},
               {RG_BLOCK_TABLE_ROW, 0, "a: Five. | b: z"}};
    rg_document d;
    REQUIRE(build(&d, b, 3));
    rg_chunk_options o = {.target_tokens = 10,
                          .overlap_tokens = 0,
                          .count_tokens = count_words}; /* rows of 6, 6 and 5 words */
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n && i < 3; i++)
        CHECK(chunk_is(&d, &c[i], b[i].text));
    check_invariants(&d, c, n, &o);
    rg_free(c);
    /* with overlap, the next chunk starts with the last whole row */
    o = (rg_chunk_options){.target_tokens = 12, .overlap_tokens = 6, .count_tokens = count_words};
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK(chunk_is(&d, &c[0], "a: One. Two. | b: x\n\na: Three. Four. | b: y"));
        CHECK(chunk_is(&d, &c[1], "a: Three. Four. | b: y\n\na: Five. | b: z"));
    }
    rg_free(c);
    /* a row over the target is still cut */
    o = (rg_chunk_options){.target_tokens = 3, .overlap_tokens = 0, .count_tokens = count_words};
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK(n > 3);
    check_invariants(&d, c, n, &o);
    rg_free(c);
    rg_document_free(&d);
}

static void test_code_lines(void)
{
    blk b[] = {{RG_BLOCK_CODE, 0, "int a = 1;\n    int b = 2;\nreturn a.b;"}};
    rg_document d;
    REQUIRE(build(&d, b, 1));
    rg_chunk_options o = {.target_tokens = UNIT, .overlap_tokens = 0, .count_tokens = count_unit};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&d, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 3);
    if (n == 3) CHECK(chunk_is(&d, &c[1], "int b = 2;"));
    rg_free(c);
    rg_document_free(&d);
}

static void test_bad_options(void)
{
    rg_document d = {"", "x", 1, NULL, 0, "text/plain", NULL};
    rg_chunk *c;
    size_t n;
    rg_error err;
    rg_chunk_options o = {.target_tokens = 10, .overlap_tokens = 10, .count_tokens = NULL};
    CHECK_INT(rg_chunk_document(&d, &o, &c, &n, &err), RG_EINVAL);
    CHECK(strstr(err.msg, "overlap") != NULL);
    o.target_tokens = 0;
    CHECK_INT(rg_chunk_document(&d, &o, &c, &n, &err), RG_EINVAL);
    rg_block bad = {RG_BLOCK_PARAGRAPH, 0, 0, 5, -1, 0};
    d.blocks = &bad;
    d.n_blocks = 1;
    CHECK_INT(rg_chunk_document(&d, NULL, &c, &n, &err), RG_EINVAL);
}

/* RG_CHUNKS_MAX_PER_DOC: a document of exactly that many one-unit sentences
 * is cut; one more sentence is refused with RG_ELIMIT and a message naming
 * the limit, and nothing is handed back. */
static void test_too_many_chunks(void)
{
    for (size_t extra = 0; extra <= 1; extra++) {
        size_t sentences = RG_CHUNKS_MAX_PER_DOC + extra, len = sentences * 5;
        char *text = rg_malloc(len + 1);
        REQUIRE(text != NULL);
        for (size_t i = 0; i < sentences; i++)
            memcpy(text + i * 5, "Yes! ", 5);
        text[len - 1] = '\0'; /* no trailing space */
        blk b[] = {{RG_BLOCK_PARAGRAPH, 0, text}};
        rg_document d;
        REQUIRE(build(&d, b, 1));
        rg_chunk_options o = {
            .target_tokens = UNIT, .overlap_tokens = 0, .count_tokens = count_unit};
        rg_chunk *c = NULL;
        size_t n = 0;
        rg_error err;
        rg_error_clear(&err);
        rg_status st = rg_chunk_document(&d, &o, &c, &n, &err);
        if (extra == 0) {
            CHECK_INT(st, RG_OK);
            CHECK_INT(n, RG_CHUNKS_MAX_PER_DOC);
            CHECK(n > 0 && chunk_is(&d, &c[n - 1], "Yes!"));
        } else {
            CHECK_INT(st, RG_ELIMIT);
            CHECK(strstr(err.msg, "more than 200000 chunks") != NULL);
        }
        if (st == RG_OK) rg_free(c);
        rg_document_free(&d);
        rg_free(text);
    }
}

static void test_alloc_failures(void)
{
    blk b[] = {{RG_BLOCK_HEADING, 1, "Title"}, {RG_BLOCK_PARAGRAPH, 0, "One. Two. Three. Four."}};
    rg_document d;
    REQUIRE(build(&d, b, 2));
    rg_chunk_options o = {.target_tokens = UNIT, .overlap_tokens = 0, .count_tokens = count_unit};
    rg_status st = RG_ENOMEM;
    for (unsigned long k = 1; st == RG_ENOMEM && k < 50; k++) {
        rg_chunk *c;
        size_t n;
        rg_mem_fail_at(k, 0);
        st = rg_chunk_document(&d, &o, &c, &n, NULL);
        rg_mem_fail_at(0, 0);
        if (st == RG_OK) {
            CHECK_INT(n, 5);
            rg_free(c);
        } else {
            CHECK(c == NULL && n == 0);
        }
    }
    CHECK_INT(st, RG_OK);
    rg_document_free(&d);
}

/* A model that reads no text with a '#' in it. */
static int covers_no_hash(void *ctx, const char *s, size_t n)
{
    ++*(int *)ctx;
    return memchr(s, '#', n) == NULL;
}

/* A document the model cannot read is cut at the lexical target, one it
 * reads at the target; the same options serve both. */
static void test_lexical_target(void)
{
    /* twelve sentences of 4 words */
    char text[512] = "";
    for (int i = 0; i < 12; i++)
        strcat(text, "one two three four. ");
    blk b[] = {{RG_BLOCK_PARAGRAPH, 0, text}};
    rg_document read, unread;
    REQUIRE(build(&read, b, 1));
    text[0] = '#';
    REQUIRE(build(&unread, b, 1));
    int calls = 0;
    rg_chunk_options o = {.target_tokens = 8,
                          .overlap_tokens = 0,
                          .count_tokens = count_words,
                          .covers = covers_no_hash,
                          .covers_ctx = &calls,
                          .lexical_target_tokens = 24};
    rg_chunk *c;
    size_t n;
    REQUIRE(rg_chunk_document(&read, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 6); /* two sentences a chunk */
    check_invariants(&read, c, n, &o);
    rg_free(c);
    REQUIRE(rg_chunk_document(&unread, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 2); /* six */
    check_invariants(&unread, c, n, &o);
    rg_free(c);
    CHECK_INT(calls, 2);
    /* 0: the one target for all text */
    o.lexical_target_tokens = 0;
    REQUIRE(rg_chunk_document(&unread, &o, &c, &n, NULL) == RG_OK);
    CHECK_INT(n, 6);
    rg_free(c);
    /* the overlap must fit the lexical target too */
    o.lexical_target_tokens = 4;
    o.overlap_tokens = 4;
    o.target_tokens = 8;
    rg_error err;
    CHECK(rg_chunk_document(&unread, &o, &c, &n, &err) == RG_EINVAL);
    CHECK(strstr(rg_error_message(&err), "lexical target") != NULL);
    /* the defaults: 512, and no model to ask */
    rg_chunk_options d = rg_chunk_default_options();
    CHECK_INT(d.lexical_target_tokens, RG_CHUNK_LEXICAL_TARGET);
    CHECK(d.covers == NULL);
    rg_document_free(&read);
    rg_document_free(&unread);
}

TEST_MAIN(TEST(test_approx_tokens), TEST(test_too_many_chunks), TEST(test_english_sentences),
          TEST(test_chinese_sentences), TEST(test_empty_document), TEST(test_no_blocks),
          TEST(test_huge_line_no_spaces), TEST(test_multibyte_edges),
          TEST(test_one_pass_cuts_as_bisection), TEST(test_overlap),
          TEST(test_headings_start_chunks), TEST(test_consecutive_headings),
          TEST(test_table_rows_whole), TEST(test_code_lines), TEST(test_bad_options),
          TEST(test_alloc_failures), TEST(test_lexical_target))
