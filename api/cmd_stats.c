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

/* One collection as both commands report it. */
typedef struct coll_row {
    char name[RG_COLLECTION_NAME_MAX + 1];
    rg_store_counts counts;
    char model[CLI_MODEL_NAME_MAX + 1]; /* "" when unbound */
    long long vectors; /* -1: not counted (no model, or bound to one that is not the default) */
} coll_row;

/*
 * Opens the data directory (checking the database first when verify is
 * set) and reads every collection's row, attaching (and so reconciling)
 * the vectors of those bound to the default model, which are then saved.
 * Returns 0, or the exit status after printing the error.
 */
static int read_rows(const rg_cli *cli, int verify, coll_row **rows, size_t *n_rows)
{
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_collection_info *colls = NULL;
    size_t n = 0;
    *rows = NULL;
    *n_rows = 0;
    rg_status st = cli_open_store(cli, 0, &s, &err);
    if (!st && verify) st = rg_store_verify(s, &err);
    if (!st) st = cli_open_dense(cli, s, NULL, 0, 0, &enc, &dense, &err);
    if (!st) st = rg_store_collections(s, &colls, &n, &err);
    if (!st && !(*rows = rg_calloc(n ? n : 1, sizeof **rows)))
        st = rg_fail(&err, RG_ENOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        coll_row *r = &(*rows)[i];
        snprintf(r->name, sizeof r->name, "%s", colls[i].name);
        r->vectors = -1;
        st = rg_store_counts_get(s, colls[i].id, &r->counts, &err);
        if (!st) st = rg_store_collection_model(s, colls[i].id, r->model, sizeof r->model, &err);
        if (!st && dense && r->model[0] && strcmp(r->model, rg_dense_model(dense)) == 0 &&
            !(st = rg_dense_attach(dense, colls[i].id, &err)))
            r->vectors = (long long)rg_dense_count(dense, colls[i].id);
        *n_rows = i + 1;
    }
    if (!st && dense) st = rg_dense_save(dense, &err);
    rg_free(colls);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    if (!st) return 0;
    rg_free(*rows);
    *rows = NULL;
    *n_rows = 0;
    return cli_fail_err(&err);
}

int cmd_stats(const rg_cli *cli, int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "--help") != 0) return cli_fail("stats takes no arguments"), 2;
        puts("usage: ragd stats\n\nCollections with their documents, chunks, vectors and model.\n"
             "Opening a collection's vectors reconciles them with the store first.");
        return 0;
    }
    coll_row *rows;
    size_t n;
    int status = read_rows(cli, 0, &rows, &n);
    if (status) return status;
    if (cli->json) printf("{\"collections\":[");
    for (size_t i = 0; i < n; i++) {
        const coll_row *r = &rows[i];
        if (cli->json)
            printf("%s{\"name\":\"%s\",\"documents\":%lld,\"chunks\":%lld,\"vectors\":%lld,"
                   "\"model\":\"%s\"}",
                   i ? "," : "", r->name, (long long)r->counts.documents,
                   (long long)r->counts.chunks, r->vectors, r->model);
        else
            printf("%-20s %8lld documents %9lld chunks %9lld vectors  %s\n", r->name,
                   (long long)r->counts.documents, (long long)r->counts.chunks,
                   r->vectors < 0 ? 0 : r->vectors, r->model[0] ? r->model : "(no model)");
    }
    if (cli->json) printf("]}\n");
    rg_free(rows);
    return 0;
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
    coll_row *rows;
    size_t n;
    int status = read_rows(cli, 1, &rows, &n);
    if (status) return status;
    if (cli->json)
        printf("{\"store\":\"ok\",\"collections\":[");
    else
        puts("store                ok (quick_check, FTS5 integrity-check, lexical rows = chunks)");
    for (size_t i = 0; i < n && !status; i++) {
        const coll_row *r = &rows[i];
        const char *vectors = !r->model[0] ? "no model"
                              : r->vectors < 0
                                  ? "not checked: bound to a model that is not the default"
                                  : "ok";
        if (r->vectors >= 0 && r->vectors != (long long)r->counts.chunks) {
            if (cli->json) printf("]}\n");
            status = cli_fail("collection %s: %lld vectors for %lld chunks", r->name, r->vectors,
                              (long long)r->counts.chunks);
        } else if (cli->json) {
            printf("%s{\"name\":\"%s\",\"documents\":%lld,\"chunks\":%lld,\"vectors\":\"%s\"}",
                   i ? "," : "", r->name, (long long)r->counts.documents,
                   (long long)r->counts.chunks, vectors);
        } else {
            printf("%-20s %8lld documents %9lld chunks  vectors %s\n", r->name,
                   (long long)r->counts.documents, (long long)r->counts.chunks, vectors);
        }
    }
    if (!status && cli->json) printf("]}\n");
    rg_free(rows);
    return status;
}
