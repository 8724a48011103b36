/*
 * cmd_ask.c — `ragd ask`: a cited answer to a question from the indexed
 * documents, labelled as AI-generated, with its numbered sources.
 *
 * Without --llm the extractive generator answers. With --llm an
 * OpenAI-compatible or Ollama server writes the answer, which goes through
 * the same citation check; when the server fails, the extractive generator
 * answers instead and the answer says fallback: true.
 *
 * With --history the question is a follow-up in a conversation: it is
 * rewritten into a standalone query before retrieval (rewrite.h), by the
 * LLM when there is one (a second instance with rewrite options), else by
 * the plain heuristic.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "index/lexical.h"

static int ask_usage(void)
{
    puts("usage: ragd ask [-k N] [--collection NAME] [--mode hybrid|lexical|dense]\n"
         "                [--model NAME] [--min-similarity X] [--min-coverage X]\n"
         "                [--remove-unsupported] [--json]\n"
         "                [--llm URL --llm-model NAME [--llm-kind openai|ollama]\n"
         "                 [--llm-timeout SECONDS] [--llm-max-tokens N] [--llm-context N]\n"
         "                 [--allow-private] [--stream]]\n"
         "                [--history FILE|-] QUESTION...\n\n"
         "Answers from the indexed documents with cited sentences. Without an LLM the\n"
         "answer is extracted from the documents. -k (default 5) chunks are retrieved;\n"
         "the answer is refused when the best passage is not relevant enough: its\n"
         "cosine similarity below --min-similarity when the dense leg ran, else the\n"
         "share of the question's terms it holds (idf-weighted) below --min-coverage\n"
         "(default 0.08; 0.25 for a question in Chinese, Japanese or Korean "
         "script).\n\n" CLI_LLM_USAGE "\n"
         "--stream prints the text as it is generated (with --json: one {\"token\"}\n"
         "line per piece), then the checked answer.\n\n"
         "--history FILE (\"-\": standard input) makes the question a follow-up in a\n"
         "conversation: FILE is a JSON array of {\"role\": \"user\"|\"assistant\",\n"
         "\"content\": \"...\"} messages, oldest first, without the question (system\n"
         "messages are ignored; at most 64 turns, 32 KiB a turn, 128 KiB in all).\n"
         "The question is rewritten into a standalone search query first: by the\n"
         "LLM with --llm (falling back to the plain rewrite when it fails), else by\n"
         "the plain rewrite, which puts the previous question before a follow-up\n"
         "that looks dependent (\"what about Taipei?\", \"How long is it?\", \"那台北呢？\").\n"
         "The answer shows the query (JSON: rewritten_query, rewrite {method, ms}).");
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
        printf("[%d] %s\n    %s", c->number, c->title[0] ? c->title : "(untitled)", c->source_uri);
        if (c->page > 0) printf(", page %lld", (long long)c->page);
        printf("\n    \"");
        put_flat(c->passage);
        puts("\"");
    }
}

/*
 * --history PATH ("-": standard input) into *h. Prints one error line and
 * returns 0 when it cannot be read, is not JSON or is not a valid history.
 */
static int read_history(const char *path, rg_history *h)
{
    int from_stdin = strcmp(path, "-") == 0;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail("--history %s: %s", path, strerror(errno));
        return 0;
    }
    char *text = rg_malloc(RG_HISTORY_JSON_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, RG_HISTORY_JSON_MAX_BYTES + 1, f) : 0;
    int failed = ferror(f);
    if (!from_stdin) fclose(f);
    cJSON *j = NULL;
    rg_error err;
    int ok = 0;
    size_t at = 0;
    cli_json_shape shape = text && !failed && n <= RG_HISTORY_JSON_MAX_BYTES
                               ? cli_json_scan(text, n, &at)
                               : CLI_JSON_OK;
    if (!text)
        cli_fail("out of memory");
    else if (failed)
        cli_fail("--history %s: cannot be read", path);
    else if (n > RG_HISTORY_JSON_MAX_BYTES)
        cli_fail("--history %s: larger than %u bytes", path, RG_HISTORY_JSON_MAX_BYTES);
    else if (shape == CLI_JSON_TOO_DEEP)
        cli_fail("--history %s: nested deeper than %d levels (at byte %zu)", path,
                 CLI_JSON_DEPTH_MAX, at);
    else if (shape == CLI_JSON_NUL)
        cli_fail("--history %s: a string holds \\u0000 (at byte %zu)", path, at);
    else if (!(j = cJSON_ParseWithLength(text, n)))
        cli_fail("--history %s: not valid JSON (at byte %ld)", path,
                 cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - text) : 0L);
    else if (rg_history_from_json(j, h, &err))
        cli_fail("--history %s: %s", path, rg_error_message(&err));
    else
        ok = 1;
    cJSON_Delete(j);
    rg_free(text);
    return ok;
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
    cli_llm lf = cli_llm_defaults();
    const char *history_path = NULL;
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
        } else if ((rc = cli_llm_opt(argc, argv, &i, &lf))) {
            if (rc < 0) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--history", &v))) {
            if (rc < 0) return 2;
            history_path = v;
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
    if (!cli_llm_check(&lf)) return 2;
    cli_llm_prompt(&lf, &ao.prompt);
    rg_history history = {0};
    if (history_path && !read_history(history_path, &history)) return 2;
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_search *q = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_generator gen = {0};
    cli_llm_gen llm = {0};
    rg_generator rewriter = {0};
    rg_answer ans = {0};
    cJSON *out = NULL;
    int status = 0;
    int need_dense = mode_name && strcmp(mode_name, "lexical") != 0;
    if (cli_open_store(cli, 0, &s, &err) ||
        cli_open_dense(cli, s, model, need_dense, 0, &enc, &dense, &err) ||
        cli_search_open(s, dense, &q, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (!mode_name) ao.mode = dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
    rg_extractive_options xo = rg_extractive_default_options();
    xo.encoder = enc;
    xo.dense = dense;
    xo.model = dense ? rg_dense_model(dense) : "";
    if (rg_extractive_open(&xo, &gen, &err) || (lf.url && cli_llm_open(&lf, &llm, &err)) ||
        (lf.url && history_path && cli_llm_open_rewriter(&lf, &rewriter, &err))) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (lf.url) ao.fallback = &gen;
    if (stream) {
        ao.on_token = print_token;
        ao.token_ctx = &json;
    }
    if (history_path) {
        ao.history = history.turns;
        ao.n_history = history.n;
        ao.rewriter = lf.url ? &rewriter : NULL;
    }
    if (rg_answer_question(q, s, lf.url ? &llm.gen : &gen, question, &ao, &ans, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    if (ans.fallback)
        fprintf(stderr,
                "ragd: warning: the LLM failed (%s); the answer is extracted from the "
                "documents\n",
                rg_error_message(&llm.last));
    if (!strcmp(ans.rewrite, "plain-fallback"))
        fprintf(stderr,
                "ragd: warning: the LLM could not rewrite the follow-up (%s); "
                "the plain rewrite was used\n",
                ans.rewrite_reason);
    if (stream && !json) fputs("\n\n", stdout);
    if (!json) {
        if (ans.rewritten_query && strcmp(ans.rewritten_query, question) != 0) {
            printf("Searched for (the follow-up rewritten, %s): ", ans.rewrite);
            put_flat(ans.rewritten_query);
            puts("\n");
        }
        print_answer(&ans);
        goto done;
    }
    if (rg_answer_to_json(&ans, &out, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    cJSON_AddStringToObject(out, "question", question);
    if (ans.fallback) cJSON_AddStringToObject(out, "fallback_reason", rg_error_message(&llm.last));
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
    cli_llm_close(&llm);
    rg_generator_close(&rewriter);
    rg_history_free(&history);
    rg_search_close(q);
    if (dense && !status && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
