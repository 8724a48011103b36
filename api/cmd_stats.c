/*
 * cmd_stats.c — `ragd stats`: what the data directory holds, per collection.
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
