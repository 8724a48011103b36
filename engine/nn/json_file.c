#include "engine/nn/json_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/base/mem.h"

rg_status rg_json_file_read(const char *dir, const char *name, size_t max, cJSON **out,
                            rg_error *err)
{
    *out = NULL;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return rg_fail(err, RG_ELIMIT, "path too long: %s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", path, strerror(errno));
    rg_status rc = RG_OK;
    char *data = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = rg_fail(err, RG_EIO, "%s: not a regular file", path);
        goto out;
    }
    if ((size_t)sb.st_size > max) {
        rc = rg_fail(err, RG_ELIMIT, "%s: %lld bytes (max %zu)", path, (long long)sb.st_size, max);
        goto out;
    }
    data = rg_malloc((size_t)sb.st_size + 1);
    if (!data) {
        rc = rg_fail(err, RG_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
        rc = rg_fail(err, RG_EIO, "%s: short read", path);
        goto out;
    }
    *out = cJSON_ParseWithLength(data, (size_t)sb.st_size);
    if (!*out)
        rc = rg_fail(err, RG_EPARSE, "%s: not valid JSON", path);
out:
    rg_free(data);
    fclose(f);
    return rc;
}

size_t rg_json_size(const cJSON *v, size_t max, size_t absent)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) return absent;
    if (v->valuedouble >= (double)max) return max;
    return (size_t)v->valuedouble;
}
