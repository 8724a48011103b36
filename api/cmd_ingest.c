/*
 * cmd_ingest.c — `ragd ingest` and `ragd rm`.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "ingest/pipeline.h"

typedef struct progress {
    int tty;
    int json;
    double last;
    size_t failed_printed;
} progress;

static void on_file(void *ctx, const char *path, rg_ingest_event ev, const rg_error *err,
                    const rg_ingest_stats *s)
{
    progress *p = ctx;
    (void)path;
    if (ev == RG_INGEST_FAILED) {
        if (p->tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "ragd: error: %s\n", rg_error_message(err));
    }
    if (!p->tty) return;
    double now = cli_now();
    if (now - p->last < 0.1 && s->files < s->total_files) return;
    p->last = now;
    double mbs = s->seconds > 0 ? (double)s->bytes / 1e6 / s->seconds : 0;
    double rate = s->seconds > 0 ? (double)s->bytes / s->seconds : 0;
    double eta = rate > 0 ? (double)(s->total_bytes - s->bytes) / rate : 0;
    fprintf(stderr, "\r\033[K%zu/%zu files, %zu chunks, %.1f MB/s, ETA %.0fs", s->files,
            s->total_files, s->chunks, mbs, eta);
    fflush(stderr);
}

static int ingest_usage(void)
{
    puts("usage: ragd ingest [--collection NAME] [--include GLOB]... [--exclude GLOB]...\n"
         "                   [--chunk-tokens N] [--overlap N] PATH...\n\n"
         "Adds files and folders (recursively) to the index. Unchanged files are skipped,\n"
         "changed ones replaced. Supported: .txt .md .markdown .html .htm");
    return 0;
}

int cmd_ingest(const rg_cli *cli, int argc, char **argv)
{
    rg_ingest_options o = rg_ingest_default_options();
    const char *include[RG_INGEST_MAX_GLOBS], *exclude[RG_INGEST_MAX_GLOBS];
    const char *paths_buf[256];
    const char **paths = paths_buf;
    size_t n_paths = 0;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return ingest_usage();
        if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            o.collection = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--include", &v))) {
            if (rc < 0) return 2;
            if (o.n_include == RG_INGEST_MAX_GLOBS) return cli_fail("too many --include globs");
            include[o.n_include++] = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--exclude", &v))) {
            if (rc < 0) return 2;
            if (o.n_exclude == RG_INGEST_MAX_GLOBS) return cli_fail("too many --exclude globs");
            exclude[o.n_exclude++] = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--chunk-tokens", &v))) {
            if (rc < 0 || !cli_size("--chunk-tokens", v, 16, 8192, &o.chunk.target_tokens))
                return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--overlap", &v))) {
            if (rc < 0 || !cli_size("--overlap", v, 0, 4096, &o.chunk.overlap_tokens)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_fail("unknown option '%s' for ingest", argv[i]);
            return 2;
        } else {
            if (n_paths == sizeof paths_buf / sizeof paths_buf[0])
                return cli_fail("too many paths (at most %zu; name a folder instead)", n_paths);
            paths[n_paths++] = argv[i];
        }
    }
    if (!n_paths) {
        cli_fail("ingest needs at least one path");
        return 2;
    }
    if (o.chunk.overlap_tokens >= o.chunk.target_tokens) {
        cli_fail("--overlap must be smaller than --chunk-tokens");
        return 2;
    }
    o.include = include;
    o.exclude = exclude;
    progress p = {.tty = !cli->quiet && !cli->json && isatty(2), .json = cli->json};
    o.on_file = on_file;
    o.ctx = &p;
    rg_error err;
    rg_error_clear(&err);
    rg_store *s;
    if (cli_open_store(cli, 1, &s, &err)) return cli_fail_err(&err);
    rg_ingest_stats st;
    rg_status r = rg_ingest_paths(s, paths, n_paths, &o, &st, &err);
    rg_store_close(s);
    if (p.tty) fputs("\r\033[K", stderr);
    if (r) return cli_fail_err(&err);
    if (cli->json) {
        printf("{\"files\":%zu,\"added\":%zu,\"updated\":%zu,\"unchanged\":%zu,\"skipped\":%zu,"
               "\"failed\":%zu,\"chunks\":%zu,\"bytes\":%llu,\"seconds\":%.3f}\n",
               st.files, st.added, st.updated, st.unchanged, st.skipped, st.failed, st.chunks,
               (unsigned long long)st.bytes, st.seconds);
    } else {
        printf("%zu files: %zu added, %zu updated, %zu unchanged, %zu skipped, %zu failed; "
               "%zu chunks, %.1f MB in %.2fs\n",
               st.files, st.added, st.updated, st.unchanged, st.skipped, st.failed, st.chunks,
               (double)st.bytes / 1e6, st.seconds);
    }
    return st.failed ? 1 : 0;
}

/* The absolute form of a path that may no longer exist. */
static int absolute(const char *path, char *out, size_t cap)
{
    char tmp[PATH_MAX];
    if (realpath(path, tmp)) return snprintf(out, cap, "%s", tmp) < (int)cap;
    if (path[0] == '/') return snprintf(out, cap, "%s", path) < (int)cap;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return 0;
    const char *p = path;
    while (strncmp(p, "./", 2) == 0) p += 2;
    return snprintf(out, cap, "%s/%s", cwd, p) < (int)cap;
}

int cmd_rm(const rg_cli *cli, int argc, char **argv)
{
    const char *collection = RG_DEFAULT_COLLECTION;
    int first = 0, rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            puts("usage: ragd rm [--collection NAME] PATH...\n\n"
                 "Removes the documents ingested from PATH (a file, or every file under a "
                 "folder).");
            return 0;
        }
        if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            collection = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_fail("unknown option '%s' for rm", argv[i]);
            return 2;
        } else if (!first) {
            first = i;
        }
    }
    if (!first) {
        cli_fail("rm needs at least one path");
        return 2;
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s;
    if (cli_open_store(cli, 0, &s, &err)) return cli_fail_err(&err);
    int64_t coll;
    int status = 0;
    size_t total = 0;
    if (rg_store_collection(s, collection, 0, &coll, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    for (int i = first; i < argc; i++) {
        const char *v;
        if (cli_opt(argc, argv, &i, "--collection", &v)) continue;
        char abs[PATH_MAX];
        size_t n = 0;
        if (!absolute(argv[i], abs, sizeof abs)) {
            status = cli_fail("%s: path too long", argv[i]);
            continue;
        }
        if (rg_store_delete_prefix(s, coll, abs, &n, &err)) {
            status = cli_fail_err(&err);
            goto out;
        }
        if (n == 0) status = cli_fail("%s: no document in collection '%s'", argv[i], collection);
        total += n;
    }
    if (cli->json)
        printf("{\"removed\":%zu}\n", total);
    else
        printf("removed %zu document%s\n", total, total == 1 ? "" : "s");
out:
    rg_store_close(s);
    return status;
}
