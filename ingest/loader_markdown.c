/*
 * loader_markdown.c — Markdown to blocks.
 *
 * A line-by-line block parser for the CommonMark constructs that carry
 * structure (headings, code, lists, quotes, GFM tables), followed by an
 * inline pass that removes markup and keeps the words a reader sees. It is
 * not a full CommonMark implementation: what it gets wrong degrades into
 * slightly odd paragraph text, never into lost text or an error.
 */
#include "ingest/loader.h"

#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"

/* No single paragraph, code block or table row is larger than a file. */
#define MD_MAX_BLOCK_BYTES RG_LOADER_MAX_FILE_BYTES
/* Links nest at most this deep ([![img](src)](url) is 2). */
#define MD_LINK_DEPTH 16
/* How far ahead a '[' looks for its "](url)"; keeps many '[' linear. */
#define MD_LINK_SCAN_MAX 4096
/* How far ahead a '<' looks for the '>' of a tag or autolink. */
#define MD_TAG_SCAN_MAX 1024
/* Longest entity name or number between '&' and ';'. */
#define MD_ENTITY_MAX 10
#define MD_TAB_WIDTH  4

typedef struct delim {
    size_t pos; /* in the inline output */
    size_t len;
    long below; /* next open delimiter of the same character, or -1 */
    char ch;
    unsigned char can_open, can_close, removed;
} delim;

typedef struct md {
    rg_doc_builder *b;
    rg_error *err;
    rg_buf para; /* lines of the open paragraph or list item */
    rg_block_kind para_kind;
    size_t para_lines;
    rg_buf code; /* lines of the open code block */
    int in_fence, in_indented_code, in_table, in_list, in_comment, prev_blank;
    char fence_ch;
    size_t fence_len, fence_indent, fence_quote, quote_depth;
    rg_buf inl; /* inline output */
    rg_buf row; /* a table row being joined */
    delim *delims;
    size_t n_delims, cap_delims;
} md;

/* --- small helpers -------------------------------------------------------- */

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_sp(s[i])) return 0;
    return 1;
}

static int is_ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Columns of leading white space (tabs to the next multiple of 4) and its bytes. */
static size_t indent_of(const char *s, size_t n, size_t *bytes)
{
    size_t col = 0, i = 0;
    for (; i < n && is_sp(s[i]); i++)
        col = s[i] == '\t' ? col + MD_TAB_WIDTH - col % MD_TAB_WIDTH : col + 1;
    *bytes = i;
    return col;
}

/* Bytes to skip to remove up to cols columns of indentation. */
static size_t skip_cols(const char *s, size_t n, size_t cols)
{
    size_t col = 0, i = 0;
    while (i < n && col < cols && is_sp(s[i])) {
        col = s[i] == '\t' ? col + MD_TAB_WIDTH - col % MD_TAB_WIDTH : col + 1;
        i++;
    }
    return i;
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_sp(**s))
        (*s)++, (*n)--;
    while (*n && is_sp((*s)[*n - 1]))
        (*n)--;
}

static const char *find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

static rg_status buf_err(md *m, rg_status st)
{
    if (st == RG_ELIMIT)
        return rg_fail(m->err, st, "a Markdown block exceeds %u bytes", MD_MAX_BLOCK_BYTES);
    return rg_fail(m->err, st, "out of memory reading Markdown");
}

/* --- inline markup ------------------------------------------------------------ */

static rg_status push_delim(md *m, char ch, size_t len, int can_open, int can_close)
{
    if (m->n_delims == m->cap_delims) {
        size_t cap = m->cap_delims ? m->cap_delims * 2 : 32;
        delim *p = rg_realloc(m->delims, cap * sizeof *p);
        if (!p) return RG_ENOMEM;
        m->delims = p;
        m->cap_delims = cap;
    }
    m->delims[m->n_delims++] =
        (delim){m->inl.len, len, -1, ch, (unsigned char)can_open, (unsigned char)can_close, 0};
    return RG_OK;
}

/* A run of * _ ~ at s[i..i+r): records whether it may open or close emphasis. */
static rg_status emphasis_run(md *m, const char *s, size_t n, size_t i, size_t r)
{
    unsigned char prev = i ? (unsigned char)s[i - 1] : ' ';
    unsigned char next = i + r < n ? (unsigned char)s[i + r] : ' ';
    int prev_ws = prev == ' ' || prev == '\t' || prev == '\n',
        next_ws = next == ' ' || next == '\t' || next == '\n';
    int left = !next_ws && (!is_ascii_punct(next) || prev_ws || is_ascii_punct(prev));
    int right = !prev_ws && (!is_ascii_punct(prev) || next_ws || is_ascii_punct(next));
    int open = left, close = right;
    if (s[i] == '_') { /* snake_case stays */
        open = left && (!right || is_ascii_punct(prev));
        close = right && (!left || is_ascii_punct(next));
    }
    rg_status st = (open || close) ? push_delim(m, s[i], r, open, close) : RG_OK;
    return st ? st : rg_buf_append(&m->inl, s + i, r);
}

/* Pairs openers with closers (one stack per character) and drops the pairs. */
static void resolve_emphasis(md *m)
{
    static const char chars[] = "*_~";
    long top[3] = {-1, -1, -1};
    for (size_t i = 0; i < m->n_delims; i++) {
        delim *d = &m->delims[i];
        int c = (int)(strchr(chars, d->ch) - chars);
        if (d->can_close && top[c] >= 0) {
            delim *o = &m->delims[top[c]];
            o->removed = d->removed = 1;
            top[c] = o->below;
        } else if (d->can_open) {
            d->below = top[c];
            top[c] = (long)i;
        }
    }
    size_t w = 0, r = 0;
    for (size_t i = 0; i < m->n_delims; i++) {
        const delim *d = &m->delims[i];
        if (!d->removed) continue;
        memmove(m->inl.data + w, m->inl.data + r, d->pos - r);
        w += d->pos - r;
        r = d->pos + d->len;
    }
    if (m->inl.len) {
        memmove(m->inl.data + w, m->inl.data + r, m->inl.len - r);
        m->inl.len = w + (m->inl.len - r);
        m->inl.data[m->inl.len] = '\0';
    }
}

/* Matching close of the bracket or parenthesis at s[i], or 0. */
static size_t match_close(const char *s, size_t n, size_t i, char open, char close)
{
    size_t depth = 0, lim = n - i > MD_LINK_SCAN_MAX ? i + MD_LINK_SCAN_MAX : n;
    for (size_t j = i; j < lim; j++) {
        if (s[j] == '\\') {
            j++;
        } else if (s[j] == open) {
            depth++;
        } else if (s[j] == close && --depth == 0) {
            return j;
        }
    }
    return 0;
}

/*
 * For the '[' at s[i]: if "[text](url)" or "[text][ref]" follows, stores
 * where the text ends and where to resume after the link; returns 1.
 */
static int find_link(const char *s, size_t n, size_t i, size_t *text_end, size_t *resume)
{
    size_t j = match_close(s, n, i, '[', ']');
    if (!j || j + 1 >= n) return 0;
    size_t k = 0;
    if (s[j + 1] == '(') k = match_close(s, n, j + 1, '(', ')');
    if (s[j + 1] == '[') k = match_close(s, n, j + 1, '[', ']');
    if (!k) return 0;
    *text_end = j;
    *resume = k + 1;
    return 1;
}

/* Code span at s[i] (a run of r backticks): its end, or 0 if it never closes. */
static size_t code_span(md *m, const char *s, size_t n, size_t i, size_t r, rg_status *st)
{
    for (size_t j = i + r; j < n; j++) {
        if (s[j] != '`') continue;
        size_t k = j;
        while (k < n && s[k] == '`')
            k++;
        if (k - j == r) {
            const char *c = s + i + r;
            size_t len = j - (i + r);
            if (len >= 2 && c[0] == ' ' && c[len - 1] == ' ') c++, len -= 2;
            *st = rg_buf_append(&m->inl, c, len);
            return k;
        }
        j = k - 1;
    }
    return 0;
}

/* '<' at s[i]: a comment, tag or autolink is consumed; returns its end or 0. */
static size_t angle(md *m, const char *s, size_t n, size_t i, rg_status *st)
{
    if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
        const char *e = find(s + i + 4, n - i - 4, "-->");
        return e ? (size_t)(e - s) + 3 : n; /* an open comment hides the rest */
    }
    size_t lim = n - i > MD_TAG_SCAN_MAX ? i + MD_TAG_SCAN_MAX : n, j = i + 1;
    int url = 0;
    while (j < lim && s[j] != '>' && s[j] != '<' && !is_sp(s[j]) && s[j] != '\n') {
        if (s[j] == ':' || s[j] == '@') url = 1;
        j++;
    }
    if (url && j < lim && s[j] == '>' && is_alpha((unsigned char)s[i + 1])) {
        *st = rg_buf_append(&m->inl, s + i + 1, j - i - 1); /* autolink: keep the address */
        return j + 1;
    }
    j = i + 1;
    if (j < n && s[j] == '/') j++;
    if (j >= n || !is_alpha((unsigned char)s[j])) return 0;
    while (j < n && (is_alpha((unsigned char)s[j]) || is_digit((unsigned char)s[j]) || s[j] == '-'))
        j++;
    if (j < n && !is_sp(s[j]) && s[j] != '\n' && s[j] != '/' && s[j] != '>') return 0;
    while (j < lim && s[j] != '>' && s[j] != '<')
        j++;
    return j < lim && s[j] == '>' ? j + 1 : 0;
}

/* '&' at s[i]: a character reference is decoded; returns its end or 0. */
static size_t entity(md *m, const char *s, size_t n, size_t i, rg_status *st)
{
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"amp", '&'},   {"lt", '<'},       {"gt", '>'},
                 {"quot", '"'},  {"apos", '\''},    {"nbsp", 0xA0},
                 {"copy", 0xA9}, {"mdash", 0x2014}, {"ndash", 0x2013}};
    size_t j = i + 1;
    while (j < n && j - i <= MD_ENTITY_MAX && s[j] != ';' &&
           (is_alpha((unsigned char)s[j]) || is_digit((unsigned char)s[j]) || s[j] == '#'))
        j++;
    if (j >= n || s[j] != ';' || j == i + 1) return 0;
    const char *e = s + i + 1;
    size_t len = j - i - 1;
    uint32_t cp = 0;
    if (e[0] == '#') {
        int hex = len > 1 && (e[1] == 'x' || e[1] == 'X');
        if (len < (hex ? 3u : 2u)) return 0; /* "&#;" and "&#x;" are text */
        for (size_t k = hex ? 2 : 1; k < len; k++) {
            unsigned char c = (unsigned char)e[k];
            unsigned v = is_digit(c)                               ? c - '0'
                         : hex && is_alpha(c) && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                                   : 99;
            if (v == 99 || cp > 0x10FFFF) return 0;
            cp = cp * (hex ? 16 : 10) + v;
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    } else {
        for (size_t k = 0; k < sizeof named / sizeof named[0] && !cp; k++)
            if (strlen(named[k].name) == len && memcmp(named[k].name, e, len) == 0)
                cp = named[k].cp;
        if (!cp) return 0;
    }
    char out[4];
    *st = rg_buf_append(&m->inl, out, rg_utf8_encode(cp, out));
    return j + 1;
}

/* Removes inline markup from s[0..n) into m->inl. */
static rg_status md_inline(md *m, const char *s, size_t n)
{
    struct {
        size_t text_end, resume;
    } links[MD_LINK_DEPTH];
    size_t depth = 0, i = 0;
    rg_status st = RG_OK;
    rg_buf_reset(&m->inl);
    m->n_delims = 0;
    while (i < n && st == RG_OK) {
        if (depth && i >= links[depth - 1].text_end) { /* skip "](url)" */
            if (i < links[depth - 1].resume) i = links[depth - 1].resume;
            depth--;
            continue;
        }
        char c = s[i];
        size_t end = 0, r = 1;
        if (c == '\\' && i + 1 < n && is_ascii_punct((unsigned char)s[i + 1])) {
            st = rg_buf_putc(&m->inl, s[i + 1]);
            end = i + 2;
        } else if (c == '`') {
            while (i + r < n && s[i + r] == '`')
                r++;
            end = code_span(m, s, n, i, r, &st);
            if (!end) {
                st = rg_buf_append(&m->inl, s + i, r);
                end = i + r;
            }
        } else if ((c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '[')) &&
                   depth < MD_LINK_DEPTH) {
            size_t at = c == '!' ? i + 1 : i;
            if (find_link(s, n, at, &links[depth].text_end, &links[depth].resume)) {
                depth++;
                end = at + 1;
            }
        } else if (c == '<') {
            end = angle(m, s, n, i, &st);
        } else if (c == '&') {
            end = entity(m, s, n, i, &st);
        } else if (c == '*' || c == '_' || c == '~') {
            while (i + r < n && s[i + r] == c)
                r++;
            st = emphasis_run(m, s, n, i, r);
            end = i + r;
        }
        if (!end) {
            st = rg_buf_putc(&m->inl, c);
            end = i + 1;
        }
        i = end;
    }
    if (st) return buf_err(m, st);
    resolve_emphasis(m);
    return RG_OK;
}

static rg_status emit_inline(md *m, rg_block_kind kind, int level, const char *s, size_t n)
{
    rg_status st = md_inline(m, s, n);
    return st ? st
              : rg_doc_add(m->b, kind, level, m->inl.data ? m->inl.data : "", m->inl.len, m->err);
}

/* --- blocks ------------------------------------------------------------------ */

static rg_status flush_para(md *m)
{
    rg_status st = RG_OK;
    if (m->para_lines) st = emit_inline(m, m->para_kind, 0, m->para.data, m->para.len);
    rg_buf_reset(&m->para);
    m->para_lines = 0;
    m->para_kind = RG_BLOCK_PARAGRAPH;
    return st;
}

static rg_status flush_code(md *m)
{
    rg_status st = RG_OK;
    if (m->code.len) st = rg_doc_add(m->b, RG_BLOCK_CODE, 0, m->code.data, m->code.len, m->err);
    rg_buf_reset(&m->code);
    m->in_fence = m->in_indented_code = 0;
    return st;
}

/* Ends whatever block is open (not a fence: only its closing line ends it). */
static rg_status flush_all(md *m)
{
    rg_status st = flush_para(m);
    if (st == RG_OK && m->in_indented_code) st = flush_code(m);
    m->in_table = 0;
    return st;
}

static rg_status add_line(md *m, rg_buf *to, const char *s, size_t n)
{
    rg_status st = RG_OK;
    if (to == &m->para && m->para_lines) st = rg_buf_putc(to, '\n');
    if (st == RG_OK) st = rg_buf_append(to, s, n);
    if (st == RG_OK && to == &m->code) st = rg_buf_putc(to, '\n');
    if (st) return buf_err(m, st);
    if (to == &m->para) m->para_lines++;
    return RG_OK;
}

/* Strips up to max_depth '>' quote markers; returns how many were removed. */
static size_t strip_quotes(const char **s, size_t *n, size_t max_depth)
{
    size_t depth = 0;
    while (depth < max_depth) {
        size_t ind;
        if (indent_of(*s, *n, &ind) > 3 || ind >= *n || (*s)[ind] != '>') break;
        *s += ind + 1;
        *n -= ind + 1;
        if (*n && is_sp(**s)) (*s)++, (*n)--;
        depth++;
    }
    return depth;
}

/* A fence of 3+ ` or ~ at t; sets *ch and *len. */
static int is_fence(const char *t, size_t n, char *ch, size_t *len)
{
    if (n < 3 || (t[0] != '`' && t[0] != '~')) return 0;
    size_t r = 0;
    while (r < n && t[r] == t[0])
        r++;
    if (r < 3) return 0;
    if (t[0] == '`' && memchr(t + r, '`', n - r)) return 0; /* `` `code` `` is inline */
    *ch = t[0];
    *len = r;
    return 1;
}

static rg_status fence_line(md *m, const char *line, size_t n)
{
    size_t ind;
    indent_of(line, n, &ind);
    char ch;
    size_t len;
    if (is_fence(line + ind, n - ind, &ch, &len) && ch == m->fence_ch && len >= m->fence_len &&
        is_blank(line + ind + len, n - ind - len))
        return flush_code(m);
    size_t skip = skip_cols(line, n, m->fence_indent);
    return add_line(m, &m->code, line + skip, n - skip);
}

/* "#".."######" then a space or the end: returns the level, else 0. */
static int atx_level(const char *t, size_t n)
{
    int level = 0;
    while ((size_t)level < n && t[level] == '#')
        level++;
    if (level < 1 || level > RG_HEADING_MAX_LEVEL) return 0;
    return (size_t)level == n || is_sp(t[level]) ? level : 0;
}

static rg_status atx_heading(md *m, int level, const char *t, size_t n)
{
    t += level, n -= (size_t)level;
    trim(&t, &n);
    size_t k = n; /* a closing run of '#' goes if a space precedes it */
    while (k && t[k - 1] == '#')
        k--;
    if (k == 0 || is_sp(t[k - 1])) n = k;
    trim(&t, &n);
    return emit_inline(m, RG_BLOCK_HEADING, level, t, n);
}

/* A line of only c (at least min of them), spaces allowed between if spaced. */
static int is_rule_of(const char *t, size_t n, char c, size_t min, int spaced)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == c) {
            count++;
        } else if (!is_sp(t[i]) || (!spaced && count && !is_blank(t + i, n - i))) {
            return 0;
        }
    }
    return count >= min;
}

static int is_thematic_break(const char *t, size_t n)
{
    return is_rule_of(t, n, '-', 3, 1) || is_rule_of(t, n, '*', 3, 1) ||
           is_rule_of(t, n, '_', 3, 1);
}

/*
 * A list marker at t: "-", "*", "+" or "1." / "1)" then a space or the end.
 * Returns the bytes of marker and its space, 0 if none; *number gets the
 * ordinal (0 for bullets).
 */
static size_t list_marker(const char *t, size_t n, long *number)
{
    size_t i = 0;
    *number = 0;
    if (n && (t[0] == '-' || t[0] == '*' || t[0] == '+')) {
        i = 1;
    } else {
        while (i < n && i < 9 && is_digit((unsigned char)t[i]))
            *number = *number * 10 + (t[i++] - '0');
        if (i == 0 || i >= n || (t[i] != '.' && t[i] != ')')) return 0;
        i++;
    }
    if (i < n && !is_sp(t[i])) return 0;
    return i < n ? i + 1 : i;
}

/* A GFM delimiter row: cells of -, with optional ':' at either end, and a '|'. */
static int is_delimiter_row(const char *t, size_t n)
{
    int pipe = 0, dash = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '|')
            pipe = 1;
        else if (c == '-')
            dash = 1;
        else if (c != ':' && !is_sp(c))
            return 0;
    }
    return pipe && dash;
}

/* Emits a table row: cells split on unescaped '|' outside code, joined " | ". */
static rg_status table_row(md *m, const char *t, size_t n)
{
    trim(&t, &n);
    if (n && t[0] == '|') t++, n--;
    if (n && t[n - 1] == '|' && (n < 2 || t[n - 2] != '\\')) n--;
    rg_buf_reset(&m->row);
    size_t cell = 0;
    int in_code = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && t[i] == '\\') {
            i++;
            continue;
        }
        if (i < n && t[i] == '`') in_code = !in_code;
        if (i < n && (t[i] != '|' || in_code)) continue;
        const char *c = t + cell;
        size_t len = i - cell;
        trim(&c, &len);
        rg_status st = md_inline(m, c, len);
        if (st == RG_OK && cell) st = rg_buf_append(&m->row, " | ", 3);
        if (st == RG_OK) st = rg_buf_append(&m->row, rg_buf_str(&m->inl), m->inl.len);
        if (st) return st == RG_ENOMEM || st == RG_ELIMIT ? buf_err(m, st) : st;
        cell = i + 1;
    }
    return rg_doc_add(m->b, RG_BLOCK_TABLE_ROW, 0, rg_buf_str(&m->row), m->row.len, m->err);
}

/* "[label]: destination" defines a link target; it has no text of its own. */
static int is_link_definition(const char *t, size_t n)
{
    if (!n || t[0] != '[') return 0;
    size_t j = match_close(t, n, 0, '[', ']');
    return j && j + 1 < n && t[j + 1] == ':';
}

/* A line that is not inside a fence or comment, quote markers removed. */
static rg_status block_line(md *m, const char *line, size_t n)
{
    size_t ind_bytes, indent = indent_of(line, n, &ind_bytes);
    const char *t = line + ind_bytes;
    size_t tn = n - ind_bytes;
    rg_status st = RG_OK;
    if (tn == 0) { /* blank */
        if (m->in_indented_code) return add_line(m, &m->code, "", 0);
        st = flush_para(m);
        m->in_table = 0;
        m->prev_blank = 1;
        return st;
    }
    /* a line back at the margin after a blank line is outside any list */
    if (m->prev_blank && indent == 0) m->in_list = 0;
    m->prev_blank = 0;
    if (m->in_indented_code) {
        if (indent >= 4) {
            size_t skip = skip_cols(line, n, 4);
            return add_line(m, &m->code, line + skip, n - skip);
        }
        if ((st = flush_code(m))) return st;
    }
    if (indent >= 4 && !m->para_lines && !m->in_list && !m->in_table) {
        size_t skip = skip_cols(line, n, 4);
        m->in_indented_code = 1;
        return add_line(m, &m->code, line + skip, n - skip);
    }
    if (indent >= 4 && m->para_lines) return add_line(m, &m->para, t, tn); /* continuation */
    char ch;
    size_t flen;
    if ((indent <= 3 || m->in_list) && is_fence(t, tn, &ch, &flen)) {
        if ((st = flush_all(m))) return st;
        if (indent == 0) m->in_list = 0;
        m->in_fence = 1;
        m->fence_ch = ch;
        m->fence_len = flen;
        m->fence_indent = indent;
        m->fence_quote = m->quote_depth;
        return RG_OK;
    }
    int level = indent <= 3 ? atx_level(t, tn) : 0;
    if (level) {
        m->in_list = 0;
        if ((st = flush_all(m))) return st;
        return atx_heading(m, level, t, tn);
    }
    if (indent <= 3 && m->para_lines && m->para_kind == RG_BLOCK_PARAGRAPH &&
        (is_rule_of(t, tn, '=', 1, 0) || is_rule_of(t, tn, '-', 1, 0))) {
        st = emit_inline(m, RG_BLOCK_HEADING, t[0] == '=' ? 1 : 2, m->para.data, m->para.len);
        rg_buf_reset(&m->para);
        m->para_lines = 0;
        return st;
    }
    if (indent <= 3 && is_thematic_break(t, tn)) {
        m->in_list = 0;
        return flush_all(m);
    }
    if (m->in_table) {
        if (memchr(t, '|', tn)) return table_row(m, t, tn);
        m->in_table = 0;
    }
    if (m->para_lines == 1 && m->para_kind == RG_BLOCK_PARAGRAPH && is_delimiter_row(t, tn) &&
        memchr(m->para.data, '|', m->para.len)) {
        m->in_table = 1;
        st = table_row(m, m->para.data, m->para.len);
        rg_buf_reset(&m->para);
        m->para_lines = 0;
        return st;
    }
    if (indent <= 3 && !m->para_lines && is_link_definition(t, tn)) return RG_OK;
    long number;
    size_t mk = (indent <= 3 || m->in_list) ? list_marker(t, tn, &number) : 0;
    /* only "1." may interrupt a paragraph: "in 2019. we" is not a list */
    if (mk && m->para_lines && m->para_kind == RG_BLOCK_PARAGRAPH && number > 1) mk = 0;
    if (mk) {
        if ((st = flush_all(m))) return st;
        m->in_list = 1;
        m->para_kind = RG_BLOCK_LIST_ITEM;
        t += mk, tn -= mk;
        if (tn >= 4 && t[0] == '[' && (t[1] == ' ' || t[1] == 'x' || t[1] == 'X') && t[2] == ']' &&
            is_sp(t[3]))
            t += 4, tn -= 4; /* task list box */
        return add_line(m, &m->para, t, tn);
    }
    return add_line(m, &m->para, t, tn);
}

/* Handles comments spanning lines, then quotes, fences and the rest. */
static rg_status md_line(md *m, const char *line, size_t n)
{
    for (;;) {
        if (m->in_comment) {
            const char *e = find(line, n, "-->");
            if (!e) return RG_OK;
            m->in_comment = 0;
            n -= (size_t)(e + 3 - line);
            line = e + 3;
            if (is_blank(line, n)) return RG_OK;
        }
        size_t depth = strip_quotes(&line, &n, m->in_fence ? m->fence_quote : (size_t)-1);
        if (m->in_fence) return fence_line(m, line, n);
        if (depth != m->quote_depth) {
            rg_status st = flush_all(m);
            if (st) return st;
            m->quote_depth = depth;
        }
        size_t ind;
        if (indent_of(line, n, &ind) > 3 || n - ind < 4 || memcmp(line + ind, "<!--", 4) != 0)
            return block_line(m, line, n);
        rg_status st = flush_all(m);
        if (st) return st;
        m->in_comment = 1;
        n -= ind + 4;
        line += ind + 4;
    }
}

/*
 * YAML front matter: "---" on the first line up to a "---" or "..." line.
 * Takes `title:` from it and returns where the Markdown starts (0 if none).
 */
static rg_status front_matter(md *m, const char *data, size_t n, size_t start, size_t *body)
{
    size_t pos = start;
    const char *line;
    size_t len;
    *body = start;
    if (!rg_next_line(data, n, &pos, &line, &len)) return RG_OK;
    trim(&line, &len);
    if (len != 3 || memcmp(line, "---", 3) != 0) return RG_OK;
    const char *title = NULL;
    size_t title_len = 0;
    while (rg_next_line(data, n, &pos, &line, &len)) {
        const char *t = line;
        size_t tn = len;
        trim(&t, &tn);
        if (tn == 3 && (memcmp(t, "---", 3) == 0 || memcmp(t, "...", 3) == 0)) {
            *body = pos;
            return title ? rg_doc_set_title(m->b, title, title_len, m->err) : RG_OK;
        }
        if (len > 6 && memcmp(line, "title:", 6) == 0 && !title) {
            title = line + 6;
            title_len = len - 6;
            trim(&title, &title_len);
            if (title_len >= 2 && (title[0] == '"' || title[0] == '\'') &&
                title[title_len - 1] == title[0])
                title++, title_len -= 2;
            if (title_len && (title[0] == '|' || title[0] == '>')) title = NULL; /* block scalar */
        }
    }
    return RG_OK; /* never closed: not front matter */
}

static void md_free(md *m)
{
    rg_buf_free(&m->para);
    rg_buf_free(&m->code);
    rg_buf_free(&m->inl);
    rg_buf_free(&m->row);
    rg_free(m->delims);
}

static rg_status md_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                         rg_error *err)
{
    (void)path;
    rg_status st = rg_loader_check_utf8(data, n, err);
    if (st) return st;
    md m;
    memset(&m, 0, sizeof m);
    m.b = b;
    m.err = err;
    m.para_kind = RG_BLOCK_PARAGRAPH;
    rg_buf_init(&m.para, MD_MAX_BLOCK_BYTES);
    rg_buf_init(&m.code, MD_MAX_BLOCK_BYTES);
    rg_buf_init(&m.inl, MD_MAX_BLOCK_BYTES);
    rg_buf_init(&m.row, MD_MAX_BLOCK_BYTES);
    size_t pos;
    st = front_matter(&m, data, n, rg_loader_bom_len(data, n), &pos);
    const char *line;
    size_t len;
    while (st == RG_OK && rg_next_line(data, n, &pos, &line, &len))
        st = md_line(&m, line, len);
    if (st == RG_OK) st = flush_para(&m);
    if (st == RG_OK) st = flush_code(&m); /* an unclosed fence runs to the end */
    md_free(&m);
    return st;
}

static const char *const md_exts[] = {"md", "markdown", "mdown", "mkd", NULL};

static int md_can_load(const char *path, const char *data, size_t n)
{
    (void)data;
    (void)n;
    return rg_path_has_ext(path, md_exts);
}

const rg_loader rg_loader_markdown = {"markdown", "text/markdown", md_can_load, md_load, 1};
