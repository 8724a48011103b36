/*
 * http.h — a small HTTP client over libcurl for ragd's outbound requests
 * (model downloads now; remote embedders and generators later).
 *
 * Every request is bounded: connect and total timeouts, a stall timeout,
 * a maximum body size, at most RG_HTTP_MAX_REDIRECTS redirects, and only
 * http and https, also after a redirect. The user agent is "ragd/VERSION".
 * A request is a GET, or a POST when it carries a body (LLM generators).
 *
 * SSRF guard: before any socket is opened (for the first request and for
 * every redirect, on the address curl actually resolved) the address is
 * classified, and loopback, private, link-local, unspecified, multicast and
 * reserved addresses are refused unless the options allow their class.
 * Checking the resolved address, not the host name, also defeats DNS names
 * that point inside the network. Proxies are not used (the environment's
 * proxy variables are ignored), so the checked address is the real peer.
 *
 * libcurl errors are translated here into rg_status with a one-line
 * message; curl types never appear in this header.
 */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/base/buf.h"
#include "engine/base/status.h"

struct sockaddr;

/* Most redirects one request follows. */
#define RG_HTTP_MAX_REDIRECTS 5
/* Default connect timeout. */
#define RG_HTTP_CONNECT_TIMEOUT_MS 15000
/* Default limit for a whole request (headers and body). */
#define RG_HTTP_TIMEOUT_MS 120000
/* A transfer slower than RG_HTTP_STALL_BYTES per second for this long fails. */
#define RG_HTTP_STALL_S     60
#define RG_HTTP_STALL_BYTES 1024
/* Default maximum body size. */
#define RG_HTTP_MAX_BODY (64u << 20)
/* Longest response header value kept; longer values are cut. */
#define RG_HTTP_HEADER_MAX 512
/* Longest URL accepted. */
#define RG_HTTP_URL_MAX 4096

/* ---- Address classes (the SSRF guard) ---- */

typedef enum rg_addr_class {
    RG_ADDR_PUBLIC,      /* globally routable */
    RG_ADDR_LOOPBACK,    /* 127/8, ::1 */
    RG_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */
    RG_ADDR_LINKLOCAL,   /* 169.254/16, fe80::/10 */
    RG_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    RG_ADDR_RESERVED,    /* multicast, broadcast, 240/4, other special ranges */
} rg_addr_class;

/* Bits of rg_http_options.allow: address classes that may be reached. */
#define RG_HTTP_ALLOW_LOOPBACK 1u
#define RG_HTTP_ALLOW_PRIVATE  2u      /* private and link-local */
#define RG_HTTP_ALLOW_ANY      0xffffu /* no guard at all (tests, trusted setups) */

/*
 * Class of an IPv4 or IPv6 socket address. IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are
 * classified by the IPv4 address they carry. Other families: RESERVED.
 */
rg_addr_class rg_addr_classify(const struct sockaddr *sa);
/* The same for a numeric address string; RESERVED when it does not parse. */
rg_addr_class rg_addr_classify_str(const char *ip);
/* Whether allow (RG_HTTP_ALLOW_* bits) lets a connection to class c through. */
int rg_addr_allowed(rg_addr_class c, unsigned allow);
/* Static name of a class ("loopback", ...). */
const char *rg_addr_class_name(rg_addr_class c);

/*
 * Class of the host of url when it is an IP literal ("127.0.0.1", "[::1]")
 * or "localhost" (LOOPBACK); RG_ADDR_PUBLIC for other names, whose class is
 * only known once resolved. RG_EINVAL when url does not parse.
 */
rg_status rg_http_url_host_class(const char *url, rg_addr_class *out, rg_error *err);

/* ---- Client ---- */

typedef struct rg_http_options {
    long connect_timeout_ms; /* <= 0: RG_HTTP_CONNECT_TIMEOUT_MS */
    long timeout_ms;         /* 0: RG_HTTP_TIMEOUT_MS; < 0: no total limit (stall limit only) */
    uint64_t max_body;       /* bytes of body accepted per request; 0: RG_HTTP_MAX_BODY */
    int max_redirects;       /* < 0: RG_HTTP_MAX_REDIRECTS; 0: redirects fail */
    unsigned allow;          /* RG_HTTP_ALLOW_* bits; 0: public addresses only */
} rg_http_options;

rg_http_options rg_http_default_options(void);

/* One client: a libcurl handle whose connections are reused between calls. */
typedef struct rg_http rg_http;

/*
 * Creates a client (initialising libcurl once per process). opts may be NULL.
 * On failure *out is NULL. Use one client per thread.
 */
rg_status rg_http_open(const rg_http_options *opts, rg_http **out, rg_error *err);
void rg_http_close(rg_http *h);

/*
 * Receives body bytes of a 2xx response, in order. Returning anything but
 * RG_OK aborts the transfer and becomes rg_http_get's result; the callback
 * then writes its own message into err (the one given to rg_http_get).
 */
typedef rg_status (*rg_http_data_fn)(void *ctx, const void *data, size_t n, rg_error *err);

typedef struct rg_http_request {
    const char *url;
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    uint64_t range_from;        /* > 0: sends "Range: bytes=N-" to resume a download */
    uint64_t max_body;          /* > 0: this request's body limit instead of the client's */
    long timeout_ms;            /* 0: the client's; < 0: no total limit (stall limit only) */
    rg_http_data_fn on_data;    /* NULL: the body is discarded */
    void *ctx;                  /* passed to on_data */
    const char *body;           /* non-NULL: POSTs body[0..body_len) (borrowed) */
    size_t body_len;            /* bytes of body */
    long stall_s;               /* 0: RG_HTTP_STALL_S; < 0: none (a slow LLM stream) */
    rg_buf *error_body;         /* may be NULL: gets a non-2xx body, cut at its max */
} rg_http_request;

/*
 * What the final response said. Values that were absent are "" (or -1).
 * linked_etag and repo_commit keep the first value seen on any response of
 * the redirect chain, since the Hugging Face hub sends them on its redirect
 * to the CDN; the other fields describe the last response.
 */
typedef struct rg_http_response {
    long status;            /* HTTP status of the last response; set before on_data runs */
    int64_t content_length; /* Content-Length, -1 when absent */
    uint64_t body_bytes;    /* body bytes handed to on_data */
    char etag[RG_HTTP_HEADER_MAX];
    char linked_etag[RG_HTTP_HEADER_MAX]; /* X-Linked-Etag */
    char repo_commit[RG_HTTP_HEADER_MAX]; /* X-Repo-Commit */
    char location[RG_HTTP_HEADER_MAX];
    char content_range[RG_HTTP_HEADER_MAX];
    char retry_after[RG_HTTP_HEADER_MAX]; /* Retry-After of the last response */
} rg_http_response;

/*
 * GETs req->url (POSTs req->body when set), following redirects. Returns RG_OK whenever a response
 * arrived, whatever its status: the caller reads resp->status. Only a 2xx
 * body reaches on_data; other bodies are read (within max_body) and dropped.
 * Errors: RG_EINVAL (bad URL), RG_EUNSUPPORTED (a scheme other than
 * http/https), RG_ENET (network failure, connection cut, or an address the
 * guard refused: the message says which), RG_ETIMEOUT, RG_ELIMIT (body
 * over max_body, too many redirects), RG_ENOMEM, or on_data's status.
 * resp is filled as far as the transfer went, also on failure.
 */
rg_status rg_http_get(rg_http *h, const rg_http_request *req, rg_http_response *resp,
                      rg_error *err);

/*
 * GETs url into out (appending; out's own maximum also applies, RG_ELIMIT).
 * Any status is RG_OK, as for rg_http_get; a non-2xx body is not stored.
 */
rg_status rg_http_get_buf(rg_http *h, const char *url, const char *const *headers, rg_buf *out,
                          rg_http_response *resp, rg_error *err);

/* An rg_http_data_fn that writes to the FILE * given as ctx. */
rg_status rg_http_sink_file(void *ctx, const void *data, size_t n, rg_error *err);

#endif
