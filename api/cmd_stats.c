/*
 * cmd_stats.c — `ragd stats`: what the data directory holds, per collection;
 * `ragd check`: whether it is sound.
 */
#include <stdio.h>
#include <string.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"
#include "index/dense.h"

int cmd_stats(const rg_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") != 0) return cli_fail("stats takes no arguments"), 2;
        puts("usage: ragd stats\n\nCollections with their documents, chunks, vectors and model.\n"
             "Opening a collection's vectors reconciles them with the store first.");
        return 0;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_collection_info *colls = NULL;
    size_t n = 0;
    int status = 0;
    if (cli_open_store(cli, 0, &s, &err) || cli_open_dense(cli, s, NULL, 0, 0, &enc, &dense, &err) ||
        rg_store_collections(s, &colls, &n, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (cli->json) printf("{\"collections\":[");
    for (size_t i = 0; i < n; i++) {
        rg_store_counts c;
        char model[CLI_MODEL_NAME_MAX + 1];
        if (rg_store_counts_get(s, colls[i].id, &c, &err) ||
            rg_store_collection_model(s, colls[i].id, model, sizeof model, &err)) {
            status = cli_fail_err(&err);
            goto out;
        }
        long long vectors = -1; /* unknown: bound to a model that is not the default */
        if (dense && model[0] && strcmp(model, rg_dense_model(dense)) == 0) {
            if (rg_dense_attach(dense, colls[i].id, &err)) {
                status = cli_fail_err(&err);
                goto out;
            }
            vectors = (long long)rg_dense_count(dense, colls[i].id);
        }
        if (cli->json)
            printf("%s{\"name\":\"%s\",\"documents\":%lld,\"chunks\":%lld,\"vectors\":%lld,"
                   "\"model\":\"%s\"}",
                   i ? "," : "", colls[i].name, (long long)c.documents, (long long)c.chunks,
                   vectors, model);
        else
            printf("%-20s %8lld documents %9lld chunks %9lld vectors  %s\n", colls[i].name,
                   (long long)c.documents, (long long)c.chunks, vectors < 0 ? 0 : vectors,
                   model[0] ? model : "(no model)");
    }
    if (cli->json) printf("]}\n");
    if (dense && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
out:
    rg_free(colls);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}

int cmd_check(const rg_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") != 0) return cli_fail("check takes no arguments"), 2;
        puts("usage: ragd check\n\n"
             "Checks the data directory: SQLite's quick_check of the database, FTS5's\n"
             "integrity-check of the lexical index and that it holds exactly the chunks;\n"
             "then opens each collection's vectors (which reconciles them with the store,\n"
             "embedding chunks that lack a vector and dropping vectors without a chunk)\n"
             "and checks that vectors and chunks are as many. Exit status 1 names the\n"
             "first problem; 0 prints what was checked.");
        return 0;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_collection_info *colls = NULL;
    size_t n = 0;
    int status = 0;
    if (cli_open_store(cli, 0, &s, &err) || rg_store_verify(s, &err) ||
        cli_open_dense(cli, s, NULL, 0, 0, &enc, &dense, &err) ||
        rg_store_collections(s, &colls, &n, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (cli->json)
        printf("{\"store\":\"ok\",\"collections\":[");
    else
        puts("store                ok (quick_check, FTS5 integrity-check, lexical rows = chunks)");
    for (size_t i = 0; i < n; i++) {
        rg_store_counts c;
        char model[CLI_MODEL_NAME_MAX + 1];
        if (rg_store_counts_get(s, colls[i].id, &c, &err) ||
            rg_store_collection_model(s, colls[i].id, model, sizeof model, &err)) {
            status = cli_fail_err(&err);
            goto out;
        }
        const char *vectors = "no model";
        if (model[0] && !(dense && strcmp(model, rg_dense_model(dense)) == 0)) {
            vectors = "not checked: bound to a model that is not the default";
        } else if (model[0]) {
            if (rg_dense_attach(dense, colls[i].id, &err)) {
                status = cli_fail_err(&err);
                goto out;
            }
            size_t nv = rg_dense_count(dense, colls[i].id);
            if ((long long)nv != (long long)c.chunks) {
                if (cli->json) printf("]}\n");
                status = cli_fail("collection %s: %zu vectors for %lld chunks", colls[i].name, nv,
                                  (long long)c.chunks);
                goto out;
            }
            vectors = "ok";
        }
        if (cli->json)
            printf("%s{\"name\":\"%s\",\"documents\":%lld,\"chunks\":%lld,\"vectors\":\"%s\"}",
                   i ? "," : "", colls[i].name, (long long)c.documents, (long long)c.chunks,
                   vectors);
        else
            printf("%-20s %8lld documents %9lld chunks  vectors %s\n", colls[i].name,
                   (long long)c.documents, (long long)c.chunks, vectors);
    }
    if (cli->json) printf("]}\n");
    if (dense && rg_dense_save(dense, &err)) status = cli_fail_err(&err);
out:
    rg_free(colls);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
