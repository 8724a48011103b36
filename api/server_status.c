/*
 * server_status.c — server.h's mapping of ragd errors to HTTP statuses and
 * error replies. Kept apart from server.c so that tests/fuzz, which runs the
 * routes without libmicrohttpd (fuzz_serve.c stands in for server.c), uses
 * the same mapping rather than a copy of it.
 */
#include "api/server.h"

unsigned rg_http_status_of(rg_status st, const char **code)
{
    unsigned http = 500;
    const char *c = "internal";
    switch (st) {
    case RG_OK:
        http = 200, c = "ok";
        break;
    case RG_EINVAL:
    case RG_EUTF8:
    case RG_EPARSE:
    case RG_EBINARY:
        http = 400, c = "invalid_request";
        break;
    case RG_ENOTFOUND:
        http = 404, c = "not_found";
        break;
    case RG_EEXISTS:
        http = 409, c = "conflict";
        break;
    case RG_ELIMIT:
        http = 413, c = "too_large";
        break;
    case RG_EUNSUPPORTED:
        http = 415, c = "unsupported";
        break;
    case RG_EBUSY:
        http = 503, c = "busy";
        break;
    case RG_ETIMEOUT:
        http = 504, c = "timeout";
        break;
    case RG_ENET:
        http = 502, c = "upstream";
        break;
    default:
        break;
    }
    if (code) *code = c;
    return http;
}

rg_status rg_reply_status(rg_request *r, const rg_error *err)
{
    const char *code;
    unsigned http = rg_http_status_of(err->code, &code);
    return rg_reply_error(r, http, code, "%s", rg_error_message(err));
}
