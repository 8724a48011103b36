/*
 * pdf_content.c — content stream interpreter and text layout. See pdf_content.h.
 *
 * Glyph positions are computed in device space (text rendering matrix times
 * CTM) and compared in the writing direction of the text, so rotated pages
 * and scaled forms group lines the same way as upright text.
 */
#include "ingest/pdf_content.h"

#include <math.h>
#include <string.h>
#include <utf8proc.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "ingest/pdf_lex.h"

/* Baselines closer than this share of the font size are one line (sub- and superscripts). */
#define LINE_TOLERANCE 0.5
/* A glyph further back than this many font sizes on its baseline starts a line. */
#define LINE_BACKTRACK 1.0
/* A paragraph's later line gap this much wider than its first one starts a new paragraph. */
#define PARA_SPACING_RATIO 1.3
/* A paragraph's second line more than this many font sizes below the first starts a new one. */
#define PARA_FIRST_GAP 1.6
/* A line more than this many font sizes above the last one starts a paragraph (a new column). */
#define PARA_JUMP_UP 0.5
/* A font size change of more than this share starts a paragraph (headings). */
#define PARA_SIZE_CHANGE 0.2
/* Writing directions whose cosine is below this are different (rotated text). */
#define SAME_DIRECTION 0.9
/* Smallest font size taken seriously (device units); smaller ones count as this. */
#define MIN_SIZE 0.01
/* A lexer buffer up to this size is kept for the next run at its depth
 * (a form drawn again); a larger one is freed. */
#define PDF_LEX_KEEP_BYTES (64u << 10)

typedef struct matrix {
    double a, b, c, d, e, f;
} matrix;

typedef struct vec {
    double x, y;
} vec;

typedef struct gstate {
    matrix ctm;
    const rg_pdf_font *font;
    double size, tc, tw, th, tl, ts;
} gstate;

struct rg_pdf_interp {
    rg_doc_builder *b;
    const rg_pdf_content_ops *ops;
    rg_error *err;
    rg_status st;
    gstate gs;
    gstate stack[RG_PDF_MAX_GSTATE_DEPTH];
    int depth, floor; /* saved states; a form's Q cannot pop below floor */
    int overflow;     /* q's that did not fit */
    matrix tm, tlm;
    int form_depth;
    rg_pdf_token *operands;
    size_t n_operands;
    int operands_overflow;
    rg_buf lex_spare[RG_PDF_MAX_FORM_DEPTH + 1]; /* the lexers' memory, one per depth */
    /* layout */
    rg_buf line, para, first_line;
    int have_line, space_due, have_first_line;
    vec last_origin, last_end, last_dir;
    double last_size;
    double para_size, para_spacing;
    int para_lines;
    size_t max_text, text_total;
};

static const matrix identity = {1, 0, 0, 1, 0, 0};

/* x then y: the product x × y of PDF's row-vector convention. */
static matrix mul(matrix x, matrix y)
{
    return (matrix){x.a * y.a + x.b * y.c,       x.a * y.b + x.b * y.d,
                    x.c * y.a + x.d * y.c,       x.c * y.b + x.d * y.d,
                    x.e * y.a + x.f * y.c + y.e, x.e * y.b + x.f * y.d + y.f};
}

static vec apply(matrix m, double x, double y)
{
    return (vec){m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f};
}

static double dot(vec p, vec q)
{
    return p.x * q.x + p.y * q.y;
}

static vec sub(vec p, vec q)
{
    return (vec){p.x - q.x, p.y - q.y};
}

/* The left normal of a direction: "up" in its text space. */
static vec up(vec d)
{
    return (vec){-d.y, d.x};
}

static gstate default_gstate(void)
{
    return (gstate){.ctm = identity, .th = 1};
}

rg_pdf_interp *rg_pdf_interp_new(rg_doc_builder *b, size_t max_text_bytes)
{
    rg_pdf_interp *ip = rg_calloc(1, sizeof *ip);
    if (!ip) return NULL;
    ip->operands = rg_calloc(RG_PDF_MAX_OPERANDS, sizeof *ip->operands);
    if (!ip->operands) {
        rg_free(ip);
        return NULL;
    }
    ip->b = b;
    ip->max_text = max_text_bytes;
    rg_buf_init(&ip->line, max_text_bytes);
    rg_buf_init(&ip->para, max_text_bytes);
    rg_buf_init(&ip->first_line, RG_PDF_FIRST_LINE_MAX + 1);
    return ip;
}

void rg_pdf_interp_free(rg_pdf_interp *ip)
{
    if (!ip) return;
    rg_buf_free(&ip->line);
    rg_buf_free(&ip->para);
    rg_buf_free(&ip->first_line);
    for (int i = 0; i <= RG_PDF_MAX_FORM_DEPTH; i++)
        rg_buf_free(&ip->lex_spare[i]);
    rg_free(ip->operands);
    rg_free(ip);
}

const char *rg_pdf_interp_first_line(const rg_pdf_interp *ip, size_t *len)
{
    *len = ip->first_line.len;
    return rg_buf_str(&ip->first_line);
}

int rg_pdf_interp_form_depth(const rg_pdf_interp *ip)
{
    return ip->form_depth;
}

/* --- layout ----------------------------------------------------------------------- */

static void fail_append(rg_pdf_interp *ip, rg_status st)
{
    if (st == RG_ELIMIT)
        ip->st = rg_fail(ip->err, st, "the PDF's text exceeds %zu bytes", ip->max_text);
    else if (st)
        ip->st = rg_fail(ip->err, st, "out of memory reading PDF text");
}

static void append(rg_pdf_interp *ip, rg_buf *to, const char *s, size_t n)
{
    if (ip->st) return;
    fail_append(ip, rg_buf_append(to, s, n));
}

/* The last character of b[0..len) and where it starts; 0 when empty. */
static uint32_t last_cp(const rg_buf *b, size_t len, size_t *at)
{
    *at = 0;
    if (len == 0) return 0;
    size_t i = len - 1;
    while (i > 0 && ((unsigned char)b->data[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp = 0;
    rg_utf8_decode(b->data + i, len - i, &cp);
    *at = i;
    return cp;
}

static void truncate_buf(rg_buf *b, size_t len)
{
    b->len = len;
    if (b->data) b->data[len] = '\0';
}

static uint32_t first_cp(const rg_buf *b)
{
    uint32_t cp = 0;
    if (b->len) rg_utf8_decode(b->data, b->len, &cp);
    return cp;
}

static int latin_lower(uint32_t cp)
{
    return cp < 0x250 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_LL;
}

/* CJK characters and their punctuation: lines break between them without a space. */
static int cjk_like(uint32_t cp)
{
    return rg_is_cjk(cp) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFFEF);
}

/* Adds the finished line to the paragraph: joined with a space, or without one. */
static void commit_line(rg_pdf_interp *ip)
{
    rg_buf *line = &ip->line;
    size_t len = line->len;
    while (len && line->data[len - 1] == ' ')
        len--;
    truncate_buf(line, len);
    if (!line->len || ip->st) return;
    if (!ip->have_first_line) {
        size_t n = line->len < RG_PDF_FIRST_LINE_MAX ? line->len : RG_PDF_FIRST_LINE_MAX;
        append(ip, &ip->first_line, line->data, rg_utf8_floor(line->data, n));
        ip->have_first_line = 1;
    }
    if (ip->para.len) {
        size_t at, at2;
        uint32_t p = last_cp(&ip->para, ip->para.len, &at);
        uint32_t before = last_cp(&ip->para, at, &at2), next = first_cp(line);
        if (p == '-' && latin_lower(before) && latin_lower(next))
            truncate_buf(&ip->para, at); /* "exam-" + "ple" */
        else if (!(cjk_like(p) && cjk_like(next)))
            append(ip, &ip->para, " ", 1);
    }
    append(ip, &ip->para, line->data, line->len);
    rg_buf_reset(line);
    ip->para_lines++;
}

static void flush_para(rg_pdf_interp *ip)
{
    commit_line(ip);
    if (ip->para.len && !ip->st) {
        if (ip->text_total + ip->para.len > ip->max_text)
            ip->st = rg_fail(ip->err, RG_ELIMIT, "the PDF's text exceeds %zu bytes", ip->max_text);
        else
            ip->st = rg_doc_add(ip->b, RG_BLOCK_PARAGRAPH, 0, ip->para.data, ip->para.len, ip->err);
        ip->text_total += ip->para.len;
    }
    rg_buf_reset(&ip->para);
    ip->para_lines = 0;
    ip->para_spacing = 0;
}

/* A glyph at origin starts a new line: decides whether it also starts a paragraph. */
static void new_line(rg_pdf_interp *ip, vec origin, vec dir, double size)
{
    double down = dot(sub(ip->last_origin, origin), up(ip->last_dir));
    double ref = size > ip->last_size ? size : ip->last_size;
    int para = dot(dir, ip->last_dir) < SAME_DIRECTION || down < -PARA_JUMP_UP * ref ||
               fabs(size - ip->para_size) > PARA_SIZE_CHANGE * ip->para_size;
    if (!para && ip->para_lines >= 2 && ip->para_spacing > 0)
        para = down > PARA_SPACING_RATIO * ip->para_spacing + 0.1 * size;
    else if (!para)
        para = down > PARA_FIRST_GAP * ref;
    if (para) {
        flush_para(ip);
        ip->para_size = size;
    } else {
        commit_line(ip);
        if (ip->para_lines == 1 && down > 0) ip->para_spacing = down;
    }
}

/*
 * Places one glyph: origin and end of its advance, u = its text space x axis
 * in device space (length: the font size as drawn), text its decoded UTF-8.
 */
static void place(rg_pdf_interp *ip, vec origin, vec end, vec u, double size, const char *text,
                  size_t len)
{
    double ulen = sqrt(dot(u, u));
    vec dir = ulen > 0 ? (vec){u.x / ulen, u.y / ulen} : (vec){1, 0};
    if (size < MIN_SIZE) size = MIN_SIZE;
    if (ulen < MIN_SIZE) ulen = size;
    if (!len) { /* an undecodable glyph still moves the pen */
        if (ip->have_line) ip->last_end = end;
        return;
    }
    if (!ip->have_line) {
        if (ip->para.len || ip->line.len) flush_para(ip);
        ip->para_size = size;
        ip->have_line = 1;
    } else {
        vec from_end = sub(origin, ip->last_end);
        double along = dot(from_end, ip->last_dir);
        double across = dot(sub(origin, ip->last_origin), up(ip->last_dir));
        double ref = size > ip->last_size ? size : ip->last_size;
        if (dot(dir, ip->last_dir) < SAME_DIRECTION || fabs(across) > LINE_TOLERANCE * ref ||
            along < -LINE_BACKTRACK * ref)
            new_line(ip, origin, dir, size);
        else if (along > RG_PDF_SPACE_GAP * ulen)
            ip->space_due = 1;
    }
    int is_space = len == 1 && text[0] == ' ';
    int ends_space = !ip->line.len || ip->line.data[ip->line.len - 1] == ' ';
    if ((ip->space_due || is_space) && !ends_space) append(ip, &ip->line, " ", 1);
    if (!is_space) append(ip, &ip->line, text, len);
    ip->space_due = 0;
    ip->last_origin = origin;
    ip->last_end = end;
    ip->last_dir = dir;
    ip->last_size = size;
}

/* --- showing text ------------------------------------------------------------------ */

static void advance(rg_pdf_interp *ip, double tx)
{
    ip->tm.e += tx * ip->tm.a;
    ip->tm.f += tx * ip->tm.b;
}

static void show(rg_pdf_interp *ip, const unsigned char *s, size_t n)
{
    const gstate *g = &ip->gs;
    const rg_pdf_font *f = g->font;
    if (!f) return;
    for (size_t i = 0; i < n && !ip->st;) {
        uint32_t code;
        size_t code_len;
        i += rg_pdf_font_next_code(f, s + i, n - i, &code, &code_len);
        double w0 = rg_pdf_font_width(f, code);
        matrix trm = mul(mul((matrix){g->size * g->th, 0, 0, g->size, 0, g->ts}, ip->tm), g->ctm);
        char text[RG_PDF_CODE_TEXT_MAX];
        size_t len = rg_pdf_font_decode(f, code, code_len, text);
        vec v = {trm.c, trm.d};
        /* the pen after the glyph and its character spacing: letter-spaced text has no gaps */
        double end = g->size != 0 ? w0 + g->tc / g->size : w0;
        place(ip, apply(trm, 0, 0), apply(trm, end, 0), (vec){trm.a, trm.b}, sqrt(dot(v, v)), text,
              len);
        double tw = rg_pdf_font_is_simple(f) && code == ' ' && code_len == 1 ? g->tw : 0;
        advance(ip, (w0 * g->size + g->tc + tw) * g->th);
    }
}

/* --- operators ---------------------------------------------------------------------- */

/* 1 and the last count operands in out when they are all numbers. */
static int numbers(const rg_pdf_interp *ip, size_t count, double *out)
{
    if (ip->n_operands < count) return 0;
    const rg_pdf_token *t = ip->operands + ip->n_operands - count;
    for (size_t i = 0; i < count; i++) {
        if (t[i].type != RG_PDF_TOK_NUMBER) return 0;
        out[i] = t[i].num;
    }
    return 1;
}

/* The last operand if it has this type, else NULL. */
static const rg_pdf_token *last(const rg_pdf_interp *ip, rg_pdf_tok_type type)
{
    if (!ip->n_operands || ip->operands[ip->n_operands - 1].type != type) return NULL;
    return &ip->operands[ip->n_operands - 1];
}

static void move_line(rg_pdf_interp *ip, double tx, double ty)
{
    ip->tlm = mul((matrix){1, 0, 0, 1, tx, ty}, ip->tlm);
    ip->tm = ip->tlm;
}

static void show_string(rg_pdf_interp *ip, const rg_pdf_lexer *lx, const rg_pdf_token *t)
{
    if (t) show(ip, (const unsigned char *)rg_pdf_tok_bytes(lx, t), t->len);
}

/* TJ: strings and position adjustments (thousandths of the font size, leftwards). */
static void show_array(rg_pdf_interp *ip, const rg_pdf_lexer *lx)
{
    size_t i = ip->n_operands;
    while (i > 0 && ip->operands[i - 1].type != RG_PDF_TOK_ARRAY_OPEN)
        i--;
    if (i == 0) return;
    for (; i < ip->n_operands && !ip->st; i++) {
        const rg_pdf_token *t = &ip->operands[i];
        if (t->type == RG_PDF_TOK_STRING)
            show_string(ip, lx, t);
        else if (t->type == RG_PDF_TOK_NUMBER)
            advance(ip, -t->num / 1000.0 * ip->gs.size * ip->gs.th);
    }
}

static void save(rg_pdf_interp *ip)
{
    if (ip->depth < RG_PDF_MAX_GSTATE_DEPTH)
        ip->stack[ip->depth++] = ip->gs;
    else
        ip->overflow++;
}

static void restore(rg_pdf_interp *ip)
{
    if (ip->overflow)
        ip->overflow--;
    else if (ip->depth > ip->floor)
        ip->gs = ip->stack[--ip->depth];
}

static int is(const char *op, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(op, name, n) == 0;
}

/* Text state operators with one number: Tc Tw Tz TL Ts. 1 if op was one. */
static int text_state(rg_pdf_interp *ip, const char *op, size_t n)
{
    double v;
    if (n != 2 || op[0] != 'T' || !strchr("cwzLs", op[1])) return 0;
    if (!numbers(ip, 1, &v)) return 1;
    switch (op[1]) {
    case 'c':
        ip->gs.tc = v;
        break;
    case 'w':
        ip->gs.tw = v;
        break;
    case 'z':
        ip->gs.th = v / 100.0;
        break;
    case 'L':
        ip->gs.tl = v;
        break;
    default:
        ip->gs.ts = v;
        break;
    }
    return 1;
}

static void operator(rg_pdf_interp *ip, rg_pdf_lexer *lx, const char *op, size_t n)
{
    double v[6];
    const rg_pdf_token *t;
    if (text_state(ip, op, n)) return;
    if (is(op, n, "q")) {
        save(ip);
    } else if (is(op, n, "Q")) {
        restore(ip);
    } else if (is(op, n, "cm") && numbers(ip, 6, v)) {
        ip->gs.ctm = mul((matrix){v[0], v[1], v[2], v[3], v[4], v[5]}, ip->gs.ctm);
    } else if (is(op, n, "BT")) {
        ip->tm = ip->tlm = identity;
    } else if (is(op, n, "Tf") && numbers(ip, 1, v) && ip->n_operands >= 2 &&
               ip->operands[ip->n_operands - 2].type == RG_PDF_TOK_NAME) {
        t = &ip->operands[ip->n_operands - 2];
        rg_status st =
            ip->ops->font(ip->ops->ctx, rg_pdf_tok_bytes(lx, t), t->len, &ip->gs.font, ip->err);
        if (st && !ip->st) ip->st = st;
        ip->gs.size = v[0];
    } else if (is(op, n, "Td") && numbers(ip, 2, v)) {
        move_line(ip, v[0], v[1]);
    } else if (is(op, n, "TD") && numbers(ip, 2, v)) {
        ip->gs.tl = -v[1];
        move_line(ip, v[0], v[1]);
    } else if (is(op, n, "Tm") && numbers(ip, 6, v)) {
        ip->tm = ip->tlm = (matrix){v[0], v[1], v[2], v[3], v[4], v[5]};
    } else if (is(op, n, "T*")) {
        move_line(ip, 0, -ip->gs.tl);
    } else if (is(op, n, "Tj")) {
        show_string(ip, lx, last(ip, RG_PDF_TOK_STRING));
    } else if (is(op, n, "TJ")) {
        show_array(ip, lx);
    } else if (is(op, n, "'")) {
        move_line(ip, 0, -ip->gs.tl);
        show_string(ip, lx, last(ip, RG_PDF_TOK_STRING));
    } else if (is(op, n, "\"") && (t = last(ip, RG_PDF_TOK_STRING)) && ip->n_operands >= 3) {
        ip->n_operands--;
        if (numbers(ip, 2, v)) ip->gs.tw = v[0], ip->gs.tc = v[1];
        move_line(ip, 0, -ip->gs.tl);
        show_string(ip, lx, t);
    } else if (is(op, n, "Do") && (t = last(ip, RG_PDF_TOK_NAME))) {
        rg_status st = ip->ops->xobject(ip->ops->ctx, ip, rg_pdf_tok_bytes(lx, t), t->len, ip->err);
        if (st && !ip->st) ip->st = st;
    } else if (is(op, n, "ID")) {
        rg_pdf_lex_skip_inline_image(lx);
    }
}

/* true, false and null are operands, not operators. */
static int is_operand_keyword(const char *s, size_t n)
{
    return is(s, n, "true") || is(s, n, "false") || is(s, n, "null");
}

static rg_status run(rg_pdf_interp *ip, const char *content, size_t n)
{
    rg_pdf_lexer lx;
    rg_pdf_lex_init_spare(&lx, content, n, n + 1, &ip->lex_spare[ip->form_depth]);
    ip->n_operands = 0;
    ip->operands_overflow = 0;
    while (!ip->st) {
        rg_pdf_token t;
        rg_status st = rg_pdf_lex_next(&lx, &t);
        if (st) {
            fail_append(ip, st);
            break;
        }
        if (t.type == RG_PDF_TOK_EOF) break;
        const char *s = rg_pdf_tok_bytes(&lx, &t);
        if (t.type != RG_PDF_TOK_KEYWORD || is_operand_keyword(s, t.len)) {
            if (ip->n_operands < RG_PDF_MAX_OPERANDS)
                ip->operands[ip->n_operands++] = t;
            else
                ip->operands_overflow = 1;
            continue;
        }
        if (!ip->operands_overflow) operator(ip, &lx, s, t.len);
        ip->n_operands = 0;
        ip->operands_overflow = 0;
        rg_pdf_lex_reset_strings(&lx);
    }
    rg_pdf_lex_end(&lx, &ip->lex_spare[ip->form_depth], PDF_LEX_KEEP_BYTES);
    return ip->st;
}

rg_status rg_pdf_interp_page(rg_pdf_interp *ip, unsigned page, const char *content, size_t n,
                             const rg_pdf_content_ops *ops, rg_error *err)
{
    ip->ops = ops;
    ip->err = err;
    ip->st = RG_OK;
    ip->gs = default_gstate();
    ip->depth = ip->floor = ip->overflow = 0;
    ip->tm = ip->tlm = identity;
    ip->form_depth = 0;
    ip->have_line = 0;
    ip->space_due = 0;
    rg_status st = rg_doc_begin_page(ip->b, page, err);
    if (st) return st;
    run(ip, content, n);
    flush_para(ip);
    return ip->st;
}

rg_status rg_pdf_interp_form(rg_pdf_interp *ip, const char *content, size_t n, const double m[6],
                             rg_error *err)
{
    (void)err; /* errors go to the page's error */
    if (ip->form_depth >= RG_PDF_MAX_FORM_DEPTH || ip->st) return ip->st;
    gstate saved_gs = ip->gs;
    int saved_depth = ip->depth, saved_floor = ip->floor, saved_overflow = ip->overflow;
    matrix saved_tm = ip->tm, saved_tlm = ip->tlm;
    ip->gs.ctm = mul((matrix){m[0], m[1], m[2], m[3], m[4], m[5]}, ip->gs.ctm);
    ip->floor = ip->depth;
    ip->overflow = 0;
    ip->form_depth++;
    run(ip, content, n);
    ip->form_depth--;
    ip->gs = saved_gs;
    ip->depth = saved_depth;
    ip->floor = saved_floor;
    ip->overflow = saved_overflow;
    ip->tm = saved_tm;
    ip->tlm = saved_tlm;
    return ip->st;
}
