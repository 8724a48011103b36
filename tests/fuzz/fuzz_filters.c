/*
 * fuzz_filters.c — query filters: the command line's filter syntax
 * (api/cli_util.c: cli_pair for --where KEY=VALUE, cli_parse_date for
 * --since/--until) and the filtered, access-checked search behind it
 * (index/search.h) over the seeded store of fuzz_serve.h.
 *
 * Each input line is an option as `ragd search` takes it: "doc N",
 * "where KEY=VALUE", "since DATE", "until DATE", "user NAME",
 * "group NAME", "coll NAME", "mode NAME", "k N"; any other line is the
 * query. Checked against what the seeds are: every hit belongs to an
 * allowed document, the named collection, has every metadata pair asked
 * for, and is readable by the reader (pricing.md is for alice and staff).
 */
#include "fuzz.h"

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "index/search.h"
#include "index/store.h"
#include "tests/fuzz/fuzz_serve.h"

#define MAX_LINES 64

/* The seeds' metadata (fuzz_serve.c). */
static const struct {
    const char *source, *team, *lang;
    int restricted; /* acl: users alice, groups staff */
} seeds[] = {
    {"vpn.txt", "net", "en", 0},
    {"pricing.md", "sales", NULL, 1},
    {"tokyo.html", NULL, NULL, 0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_serve_open();
    return 0;
}

static int meta_holds(const char *source, const char *key, const char *value)
{
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        if (strcmp(seeds[i].source, source)) continue;
        const char *v = !strcmp(key, "team")   ? seeds[i].team
                        : !strcmp(key, "lang") ? seeds[i].lang
                                               : NULL;
        return v && !strcmp(v, value);
    }
    return 0; /* other documents have no metadata */
}

static int restricted(const char *source)
{
    return !strcmp(source, "pricing.md");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    serve_worker *w = fuzz_serve_open();
    char *text = fuzz_strndup(data, size);
    int64_t doc_ids[8];
    const char *keys[RG_FILTER_MAX_META], *values[RG_FILTER_MAX_META], *groups[4];
    rg_search_filter f = {.meta_keys = keys, .meta_values = values};
    rg_reader reader = {.groups = groups};
    int has_reader = 0;
    rg_search_request req = rg_search_default_request("vpn");
    req.mode = RG_SEARCH_LEXICAL;
    size_t lines = 0;
    for (char *line = text, *next; line && lines < MAX_LINES; line = next, lines++) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *v = strchr(line, ' ');
        if (v) *v++ = '\0';
        if (!v) {
            if (line[0]) req.query = line;
        } else if (!strcmp(line, "doc")) {
            int64_t id;
            if (cli_parse_date(v, &id) && f.n_doc_ids < 8) { /* a positive integer */
                doc_ids[f.n_doc_ids++] = id;
                f.doc_ids = doc_ids;
            }
        } else if (!strcmp(line, "where") && strchr(v, '=') && strchr(v, '=') != v &&
                   f.n_meta < RG_FILTER_MAX_META) {
            if (cli_pair("--where", v, &keys[f.n_meta], &values[f.n_meta])) f.n_meta++;
        } else if (!strcmp(line, "since")) {
            cli_parse_date(v, &f.modified_from);
        } else if (!strcmp(line, "until")) {
            cli_parse_date(v, &f.modified_to);
        } else if (!strcmp(line, "user")) {
            reader.user = v, has_reader = 1;
        } else if (!strcmp(line, "group") && reader.n_groups < 4) {
            groups[reader.n_groups++] = v, has_reader = 1;
        } else if (!strcmp(line, "coll")) {
            req.collection = v;
        } else if (!strcmp(line, "mode")) {
            rg_search_mode_parse(v, &req.mode);
        } else if (!strcmp(line, "k")) {
            req.k = 1 + strtoul(v, NULL, 10) % 20;
        } else {
            v[-1] = ' '; /* not an option: the whole line is the query */
            req.query = line;
        }
    }
    req.filter = &f;
    req.reader = has_reader ? &reader : NULL;
    rg_search_hit hits[20];
    size_t n = 0;
    rg_error err;
    rg_error_clear(&err);
    if (rg_search_run(w->search, &req, hits, &n, NULL, &err) == RG_OK) {
        FUZZ_CHECK(n <= req.k);
        for (size_t i = 0; i < n; i++) {
            rg_chunk_view cv;
            FUZZ_CHECK(rg_store_chunk_get(w->store, hits[i].chunk_id, &cv, &err) == RG_OK);
            int ok = 1;
            for (size_t d = 0; d < f.n_doc_ids && f.doc_ids; d++)
                ok = d == 0 ? doc_ids[0] == cv.doc_id : ok || doc_ids[d] == cv.doc_id;
            FUZZ_CHECK(ok);
            FUZZ_CHECK(!req.collection || !strcmp(req.collection, cv.collection));
            for (size_t m = 0; m < f.n_meta; m++)
                FUZZ_CHECK(meta_holds(cv.source_uri, keys[m], values[m]));
            if (req.reader && restricted(cv.source_uri)) {
                int may = reader.user && !strcmp(reader.user, "alice");
                for (size_t g = 0; g < reader.n_groups; g++)
                    may |= !strcmp(groups[g], "staff");
                FUZZ_CHECK(may);
            }
            rg_chunk_view_free(&cv);
        }
    }
    free(text);
    return 0;
}
