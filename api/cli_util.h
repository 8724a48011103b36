/*
 * cli_util.h — small helpers the subcommands share: option parsing, error
 * lines, number parsing, opening the store, the LLM options.
 */
#ifndef RG_CLI_UTIL_H
#define RG_CLI_UTIL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "api/cli.h"
#include "engine/base/status.h"
#include "engine/nn/encoder.h"
#include "engine/rag/gen_openai.h"
#include "engine/rag/generator.h"
#include "engine/rag/prompt.h"
#include "index/dense.h"
#include "index/search.h"
#include "index/store.h"

/*
 * If argv[*i] is the option name ("--collection" or "--collection=VALUE"),
 * stores its value, advances *i past it and returns 1. Returns -1 (after
 * printing an error) when the value is missing, 0 when argv[*i] is another
 * argument.
 */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

/* Prints "ragd: error: ..." on stderr. Returns 1 (the failure exit status). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the error's message as a one-line error. Returns 1. */
int cli_fail_err(const rg_error *err);

/* Parses a decimal integer in [min, max]; prints an error naming opt and returns 0 if bad. */
int cli_size(const char *opt, const char *s, size_t min, size_t max, size_t *out);

/* Most compute threads a command line may ask for. */
#define CLI_THREADS_MAX 1024

/* Deepest nesting of arrays and objects accepted in JSON from a client or a user's file. */
#define CLI_JSON_DEPTH_MAX 64

typedef enum cli_json_shape {
    CLI_JSON_OK,
    CLI_JSON_TOO_DEEP, /* nested deeper than CLI_JSON_DEPTH_MAX */
    CLI_JSON_NUL,      /* a string holds \u0000, which cJSON would silently cut at */
} cli_json_shape;

/*
 * A linear scan of s[0..n) run before cJSON parses it, so that a hostile
 * body costs no recursion: brackets outside strings are counted, escapes
 * inside them skipped. Syntax is left to the parser. *at receives the
 * offset of the offending byte.
 */
cli_json_shape cli_json_scan(const char *s, size_t n, size_t *at);

/* Opens the store at cli->data_dir; create says whether a missing one is made. */
rg_status cli_open_store(const rg_cli *cli, int create, rg_store **out, rg_error *err);

/* Longest registered model name. */
#define CLI_MODEL_NAME_MAX 128

/*
 * Opens the embedding model: model_arg is a registered name (DATA/models/NAME)
 * or a model folder; NULL means the default model (DATA/models/default).
 * name receives the name collections are bound to. threads <= 0 uses every
 * core (bulk embedding); 1 suits single queries, where waking a thread team
 * costs more than it saves. RG_ENOTFOUND when no model is registered.
 */
/* cli_open_encoder's precision flags. 0: passages to index and queries
 * with int8 weights where the CPU has VNNI (rg_encoder_embed_passages,
 * rg_encoder_embed_query), fp32 elsewhere and for rg_encoder_embed; the
 * global --fp32 (cli->fp32) makes every path fp32. */
#define CLI_ENC_INT8       1 /* int8 weights (FFN-down fp32) on every path, rg_encoder_embed too */
#define CLI_ENC_FP32_QUERY 2 /* fp32 weights for queries */

rg_status cli_open_encoder(const rg_cli *cli, const char *model_arg, int precision, int threads,
                           rg_encoder **enc, char name[CLI_MODEL_NAME_MAX + 1],
                           rg_error *err);

/*
 * Opens the dense index for s with the model of cli_open_encoder. When
 * required is 0 and no model is registered, *dense and *enc are NULL and
 * RG_OK is returned (lexical-only operation).
 */
rg_status cli_open_dense(const rg_cli *cli, rg_store *s, const char *model_arg, int required,
                         int threads, rg_encoder **enc, rg_dense **dense, rg_error *err);

/*
 * Parses a date "YYYY-MM-DD" (UTC midnight) or a Unix time in seconds into
 * *out; prints an error naming opt and returns 0 if it is neither.
 */
int cli_date(const char *opt, const char *s, int64_t *out);
/* The same without the error line: 1 on success, 0 otherwise. */
int cli_parse_date(const char *s, int64_t *out);
/* One search result as JSON (ragd search --json, POST /v1/search). NULL: out of memory. */
cJSON *cli_hit_json(const rg_chunk_view *v, int rank, float score, const char *snippet);
/* A search's query, mode, took_ms and timings_ms, added to out (search --json, /v1/search). */
/*
 * Opens a searcher as rg_search_open does; with two or more cores online its
 * hybrid queries run their two legs at once (rg_search_set_parallel): the
 * CLI runs one query at a time, so the second core is otherwise idle.
 */
rg_status cli_search_open(rg_store *s, rg_dense *dense, rg_search **out, rg_error *err);

void cli_search_summary(cJSON *out, const char *query, const char *mode, const rg_search_stats *tm,
                        double took_ms);

/* Longest value of one metadata filter (search --where, HTTP filters.metadata). */
#define CLI_FILTER_VALUE_MAX 1024

/* Splits "key=value" in place: returns 0 (after an error) without '='. */
int cli_pair(const char *opt, char *s, const char **key, const char **value);

/*
 * Appends word to the text in buf (cap bytes, *len used), separated by a
 * space: how a query or question given as several arguments is joined.
 * Prints an error naming what and returns 0 when it would not fit or is
 * not valid UTF-8.
 */
int cli_join_word(char *buf, size_t cap, size_t *len, const char *word, const char *what);

/* Wall-clock seconds from a monotonic clock. */
double cli_now(void);

/* ---- LLM options: `ask` and `eval --answers` ---- */

/* Longest --llm-timeout (seconds), largest --llm-max-tokens and --llm-context accepted. */
#define CLI_LLM_TIMEOUT_MAX_S  3600
#define CLI_LLM_MAX_TOKENS_MAX 65536
#define CLI_LLM_CONTEXT_MAX    (1u << 22)
/* Tokens of the context window kept for the chat template's role markers. */
#define CLI_LLM_TEMPLATE_TOKENS 64
/* Fewest prompt tokens --llm-context must leave (the instructions take ~180). */
#define CLI_LLM_PROMPT_MIN 256

/* Help lines of the options, for a command's usage text. */
#define CLI_LLM_USAGE                                                                              \
    "--llm URL is the server's base URL: an OpenAI-compatible API (e.g.\n"                         \
    "http://127.0.0.1:8080/v1; key from $OPENAI_API_KEY) or, with --llm-kind\n"                    \
    "ollama, an Ollama server (http://127.0.0.1:11434). Loopback servers are\n"                    \
    "allowed when the URL names one; private addresses need --allow-private.\n"                    \
    "When the LLM fails the answer is extracted instead (fallback: true).\n"                       \
    "--llm-max-tokens caps the answer's tokens (default 512). --llm-context is the\n"              \
    "model's context window: the prompt then gets what the answer and the chat\n"                  \
    "template leave of it, counted generously for an unknown tokenizer, and\n"                     \
    "fewer sources are sent rather than more than fits."

/* What the LLM options asked for. */
typedef struct cli_llm {
    const char *url;   /* NULL: no LLM (the extractive generator answers) */
    const char *model; /* required with url */
    const char *kind;  /* "openai" (default) or "ollama" */
    long timeout_ms;   /* 0: the generator's default */
    size_t max_tokens; /* 0: the generator's default */
    size_t context;    /* the model's context window; 0: not given */
    int allow_private;
} cli_llm;

cli_llm cli_llm_defaults(void);

/*
 * If argv[*i] is an LLM option (--llm, --llm-model, --llm-kind, --llm-timeout,
 * --llm-max-tokens, --llm-context, --allow-private), stores it in f,
 * advances *i past its value and returns 1; returns -1 (after printing an
 * error) for a bad or missing value, 0 for another argument.
 */
int cli_llm_opt(int argc, char **argv, int *i, cli_llm *f);

/* Checks the options together once parsed: 1 when good, else 0 after an error. */
int cli_llm_check(const cli_llm *f);

/*
 * Sets the prompt options for f's LLM: with a context window, the budget
 * is what the answer's tokens and CLI_LLM_TEMPLATE_TOKENS leave, counted
 * with rg_prompt_count_upper; without one, p is left as it is.
 */
void cli_llm_prompt(const cli_llm *f, rg_prompt_options *p);

/*
 * The generator options f asks for, over rg_llm_default_options: loopback
 * is allowed when the URL names it, private addresses with --allow-private.
 * Strings are borrowed from f. Errors: RG_EINVAL (a URL that does not parse).
 */
rg_status cli_llm_options(const cli_llm *f, rg_llm_options *lo, rg_error *err);

/* Opens the generator of f->kind with lo. Errors: those of rg_openai_open / rg_ollama_open. */
rg_status cli_llm_open_generator(const cli_llm *f, const rg_llm_options *lo, rg_generator *g,
                                 rg_error *err);

/*
 * The LLM seen through a recorder: the answer pipeline clears the LLM's
 * error when it falls back, and the user should still learn why. gen is
 * what to answer with; it points into the struct, which must not move
 * while open.
 */
typedef struct cli_llm_gen {
    rg_generator gen;   /* the recorder: name and model of the LLM */
    rg_generator inner; /* the LLM itself */
    rg_error last;      /* the LLM's last failure; RG_OK when it answered */
} cli_llm_gen;

/* Opens f's LLM (f->url set) behind a recorder into *g. Errors: as cli_llm_open_generator. */
rg_status cli_llm_open(const cli_llm *f, cli_llm_gen *g, rg_error *err);

/* Closes g; a zeroed or closed g is fine. */
void cli_llm_close(cli_llm_gen *g);

/*
 * Opens f's LLM (f->url set) set up to rewrite follow-up questions
 * (rg_rewrite_llm_options: short, cold, bounded) into *g, a second instance
 * beside the answering one. Errors: as cli_llm_open_generator.
 */
rg_status cli_llm_open_rewriter(const cli_llm *f, rg_generator *g, rg_error *err);

#endif
