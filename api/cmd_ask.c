/*
 * cmd_ask.c — `ragd ask`: a cited answer to a question from the indexed
 * documents, labelled as AI-generated, with its numbered sources.
 *
 * Without --llm the extractive generator answers. With --llm an
 * OpenAI-compatible or Ollama server writes the answer, which goes through
 * the same citation check; when the server fails, the extractive generator
 * answers instead and the answer says fallback: true.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "engine/rag/gen_ollama.h"
#include "engine/rag/gen_openai.h"
#include "index/lexical.h"

/* Longest --llm-timeout accepted (seconds). */
#define LLM_TIMEOUT_MAX_S 3600

static int ask_usage(void)
{
    puts("usage: ragd ask [-k N] [--collection NAME] [--mode hybrid|lexical|dense]\n"
         "                [--model NAME] [--min-similarity X] [--min-coverage X]\n"
         "                [--remove-unsupported] [--json]\n"
         "                [--llm URL --llm-model NAME [--llm-kind openai|ollama]\n"
         "                 [--llm-timeout SECONDS] [--allow-private] [--stream]]\n"
         "                QUESTION...\n\n"
         "Answers from the indexed documents with cited sentences. Without an LLM the\n"
         "answer is extracted from the documents. -k (default 5) chunks are retrieved;\n"
         "the answer is refused when the best passage is not relevant enough: its\n"
         "cosine similarity below --min-similarity when the dense leg ran, else the\n"
         "share of the question's terms it holds (idf-weighted) below --min-coverage.\n\n"
         "--llm URL is the server's base URL: an OpenAI-compatible API (e.g.\n"
         "http://127.0.0.1:8080/v1; key from $OPENAI_API_KEY) or, with --llm-kind\n"
         "ollama, an Ollama server (http://127.0.0.1:11434). Loopback servers are\n"
         "allowed when the URL names one; private addresses need --allow-private.\n"
         "When the LLM fails the answer is extracted instead (fallback: true).\n"
         "--stream prints the text as it is generated (with --json: one {\"token\"}\n"
         "line per piece), then the checked answer.");
    return 0;
}

/* Prints s on one line: line breaks and runs of white space become one space. */
static void put_flat(const char *s)
{
    int space = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ' || *p == '\r') {
            space = 1;
            continue;
        }
        if (space) putchar(' ');
        space = 0;
        putchar(*p);
    }
}

static void print_answer(const rg_answer *a)
{
    int extractive = strcmp(a->generator, "extractive") == 0;
    printf("Answer (AI-generated%s):\n", extractive ? ", extracted from the documents" : "");
    put_flat(a->text);
    putchar('\n');
    if (a->refused) {
        printf("\n(%s)\n", a->reason);
        return;
    }
    size_t unsupported = 0;
    for (size_t i = 0; i < a->n_sentences; i++)
        unsupported += a->sentences[i].support != RG_SUPPORTED;
    if (unsupported)
        printf("\nNote: %zu of %zu sentences are not supported by the sources they cite.\n",
               unsupported, a->n_sentences);
    if (a->n_citations) puts("\nSources:");
    for (size_t i = 0; i < a->n_citations; i++) {
        const rg_citation *c = &a->citations[i];
        printf("[%d] %s\n    %s\n    \"", c->number, c->title[0] ? c->title : "(untitled)",
               c->source_uri);
        put_flat(c->passage);
        puts("\"");
    }
}

/*
 * The LLM generator seen through a recorder: the answer pipeline clears
 * the LLM's error when it falls back, and the user should still learn why.
 */
typedef struct llm_recorder {
    rg_generator inner;
    rg_error last; /* the LLM's last failure; RG_OK when it answered */
} llm_recorder;

static rg_status rec_generate(void *self, const rg_gen_request *req, rg_buf *out,
                              rg_gen_result *res, rg_error *err)
{
    llm_recorder *r = self;
    rg_status st = rg_generate(&r->inner, req, out, res, &r->last);
    if (st && err) *err = r->last;
    return st;
}

static const char *rec_model(void *self)
{
    return rg_generator_model(&((llm_recorder *)self)->inner);
}

static const rg_generator_methods openai_recorder = {RG_GENERATOR_VERSION, "openai", rec_generate,
                                                     rec_model, NULL};
static const rg_generator_methods ollama_recorder = {RG_GENERATOR_VERSION, "ollama", rec_generate,
                                                     rec_model, NULL};

typedef struct llm_flags {
    const char *url, *model, *kind;
    long timeout_ms;
    int allow_private;
} llm_flags;

/* Opens the LLM named by the flags into r->inner. */
static rg_status open_llm(const llm_flags *f, llm_recorder *r, rg_error *err)
{
    rg_llm_options lo = rg_llm_default_options();
    lo.base_url = f->url;
    lo.model = f->model;
    if (f->timeout_ms > 0) lo.timeout_ms = f->timeout_ms;
    rg_addr_class c;
    rg_status st = rg_http_url_host_class(f->url, &c, err);
    if (st) return st;
    /* naming a loopback server is asking for it, as `model pull --endpoint` does */
    if (c == RG_ADDR_LOOPBACK) lo.allow |= RG_HTTP_ALLOW_LOOPBACK;
    if (f->allow_private) lo.allow |= RG_HTTP_ALLOW_PRIVATE;
    return strcmp(f->kind, "ollama") == 0 ? rg_ollama_open(&lo, &r->inner, err)
                                          : rg_openai_open(&lo, &r->inner, err);
}

/* --stream: each piece is printed as it arrives (JSON: one object per line). */
static int print_token(void *ctx, const char *piece, size_t n)
{
    const int *json = ctx;
    if (*json) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        char *text = rg_strndup(piece, n);
        if (o && text && cJSON_AddStringToObject(o, "token", text))
            line = cJSON_PrintUnformatted(o);
        if (line) puts(line);
        cJSON_free(line);
        rg_free(text);
        cJSON_Delete(o);
    } else {
        fwrite(piece, 1, n, stdout);
    }
    fflush(stdout);
    return 0;
}

static int parse_score(const char *opt, const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!v[0] || *end || !isfinite(d)) {
        cli_fail("%s takes a number, not '%s'", opt, v);
        return 0;
    }
    *out = d;
    return 1;
}

int cmd_ask(const rg_cli *cli, int argc, char **argv)
{
    rg_answer_options ao = rg_answer_default_options();
    const char *model = NULL, *mode_name = NULL;
    char question[RG_QUERY_MAX_BYTES + 1];
    size_t qlen = 0;
    int rc, json = cli->json, stream = 0;
    llm_flags lf = {.kind = "openai"};
    question[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return ask_usage();
        if ((rc = cli_opt(argc, argv, &i, "-k", &v))) {
            if (rc < 0 || !cli_size("-k", v, 1, RG_ANSWER_SOURCES_MAX, &ao.k)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            ao.collection = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--mode", &v))) {
            if (rc < 0) return 2;
            if (!rg_search_mode_parse(v, &ao.mode)) {
                cli_fail("--mode is hybrid, lexical or dense, not '%s'", v);
                return 2;
            }
            mode_name = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--min-similarity", &v))) {
            if (rc < 0 || !parse_score("--min-similarity", v, &ao.min_similarity)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--min-coverage", &v))) {
            if (rc < 0 || !parse_score("--min-coverage", v, &ao.min_coverage)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--llm", &v))) {
            if (rc < 0) return 2;
            lf.url = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--llm-model", &v))) {
            if (rc < 0) return 2;
            lf.model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--llm-kind", &v))) {
            if (rc < 0) return 2;
            if (strcmp(v, "openai") != 0 && strcmp(v, "ollama") != 0) {
                cli_fail("--llm-kind is openai or ollama, not '%s'", v);
                return 2;
            }
            lf.kind = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--llm-timeout", &v))) {
            size_t secs;
            if (rc < 0 || !cli_size("--llm-timeout", v, 1, LLM_TIMEOUT_MAX_S, &secs)) return 2;
            lf.timeout_ms = (long)secs * 1000;
        } else if (strcmp(argv[i], "--allow-private") == 0) {
            lf.allow_private = 1;
        } else if (strcmp(argv[i], "--stream") == 0) {
            stream = 1;
        } else if (strcmp(argv[i], "--remove-unsupported") == 0) {
            ao.cite.remove_unsupported = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0) {
            cli_fail("unknown option '%s' for ask", argv[i]);
            return 2;
        } else if (!cli_join_word(question, sizeof question, &qlen, argv[i], "the question")) {
            return 1;
        }
    }
    if (!qlen) {
        cli_fail("ask needs a question");
        return 2;
    }
    if (!lf.url != !lf.model) {
        cli_fail("--llm and --llm-model go together");
        return 2;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_search *q = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_generator gen = {0};
    llm_recorder rec = {0};
    rg_generator llm = {0};
    rg_answer ans = {0};
    cJSON *out = NULL;
    int status = 0;
    int need_dense = mode_name && strcmp(mode_name, "lexical") != 0;
    if (cli_open_store(cli, 0, &s, &err) ||
        cli_open_dense(cli, s, model, need_dense, 0, &enc, &dense, &err) ||
        rg_search_open(s, dense, &q, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (!mode_name) ao.mode = dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
    rg_extractive_options xo = rg_extractive_default_options();
    xo.encoder = enc;
    xo.dense = dense;
    xo.model = dense ? rg_dense_model(dense) : "";
    if (rg_extractive_open(&xo, &gen, &err) || (lf.url && open_llm(&lf, &rec, &err))) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (lf.url) {
        llm.methods = strcmp(lf.kind, "ollama") == 0 ? &ollama_recorder : &openai_recorder;
        llm.self = &rec;
        ao.fallback = &gen;
    }
    if (stream) {
        ao.on_token = print_token;
        ao.token_ctx = &json;
    }
    if (rg_answer_question(q, s, lf.url ? &llm : &gen, question, &ao, &ans, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (ans.fallback)
        fprintf(stderr,
                "ragd: warning: the LLM failed (%s); the answer is extracted from the "
                "documents\n",
                rg_error_message(&rec.last));
    if (stream && !json) fputs("\n\n", stdout);
    if (!json) {
        print_answer(&ans);
        goto done;
    }
    if (rg_answer_to_json(&ans, &out, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    cJSON_AddStringToObject(out, "question", question);
    if (ans.fallback) cJSON_AddStringToObject(out, "fallback_reason", rg_error_message(&rec.last));
    char *text = cJSON_PrintUnformatted(out);
    if (!text) {
        status = cli_fail("out of memory");
        goto done;
    }
    puts(text);
    cJSON_free(text);
done:
    cJSON_Delete(out);
    rg_answer_free(&ans);
    rg_generator_close(&gen);
    rg_generator_close(&rec.inner);
    rg_search_close(q);
    if (dense && !status && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
