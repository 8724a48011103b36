/*
 * chunker.c — sentence-aligned chunks of a document.
 *
 * Two passes. The first cuts every block into units — sentences for prose,
 * lines for code, the whole text for a heading — trims them, and cuts units
 * longer than the target into pieces. The second packs units greedily into
 * chunks and starts each next chunk with a few units of the one before.
 * Units carry their token counts, so the tokenizer runs once per unit and
 * once per chunk, not once per packing step.
 */
#include "ingest/chunker.h"

#include <stdint.h>

#include "engine/base/fuzz.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"

#define CHUNK_DEFAULT_TARGET  200
#define CHUNK_DEFAULT_OVERLAP 40
/* A word up to this many bytes counts as one approximate token. */
#define APPROX_SHORT_WORD_BYTES 6
/* Each further this many bytes of a long word count one more token. */
#define APPROX_BYTES_PER_PIECE 4
/* First prefix length tried when searching where to cut a long unit. */
#define SPLIT_FIRST_PROBE 64

typedef struct unit {
    size_t start, end; /* trimmed span in the document text */
    size_t tokens;
    long section;
    int heading; /* a heading: starts a new chunk */
} unit;

typedef struct chunker {
    const char *text;
    const rg_chunk_options *opt;
    unit *units;
    size_t n_units, cap_units;
    rg_chunk *chunks;
    size_t n_chunks, cap_chunks;
} chunker;

/* --- code points ---------------------------------------------------------- */

/* Decodes the code point at s[i] (text is valid UTF-8; a bad byte counts as one). */
RG_FUZZ_UNTRACED static size_t cp_at(const char *s, size_t i, size_t end, uint32_t *cp)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t k = rg_utf8_decode(s + i, end - i, cp);
    return k ? k : 1;
}

/* Start of the code point that ends just before s[i]. */
RG_FUZZ_UNTRACED static size_t cp_before(const char *s, size_t lo, size_t i)
{
    size_t p = i - 1;
    while (p > lo && i - p < 4 && ((unsigned char)s[p] & 0xC0) == 0x80)
        p--;
    return p;
}

static int is_space_at(const char *s, size_t i, size_t end)
{
    uint32_t cp;
    cp_at(s, i, end, &cp);
    return rg_is_space(cp);
}

static void trim(const char *s, size_t *start, size_t *end)
{
    uint32_t cp;
    while (*start < *end) {
        size_t k = cp_at(s, *start, *end, &cp);
        if (!rg_is_space(cp)) break;
        *start += k;
    }
    while (*end > *start) {
        size_t p = cp_before(s, *start, *end);
        cp_at(s, p, *end, &cp);
        if (!rg_is_space(cp)) break;
        *end = p;
    }
}

/* --- token counting ------------------------------------------------------- */

/* rg_approx_token_count as it reads: tokens of the words and marks before
 * the current word, and that word's bytes so far. */
typedef struct approx {
    size_t tokens, word;
} approx;

static size_t approx_word(size_t word)
{
    if (!word) return 0;
    if (word <= APPROX_SHORT_WORD_BYTES) return 1;
    return 1 +
           (word - APPROX_SHORT_WORD_BYTES + APPROX_BYTES_PER_PIECE - 1) / APPROX_BYTES_PER_PIECE;
}

RG_FUZZ_UNTRACED static void approx_feed(approx *a, uint32_t cp, size_t k)
{
    if (!rg_is_cjk(cp) && rg_is_word_char(cp)) {
        a->word += k;
        return;
    }
    a->tokens += approx_word(a->word);
    a->word = 0;
    if (!rg_is_space(cp)) a->tokens++; /* a CJK character or a punctuation mark */
}

/* The count of everything read so far; it never falls as more is read. */
RG_FUZZ_UNTRACED static size_t approx_total(const approx *a)
{
    return a->tokens + approx_word(a->word);
}

size_t rg_approx_token_count(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    approx a = {0, 0};
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = cp_at(s, i, n, &cp);
        i += k;
        approx_feed(&a, cp, k);
    }
    return approx_total(&a);
}

static size_t count(const chunker *ck, size_t start, size_t end)
{
    return ck->opt->count_tokens(ck->opt->count_ctx, ck->text + start, end - start);
}

/* --- units ---------------------------------------------------------------- */

static rg_status push_unit(chunker *ck, size_t start, size_t end, size_t tokens, long section,
                           int heading)
{
    if (ck->n_units == ck->cap_units) {
        size_t cap = ck->cap_units ? ck->cap_units * 2 : 256;
        unit *p = rg_realloc(ck->units, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        ck->units = p;
        ck->cap_units = cap;
    }
    ck->units[ck->n_units++] = (unit){start, end, tokens, section, heading};
    return RG_OK;
}

/*
 * Longest prefix of text[pos..end), in bytes and on a character boundary,
 * whose token count is within the target; at least one character. With the
 * built-in count, one pass; with another, gallops up from a small probe
 * and then bisects, so a long unit costs about O(length * log(piece))
 * instead of counting the whole rest per piece.
 */
static size_t fitting_prefix(const chunker *ck, size_t pos, size_t end)
{
    size_t target = ck->opt->target_tokens, rest = end - pos;
    if (ck->opt->count_tokens == rg_approx_token_count) {
        /* the built-in count is kept as the prefix grows: one pass, to the
         * first character that takes it over the target */
        approx a = {0, 0};
        size_t i = pos;
        while (i < end) {
            uint32_t cp;
            size_t k = cp_at(ck->text, i, end, &cp);
            approx_feed(&a, cp, k);
            if (approx_total(&a) > target) break;
            i += k;
        }
        if (i > pos) return i - pos;
        uint32_t cp; /* even one character is over the target: take it anyway */
        return cp_at(ck->text, pos, end, &cp);
    }
    size_t lo = 0, hi = rest < SPLIT_FIRST_PROBE ? rest : SPLIT_FIRST_PROBE;
    for (;;) {
        size_t k = rg_utf8_floor(ck->text + pos, hi);
        if (count(ck, pos, pos + k) > target) break;
        lo = hi;
        if (hi == rest) return rest;
        hi = hi > rest / 2 ? rest : hi * 2;
    }
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        size_t k = rg_utf8_floor(ck->text + pos, mid);
        if (count(ck, pos, pos + k) <= target)
            lo = mid;
        else
            hi = mid;
    }
    size_t k = rg_utf8_floor(ck->text + pos, lo);
    if (k == 0) { /* even one character is over the target: take it anyway */
        uint32_t cp;
        k = cp_at(ck->text, pos, end, &cp);
    }
    return k;
}

/*
 * Where to cut text[pos..lim): the last space, or the last boundary next to
 * a CJK character (every CJK character is a word of its own), else lim.
 */
static size_t break_before(const chunker *ck, size_t pos, size_t lim, size_t end)
{
    const char *s = ck->text;
    uint32_t right, left;
    cp_at(s, lim, end, &right); /* lim < end: the caller handles a prefix that is all */
    if (rg_is_space(right)) return lim;
    for (size_t p = lim; p > pos;) {
        size_t q = cp_before(s, pos, p);
        cp_at(s, q, end, &left);
        if (rg_is_space(left)) return q; /* q > pos: units never start with a space */
        if (rg_is_cjk(left) || rg_is_cjk(right)) return p;
        right = left;
        p = q;
    }
    return lim;
}

static rg_status add_unit(chunker *ck, size_t start, size_t end, long section, int heading)
{
    trim(ck->text, &start, &end);
    if (start == end) return RG_OK;
    size_t tokens = count(ck, start, end);
    if (tokens <= ck->opt->target_tokens)
        return push_unit(ck, start, end, tokens, section, heading);
    /* too long: cut into pieces that fit; only the first keeps the heading mark */
    size_t pos = start;
    while (pos < end) {
        size_t k = fitting_prefix(ck, pos, end);
        size_t cut = pos + k >= end ? end : break_before(ck, pos, pos + k, end);
        if (cut <= pos) cut = pos + k; /* always move on */
        size_t a = pos, b = cut;
        trim(ck->text, &a, &b);
        if (a < b) {
            rg_status st = push_unit(ck, a, b, count(ck, a, b), section, heading);
            if (st) return st;
            heading = 0;
        }
        pos = cut;
        while (pos < end && is_space_at(ck->text, pos, end)) {
            uint32_t cp;
            pos += cp_at(ck->text, pos, end, &cp);
        }
    }
    return RG_OK;
}

/* --- sentence ends ---------------------------------------------------------- */

/* Ideographic full stop, full-width ! ? ; and their small forms: always an end. */
static int is_cjk_terminator(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF61 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B ||
           cp == 0xFE52 || cp == 0xFE56 || cp == 0xFE57 || cp == 0xFF0E;
}

static int is_terminator(uint32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == ';' || cp == 0x2026 ||
           is_cjk_terminator(cp);
}

/* Closing quotes and brackets that belong to the sentence they follow. */
static int is_closer(uint32_t cp)
{
    switch (cp) {
    case '"':
    case '\'':
    case ')':
    case ']':
    case '}':
    case 0x2019:
    case 0x201D:
    case 0x00BB:
    case 0x300D:
    case 0x300F:
    case 0x3011:
    case 0x300B:
    case 0x3009:
    case 0x3015:
    case 0xFF09:
    case 0xFF3D:
    case 0xFF5D:
        return 1;
    default:
        return 0;
    }
}

static int ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Abbreviations after which a period does not end a sentence. */
static int is_abbreviation(const char *w, size_t n)
{
    static const char *const list[] = {"mr",  "mrs", "ms",     "dr",  "prof", "sr",   "jr", "st",
                                       "vs",  "cf",  "al",     "fig", "figs", "eq",   "no", "nos",
                                       "vol", "pp",  "approx", "ca",  "resp", "dept", "gen"};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        size_t k = 0;
        while (list[i][k] && k < n && ascii_lower((unsigned char)w[k]) == list[i][k])
            k++;
        if (k == n && list[i][k] == '\0') return 1;
    }
    return 0;
}

/*
 * A period at s[dot] after a word that is a known abbreviation, an initial
 * ("J. Smith") or has inner periods ("e.g", "U.S") does not end a sentence.
 */
static int period_is_abbreviation(const char *s, size_t lo, size_t dot)
{
    size_t w = dot;
    int inner_dot = 0;
    while (w > lo) {
        unsigned char c = (unsigned char)s[w - 1];
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!letter && c != '.') break;
        if (c == '.') inner_dot = 1;
        w--;
    }
    size_t n = dot - w;
    if (n == 0) return 0;
    if (inner_dot && s[w] != '.') return 1;
    if (n == 1 && s[w] >= 'A' && s[w] <= 'Z') return 1;
    return is_abbreviation(s + w, n);
}

/*
 * If a sentence ends at the terminator s[i] (of length k), returns the end
 * of the sentence (after repeated terminators and closers), else 0.
 */
static size_t sentence_end_at(const char *s, size_t lo, size_t i, size_t k, size_t end,
                              uint32_t prev)
{
    uint32_t cp;
    cp_at(s, i, end, &cp);
    size_t j = i + k;
    int ellipsis = cp == 0x2026;
    while (j < end) { /* "?!", "...", "。」" */
        uint32_t next;
        size_t m = cp_at(s, j, end, &next);
        if (!is_terminator(next) && !is_closer(next)) break;
        if (next == '.' || next == 0x2026) ellipsis = 1;
        j += m;
    }
    if (is_cjk_terminator(cp)) return j;
    uint32_t after = 0;
    if (j < end) cp_at(s, j, end, &after);
    /* in CJK text ASCII punctuation (often folded from full width) needs no space */
    if (rg_is_cjk(prev) || (j < end && rg_is_cjk(after))) return j;
    if (cp == ';') return 0;
    if (j < end && !rg_is_space(after)) return 0;
    if (cp == '!' || cp == '?') return j;
    if (cp == '.' && !ellipsis && period_is_abbreviation(s, lo, i)) return 0;
    /* "approx. three", "wait... what": a lower-case next word continues */
    size_t n = j;
    while (n < end && is_space_at(s, n, end)) {
        uint32_t sp;
        n += cp_at(s, n, end, &sp);
    }
    if (n < end && s[n] >= 'a' && s[n] <= 'z') return 0;
    return j;
}

static rg_status split_prose(chunker *ck, size_t start, size_t end, long section)
{
    const char *s = ck->text;
    size_t i = start, sent = start;
    uint32_t prev = 0;
    while (i < end) {
        uint32_t cp;
        size_t k = cp_at(s, i, end, &cp);
        size_t stop = 0;
        if (is_terminator(cp)) {
            stop = sentence_end_at(s, start, i, k, end, prev);
        } else if (cp == '\n') { /* a blank line inside a block ends a sentence too */
            size_t j = i + 1;
            while (j < end && (s[j] == ' ' || s[j] == '\t'))
                j++;
            if (j < end && s[j] == '\n') stop = i;
        }
        if (stop) {
            rg_status st = add_unit(ck, sent, stop, section, 0);
            if (st) return st;
            sent = stop;
            i = stop > i ? stop : i + k;
            prev = 0;
            continue;
        }
        prev = cp;
        i += k;
    }
    return add_unit(ck, sent, end, section, 0);
}

static rg_status split_lines(chunker *ck, size_t start, size_t end, long section)
{
    size_t line = start;
    for (size_t i = start; i < end; i++) {
        if (ck->text[i] != '\n') continue;
        rg_status st = add_unit(ck, line, i, section, 0);
        if (st) return st;
        line = i + 1;
    }
    return add_unit(ck, line, end, section, 0);
}

static rg_status split_block(chunker *ck, const rg_block *b)
{
    switch (b->kind) {
    case RG_BLOCK_HEADING:
        return add_unit(ck, b->start, b->end, b->section, 1);
    case RG_BLOCK_TABLE_ROW: /* one unit: a chunk boundary never cuts a row that fits */
        return add_unit(ck, b->start, b->end, b->section, 0);
    case RG_BLOCK_CODE:
        return split_lines(ck, b->start, b->end, b->section);
    default:
        return split_prose(ck, b->start, b->end, b->section);
    }
}

/* --- packing ---------------------------------------------------------------- */

static rg_status push_chunk(chunker *ck, size_t a, size_t b)
{
    if (ck->n_chunks >= RG_CHUNKS_MAX_PER_DOC) return RG_ELIMIT;
    if (ck->n_chunks == ck->cap_chunks) {
        size_t cap = ck->cap_chunks ? ck->cap_chunks * 2 : 64;
        rg_chunk *p = rg_realloc(ck->chunks, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        ck->chunks = p;
        ck->cap_chunks = cap;
    }
    size_t start = ck->units[a].start, end = ck->units[b - 1].end;
    ck->chunks[ck->n_chunks++] =
        (rg_chunk){start, end, count(ck, start, end), ck->units[a].section};
    return RG_OK;
}

static rg_status pack(chunker *ck)
{
    const unit *u = ck->units;
    size_t n = ck->n_units, target = ck->opt->target_tokens, overlap = ck->opt->overlap_tokens;
    size_t i = 0;
    while (i < n) {
        size_t a = i, j = i + 1, tokens = u[a].tokens;
        /* a heading right after a heading joins it: a chunk of one title says little */
        int only_headings = u[a].heading;
        while (j < n && (!u[j].heading || only_headings) && tokens + u[j].tokens <= target) {
            only_headings &= u[j].heading;
            tokens += u[j++].tokens;
        }
        rg_status st = push_chunk(ck, a, j);
        if (st) return st;
        if (j >= n || u[j].heading) {
            i = j;
            continue;
        }
        /* overlap: whole units from the end, never the chunk's first (progress) */
        size_t o = j, sum = 0;
        while (o - 1 > a && sum + u[o - 1].tokens <= overlap &&
               sum + u[o - 1].tokens + u[j].tokens <= target)
            sum += u[--o].tokens;
        i = o;
    }
    return RG_OK;
}

/* --- entry point ------------------------------------------------------------- */

rg_chunk_options rg_chunk_default_options(void)
{
    return (rg_chunk_options){.target_tokens = CHUNK_DEFAULT_TARGET,
                              .overlap_tokens = CHUNK_DEFAULT_OVERLAP,
                              .count_tokens = rg_approx_token_count,
                              .lexical_target_tokens = RG_CHUNK_LEXICAL_TARGET};
}

static rg_status check_input(const rg_document *doc, const rg_chunk_options *opt, rg_error *err)
{
    if (!doc || (!doc->text && doc->len))
        return rg_fail(err, RG_EINVAL, "chunker: no document text");
    if (opt->target_tokens == 0) return rg_fail(err, RG_EINVAL, "chunker: target_tokens is 0");
    if (opt->overlap_tokens >= opt->target_tokens)
        return rg_fail(err, RG_EINVAL, "chunker: overlap_tokens (%zu) must be below target (%zu)",
                       opt->overlap_tokens, opt->target_tokens);
    if (opt->lexical_target_tokens && opt->overlap_tokens >= opt->lexical_target_tokens)
        return rg_fail(err, RG_EINVAL,
                       "chunker: overlap_tokens (%zu) must be below the lexical target (%zu)",
                       opt->overlap_tokens, opt->lexical_target_tokens);
    size_t prev_end = 0;
    for (size_t i = 0; i < doc->n_blocks; i++) {
        const rg_block *b = &doc->blocks[i];
        if (b->start > b->end || b->end > doc->len || b->start < prev_end)
            return rg_fail(err, RG_EINVAL, "chunker: block %zu has a bad span [%zu, %zu)", i,
                           b->start, b->end);
        prev_end = b->end;
    }
    return RG_OK;
}

rg_status rg_chunk_document(const rg_document *doc, const rg_chunk_options *opt, rg_chunk **chunks,
                            size_t *n, rg_error *err)
{
    rg_chunk_options o = opt ? *opt : rg_chunk_default_options();
    if (!o.count_tokens) o.count_tokens = rg_approx_token_count;
    *chunks = NULL;
    *n = 0;
    rg_status st = check_input(doc, &o, err);
    if (st) return st;
    if (o.covers && o.lexical_target_tokens && doc->len &&
        !o.covers(o.covers_ctx, doc->text, doc->len))
        o.target_tokens = o.lexical_target_tokens;
    chunker ck = {doc->text, &o, NULL, 0, 0, NULL, 0, 0};
    if (doc->n_blocks == 0 && doc->len > 0) { /* a document without structure: one block */
        rg_block whole = {RG_BLOCK_PARAGRAPH, 0, 0, doc->len, -1, 0};
        st = split_block(&ck, &whole);
    }
    for (size_t i = 0; i < doc->n_blocks && st == RG_OK; i++)
        st = split_block(&ck, &doc->blocks[i]);
    if (st == RG_OK) st = pack(&ck);
    rg_free(ck.units);
    if (st) {
        rg_free(ck.chunks);
        if (st == RG_ELIMIT)
            return rg_fail(err, st, "document gives more than %u chunks", RG_CHUNKS_MAX_PER_DOC);
        return rg_fail(err, st, "out of memory while chunking");
    }
    *chunks = ck.chunks;
    *n = ck.n_chunks;
    return RG_OK;
}
