/*
 * answer.c — retrieval, refusal, prompt, generation and citation check for
 * one question. See answer.h.
 */
#include "engine/rag/answer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/rag/text.h"

/* Longest generated text kept (bytes); a generator going past it fails with RG_ELIMIT. */
#define GENERATED_MAX RG_ANSWER_TEXT_MAX

rg_answer_options rg_answer_default_options(void)
{
    return (rg_answer_options){.k = RG_ANSWER_DEFAULT_K,
                               .mode = RG_SEARCH_HYBRID,
                               .min_similarity = NAN,
                               .min_coverage = NAN,
                               .prompt = rg_prompt_default_options(),
                               .cite = rg_cite_default_options()};
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Turns ans into a refusal: the sentence in the question's language, no citations. */
static rg_status refuse(rg_answer *ans, const char *question, const char *why)
{
    rg_free(ans->text);
    ans->text = rg_strdup(rg_prompt_refusal(question));
    if (!ans->text) return RG_ENOMEM;
    ans->text_len = strlen(ans->text);
    ans->refused = 1;
    ans->supported_share = 1.0;
    copy_name(ans->reason, sizeof ans->reason, why);
    return RG_OK;
}

/* The retrieved chunks, fetched with their documents' fields. */
typedef struct retrieved {
    rg_chunk_view views[RG_ANSWER_SOURCES_MAX];
    rg_source sources[RG_ANSWER_SOURCES_MAX];
    size_t n;
} retrieved;

static rg_status fetch(rg_store *s, const rg_search_hit *hits, size_t n, retrieved *r,
                       rg_error *err)
{
    for (size_t i = 0; i < n; i++) {
        rg_status st = rg_store_chunk_get(s, hits[i].chunk_id, &r->views[i], err);
        if (st) return st;
        r->n++;
        const rg_chunk_view *v = &r->views[i];
        r->sources[i] = (rg_source){.doc_id = v->doc_id,
                                    .chunk_id = v->chunk_id,
                                    .byte_start = v->byte_start,
                                    .byte_end = v->byte_end,
                                    .title = v->title,
                                    .source_uri = v->source_uri,
                                    .text = v->text,
                                    .text_len = v->text_len,
                                    .score = hits[i].score,
                                    .page = v->page,
                                    .page_breaks = v->page_breaks,
                                    .n_page_breaks = v->n_page_breaks};
    }
    return RG_OK;
}

/* The relevance signal of a retrieval (answer.h): similarity when the
 * dense leg ran and found something, else lexical coverage. */
static void relevance(const rg_search_stats *st, rg_answer *out)
{
    out->relevance = NAN;
    out->relevance_signal[0] = '\0';
    if (!isnan(st->dense_top)) {
        copy_name(out->relevance_signal, sizeof out->relevance_signal, "similarity");
        out->relevance = st->dense_top;
    } else if (!isnan(st->lexical_ideal) && st->lexical_ideal > 0) {
        copy_name(out->relevance_signal, sizeof out->relevance_signal, "coverage");
        out->relevance = isnan(st->lexical_top) ? 0.0 : st->lexical_top / st->lexical_ideal;
    }
}

/* Runs gen, or the fallback when gen fails; *used says which answered. */
static rg_status generate(rg_generator *gen, const rg_answer_options *o, const rg_gen_request *req,
                          rg_buf *text, rg_gen_result *res, rg_generator **used, rg_error *err)
{
    *used = gen;
    rg_status st = rg_generate(gen, req, text, res, err);
    if (!st || !o->fallback) return st;
    rg_buf_reset(text);
    rg_error_clear(err);
    *used = o->fallback;
    return rg_generate(o->fallback, req, text, res, err);
}

/* 1 when query is one question in CJK script over a store big enough for
 * RG_ANSWER_MIN_COVERAGE_CJK (answer.h). A plain rewrite that joined
 * earlier questions to a follow-up holds several questions' terms, which
 * no one passage covers as a single question's are: it keeps the base
 * threshold. */
static int cjk_question(const char *question, const char *query, const rg_answer *out,
                        const rg_search_stats *st)
{
    if (st->lexical_chunks < RG_ANSWER_CJK_MIN_CHUNKS || !rg_text_is_cjk(query, strlen(query)))
        return 0;
    return strncmp(out->rewrite, "plain", 5) != 0 || strcmp(query, question) == 0;
}

/*
 * query is what retrieval searches and the extractive generator matches:
 * the question, or the standalone rewrite of a follow-up.
 */
static rg_status run(rg_search *q, rg_store *s, rg_generator *gen, const char *question,
                     const char *query, const rg_answer_options *o, rg_answer *out, retrieved *r,
                     rg_error *err)
{
    double t0 = now_ms(), t;
    rg_search_request req = rg_search_default_request(query);
    req.k = o->k;
    req.collection = o->collection;
    req.mode = o->mode;
    req.reader = o->reader;
    rg_search_hit hits[RG_ANSWER_SOURCES_MAX];
    size_t n = 0;
    copy_name(out->mode, sizeof out->mode, rg_search_mode_name(o->mode));
    copy_name(out->generator, sizeof out->generator, rg_generator_name(gen));
    copy_name(out->model, sizeof out->model, rg_generator_model(gen));
    rg_search_stats stats;
    rg_status st = rg_search_run(q, &req, hits, &n, &stats, err);
    if (!st) st = fetch(s, hits, n, r, err);
    out->timings.retrieve_ms = (t = now_ms()) - t0;
    if (st) return st;
    out->best_score = n ? hits[0].score : 0;
    relevance(&stats, out);
    if (n == 0) return refuse(out, question, "no passage matches the question");
    double min = strcmp(out->relevance_signal, "similarity") == 0
                     ? (isnan(o->min_similarity) ? RG_ANSWER_MIN_SIMILARITY : o->min_similarity)
                 : !isnan(o->min_coverage)                    ? o->min_coverage
                 : cjk_question(question, query, out, &stats) ? RG_ANSWER_MIN_COVERAGE_CJK
                                                              : RG_ANSWER_MIN_COVERAGE;
    if (!isnan(out->relevance) && out->relevance < min) {
        char why[RG_ANSWER_REASON_MAX];
        snprintf(why, sizeof why, "the best passage's %s %.4f is below the threshold %.4f",
                 out->relevance_signal, out->relevance, min);
        return refuse(out, question, why);
    }
    rg_prompt prompt;
    rg_prompt_options po = o->prompt;
    if (o->history) po.standalone = query;
    if ((st = rg_prompt_build(question, r->sources, n, &po, &prompt, err))) return st;
    out->timings.prompt_ms = now_ms() - t;
    out->prompt_sources = prompt.n_sources;
    out->prompt_tokens = prompt.tokens;
    if (prompt.n_sources == 0) {
        rg_prompt_free(&prompt);
        return refuse(out, question, "no passage fits the prompt's token budget");
    }
    rg_gen_request greq = {query,       &prompt,      r->sources, prompt.n_sources,
                           o->on_token, o->token_ctx, o->cancel};
    rg_buf text;
    rg_buf_init(&text, GENERATED_MAX);
    rg_gen_result res;
    rg_generator *used;
    t = now_ms();
    st = generate(gen, o, &greq, &text, &res, &used, err);
    out->timings.generate_ms = now_ms() - t;
    if (used != gen) {
        out->fallback = 1;
        copy_name(out->generator, sizeof out->generator, rg_generator_name(used));
        copy_name(out->model, sizeof out->model, rg_generator_model(used));
    }
    if (!st && res.refused) {
        st = refuse(out, question, "the generator found no answer in the passages");
    } else if (!st) {
        t = now_ms();
        rg_answer checked = {0};
        st = rg_citations_check(text.data ? text.data : "", text.len, r->sources,
                                prompt.n_sources, &o->cite, &checked, err);
        if (!st) {
            /* keep what the pipeline already filled in, take the checked text */
            checked.fallback = out->fallback;
            checked.best_score = out->best_score;
            checked.relevance = out->relevance;
            memcpy(checked.relevance_signal, out->relevance_signal, sizeof checked.relevance_signal);
            checked.timings = out->timings;
            checked.prompt_sources = out->prompt_sources;
            checked.prompt_tokens = out->prompt_tokens;
            checked.rewritten_query = out->rewritten_query;
            memcpy(checked.rewrite, out->rewrite, sizeof checked.rewrite);
            memcpy(checked.rewrite_reason, out->rewrite_reason, sizeof checked.rewrite_reason);
            memcpy(checked.generator, out->generator, sizeof checked.generator);
            memcpy(checked.model, out->model, sizeof checked.model);
            memcpy(checked.mode, out->mode, sizeof checked.mode);
            *out = checked;
            out->timings.check_ms = now_ms() - t;
            if (out->n_sentences == 0)
                st = refuse(out, question, "no sentence of the answer is supported by the passages");
        }
    }
    rg_buf_free(&text);
    rg_prompt_free(&prompt);
    return st;
}

/* A follow-up's standalone query into out (rewrite.h); nothing without a conversation. */
static rg_status rewrite(const char *question, const rg_answer_options *o, rg_answer *out,
                         rg_error *err)
{
    if (!o->history) return RG_OK;
    rg_rewrite_options ro = rg_rewrite_default_options();
    ro.llm = o->rewriter;
    ro.cancel = o->cancel;
    rg_rewrite rw;
    rg_status st = rg_rewrite_query(o->history, o->n_history, question, &ro, &rw, err);
    if (st) return st;
    out->rewritten_query = rw.query; /* the answer owns it now */
    copy_name(out->rewrite, sizeof out->rewrite, rg_rewrite_method_name(rw.method));
    copy_name(out->rewrite_reason, sizeof out->rewrite_reason, rw.reason);
    out->timings.rewrite_ms = rw.ms;
    return RG_OK;
}

rg_status rg_answer_question(rg_search *q, rg_store *s, rg_generator *gen, const char *question,
                             const rg_answer_options *opt, rg_answer *out, rg_error *err)
{
    rg_answer_options o = opt ? *opt : rg_answer_default_options();
    memset(out, 0, sizeof *out);
    if (!question || !question[0]) return rg_fail(err, RG_EINVAL, "the question is empty");
    if (o.k < 1 || o.k > RG_ANSWER_SOURCES_MAX)
        return rg_fail(err, RG_EINVAL, "k must be 1..%d for an answer", RG_ANSWER_SOURCES_MAX);
    double t0 = now_ms();
    retrieved *r = rg_calloc(1, sizeof *r);
    if (!r) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_status st = rewrite(question, &o, out, err);
    if (!st)
        st = run(q, s, gen, question, o.history ? out->rewritten_query : question, &o, out, r, err);
    for (size_t i = 0; i < r->n; i++)
        rg_chunk_view_free(&r->views[i]);
    rg_free(r);
    if (st) {
        if (err && err->code == RG_OK) rg_fail(err, st, "%s", rg_strerror(st));
        rg_answer_free(out);
        return st;
    }
    out->timings.total_ms = now_ms() - t0;
    return RG_OK;
}
