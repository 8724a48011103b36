/*
 * loader_json.c — JSON documents and JSON Lines, one record per object.
 *
 * Exported data (articles, tickets, product records) is mostly objects whose
 * prose sits in a few well-known members. Those members become the text;
 * the title member becomes a heading, so chunks of a many-record file are
 * sectioned by record. Records with no prose keep their scalar members as
 * one "key: value" row, so a search for a value still finds them.
 *
 * Nesting is measured on the raw bytes before cJSON sees them (cJSON
 * recurses once per level). cJSON allocates with its own allocator, outside
 * rg_malloc.
 */
#include "ingest/loader.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/mem.h"

/* A .json file is parsed as one tree: larger data belongs in JSON Lines. */
#define JSON_MAX_DOC_BYTES (32u << 20)
/* One JSON Lines line; longer is RG_ELIMIT. */
#define JSONL_MAX_LINE_BYTES (8u << 20)
/* Records (array elements or lines) per file. */
#define JSON_MAX_RECORDS 1000000u
/* Room for a number printed with %.17g. */
#define JSON_NUMBER_MAX 32
/* A "key: value" row is never larger than the file it came from plus separators. */
#define JSON_MAX_ROW_BYTES (2 * (size_t)RG_LOADER_MAX_FILE_BYTES)

typedef struct field_list {
    char names[RG_JSON_MAX_FIELDS][RG_JSON_FIELD_NAME_MAX];
    size_t n;
} field_list;

struct rg_json_fields {
    field_list text, title;
};
typedef struct rg_json_fields json_fields;

static const char *const default_text[] = {"text",     "content", "body", "description",
                                           "abstract", "summary", NULL};
static const char *const default_title[] = {"title", "name", "subject", NULL};

static pthread_mutex_t fields_mu = PTHREAD_MUTEX_INITIALIZER;
static json_fields fields; /* guarded by fields_mu */
static int fields_ready;   /* guarded by fields_mu; 0 until the defaults are in */

typedef struct js {
    rg_doc_builder *b;
    rg_error *err;
    json_fields f; /* a snapshot taken when the load starts */
    rg_buf row;
    size_t records;
    size_t titled; /* records that had a title */
    rg_buf title;  /* the first record's title */
} js;

/* --- configuration ---------------------------------------------------------------- */

static rg_status fill(field_list *out, const char *const *names, const char *const *defaults,
                      rg_error *err)
{
    field_list l = {.n = 0};
    if (!names) names = defaults;
    for (; *names; names++) {
        size_t len = strlen(*names);
        if (l.n == RG_JSON_MAX_FIELDS)
            return rg_fail(err, RG_ELIMIT, "more than %d JSON field names", RG_JSON_MAX_FIELDS);
        if (len == 0 || len >= RG_JSON_FIELD_NAME_MAX)
            return rg_fail(err, RG_EINVAL, "JSON field names must have 1 to %d bytes",
                           RG_JSON_FIELD_NAME_MAX - 1);
        memcpy(l.names[l.n++], *names, len + 1);
    }
    *out = l;
    return RG_OK;
}

rg_status rg_loader_json_set_fields(const char *const *text_fields, const char *const *title_fields,
                                    rg_error *err)
{
    json_fields f;
    rg_status st = fill(&f.text, text_fields, default_text, err);
    if (!st) st = fill(&f.title, title_fields, default_title, err);
    if (st) return st;
    pthread_mutex_lock(&fields_mu);
    fields = f;
    fields_ready = 1;
    pthread_mutex_unlock(&fields_mu);
    return RG_OK;
}

rg_status rg_json_fields_new(const char *const *text_fields, const char *const *title_fields,
                             rg_json_fields **out, rg_error *err)
{
    *out = NULL;
    json_fields *f = rg_malloc(sizeof *f);
    if (!f) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_status st = fill(&f->text, text_fields, default_text, err);
    if (!st) st = fill(&f->title, title_fields, default_title, err);
    if (st) {
        rg_free(f);
        return st;
    }
    *out = f;
    return RG_OK;
}

void rg_json_fields_free(rg_json_fields *f)
{
    rg_free(f);
}

static void snapshot(json_fields *out)
{
    pthread_mutex_lock(&fields_mu);
    if (!fields_ready) {
        fill(&fields.text, NULL, default_text, NULL); /* the defaults always fit */
        fill(&fields.title, NULL, default_title, NULL);
        fields_ready = 1;
    }
    *out = fields;
    pthread_mutex_unlock(&fields_mu);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int same_name(const char *a, const char *b)
{
    for (; *a && lower((unsigned char)*a) == lower((unsigned char)*b); a++, b++)
        ;
    return *a == '\0' && *b == '\0';
}

static int listed(const field_list *l, const char *key)
{
    for (size_t i = 0; key && i < l->n; i++)
        if (same_name(l->names[i], key)) return 1;
    return 0;
}

/* --- records ----------------------------------------------------------------------- */

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return 0;
    return 1;
}

static rg_status add(js *j, rg_block_kind kind, int level, const char *s, size_t len)
{
    return rg_doc_add(j->b, kind, level, s, len, j->err);
}

/* Every string in v (itself, or inside its arrays and objects) as a paragraph. */
static rg_status strings(js *j, const cJSON *v, int *any)
{
    if (cJSON_IsString(v) && v->valuestring && !blank(v->valuestring)) {
        *any = 1;
        return add(j, RG_BLOCK_PARAGRAPH, 0, v->valuestring, strlen(v->valuestring));
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return RG_OK;
    for (const cJSON *c = v->child; c; c = c->next) {
        rg_status st = strings(j, c, any);
        if (st) return st;
    }
    return RG_OK;
}

/* A scalar as text; 0 for null, objects and arrays. */
static int scalar_text(const cJSON *v, char num[JSON_NUMBER_MAX], const char **s)
{
    if (cJSON_IsString(v)) {
        *s = v->valuestring ? v->valuestring : "";
        return 1;
    }
    if (cJSON_IsBool(v)) {
        *s = cJSON_IsTrue(v) ? "true" : "false";
        return 1;
    }
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d)) return 0;
    snprintf(num, JSON_NUMBER_MAX, "%.15g", d); /* the shortest form that reads back */
    if (strtod(num, NULL) != d) snprintf(num, JSON_NUMBER_MAX, "%.17g", d);
    *s = num;
    return 1;
}

static rg_status put(js *j, const char *s)
{
    rg_status st = rg_buf_puts(&j->row, s);
    if (st == RG_ELIMIT)
        return rg_fail(j->err, st, "a record's fields exceed %zu bytes", JSON_MAX_ROW_BYTES);
    if (st) return rg_fail(j->err, st, "out of memory formatting a record");
    return RG_OK;
}

/* "key: value | key: value" for the scalar members of o other than skip. */
static rg_status scalar_row(js *j, const cJSON *o, const cJSON *skip)
{
    rg_buf_reset(&j->row);
    rg_status st = RG_OK;
    for (const cJSON *m = o->child; m && !st; m = m->next) {
        char num[JSON_NUMBER_MAX];
        const char *s;
        if (m == skip || !m->string || !scalar_text(m, num, &s) || blank(s)) continue;
        if (j->row.len) st = put(j, " | ");
        if (!st) st = put(j, m->string);
        if (!st) st = put(j, ": ");
        if (!st) st = put(j, s);
    }
    if (st || !j->row.len) return st;
    return add(j, RG_BLOCK_TABLE_ROW, 0, j->row.data, j->row.len);
}

/* The member that gives o its title: the first title field, in list order, with text. */
static const cJSON *title_of(const js *j, const cJSON *o)
{
    for (size_t i = 0; i < j->f.title.n; i++)
        for (const cJSON *m = o->child; m; m = m->next)
            if (m->string && same_name(j->f.title.names[i], m->string) && cJSON_IsString(m) &&
                m->valuestring && !blank(m->valuestring))
                return m;
    return NULL;
}

static rg_status object(js *j, const cJSON *o)
{
    const cJSON *t = title_of(j, o);
    rg_status st = RG_OK;
    if (t) {
        size_t len = strlen(t->valuestring);
        if (j->titled++ == 0 && (st = rg_buf_append(&j->title, t->valuestring, len)))
            return rg_fail(j->err, st, "out of memory reading a title");
        if ((st = add(j, RG_BLOCK_HEADING, 1, t->valuestring, len))) return st;
    }
    int any = 0;
    for (const cJSON *m = o->child; m && !st; m = m->next)
        if (m != t && listed(&j->f.text, m->string)) st = strings(j, m, &any);
    if (st || any) return st;
    return scalar_row(j, o, t);
}

/* One element of a top-level array or one line: objects are records, strings text. */
static rg_status record(js *j, const cJSON *v)
{
    if (++j->records > JSON_MAX_RECORDS)
        return rg_fail(j->err, RG_ELIMIT, "more than %u records", JSON_MAX_RECORDS);
    int any = 0;
    return cJSON_IsObject(v) ? object(j, v) : strings(j, v, &any);
}

/* --- parsing ------------------------------------------------------------------------- */

static size_t line_of(const char *s, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off; i++)
        line += s[i] == '\n';
    return line;
}

/* RG_ELIMIT when brackets outside strings nest deeper than RG_JSON_MAX_DEPTH. */
static rg_status check_depth(const char *s, size_t n, size_t first_line, rg_error *err)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > RG_JSON_MAX_DEPTH)
                return rg_fail(err, RG_ELIMIT, "line %zu: JSON nests deeper than %d levels",
                               first_line + line_of(s, i) - 1, RG_JSON_MAX_DEPTH);
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return RG_OK;
}

static int only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

/* Parses s[0..n) as exactly one JSON value; errors name the line. */
static rg_status parse(const char *s, size_t n, size_t first_line, cJSON **out, rg_error *err)
{
    *out = NULL;
    rg_status st = check_depth(s, n, first_line, err);
    if (st) return st;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    size_t off = end && end >= s ? (size_t)(end - s) : 0;
    if (off > n) off = n;
    if (*out && only_space(s + off, n - off)) return RG_OK;
    cJSON_Delete(*out);
    *out = NULL;
    while (off < n && only_space(s + off, 1)) /* point at the stray text itself */
        off++;
    if (off == n && off) off--;
    size_t bol = off;
    while (bol > 0 && s[bol - 1] != '\n')
        bol--;
    return rg_fail(err, RG_EPARSE, "line %zu: invalid JSON at column %zu",
                   first_line + line_of(s, off) - 1, off - bol + 1);
}

static rg_status json_doc(js *j, const char *s, size_t n)
{
    if (n > JSON_MAX_DOC_BYTES)
        return rg_fail(j->err, RG_ELIMIT,
                       "a .json file over %u bytes (JSON Lines has no such limit)",
                       JSON_MAX_DOC_BYTES);
    if (only_space(s, n)) return RG_OK;
    cJSON *root;
    rg_status st = parse(s, n, 1, &root, j->err);
    if (st) return st;
    if (cJSON_IsArray(root)) {
        for (const cJSON *c = root->child; c && !st; c = c->next)
            st = record(j, c);
    } else if (cJSON_IsObject(root)) {
        st = record(j, root);
    } else {
        st = rg_fail(j->err, RG_EUNSUPPORTED, "the JSON value is not an object or an array");
    }
    cJSON_Delete(root);
    return st;
}

static rg_status jsonl_doc(js *j, const char *s, size_t n)
{
    size_t pos = 0, line_no = 0;
    const char *line;
    size_t len;
    while (rg_next_line(s, n, &pos, &line, &len)) {
        line_no++;
        if (len > JSONL_MAX_LINE_BYTES)
            return rg_fail(j->err, RG_ELIMIT, "line %zu is over %u bytes", line_no,
                           JSONL_MAX_LINE_BYTES);
        if (only_space(line, len)) continue;
        cJSON *v = NULL;
        rg_status st = parse(line, len, line_no, &v, j->err);
        if (!st) st = record(j, v);
        cJSON_Delete(v);
        if (st) return st;
    }
    return RG_OK;
}

/* --- the loaders ----------------------------------------------------------------------- */

static const char *const json_exts[] = {"json", NULL};
static const char *const jsonl_exts[] = {"jsonl", "ndjson", NULL};

static rg_status json_load(const char *path, const char *data, size_t n, rg_doc_builder *b,
                           rg_error *err)
{
    rg_status st = rg_loader_check_utf8(data, n, err);
    if (st) return st;
    size_t bom = rg_loader_bom_len(data, n);
    js j;
    memset(&j, 0, sizeof j);
    j.b = b;
    j.err = err;
    const rg_json_fields *given = rg_doc_builder_json_fields(b);
    if (given)
        j.f = *given;
    else
        snapshot(&j.f);
    rg_buf_init(&j.row, JSON_MAX_ROW_BYTES);
    rg_buf_init(&j.title, RG_LOADER_MAX_FILE_BYTES);
    if (rg_path_has_ext(path, jsonl_exts))
        st = jsonl_doc(&j, data + bom, n - bom);
    else
        st = json_doc(&j, data + bom, n - bom);
    /* one record gives its title; a title from many records would name only the first */
    if (!st && j.records == 1 && j.titled == 1)
        st = rg_doc_set_title(b, j.title.data, j.title.len, err);
    else if (!st)
        st = rg_doc_set_title(b, "", 0, err);
    rg_buf_free(&j.row);
    rg_buf_free(&j.title);
    return st;
}

static int json_can_load(const char *path, const char *data, size_t n)
{
    (void)data, (void)n;
    return rg_path_has_ext(path, json_exts);
}

static int jsonl_can_load(const char *path, const char *data, size_t n)
{
    (void)data, (void)n;
    return rg_path_has_ext(path, jsonl_exts);
}

const rg_loader rg_loader_json = {"json", "application/json", json_can_load, json_load, 1};
const rg_loader rg_loader_jsonl = {"jsonl", "application/x-ndjson", jsonl_can_load, json_load, 1};
