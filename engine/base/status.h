/*
 * status.h — the one error vocabulary of ragd.
 *
 * Every fallible function returns an rg_status and, when the caller passes
 * an rg_error, writes a one-line human message into it (curl's failf idea).
 * Errors from SQLite, libcurl, libxml2, cJSON and FAISS are translated into
 * these codes at the module that calls them; they never travel upward raw.
 */
#ifndef RG_STATUS_H
#define RG_STATUS_H

#include <stddef.h>

typedef enum rg_status {
    RG_OK = 0,
    RG_ENOMEM,       /* an allocation failed */
    RG_EINVAL,       /* bad argument or bad user input */
    RG_ENOTFOUND,    /* file, document, collection or key does not exist */
    RG_EEXISTS,      /* already exists */
    RG_EIO,          /* read/write/open failed (errno in the message) */
    RG_EUTF8,        /* input is not valid UTF-8 */
    RG_EBINARY,      /* input looks like a binary file */
    RG_EPARSE,       /* malformed input for a parser (HTML, JSON, ...) */
    RG_ELIMIT,       /* a named limit was exceeded */
    RG_EUNSUPPORTED, /* format or feature not supported */
    RG_ECORRUPT,     /* a database, index or model file is damaged */
    RG_EDB,          /* other database failure */
    RG_EBUSY,        /* database locked by another process */
    RG_ENET,         /* network failure */
    RG_ETIMEOUT,     /* an operation ran past its deadline */
    RG_EINTERNAL,    /* a bug: an invariant did not hold */
    RG_STATUS_COUNT
} rg_status;

/* Longest message an rg_error keeps (longer ones are cut, never overflowed). */
#define RG_ERROR_MSG_MAX 512

typedef struct rg_error {
    rg_status code;
    char msg[RG_ERROR_MSG_MAX];
} rg_error;

/* Static, never NULL: a short description of the code ("out of memory"). */
const char *rg_strerror(rg_status code);

/*
 * Records code and a printf-style message into err (if err is not NULL) and
 * returns code, so callers can write `return rg_fail(err, RG_EIO, "...")`.
 */
rg_status rg_fail(rg_error *err, rg_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to RG_OK with an empty message. */
void rg_error_clear(rg_error *err);

/* The message if one was set, else rg_strerror(err->code). */
const char *rg_error_message(const rg_error *err);

#endif
