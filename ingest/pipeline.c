#include "ingest/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/base/buf.h"
#include "engine/base/log.h"
#include "engine/base/mem.h"
#include "engine/base/sha256.h"
#include "ingest/loader.h"

/* A file found by the walk. */
typedef struct walk_file {
    char *path; /* absolute, owned */
    int64_t size;
    int64_t mtime;    /* seconds */
    int64_t mtime_ns; /* nanoseconds */
    int explicit_arg; /* named on the command line, not found in a directory */
} walk_file;

typedef struct walk {
    walk_file *files;
    size_t n, cap;
    const rg_ingest_options *opt;
} walk;

rg_ingest_options rg_ingest_default_options(void)
{
    rg_ingest_options o;
    memset(&o, 0, sizeof o);
    o.collection = RG_DEFAULT_COLLECTION;
    o.chunk = rg_chunk_default_options();
    return o;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int glob_hit(const char *const *globs, size_t n, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < n; i++) {
        if (fnmatch(globs[i], path, 0) == 0 || fnmatch(globs[i], base, 0) == 0) return 1;
        /* Globs with a slash (like "drafts/x.md") match anywhere in the path, not only from the
         * root. */
        if (strchr(globs[i], '/')) {
            for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
                if (fnmatch(globs[i], p + 1, 0) == 0) return 1;
        }
    }
    return 0;
}

static int wanted(const rg_ingest_options *o, const char *path)
{
    if (o->n_include && !glob_hit(o->include, o->n_include, path)) return 0;
    if (o->n_exclude && glob_hit(o->exclude, o->n_exclude, path)) return 0;
    return 1;
}

static rg_status walk_add(walk *w, const char *path, const struct stat *sb, int explicit_arg,
                          rg_error *err)
{
    if (w->n >= RG_INGEST_MAX_FILES)
        return rg_fail(err, RG_ELIMIT, "more than %u files in one run", RG_INGEST_MAX_FILES);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        walk_file *f = rg_realloc(w->files, cap * sizeof *f);
        if (!f) return rg_fail(err, RG_ENOMEM, "out of memory listing files");
        w->files = f;
        w->cap = cap;
    }
    char *copy = rg_strdup(path);
    if (!copy) return rg_fail(err, RG_ENOMEM, "out of memory listing files");
    int64_t ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + (int64_t)sb->st_mtim.tv_nsec;
    w->files[w->n++] =
        (walk_file){copy, (int64_t)sb->st_size, (int64_t)sb->st_mtime, ns, explicit_arg};
    return RG_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static rg_status walk_dir(walk *w, const char *dir, int depth, rg_error *err);

/* 1 if path resolves inside root (root NULL: always). */
static int inside_root(const char *root, const char *path)
{
    if (!root) return 1;
    char real[PATH_MAX];
    if (!realpath(path, real)) return 0;
    size_t n = strlen(root);
    return strncmp(real, root, n) == 0 && (real[n] == '\0' || real[n] == '/' || n == 1);
}

static rg_status walk_entry(walk *w, const char *path, int depth, rg_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return RG_OK; /* vanished or dangling link: nothing to ingest */
    if (!inside_root(w->opt->root, path)) {
        rg_log(RG_LOG_WARN, "%s leads outside %s: skipped", path, w->opt->root);
        return RG_OK;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (depth >= RG_INGEST_MAX_DEPTH) return RG_OK;
        return walk_dir(w, path, depth + 1, err);
    }
    if (!S_ISREG(sb.st_mode) || !wanted(w->opt, path)) return RG_OK;
    return walk_add(w, path, &sb, 0, err);
}

static rg_status walk_dir(walk *w, const char *dir, int depth, rg_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return rg_fail(err, RG_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    rg_status st = RG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files, ., .. and .git */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = rg_realloc(names, nc * sizeof *nn);
            if (!nn) {
                st = rg_fail(err, RG_ENOMEM, "out of memory listing %s", dir);
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = rg_strdup(e->d_name))) {
            st = rg_fail(err, RG_ENOMEM, "out of memory listing %s", dir);
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n && !st; i++) {
        char path[PATH_MAX];
        int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (k < 0 || (size_t)k >= sizeof path) continue;
        st = walk_entry(w, path, depth, err);
    }
out:
    for (size_t i = 0; i < n; i++)
        rg_free(names[i]);
    rg_free(names);
    closedir(d);
    return st;
}

/* Reads a whole regular file of at most RG_LOADER_MAX_FILE_BYTES. */
static rg_status read_file(const char *path, char **data, size_t *len, rg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat sb;
    rg_status st = RG_OK;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = rg_fail(err, RG_EIO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > RG_LOADER_MAX_FILE_BYTES) {
        st = rg_fail(err, RG_ELIMIT, "%s: file is %lld bytes; the limit is %u", path,
                     (long long)sb.st_size, RG_LOADER_MAX_FILE_BYTES);
        goto out;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    buf = rg_malloc(n + 1);
    if (!buf) {
        st = rg_fail(err, RG_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = rg_fail(err, RG_EIO, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break; /* shrank while reading: take what is there */
        got += (size_t)r;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
out:
    rg_free(buf);
    close(fd);
    return st;
}

/* The heading text a block belongs to, copied into out. */
static void section_title(const rg_document *doc, long section, char *out, size_t cap)
{
    out[0] = '\0';
    if (section < 0 || (size_t)section >= doc->n_blocks) return;
    const rg_block *b = &doc->blocks[section];
    size_t n = b->end - b->start;
    if (n >= cap) n = cap - 1;
    memcpy(out, doc->text + b->start, n);
    out[n] = '\0';
}

/* Longest section heading kept with a chunk. */
#define SECTION_MAX 256

/* Counts tokens with the encoder's tokenizer; the approximation if it fails. */
static size_t encoder_tokens(void *ctx, const char *text, size_t n)
{
    size_t count;
    rg_error err;
    if (rg_tokenizer_count(ctx, text, n, &count, &err) != RG_OK)
        return rg_approx_token_count(NULL, text, n);
    return count;
}

rg_chunk_options rg_ingest_chunk_options(rg_chunk_options base, const rg_encoder *enc)
{
    if (!enc) return base;
    base.count_tokens = encoder_tokens;
    base.count_ctx = (void *)rg_encoder_tokenizer(enc);
    return base;
}

/*
 * metadata_json with "pages" set for a paged document (PDF): the byte offsets
 * in doc->text at which pages 1..N start, so a citation's page follows from
 * its offset without a column for it. NULL when doc has no pages or the
 * metadata is not an object (the original stands); *st RG_ENOMEM when out of
 * memory. Caller frees with cJSON_free.
 */
static char *metadata_with_pages(const char *metadata_json, const rg_document *doc, rg_status *st)
{
    unsigned n = rg_doc_page_count(doc);
    *st = RG_OK;
    if (!n) return NULL;
    cJSON *m = metadata_json ? cJSON_Parse(metadata_json) : cJSON_CreateObject();
    if (metadata_json && !cJSON_IsObject(m)) { /* the store judges it */
        cJSON_Delete(m);
        return NULL;
    }
    size_t *starts = rg_calloc(n, sizeof *starts);
    cJSON *pages = cJSON_CreateArray();
    char *out = NULL;
    if (!m || !starts || !pages) goto out;
    rg_doc_page_starts(doc, starts, n);
    for (unsigned i = 0; i < n; i++) {
        cJSON *v = cJSON_CreateNumber((double)starts[i]);
        if (!v || !cJSON_AddItemToArray(pages, v)) {
            cJSON_Delete(v);
            goto out;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(m, "pages"); /* ragd's, like "modified" */
    if (!cJSON_AddItemToObject(m, "pages", pages)) goto out;
    pages = NULL;
    out = cJSON_PrintUnformatted(m);
out:
    if (!out) *st = RG_ENOMEM;
    cJSON_Delete(pages);
    cJSON_Delete(m);
    rg_free(starts);
    return out;
}

rg_status rg_ingest_document(rg_store *s, rg_dense *dense, int64_t collection_id,
                             const char *source_uri, const rg_document *doc,
                             const char *content_hash, int64_t size, const char *metadata_json,
                             const rg_chunk_options *chunk, size_t *n_chunks, rg_error *err)
{
    rg_chunk *chunks = NULL;
    rg_chunk_row *rows = NULL;
    char (*sections)[SECTION_MAX] = NULL;
    int64_t *old_ids = NULL, *new_ids = NULL;
    size_t n = 0, n_old = 0, n_new = 0;
    rg_status st = rg_chunk_document(doc, chunk, &chunks, &n, err);
    if (st) return st;
    char *paged = metadata_with_pages(metadata_json, doc, &st);
    if (st) {
        st = rg_fail(err, st, "%s: out of memory", source_uri);
        goto out;
    }
    if (n) {
        rows = rg_calloc(n, sizeof *rows);
        sections = rg_calloc(n, sizeof *sections);
        if (!rows || !sections) {
            st = rg_fail(err, RG_ENOMEM, "%s: out of memory", source_uri);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        section_title(doc, chunks[i].section, sections[i], SECTION_MAX);
        rows[i] = (rg_chunk_row){chunks[i].start, chunks[i].end, chunks[i].token_count,
                                 sections[i]};
    }
    rg_doc_meta meta = {
        .collection_id = collection_id,
        .source_uri = source_uri,
        .title = doc->title,
        .media_type = doc->media_type,
        .content_hash = content_hash,
        .size = size,
        .metadata_json = paged ? paged : metadata_json,
        .text = doc->text,
        .text_len = doc->len,
    };
    int found = 0;
    int64_t doc_id = 0;
    if (dense) {
        if ((st = rg_store_find_document(s, collection_id, source_uri, &found, &doc_id, NULL,
                                         err)))
            goto out;
        if (found && (st = rg_store_chunk_ids(s, collection_id, doc_id, &old_ids, &n_old, err)))
            goto out;
    }
    if ((st = rg_store_put_document(s, &meta, rows, n, &doc_id, err))) goto out;
    if (n_chunks) *n_chunks = n;
    /* The document is committed; vectors follow. Should embedding fail or the
     * process die here, the next attach reconciles the vector file. */
    if (dense) {
        if ((st = rg_store_chunk_ids(s, collection_id, doc_id, &new_ids, &n_new, err))) goto out;
        st = rg_dense_update(dense, collection_id, old_ids, n_old, new_ids, n_new, err);
    }
out:
    cJSON_free(paged);
    rg_free(chunks);
    rg_free(rows);
    rg_free(sections);
    rg_free(old_ids);
    rg_free(new_ids);
    return st;
}

int rg_meta_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > RG_META_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/*
 * The metadata JSON of one file: the run's pairs plus "modified", and "pii"
 * (pii may be NULL) when masking is on. Caller frees.
 */
static char *file_metadata(const rg_ingest_options *o, int64_t mtime, const rg_pii_counts *pii)
{
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    for (size_t i = 0; i < o->n_meta; i++)
        cJSON_AddStringToObject(m, o->meta_keys[i], o->meta_values[i]);
    cJSON_AddNumberToObject(m, "modified", (double)mtime);
    cJSON *p = pii ? cJSON_AddObjectToObject(m, "pii") : NULL;
    for (int t = 0; p && t < RG_PII_TYPE_COUNT; t++)
        if (pii->n[t])
            cJSON_AddNumberToObject(p, rg_pii_type_name((rg_pii_type)t), (double)pii->n[t]);
    if (pii && !p) {
        cJSON_Delete(m);
        return NULL;
    }
    char *json = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return json;
}

/* What a run shares with each file. */
typedef struct run_ctx {
    rg_store *s;
    int64_t coll; /* 0 in a dry run on a collection that does not exist yet */
    const rg_ingest_options *o;
    char settings[RG_SHA256_HEX_LEN + 1];
} run_ctx;

/* 1 when the manifest says f is stored as it is now, so it need not be read. */
static int manifest_current(const rg_manifest_row *m, const walk_file *f, const char *settings,
                            unsigned pii_types)
{
    return (strcmp(m->status, "ok") == 0 || strcmp(m->status, "unchanged") == 0) &&
           m->size == f->size && m->mtime_ns == f->mtime_ns && m->pii_types == pii_types &&
           strcmp(m->settings_hash, settings) == 0 && m->document_hash[0] &&
           strcmp(m->document_hash, m->content_hash) == 0;
}

/* 1 when the stored document doc_id has exactly doc's title and text. */
static int same_as_stored(rg_store *s, int64_t coll, int64_t doc_id, const rg_document *doc)
{
    rg_doc_row row = {0};
    rg_error err;
    int same = rg_store_document_get(s, coll, doc_id, NULL, &row, &err) == RG_OK && row.text &&
               strlen(row.text) == doc->len && memcmp(row.text, doc->text, doc->len) == 0 &&
               strcmp(row.title ? row.title : "", doc->title) == 0;
    rg_doc_row_free(&row);
    return same;
}

/* Ingests one file; returns the event, err filled on failure. */
static rg_ingest_event ingest_file(const run_ctx *r, const walk_file *f, rg_ingest_stats *stats,
                                   rg_error *err)
{
    rg_store *s = r->s;
    const rg_ingest_options *o = r->o;
    char *data = NULL, *meta = NULL;
    size_t len = 0;
    rg_document doc;
    int have_doc = 0;
    rg_ingest_event ev = RG_INGEST_FAILED;
    char hash[RG_SHA256_HEX_LEN + 1] = "", old_hash[65];
    int found = 0, in_manifest = 0;
    int64_t doc_id = 0;
    rg_manifest_row m;
    rg_pii_counts pii = {{0}};
    if (r->coll && rg_store_manifest_get(s, r->coll, f->path, &m, &in_manifest, err)) goto out;
    if (in_manifest && manifest_current(&m, f, r->settings, o->pii_types))
        return RG_INGEST_UNCHANGED;
    if (read_file(f->path, &data, &len, err)) goto out;
    stats->bytes += len;
    rg_sha256_hex(data, len, hash);
    if (r->coll && rg_store_find_document(s, r->coll, f->path, &found, &doc_id, old_hash, err))
        goto out;
    /* A manifest row written before settings were recorded (settings_hash "")
     * counts as the same settings; a document without a row (an upload) too. */
    int same_settings =
        !in_manifest || !m.settings_hash[0] || strcmp(m.settings_hash, r->settings) == 0;
    int same_pii = !in_manifest || m.pii_types == o->pii_types;
    if (found && strcmp(hash, old_hash) == 0 && same_settings && same_pii) {
        ev = RG_INGEST_UNCHANGED;
        goto out;
    }
    /* Personal data is masked in the loaded text, whatever the file's format. */
    if (rg_load_buffer_masked(f->path, data, len, o->pii_types, &pii, &doc, err)) goto out;
    have_doc = 1;
    /* New bytes or settings that leave the text as it is stored (masking that
     * found nothing, an edit outside the text): nothing to re-chunk. */
    if (found && same_settings && same_as_stored(s, r->coll, doc_id, &doc)) {
        if (!o->dry_run && strcmp(hash, old_hash) != 0 &&
            rg_store_set_document_hash(s, doc_id, hash, (int64_t)len, err))
            goto out;
        ev = RG_INGEST_UNCHANGED;
        goto out;
    }
    size_t n = 0;
    if (o->dry_run) {
        ev = found ? RG_INGEST_UPDATED : RG_INGEST_ADDED;
        goto out;
    }
    if (!(meta = file_metadata(o, f->mtime, o->pii_types ? &pii : NULL))) {
        rg_fail(err, RG_ENOMEM, "%s: out of memory", f->path);
        goto out;
    }
    if (rg_ingest_document(s, o->dense, r->coll, f->path, &doc, hash, (int64_t)len, meta, &o->chunk,
                           &n, err))
        goto out;
    stats->chunks += n;
    if (o->pii_types) {
        for (int t = 0; t < RG_PII_TYPE_COUNT; t++) stats->pii.n[t] += pii.n[t];
        if (rg_pii_counts_total(&pii)) { /* the audit trail: which file, what, never the values */
            rg_buf cb;
            rg_buf_init(&cb, RG_PII_TYPE_COUNT * 32);
            if (rg_pii_counts_json(&pii, &cb) == RG_OK)
                rg_log(RG_LOG_INFO, "pii: masked %zu in %s %s", rg_pii_counts_total(&pii),
                       f->path, rg_buf_str(&cb));
            rg_buf_free(&cb);
        }
    }
    ev = found ? RG_INGEST_UPDATED : RG_INGEST_ADDED;
out:
    if (have_doc) rg_document_free(&doc);
    rg_free(data);
    cJSON_free(meta);
    if (!o->dry_run) {
        rg_error note_err;
        rg_manifest_entry e = {
            .source_uri = f->path,
            .size = f->size,
            .mtime_ns = f->mtime_ns,
            .content_hash = ev == RG_INGEST_FAILED ? NULL : hash,
            .settings_hash = r->settings,
            .status = ev == RG_INGEST_FAILED      ? "error"
                      : ev == RG_INGEST_UNCHANGED ? "unchanged"
                                                  : "ok",
            .message = ev == RG_INGEST_FAILED ? rg_error_message(err) : NULL,
            .pii_types = o->pii_types,
        };
        rg_store_manifest_put(s, r->coll, &e, &note_err);
    }
    return ev;
}

static void walk_free(walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        rg_free(w->files[i].path);
    rg_free(w->files);
}

static rg_status collect(walk *w, const char *const *paths, size_t n_paths, rg_error *err)
{
    for (size_t i = 0; i < n_paths; i++) {
        char abs[PATH_MAX];
        struct stat sb;
        if (!realpath(paths[i], abs) || stat(abs, &sb) != 0)
            return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", paths[i],
                           strerror(errno));
        if (!inside_root(w->opt->root, abs))
            return rg_fail(err, RG_EINVAL, "%s is outside %s", paths[i], w->opt->root);
        rg_status st =
            S_ISDIR(sb.st_mode) ? walk_dir(w, abs, 0, err) : walk_add(w, abs, &sb, 1, err);
        if (st) return st;
    }
    return RG_OK;
}

void rg_ingest_settings_hash(const rg_ingest_options *o, const char *model, char out[65])
{
    char text[512];
    snprintf(text, sizeof text, "ragd-ingest v1; loaders %d; chunk %zu/%zu; tokens %s",
             RG_INGEST_LOADERS_VERSION, o->chunk.target_tokens, o->chunk.overlap_tokens,
             model && model[0]       ? model
             : o->chunk.count_tokens ? "custom"
                                     : "approx");
    rg_sha256_hex(text, strlen(text), out);
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const walk_file *)a)->path, ((const walk_file *)b)->path);
}

/* 1 if path is one of the walk's files (sorted by path). */
static int walked(const walk *w, const char *path)
{
    walk_file key = {.path = (char *)path};
    return bsearch(&key, w->files, w->n, sizeof *w->files, path_cmp) != NULL;
}

/*
 * Sync's second half: every source under the given paths that the walk did
 * not find goes, with its vectors. w->files must be sorted by path.
 */
static rg_status sync_deletes(const run_ctx *r, const walk *w, const char *const *paths,
                              size_t n_paths, rg_ingest_stats *stats, rg_error *err)
{
    const rg_ingest_options *o = r->o;
    for (size_t p = 0; p < n_paths; p++) {
        char abs[PATH_MAX];
        if (!realpath(paths[p], abs))
            return rg_fail(err, RG_EIO, "%s: %s", paths[p], strerror(errno));
        char **uris = NULL;
        size_t n = 0;
        rg_status st = rg_store_sources_under(r->s, r->coll, abs, &uris, &n, err);
        if (st) return st;
        for (size_t i = 0; i < n && !st; i++) {
            if (walked(w, uris[i])) continue;
            int removed = 0, found = 0;
            int64_t doc_id = 0, *old = NULL;
            size_t n_old = 0;
            if (!o->dry_run) {
                st = rg_store_find_document(r->s, r->coll, uris[i], &found, &doc_id, NULL, err);
                if (!st && found && o->dense)
                    st = rg_store_chunk_ids(r->s, r->coll, doc_id, &old, &n_old, err);
                if (!st) st = rg_store_forget_source(r->s, r->coll, uris[i], &removed, err);
                if (!st && removed && o->dense)
                    st = rg_dense_update(o->dense, r->coll, old, n_old, NULL, 0, err);
                rg_free(old);
                if (st) break;
            } else {
                st = rg_store_find_document(r->s, r->coll, uris[i], &removed, NULL, NULL, err);
                if (st) break;
            }
            if (!removed) continue; /* only a manifest row (a file that had failed) */
            stats->deleted++;
            rg_error none;
            rg_error_clear(&none);
            if (o->on_file) o->on_file(o->ctx, uris[i], RG_INGEST_DELETED, &none, stats);
        }
        rg_store_sources_free(uris, n);
        if (st) return st;
    }
    return RG_OK;
}

rg_status rg_ingest_paths(rg_store *s, const char *const *paths, size_t n_paths,
                          const rg_ingest_options *opt, rg_ingest_stats *stats, rg_error *err)
{
    rg_ingest_options o = opt ? *opt : rg_ingest_default_options();
    memset(stats, 0, sizeof *stats);
    if (o.n_include > RG_INGEST_MAX_GLOBS || o.n_exclude > RG_INGEST_MAX_GLOBS)
        return rg_fail(err, RG_ELIMIT, "at most %d include and %d exclude globs",
                       RG_INGEST_MAX_GLOBS, RG_INGEST_MAX_GLOBS);
    if (o.n_meta > RG_INGEST_MAX_META)
        return rg_fail(err, RG_ELIMIT, "at most %d metadata pairs", RG_INGEST_MAX_META);
    for (size_t i = 0; i < o.n_meta; i++)
        if (!rg_meta_key_valid(o.meta_keys[i]) || strcmp(o.meta_keys[i], "modified") == 0)
            return rg_fail(err, RG_EINVAL,
                           "metadata key '%s': 1-%d characters of A-Z a-z 0-9 _ . - "
                           "('modified' is set by ragd)",
                           o.meta_keys[i], RG_META_KEY_MAX);
    double t0 = now_seconds();
    run_ctx r = {.s = s, .o = &o};
    rg_ingest_settings_hash(&o, o.dense ? rg_dense_model(o.dense) : NULL, r.settings);
    /* A dry run creates nothing: on a new collection every file is an add. */
    rg_status st = rg_store_collection(s, o.collection ? o.collection : RG_DEFAULT_COLLECTION,
                                       !o.dry_run, &r.coll, err);
    if (st == RG_ENOTFOUND && o.dry_run) {
        r.coll = 0;
        st = RG_OK;
    }
    if (st) return st;
    walk w = {.opt = &o};
    if (o.dense && o.dry_run) o.dense = NULL; /* attaching may embed; a dry run reads only */
    if (o.dense && (st = rg_dense_attach(o.dense, r.coll, err))) return st;
    double last_save = t0;
    if ((st = collect(&w, paths, n_paths, err))) goto out;
    stats->total_files = w.n;
    for (size_t i = 0; i < w.n; i++)
        stats->total_bytes += (uint64_t)w.files[i].size;
    for (size_t i = 0; i < w.n; i++) {
        const walk_file *f = &w.files[i];
        rg_error ferr;
        rg_error_clear(&ferr);
        rg_ingest_event ev;
        stats->files++;
        /* In a directory walk, files no loader claims by name are passed over
         * quietly (images, archives); a file named explicitly is sniffed. */
        if (!f->explicit_arg && !rg_loader_find(f->path, NULL, 0)) {
            ev = RG_INGEST_SKIPPED;
            rg_fail(&ferr, RG_EUNSUPPORTED, "%s: not a supported document type", f->path);
        } else {
            ev = ingest_file(&r, f, stats, &ferr);
        }
        switch (ev) {
        case RG_INGEST_ADDED:
            stats->added++;
            break;
        case RG_INGEST_UPDATED:
            stats->updated++;
            break;
        case RG_INGEST_UNCHANGED:
            stats->unchanged++;
            break;
        case RG_INGEST_SKIPPED:
            stats->skipped++;
            break;
        case RG_INGEST_FAILED:
            stats->failed++;
            break;
        case RG_INGEST_DELETED:
            break;
        }
        /* A store that stops working stops the run; a bad file does not. */
        if (ev == RG_INGEST_FAILED &&
            (ferr.code == RG_EDB || ferr.code == RG_ECORRUPT || ferr.code == RG_EBUSY)) {
            st = rg_fail(err, ferr.code, "%s", ferr.msg);
            goto out;
        }
        stats->seconds = now_seconds() - t0;
        if (o.on_file) o.on_file(o.ctx, f->path, ev, &ferr, stats);
        if (o.dense && now_seconds() - last_save > RG_INGEST_SAVE_SECONDS) {
            if ((st = rg_dense_save(o.dense, err))) goto out;
            last_save = now_seconds();
        }
    }
    if (o.sync && r.coll) {
        qsort(w.files, w.n, sizeof *w.files, path_cmp);
        if ((st = sync_deletes(&r, &w, paths, n_paths, stats, err))) goto out;
    }
    if (o.dense) st = rg_dense_save(o.dense, err);
out:
    stats->seconds = now_seconds() - t0;
    walk_free(&w);
    return st;
}
