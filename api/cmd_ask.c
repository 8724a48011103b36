/*
 * cmd_ask.c — `ragd ask`: a cited answer to a question from the indexed
 * documents, labelled as AI-generated, with its numbered sources.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "index/lexical.h"

static int ask_usage(void)
{
    puts("usage: ragd ask [-k N] [--collection NAME] [--mode hybrid|lexical|dense]\n"
         "                [--model NAME] [--min-score X] [--remove-unsupported] [--json]\n"
         "                QUESTION...\n\n"
         "Answers from the indexed documents with cited sentences. Without an LLM the\n"
         "answer is extracted from the documents. -k (default 5) chunks are retrieved;\n"
         "the answer is refused when the best score is below --min-score (its meaning\n"
         "depends on the mode: cosine for dense, BM25 for lexical, RRF for hybrid).");
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

static int parse_score(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!v[0] || *end || !isfinite(d)) {
        cli_fail("--min-score takes a number, not '%s'", v);
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
    int rc, json = cli->json;
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
        } else if ((rc = cli_opt(argc, argv, &i, "--min-score", &v))) {
            if (rc < 0 || !parse_score(v, &ao.min_score)) return 2;
        } else if (strcmp(argv[i], "--remove-unsupported") == 0) {
            ao.cite.remove_unsupported = 1;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0) {
            cli_fail("unknown option '%s' for ask", argv[i]);
            return 2;
        } else {
            size_t n = strlen(argv[i]);
            if (qlen + n + 1 > RG_QUERY_MAX_BYTES)
                return cli_fail("question is longer than %d bytes", RG_QUERY_MAX_BYTES);
            if (qlen) question[qlen++] = ' ';
            memcpy(question + qlen, argv[i], n);
            qlen += n;
            question[qlen] = '\0';
        }
    }
    if (!qlen) {
        cli_fail("ask needs a question");
        return 2;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_search *q = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_generator gen = {0};
    rg_answer ans = {0};
    cJSON *out = NULL;
    int status = 0;
    int need_dense = mode_name && strcmp(mode_name, "lexical") != 0;
    if (cli_open_store(cli, 0, &s, &err) ||
        cli_open_dense(cli, s, model, need_dense, 1, &enc, &dense, &err) ||
        rg_search_open(s, dense, &q, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (!mode_name) ao.mode = dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
    rg_extractive_options xo = rg_extractive_default_options();
    xo.encoder = enc;
    xo.dense = dense;
    xo.model = dense ? rg_dense_model(dense) : "";
    if (rg_extractive_open(&xo, &gen, &err) ||
        rg_answer_question(q, s, &gen, question, &ao, &ans, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (!json) {
        print_answer(&ans);
        goto done;
    }
    if (rg_answer_to_json(&ans, &out, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    cJSON_AddStringToObject(out, "question", question);
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
    rg_search_close(q);
    if (dense && !status && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
