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
    int64_t mtime;
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
    w->files[w->n++] = (walk_file){copy, (int64_t)sb->st_size, (int64_t)sb->st_mtime, explicit_arg};
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
        .metadata_json = metadata_json,
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

/*
 * Replaces *data (rg_malloc'd, *len bytes) by its masked copy and fills
 * *counts. The masked text may be longer (pii.h bounds it); the loader's
 * size limit still applies to it.
 */
static rg_status mask_file(const char *path, unsigned types, char **data, size_t *len,
                           rg_pii_counts *counts, rg_error *err)
{
    rg_buf out;
    rg_buf_init(&out, *len + *len / 6 + 2);
    memset(counts, 0, sizeof *counts);
    rg_status st = rg_buf_reserve(&out, *len + 1);
    if (!st) st = rg_pii_mask(*data, *len, types, &out, counts, err);
    if (st) {
        rg_buf_free(&out);
        return rg_fail(err, st, "%s: masking personal data: %s", path, rg_strerror(st));
    }
    rg_free(*data);
    *len = out.len;
    *data = rg_buf_steal(&out);
    if (!*data) *data = rg_calloc(1, 1);
    if (!*data) return rg_fail(err, RG_ENOMEM, "%s: out of memory", path);
    return RG_OK;
}

/* Ingests one file; returns the event, err filled on failure. */
static rg_ingest_event ingest_file(rg_store *s, int64_t coll, const walk_file *f,
                                   const rg_ingest_options *o, rg_ingest_stats *stats,
                                   rg_error *err)
{
    char *data = NULL, *meta = NULL;
    size_t len = 0;
    rg_document doc;
    int have_doc = 0;
    rg_ingest_event ev = RG_INGEST_FAILED;
    char hash[RG_SHA256_HEX_LEN + 1], old_hash[65];
    int found = 0;
    rg_pii_counts pii = {{0}};
    if (read_file(f->path, &data, &len, err)) goto out;
    stats->bytes += len;
    if (o->pii_types && mask_file(f->path, o->pii_types, &data, &len, &pii, err)) goto out;
    rg_sha256_hex(data, len, hash);
    if (rg_store_find_document(s, coll, f->path, &found, NULL, old_hash, err)) goto out;
    if (found && strcmp(hash, old_hash) == 0) {
        ev = RG_INGEST_UNCHANGED;
        goto out;
    }
    if (rg_load_buffer(f->path, data, len, &doc, err)) goto out;
    have_doc = 1;
    size_t n = 0;
    if (!(meta = file_metadata(o, f->mtime, o->pii_types ? &pii : NULL))) {
        rg_fail(err, RG_ENOMEM, "%s: out of memory", f->path);
        goto out;
    }
    if (rg_ingest_document(s, o->dense, coll, f->path, &doc, hash, (int64_t)len, meta, &o->chunk,
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
    rg_error note_err;
    rg_store_manifest_note(s, coll, f->path, f->size, f->mtime,
                           ev == RG_INGEST_FAILED ? NULL : hash,
                           ev == RG_INGEST_FAILED      ? "error"
                           : ev == RG_INGEST_UNCHANGED ? "unchanged"
                                                       : "ok",
                           ev == RG_INGEST_FAILED ? rg_error_message(err) : NULL, &note_err);
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
    int64_t coll;
    rg_status st =
        rg_store_collection(s, o.collection ? o.collection : RG_DEFAULT_COLLECTION, 1, &coll, err);
    if (st) return st;
    walk w = {.opt = &o};
    if (o.dense && (st = rg_dense_attach(o.dense, coll, err))) return st;
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
            ev = ingest_file(s, coll, f, &o, stats, &ferr);
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
    if (o.dense) st = rg_dense_save(o.dense, err);
out:
    stats->seconds = now_seconds() - t0;
    walk_free(&w);
    return st;
}
