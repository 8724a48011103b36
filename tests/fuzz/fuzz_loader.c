/*
 * fuzz_loader.c — one loader (ingest/loader.h) on arbitrary file content.
 *
 * Built once per loader with -DFUZZ_EXTS listing the extensions that pick
 * it ("pdf", or "csv", "tsv"); with more than one, the first input byte
 * chooses. The content goes through rg_load_buffer as it would from a file
 * of that name: the binary check, the loader, the document builder. A
 * loaded document must keep the builder's promises (blocks in order and
 * inside the text, a NUL-terminated text and title), and is then chunked.
 *
 * Containers: with -DFUZZ_ZIP_PARTS naming the parts of a zip (DOCX), a
 * selector byte comes first; when it is odd the rest, cut at 0x00 bytes,
 * becomes those parts of a zip built here, so the XML inside is fuzzed
 * without the fuzzer having to keep the zip's checksums right.
 */
#include "fuzz.h"

#include "engine/base/mem.h"
#include "engine/base/status.h"
#include "ingest/chunker.h"
#include "ingest/loader.h"

#ifndef FUZZ_EXTS
#error "build with -DFUZZ_EXTS='\"ext\"'"
#endif

static const char *const exts[] = {FUZZ_EXTS};

#ifdef FUZZ_ZIP_PARTS
#include <zip.h>

static const char *const zip_parts[] = {FUZZ_ZIP_PARTS};
#define N_ZIP_PARTS (sizeof zip_parts / sizeof zip_parts[0])

/* A zip of data[0..n) cut at 0x00 into zip_parts, in memory (malloc'd), or NULL. */
static char *make_zip(const uint8_t *data, size_t n, size_t *out_len)
{
    const uint8_t *part[N_ZIP_PARTS];
    size_t len[N_ZIP_PARTS];
    size_t k = fuzz_split(data, n, 0, N_ZIP_PARTS, part, len);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    char *buf = NULL;
    if (!z) goto out;
    zip_source_keep(src);
    for (size_t i = 0; i < k; i++) {
        zip_source_t *ps = zip_source_buffer(z, part[i], len[i], 0);
        if (!ps || zip_file_add(z, zip_parts[i], ps, ZIP_FL_OVERWRITE) < 0) {
            zip_source_free(ps);
            zip_discard(z);
            goto out;
        }
    }
    if (zip_close(z) < 0) {
        zip_discard(z);
        goto out;
    }
    zip_stat_t st;
    if (zip_source_stat(src, &st) || zip_source_open(src)) goto out;
    buf = malloc(st.size ? st.size : 1);
    if (buf && zip_source_read(src, buf, st.size) != (zip_int64_t)st.size) {
        free(buf);
        buf = NULL;
    }
    zip_source_close(src);
    *out_len = st.size;
out:
    zip_source_free(src);
    zip_error_fini(&ze);
    return buf;
}
#endif
#define N_EXTS (sizeof exts / sizeof exts[0])

static void check_document(const rg_document *d)
{
    FUZZ_CHECK(d->title && d->text && d->text[d->len] == '\0');
    FUZZ_CHECK(strlen(d->text) == d->len);
    size_t prev_end = 0;
    for (size_t i = 0; i < d->n_blocks; i++) {
        const rg_block *b = &d->blocks[i];
        FUZZ_CHECK(b->start < b->end && b->end <= d->len && b->start >= prev_end);
        prev_end = b->end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fuzz_in_make(data, size);
    const char *ext = exts[N_EXTS > 1 ? fuzz_byte(&in) % N_EXTS : 0];
    char path[64];
    snprintf(path, sizeof path, "fuzz.%s", ext);
    const char *content = (const char *)in.p;
    size_t n_content = in.n;
    char *zip = NULL;
#ifdef FUZZ_ZIP_PARTS
    if (fuzz_byte(&in) & 1) {
        if (!(zip = make_zip(in.p, in.n, &n_content))) return 0;
        content = zip;
    } else {
        content = (const char *)in.p, n_content = in.n;
    }
#endif
    rg_document doc = {0};
    rg_error err;
    rg_error_clear(&err);
    rg_status st = rg_load_buffer(path, content, n_content, &doc, &err);
    free(zip);
    if (st != RG_OK) {
        static int verbose = -1; /* RAGD_FUZZ_VERBOSE=1: say why inputs are refused */
        if (verbose < 0) verbose = getenv("RAGD_FUZZ_VERBOSE") != NULL;
        if (verbose) fprintf(stderr, "fuzz_loader: %s\n", rg_error_message(&err));
        FUZZ_CHECK(err.code != RG_OK && rg_error_message(&err)[0]);
        return 0;
    }
    check_document(&doc);
    rg_chunk_options co = rg_chunk_default_options();
    rg_chunk *chunks = NULL;
    size_t n = 0;
    if (rg_chunk_document(&doc, &co, &chunks, &n, &err) == RG_OK)
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(chunks[i].start < chunks[i].end && chunks[i].end <= doc.len);
    rg_free(chunks);
    rg_document_free(&doc);
    return 0;
}
