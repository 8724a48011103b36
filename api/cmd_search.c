/*
 * cmd_search.c — `ragd search`: ranked chunks with titles, sources and
 * highlighted snippets, as text or JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"
#include "index/dense.h"
#include "index/lexical.h"
#include "index/search.h"

/* Tokens of context in a snippet. */
#define SNIPPET_TOKENS 40
/* Longest snippet kept (bytes). */
#define SNIPPET_MAX_BYTES 4096

static int search_usage(void)
{
    puts("usage: ragd search [-k N] [--collection NAME] [--mode hybrid|lexical|dense]\n"
         "                   [--model NAME] [--doc ID]... [--where KEY=VALUE]...\n"
         "                   [--since DATE] [--until DATE] [--json] QUERY...\n\n"
         "Filters (documents, metadata, modification dates; --until is exclusive) apply\n"
         "to both legs before ranking.\n"
         "Prints the best matching chunks, best first. -k defaults to 5. The mode\n"
         "defaults to hybrid when an embedding model is imported, else lexical.");
    return 0;
}

static void print_hit(const rg_chunk_view *v, int rank, float score, const char *snippet)
{
    printf("%d. %s", rank, v->title[0] ? v->title : "(untitled)");
    if (v->section[0] && strcmp(v->section, v->title) != 0) printf(" › %s", v->section);
    printf("  [%.3f]\n   %s\n   ", score, v->source_uri);
    /* One paragraph on screen: line breaks of the chunk become single spaces. */
    int space = 0;
    for (const char *p = snippet; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ') {
            space = 1;
            continue;
        }
        if (space) putchar(' ');
        space = 0;
        putchar(*p);
    }
    fputs("\n\n", stdout);
}

int cmd_search(const rg_cli *cli, int argc, char **argv)
{
    size_t k = 5;
    const char *collection = NULL, *model = NULL, *mode_name = NULL;
    int64_t doc_ids[64];
    const char *mkeys[RG_FILTER_MAX_META], *mvals[RG_FILTER_MAX_META];
    rg_search_filter filter = {.meta_keys = mkeys, .meta_values = mvals};
    char query[RG_QUERY_MAX_BYTES + 1];
    size_t qlen = 0;
    int rc, json = cli->json;
    query[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return search_usage();
        if ((rc = cli_opt(argc, argv, &i, "-k", &v))) {
            if (rc < 0 || !cli_size("-k", v, 1, RG_SEARCH_MAX_K, &k)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            collection = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--mode", &v))) {
            rg_search_mode m;
            if (rc < 0) return 2;
            if (!rg_search_mode_parse(v, &m)) {
                cli_fail("--mode is hybrid, lexical or dense, not '%s'", v);
                return 2;
            }
            mode_name = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--doc", &v))) {
            size_t id;
            if (rc < 0 || !cli_size("--doc", v, 1, (size_t)INT64_MAX, &id)) return 2;
            if (filter.n_doc_ids == sizeof doc_ids / sizeof doc_ids[0])
                return cli_fail("at most %zu --doc options", filter.n_doc_ids), 2;
            doc_ids[filter.n_doc_ids++] = (int64_t)id;
            filter.doc_ids = doc_ids;
        } else if ((rc = cli_opt(argc, argv, &i, "--where", &v))) {
            if (rc < 0) return 2;
            if (filter.n_meta == RG_FILTER_MAX_META)
                return cli_fail("at most %d --where options", RG_FILTER_MAX_META), 2;
            if (!cli_pair("--where", (char *)v, &mkeys[filter.n_meta], &mvals[filter.n_meta]))
                return 2;
            if (strlen(mkeys[filter.n_meta]) > RG_FILTER_KEY_MAX ||
                strlen(mvals[filter.n_meta]) > CLI_FILTER_VALUE_MAX) {
                cli_fail("--where takes a key of at most %d bytes, a value of at most %d",
                         RG_FILTER_KEY_MAX, CLI_FILTER_VALUE_MAX);
                return 2;
            }
            filter.n_meta++;
        } else if ((rc = cli_opt(argc, argv, &i, "--since", &v))) {
            if (rc < 0 || !cli_date("--since", v, &filter.modified_from)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--until", &v))) {
            if (rc < 0 || !cli_date("--until", v, &filter.modified_to)) return 2;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--") != 0) {
            cli_fail("unknown option '%s' for search", argv[i]);
            return 2;
        } else if (!cli_join_word(query, sizeof query, &qlen, argv[i], "the query")) {
            return 1;
        }
    }
    if (!qlen) {
        cli_fail("search needs a query");
        return 2;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_search *q = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_search_hit *hits = NULL;
    cJSON *out = NULL;
    rg_buf snip;
    rg_buf_init(&snip, SNIPPET_MAX_BYTES);
    int status = 0;
    rg_search_request req = rg_search_default_request(query);
    req.k = k;
    req.collection = collection;
    req.filter = &filter;
    int need_dense = mode_name && strcmp(mode_name, "lexical") != 0;
    if (cli_open_store(cli, 0, &s, &err) ||
        (!(mode_name && !need_dense) &&
         cli_open_dense(cli, s, model, need_dense, 0, &enc, &dense, &err)) ||
        cli_search_open(s, dense, &q, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    hits = rg_calloc(k, sizeof *hits);
    if (!hits) {
        status = cli_fail("out of memory");
        goto done;
    }
    if (mode_name)
        rg_search_mode_parse(mode_name, &req.mode);
    else
        req.mode = dense ? RG_SEARCH_HYBRID : RG_SEARCH_LEXICAL;
    size_t n = 0;
    double t0 = cli_now();
    rg_search_stats tm;
    if (rg_search_run(q, &req, hits, &n, &tm, &err)) {
        status = cli_fail_err(&err);
        goto done;
    }
    double took = (cli_now() - t0) * 1e3;
    int tty = isatty(1);
    const char *open = json ? "<b>" : tty ? "\033[1m" : "**";
    const char *close = json ? "</b>" : tty ? "\033[0m" : "**";
    cJSON *results = NULL;
    if (json) {
        out = cJSON_CreateObject();
        cli_search_summary(out, query, rg_search_mode_name(req.mode), &tm, took);
        results = cJSON_AddArrayToObject(out, "results");
    } else if (n == 0) {
        printf("no results for \"%s\"\n", query);
    }
    for (size_t i = 0; i < n; i++) {
        rg_chunk_view v;
        if (rg_store_chunk_get(s, hits[i].chunk_id, &v, &err)) {
            status = cli_fail_err(&err);
            goto done;
        }
        rg_buf_reset(&snip);
        if (rg_search_snippet(q, query, v.text, v.text_len, SNIPPET_TOKENS, open, close, &snip,
                              &err)) {
            rg_chunk_view_free(&v);
            status = cli_fail_err(&err);
            goto done;
        }
        if (json)
            cJSON_AddItemToArray(results,
                                 cli_hit_json(&v, (int)i + 1, hits[i].score, rg_buf_str(&snip)));
        else
            print_hit(&v, (int)i + 1, hits[i].score, rg_buf_str(&snip));
        rg_chunk_view_free(&v);
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(out);
        if (!text) {
            status = cli_fail("out of memory");
            goto done;
        }
        puts(text);
        cJSON_free(text);
    }
done:
    cJSON_Delete(out);
    rg_buf_free(&snip);
    rg_free(hits);
    rg_search_close(q);
    if (dense && !status && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
