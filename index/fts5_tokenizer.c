/*
 * fts5_tokenizer.c — the "ragd" FTS5 tokenizer and rg_fts5_tokenizer, which runs
 * any FTS5 tokenizer pipeline ("porter ragd") outside SQL.
 *
 * Segmentation works on the raw input so that byte offsets point into it;
 * each token's text is then NFKC-normalised and case-folded on its own.
 * Documents arrive already NFKC'd from ingestion, queries do not, so the
 * same folding makes full-width "ＡＢＣ" in a query meet "abc" in a chunk.
 */
#include <limits.h>
#include <string.h>

#include <sqlite3.h>
#include <utf8proc.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "index/lexical.h"

/* Input bytes of one token that are normalised; the rest of a longer word
 * cannot reach the output, which is cut at RG_TOKEN_MAX_BYTES anyway. */
#define RG_NORM_IN_MAX (4 * RG_TOKEN_MAX_BYTES)
/* Code points of scratch for normalising: NFKC can expand a code point
 * many times (U+FDFA to 18), so the input is shortened when this is short. */
#define RG_NORM_CPS_MAX (4 * RG_NORM_IN_MAX)
/* Longest tokenize= spec and most words in it that rg_fts5_tokenizer_open takes. */
#define RG_SPEC_MAX_BYTES 256
#define RG_SPEC_MAX_ARGS  16

#define NORM_OPTIONS                                                                               \
    ((utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD))

typedef int (*xtoken_fn)(void *ctx, int tflags, const char *tok, int n, int start, int end);

/* One instance per FTS5 table (per connection); SQLite never runs two
 * xTokenize calls on one connection at once, so the scratch is safe. */
typedef struct ragd_tok {
    utf8proc_int32_t cps[RG_NORM_CPS_MAX]; /* normalisation scratch; output bytes too */
} ragd_tok;

/* A code point and where it lies in the input. */
typedef struct cp_at {
    uint32_t cp;
    size_t start, end; /* end == start when there is no (valid) code point */
} cp_at;

static cp_at decode_at(const char *s, size_t n, size_t i)
{
    cp_at c = {0xFFFD, i, i};
    if (i < n) {
        size_t len = rg_utf8_decode(s + i, n - i, &c.cp);
        c.end = i + len;
    }
    return c;
}

static int is_digit(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_ND;
}

static int is_mark(uint32_t cp)
{
    if (cp < 0x300) return 0;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

/* Characters of words of alphabetic scripts (CJK is segmented apart). */
static int is_word(uint32_t cp)
{
    return rg_is_word_char(cp) && !rg_is_cjk(cp);
}

static int is_letter(uint32_t cp)
{
    return is_word(cp) && !is_digit(cp);
}

/* ', the typographic ’ and the full-width ＇ (which NFKC folds to '). */
static int is_apostrophe(uint32_t cp)
{
    return cp == '\'' || cp == 0x2019 || cp == 0xFF07;
}

/* Inner separators of numbers; full-width forms fold to '.' and ','. */
static int is_number_sep(uint32_t cp)
{
    return cp == '.' || cp == ',' || cp == 0xFF0E || cp == 0xFF0C;
}

/* Code points that NFKC and case folding leave alone, so their bytes can be
 * copied: the common ideographs, kana and Hangul syllables. */
static int is_fold_stable(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3041 && cp <= 0x3096) ||
           (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0xAC00 && cp <= 0xD7A3);
}

/*
 * NFKC-normalises and case-folds s[0..n) into t's scratch; *out points at
 * the result, cut to RG_TOKEN_MAX_BYTES on a code point boundary. Returns
 * its length. s holds only whole, valid code points.
 */
static size_t fold(ragd_tok *t, const char *s, size_t n, int stable, const char **out)
{
    char *dst = (char *)t->cps;
    int ascii = 1;
    for (size_t i = 0; i < n && i < RG_TOKEN_MAX_BYTES && ascii; i++) {
        ascii = (unsigned char)s[i] < 0x80;
    }
    *out = dst;
    if (ascii || stable) {
        size_t len = n < RG_TOKEN_MAX_BYTES ? n : rg_utf8_floor(s, RG_TOKEN_MAX_BYTES);
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        return len;
    }
    size_t in = n < RG_NORM_IN_MAX ? n : rg_utf8_floor(s, RG_NORM_IN_MAX);
    utf8proc_ssize_t ncp;
    for (;;) {
        ncp = utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)in, t->cps,
                                        RG_NORM_CPS_MAX - 1, NORM_OPTIONS, NULL, NULL);
        if (ncp >= 0 && ncp < RG_NORM_CPS_MAX) break;
        if (ncp < 0 || in <= 1) return 0;
        in = rg_utf8_floor(s, in / 2);
    }
    utf8proc_ssize_t len = utf8proc_reencode(t->cps, ncp, NORM_OPTIONS);
    if (len <= 0) return 0;
    return rg_utf8_floor(dst, (size_t)len < RG_TOKEN_MAX_BYTES ? (size_t)len : RG_TOKEN_MAX_BYTES);
}

/*
 * Apostrophes inside words: U+2019 becomes ', French/Italian elisions are
 * dropped (l'amour -> amour, qu'il -> il) and so is the English possessive
 * (dog's -> dog), while contractions stay one token (don't).
 */
static size_t fix_apostrophes(char *w, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && memcmp(w + i, "\xe2\x80\x99", 3) == 0) {
            w[k++] = '\'';
            i += 2;
        } else {
            w[k++] = w[i];
        }
    }
    const char *q = memchr(w, '\'', k);
    if (q) {
        size_t pre = (size_t)(q - w);
        if ((pre == 1 && strchr("cdjlmnst", w[0])) || (pre == 2 && memcmp(w, "qu", 2) == 0)) {
            memmove(w, q + 1, k - pre - 1);
            k -= pre + 1;
        }
    }
    if (k >= 3 && w[k - 2] == '\'' && w[k - 1] == 's') k -= 2;
    return k;
}

/* Scans a word starting at c; returns its end and whether it held an
 * apostrophe. Inner ' joins letters, inner . and , join digits. */
static size_t scan_word(const char *s, size_t n, cp_at c, int *apos)
{
    uint32_t prev = c.cp;
    size_t end = c.end;
    *apos = 0;
    for (;;) {
        cp_at d = decode_at(s, n, end);
        if (d.end == d.start) break;
        if (is_word(d.cp)) {
            prev = d.cp;
            end = d.end;
            continue;
        }
        int joins_letters = is_apostrophe(d.cp) && is_letter(prev);
        int joins_digits = is_number_sep(d.cp) && is_digit(prev);
        if (!joins_letters && !joins_digits) break;
        cp_at e = decode_at(s, n, d.end);
        if (e.end == e.start || !(joins_letters ? is_letter(e.cp) : is_digit(e.cp))) break;
        *apos |= joins_letters;
        prev = e.cp;
        end = e.end;
    }
    return end;
}

typedef struct emitter {
    ragd_tok *t;
    const char *s;
    void *ctx;
    xtoken_fn x_token;
} emitter;

/* Folds s[start..end) and hands it to FTS5; empty results are dropped.
 * Returns the SQLite code of xToken and whether a token was sent. */
static int emit(emitter *em, size_t start, size_t end, int stable, int colocated, int apos,
                int *sent)
{
    const char *tok;
    size_t len = fold(em->t, em->s + start, end - start, stable, &tok);
    if (apos) len = fix_apostrophes((char *)tok, len);
    *sent = len > 0;
    if (!len) return SQLITE_OK;
    return em->x_token(em->ctx, colocated ? FTS5_TOKEN_COLOCATED : 0, tok, (int)len, (int)start,
                       (int)end);
}

/* A CJK unit: one CJK code point with the marks after it (ｶﾞ is one unit). */
static cp_at cjk_unit(const char *s, size_t n, cp_at c)
{
    for (;;) {
        cp_at d = decode_at(s, n, c.end);
        if (d.end == d.start || !(is_mark(d.cp) || d.cp == 0xFF9E || d.cp == 0xFF9F)) break;
        c.end = d.end;
        c.cp = 0; /* no longer a single fold-stable code point */
    }
    return c;
}

/*
 * Chinese interrogatives and question particles (both scripts). A query's
 * bigram holding one ("是什", "什么", "有幾", "幾天") asks rather than
 * says: statements, which is what documents hold, rarely contain it, so
 * as a query term it matches nothing and, unseen, weighs most in the
 * query's ideal score (lexical.h), which made a short answerable question
 * look uncovered. Queries leave such bigrams out; documents keep them.
 */
static int is_interrogative(uint32_t cp)
{
    static const uint32_t q[] = {0x4EC0 /* 什 */, 0x4E48 /* 么 */, 0x9EBC /* 麼 */, 0x54EA /* 哪 */,
                                 0x51E0 /* 几 */, 0x5E7E /* 幾 */, 0x8C01 /* 谁 */, 0x8AB0 /* 誰 */,
                                 0x5417 /* 吗 */, 0x55CE /* 嗎 */, 0x5462 /* 呢 */, 0x600E /* 怎 */,
                                 0x751A /* 甚 */, 0x5565 /* 啥 */};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if (cp == q[i]) return 1;
    return 0;
}

/*
 * A run of CJK units starting at c. Documents get each unit as a unigram
 * and the bigram of it and the next unit colocated with it; queries get the
 * bigrams alone (a unigram for a one-unit run), which matches exactly the
 * documents holding those bigrams at consecutive positions, except bigrams
 * with an interrogative (is_interrogative). Returns the end of the run in
 * *run_end.
 */
static int emit_cjk_run(emitter *em, size_t n, cp_at c, int query, size_t *run_end)
{
    cp_at cur = cjk_unit(em->s, n, c);
    int rc = SQLITE_OK, sent = 0, first = 1;
    for (;;) {
        cp_at next = decode_at(em->s, n, cur.end);
        int more = next.end > next.start && rg_is_cjk(next.cp);
        if (more) next = cjk_unit(em->s, n, next);
        if (!query || (!more && first)) {
            rc = emit(em, cur.start, cur.end, is_fold_stable(cur.cp), 0, 0, &sent);
            if (rc != SQLITE_OK) break;
        }
        if (more && !(query && (is_interrogative(cur.cp) || is_interrogative(next.cp)))) {
            int stable = is_fold_stable(cur.cp) && is_fold_stable(next.cp);
            rc = emit(em, cur.start, next.end, stable, !query && sent, 0, &sent);
            if (rc != SQLITE_OK) break;
        }
        first = 0;
        if (!more) break;
        cur = next;
    }
    *run_end = cur.end;
    return rc;
}

static int ragd_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int ntext,
                         xtoken_fn x_token)
{
    if (ntext <= 0 || !text) return SQLITE_OK;
    emitter em = {(ragd_tok *)p, text, ctx, x_token};
    size_t n = (size_t)ntext, i = 0;
    int query = (flags & FTS5_TOKENIZE_QUERY) != 0;
    int rc = SQLITE_OK;
    while (i < n && rc == SQLITE_OK) {
        cp_at c = decode_at(text, n, i);
        if (c.end == c.start) { /* invalid byte: a separator */
            i++;
        } else if (rg_is_cjk(c.cp)) {
            rc = emit_cjk_run(&em, n, c, query, &i);
        } else if (is_word(c.cp)) {
            int apos, sent;
            size_t end = scan_word(text, n, c, &apos);
            rc = emit(&em, c.start, end, 0, 0, apos, &sent);
            i = end;
        } else {
            i = c.end;
        }
    }
    return rc;
}

static int ragd_create(void *ud, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)ud;
    (void)argv;
    *out = NULL;
    if (argc != 0) return SQLITE_ERROR; /* ragd takes no options */
    ragd_tok *t = rg_malloc(sizeof *t);
    if (!t) return SQLITE_NOMEM;
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void ragd_delete(Fts5Tokenizer *p)
{
    rg_free(p);
}

static rg_status fts5_api_get(sqlite3 *db, fts5_api **out, rg_error *err)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (!db) return rg_fail(err, RG_EINVAL, "fts5: no database");
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return rg_fail(err, RG_EUNSUPPORTED, "fts5: not available: %s", sqlite3_errmsg(db));
    }
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || !api || api->iVersion < 2) {
        return rg_fail(err, RG_EUNSUPPORTED, "fts5: no fts5_api (version 2) on this connection");
    }
    *out = api;
    return RG_OK;
}

rg_status rg_fts5_register(sqlite3 *db, rg_error *err)
{
    static fts5_tokenizer methods = {ragd_create, ragd_delete, ragd_tokenize};
    fts5_api *api;
    rg_status st = fts5_api_get(db, &api, err);
    if (st != RG_OK) return st;
    int rc = api->xCreateTokenizer(api, RG_FTS5_TOKENIZER, NULL, &methods, NULL);
    if (rc != SQLITE_OK) {
        return rg_fail(err, rc == SQLITE_NOMEM ? RG_ENOMEM : RG_EDB,
                       "fts5: registering tokenizer \"%s\": %s", RG_FTS5_TOKENIZER,
                       sqlite3_errstr(rc));
    }
    return RG_OK;
}

struct rg_fts5_tokenizer {
    fts5_tokenizer impl; /* methods of the outermost tokenizer of the spec */
    Fts5Tokenizer *inst;
};

/* Splits spec into words in buf (NUL-separated); quotes around a word, as
 * FTS5 allows ('porter' "ragd"), are dropped. Returns the word count. */
static int split_spec(char *buf, const char **argv)
{
    int argc = 0;
    char *p = buf;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p) break;
        if (argc == RG_SPEC_MAX_ARGS) return -1;
        char q = (*p == '\'' || *p == '"') ? *p++ : 0;
        argv[argc++] = p;
        while (*p && (q ? *p != q : !(*p == ' ' || *p == '\t' || *p == '\n')))
            p++;
        if (*p) *p++ = '\0';
    }
    return argc;
}

rg_status rg_fts5_tokenizer_open(sqlite3 *db, const char *spec, rg_fts5_tokenizer **out,
                                 rg_error *err)
{
    char buf[RG_SPEC_MAX_BYTES];
    const char *argv[RG_SPEC_MAX_ARGS];
    if (!out) return rg_fail(err, RG_EINVAL, "tokenizer: no output handle");
    *out = NULL;
    if (!spec) return rg_fail(err, RG_EINVAL, "tokenizer: no spec");
    size_t len = strlen(spec);
    if (len >= sizeof buf)
        return rg_fail(err, RG_ELIMIT, "tokenizer: spec longer than %d bytes",
                       RG_SPEC_MAX_BYTES - 1);
    memcpy(buf, spec, len + 1);
    int argc = split_spec(buf, argv);
    if (argc <= 0) return rg_fail(err, RG_EINVAL, "tokenizer: bad spec \"%s\"", spec);

    fts5_api *api;
    rg_status st = fts5_api_get(db, &api, err);
    if (st != RG_OK) return st;
    rg_fts5_tokenizer *t = rg_calloc(1, sizeof *t);
    if (!t) return rg_fail(err, RG_ENOMEM, "tokenizer: out of memory");
    void *ud = NULL;
    int rc = api->xFindTokenizer(api, argv[0], &ud, &t->impl);
    if (rc != SQLITE_OK) {
        rg_free(t);
        return rg_fail(err, RG_ENOTFOUND, "tokenizer: \"%s\" is not registered", argv[0]);
    }
    rc = t->impl.xCreate(ud, argv + 1, argc - 1, &t->inst);
    if (rc != SQLITE_OK) {
        rg_free(t);
        return rg_fail(err, rc == SQLITE_NOMEM ? RG_ENOMEM : RG_EINVAL,
                       "tokenizer: cannot create \"%s\": %s", spec, sqlite3_errstr(rc));
    }
    *out = t;
    return RG_OK;
}

typedef struct run_ctx {
    rg_fts5_token_fn fn;
    void *ctx;
    int stopped;
} run_ctx;

static int run_token(void *p, int tflags, const char *tok, int n, int start, int end)
{
    run_ctx *r = p;
    if (n < 0 || start < 0 || end < start) return SQLITE_OK;
    if (r->fn(r->ctx, tok, (size_t)n, (size_t)start, (size_t)end,
              (tflags & FTS5_TOKEN_COLOCATED) != 0)) {
        r->stopped = 1;
        return SQLITE_DONE; /* any non-OK code makes FTS5 tokenizers stop */
    }
    return SQLITE_OK;
}

rg_status rg_fts5_tokenizer_run(rg_fts5_tokenizer *t, const char *text, size_t n, int query,
                                rg_fts5_token_fn fn, void *ctx, rg_error *err)
{
    if (!t || !fn || (!text && n)) return rg_fail(err, RG_EINVAL, "tokenizer: bad arguments");
    if (n > INT_MAX) return rg_fail(err, RG_ELIMIT, "tokenizer: text of %zu bytes too long", n);
    if (n == 0) return RG_OK;
    run_ctx r = {fn, ctx, 0};
    int flags = query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT;
    int rc = t->impl.xTokenize(t->inst, &r, flags, text, (int)n, run_token);
    if (rc == SQLITE_OK || (r.stopped && rc == SQLITE_DONE)) return RG_OK;
    return rg_fail(err, rc == SQLITE_NOMEM ? RG_ENOMEM : RG_EINTERNAL, "tokenizer: %s",
                   sqlite3_errstr(rc));
}

void rg_fts5_tokenizer_close(rg_fts5_tokenizer *t)
{
    if (!t) return;
    if (t->inst) t->impl.xDelete(t->inst);
    rg_free(t);
}
