/*
 * fuzz_http.c — request bodies of every JSON endpoint of `ragd serve`,
 * through the real handlers (api/routes*.c) on a real, seeded store
 * (fuzz_serve.h): POST /v1/search, /v1/answer, /v1/chat/completions,
 * /v1/embeddings, /v1/collections/{c}/documents (JSON upload) and
 * /v1/collections/{c}/sync.
 *
 * That covers serve_parse_body (UTF-8 check, cli_json_scan's depth and
 * \u0000 checks, cJSON), serve_get_string/size/bool/mode/filters, chat
 * messages and history (rg_history_from_json), the embeddings input
 * checks (no model: the input is checked, then 503), upload names, formats,
 * metadata and access lists, the loaders and PII masking on uploads,
 * search, snippets, extractive answers and sync paths under a sync root.
 *
 * The first byte picks the route, the credentials (none with auth off; the
 * store's API key; or the input's first line as the Authorization header,
 * which reaches the key lookup and the JWT check) and PII masking. An upload
 * that succeeds is read back (GET .../documents/{id}) and deleted, so the
 * store stays small and the same from input to input. Every reply must be
 * one JSON document (or an event stream); fuzz_serve.c checks that each
 * request gets exactly one reply; and a body cli_json_scan lets through must
 * nest no deeper than CLI_JSON_DEPTH_MAX in cJSON's reading.
 */
#include "fuzz.h"

#include <cjson/cJSON.h>

#include "api/cli_util.h"
#include "engine/base/mem.h"
#include "ingest/pii.h"
#include "tests/fuzz/fuzz_serve.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_serve_open();
    return 0;
}

static void check_json(const fuzz_response *rs)
{
    if (rs->streamed) return;
    cJSON *j = cJSON_ParseWithLength(rs->body.data ? rs->body.data : "", rs->body.len);
    FUZZ_CHECK(j);
    cJSON_Delete(j);
    if (rs->status >= 500 && getenv("RAGD_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_http: %u %s\n", rs->status, rg_buf_str(&rs->body));
}

/* Nesting depth of a parsed value: 0 for a scalar. */
static int depth(const cJSON *j)
{
    int d = 0;
    for (const cJSON *c = j->child; c; c = c->next) {
        int k = depth(c);
        if (k > d) d = k;
    }
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? d + 1 : 0;
}

/* cli_json_scan must agree with cJSON: a body it lets through nests at most its limit. */
static void check_scan(const char *body, size_t len)
{
    size_t at;
    if (cli_json_scan(body, len, &at) != CLI_JSON_OK) return;
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (j) FUZZ_CHECK(depth(j) <= CLI_JSON_DEPTH_MAX);
    cJSON_Delete(j);
}

/*
 * Reads back and deletes an upload that succeeded. With the uploader's
 * credentials the document is there, unless its access list leaves the
 * key's reader (alice, group staff) out: then it is not found, as for any
 * reader it excludes. Read and deleted with auth off, it is always there.
 */
static void read_and_delete(const fuzz_request *put, const fuzz_response *rs)
{
    cJSON *j = cJSON_ParseWithLength(rs->body.data, rs->body.len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    FUZZ_CHECK(cJSON_IsNumber(id) && id->valuedouble >= 1);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id->valuedouble);
    cJSON_Delete(j);
    fuzz_request rq = *put;
    rq.body = "", rq.len = 0, rq.param_id = ids;
    fuzz_response out;
    fuzz_serve_call(route_doc_get, &rq, &out);
    FUZZ_CHECK(out.status == 200 || (rq.auth && out.status == 404));
    check_json(&out);
    rg_buf_free(&out.body);
    rq.auth = 0, rq.authorization = NULL;
    fuzz_serve_call(route_doc_get, &rq, &out);
    FUZZ_CHECK(out.status == 200);
    check_json(&out);
    rg_buf_free(&out.body);
    fuzz_serve_call(route_doc_delete, &rq, &out);
    FUZZ_CHECK(out.status == 200);
    rg_buf_free(&out.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const rg_handler routes[] = {route_search,     route_answer,  route_chat,
                                        route_embeddings, route_doc_put, route_sync};
    fuzz_in in = fuzz_in_make(data, size);
    uint8_t sel = fuzz_byte(&in);
    unsigned route = sel % 6, creds = (sel >> 3) % 4;
    fuzz_request rq = {.body = (const char *)in.p, .len = in.n};
    rq.param_c = route == 4 ? "fuzz" : "synced";
    rq.pii_types = (sel & 0x80) ? RG_PII_ALL : 0;
    char *header = NULL;
    if (creds >= 2) {
        rq.auth = 1;
        if (creds == 2) {
            rq.authorization = header = malloc(RG_KEY_TEXT_LEN + 16);
            FUZZ_CHECK(header);
            snprintf(header, RG_KEY_TEXT_LEN + 16, "Bearer %s", fuzz_serve_key());
        } else { /* the first line is the header */
            const char *nl = memchr(in.p, '\n', in.n);
            size_t hl = nl ? (size_t)(nl - (const char *)in.p) : in.n;
            rq.authorization = header = fuzz_strndup(in.p, hl);
            rq.body += hl + (nl != NULL);
            rq.len -= hl + (nl != NULL);
        }
    }
    check_scan(rq.body, rq.len);
    fuzz_response rs;
    fuzz_serve_call(routes[route], &rq, &rs);
    check_json(&rs);
    if (route == 4 && (rs.status == 200 || rs.status == 201)) read_and_delete(&rq, &rs);
    rg_buf_free(&rs.body);
    free(header);
    return 0;
}
