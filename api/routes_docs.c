/*
 * routes_docs.c — the documents API (add, list, get, delete) and server-side sync (routes.h).
 */
#include <math.h>
#include <strings.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "api/routes.h"
#include "api/serve.h"
#include "engine/base/log.h"
#include "engine/base/mem.h"
#include "engine/base/utf8.h"
#include "engine/nn/tokenizer.h"
#include "engine/rag/answer.h"
#include "engine/rag/extractive.h"
#include "engine/rag/rewrite.h"
#include "engine/base/sha256.h"
#include "index/keys.h"
#include "index/lexical.h"
#include "ingest/loader.h"
#include "ingest/pipeline.h"

/* ---- documents ---- */

/* The collection named in the path, if the serve_caller may use it: 0 after replying. */
static int path_collection(rg_request *req, serve_worker *w, const serve_caller *c, int create,
                           int64_t *id, const char **name)
{
    *name = rg_req_param(req, "c");
    if (!*name || !rg_collection_name_valid(*name)) {
        rg_reply_error(req, 400, "invalid_request", "'%s' is not a collection name",
                       *name ? *name : "");
        return 0;
    }
    const char *picked;
    if (!serve_pick_collection(req, c, *name, &picked)) return 0;
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_store_collection(w->store, *name, create, id, &err);
    if (st == RG_ENOTFOUND) {
        rg_reply_error(req, 404, "collection_not_found", "no collection '%s'", *name);
        return 0;
    }
    if (st) {
        rg_reply_status(req, &err);
        return 0;
    }
    return 1;
}

static int path_doc_id(rg_request *req, int64_t *id)
{
    const char *v = rg_req_param(req, "id");
    char *end;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || *end || n <= 0) {
        rg_reply_error(req, 400, "invalid_request", "a document id is a positive integer");
        return 0;
    }
    *id = n;
    return 1;
}

static cJSON *doc_row_json(const rg_doc_row *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "collection", r->collection);
    cJSON_AddStringToObject(o, "source", r->source_uri);
    cJSON_AddStringToObject(o, "title", r->title);
    cJSON_AddStringToObject(o, "media_type", r->media_type);
    cJSON_AddNumberToObject(o, "size", (double)r->size);
    cJSON_AddNumberToObject(o, "updated_at", (double)r->updated_at);
    cJSON_AddNumberToObject(o, "chunks", (double)r->chunks);
    cJSON *meta = cJSON_Parse(r->metadata);
    cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateObject());
    if (r->text) cJSON_AddStringToObject(o, "text", r->text);
    return o;
}

/* Replies with one document as JSON. */
static void reply_doc(rg_request *req, const rg_doc_row *row)
{
    cJSON *o = doc_row_json(row);
    if (o)
        rg_reply_json(req, 200, o);
    else
        rg_reply_error(req, 500, "internal", "out of memory");
    cJSON_Delete(o);
}

/* Checks an "acl" member: {"users": [names], "groups": [names]}. 0 after replying. */
static int check_acl(rg_request *req, const cJSON *acl)
{
    if (!acl || cJSON_IsNull(acl)) return 1;
    if (!cJSON_IsObject(acl)) goto bad;
    for (const cJSON *m = acl->child; m; m = m->next) {
        if ((strcmp(m->string, "users") && strcmp(m->string, "groups")) || !cJSON_IsArray(m))
            goto bad;
        if (cJSON_GetArraySize(m) > RG_READER_GROUPS_MAX * 4) {
            rg_reply_error(req, 413, "too_large", "an access list names at most %d of each",
                           RG_READER_GROUPS_MAX * 4);
            return 0;
        }
        for (const cJSON *e = m->child; e; e = e->next)
            if (!cJSON_IsString(e) || !e->valuestring[0] ||
                strlen(e->valuestring) > RG_KEY_USER_MAX)
                goto bad;
    }
    return 1;
bad:
    rg_reply_error(req, 400, "invalid_request",
                   "'acl' is {\"users\": [names], \"groups\": [names]}");
    return 0;
}

/* Picks the loader's file name for a JSON upload's "format". */
static const char *format_path(const char *format)
{
    if (!format || strcmp(format, "text") == 0) return "upload.txt";
    if (strcmp(format, "markdown") == 0) return "upload.md";
    if (strcmp(format, "html") == 0) return "upload.html";
    return NULL;
}

/*
 * An upload's source name is a label (stored, shown in citations, matched
 * to replace a document), never a path: uploads write no file. Names that
 * read like a way out of a folder ("../x", "/etc/x", "a\\b") or carry
 * control characters are refused all the same, so that nothing that later
 * reads sources as paths (a person, a sync of the same collection) is
 * misled. 1 when source and title (either may be NULL) are fine, else 0
 * after replying 400 or 413.
 */
static int check_names(rg_request *req, const char *source, const char *title)
{
    const char *what[2] = {"source", "title"}, *v[2] = {source, title};
    for (int k = 0; k < 2; k++) {
        size_t n = v[k] ? strlen(v[k]) : 0, bad;
        if (n > SERVE_DOC_NAME_MAX) {
            rg_reply_error(req, 413, "too_large", "'%s' is longer than %d bytes", what[k],
                           SERVE_DOC_NAME_MAX);
            return 0;
        }
        if (n && !rg_utf8_valid(v[k], n, &bad)) {
            rg_reply_error(req, 400, "invalid_request", "'%s' is not valid UTF-8 (byte %zu)",
                           what[k], bad);
            return 0;
        }
    }
    if (!source) return 1;
    int escapes = source[0] == '/' || strchr(source, '\\') != NULL;
    for (const char *p = source; *p && !escapes; p++)
        escapes = (unsigned char)*p < 0x20 || *p == 0x7f;
    for (const char *seg = source; !escapes; seg++) { /* each '/'-separated segment */
        escapes = seg[0] == '.' && seg[1] == '.' && (seg[2] == '/' || seg[2] == '\0');
        if (!(seg = strchr(seg, '/'))) break;
    }
    if (escapes) {
        rg_reply_error(req, 400, "invalid_request",
                       "'source' is a name, not a path out of a folder: no '..' segment, leading "
                       "'/', backslash or control character");
        return 0;
    }
    return 1;
}

void route_doc_put(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    cJSON *body = NULL, *meta = NULL;
    char *meta_text = NULL, *source_buf = NULL;
    rg_document doc = {0};
    rg_buf masked, pii_json;
    rg_buf_init(&masked, (size_t)SERVE_DOC_NAME_MAX * 2); /* the masked title */
    rg_buf_init(&pii_json, 4096);
    int have_doc = 0, locked = 0;
    int64_t coll;
    const char *coll_name;
    const char *data, *source = NULL, *title = NULL, *path;
    size_t n;
    rg_error err;
    rg_error_clear(&err);
    const char *ctype = rg_req_header(req, "Content-Type");
    int is_json = !ctype || strncmp(ctype, "application/json", 16) == 0;
    if (is_json) {
        if (!(body = serve_parse_body(req))) goto done;
        const char *format;
        if (!serve_get_string(req, body, "text", 1, SERVE_UPLOAD_MAX, &data) ||
            !serve_get_string(req, body, "title", 0, SERVE_DOC_NAME_MAX, &title) ||
            !serve_get_string(req, body, "source", 0, SERVE_DOC_NAME_MAX, &source) ||
            !serve_get_string(req, body, "format", 0, 16, &format) ||
            !check_names(req, source, title))
            goto done;
        if (!(path = format_path(format))) {
            rg_reply_error(req, 400, "invalid_request", "'format' is text, markdown or html");
            goto done;
        }
        n = strlen(data);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "metadata");
        if (m && !cJSON_IsNull(m) && !cJSON_IsObject(m)) {
            rg_reply_error(req, 400, "invalid_request", "'metadata' must be an object");
            goto done;
        }
        meta = m && cJSON_IsObject(m) ? cJSON_Duplicate(m, 1) : cJSON_CreateObject();
        const cJSON *acl = cJSON_GetObjectItemCaseSensitive(body, "acl");
        if (!meta || !check_acl(req, acl)) {
            if (!meta) rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "acl");
        if (acl && cJSON_IsObject(acl)) cJSON_AddItemToObject(meta, "acl", cJSON_Duplicate(acl, 1));
    } else {
        data = rg_req_body(req, &n);
        source = rg_req_query(req, "source");
        title = rg_req_query(req, "title");
        if (!source || !source[0]) {
            rg_reply_error(req, 400, "invalid_request",
                           "a file upload names itself: ?source=NAME.ext (the extension picks "
                           "the loader)");
            goto done;
        }
        if (!check_names(req, source, title)) goto done;
        path = source;
        meta = cJSON_CreateObject();
    }
    if (!n) {
        rg_reply_error(req, 400, "invalid_request", "the document is empty");
        goto done;
    }
    /* Personal data is masked in the loaded text and the given title before
     * anything is stored (rg_load_buffer_masked: whatever the format). */
    rg_pii_counts pc = {{0}};
    if (app->pii_types && title && title[0]) {
        if (rg_pii_mask(title, strlen(title), app->pii_types, &masked, &pc, &err)) {
            rg_reply_status(req, &err);
            goto done;
        }
        title = rg_buf_str(&masked);
    }
    char hash[RG_SHA256_HEX_LEN + 1];
    rg_sha256_hex(data, n, hash);
    if (!source || !source[0]) { /* content-addressed when the serve_caller gives no name */
        size_t cap = 16 + RG_SHA256_HEX_LEN;
        if (!(source_buf = rg_malloc(cap))) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        snprintf(source_buf, cap, "api:%.16s", hash);
        source = source_buf;
    }
    if (rg_load_buffer_masked(path, data, n, app->pii_types, &pc, &doc, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    have_doc = 1;
    if (app->pii_types) {
        cJSON *pj = NULL;
        if (rg_pii_counts_json(&pc, &pii_json) || !(pj = cJSON_Parse(rg_buf_str(&pii_json))) ||
            !meta) {
            cJSON_Delete(pj);
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "pii");
        cJSON_AddItemToObject(meta, "pii", pj);
    }
    meta_text = meta ? cJSON_PrintUnformatted(meta) : NULL;
    if (!meta_text) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (title && title[0]) {
        char *t = rg_strdup(title);
        if (!t) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        rg_free(doc.title);
        doc.title = t;
    }
    pthread_mutex_lock(&app->write_mu);
    locked = 1;
    if (serve_write_begin(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!path_collection(req, w, &c, 1, &coll, &coll_name)) goto done;
    int found = 0;
    int64_t old_id = 0, doc_id = 0;
    size_t n_chunks = 0;
    rg_chunk_options co = rg_ingest_chunk_options(rg_chunk_default_options(), w->enc);
    double t_ingest = cli_now();
    rg_status st = rg_store_find_document(w->store, coll, source, &found, &old_id, NULL, &err);
    if (!st && w->dense) st = rg_dense_attach(w->dense, coll, &err);
    if (!st)
        st = rg_ingest_document(w->store, w->dense, coll, source, &doc, hash, (int64_t)n, meta_text,
                                &co, &n_chunks, &err);
    if (!st) st = serve_dense_changed(w, &err);
    if (st) {
        app->ingest_failed++;
    } else {
        if (found)
            app->ingest_updated++;
        else
            app->ingest_added++;
        app->ingest_chunks += n_chunks;
        app->ingest_bytes += n;
        app->ingest_us += (unsigned long long)((cli_now() - t_ingest) * 1e6);
    }
    if (!st) {
        int f2;
        st = rg_store_find_document(w->store, coll, source, &f2, &doc_id, NULL, &err);
    }
    if (st) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)doc_id);
        cJSON_AddStringToObject(o, "collection", coll_name);
        cJSON_AddStringToObject(o, "source", source);
        cJSON_AddStringToObject(o, "title", doc.title);
        cJSON_AddNumberToObject(o, "chunks", (double)n_chunks);
        cJSON_AddBoolToObject(o, "replaced", found);
        rg_reply_json(req, found ? 200 : 201, o);
        cJSON_Delete(o);
    } else {
        rg_reply_error(req, 500, "internal", "out of memory");
    }
done:
    if (locked) pthread_mutex_unlock(&app->write_mu);
    if (have_doc) rg_document_free(&doc);
    rg_buf_free(&masked);
    rg_buf_free(&pii_json);
    rg_free(source_buf);
    cJSON_free(meta_text);
    cJSON_Delete(meta);
    cJSON_Delete(body);
    serve_caller_free(&c);
}

void route_doc_list(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t coll;
    const char *name;
    rg_doc_row *rows = NULL;
    size_t n = 0;
    cJSON *o = NULL;
    if (!path_collection(req, w, &c, 0, &coll, &name)) goto done;
    const char *lim = rg_req_query(req, "limit"), *after = rg_req_query(req, "after");
    char *end;
    long long limit = lim ? strtoll(lim, &end, 10) : SERVE_PAGE_DEFAULT;
    if ((lim && (*end || !lim[0])) || limit < 1 || limit > RG_STORE_PAGE_MAX) {
        rg_reply_error(req, 400, "invalid_request", "'limit' is 1 to %d", RG_STORE_PAGE_MAX);
        goto done;
    }
    long long after_id = after ? strtoll(after, &end, 10) : 0;
    if (after && (*end || !after[0] || after_id < 0)) {
        rg_reply_error(req, 400, "invalid_request", "'after' is a document id");
        goto done;
    }
    rg_error err;
    rg_error_clear(&err);
    if (rg_store_documents(w->store, coll, serve_caller_store_reader(&c), after_id, (size_t)limit,
                           &rows, &n, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "documents") : NULL;
    for (size_t i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, doc_row_json(&rows[i]));
    if (!arr) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    if (n == (size_t)limit)
        cJSON_AddNumberToObject(o, "next_after", (double)rows[n - 1].id);
    else
        cJSON_AddNullToObject(o, "next_after");
    rg_reply_json(req, 200, o);
done:
    cJSON_Delete(o);
    rg_doc_rows_free(rows, n);
    serve_caller_free(&c);
}

void route_doc_get(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t coll, id;
    const char *name;
    rg_doc_row row = {0};
    rg_error err;
    rg_error_clear(&err);
    if (!path_collection(req, w, &c, 0, &coll, &name) || !path_doc_id(req, &id)) goto done;
    if (rg_store_document_get(w->store, coll, id, serve_caller_store_reader(&c), &row, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    reply_doc(req, &row);
done:
    rg_doc_row_free(&row);
    serve_caller_free(&c);
}

/* A dry run's planned change, into {"add":[], "update":[], "delete":[]}. */
static void sync_plan_note(void *ctx, const char *path, rg_ingest_event ev, const rg_error *err,
                           const rg_ingest_stats *so_far)
{
    (void)err;
    (void)so_far;
    const char *what = rg_ingest_plan_word(ev);
    cJSON *list = what ? cJSON_GetObjectItemCaseSensitive(ctx, what) : NULL;
    if (list) cJSON_AddItemToArray(list, cJSON_CreateString(path));
}

/*
 * body[name], when present: an array of 1 to RG_JSON_MAX_FIELDS field names
 * into names (NULL-terminated; the strings stay in body), *set = 1. Replies
 * 400 and returns 0 when it is anything else.
 */
static int get_field_list(rg_request *req, const cJSON *body, const char *name, const char **names,
                          int *set)
{
    *set = 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, name);
    if (!a || cJSON_IsNull(a)) return 1;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 1 || n > RG_JSON_MAX_FIELDS) {
        rg_reply_error(req, 400, "invalid_request", "'%s' must be an array of 1 to %d field names",
                       name, RG_JSON_MAX_FIELDS);
        return 0;
    }
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e) || !e->valuestring[0] ||
            strlen(e->valuestring) >= RG_JSON_FIELD_NAME_MAX) {
            rg_reply_error(req, 400, "invalid_request", "'%s' holds field names of 1 to %d bytes",
                           name, RG_JSON_FIELD_NAME_MAX - 1);
            return 0;
        }
        names[i++] = e->valuestring;
    }
    names[i] = NULL;
    *set = 1;
    return 1;
}

/*
 * POST /v1/collections/{c}/sync {"path", "dry_run", "json_text_fields",
 * "json_title_fields"}: makes the collection
 * mirror a folder under a sync root (pipeline.h: adds, updates, deletes).
 */
void route_sync(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    cJSON *body = serve_parse_body(req);
    const char *path;
    int locked = 0, dry_run = 0;
    cJSON *plan = NULL;
    rg_error err;
    rg_error_clear(&err);
    const char *json_text[RG_JSON_MAX_FIELDS + 1], *json_title[RG_JSON_MAX_FIELDS + 1];
    int has_text = 0, has_title = 0;
    if (!body || !serve_get_string(req, body, "path", 1, PATH_MAX - 1, &path) ||
        !serve_get_bool(req, body, "dry_run", &dry_run) ||
        !get_field_list(req, body, "json_text_fields", json_text, &has_text) ||
        !get_field_list(req, body, "json_title_fields", json_title, &has_title))
        goto done;
    if (!app->n_sync_roots) {
        rg_reply_error(req, 403, "forbidden",
                       "this server syncs no folders (ragd serve --sync-root DIR)");
        goto done;
    }
    /* a relative path names a folder under the first root that has it */
    char real[PATH_MAX], joined[PATH_MAX];
    const char *root = NULL;
    for (size_t i = 0; !root && i < app->n_sync_roots; i++) {
        const char *try = path;
        if (path[0] != '/') {
            int n = snprintf(joined, sizeof joined, "%s/%s", app->sync_roots[i], path);
            if (n < 0 || (size_t)n >= sizeof joined) continue;
            try = joined;
        }
        size_t rl = strlen(app->sync_roots[i]);
        if (realpath(try, real) && strncmp(real, app->sync_roots[i], rl) == 0 &&
            (real[rl] == '\0' || real[rl] == '/'))
            root = app->sync_roots[i];
    }
    if (!root) {
        rg_reply_error(req, 403, "forbidden", "'%s' is not a folder inside a sync root", path);
        goto done;
    }
    pthread_mutex_lock(&app->write_mu);
    locked = 1;
    int64_t coll;
    const char *name;
    if (serve_refresh(w, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (!path_collection(req, w, &c, 1, &coll, &name)) goto done;
    rg_ingest_options o = rg_ingest_default_options();
    o.collection = name;
    o.dense = w->dense;
    o.root = root;
    o.pii_types = app->pii_types;
    o.chunk = rg_ingest_chunk_options(o.chunk, w->enc);
    o.sync = 1;
    o.dry_run = dry_run;
    o.json_text_fields = has_text ? json_text : NULL;
    o.json_title_fields = has_title ? json_title : NULL;
    if (dry_run) {
        if (!(plan = cJSON_CreateObject()) || !cJSON_AddArrayToObject(plan, "add") ||
            !cJSON_AddArrayToObject(plan, "update") || !cJSON_AddArrayToObject(plan, "delete")) {
            rg_reply_error(req, 500, "internal", "out of memory");
            goto done;
        }
        o.on_file = sync_plan_note;
        o.ctx = plan;
    }
    rg_ingest_stats st;
    const char *paths[1] = {real};
    rg_status ist = rg_ingest_paths(w->store, paths, 1, &o, &st, &err);
    if (!dry_run) {
        app->ingest_added += st.added;
        app->ingest_updated += st.updated;
        app->ingest_unchanged += st.unchanged;
        app->ingest_skipped += st.skipped;
        app->ingest_failed += st.failed;
        app->ingest_deleted += st.deleted;
        app->ingest_chunks += st.chunks;
        app->ingest_bytes += st.bytes;
        app->ingest_us += (unsigned long long)(st.seconds * 1e6);
    }
    if (ist) {
        rg_reply_status(req, &err);
        goto done;
    }
    cJSON *out = cJSON_CreateObject();
    if (!out) {
        rg_reply_error(req, 500, "internal", "out of memory");
        goto done;
    }
    cJSON_AddStringToObject(out, "collection", name);
    cJSON_AddStringToObject(out, "path", real);
    cJSON_AddNumberToObject(out, "files", (double)st.files);
    cJSON_AddNumberToObject(out, "added", (double)st.added);
    cJSON_AddNumberToObject(out, "updated", (double)st.updated);
    cJSON_AddNumberToObject(out, "unchanged", (double)st.unchanged);
    cJSON_AddNumberToObject(out, "skipped", (double)st.skipped);
    cJSON_AddNumberToObject(out, "failed", (double)st.failed);
    cJSON_AddNumberToObject(out, "deleted", (double)st.deleted);
    cJSON_AddNumberToObject(out, "chunks", (double)st.chunks);
    cJSON_AddNumberToObject(out, "seconds", st.seconds);
    cJSON_AddBoolToObject(out, "dry_run", dry_run);
    if (plan) {
        cJSON_AddItemToObject(out, "plan", plan);
        plan = NULL;
    }
    rg_reply_json(req, 200, out);
    cJSON_Delete(out);
done:
    cJSON_Delete(plan);
    if (locked) pthread_mutex_unlock(&app->write_mu);
    cJSON_Delete(body);
    serve_caller_free(&c);
}

/* GET /v1/documents/{id}: a document by id alone (the web page's citations). */
void route_document(void *app, void *ctx, rg_request *req)
{
    (void)app;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_READ, &c)) return;
    int64_t id;
    rg_doc_row row = {0};
    rg_error err;
    rg_error_clear(&err);
    if (!path_doc_id(req, &id)) goto done;
    if (rg_store_document_get(w->store, 0, id, serve_caller_store_reader(&c), &row, &err)) {
        rg_reply_status(req, &err);
        goto done;
    }
    if (c.authed && !rg_key_allows(&c.key, row.collection)) { /* as if it did not exist */
        rg_reply_error(req, 404, "not_found", "no document %lld", (long long)id);
        goto done;
    }
    reply_doc(req, &row);
done:
    rg_doc_row_free(&row);
    serve_caller_free(&c);
}

void route_doc_delete(void *app_, void *ctx, rg_request *req)
{
    serve_app *app = app_;
    serve_worker *w = ctx;
    serve_caller c;
    if (!serve_authorize(req, w, RG_SCOPE_WRITE, &c)) return;
    int64_t coll, id;
    const char *name;
    rg_doc_row row = {0};
    int64_t *ids = NULL;
    size_t n_ids = 0;
    rg_error err;
    rg_error_clear(&err);
    pthread_mutex_lock(&app->write_mu);
    if (!path_collection(req, w, &c, 0, &coll, &name) || !path_doc_id(req, &id)) goto done;
    /* a document the serve_caller may not read is one it cannot see, nor delete */
    rg_status st =
        rg_store_document_get(w->store, coll, id, serve_caller_store_reader(&c), &row, &err);
    if (!st) st = serve_write_begin(w, &err);
    if (!st && w->dense) st = rg_dense_attach(w->dense, coll, &err);
    if (!st) st = rg_store_chunk_ids(w->store, coll, id, &ids, &n_ids, &err);
    if (!st) {
        st = rg_store_delete_document(w->store, id, &err);
        /* a failed commit may still have taken effect: the next attach reconciles */
        if (st && w->dense) rg_dense_mark_stale(w->dense, coll);
    }
    if (!st && w->dense) st = rg_dense_update(w->dense, coll, ids, n_ids, NULL, 0, &err);
    if (!st) st = serve_dense_changed(w, &err);
    if (st) {
        rg_reply_status(req, &err);
        goto done;
    }
    app->ingest_deleted++;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "id", (double)id);
        cJSON_AddBoolToObject(o, "deleted", 1);
        cJSON_AddNumberToObject(o, "chunks", (double)n_ids);
        rg_reply_json(req, 200, o);
    } else {
        rg_reply_error(req, 500, "internal", "out of memory");
    }
    cJSON_Delete(o);
done:
    pthread_mutex_unlock(&app->write_mu);
    rg_free(ids);
    rg_doc_row_free(&row);
    serve_caller_free(&c);
}
