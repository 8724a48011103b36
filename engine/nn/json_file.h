/*
 * json_file.h — reads a small JSON file of a model folder (config.json,
 * modules.json, ...) into a cJSON tree, with a size limit and one-line
 * errors that name the file.
 */
#ifndef RG_NN_JSON_FILE_H
#define RG_NN_JSON_FILE_H

#include <stddef.h>

#include "engine/base/status.h"

struct cJSON;

/*
 * Parses dir/name (name may contain '/'). On success the caller owns *out
 * (cJSON_Delete). Errors: RG_ENOTFOUND, RG_EIO, RG_ELIMIT (over max bytes),
 * RG_EPARSE, RG_ENOMEM.
 */
rg_status rg_json_file_read(const char *dir, const char *name, size_t max, struct cJSON **out,
                            rg_error *err);

/*
 * A size read from a model file: `absent` when v is missing, not a number
 * or negative; otherwise its integer part, at most `max` (a number too large
 * to convert, infinity included, reads as `max`).
 */
size_t rg_json_size(const struct cJSON *v, size_t max, size_t absent);

#endif
