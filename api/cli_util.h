/*
 * cli_util.h — small helpers the subcommands share: option parsing, error
 * lines, number parsing, opening the store.
 */
#ifndef RG_CLI_UTIL_H
#define RG_CLI_UTIL_H

#include <stddef.h>

#include "api/cli.h"
#include "engine/base/status.h"
#include "engine/nn/encoder.h"
#include "index/dense.h"
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
/* cli_open_encoder's precision flags (0: fp32 passages, int8 queries where
 * the CPU has VNNI: see rg_encoder_embed_query). */
#define CLI_ENC_INT8       1 /* int8 weights for passages too */
#define CLI_ENC_FP32_QUERY 2 /* fp32 weights for queries too */

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

/* Splits "key=value" in place: returns 0 (after an error) without '='. */
int cli_pair(const char *opt, char *s, const char **key, const char **value);

/*
 * Appends word to the text in buf (cap bytes, *len used), separated by a
 * space: how a query or question given as several arguments is joined.
 * Prints an error naming what and returns 0 when it would not fit.
 */
int cli_join_word(char *buf, size_t cap, size_t *len, const char *word, const char *what);

/* Wall-clock seconds from a monotonic clock. */
double cli_now(void);

#endif
