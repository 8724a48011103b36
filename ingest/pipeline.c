#include "ingest/pipeline_impl.h"

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
static int manifest_current(const rg_manifest_row *m, const rg_walk_file *f, const char *settings,
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
static void prepare_file(const run_ctx *r, rg_store *s, const rg_walk_file *f, job *j)
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
    if (rg_walk_read_file(f->path, &data, &len, err)) return;
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
    const rg_walk *w;
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
    size_t index[RG_INGEST_QUEUE]; /* their files' places in the rg_walk */
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
static void finish_file(run_ctx *r, const rg_walk_file *f, job *j, rg_ingest_stats *stats)
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
static void flush_batch(run_ctx *r, const rg_walk *w, writer *wr, rg_ingest_stats *stats)
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
        const rg_walk_file *f = &w->files[wr->index[b]];
        if (st) { /* the batch could not be embedded: none of it is written */
            j->ev = RG_INGEST_FAILED;
            rg_fail(&j->err, err.code, "%s: %s", f->path, rg_error_message(&err));
        } else {
            char *meta = rg_ingest_file_metadata(o, f->mtime, o->pii_types ? &j->pii : NULL);
            rg_status ws =
                meta ? rg_ingest_write_document(r->s, dense, r->coll, f->path, &j->doc, j->chunks,
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

void rg_ingest_settings_hash(const rg_ingest_options *o, const char *model, char out[65])
{
    char text[512], lexical[32] = "";
    /* the lexical target joined the settings later: without it (no model,
     * or the one target for all text) the hash is what it was before */
    size_t lt = o->chunk.lexical_target_tokens;
    if (o->chunk.covers && lt && lt != o->chunk.target_tokens)
        snprintf(lexical, sizeof lexical, "; lexical %zu", lt);
    snprintf(text, sizeof text, "ragd-ingest v1; loaders %d; chunk %zu/%zu%s; tokens %s",
             RG_INGEST_LOADERS_VERSION, o->chunk.target_tokens, o->chunk.overlap_tokens, lexical,
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

/*
 * Sync's second half: every source under the given paths that the walk did
 * not find goes, with its vectors. w->files must be sorted by path.
 */
static rg_status sync_deletes(const run_ctx *r, const rg_walk *w, const char *const *paths,
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
            if (rg_walk_has(w, uris[i])) continue;
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
static rg_status run_pipeline(run_ctx *r, const rg_walk *w, rg_ingest_stats *stats,
                              double *last_save, rg_error *err)
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
    rg_walk w = {.opt = &o};
    if (o.dense && o.dry_run) o.dense = NULL; /* attaching may embed; a dry run reads only */
    if (o.dense && (st = rg_dense_attach(o.dense, r.coll, err))) goto out_json;
    double last_save = t0;
    if ((st = rg_walk_collect(&w, paths, n_paths, err))) goto out;
    stats->total_files = w.n;
    for (size_t i = 0; i < w.n; i++)
        stats->total_bytes += (uint64_t)w.files[i].size;
    if ((st = run_pipeline(&r, &w, stats, &last_save, err))) goto out;
    if (o.sync && r.coll) {
        qsort(w.files, w.n, sizeof *w.files, rg_walk_path_cmp);
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
    rg_walk_free(&w);
out_json:
    rg_json_fields_free(r.json);
    return st;
}
