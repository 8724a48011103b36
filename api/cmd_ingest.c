/*
 * cmd_ingest.c — `ragd ingest`, `ragd sync` and `ragd rm`.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"
#include "index/dense.h"
#include "ingest/loader.h"
#include "ingest/pipeline.h"

typedef struct progress {
    int tty;
    int json;
    int dry_run;
    double last;
    size_t failed_printed;
    cJSON *plan; /* dry run with --json: {"add":[...], "update":[...], "delete":[...]} */
} progress;

/* A dry run's line (or JSON entry) for one planned change. */
static void plan_note(progress *p, const char *path, rg_ingest_event ev)
{
    const char *what = rg_ingest_plan_word(ev);
    if (!what) return;
    if (!p->json) {
        printf("%-6s %s\n", what, path);
        return;
    }
    cJSON *list = cJSON_GetObjectItemCaseSensitive(p->plan, what);
    if (list) cJSON_AddItemToArray(list, cJSON_CreateString(path));
}

static void on_file(void *ctx, const char *path, rg_ingest_event ev, const rg_error *err,
                    const rg_ingest_stats *s)
{
    progress *p = ctx;
    if (p->dry_run) plan_note(p, path, ev);
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

/* counts as JSON in out (cap bytes; the JSON of all types fits in 256). */
static const char *pii_json(const rg_pii_counts *c, char *out, size_t cap)
{
    rg_buf b;
    rg_buf_init(&b, cap - 1);
    snprintf(out, cap, "%s", rg_pii_counts_json(c, &b) == RG_OK ? rg_buf_str(&b) : "{}");
    rg_buf_free(&b);
    return out;
}

/*
 * Splits --json-text / --json-title's comma-separated names (v is changed in
 * place) into names, NULL-terminated; 0 after saying what is wrong.
 */
static int field_list(const char *opt, char *v, const char **names)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == RG_JSON_MAX_FIELDS) {
            cli_fail("%s: at most %d field names", opt, RG_JSON_MAX_FIELDS);
            return 0;
        }
        names[n++] = tok;
    }
    if (!n) {
        cli_fail("%s needs at least one field name", opt);
        return 0;
    }
    names[n] = NULL;
    return 1;
}

static int ingest_usage(int sync)
{
    if (sync) {
        puts(
            "usage: ragd sync [--dry-run] [--collection NAME] [--include GLOB]...\n"
            "                 [--exclude GLOB]... [--chunk-tokens N] [--overlap N] [--model NAME]\n"
            "                 [--lexical-only] [--meta KEY=VALUE]... [--pii-mask] [--loaders N]\n"
            "                 [--json-text FIELDS] [--json-title FIELDS] PATH...\n\n"
            "Makes the collection mirror the given folders (and files): new files are\n"
            "added, changed ones replaced, and documents whose file is gone (or no longer\n"
            "selected by --include/--exclude) deleted, with their vectors. A file whose\n"
            "size and modification time match the last run is not read again; one whose\n"
            "bytes are unchanged is not re-chunked unless the settings that shape chunks\n"
            "changed (chunk size, overlap, model, --pii-mask, ragd's loaders); new JSON\n"
            "fields re-chunk only the files whose loaded text they change. A file that\n"
            "fails keeps its previous document. --dry-run prints the changes (add, update,\n"
            "delete) and makes none. Options as for 'ragd ingest'.");
        return 0;
    }
    puts("usage: ragd ingest [--collection NAME] [--include GLOB]... [--exclude GLOB]...\n"
         "                   [--chunk-tokens N] [--overlap N] [--model NAME] [--lexical-only]\n"
         "                   [--meta KEY=VALUE]... [--pii-mask] [--loaders N]\n"
         "                   [--json-text FIELDS] [--json-title FIELDS] PATH...\n\n"
         "Adds files and folders (recursively) to the index. Unchanged files are skipped,\n"
         "changed ones replaced. Supported: text (.txt), Markdown (.md), HTML, PDF (its\n"
         "text layer, with pages), DOCX, CSV/TSV (rows with their header), JSON/JSONL\n"
         "and e-mail (.eml); files without an extension are recognised by content.\n"
         "Chunks hold up to 200 of the model's tokens (--overlap: 40 shared with the\n"
         "previous one), or 512 for a document in a script the model cannot read\n"
         "(Chinese for an English-only model: the lexical index alone finds it);\n"
         "--chunk-tokens N sets one size for all text.\n"
         "Chunks are embedded with the collection's model when one is imported\n"
         "('ragd model import'); --lexical-only skips embedding for this run (the\n"
         "vectors are filled in by the next run or search that has the model).\n"
         "--meta sets metadata on the documents added or changed by this run ('ragd\n"
         "search --where' filters on it); each also records its file's modification time.\n"
         "--pii-mask replaces e-mail addresses, phone numbers, payment cards, IBANs,\n"
         "Taiwan and mainland national IDs, US SSNs and IP addresses with placeholders\n"
         "([EMAIL], [CARD], ...) in the loaded text and titles before anything is\n"
         "stored; each document records its counts under \"pii\" in its metadata.\n"
         "Files are read, loaded and chunked on --loaders threads (default: one on up\n"
         "to two cores, else half the cores) while the chunks of several documents at\n"
         "a time are embedded and written; a killed run resumes where it stopped.\n"
         "--json-text and --json-title name the members (comma-separated, matched\n"
         "without case) that JSON and JSONL records give as text and as title; the\n"
         "defaults are text,content,body,description,abstract,summary and\n"
         "title,name,subject.");
    return 0;
}

static int ingest_main(const rg_cli *cli, int argc, char **argv, int sync)
{
    rg_ingest_options o = rg_ingest_default_options();
    const char *include[RG_INGEST_MAX_GLOBS], *exclude[RG_INGEST_MAX_GLOBS];
    const char *paths_buf[256];
    const char **paths = paths_buf;
    size_t n_paths = 0;
    int rc, lexical_only = 0;
    const char *model = NULL;
    const char *mkeys[RG_INGEST_MAX_META], *mvals[RG_INGEST_MAX_META];
    const char *json_text[RG_JSON_MAX_FIELDS + 1], *json_title[RG_JSON_MAX_FIELDS + 1];
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) return ingest_usage(sync);
        if (sync && strcmp(argv[i], "--dry-run") == 0) {
            o.dry_run = 1;
            continue;
        }
        if (strcmp(argv[i], "--pii-mask") == 0) {
            o.pii_types = RG_PII_ALL;
            continue;
        }
        if (strcmp(argv[i], "--lexical-only") == 0) {
            lexical_only = 1;
            continue;
        }
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
            o.chunk.lexical_target_tokens = o.chunk.target_tokens; /* one size for all text */
        } else if ((rc = cli_opt(argc, argv, &i, "--overlap", &v))) {
            if (rc < 0 || !cli_size("--overlap", v, 0, 4096, &o.chunk.overlap_tokens)) return 2;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            model = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--loaders", &v))) {
            size_t n;
            if (rc < 0 || !cli_size("--loaders", v, 1, RG_INGEST_LOADERS_MAX, &n)) return 2;
            o.loaders = (int)n;
        } else if ((rc = cli_opt(argc, argv, &i, "--json-text", &v))) {
            if (rc < 0 || !field_list("--json-text", (char *)v, json_text)) return 2;
            o.json_text_fields = json_text;
        } else if ((rc = cli_opt(argc, argv, &i, "--json-title", &v))) {
            if (rc < 0 || !field_list("--json-title", (char *)v, json_title)) return 2;
            o.json_title_fields = json_title;
        } else if ((rc = cli_opt(argc, argv, &i, "--meta", &v))) {
            if (rc < 0) return 2;
            if (o.n_meta == RG_INGEST_MAX_META)
                return cli_fail("at most %d --meta options", RG_INGEST_MAX_META), 2;
            if (!cli_pair("--meta", (char *)v, &mkeys[o.n_meta], &mvals[o.n_meta])) return 2;
            o.n_meta++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_fail("unknown option '%s' for %s", argv[i], sync ? "sync" : "ingest");
            return 2;
        } else {
            if (n_paths == sizeof paths_buf / sizeof paths_buf[0])
                return cli_fail("too many paths (at most %zu; name a folder instead)", n_paths);
            paths[n_paths++] = argv[i];
        }
    }
    if (!n_paths) {
        cli_fail("%s needs at least one path", sync ? "sync" : "ingest");
        return 2;
    }
    if (o.chunk.overlap_tokens >= o.chunk.target_tokens) {
        cli_fail("--overlap must be smaller than --chunk-tokens");
        return 2;
    }
    o.include = include;
    o.exclude = exclude;
    o.meta_keys = mkeys;
    o.meta_values = mvals;
    o.sync = sync;
    progress p = {.tty = !cli->quiet && !cli->json && isatty(2) && !o.dry_run,
                  .json = cli->json,
                  .dry_run = o.dry_run};
    if (o.dry_run && cli->json) {
        if (!(p.plan = cJSON_CreateObject()) || !cJSON_AddArrayToObject(p.plan, "add") ||
            !cJSON_AddArrayToObject(p.plan, "update") ||
            !cJSON_AddArrayToObject(p.plan, "delete")) {
            cJSON_Delete(p.plan);
            return cli_fail("out of memory");
        }
    }
    o.on_file = on_file;
    o.ctx = &p;
    rg_error err;
    rg_error_clear(&err);
    rg_store *s;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    if (cli_open_store(cli, 1, &s, &err)) {
        cJSON_Delete(p.plan);
        return cli_fail_err(&err);
    }
    if (!lexical_only && cli_open_dense(cli, s, model, model != NULL, 0, &enc, &dense, &err)) {
        rg_store_close(s);
        cJSON_Delete(p.plan);
        return cli_fail_err(&err);
    }
    o.dense = dense;
    o.chunk = rg_ingest_chunk_options(o.chunk, enc);
    rg_ingest_stats st;
    char pii[256];
    rg_status r = rg_ingest_paths(s, paths, n_paths, &o, &st, &err);
    /* what the stored vectors are made with: the --json summary says */
    const char *passages = enc ? (rg_encoder_passages_int8(enc) ? "int8" : "fp32") : NULL;
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    if (p.tty) fputs("\r\033[K", stderr);
    if (r) {
        cJSON_Delete(p.plan);
        return cli_fail_err(&err);
    }
    if (cli->json) {
        printf("{\"files\":%zu,\"added\":%zu,\"updated\":%zu,\"unchanged\":%zu,\"skipped\":%zu,"
               "\"failed\":%zu,\"chunks\":%zu,\"bytes\":%llu,\"seconds\":%.3f",
               st.files, st.added, st.updated, st.unchanged, st.skipped, st.failed, st.chunks,
               (unsigned long long)st.bytes, st.seconds);
        if (sync) printf(",\"deleted\":%zu", st.deleted);
        if (passages) printf(",\"passages\":\"%s\"", passages);
        if (o.pii_types) printf(",\"pii\":%s", pii_json(&st.pii, pii, sizeof pii));
        if (p.plan) {
            char *plan = cJSON_PrintUnformatted(p.plan);
            printf(",\"dry_run\":true,\"plan\":%s", plan ? plan : "null");
            cJSON_free(plan);
            cJSON_Delete(p.plan);
        }
        puts("}");
    } else {
        printf("%s%zu files: %zu %sadded, %zu %supdated, ", o.dry_run ? "dry run: " : "", st.files,
               st.added, o.dry_run ? "to be " : "", st.updated, o.dry_run ? "to be " : "");
        if (sync) printf("%zu %sdeleted, ", st.deleted, o.dry_run ? "to be " : "");
        printf("%zu unchanged, %zu skipped, %zu failed; %zu chunks, %.1f MB in %.2fs\n",
               st.unchanged, st.skipped, st.failed, st.chunks, (double)st.bytes / 1e6, st.seconds);
        if (o.pii_types)
            printf("personal data masked: %zu %s\n", rg_pii_counts_total(&st.pii),
                   pii_json(&st.pii, pii, sizeof pii));
    }
    return st.failed ? 1 : 0;
}

int cmd_ingest(const rg_cli *cli, int argc, char **argv)
{
    return ingest_main(cli, argc, argv, 0);
}

int cmd_sync(const rg_cli *cli, int argc, char **argv)
{
    return ingest_main(cli, argc, argv, 1);
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
    /* The removed chunks' vectors go now rather than at the next search (which
     * would reconcile too), using the model the collection is bound to. */
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    char bound[CLI_MODEL_NAME_MAX + 1] = "";
    if (total && !rg_store_collection_model(s, coll, bound, sizeof bound, &err) && bound[0]) {
        rg_status r = cli_open_dense(cli, s, bound, 0, 0, &enc, &dense, &err);
        if (r == RG_OK)
            r = rg_dense_attach(dense, coll, &err);
        if (r == RG_OK) r = rg_dense_save(dense, &err);
        if (r && r != RG_ENOTFOUND) status = cli_fail_err(&err);
    }
    rg_dense_close(dense);
    rg_encoder_close(enc);
    if (cli->json)
        printf("{\"removed\":%zu}\n", total);
    else
        printf("removed %zu document%s\n", total, total == 1 ? "" : "s");
out:
    rg_store_close(s);
    return status;
}

int cmd_reindex(const rg_cli *cli, int argc, char **argv)
{
    const char *collection = NULL, *model = NULL;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            puts("usage: ragd reindex [--collection NAME] [--model NAME]\n\n"
                 "Drops the vectors of a collection (default: every collection) and embeds\n"
                 "its chunks again with the model (default: the default model), binding the\n"
                 "collection to it. Use it to switch a collection to another model.");
            return 0;
        }
        if ((rc = cli_opt(argc, argv, &i, "--collection", &v))) {
            if (rc < 0) return 2;
            collection = v;
        } else if ((rc = cli_opt(argc, argv, &i, "--model", &v))) {
            if (rc < 0) return 2;
            model = v;
        } else {
            cli_fail("unknown argument '%s' for reindex", argv[i]);
            return 2;
        }
    }
    rg_error err;
    rg_error_clear(&err);
    rg_store *s = NULL;
    rg_encoder *enc = NULL;
    rg_dense *dense = NULL;
    rg_collection_info *colls = NULL;
    size_t n = 0;
    int status = 0;
    double t0 = cli_now();
    if (cli_open_store(cli, 0, &s, &err) || cli_open_dense(cli, s, model, 1, 0, &enc, &dense, &err) ||
        rg_store_collections(s, &colls, &n, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    size_t done = 0, vectors = 0;
    for (size_t i = 0; i < n; i++) {
        if (collection && strcmp(colls[i].name, collection) != 0) continue;
        if (rg_dense_reset(dense, colls[i].id, &err) || rg_dense_attach(dense, colls[i].id, &err)) {
            status = cli_fail_err(&err);
            goto out;
        }
        vectors += rg_dense_count(dense, colls[i].id);
        done++;
    }
    if (collection && !done) {
        status = cli_fail("no collection named '%s'", collection);
        goto out;
    }
    if (rg_dense_save(dense, &err)) {
        status = cli_fail_err(&err);
        goto out;
    }
    if (cli->json)
        printf("{\"collections\":%zu,\"vectors\":%zu,\"model\":\"%s\",\"seconds\":%.2f}\n", done,
               vectors, rg_dense_model(dense), cli_now() - t0);
    else
        printf("reindexed %zu collection%s: %zu vectors with %s in %.1fs\n", done,
               done == 1 ? "" : "s", vectors, rg_dense_model(dense), cli_now() - t0);
out:
    rg_free(colls);
    rg_dense_close(dense);
    rg_encoder_close(enc);
    rg_store_close(s);
    return status;
}
