#include "ingest/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
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

const char *rg_ingest_plan_word(rg_ingest_event ev)
{
    switch (ev) {
    case RG_INGEST_ADDED:
        return "add";
    case RG_INGEST_UPDATED:
        return "update";
    case RG_INGEST_DELETED:
        return "delete";
    default:
        return NULL;
    }
}

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

/*
 * Writes doc with its chunks (chunks[0..n)) as source_uri in one
 * transaction, then its vectors: vecs (n * dim floats, already embedded) or,
 * when vecs is NULL, embedded now from the store. Should embedding fail or
 * the process die after the commit, the next attach reconciles the vectors.
 */
static rg_status write_document(rg_store *s, rg_dense *dense, int64_t collection_id,
                                const char *source_uri, const rg_document *doc,
                                const rg_chunk *chunks, size_t n, const char *content_hash,
                                int64_t size, const char *metadata_json, const float *vecs,
                                rg_error *err)
{
    rg_chunk_row *rows = NULL;
    char(*sections)[SECTION_MAX] = NULL;
    int64_t *old_ids = NULL, *new_ids = NULL;
    size_t n_old = 0, n_new = 0;
    rg_status st = RG_OK;
    char *paged = metadata_with_pages(metadata_json, doc, &st);
    if (st) return rg_fail(err, st, "%s: out of memory", source_uri);
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
    if ((st = rg_store_put_document(s, &meta, rows, n, &doc_id, err))) {
        /* SQLite may report a failure after the commit took effect (an
           allocation failing late): the next attach reconciles either way */
        if (dense) rg_dense_mark_stale(dense, collection_id);
        goto out;
    }
    if (dense) {
        /* Committed: from here a failure leaves the vectors behind the store. */
        st = rg_store_chunk_ids(s, collection_id, doc_id, &new_ids, &n_new, err);
        if (!st && vecs && n_new != n)
            st = rg_fail(err, RG_EINTERNAL, "%s: %zu chunks stored, %zu embedded", source_uri,
                         n_new, n);
        if (!st)
            st = vecs ? rg_dense_replace(dense, collection_id, old_ids, n_old, new_ids, n_new, vecs,
                                         err)
                      : rg_dense_update(dense, collection_id, old_ids, n_old, new_ids, n_new, err);
        if (st) rg_dense_mark_stale(dense, collection_id);
    }
out:
    cJSON_free(paged);
    rg_free(rows);
    rg_free(sections);
    rg_free(old_ids);
    rg_free(new_ids);
    return st;
}

rg_status rg_ingest_document(rg_store *s, rg_dense *dense, int64_t collection_id,
                             const char *source_uri, const rg_document *doc,
                             const char *content_hash, int64_t size, const char *metadata_json,
                             const rg_chunk_options *chunk, size_t *n_chunks, rg_error *err)
{
    rg_chunk *chunks = NULL;
    size_t n = 0;
    rg_status st = rg_chunk_document(doc, chunk, &chunks, &n, err);
    if (st) return st;
    st = write_document(s, dense, collection_id, source_uri, doc, chunks, n, content_hash, size,
                        metadata_json, NULL, err);
    if (!st && n_chunks) *n_chunks = n;
    rg_free(chunks);
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
    rg_store *s;  /* the writer's connection */
    int64_t coll; /* 0 in a dry run on a collection that does not exist yet */
    const rg_ingest_options *o;
    char settings[RG_STORE_SETTINGS_MAX + 1]; /* chunk settings hash [+ "+j" JSON fields] */
    rg_json_fields *json;                     /* NULL: the defaults */
    double t0;
    double save_seconds; /* how long the last periodic save of the vectors took */
    rg_error fatal;      /* set when the store stops working: the run stops */
} run_ctx;

/*
 * A file's recorded settings are the run's settings, then "+l", the name of
 * the loader that read it, "." and that loader's version: a loader's new
 * version makes sync read only the files that loader read. A row without
 * the suffix (written before loaders had versions, all at 1) counts as
 * read by the loader path's name chooses, at version 1.
 */
#define LOADER_TAG "+l"

/* 1 when recorded (a manifest row's settings) equals the run's settings and
 * names a loader that is still at the recorded version. */
static int settings_current(const char *recorded, const char *run, const char *path)
{
    const char *tag = strstr(recorded, LOADER_TAG);
    size_t base = tag ? (size_t)(tag - recorded) : strlen(recorded);
    if (base != strlen(run) || strncmp(recorded, run, base) != 0) return 0;
    const rg_loader *ld = NULL;
    long version = 1;
    if (tag) {
        char name[RG_STORE_SETTINGS_MAX + 1];
        const char *dot = strrchr(tag, '.');
        size_t len = dot ? (size_t)(dot - tag) - strlen(LOADER_TAG) : 0;
        if (!dot || !len || len >= sizeof name) return 0;
        memcpy(name, tag + strlen(LOADER_TAG), len);
        name[len] = '\0';
        char *end;
        version = strtol(dot + 1, &end, 10);
        if (*end || end == dot + 1) return 0;
        ld = rg_loader_by_name(name);
    } else {
        ld = rg_loader_find(path, NULL, 0);
    }
    return ld && ld->version == version;
}

/* Writes the settings to record for a document doc loaded under run's settings. */
static void settings_with_loader(const char *run, const rg_document *doc,
                                 char out[RG_STORE_SETTINGS_MAX + 1])
{
    int n = doc->loader ? snprintf(out, RG_STORE_SETTINGS_MAX + 1, "%s" LOADER_TAG "%s.%d", run,
                                   doc->loader->name, doc->loader->version)
                        : -1;
    /* too long for the column: recorded without the loader (read again next time) */
    if (n < 0 || n > RG_STORE_SETTINGS_MAX) snprintf(out, RG_STORE_SETTINGS_MAX + 1, "%s", run);
}

/* 1 when the manifest says f is stored as it is now, so it need not be read. */
static int manifest_current(const rg_manifest_row *m, const walk_file *f, const char *settings,
                            unsigned pii_types)
{
    return (strcmp(m->status, "ok") == 0 || strcmp(m->status, "unchanged") == 0) &&
           m->size == f->size && m->mtime_ns == f->mtime_ns && m->pii_types == pii_types &&
           settings_current(m->settings_hash, settings, f->path) && m->document_hash[0] &&
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

/*
 * One file between the loader threads and the writer. The loader decides
 * what the file needs; the writer, the only thread that writes, does it.
 */
typedef struct job {
    rg_ingest_event ev; /* final unless write is set (then ADDED or UPDATED once written) */
    int write;          /* store doc with chunks[0..n_chunks) */
    int set_hash;       /* new bytes, same text: record hash and size only */
    int found;          /* a document had this source before */
    int64_t doc_id;     /* its id */
    rg_error err;
    rg_document doc;
    int have_doc;
    rg_chunk *chunks;
    size_t n_chunks;
    char hash[RG_SHA256_HEX_LEN + 1];
    size_t len; /* bytes read */
    rg_pii_counts pii;
    char settings[RG_STORE_SETTINGS_MAX + 1]; /* to record in the manifest */
} job;

static void job_clear(job *j)
{
    if (j->have_doc) rg_document_free(&j->doc);
    rg_free(j->chunks);
    memset(j, 0, sizeof *j);
}

/*
 * The loader's half of one file: manifest and hash checks, reading, loading
 * (masked), chunking. s is the loader's own connection (reads only).
 */
static void prepare_file(const run_ctx *r, rg_store *s, const walk_file *f, job *j)
{
    const rg_ingest_options *o = r->o;
    char *data = NULL, old_hash[65];
    size_t len = 0;
    int in_manifest = 0;
    rg_manifest_row m;
    rg_error *err = &j->err;
    rg_error_clear(err);
    j->ev = RG_INGEST_FAILED;
    snprintf(j->settings, sizeof j->settings, "%s", r->settings);
    /* In a directory walk, files no loader claims by name are passed over
     * quietly (images, archives); a file named explicitly is sniffed. */
    if (!f->explicit_arg && !rg_loader_find(f->path, NULL, 0)) {
        rg_fail(err, RG_EUNSUPPORTED, "%s: not a supported document type", f->path);
        j->ev = RG_INGEST_SKIPPED;
        return;
    }
    if (r->coll && rg_store_manifest_get(s, r->coll, f->path, &m, &in_manifest, err)) return;
    if (in_manifest && manifest_current(&m, f, r->settings, o->pii_types)) {
        j->ev = RG_INGEST_UNCHANGED;
        return;
    }
    if (read_file(f->path, &data, &len, err)) return;
    j->len = len;
    rg_sha256_hex(data, len, j->hash);
    if (r->coll &&
        rg_store_find_document(s, r->coll, f->path, &j->found, &j->doc_id, old_hash, err))
        goto out;
    /* A manifest row written before settings were recorded (settings_hash "")
     * counts as the same settings; a document without a row (an upload) too. */
    int same_settings = !in_manifest || !m.settings_hash[0] ||
                        settings_current(m.settings_hash, r->settings, f->path);
    if (in_manifest && same_settings && m.settings_hash[0])
        snprintf(j->settings, sizeof j->settings, "%s", m.settings_hash);
    /* only the loader's settings changed: the loaded text decides, below */
    int same_chunking =
        same_settings || strncmp(m.settings_hash, r->settings, RG_SHA256_HEX_LEN) == 0;
    int same_pii = !in_manifest || m.pii_types == o->pii_types;
    if (j->found && strcmp(j->hash, old_hash) == 0 && same_settings && same_pii) {
        j->ev = RG_INGEST_UNCHANGED;
        goto out;
    }
    /* Personal data is masked in the loaded text, whatever the file's format. */
    rg_load_options lo = {.pii_types = o->pii_types, .counts = &j->pii, .json = r->json};
    if (rg_load_buffer_with(f->path, data, len, &lo, &j->doc, err)) goto out;
    j->have_doc = 1;
    settings_with_loader(r->settings, &j->doc, j->settings);
    /* New bytes or settings that leave the text as it is stored (masking that
     * found nothing, an edit outside the text): nothing to re-chunk. */
    if (j->found && same_chunking && same_as_stored(s, r->coll, j->doc_id, &j->doc)) {
        j->set_hash = strcmp(j->hash, old_hash) != 0;
        j->ev = RG_INGEST_UNCHANGED;
        goto out;
    }
    j->ev = j->found ? RG_INGEST_UPDATED : RG_INGEST_ADDED;
    if (o->dry_run) goto out;
    if (rg_chunk_document(&j->doc, &o->chunk, &j->chunks, &j->n_chunks, err)) {
        rg_fail(err, err->code, "%s: %s", f->path, rg_error_message(err));
        j->ev = RG_INGEST_FAILED;
        goto out;
    }
    j->write = 1;
out:
    rg_free(data);
}

/*
 * The loaders and the writer share a ring of RG_INGEST_QUEUE jobs, filled
 * in file order: file i goes to slot i % RG_INGEST_QUEUE once the writer
 * has taken file i - RG_INGEST_QUEUE, so memory stays bounded whatever the
 * number of files, and the writer sees files in walk order.
 */
typedef struct pipe_state {
    const run_ctx *r;
    const walk *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job slots[RG_INGEST_QUEUE];
    int ready[RG_INGEST_QUEUE];
    size_t taken; /* files the writer has taken */
    int stop;     /* the writer gave up: loaders exit */
    int n_loaders;
    rg_store *stores[RG_INGEST_LOADERS_MAX];
    pthread_t threads[RG_INGEST_LOADERS_MAX];
} pipe_state;

typedef struct loader_arg {
    pipe_state *p;
    int k;
} loader_arg;

static void *loader_main(void *arg_)
{
    loader_arg *arg = arg_;
    pipe_state *p = arg->p;
    for (size_t i = (size_t)arg->k; i < p->w->n; i += (size_t)p->n_loaders) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && i >= p->taken + RG_INGEST_QUEUE)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        job *j = &p->slots[i % RG_INGEST_QUEUE];
        prepare_file(p->r, p->stores[arg->k], &p->w->files[i], j);
        pthread_mutex_lock(&p->mu);
        p->ready[i % RG_INGEST_QUEUE] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* The writer's scratch for embedding a batch; grows, never shrinks. */
typedef struct writer {
    job batch[RG_INGEST_QUEUE];    /* prepared documents waiting to be embedded */
    size_t index[RG_INGEST_QUEUE]; /* their files' places in the walk */
    size_t n_batch, batch_chunks;
    rg_buf text; /* embed texts back to back */
    size_t *offs, *lens;
    const char **ptrs;
    float *vecs;
    size_t cap; /* chunks the arrays above hold */
} writer;

static void writer_free(writer *wr)
{
    for (size_t i = 0; i < wr->n_batch; i++)
        job_clear(&wr->batch[i]);
    rg_buf_free(&wr->text);
    rg_free(wr->offs);
    rg_free(wr->lens);
    rg_free(wr->ptrs);
    rg_free(wr->vecs);
}

static rg_status writer_reserve(writer *wr, size_t n, int dim, rg_error *err)
{
    if (n <= wr->cap) return RG_OK;
    size_t cap = wr->cap ? wr->cap : 64;
    while (cap < n)
        cap *= 2;
    size_t *offs = rg_realloc(wr->offs, cap * sizeof *offs);
    if (offs) wr->offs = offs;
    size_t *lens = rg_realloc(wr->lens, cap * sizeof *lens);
    if (lens) wr->lens = lens;
    const char **ptrs = rg_realloc(wr->ptrs, cap * sizeof *ptrs);
    if (ptrs) wr->ptrs = ptrs;
    float *vecs = dim ? rg_realloc(wr->vecs, cap * (size_t)dim * sizeof *vecs) : wr->vecs;
    if (vecs) wr->vecs = vecs;
    if (!offs || !lens || !ptrs || (dim && !vecs))
        return rg_fail(err, RG_ENOMEM, "out of memory embedding %zu chunks", n);
    wr->cap = cap;
    return RG_OK;
}

/* Reports one finished file: counts, manifest, callback. */
static void finish_file(run_ctx *r, const walk_file *f, job *j, rg_ingest_stats *stats)
{
    const rg_ingest_options *o = r->o;
    stats->files++;
    stats->bytes += j->len;
    switch (j->ev) {
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
    int wrote = j->ev == RG_INGEST_ADDED || j->ev == RG_INGEST_UPDATED;
    if (wrote && !o->dry_run) {
        stats->chunks += j->n_chunks;
        if (o->pii_types) {
            for (int t = 0; t < RG_PII_TYPE_COUNT; t++)
                stats->pii.n[t] += j->pii.n[t];
            if (rg_pii_counts_total(&j->pii)) { /* the audit trail: which file, what, no values */
                rg_buf cb;
                rg_buf_init(&cb, RG_PII_TYPE_COUNT * 32);
                if (rg_pii_counts_json(&j->pii, &cb) == RG_OK)
                    rg_log(RG_LOG_INFO, "pii: masked %zu in %s %s", rg_pii_counts_total(&j->pii),
                           f->path, rg_buf_str(&cb));
                rg_buf_free(&cb);
            }
        }
    }
    /* The manifest: every file considered, but not those a walk passes over
     * and not the ones the manifest already says are current. */
    if (!o->dry_run && j->ev != RG_INGEST_SKIPPED && (j->ev != RG_INGEST_UNCHANGED || j->len)) {
        rg_error note_err;
        rg_manifest_entry e = {
            .source_uri = f->path,
            .size = f->size,
            .mtime_ns = f->mtime_ns,
            .content_hash = j->ev == RG_INGEST_FAILED ? NULL : j->hash,
            .settings_hash = j->settings,
            .status = j->ev == RG_INGEST_FAILED      ? "error"
                      : j->ev == RG_INGEST_UNCHANGED ? "unchanged"
                                                     : "ok",
            .message = j->ev == RG_INGEST_FAILED ? rg_error_message(&j->err) : NULL,
            .pii_types = o->pii_types,
        };
        rg_store_manifest_put(r->s, r->coll, &e, &note_err);
    }
    stats->seconds = now_seconds() - r->t0;
    if (o->on_file) o->on_file(o->ctx, f->path, j->ev, &j->err, stats);
}

/*
 * Embeds the batch's chunks in as few encoder calls as their count allows,
 * then writes each document with its vectors, and reports them.
 */
static void flush_batch(run_ctx *r, const walk *w, writer *wr, rg_ingest_stats *stats)
{
    const rg_ingest_options *o = r->o;
    rg_dense *dense = o->dense;
    int dim = dense ? rg_dense_dim(dense) : 0;
    rg_error err;
    rg_error_clear(&err);
    rg_status st = RG_OK;
    if (dense && wr->batch_chunks) {
        st = writer_reserve(wr, wr->batch_chunks, dim, &err);
        rg_buf_reset(&wr->text);
        size_t c = 0;
        for (size_t b = 0; !st && b < wr->n_batch; b++) {
            const job *j = &wr->batch[b];
            size_t tn = strlen(j->doc.title);
            for (size_t k = 0; !st && k < j->n_chunks; k++, c++) {
                /* what rg_store_chunk_embed_text gives: title, line break, chunk */
                wr->offs[c] = wr->text.len;
                if ((tn && (rg_buf_append(&wr->text, j->doc.title, tn) ||
                            rg_buf_putc(&wr->text, '\n'))) ||
                    rg_buf_append(&wr->text, j->doc.text + j->chunks[k].start,
                                  j->chunks[k].end - j->chunks[k].start))
                    st = rg_fail(&err, RG_ENOMEM, "out of memory embedding chunks");
                wr->lens[c] = wr->text.len - wr->offs[c];
            }
        }
        for (size_t i = 0; !st && i < wr->batch_chunks; i++)
            wr->ptrs[i] = wr->text.data + wr->offs[i];
        if (!st)
            st = rg_dense_embed_passages(dense, wr->ptrs, wr->lens, wr->batch_chunks, wr->vecs,
                                         &err);
    }
    size_t c = 0;
    for (size_t b = 0; b < wr->n_batch; b++) {
        job *j = &wr->batch[b];
        const walk_file *f = &w->files[wr->index[b]];
        if (st) { /* the batch could not be embedded: none of it is written */
            j->ev = RG_INGEST_FAILED;
            rg_fail(&j->err, err.code, "%s: %s", f->path, rg_error_message(&err));
        } else {
            char *meta = file_metadata(o, f->mtime, o->pii_types ? &j->pii : NULL);
            rg_status ws = meta ? write_document(r->s, dense, r->coll, f->path, &j->doc, j->chunks,
                                                 j->n_chunks, j->hash, (int64_t)j->len, meta,
                                                 dense ? wr->vecs + c * (size_t)dim : NULL, &j->err)
                                : rg_fail(&j->err, RG_ENOMEM, "%s: out of memory", f->path);
            cJSON_free(meta);
            if (ws) j->ev = RG_INGEST_FAILED;
            /* the store or the disk under it fails: the run stops, naming why */
            if ((ws == RG_EDB || ws == RG_ECORRUPT || ws == RG_EBUSY || ws == RG_EIO) &&
                !r->fatal.code)
                r->fatal = j->err;
        }
        c += j->n_chunks;
        finish_file(r, f, j, stats);
        if (j->ev == RG_INGEST_FAILED && !r->fatal.code &&
            (j->err.code == RG_EDB || j->err.code == RG_ECORRUPT || j->err.code == RG_EBUSY))
            r->fatal = j->err; /* a store that stops working stops the run */
        job_clear(j);
    }
    wr->n_batch = 0;
    wr->batch_chunks = 0;
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

/* Appends "+j" and 16 hex digits naming o's JSON field lists to settings. */
static void append_json_settings(const rg_ingest_options *o, char *settings)
{
    char text[2 * RG_JSON_MAX_FIELDS * RG_JSON_FIELD_NAME_MAX + 16];
    size_t len = 0;
    const char *const *lists[2] = {o->json_text_fields, o->json_title_fields};
    for (int l = 0; l < 2; l++) {
        len += (size_t)snprintf(text + len, sizeof text - len, "%s", l ? "|title:" : "text:");
        for (const char *const *f = lists[l]; f && *f && len < sizeof text; f++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%s,", *f);
        if (!lists[l]) len += (size_t)snprintf(text + len, sizeof text - len, "(default)");
        if (len >= sizeof text) len = sizeof text - 1;
    }
    char hex[RG_SHA256_HEX_LEN + 1];
    rg_sha256_hex(text, len, hex);
    snprintf(settings + RG_SHA256_HEX_LEN, RG_STORE_SETTINGS_MAX + 1 - RG_SHA256_HEX_LEN, "+j%.16s",
             hex);
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
                if (!st) {
                    st = rg_store_forget_source(r->s, r->coll, uris[i], &removed, err);
                    if (st && o->dense) rg_dense_mark_stale(o->dense, r->coll); /* as above */
                }
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

/* Loader threads for this run: options.loaders, else by core count. */
static int loader_count(const rg_ingest_options *o, size_t n_files)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = o->loaders > 0 ? o->loaders : cores <= 2 ? 1 : (int)(cores / 2);
    if (n > RG_INGEST_LOADERS_MAX) n = RG_INGEST_LOADERS_MAX;
    if ((size_t)n > n_files) n = n_files ? (int)n_files : 1;
    return n;
}

/*
 * Loader threads read, load and chunk files into the ring; this thread
 * takes them in walk order, embeds the chunks of several documents in one
 * batch and writes them (pipe_state, writer).
 */
static rg_status run_pipeline(run_ctx *r, const walk *w, rg_ingest_stats *stats, double *last_save,
                              rg_error *err)
{
    const rg_ingest_options *o = r->o;
    pipe_state *p = rg_calloc(1, sizeof *p);
    writer *wr = rg_calloc(1, sizeof *wr);
    loader_arg args[RG_INGEST_LOADERS_MAX];
    int started = 0;
    rg_status st = RG_OK;
    if (!p || !wr) {
        rg_free(p);
        rg_free(wr);
        return rg_fail(err, RG_ENOMEM, "out of memory starting ingestion");
    }
    rg_buf_init(&wr->text, RG_INGEST_BATCH_TEXT_MAX);
    p->r = r;
    p->w = w;
    p->n_loaders = loader_count(o, w->n);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    rg_store_options so = rg_store_default_options();
    so.create = 0;
    for (int k = 0; k < p->n_loaders && !st; k++)
        st = rg_store_open(rg_store_dir(r->s), &so, &p->stores[k], err);
    for (int k = 0; k < p->n_loaders && !st; k++, started++) {
        args[k] = (loader_arg){p, k};
        int rc = pthread_create(&p->threads[k], NULL, loader_main, &args[k]);
        if (rc) st = rg_fail(err, RG_ENOMEM, "cannot start a loader thread: %s", strerror(rc));
    }
    for (size_t i = 0; !st && i < w->n && !r->fatal.code; i++) {
        size_t slot = i % RG_INGEST_QUEUE;
        pthread_mutex_lock(&p->mu);
        while (!p->ready[slot])
            pthread_cond_wait(&p->cv, &p->mu);
        job j = p->slots[slot];
        memset(&p->slots[slot], 0, sizeof p->slots[slot]);
        p->ready[slot] = 0;
        p->taken = i + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (j.write) {
            if (wr->n_batch == RG_INGEST_QUEUE) flush_batch(r, w, wr, stats);
            wr->index[wr->n_batch] = i;
            wr->batch[wr->n_batch++] = j;
            wr->batch_chunks += j.n_chunks;
            if (wr->batch_chunks >= RG_DENSE_EMBED_BATCH) flush_batch(r, w, wr, stats);
        } else {
            if (j.set_hash && !o->dry_run &&
                rg_store_set_document_hash(r->s, j.doc_id, j.hash, (int64_t)j.len, &j.err))
                j.ev = RG_INGEST_FAILED;
            finish_file(r, &w->files[i], &j, stats);
            job_clear(&j);
        }
        double since = now_seconds() - *last_save;
        if (o->dense && !r->fatal.code && since > RG_INGEST_SAVE_SECONDS &&
            since > RG_INGEST_SAVE_FACTOR * r->save_seconds) {
            flush_batch(r, w, wr, stats);
            double t = now_seconds();
            if ((st = rg_dense_save(o->dense, err))) break;
            *last_save = now_seconds();
            r->save_seconds = *last_save - t;
        }
    }
    if (!st) flush_batch(r, w, wr, stats);
    if (!st && r->fatal.code) st = rg_fail(err, r->fatal.code, "%s", r->fatal.msg);
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < started; k++)
        pthread_join(p->threads[k], NULL);
    for (int k = 0; k < p->n_loaders; k++)
        rg_store_close(p->stores[k]);
    for (size_t i = 0; i < RG_INGEST_QUEUE; i++)
        job_clear(&p->slots[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    writer_free(wr);
    rg_free(wr);
    rg_free(p);
    return st;
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
    run_ctx r = {.s = s, .o = &o, .t0 = t0};
    rg_ingest_settings_hash(&o, o.dense ? rg_dense_model(o.dense) : NULL, r.settings);
    if (o.json_text_fields || o.json_title_fields) { /* checked before anything is written */
        rg_status js = rg_json_fields_new(o.json_text_fields, o.json_title_fields, &r.json, err);
        if (js) return js;
        append_json_settings(&o, r.settings);
    }
    /* A dry run creates nothing: on a new collection every file is an add. */
    rg_status st = rg_store_collection(s, o.collection ? o.collection : RG_DEFAULT_COLLECTION,
                                       !o.dry_run, &r.coll, err);
    if (st == RG_ENOTFOUND && o.dry_run) {
        r.coll = 0;
        st = RG_OK;
    }
    if (st) goto out_json;
    walk w = {.opt = &o};
    if (o.dense && o.dry_run) o.dense = NULL; /* attaching may embed; a dry run reads only */
    if (o.dense && (st = rg_dense_attach(o.dense, r.coll, err))) goto out_json;
    double last_save = t0;
    if ((st = collect(&w, paths, n_paths, err))) goto out;
    stats->total_files = w.n;
    for (size_t i = 0; i < w.n; i++)
        stats->total_bytes += (uint64_t)w.files[i].size;
    if ((st = run_pipeline(&r, &w, stats, &last_save, err))) goto out;
    if (o.sync && r.coll) {
        qsort(w.files, w.n, sizeof *w.files, path_cmp);
        if ((st = sync_deletes(&r, &w, paths, n_paths, stats, err))) goto out;
    }
    if (o.dense) {
        /* a document whose vectors failed after its commit is caught up before the save */
        rg_error aerr;
        rg_status ast = rg_dense_attach(o.dense, r.coll, &aerr);
        st = rg_dense_save(o.dense, err);
        if (!st && ast) {
            st = ast;
            *err = aerr;
        }
    }
out:
    stats->seconds = now_seconds() - t0;
    walk_free(&w);
out_json:
    rg_json_fields_free(r.json);
    return st;
}
