#include "api/cli_util.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/base/utf8.h"
#include "engine/nn/encoder.h"
#include "engine/rag/rewrite.h"
#include "engine/rag/gen_ollama.h"
#include "engine/rag/gen_openai.h"
#include "index/dense.h"

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_fail("option %s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_fail(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ragd: error: %s\n", line);
    return 1;
}

int cli_fail_err(const rg_error *err)
{
    return cli_fail("%s", rg_error_message(err));
}

int cli_size(const char *opt, const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        cli_fail("%s takes a whole number from %zu to %zu, not '%s'", opt, min, max, s);
        return 0;
    }
    *out = (size_t)v;
    return 1;
}

rg_status cli_open_store(const rg_cli *cli, int create, rg_store **out, rg_error *err)
{
    rg_store_options o = rg_store_default_options();
    o.create = create;
    return rg_store_open(cli->data_dir, &o, out, err);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int folder_has_config(const char *dir)
{
    char p[PATH_MAX];
    struct stat sb;
    if (snprintf(p, sizeof p, "%s/config.json", dir) >= (int)sizeof p) return 0;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

rg_status cli_open_encoder(const rg_cli *cli, const char *model_arg, int precision, int threads,
                           rg_encoder **enc, char name[CLI_MODEL_NAME_MAX + 1],
                           rg_error *err)
{
    char dir[PATH_MAX];
    *enc = NULL;
    if (model_arg && folder_has_config(model_arg)) {
        /* A folder given directly is bound under its own name ("model" folders
         * of Python packages take their parent's). */
        char abs[PATH_MAX];
        if (!realpath(model_arg, abs))
            return rg_fail(err, RG_EIO, "%s: %s", model_arg, strerror(errno));
        size_t end = strlen(abs);
        size_t start = end;
        while (start > 0 && abs[start - 1] != '/') start--;
        if (strcmp(abs + start, "model") == 0 && start > 1) {
            end = start - 1;
            start = end;
            while (start > 0 && abs[start - 1] != '/') start--;
        }
        snprintf(name, CLI_MODEL_NAME_MAX + 1, "%.*s", (int)(end - start), abs + start);
        snprintf(dir, sizeof dir, "%s", model_arg);
    } else {
        const char *want = model_arg ? model_arg : "default";
        if (snprintf(dir, sizeof dir, "%s/models/%s", cli->data_dir, want) >= (int)sizeof dir)
            return rg_fail(err, RG_ELIMIT, "model path too long");
        if (!folder_has_config(dir))
            return rg_fail(err, RG_ENOTFOUND,
                           model_arg ? "no model named '%s' (see 'ragd model list')"
                                     : "no embedding model%s; import one with 'ragd model import DIR'",
                           model_arg ? model_arg : "");
        if (model_arg) {
            snprintf(name, CLI_MODEL_NAME_MAX + 1, "%s", model_arg);
        } else {
            char link[PATH_MAX];
            ssize_t n = readlink(dir, link, sizeof link - 1);
            if (n <= 0) return rg_fail(err, RG_ECORRUPT, "%s is not a link to a model name", dir);
            link[n] = '\0';
            const char *base = strrchr(link, '/');
            base = base ? base + 1 : link;
            if (strlen(base) > CLI_MODEL_NAME_MAX)
                return rg_fail(err, RG_ELIMIT, "model name '%.40s...' is too long", base);
            memcpy(name, base, strlen(base) + 1);
        }
    }
    rg_encoder_options o = rg_encoder_default_options();
    o.int8 = (precision & CLI_ENC_INT8) != 0;
    o.query_int8 = !(precision & CLI_ENC_FP32_QUERY) && !cli->fp32;
    o.passage_int8 = !cli->fp32;
    o.threads = threads;
    return rg_encoder_open(dir, &o, enc, err);
}

rg_status cli_open_dense(const rg_cli *cli, rg_store *s, const char *model_arg, int required,
                         int threads, rg_encoder **enc, rg_dense **dense, rg_error *err)
{
    char name[CLI_MODEL_NAME_MAX + 1];
    *dense = NULL;
    rg_status st = cli_open_encoder(cli, model_arg, 0, threads, enc, name, err);
    if (st == RG_ENOTFOUND && !required && !model_arg) return RG_OK;
    if (st) return st;
    rg_dense_options o = {.model_name = name,
                          .encoder = *enc,
                          .query_prefix = rg_encoder_query_prompt(*enc),
                          .passage_prefix = rg_encoder_passage_prompt(*enc)};
    st = rg_dense_open(s, cli->data_dir, &o, dense, err);
    if (st) {
        rg_encoder_close(*enc);
        *enc = NULL;
    }
    return st;
}

int cli_parse_date(const char *s, int64_t *out)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 && d >= 1 &&
        d <= 31 && y >= 1970) {
        /* days from the civil date (proleptic Gregorian), no time zone involved */
        int yy = y - (m <= 2);
        int era = yy / 400, yoe = yy - era * 400;
        int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        *out = ((int64_t)era * 146097 + doe - 719468) * 86400;
        return 1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && !*end && v > 0) {
        *out = v;
        return 1;
    }
    return 0;
}

int cli_date(const char *opt, const char *s, int64_t *out)
{
    if (cli_parse_date(s, out)) return 1;
    cli_fail("%s takes a date YYYY-MM-DD or Unix seconds, not '%s'", opt, s);
    return 0;
}

cJSON *cli_hit_json(const rg_chunk_view *v, int rank, float score, const char *snippet)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddNumberToObject(o, "score", score);
    cJSON_AddNumberToObject(o, "chunk_id", (double)v->chunk_id);
    cJSON_AddNumberToObject(o, "document_id", (double)v->doc_id);
    cJSON_AddStringToObject(o, "collection", v->collection);
    cJSON_AddStringToObject(o, "title", v->title);
    cJSON_AddStringToObject(o, "section", v->section);
    cJSON_AddStringToObject(o, "source", v->source_uri);
    cJSON_AddNumberToObject(o, "byte_start", (double)v->byte_start);
    cJSON_AddNumberToObject(o, "byte_end", (double)v->byte_end);
    if (v->page > 0) cJSON_AddNumberToObject(o, "page", (double)v->page);
    cJSON_AddStringToObject(o, "snippet", snippet);
    cJSON_AddStringToObject(o, "text", v->text);
    return o;
}

int cli_pair(const char *opt, char *s, const char **key, const char **value)
{
    char *eq = strchr(s, '=');
    if (!eq || eq == s) {
        cli_fail("%s takes key=value, not '%s'", opt, s);
        return 0;
    }
    *eq = '\0';
    *key = s;
    *value = eq + 1;
    return 1;
}

cli_json_shape cli_json_scan(const char *s, size_t n, size_t *at)
{
    size_t depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        *at = i;
        if (in_string) {
            if (c == '"') in_string = 0;
            if (c != '\\' || i + 1 == n) continue;
            if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
                return CLI_JSON_NUL;
            i++; /* the escaped character cannot end the string */
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > CLI_JSON_DEPTH_MAX) return CLI_JSON_TOO_DEEP;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return CLI_JSON_OK;
}

int cli_join_word(char *buf, size_t cap, size_t *len, const char *word, const char *what)
{
    size_t n = strlen(word), bad;
    if (*len + n + 2 > cap) {
        cli_fail("%s is longer than %zu bytes", what, cap - 1);
        return 0;
    }
    if (!rg_utf8_valid(word, n, &bad)) {
        cli_fail("%s is not valid UTF-8 (byte %zu of the argument)", what, bad);
        return 0;
    }
    if (*len) buf[(*len)++] = ' ';
    memcpy(buf + *len, word, n);
    *len += n;
    buf[*len] = '\0';
    return 1;
}

/* ---- LLM options ---- */

cli_llm cli_llm_defaults(void)
{
    return (cli_llm){.kind = "openai"};
}

int cli_llm_opt(int argc, char **argv, int *i, cli_llm *f)
{
    const char *v;
    int rc;
    size_t n;
    if (strcmp(argv[*i], "--allow-private") == 0) {
        f->allow_private = 1;
        return 1;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm", &v))) {
        if (rc > 0) f->url = v;
        return rc;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm-model", &v))) {
        if (rc > 0) f->model = v;
        return rc;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm-kind", &v))) {
        if (rc < 0) return rc;
        if (strcmp(v, "openai") != 0 && strcmp(v, "ollama") != 0) {
            cli_fail("--llm-kind is openai or ollama, not '%s'", v);
            return -1;
        }
        f->kind = v;
        return 1;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm-timeout", &v))) {
        if (rc < 0 || !cli_size("--llm-timeout", v, 1, CLI_LLM_TIMEOUT_MAX_S, &n)) return -1;
        f->timeout_ms = (long)n * 1000;
        return 1;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm-max-tokens", &v))) {
        if (rc < 0 || !cli_size("--llm-max-tokens", v, 1, CLI_LLM_MAX_TOKENS_MAX, &f->max_tokens))
            return -1;
        return 1;
    }
    if ((rc = cli_opt(argc, argv, i, "--llm-context", &v))) {
        if (rc < 0 || !cli_size("--llm-context", v, 1, CLI_LLM_CONTEXT_MAX, &f->context)) return -1;
        return 1;
    }
    return 0;
}

/* The answer's tokens: --llm-max-tokens, else the generator's default. */
static size_t answer_tokens(const cli_llm *f)
{
    return f->max_tokens ? f->max_tokens : (size_t)rg_llm_default_options().max_tokens;
}

int cli_llm_check(const cli_llm *f)
{
    if (!f->url != !f->model) {
        cli_fail("--llm and --llm-model go together");
        return 0;
    }
    if ((f->max_tokens || f->context) && !f->url) {
        cli_fail("--llm-max-tokens and --llm-context go with --llm");
        return 0;
    }
    size_t reserved = answer_tokens(f) + CLI_LLM_TEMPLATE_TOKENS;
    if (f->context && f->context < reserved + CLI_LLM_PROMPT_MIN) {
        cli_fail("--llm-context %zu leaves too little for the prompt: the answer takes %zu "
                 "(--llm-max-tokens), the chat template %d, and the prompt needs %d",
                 f->context, answer_tokens(f), CLI_LLM_TEMPLATE_TOKENS, CLI_LLM_PROMPT_MIN);
        return 0;
    }
    return 1;
}

void cli_llm_prompt(const cli_llm *f, rg_prompt_options *p)
{
    if (!f->context) return;
    p->budget_tokens = f->context - answer_tokens(f) - CLI_LLM_TEMPLATE_TOKENS;
    p->count = rg_prompt_count_upper;
    p->count_ctx = NULL;
}

static rg_status rec_generate(void *self, const rg_gen_request *req, rg_buf *out,
                              rg_gen_result *res, rg_error *err)
{
    cli_llm_gen *g = self;
    rg_status st = rg_generate(&g->inner, req, out, res, &g->last);
    if (st && err) *err = g->last;
    return st;
}

static const char *rec_model(void *self)
{
    return rg_generator_model(&((cli_llm_gen *)self)->inner);
}

static const rg_generator_methods openai_recorder = {RG_GENERATOR_VERSION, "openai", rec_generate,
                                                     rec_model, NULL};
static const rg_generator_methods ollama_recorder = {RG_GENERATOR_VERSION, "ollama", rec_generate,
                                                     rec_model, NULL};

rg_status cli_llm_options(const cli_llm *f, rg_llm_options *lo, rg_error *err)
{
    *lo = rg_llm_default_options();
    lo->base_url = f->url;
    lo->model = f->model;
    if (f->timeout_ms > 0) lo->timeout_ms = f->timeout_ms;
    if (f->max_tokens) lo->max_tokens = (long)f->max_tokens;
    rg_addr_class c;
    rg_status st = rg_http_url_host_class(f->url, &c, err);
    if (st) return st;
    /* naming a loopback server is asking for it, as `model pull --endpoint` does */
    if (c == RG_ADDR_LOOPBACK) lo->allow |= RG_HTTP_ALLOW_LOOPBACK;
    if (f->allow_private) lo->allow |= RG_HTTP_ALLOW_PRIVATE;
    return RG_OK;
}

rg_status cli_llm_open_generator(const cli_llm *f, const rg_llm_options *lo, rg_generator *g,
                                 rg_error *err)
{
    return strcmp(f->kind, "ollama") == 0 ? rg_ollama_open(lo, g, err) : rg_openai_open(lo, g, err);
}

rg_status cli_llm_open(const cli_llm *f, cli_llm_gen *g, rg_error *err)
{
    memset(g, 0, sizeof *g);
    rg_error_clear(&g->last);
    rg_llm_options lo;
    rg_status st = cli_llm_options(f, &lo, err);
    if (!st) st = cli_llm_open_generator(f, &lo, &g->inner, err);
    if (st) return st;
    g->gen.methods = strcmp(f->kind, "ollama") == 0 ? &ollama_recorder : &openai_recorder;
    g->gen.self = g;
    return RG_OK;
}

void cli_llm_close(cli_llm_gen *g)
{
    rg_generator_close(&g->inner);
    g->gen.methods = NULL;
    g->gen.self = NULL;
}

rg_status cli_llm_open_rewriter(const cli_llm *f, rg_generator *g, rg_error *err)
{
    rg_llm_options lo;
    rg_status st = cli_llm_options(f, &lo, err);
    if (st) return st;
    lo = rg_rewrite_llm_options(&lo);
    return cli_llm_open_generator(f, &lo, g, err);
}

rg_status cli_search_open(rg_store *s, rg_dense *dense, rg_search **out, rg_error *err)
{
    rg_status st = rg_search_open(s, dense, out, err);
    if (st || !dense || sysconf(_SC_NPROCESSORS_ONLN) < 2) return st;
    if ((st = rg_search_set_parallel(*out, 1, err))) {
        rg_search_close(*out);
        *out = NULL;
    }
    return st;
}

void cli_search_summary(cJSON *out, const char *query, const char *mode, const rg_search_stats *tm,
                        double took_ms)
{
    cJSON_AddStringToObject(out, "query", query);
    cJSON_AddStringToObject(out, "mode", mode);
    cJSON_AddBoolToObject(out, "dense_skipped", tm->dense_skipped);
    cJSON_AddNumberToObject(out, "took_ms", took_ms);
    cJSON *t = cJSON_AddObjectToObject(out, "timings_ms");
    cJSON_AddNumberToObject(t, "embed", tm->embed_ms);
    cJSON_AddNumberToObject(t, "dense", tm->dense_ms);
    cJSON_AddNumberToObject(t, "lexical", tm->lexical_ms);
    cJSON_AddNumberToObject(t, "fuse", tm->fuse_ms);
}
