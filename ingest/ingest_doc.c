/*
 * ingest_doc.c — one document into the store: its chunks with their
 * section headings and pages, its metadata, its vectors, in one write.
 */
#include "ingest/pipeline_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/base/buf.h"
#include "engine/base/mem.h"

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

static int encoder_covers(void *ctx, const char *text, size_t n)
{
    return rg_encoder_covers(ctx, text, n);
}

rg_chunk_options rg_ingest_chunk_options(rg_chunk_options base, const rg_encoder *enc)
{
    if (!enc) return base;
    base.count_tokens = encoder_tokens;
    base.count_ctx = (void *)rg_encoder_tokenizer(enc);
    base.covers = encoder_covers;
    base.covers_ctx = (void *)enc;
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

rg_status rg_ingest_write_document(rg_store *s, rg_dense *dense, int64_t collection_id,
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
        rows[i] =
            (rg_chunk_row){chunks[i].start, chunks[i].end, chunks[i].token_count, sections[i]};
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
        if ((st = rg_store_find_document(s, collection_id, source_uri, &found, &doc_id, NULL, err)))
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
    st = rg_ingest_write_document(s, dense, collection_id, source_uri, doc, chunks, n, content_hash,
                                  size, metadata_json, NULL, err);
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

char *rg_ingest_file_metadata(const rg_ingest_options *o, int64_t mtime, const rg_pii_counts *pii)
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
