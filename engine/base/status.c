#include "engine/base/status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const messages[RG_STATUS_COUNT] = {
    [RG_OK] = "success",
    [RG_ENOMEM] = "out of memory",
    [RG_EINVAL] = "invalid argument",
    [RG_ENOTFOUND] = "not found",
    [RG_EEXISTS] = "already exists",
    [RG_EIO] = "input/output error",
    [RG_EUTF8] = "invalid UTF-8",
    [RG_EBINARY] = "binary content",
    [RG_EPARSE] = "parse error",
    [RG_ELIMIT] = "limit exceeded",
    [RG_EUNSUPPORTED] = "not supported",
    [RG_ECORRUPT] = "corrupt data",
    [RG_EDB] = "database error",
    [RG_EBUSY] = "resource busy",
    [RG_ENET] = "network error",
    [RG_ETIMEOUT] = "timed out",
    [RG_EINTERNAL] = "internal error",
};

const char *rg_strerror(rg_status code)
{
    if ((unsigned)code >= RG_STATUS_COUNT) return "unknown error";
    return messages[code];
}

rg_status rg_fail(rg_error *err, rg_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void rg_error_clear(rg_error *err)
{
    if (!err) return;
    err->code = RG_OK;
    err->msg[0] = '\0';
}

const char *rg_error_message(const rg_error *err)
{
    if (!err) return "";
    return err->msg[0] ? err->msg : rg_strerror(err->code);
}
