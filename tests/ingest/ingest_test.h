/*
 * ingest_test.h — helpers shared by the ingest unit tests.
 */
#ifndef RG_INGEST_TEST_H
#define RG_INGEST_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"
#include "engine/base/status.h"
#include "ingest/document.h"
#include "ingest/loader.h"

/* 1 if doc's block i has this kind and exactly this text. */
static inline int block_is(const rg_document *d, size_t i, rg_block_kind kind, const char *text)
{
    if (i >= d->n_blocks) {
        fprintf(stderr, "  block %zu missing (have %zu)\n", i, d->n_blocks);
        return 0;
    }
    const rg_block *b = &d->blocks[i];
    size_t n = strlen(text);
    int ok = b->kind == kind && b->end - b->start == n && memcmp(d->text + b->start, text, n) == 0;
    if (!ok)
        fprintf(stderr, "  block %zu: kind %d \"%.*s\", expected kind %d \"%s\"\n", i, (int)b->kind,
                (int)(b->end - b->start), d->text + b->start, (int)kind, text);
    return ok;
}

/* 1 if the document text contains s. */
static inline int text_has(const rg_document *d, const char *s)
{
    return d->text && strstr(d->text, s) != NULL;
}

/* Path of a fixture in tests/ingest/data (RG_TEST_DATA from meson). */
static inline const char *fixture(const char *name)
{
    static char path[1024];
    const char *dir = getenv("RG_TEST_DATA");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/ingest/data", name);
    return path;
}

static inline void dump_doc(const rg_document *d)
{
    for (size_t i = 0; i < d->n_blocks; i++)
        fprintf(stderr, "  [%zu] kind %d level %d sec %ld: \"%.*s\"\n", i, (int)d->blocks[i].kind,
                d->blocks[i].level, d->blocks[i].section,
                (int)(d->blocks[i].end - d->blocks[i].start), d->text + d->blocks[i].start);
}

/*
 * Loads the fixture name with allocation k failing, k = 1, 2, ... until a
 * load succeeds or max tries pass. Returns the k that succeeded (0 when
 * none did: a failure other than RG_ENOMEM, or max too small). Every
 * failed try must have released what it took (ASan's leak check); the load
 * that succeeds must give want_text when that is not NULL (*same).
 */
static inline unsigned long load_past_alloc_failures(const char *name, unsigned long max,
                                                     const char *want_text, int *same)
{
    rg_status st = RG_ENOMEM;
    unsigned long k;
    if (same) *same = 1;
    for (k = 1; st == RG_ENOMEM && k < max; k++) {
        rg_document d;
        rg_error err;
        rg_mem_fail_at(k, 0);
        st = rg_load_file(fixture(name), &d, &err);
        rg_mem_fail_at(0, 0);
        if (st == RG_OK) {
            if (want_text && same) *same = strcmp(d.text, want_text) == 0;
            rg_document_free(&d);
        }
    }
    return st == RG_OK ? k - 1 : 0;
}

#endif
