/*
 * extractive.c — answers made of the sources' own best sentences.
 * See extractive.h.
 */
#include "engine/rag/extractive.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/rag/prompt.h"
#include "engine/rag/text.h"

/* Weights of the score: meaning (cosine) and words (overlap), and a
 * preference for better-ranked sources (rank_prior; retrieval ranks the
 * right chunk first more often than sentence scores pick it). */
#define W_COSINE 0.6
#define W_OVERLAP 0.4
#define W_RANK 1.0
/* Sentences shorter than this (bytes) carry no answer ("Yes.", a lone heading word). */
#define MIN_SENTENCE_BYTES 12
#define NAME "extractive"
/* An introducing line or a table's header row answers less than what follows it. */
#define INTRO_FACTOR 0.5
/* Added to the overlap of a sentence with a number when the question asks for a quantity. */
#define QUANTITY_BONUS 0.15
/* Bytes of the question scanned for quantity cues. */
#define RG_EXTRACT_QUESTION_SCAN 1024

typedef struct extractive {
    rg_extractive_options opt;
    char model[RG_ANSWER_NAME_MAX];
} extractive;

typedef struct candidate {
    size_t source;
    rg_span span;
    double overlap;
    double cosine;
    double score;
} candidate;

rg_extractive_options rg_extractive_default_options(void)
{
    return (rg_extractive_options){.max_sources = 4, .max_sentences = 3, .keep_ratio = 0.75,
                                   .min_score = 0.12};
}

/* Multiplies a sentence's score: a better-ranked source's sentence wins
 * near ties, but a sentence with nothing of the question never wins on
 * rank alone. */
static double rank_prior(size_t source)
{
    return 1.0 + W_RANK / (double)(1 + source);
}

/* Share of the question's terms in the sentence; its context (the title, a
 * table's header row, the line that introduces a list) counts half. */
static double overlap_score(const rg_terms *q, const rg_terms *sent, const rg_terms *ctx)
{
    if (!q->n) return 0;
    double hits = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (rg_terms_has(sent, q->h[i]))
            hits += 1;
        else if (rg_terms_has(ctx, q->h[i]))
            hits += 0.5;
    }
    return hits / (double)q->n;
}

/* Words that ask for a quantity, a time or a limit: then sentences with a number answer. */
static int asks_quantity(const char *q)
{
    static const char *const cues[] = {"how many", "how much", "how long", "how fast",
                                       "how often", "what time", "when", "price", "cost",
                                       "budget", "duration", "limit", "port", "多少", "幾",
                                       "几", "多久", "多長", "多长", "期限", "上限", "時間"};
    char low[RG_EXTRACT_QUESTION_SCAN + 1];
    size_t n = 0;
    for (; q[n] && n < RG_EXTRACT_QUESTION_SCAN; n++)
        low[n] = q[n] >= 'A' && q[n] <= 'Z' ? (char)(q[n] + 32) : q[n];
    low[n] = '\0';
    for (size_t i = 0; i < sizeof cues / sizeof cues[0]; i++)
        if (strstr(low, cues[i])) return 1;
    return 0;
}

static int has_char(const char *s, size_t n, char c)
{
    return memchr(s, c, n) != NULL;
}

static int has_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9') return 1;
    return 0;
}

/* A sentence ending in ':' introduces what follows rather than saying it. */
static int is_intro(const char *s, size_t n)
{
    return (n >= 1 && s[n - 1] == ':') || (n >= 3 && memcmp(s + n - 3, "\xEF\xBC\x9A", 3) == 0);
}

static int by_score(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->source != y->source) return x->source < y->source ? -1 : 1;
    return x->span.start < y->span.start ? -1 : x->span.start > y->span.start;
}

typedef struct cand_list {
    candidate *v;
    size_t n, cap;
} cand_list;

static rg_status collect(const extractive *x, const rg_gen_request *req, const rg_terms *q,
                         cand_list *cl)
{
    rg_terms st_terms, ctx;
    rg_terms_init(&st_terms);
    rg_terms_init(&ctx);
    rg_status st = RG_OK;
    int quantity = asks_quantity(req->question);
    size_t n_src = req->n_sources < x->opt.max_sources ? req->n_sources : x->opt.max_sources;
    for (size_t s = 0; s < n_src && !st; s++) {
        const rg_source *src = &req->sources[s];
        const char *t = src->text;
        rg_span *spans = NULL;
        size_t n = 0;
        st = rg_text_sentences(t, src->text_len, &spans, &n, NULL);
        rg_span header = {0, 0}, intro = {0, 0};
        for (size_t i = 0; i < n && !st; i++) {
            const char *p = t + spans[i].start;
            size_t len = spans[i].end - spans[i].start;
            int row = has_char(p, len, '|');
            int first_row = row && (i == 0 || !has_char(t + spans[i - 1].start,
                                                      spans[i - 1].end - spans[i - 1].start, '|'));
            if (first_row) header = spans[i];
            if (!row) header = (rg_span){0, 0};
            int intro_here = is_intro(p, len);
            if (len < MIN_SENTENCE_BYTES || cl->n == RG_EXTRACT_MAX_CANDIDATES) {
                if (intro_here) intro = spans[i];
                continue;
            }
            rg_terms_reset(&st_terms);
            rg_terms_reset(&ctx);
            st = rg_terms_add(&st_terms, p, len);
            if (!st && src->title) st = rg_terms_add(&ctx, src->title, strlen(src->title));
            if (!st && row && !first_row)
                st = rg_terms_add(&ctx, t + header.start, header.end - header.start);
            if (!st && intro.end > intro.start && !intro_here)
                st = rg_terms_add(&ctx, t + intro.start, intro.end - intro.start);
            if (st) break;
            rg_terms_seal(&st_terms);
            rg_terms_seal(&ctx);
            if (intro_here) intro = spans[i];
            else if (!row && !(len > 2 && (p[0] == '-' || p[0] == '*'))) intro = (rg_span){0, 0};
            if (st_terms.n == 0) continue;
            if (cl->n == cl->cap) {
                size_t cap = cl->cap ? cl->cap * 2 : 64;
                candidate *v = rg_realloc(cl->v, cap * sizeof *v);
                if (!v) {
                    st = RG_ENOMEM;
                    break;
                }
                cl->v = v;
                cl->cap = cap;
            }
            double ov = overlap_score(q, &st_terms, &ctx);
            if (intro_here || first_row) ov *= INTRO_FACTOR;
            if (quantity && has_digit(p, len)) ov += QUANTITY_BONUS;
            cl->v[cl->n++] = (candidate){s, spans[i], ov, 0, ov * rank_prior(s)};
        }
        rg_free(spans);
    }
    rg_terms_free(&st_terms);
    rg_terms_free(&ctx);
    return st;
}

/* Adds the cosine to the best candidates by terms (they are sorted by then). */
static rg_status embed_best(const extractive *x, const rg_gen_request *req, cand_list *cl,
                            rg_error *err)
{
    rg_encoder *enc = x->opt.encoder;
    size_t n = cl->n < RG_EXTRACT_MAX_EMBED ? cl->n : RG_EXTRACT_MAX_EMBED;
    int dim = rg_encoder_dim(enc);
    const char **texts = rg_calloc(n + 1, sizeof *texts);
    size_t *lens = rg_calloc(n + 1, sizeof *lens);
    float *vec = rg_calloc((n + 1) * (size_t)dim, sizeof *vec);
    rg_status st = texts && lens && vec ? RG_OK : rg_fail(err, RG_ENOMEM, "out of memory");
    if (!st) {
        texts[0] = req->question;
        lens[0] = strlen(req->question);
        for (size_t i = 0; i < n; i++) {
            const candidate *c = &cl->v[i];
            texts[i + 1] = req->sources[c->source].text + c->span.start;
            lens[i + 1] = c->span.end - c->span.start;
        }
        /* short texts, as queries are: the query path (int8 weights where
         * the CPU runs them natively, several texts per forward pass) costs
         * a fraction of the passage path's fp32 */
        for (size_t i = 0; !st && i < n + 1; i += RG_ENCODER_QUERY_BATCH_MAX) {
            size_t m =
                n + 1 - i < RG_ENCODER_QUERY_BATCH_MAX ? n + 1 - i : RG_ENCODER_QUERY_BATCH_MAX;
            st = rg_encoder_embed_queries(enc, texts + i, lens + i, m, vec + i * (size_t)dim, err);
        }
    }
    for (size_t i = 0; !st && i < n; i++) {
        const float *a = vec, *b = vec + (i + 1) * (size_t)dim;
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < dim; d++)
            dot += (double)a[d] * b[d], na += (double)a[d] * a[d], nb += (double)b[d] * b[d];
        candidate *c = &cl->v[i];
        c->cosine = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0;
        c->score = (W_COSINE * c->cosine + W_OVERLAP * c->overlap) * rank_prior(c->source);
    }
    /* candidates never embedded compete on terms alone, scaled the same way */
    for (size_t i = n; !st && i < cl->n; i++)
        cl->v[i].score = W_OVERLAP * cl->v[i].overlap * rank_prior(cl->v[i].source);
    rg_free(texts);
    rg_free(lens);
    rg_free(vec);
    return st;
}

static int same_text(const rg_gen_request *req, const candidate *a, const candidate *b)
{
    size_t la = a->span.end - a->span.start, lb = b->span.end - b->span.start;
    return la == lb && memcmp(req->sources[a->source].text + a->span.start,
                              req->sources[b->source].text + b->span.start, la) == 0;
}

/* Appends the sentence on one line, markers made inert, ended and cited. */
static rg_status write_sentence(const rg_gen_request *req, const candidate *c, rg_buf *out)
{
    const char *s = req->sources[c->source].text + c->span.start;
    size_t n = c->span.end - c->span.start;
    rg_buf flat;
    rg_buf_init(&flat, out->max);
    rg_status st = RG_OK;
    int space = 0;
    for (size_t i = 0; i < n && !st; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {
            space = 1;
            continue;
        }
        if (space && flat.len) st = rg_buf_putc(&flat, ' ');
        space = 0;
        if (!st) st = rg_buf_putc(&flat, ch);
    }
    if (!st && out->len) st = rg_buf_putc(out, ' ');
    if (!st) st = rg_text_neutralise(flat.data ? flat.data : "", flat.len, out);
    if (!st && flat.len) {
        /* a sentence without an end (a list item) gets one, so the answer splits back */
        uint32_t last = 0;
        size_t k = 1;
        while (k < 4 && k < flat.len && (flat.data[flat.len - k] & 0xC0) == 0x80)
            k++;
        rg_utf8_decode(flat.data + flat.len - k, k, &last);
        if (rg_is_cjk(last))
            st = rg_buf_puts(out, "。");
        else if (rg_is_word_char(last) || last == ')' || last == '%')
            st = rg_buf_putc(out, '.');
    }
    if (!st) st = rg_buf_printf(out, " [%zu]", c->source + 1);
    rg_buf_free(&flat);
    return st;
}

static rg_status emit(const rg_gen_request *req, rg_buf *out, size_t from, rg_gen_result *res)
{
    if (req->on_token && req->on_token(req->token_ctx, out->data + from, out->len - from))
        res->finish = RG_FINISH_CANCELLED;
    return RG_OK;
}

static rg_status refuse(const rg_gen_request *req, rg_buf *out, rg_gen_result *res)
{
    size_t from = out->len;
    rg_status st = rg_buf_puts(out, rg_prompt_refusal(req->question));
    res->refused = 1;
    return st ? st : emit(req, out, from, res);
}

static rg_status ex_generate(void *self, const rg_gen_request *req, rg_buf *out,
                             rg_gen_result *res, rg_error *err)
{
    extractive *x = self;
    if (!req->question || !req->question[0])
        return rg_fail(err, RG_EINVAL, "the question is empty");
    rg_terms q;
    rg_terms_init(&q);
    cand_list cl = {0};
    rg_status st = rg_terms_add(&q, req->question, strlen(req->question));
    rg_terms_seal(&q);
    if (!st) st = collect(x, req, &q, &cl);
    if (st) {
        rg_fail(err, st, "out of memory choosing sentences");
        goto done;
    }
    qsort(cl.v, cl.n, sizeof *cl.v, by_score);
    int use_encoder = x->opt.encoder && cl.n &&
                      (!x->opt.dense || rg_dense_covers(x->opt.dense, req->question));
    if (use_encoder) {
        if ((st = embed_best(x, req, &cl, err))) goto done;
        qsort(cl.v, cl.n, sizeof *cl.v, by_score);
    }
    /* with no shared word, only the encoder can say a sentence is relevant */
    if (!cl.n || cl.v[0].score < x->opt.min_score || (!use_encoder && cl.v[0].overlap == 0)) {
        st = refuse(req, out, res);
        goto done;
    }
    const candidate *kept[RG_EXTRACT_MAX_SENTENCES];
    size_t n_kept = 0;
    for (size_t i = 0; i < cl.n && n_kept < x->opt.max_sentences; i++) {
        const candidate *c = &cl.v[i];
        if (c->score < x->opt.keep_ratio * cl.v[0].score) break;
        /* one source per answer: a second source's sentence is more often a
         * near miss than the rest of the answer, and each citation must hold */
        if (n_kept && c->source != kept[0]->source) continue;
        int dup = 0;
        for (size_t j = 0; j < n_kept; j++)
            dup |= same_text(req, kept[j], c);
        if (!dup) kept[n_kept++] = c;
    }
    for (size_t i = 0; i < n_kept && !st && res->finish != RG_FINISH_CANCELLED; i++) {
        if (req->cancel && *req->cancel) {
            res->finish = RG_FINISH_CANCELLED;
            break;
        }
        size_t from = out->len;
        st = write_sentence(req, kept[i], out);
        if (!st) st = emit(req, out, from, res);
    }
    if (st) rg_fail(err, st, "the extractive answer exceeds its limit");
done:
    rg_terms_free(&q);
    rg_free(cl.v);
    return st;
}

static const char *ex_model(void *self)
{
    return ((extractive *)self)->model;
}

static void ex_close(void *self)
{
    rg_free(self);
}

static const rg_generator_methods extractive_methods = {
    RG_GENERATOR_VERSION, NAME, ex_generate, ex_model, ex_close,
};

rg_status rg_extractive_open(const rg_extractive_options *opt, rg_generator *out, rg_error *err)
{
    rg_extractive_options o = opt ? *opt : rg_extractive_default_options();
    out->methods = NULL;
    out->self = NULL;
    if (o.max_sentences < 1 || o.max_sentences > RG_EXTRACT_MAX_SENTENCES || o.max_sources < 1 ||
        o.keep_ratio < 0 || o.keep_ratio > 1)
        return rg_fail(err, RG_EINVAL, "extractive: max_sentences is 1..%d, max_sources >= 1, "
                                       "keep_ratio in [0, 1]",
                       RG_EXTRACT_MAX_SENTENCES);
    extractive *x = rg_calloc(1, sizeof *x);
    if (!x) return rg_fail(err, RG_ENOMEM, "out of memory");
    x->opt = o;
    const char *m = o.model ? o.model : "";
    size_t len = strlen(m) < sizeof x->model - 1 ? strlen(m) : sizeof x->model - 1;
    memcpy(x->model, m, len);
    x->model[len] = '\0';
    out->methods = &extractive_methods;
    out->self = x;
    return RG_OK;
}
