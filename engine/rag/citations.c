/*
 * citations.c — parse, renumber and check the citations of generated text.
 *
 * Two passes over the sentences. The first decides, for each sentence,
 * which existing sources it cites and whether they carry it; the second
 * writes the kept sentences with their markers renumbered in order of
 * first use, so that removing a sentence never leaves a gap in the
 * numbering. See citations.h.
 */
#include "engine/rag/citations.h"

#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"

rg_cite_options rg_cite_default_options(void)
{
    return (rg_cite_options){.min_overlap = 0.5, .remove_unsupported = 0};
}

rg_status rg_citations_parse(const char *text, size_t len, rg_marker **out, size_t *n,
                             rg_error *err)
{
    rg_marker *v = NULL;
    size_t count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < len;) {
        rg_marker m;
        size_t k = rg_text_marker_at(text, len, i, &m);
        if (!k) {
            i++;
            continue;
        }
        if (count == RG_CITE_MARKERS_MAX) {
            rg_free(v);
            return rg_fail(err, RG_ELIMIT, "more than %d citation markers", RG_CITE_MARKERS_MAX);
        }
        if (count == cap) {
            size_t c = cap ? cap * 2 : 8;
            rg_marker *nv = rg_realloc(v, c * sizeof *nv);
            if (!nv) {
                rg_free(v);
                return rg_fail(err, RG_ENOMEM, "out of memory parsing citations");
            }
            v = nv;
            cap = c;
        }
        v[count++] = m;
        i += k;
    }
    *out = v;
    *n = count;
    return RG_OK;
}

/* What the check needs of each source, computed once. */
typedef struct source_facts {
    rg_terms terms;
    rg_terms numbers; /* canonical numbers, and the parts of ranges "30-60" */
} source_facts;

static int add_number(void *ctx, const char *canon, size_t len, rg_span span)
{
    (void)span;
    rg_terms *t = ctx;
    rg_status st = RG_OK;
    size_t part = 0;
    for (size_t i = 0; i <= len && !st; i++) {
        if (i < len && canon[i] != '-' && canon[i] != '/') continue;
        if (part > 0 || i < len) st = rg_terms_add_hash(t, rg_text_hash(canon + part, i - part));
        part = i + 1;
    }
    if (!st) st = rg_terms_add_hash(t, rg_text_hash(canon, len));
    return st != RG_OK;
}

static rg_status facts_build(source_facts *f, const rg_source *src)
{
    rg_terms_init(&f->terms);
    rg_terms_init(&f->numbers);
    rg_status st = rg_terms_add(&f->terms, src->text, src->text_len);
    if (st) return st;
    rg_text_numbers(src->text, src->text_len, add_number, &f->numbers);
    if (f->numbers.n == RG_TERMS_MAX) return RG_ELIMIT;
    rg_terms_seal(&f->terms);
    rg_terms_seal(&f->numbers);
    return RG_OK;
}

/* The sentence being checked and the sources it cites. */
typedef struct check_ctx {
    const rg_source *sources;
    const source_facts *facts;
    const unsigned char *cited; /* cited[i]: source i is cited */
    size_t n_sources;
    const char *text;
    const char *failed; /* first reason the sentence is not supported */
} check_ctx;

static int number_supported(void *vctx, const char *canon, size_t len, rg_span span)
{
    (void)span;
    check_ctx *c = vctx;
    uint64_t h = rg_text_hash(canon, len);
    for (size_t i = 0; i < c->n_sources; i++)
        if (c->cited[i] && rg_terms_has(&c->facts[i].numbers, h)) return 0;
    c->failed = "a number in it is not in its sources";
    return 1;
}

static int quote_supported(void *vctx, rg_span q)
{
    check_ctx *c = vctx;
    for (size_t i = 0; i < c->n_sources; i++)
        if (c->cited[i] && rg_text_find(c->sources[i].text, c->sources[i].text_len,
                                        c->text + q.start, q.end - q.start) >= 0)
            return 0;
    c->failed = "a quoted string in it is not in its sources";
    return 1;
}

/* Decides whether clean[0..n) (markers removed) is carried by its cited sources. */
static rg_status check_sentence(check_ctx *c, const char *clean, size_t n, double min_overlap,
                                rg_terms *scratch, rg_support *support)
{
    c->text = clean;
    c->failed = NULL;
    rg_text_numbers(clean, n, number_supported, c);
    if (!c->failed) rg_text_quotes(clean, n, quote_supported, c);
    if (!c->failed) {
        rg_terms_reset(scratch);
        rg_status st = rg_terms_add(scratch, clean, n);
        if (st) return st;
        rg_terms_seal(scratch);
        size_t found = 0;
        for (size_t t = 0; t < scratch->n; t++) {
            for (size_t i = 0; i < c->n_sources; i++) {
                if (c->cited[i] && rg_terms_has(&c->facts[i].terms, scratch->h[t])) {
                    found++;
                    break;
                }
            }
        }
        if (scratch->n && (double)found < min_overlap * (double)scratch->n)
            c->failed = "too few of its words are in its sources";
    }
    *support = c->failed ? RG_UNSUPPORTED : RG_SUPPORTED;
    return RG_OK;
}

/* Per-sentence state between the two passes. */
typedef struct sent_state {
    rg_span span;   /* in the generated text */
    rg_support support;
    const char *reason;
    size_t first_marker, n_markers; /* its markers in the marker list */
} sent_state;

typedef struct checker {
    const char *text;
    size_t len;
    const rg_source *sources;
    size_t n_sources;
    rg_cite_options opt;
    rg_marker *markers;
    size_t n_markers;
    rg_span *spans;
    size_t n_spans;
    sent_state *sents;
    source_facts *facts;
    int renum[RG_ANSWER_SOURCES_MAX]; /* old number - 1 -> new number, 0: unused yet */
    int order[RG_ANSWER_SOURCES_MAX]; /* new number - 1 -> source index */
    int n_used;
    rg_terms citing[RG_ANSWER_SOURCES_MAX]; /* terms of the sentences citing each new number */
    rg_terms scratch;
    rg_buf clean, out;
} checker;

static int valid_num(const checker *ck, int v)
{
    return v >= 1 && (size_t)v <= ck->n_sources;
}

/* Pass 1: what each sentence cites, and whether its sources carry it. */
static rg_status judge(checker *ck)
{
    size_t m = 0;
    for (size_t s = 0; s < ck->n_spans; s++) {
        sent_state *st = &ck->sents[s];
        st->span = ck->spans[s];
        while (m < ck->n_markers && ck->markers[m].span.start < st->span.start)
            m++;
        st->first_marker = m;
        unsigned char cited[RG_ANSWER_SOURCES_MAX] = {0};
        int any = 0;
        size_t at = st->span.start;
        rg_buf_reset(&ck->clean);
        rg_status rc = RG_OK;
        for (; m < ck->n_markers && ck->markers[m].span.end <= st->span.end; m++) {
            const rg_marker *mk = &ck->markers[m];
            for (int j = 0; j < mk->n_nums; j++)
                if (valid_num(ck, mk->nums[j])) cited[mk->nums[j] - 1] = 1, any = 1;
            if (!rc) rc = rg_buf_append(&ck->clean, ck->text + at, mk->span.start - at);
            if (!rc) rc = rg_buf_putc(&ck->clean, ' ');
            at = mk->span.end;
        }
        st->n_markers = m - st->first_marker;
        if (!rc) rc = rg_buf_append(&ck->clean, ck->text + at, st->span.end - at);
        if (rc) return rc;
        if (!any) {
            st->support = RG_UNCITED;
            st->reason = "it cites no source";
            continue;
        }
        check_ctx c = {ck->sources, ck->facts, cited, ck->n_sources, NULL, NULL};
        rc = check_sentence(&c, ck->clean.data ? ck->clean.data : "", ck->clean.len,
                            ck->opt.min_overlap, &ck->scratch, &st->support);
        if (rc) return rc;
        st->reason = c.failed ? c.failed : "";
    }
    return RG_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/*
 * Writes one marker renumbered ("[1, 3]"), or nothing when it cites no
 * source. The sentence being written starts at out[from].
 */
static rg_status write_marker(checker *ck, const rg_marker *mk, size_t from)
{
    int nums[RG_MARKER_NUMS_MAX];
    int n = 0;
    for (int j = 0; j < mk->n_nums; j++) {
        int v = mk->nums[j];
        if (!valid_num(ck, v)) continue;
        if (!ck->renum[v - 1]) {
            ck->order[ck->n_used] = v - 1;
            ck->renum[v - 1] = ++ck->n_used;
        }
        int nv = ck->renum[v - 1], dup = 0;
        for (int k = 0; k < n; k++)
            dup |= nums[k] == nv;
        if (!dup) nums[n++] = nv;
    }
    if (n == 0) { /* a marker pointing nowhere goes, with the space before it in its
                     sentence (not before the sentence: its span would end before it
                     starts, found by tests/fuzz) */
        while (ck->out.len > from && ck->out.data[ck->out.len - 1] == ' ')
            ck->out.data[--ck->out.len] = '\0';
        return RG_OK;
    }
    qsort(nums, (size_t)n, sizeof nums[0], cmp_int);
    rg_status st = rg_buf_putc(&ck->out, '[');
    for (int k = 0; k < n && !st; k++)
        st = rg_buf_printf(&ck->out, k ? ", %d" : "%d", nums[k]);
    return st ? st : rg_buf_putc(&ck->out, ']');
}

/* Pass 2: the kept sentences, renumbered, into the answer. */
static rg_status write_answer(checker *ck, rg_answer *ans)
{
    ans->sentences = rg_calloc(ck->n_spans ? ck->n_spans : 1, sizeof *ans->sentences);
    if (!ans->sentences) return RG_ENOMEM;
    size_t supported = 0, prev_end = 0;
    rg_status st = RG_OK;
    for (size_t s = 0; s < ck->n_spans && !st; s++) {
        const sent_state *ss = &ck->sents[s];
        supported += ss->support == RG_SUPPORTED;
        size_t gap_start = prev_end;
        prev_end = ss->span.end;
        if (ss->support != RG_SUPPORTED && ck->opt.remove_unsupported) {
            ans->removed++;
            continue;
        }
        if (ck->out.len) st = rg_buf_append(&ck->out, ck->text + gap_start, ss->span.start - gap_start);
        size_t start = ck->out.len, at = ss->span.start;
        for (size_t m = ss->first_marker; m < ss->first_marker + ss->n_markers && !st; m++) {
            const rg_marker *mk = &ck->markers[m];
            st = rg_buf_append(&ck->out, ck->text + at, mk->span.start - at);
            if (!st) st = write_marker(ck, mk, start);
            at = mk->span.end;
        }
        if (!st) st = rg_buf_append(&ck->out, ck->text + at, ss->span.end - at);
        if (st) break;
        /* the sentence's words back the passage choice of every source it
         * cites, once per source however often it names it (a sentence
         * repeating "[1]" must not cost its length times the markers) */
        unsigned char cited[RG_ANSWER_SOURCES_MAX] = {0};
        for (size_t m = ss->first_marker; m < ss->first_marker + ss->n_markers; m++)
            for (int j = 0; j < ck->markers[m].n_nums; j++) {
                int v = ck->markers[m].nums[j];
                if (valid_num(ck, v)) cited[ck->renum[v - 1] - 1] = 1;
            }
        for (int j = 0; j < ck->n_used && !st; j++)
            if (cited[j])
                st = rg_terms_add(&ck->citing[j], ck->text + ss->span.start,
                                  ss->span.end - ss->span.start);
        ans->sentences[ans->n_sentences++] =
            (rg_sentence_check){{start, ck->out.len}, ss->support, ss->reason};
    }
    ans->supported_share = ck->n_spans ? (double)supported / (double)ck->n_spans : 1.0;
    return st;
}

/* The sentence of src that shares most terms with what cites it, and its
 * span in the chunk text (*at, bytes of *out). */
static rg_status pick_passage(const rg_source *src, rg_terms *citing, rg_terms *scratch, char **out,
                              size_t *at)
{
    rg_span *spans = NULL;
    size_t n = 0;
    rg_status st = rg_text_sentences(src->text, src->text_len, &spans, &n, NULL);
    if (st) return st;
    rg_terms_seal(citing);
    rg_span best = {0, src->text_len};
    size_t best_hits = 0;
    for (size_t i = 0; i < n && !st; i++) {
        rg_terms_reset(scratch);
        st = rg_terms_add(scratch, src->text + spans[i].start, spans[i].end - spans[i].start);
        rg_terms_seal(scratch);
        size_t hits = rg_terms_overlap(scratch, citing);
        if (i == 0 || hits > best_hits) best = spans[i], best_hits = hits;
    }
    rg_free(spans);
    if (st) return st;
    size_t len = best.end - best.start;
    if (len > RG_PASSAGE_MAX_BYTES) len = rg_utf8_floor(src->text + best.start, RG_PASSAGE_MAX_BYTES);
    *at = best.start;
    *out = rg_strndup(src->text + best.start, len);
    return *out ? RG_OK : RG_ENOMEM;
}

static rg_status write_citations(checker *ck, rg_answer *ans)
{
    if (!ck->n_used) return RG_OK;
    ans->citations = rg_calloc((size_t)ck->n_used, sizeof *ans->citations);
    if (!ans->citations) return RG_ENOMEM;
    for (int j = 0; j < ck->n_used; j++) {
        const rg_source *src = &ck->sources[ck->order[j]];
        rg_citation *c = &ans->citations[ans->n_citations++];
        *c = (rg_citation){.number = j + 1,
                           .source = ck->order[j],
                           .doc_id = src->doc_id,
                           .chunk_id = src->chunk_id,
                           .byte_start = src->byte_start,
                           .byte_end = src->byte_end,
                           .score = src->score};
        c->title = rg_strdup(src->title ? src->title : "");
        c->source_uri = rg_strdup(src->source_uri ? src->source_uri : "");
        if (!c->title || !c->source_uri) return RG_ENOMEM;
        size_t at = 0;
        rg_status st = pick_passage(src, &ck->citing[j], &ck->scratch, &c->passage, &at);
        if (st) return st;
        /* the chunk's text is its document's bytes [byte_start, byte_end) */
        c->passage_start = src->byte_start + (int64_t)at;
        c->passage_end = c->passage_start + (int64_t)strlen(c->passage);
        /* the passage's page: the chunk's, plus the pages that start before it */
        c->page = src->page;
        for (size_t b = 0; c->page > 0 && b < src->n_page_breaks; b++)
            c->page += src->page_breaks[b] <= c->passage_start;
    }
    return RG_OK;
}

static void checker_free(checker *ck)
{
    rg_free(ck->markers);
    rg_free(ck->spans);
    rg_free(ck->sents);
    if (ck->facts)
        for (size_t i = 0; i < ck->n_sources; i++) {
            rg_terms_free(&ck->facts[i].terms);
            rg_terms_free(&ck->facts[i].numbers);
        }
    rg_free(ck->facts);
    for (size_t i = 0; i < RG_ANSWER_SOURCES_MAX; i++)
        rg_terms_free(&ck->citing[i]);
    rg_terms_free(&ck->scratch);
    rg_buf_free(&ck->clean);
    rg_buf_free(&ck->out);
}

rg_status rg_citations_check(const char *text, size_t len, const rg_source *sources,
                             size_t n_sources, const rg_cite_options *opt, rg_answer *ans,
                             rg_error *err)
{
    if (len > RG_ANSWER_TEXT_MAX)
        return rg_fail(err, RG_ELIMIT, "generated text is longer than %u bytes", RG_ANSWER_TEXT_MAX);
    if (n_sources > RG_ANSWER_SOURCES_MAX)
        return rg_fail(err, RG_ELIMIT, "more than %d sources", RG_ANSWER_SOURCES_MAX);
    checker ck;
    memset(&ck, 0, sizeof ck);
    ck.text = text;
    ck.len = len;
    ck.sources = sources;
    ck.n_sources = n_sources;
    ck.opt = opt ? *opt : rg_cite_default_options();
    rg_buf_init(&ck.clean, RG_ANSWER_TEXT_MAX);
    rg_buf_init(&ck.out, RG_ANSWER_TEXT_MAX + RG_CITE_MARKERS_MAX * 8);
    for (size_t i = 0; i < RG_ANSWER_SOURCES_MAX; i++)
        rg_terms_init(&ck.citing[i]);
    rg_terms_init(&ck.scratch);
    rg_status st = rg_citations_parse(text, len, &ck.markers, &ck.n_markers, err);
    if (st) goto out;
    if ((st = rg_text_sentences(text, len, &ck.spans, &ck.n_spans, err))) goto out;
    ck.sents = rg_calloc(ck.n_spans ? ck.n_spans : 1, sizeof *ck.sents);
    ck.facts = rg_calloc(n_sources ? n_sources : 1, sizeof *ck.facts);
    st = ck.sents && ck.facts ? RG_OK : RG_ENOMEM;
    for (size_t i = 0; i < n_sources && !st; i++)
        st = facts_build(&ck.facts[i], &sources[i]);
    if (!st) st = judge(&ck);
    if (!st) st = write_answer(&ck, ans);
    if (!st) st = write_citations(&ck, ans);
    if (!st) {
        ans->text_len = ck.out.len;
        ans->text = ck.out.data ? rg_buf_steal(&ck.out) : rg_strdup("");
        if (!ans->text) st = RG_ENOMEM;
    }
    if (st && err && err->code == RG_OK)
        rg_fail(err, st, st == RG_ELIMIT ? "citation check: a limit was exceeded"
                                         : "out of memory checking citations");
out:
    if (st) rg_answer_free(ans);
    checker_free(&ck);
    return st;
}

void rg_answer_free(rg_answer *ans)
{
    if (!ans) return;
    for (size_t i = 0; i < ans->n_citations; i++) {
        rg_free(ans->citations[i].title);
        rg_free(ans->citations[i].source_uri);
        rg_free(ans->citations[i].passage);
    }
    rg_free(ans->citations);
    rg_free(ans->sentences);
    rg_free(ans->text);
    rg_free(ans->rewritten_query);
    memset(ans, 0, sizeof *ans);
}

static const char *support_name(rg_support s)
{
    return s == RG_SUPPORTED ? "supported" : s == RG_UNSUPPORTED ? "unsupported" : "uncited";
}

/* cJSON reports failure by NULL at every step; ok collects them. */
static void need(int *ok, const void *p)
{
    if (!p) *ok = 0;
}

static cJSON *citation_json(const rg_citation *c, int *ok)
{
    cJSON *o = cJSON_CreateObject();
    need(ok, o);
    if (!o) return NULL;
    need(ok, cJSON_AddNumberToObject(o, "number", c->number));
    need(ok, cJSON_AddNumberToObject(o, "document_id", (double)c->doc_id));
    need(ok, cJSON_AddStringToObject(o, "title", c->title));
    need(ok, cJSON_AddStringToObject(o, "source", c->source_uri));
    need(ok, cJSON_AddNumberToObject(o, "chunk_id", (double)c->chunk_id));
    need(ok, cJSON_AddNumberToObject(o, "byte_start", (double)c->byte_start));
    need(ok, cJSON_AddNumberToObject(o, "byte_end", (double)c->byte_end));
    if (c->page > 0) need(ok, cJSON_AddNumberToObject(o, "page", (double)c->page));
    need(ok, cJSON_AddStringToObject(o, "passage", c->passage));
    need(ok, cJSON_AddNumberToObject(o, "passage_start", (double)c->passage_start));
    need(ok, cJSON_AddNumberToObject(o, "passage_end", (double)c->passage_end));
    need(ok, cJSON_AddNumberToObject(o, "score", c->score));
    return o;
}

/* rewritten_query and rewrite {method, ms, fallback_reason} into o; NULL when out of memory. */
static const void *rewrite_json(const rg_answer *a, cJSON *o)
{
    int ok = 1;
    need(&ok, cJSON_AddStringToObject(o, "rewritten_query",
                                      a->rewritten_query ? a->rewritten_query : ""));
    cJSON *r = cJSON_AddObjectToObject(o, "rewrite");
    need(&ok, r);
    if (r) {
        need(&ok, cJSON_AddStringToObject(r, "method", a->rewrite));
        need(&ok, cJSON_AddNumberToObject(r, "ms", a->timings.rewrite_ms));
        if (a->rewrite_reason[0])
            need(&ok, cJSON_AddStringToObject(r, "fallback_reason", a->rewrite_reason));
    }
    return ok ? o : NULL;
}

rg_status rg_answer_to_json(const rg_answer *a, cJSON **out, rg_error *err)
{
    int ok = 1;
    cJSON *o = cJSON_CreateObject();
    *out = NULL;
    if (!o) return rg_fail(err, RG_ENOMEM, "out of memory writing the answer");
    need(&ok, cJSON_AddStringToObject(o, "answer", a->text ? a->text : ""));
    need(&ok, cJSON_AddBoolToObject(o, "ai_generated", 1));
    need(&ok, cJSON_AddStringToObject(o, "generator", a->generator));
    need(&ok, cJSON_AddStringToObject(o, "model", a->model));
    need(&ok, cJSON_AddBoolToObject(o, "fallback", a->fallback));
    need(&ok, cJSON_AddBoolToObject(o, "refused", a->refused));
    need(&ok, cJSON_AddStringToObject(o, "refusal_reason", a->reason));
    need(&ok, cJSON_AddNumberToObject(o, "supported_share", a->supported_share));
    need(&ok, cJSON_AddNumberToObject(o, "removed_sentences", (double)a->removed));
    need(&ok, cJSON_AddStringToObject(o, "mode", a->mode));
    need(&ok, cJSON_AddNumberToObject(o, "best_score", a->best_score));
    cJSON *rel = cJSON_AddObjectToObject(o, "relevance");
    need(&ok, rel);
    if (rel) {
        need(&ok, cJSON_AddStringToObject(rel, "signal", a->relevance_signal));
        if (isnan(a->relevance)) need(&ok, cJSON_AddNullToObject(rel, "value"));
        else need(&ok, cJSON_AddNumberToObject(rel, "value", a->relevance));
    }
    cJSON *pr = cJSON_AddObjectToObject(o, "prompt");
    need(&ok, pr);
    if (pr) {
        need(&ok, cJSON_AddNumberToObject(pr, "sources", (double)a->prompt_sources));
        need(&ok, cJSON_AddNumberToObject(pr, "tokens", (double)a->prompt_tokens));
    }
    if (a->rewrite[0]) need(&ok, rewrite_json(a, o));
    cJSON *cites = cJSON_AddArrayToObject(o, "citations");
    need(&ok, cites);
    for (size_t i = 0; ok && i < a->n_citations; i++)
        cJSON_AddItemToArray(cites, citation_json(&a->citations[i], &ok));
    cJSON *sents = cJSON_AddArrayToObject(o, "sentences");
    need(&ok, sents);
    for (size_t i = 0; ok && i < a->n_sentences; i++) {
        const rg_sentence_check *s = &a->sentences[i];
        cJSON *so = cJSON_CreateObject();
        need(&ok, so);
        if (!so) break;
        cJSON_AddItemToArray(sents, so);
        need(&ok, cJSON_AddNumberToObject(so, "start", (double)s->span.start));
        need(&ok, cJSON_AddNumberToObject(so, "end", (double)s->span.end));
        need(&ok, cJSON_AddStringToObject(so, "support", support_name(s->support)));
        need(&ok, cJSON_AddStringToObject(so, "reason", s->reason ? s->reason : ""));
    }
    cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
    need(&ok, t);
    if (t) {
        need(&ok, cJSON_AddNumberToObject(t, "retrieve", a->timings.retrieve_ms));
        need(&ok, cJSON_AddNumberToObject(t, "prompt", a->timings.prompt_ms));
        need(&ok, cJSON_AddNumberToObject(t, "generate", a->timings.generate_ms));
        need(&ok, cJSON_AddNumberToObject(t, "check", a->timings.check_ms));
        need(&ok, cJSON_AddNumberToObject(t, "total", a->timings.total_ms));
        if (a->rewrite[0]) need(&ok, cJSON_AddNumberToObject(t, "rewrite", a->timings.rewrite_ms));
    }
    if (!ok) {
        cJSON_Delete(o);
        return rg_fail(err, RG_ENOMEM, "out of memory writing the answer");
    }
    *out = o;
    return RG_OK;
}
