/*
 * text.c — sentences, citation markers, content terms, numbers and quotes
 * for the answer stages. See text.h.
 */
#include "engine/rag/text.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/base/zh.h"

/* Longest word kept as a term (bytes); longer words are cut. */
#define TERM_WORD_MAX 64
/* Longest canonical number (bytes, NUL excluded). */
#define NUMBER_MAX 63
/* Longest word of a bracketed control token ("[SYSTEM_PROMPT]") made inert. */
#define RG_CONTROL_WORD_MAX 32
/* Longest word read when looking for a role label at a line's start. */
#define RG_ROLE_WORD_MAX 16

static size_t cp_at(const char *s, size_t n, size_t i, uint32_t *cp)
{
    if (i >= n) {
        *cp = 0;
        return 0;
    }
    size_t k = rg_utf8_decode(s + i, n - i, cp);
    if (k == 0) { /* invalid byte: step over it as U+FFFD */
        *cp = 0xFFFD;
        return 1;
    }
    return k;
}

static int s_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int digit_value(uint32_t cp)
{
    if (cp >= '0' && cp <= '9') return (int)(cp - '0');
    if (cp >= 0xFF10 && cp <= 0xFF19) return (int)(cp - 0xFF10);
    return -1;
}

/* ---- Citation markers ---- */

static int is_marker_open(uint32_t cp)
{
    return cp == '[' || cp == 0x3010 || cp == 0xFF3B;
}

static int is_marker_close(uint32_t cp)
{
    return cp == ']' || cp == 0x3011 || cp == 0xFF3D;
}

static int is_list_sep(uint32_t cp)
{
    return cp == ',' || cp == 0xFF0C || cp == 0x3001 || cp == ';' || cp == 0xFF1B;
}

static int is_range_sep(uint32_t cp)
{
    return cp == '-' || cp == 0x2013 || cp == 0x2014 || cp == 0xFF0D || cp == '~' ||
           cp == 0xFF5E;
}

static int is_blank(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == 0x3000;
}

/* Reads a number of at most three digits at s[*i]; -1 if none (or too long). */
static int read_num(const char *s, size_t n, size_t *i)
{
    int v = 0, digits = 0;
    for (;;) {
        uint32_t cp;
        size_t k = cp_at(s, n, *i, &cp);
        int d = k ? digit_value(cp) : -1;
        if (d < 0) break;
        if (++digits > 3) return -1;
        v = v * 10 + d;
        *i += k;
    }
    return digits ? v : -1;
}

static size_t skip_blanks(const char *s, size_t n, size_t i)
{
    uint32_t cp;
    size_t k;
    while ((k = cp_at(s, n, i, &cp)) && is_blank(cp))
        i += k;
    return i;
}

size_t rg_text_marker_at(const char *s, size_t n, size_t i, rg_marker *m)
{
    uint32_t cp;
    size_t k = cp_at(s, n, i, &cp);
    if (!k || !is_marker_open(cp)) return 0;
    size_t lim = n - i > RG_MARKER_MAX_BYTES ? i + RG_MARKER_MAX_BYTES : n;
    size_t j = i + k;
    m->n_nums = 0;
    for (;;) {
        j = skip_blanks(s, lim, j);
        int a = read_num(s, lim, &j);
        if (a < 0) return 0;
        int b = a;
        j = skip_blanks(s, lim, j);
        k = cp_at(s, lim, j, &cp);
        if (k && is_range_sep(cp)) {
            j = skip_blanks(s, lim, j + k);
            b = read_num(s, lim, &j);
            if (b < a) return 0;
            j = skip_blanks(s, lim, j);
            k = cp_at(s, lim, j, &cp);
        }
        if (b - a + 1 > RG_MARKER_NUMS_MAX - m->n_nums) return 0;
        for (int v = a; v <= b; v++)
            m->nums[m->n_nums++] = v;
        if (!k) return 0;
        if (is_marker_close(cp)) {
            m->span = (rg_span){i, j + k};
            return j + k - i;
        }
        if (!is_list_sep(cp)) return 0;
        j += k;
    }
}

/* Angle brackets, and the forms that NFKC folds into them (＜ ﹤), as ‹ ›. */
static const char *angle_stand_in(uint32_t cp)
{
    if (cp == '<' || cp == 0xFF1C || cp == 0xFE64) return "\xE2\x80\xB9"; /* ‹ */
    if (cp == '>' || cp == 0xFF1E || cp == 0xFE65) return "\xE2\x80\xBA"; /* › */
    return NULL;
}

/*
 * A bracketed control word at s[i] ("[INST]", "[/INST]", "[SYSTEM_PROMPT]":
 * the special tokens of Mistral-style chat templates): its length, else 0.
 */
static size_t control_word_at(const char *s, size_t n, size_t i)
{
    if (i >= n || s[i] != '[') return 0;
    size_t j = i + 1, start;
    if (j < n && s[j] == '/') j++;
    start = j;
    while (j < n && j - start <= RG_CONTROL_WORD_MAX &&
           ((s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_'))
        j++;
    size_t len = j - start;
    return j < n && s[j] == ']' && len >= 2 && len <= RG_CONTROL_WORD_MAX ? j + 1 - i : 0;
}

/*
 * A chat turn header at the start of a line ("System:", "### Assistant:",
 * "**User:**", "Human ："): sets *word to the role word's span and returns 1.
 */
static int role_label_at(const char *s, size_t n, size_t i, rg_span *word)
{
    static const char *const roles[] = {"system",    "assistant", "user",        "human",
                                        "developer", "tool",      "instruction", "response"};
    if (i > 0 && s[i - 1] != '\n' && s[i - 1] != '\r') return 0;
    size_t j = i;
    while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '#' || s[j] == '>' || s[j] == '*'))
        j++;
    size_t w = j;
    while (j < n && j - w <= RG_ROLE_WORD_MAX && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z'))
        j++;
    size_t wn = j - w;
    int known = 0;
    for (size_t r = 0; !known && r < sizeof roles / sizeof roles[0]; r++) {
        if (strlen(roles[r]) != wn) continue;
        size_t k = 0;
        while (k < wn && s_lower(s[w + k]) == roles[r][k])
            k++;
        known = k == wn;
    }
    if (!known) return 0;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    uint32_t cp;
    if (!cp_at(s, n, j, &cp) || (cp != ':' && cp != 0xFF1A)) return 0;
    *word = (rg_span){w, w + wn};
    return 1;
}

/* Writes "(inner)" for the bracketed s[i..i+len), whose brackets are open and close bytes long. */
static rg_status put_parenthesised(const char *s, size_t i, size_t len, size_t open, size_t close,
                                   rg_buf *out)
{
    rg_status st = rg_buf_putc(out, '(');
    if (!st) st = rg_buf_append(out, s + i + open, len - open - close);
    return st ? st : rg_buf_putc(out, ')');
}

static rg_status neutralise(const char *s, size_t n, int source, rg_buf *out)
{
    rg_status st = RG_OK;
    size_t i = 0;
    while (i < n && !st) {
        rg_marker m;
        rg_span word;
        uint32_t cp;
        size_t len = rg_text_marker_at(s, n, i, &m);
        if (len) {
            size_t open = cp_at(s, n, i, &cp), close = 1;
            while (close < len && (s[i + len - close] & 0xC0) == 0x80)
                close++;
            st = put_parenthesised(s, i, len, open, close, out);
            i += len;
        } else if (source && (len = control_word_at(s, n, i))) {
            st = put_parenthesised(s, i, len, 1, 1, out);
            i += len;
        } else if (source && role_label_at(s, n, i, &word)) {
            for (; i < word.start && !st; i++) /* blanks, '#', '*' and '>' (as ›) */
                st = s[i] == '>' ? rg_buf_puts(out, angle_stand_in('>')) : rg_buf_putc(out, s[i]);
            if (!st) st = put_parenthesised(s, word.start, word.end - word.start, 0, 0, out);
            i = word.end;
        } else {
            size_t k = cp_at(s, n, i, &cp);
            const char *angle = angle_stand_in(cp);
            st = angle ? rg_buf_puts(out, angle) : rg_buf_append(out, s + i, k);
            i += k;
        }
    }
    return st;
}

rg_status rg_text_neutralise(const char *s, size_t n, rg_buf *out)
{
    return neutralise(s, n, 0, out);
}

rg_status rg_text_neutralise_source(const char *s, size_t n, rg_buf *out)
{
    return neutralise(s, n, 1, out);
}

/* ---- Sentences ---- */

static int is_cjk_terminator(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF61 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B ||
           cp == 0xFE52 || cp == 0xFE56 || cp == 0xFE57;
}

static int is_terminator(uint32_t cp)
{
    return cp == '.' || cp == '!' || cp == '?' || cp == 0x2026 || is_cjk_terminator(cp);
}

/* Closing quotes and brackets that stay with the sentence they end. */
static int is_closer(uint32_t cp)
{
    return cp == '"' || cp == '\'' || cp == ')' || cp == 0x2019 || cp == 0x201D ||
           cp == 0x300D || cp == 0x300F || cp == 0xFF09;
}

/* Abbreviations after which a period does not end a sentence. */
static int is_abbreviation(const char *w, size_t n)
{
    static const char *const list[] = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "cf",
                                       "al", "fig", "no", "vol", "pp", "approx", "ca", "etc"};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (strlen(list[i]) != n) continue;
        size_t k = 0;
        while (k < n && (s_lower(w[k])) == list[i][k])
            k++;
        if (k == n) return 1;
    }
    return 0;
}

/*
 * A period at s[dot] after an initial ("J. Smith"), a known abbreviation or
 * a word with inner periods ("e.g", "U.S") does not end a sentence.
 */
static int period_is_abbreviation(const char *s, size_t lo, size_t dot)
{
    size_t w = dot;
    int inner_dot = 0;
    while (w > lo) {
        char c = s[w - 1];
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
 * If a sentence ends at the terminator s[i] (code point cp, k bytes),
 * returns the end (after repeated terminators and closers), else 0.
 */
static size_t end_at(const char *s, size_t n, size_t lo, size_t i, size_t k, uint32_t cp,
                     uint32_t prev)
{
    size_t j = i + k;
    for (;;) { /* "?!", "...", "。」" */
        uint32_t next;
        size_t m = cp_at(s, n, j, &next);
        if (!m || (!is_terminator(next) && !is_closer(next))) break;
        j += m;
    }
    if (is_cjk_terminator(cp)) return j;
    uint32_t after;
    size_t m = cp_at(s, n, j, &after);
    rg_marker mk;
    if (rg_is_cjk(prev) || (m && rg_is_cjk(after))) return j;
    if (m && !rg_is_space(after) && !rg_text_marker_at(s, n, j, &mk)) return 0;
    if (cp != '.') return j;
    if (period_is_abbreviation(s, lo, i)) return 0;
    size_t w = j; /* "approx. three": a lower-case next word continues */
    while (w < n && (s[w] == ' ' || s[w] == '\t'))
        w++;
    if (w < n && s[w] >= 'a' && s[w] <= 'z') return 0;
    return j;
}

/* A line break ends a sentence before a blank line, a list item or a heading. */
static int line_break_ends(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    if (j >= n || s[j] == '\n' || s[j] == '#' || s[j] == '|') return 1;
    if ((s[j] == '-' || s[j] == '*' || s[j] == '+') && j + 1 < n && s[j + 1] == ' ') return 1;
    size_t d = j;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    if (d > j && d + 1 < n && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ') return 1;
    /* a line that ends in ':' or a sentence terminator closes its sentence */
    size_t e = i;
    while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    return e > 0 && (s[e - 1] == ':' || s[e - 1] == '.');
}

/* Markers after a sentence end ("... 51820. [1][2]") join that sentence. */
static size_t absorb_markers(const char *s, size_t n, size_t j)
{
    for (;;) {
        size_t w = skip_blanks(s, n, j);
        rg_marker m;
        size_t len = rg_text_marker_at(s, n, w, &m);
        if (!len) return j;
        j = w + len;
        uint32_t cp;
        size_t k = cp_at(s, n, j, &cp);
        if (k && (is_terminator(cp) || is_cjk_terminator(cp))) j += k;
    }
}

typedef struct span_list {
    rg_span *v;
    size_t n, cap;
} span_list;

static rg_status push_sentence(span_list *l, const char *s, size_t a, size_t b)
{
    while (a < b) {
        uint32_t cp;
        size_t k = cp_at(s, b, a, &cp);
        if (!rg_is_space(cp) && cp != 0x3000) break;
        a += k;
    }
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' || s[b - 1] == '\r'))
        b--;
    if (a >= b) return RG_OK;
    if (l->n == RG_TEXT_MAX_SENTENCES) return RG_ELIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rg_span *v = rg_realloc(l->v, cap * sizeof *v);
        if (!v) return RG_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (rg_span){a, b};
    return RG_OK;
}

rg_status rg_text_sentences(const char *s, size_t n, rg_span **out, size_t *count, rg_error *err)
{
    span_list l = {0};
    size_t i = 0, sent = 0;
    uint32_t prev = 0;
    rg_status st = RG_OK;
    while (i < n && !st) {
        uint32_t cp;
        size_t k = cp_at(s, n, i, &cp);
        size_t stop = 0;
        if (is_terminator(cp))
            stop = end_at(s, n, sent, i, k, cp, prev);
        else if (cp == '\n' && line_break_ends(s, n, i))
            stop = i + 1;
        if (stop) {
            stop = absorb_markers(s, n, stop);
            st = push_sentence(&l, s, sent, stop);
            sent = i = stop;
            prev = 0;
            continue;
        }
        prev = cp;
        i += k;
    }
    if (!st) st = push_sentence(&l, s, sent, n);
    if (st) {
        rg_free(l.v);
        *out = NULL;
        *count = 0;
        return rg_fail(err, st, st == RG_ELIMIT ? "text has more than %d sentences"
                                                : "out of memory splitting sentences",
                       RG_TEXT_MAX_SENTENCES);
    }
    *out = l.v;
    *count = l.n;
    return RG_OK;
}

/* ---- Content terms ---- */

uint64_t rg_text_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int is_stop_word(const char *w, size_t n)
{
    static const char *const list[] = {
        "a",     "about", "all",   "also",  "am",    "an",    "and",   "any",   "are",
        "as",    "at",    "be",    "been",  "but",   "by",    "can",   "could", "did",
        "do",    "does",  "for",   "from",  "had",   "has",   "have",  "how",   "i",
        "if",    "in",    "into",  "is",    "it",    "its",   "me",    "more",  "must",
        "my",    "no",    "not",   "of",    "on",    "or",    "our",   "should", "so",
        "than",  "that",  "the",   "their", "them",  "then",  "there", "these", "they",
        "this",  "to",    "up",    "us",    "was",   "we",    "were",  "what",  "when",
        "where", "which", "while", "who",   "whom",  "why",   "will",  "with",  "would",
        "you",   "your",  "many",  "much",  "long",  "per"};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], w, n) == 0) return 1;
    return 0;
}

static int ends_with(const char *w, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(w + n - k, suf, k) == 0;
}

/* A light English stemmer: enough that "locks" meets "lock", "policies" "policy". */
static size_t stem(char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)w[i] >= 0x80) return n;
    if (n >= 6 && ends_with(w, n, "ing")) return n - 3;
    if (n >= 5 && ends_with(w, n, "ies")) {
        w[n - 3] = 'y';
        return n - 2;
    }
    if (n >= 5 && ends_with(w, n, "ed")) return n - 2;
    if (n >= 4 && w[n - 1] == 's' && !ends_with(w, n, "ss") && !ends_with(w, n, "us") &&
        !ends_with(w, n, "is"))
        return n - 1;
    return n;
}

void rg_terms_init(rg_terms *t)
{
    memset(t, 0, sizeof *t);
}

void rg_terms_free(rg_terms *t)
{
    rg_free(t->h);
    rg_terms_init(t);
}

void rg_terms_reset(rg_terms *t)
{
    t->n = 0;
    t->sorted = 0;
}

static rg_status terms_push(rg_terms *t, uint64_t h)
{
    if (t->n == RG_TERMS_MAX) return RG_ELIMIT;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        uint64_t *v = rg_realloc(t->h, cap * sizeof *v);
        if (!v) return RG_ENOMEM;
        t->h = v;
        t->cap = cap;
    }
    t->h[t->n++] = h;
    t->sorted = 0;
    return RG_OK;
}

rg_status rg_terms_add_hash(rg_terms *t, uint64_t h)
{
    return terms_push(t, h);
}

static rg_status word_done(rg_terms *t, char *w, size_t n, int has_alpha)
{
    if (n == 0 || (n == 1 && has_alpha) || (has_alpha && is_stop_word(w, n))) return RG_OK;
    if (has_alpha) n = stem(w, n);
    return terms_push(t, rg_text_hash(w, n));
}

rg_status rg_terms_add(rg_terms *t, const char *s, size_t n)
{
    char word[TERM_WORD_MAX + 4];
    char prev[4], pair[8]; /* the previous ideograph, folded to Simplified (zh.h) */
    size_t wn = 0, i = 0, prev_len = 0, cjk_run = 0;
    int alpha = 0;
    rg_status st = RG_OK;
    while (i < n && !st) {
        uint32_t cp;
        size_t k = cp_at(s, n, i, &cp);
        if (rg_is_cjk(cp)) {
            if (wn) st = word_done(t, word, wn, alpha), wn = 0, alpha = 0;
            /* Traditional and Simplified forms of a word are one term */
            uint32_t f = rg_zh_simplified(cp);
            char cur[4];
            size_t cur_len = f != cp ? rg_utf8_encode(f, cur) : 0;
            if (!cur_len) memcpy(cur, s + i, cur_len = k < sizeof cur ? k : sizeof cur);
            if (cjk_run) {
                memcpy(pair, prev, prev_len);
                memcpy(pair + prev_len, cur, cur_len);
                st = st ? st : terms_push(t, rg_text_hash(pair, prev_len + cur_len));
            }
            cjk_run++;
            memcpy(prev, cur, prev_len = cur_len);
        } else {
            if (cjk_run == 1) st = terms_push(t, rg_text_hash(prev, prev_len));
            cjk_run = 0;
            int d = digit_value(cp);
            /* "1,500" and "3.5" stay one number */
            int joins = (cp == ',' || cp == '.') && wn && !alpha && i + k < n &&
                        digit_value((unsigned char)s[i + k]) >= 0;
            if (d >= 0 || joins || rg_is_word_char(cp)) {
                if (cp == ',') {
                    /* thousands separator: dropped */
                } else if (d >= 0) {
                    if (wn < TERM_WORD_MAX) word[wn++] = (char)('0' + d);
                } else {
                    char enc[4];
                    size_t e = rg_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc);
                    if (cp != '.') alpha = 1;
                    if (wn + e <= TERM_WORD_MAX) memcpy(word + wn, enc, e), wn += e;
                }
            } else if (wn) {
                st = word_done(t, word, wn, alpha);
                wn = 0;
                alpha = 0;
            }
        }
        i += k;
    }
    if (!st && cjk_run == 1) st = terms_push(t, rg_text_hash(prev, prev_len));
    if (!st && wn) st = word_done(t, word, wn, alpha);
    return st;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void rg_terms_seal(rg_terms *t)
{
    if (t->n) qsort(t->h, t->n, sizeof *t->h, cmp_u64);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++)
        if (w == 0 || t->h[w - 1] != t->h[i]) t->h[w++] = t->h[i];
    t->n = w;
    t->sorted = 1;
}

int rg_terms_has(const rg_terms *t, uint64_t h)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->h[mid] == h) return 1;
        if (t->h[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

size_t rg_terms_overlap(const rg_terms *q, const rg_terms *d)
{
    size_t c = 0;
    for (size_t i = 0; i < q->n; i++)
        c += (size_t)rg_terms_has(d, q->h[i]);
    return c;
}

/* ---- Facts ---- */

static int is_number_joiner(uint32_t cp)
{
    return cp == '.' || cp == ',' || cp == ':' || cp == '/' || cp == '-';
}

void rg_text_numbers(const char *s, size_t n, rg_number_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = cp_at(s, n, i, &cp);
        if (digit_value(cp) < 0) {
            i += k;
            continue;
        }
        char canon[NUMBER_MAX + 1];
        size_t cn = 0, start = i;
        for (;;) {
            int d = digit_value(cp);
            if (d >= 0) {
                if (cn < NUMBER_MAX) canon[cn++] = (char)('0' + d);
                i += k;
            } else if (is_number_joiner(cp)) {
                uint32_t next;
                size_t m = cp_at(s, n, i + k, &next);
                if (!m || digit_value(next) < 0) break;
                if (cp != ',' && cn < NUMBER_MAX) canon[cn++] = (char)cp;
                i += k;
            } else {
                break;
            }
            k = cp_at(s, n, i, &cp);
            if (!k) break;
        }
        canon[cn] = '\0';
        if (fn(ctx, canon, cn, (rg_span){start, i})) return;
    }
}

static uint32_t quote_closer(uint32_t cp)
{
    switch (cp) {
    case '"': return '"';
    case 0x201C: return 0x201D;
    case 0x300C: return 0x300D;
    case 0x300E: return 0x300F;
    default: return 0;
    }
}

void rg_text_quotes(const char *s, size_t n, rg_quote_fn fn, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = cp_at(s, n, i, &cp);
        uint32_t close = quote_closer(cp);
        i += k;
        if (!close) continue;
        size_t j = i, end = 0;
        while (j < n && j - i <= RG_QUOTE_MAX_BYTES * 2) {
            uint32_t c;
            size_t m = cp_at(s, n, j, &c);
            if (c == close) {
                end = j;
                break;
            }
            j += m;
        }
        if (!end) continue;
        rg_span q = {i, end};
        while (q.start < q.end && (s[q.start] == ' ' || s[q.start] == '\n')) q.start++;
        while (q.end > q.start && (s[q.end - 1] == ' ' || s[q.end - 1] == '\n')) q.end--;
        size_t len = q.end - q.start;
        if (len >= RG_QUOTE_MIN_BYTES && len <= RG_QUOTE_MAX_BYTES && fn(ctx, q)) return;
        k = cp_at(s, n, end, &cp);
        i = end + k;
    }
}

int rg_text_is_cjk(const char *s, size_t n)
{
    size_t cjk = 0, other = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        i += cp_at(s, n, i, &cp);
        if (rg_is_cjk(cp))
            cjk++;
        else if (rg_is_word_char(cp) && !(cp >= '0' && cp <= '9'))
            other++;
    }
    return cjk > 0 && cjk * 2 >= other;
}

long rg_text_find(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0) return 0;
    for (size_t i = 0; i + nn <= hn; i++) {
        const char *p = memchr(hay + i, needle[0], hn - nn + 1 - i);
        if (!p) return -1;
        i = (size_t)(p - hay);
        if (memcmp(p, needle, nn) == 0) return (long)i;
    }
    return -1;
}
