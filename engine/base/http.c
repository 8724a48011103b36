#include "engine/base/http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/base/mem.h"

#ifndef RG_VERSION
#error "RG_VERSION must be defined by the build (engine/base/meson.build)"
#endif

#define USER_AGENT "ragd/" RG_VERSION

/* ---- Address classes ---- */

static int in_v4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == net;
}

static rg_addr_class classify_v4(uint32_t a)
{
    if (in_v4(a, 0x00000000u, 8))
        return RG_ADDR_UNSPECIFIED; /* "this network": Linux connects 0.0.0.0 to itself */
    if (in_v4(a, 0x7f000000u, 8)) return RG_ADDR_LOOPBACK;
    if (in_v4(a, 0x0a000000u, 8) || in_v4(a, 0xac100000u, 12) || in_v4(a, 0xc0a80000u, 16) ||
        in_v4(a, 0x64400000u, 10))
        return RG_ADDR_PRIVATE; /* RFC 1918 and carrier-grade NAT (RFC 6598) */
    if (in_v4(a, 0xa9fe0000u, 16))
        return RG_ADDR_LINKLOCAL; /* also where cloud metadata services listen */
    if (in_v4(a, 0xe0000000u, 3) || in_v4(a, 0xc0000000u, 24) || in_v4(a, 0xc6120000u, 15) ||
        in_v4(a, 0xc0000200u, 24) || in_v4(a, 0xc6336400u, 24) || in_v4(a, 0xcb007100u, 24))
        return RG_ADDR_RESERVED; /* multicast, 240/4, IETF, benchmarking, documentation */
    return RG_ADDR_PUBLIC;
}

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

static rg_addr_class classify_v6(const unsigned char b[16])
{
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (all_zero(b, 16)) return RG_ADDR_UNSPECIFIED;
    if (all_zero(b, 15) && b[15] == 1) return RG_ADDR_LOOPBACK;
    /* Addresses that carry an IPv4 address reach that address: judge it. */
    if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
        return classify_v4(load_be32(b + 12));                  /* ::ffff:a.b.c.d */
    if (all_zero(b, 12)) return classify_v4(load_be32(b + 12)); /* ::a.b.c.d (deprecated) */
    if (memcmp(b, nat64, sizeof nat64) == 0)
        return classify_v4(load_be32(b + 12));                              /* 64:ff9b::/96 */
    if (b[0] == 0x20 && b[1] == 0x02) return classify_v4(load_be32(b + 2)); /* 6to4 */
    if ((b[0] & 0xfe) == 0xfc) return RG_ADDR_PRIVATE;                   /* unique local fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return RG_ADDR_LINKLOCAL; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return RG_ADDR_PRIVATE;                /* site-local fec0::/10 (deprecated) */
    if (b[0] == 0xff) return RG_ADDR_RESERVED; /* multicast */
    if (b[0] == 0x20 && b[1] == 0x01 &&
        ((b[2] == 0x0d && b[3] == 0xb8) || (b[2] == 0 && b[3] == 0)))
        return RG_ADDR_RESERVED; /* documentation, and Teredo whose peer is hidden */
    if (b[0] == 0x01 && all_zero(b + 1, 7)) return RG_ADDR_RESERVED; /* discard prefix 100::/64 */
    if (memcmp(b, nat64, 4) == 0 && b[4] == 0 && b[5] == 1)
        return RG_ADDR_PRIVATE; /* local-use NAT64 64:ff9b:1::/48 */
    return RG_ADDR_PUBLIC;
}

rg_addr_class rg_addr_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        return classify_v4(ntohl(in.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        return classify_v6(in6.sin6_addr.s6_addr);
    }
    return RG_ADDR_RESERVED;
}

/* 1 and the class when ip is a numeric IPv4 or IPv6 address, else 0. */
static int classify_literal(const char *ip, rg_addr_class *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, ip, &a4) == 1)
        *out = classify_v4(ntohl(a4.s_addr));
    else if (inet_pton(AF_INET6, ip, &a6) == 1)
        *out = classify_v6(a6.s6_addr);
    else
        return 0;
    return 1;
}

rg_addr_class rg_addr_classify_str(const char *ip)
{
    rg_addr_class c;
    return classify_literal(ip, &c) ? c : RG_ADDR_RESERVED;
}

int rg_addr_allowed(rg_addr_class c, unsigned allow)
{
    switch (c) {
    case RG_ADDR_PUBLIC:
        return 1;
    case RG_ADDR_LOOPBACK:
        return (allow & RG_HTTP_ALLOW_LOOPBACK) != 0;
    case RG_ADDR_PRIVATE:
    case RG_ADDR_LINKLOCAL:
        return (allow & RG_HTTP_ALLOW_PRIVATE) != 0;
    case RG_ADDR_UNSPECIFIED:
    case RG_ADDR_RESERVED:
        break;
    }
    return (allow & RG_HTTP_ALLOW_ANY) == RG_HTTP_ALLOW_ANY;
}

const char *rg_addr_class_name(rg_addr_class c)
{
    static const char *const names[] = {
        [RG_ADDR_PUBLIC] = "public",           [RG_ADDR_LOOPBACK] = "loopback",
        [RG_ADDR_PRIVATE] = "private",         [RG_ADDR_LINKLOCAL] = "link-local",
        [RG_ADDR_UNSPECIFIED] = "unspecified", [RG_ADDR_RESERVED] = "reserved",
    };
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

/* ---- libcurl, once per process ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static rg_status ensure_curl(rg_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return rg_fail(err, RG_ENET, "cannot initialise libcurl: %s",
                       curl_easy_strerror(curl_init_rc));
    return RG_OK;
}

rg_status rg_http_url_host_class(const char *url, rg_addr_class *out, rg_error *err)
{
    *out = RG_ADDR_PUBLIC;
    rg_status rc = ensure_curl(err);
    if (rc != RG_OK) return rc;
    CURLU *u = curl_url();
    if (!u) return rg_fail(err, RG_ENOMEM, "out of memory");
    char *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = rg_fail(err, RG_EINVAL, "not a valid URL: %s", url);
        goto out;
    }
    /* IPv6 literals come back in brackets, perhaps with a zone id */
    char bare[128];
    size_t n = strlen(host);
    const char *h = host;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') h = host + 1, n -= 2;
    if (n >= sizeof bare) {
        rc = rg_fail(err, RG_EINVAL, "host name too long in %s", url);
        goto out;
    }
    memcpy(bare, h, n);
    bare[n] = 0;
    char *zone = strchr(bare, '%');
    if (zone) *zone = 0;
    if (!strcasecmp(bare, "localhost") || !strcasecmp(bare, "localhost."))
        *out = RG_ADDR_LOOPBACK;
    else if (!classify_literal(bare, out))
        *out = RG_ADDR_PUBLIC; /* a name: the guard judges what it resolves to */
out:
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- Client ---- */

struct rg_http {
    CURL *curl;
    rg_http_options o;
    char errbuf[CURL_ERROR_SIZE];
    /* state of the request in progress */
    const rg_http_request *req;
    rg_http_response *resp;
    rg_error *err;
    uint64_t max_body;
    uint64_t seen;       /* body bytes of the current response, 2xx or not */
    int over_limit;      /* the body passed max_body */
    rg_status cb_status; /* on_data's refusal */
    char refused[INET6_ADDRSTRLEN];
    rg_addr_class refused_class;
};

rg_http_options rg_http_default_options(void)
{
    rg_http_options o = {
        .connect_timeout_ms = RG_HTTP_CONNECT_TIMEOUT_MS,
        .timeout_ms = RG_HTTP_TIMEOUT_MS,
        .max_body = RG_HTTP_MAX_BODY,
        .max_redirects = RG_HTTP_MAX_REDIRECTS,
        .allow = 0,
    };
    return o;
}

/* Copies a header value without its surrounding blanks and line end, cut to fit. */
static void keep_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int header_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    rg_http *h = ud;
    rg_http_response *r = h->resp;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* a new response of the redirect chain: its own headers start here */
        r->etag[0] = r->location[0] = r->content_range[0] = r->retry_after[0] = 0;
        r->content_length = -1;
        h->seen = 0;
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return n;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vn = n - name_len - 1;
    if (header_is(line, name_len, "ETag")) {
        keep_value(r->etag, sizeof r->etag, v, vn);
    } else if (header_is(line, name_len, "X-Linked-Etag")) {
        if (!r->linked_etag[0]) keep_value(r->linked_etag, sizeof r->linked_etag, v, vn);
    } else if (header_is(line, name_len, "X-Repo-Commit")) {
        if (!r->repo_commit[0]) keep_value(r->repo_commit, sizeof r->repo_commit, v, vn);
    } else if (header_is(line, name_len, "Location")) {
        keep_value(r->location, sizeof r->location, v, vn);
    } else if (header_is(line, name_len, "Retry-After")) {
        keep_value(r->retry_after, sizeof r->retry_after, v, vn);
    } else if (header_is(line, name_len, "Content-Range")) {
        keep_value(r->content_range, sizeof r->content_range, v, vn);
    } else if (header_is(line, name_len, "Content-Length")) {
        char num[32];
        keep_value(num, sizeof num, v, vn);
        char *end;
        errno = 0;
        long long len = strtoll(num, &end, 10);
        r->content_length = (num[0] && !*end && !errno && len >= 0) ? len : -1;
    }
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    rg_http *h = ud;
    size_t n = size * nmemb;
    if (n > h->max_body - h->seen) {
        h->over_limit = 1;
        return 0; /* curl turns this into CURLE_WRITE_ERROR */
    }
    h->seen += n;
    long code = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    h->resp->status = code; /* so on_data can tell 206 from 200 */
    if (code < 200 || code > 299) {
        /* kept for the caller's error message; what does not fit is dropped */
        rg_buf *eb = h->req->error_body;
        if (eb && eb->len < eb->max)
            (void)rg_buf_append(eb, p, n < eb->max - eb->len ? n : eb->max - eb->len);
        return n;
    }
    if (!h->req->on_data) return n;
    rg_status st = h->req->on_data(h->req->ctx, p, n, h->err);
    if (st != RG_OK) {
        h->cb_status = st;
        return 0;
    }
    h->resp->body_bytes += n;
    return n;
}

/* The SSRF guard: every socket curl wants, for any host of the chain. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    rg_http *h = ud;
    (void)purpose;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, &a->addr, a->addrlen < sizeof ss ? a->addrlen : sizeof ss);
    rg_addr_class c = rg_addr_classify((const struct sockaddr *)&ss);
    if (!rg_addr_allowed(c, h->o.allow)) {
        if (!h->refused[0]) {
            const void *ip = ss.ss_family == AF_INET6
                                 ? (const void *)&((const struct sockaddr_in6 *)&ss)->sin6_addr
                                 : (const void *)&((const struct sockaddr_in *)&ss)->sin_addr;
            if (!inet_ntop(ss.ss_family, ip, h->refused, sizeof h->refused))
                snprintf(h->refused, sizeof h->refused, "?");
            h->refused_class = c;
        }
        return CURL_SOCKET_BAD;
    }
    curl_socket_t s = socket(a->family, a->socktype, a->protocol);
    if (s != CURL_SOCKET_BAD)
        (void)fcntl(s, F_SETFD, FD_CLOEXEC); /* no socket leaks into child processes */
    return s;
}

rg_status rg_http_open(const rg_http_options *opts, rg_http **out, rg_error *err)
{
    *out = NULL;
    rg_status rc = ensure_curl(err);
    if (rc != RG_OK) return rc;
    rg_http *h = rg_calloc(1, sizeof *h);
    if (!h) return rg_fail(err, RG_ENOMEM, "out of memory");
    h->o = opts ? *opts : rg_http_default_options();
    if (h->o.connect_timeout_ms <= 0) h->o.connect_timeout_ms = RG_HTTP_CONNECT_TIMEOUT_MS;
    if (h->o.timeout_ms == 0) h->o.timeout_ms = RG_HTTP_TIMEOUT_MS;
    if (h->o.max_body == 0) h->o.max_body = RG_HTTP_MAX_BODY;
    if (h->o.max_redirects < 0) h->o.max_redirects = RG_HTTP_MAX_REDIRECTS;
    h->curl = curl_easy_init();
    if (!h->curl) {
        rg_free(h);
        return rg_fail(err, RG_ENOMEM, "cannot create a libcurl handle");
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, h->o.max_redirects > 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)h->o.max_redirects);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string form; the bit form is deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* a proxy would be the only peer the guard sees: none is used */
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)RG_HTTP_STALL_BYTES);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)RG_HTTP_STALL_S);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    *out = h;
    return RG_OK;
}

void rg_http_close(rg_http *h)
{
    if (!h) return;
    curl_easy_cleanup(h->curl);
    rg_free(h);
}

/* libcurl's verdict as an rg_status with a one-line message. */
static rg_status translate(rg_http *h, CURLcode cc, const char *url)
{
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OK:
        return RG_OK;
    case CURLE_WRITE_ERROR:
        if (h->cb_status != RG_OK) return h->cb_status;
        if (h->over_limit)
            return rg_fail(h->err, RG_ELIMIT, "%s: response body over the limit of %llu bytes", url,
                           (unsigned long long)h->max_body);
        return rg_fail(h->err, RG_EIO, "%s: %s", url, why);
    case CURLE_FILESIZE_EXCEEDED:
        return rg_fail(h->err, RG_ELIMIT, "%s: response body over the limit of %llu bytes", url,
                       (unsigned long long)h->max_body);
    case CURLE_TOO_MANY_REDIRECTS:
        return rg_fail(h->err, RG_ELIMIT, "%s: more than %d redirects", url, h->o.max_redirects);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return rg_fail(h->err, RG_EUNSUPPORTED, "%s: only http and https URLs are followed", url);
    case CURLE_URL_MALFORMAT:
        return rg_fail(h->err, RG_EINVAL, "not a valid URL: %s", url);
    case CURLE_OPERATION_TIMEDOUT:
        return rg_fail(h->err, RG_ETIMEOUT, "%s: %s", url, why);
    case CURLE_OUT_OF_MEMORY:
        return rg_fail(h->err, RG_ENOMEM, "%s: out of memory", url);
    default:
        break;
    }
    if (h->refused[0])
        return rg_fail(h->err, RG_ENET,
                       "%s: refused to connect to %s address %s (only public addresses are "
                       "allowed by default)",
                       url, rg_addr_class_name(h->refused_class), h->refused);
    return rg_fail(h->err, RG_ENET, "%s: %s", url, why);
}

rg_status rg_http_get(rg_http *h, const rg_http_request *req, rg_http_response *resp, rg_error *err)
{
    memset(resp, 0, sizeof *resp);
    resp->content_length = -1;
    if (!req->url || strlen(req->url) >= RG_HTTP_URL_MAX)
        return rg_fail(err, RG_EINVAL, "URL missing or longer than %d bytes", RG_HTTP_URL_MAX);
    struct curl_slist *list = NULL;
    for (const char *const *p = req->headers; p && *p; p++) {
        struct curl_slist *next = curl_slist_append(list, *p);
        if (!next) {
            curl_slist_free_all(list);
            return rg_fail(err, RG_ENOMEM, "out of memory");
        }
        list = next;
    }
    char range[32] = "";
    if (req->range_from > 0)
        snprintf(range, sizeof range, "%llu-", (unsigned long long)req->range_from);
    h->req = req;
    h->resp = resp;
    h->err = err;
    h->max_body = req->max_body ? req->max_body : h->o.max_body;
    h->seen = 0;
    h->over_limit = 0;
    h->cb_status = RG_OK;
    h->refused[0] = 0;
    h->errbuf[0] = 0;
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    long stall = req->stall_s ? req->stall_s : (long)RG_HTTP_STALL_S;
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall > 0 ? stall : 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_RANGE, range[0] ? range : NULL);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
    long timeout = req->timeout_ms ? req->timeout_ms : h->o.timeout_ms;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 0L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    /* the list must outlive the transfer, and no later call may see it */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
    rg_status rc = translate(h, cc, req->url);
    h->req = NULL;
    h->resp = NULL;
    h->err = NULL;
    return rc;
}

static rg_status append_buf(void *ctx, const void *data, size_t n, rg_error *err)
{
    rg_buf *b = ctx;
    rg_status rc = rg_buf_append(b, data, n);
    if (rc == RG_ELIMIT)
        return rg_fail(err, rc, "response body over the limit of %zu bytes", b->max);
    if (rc != RG_OK) return rg_fail(err, rc, "out of memory reading a response");
    return RG_OK;
}

rg_status rg_http_get_buf(rg_http *h, const char *url, const char *const *headers, rg_buf *out,
                          rg_http_response *resp, rg_error *err)
{
    rg_http_request req = {.url = url, .headers = headers, .on_data = append_buf, .ctx = out};
    return rg_http_get(h, &req, resp, err);
}

rg_status rg_http_sink_file(void *ctx, const void *data, size_t n, rg_error *err)
{
    FILE *f = ctx;
    if (fwrite(data, 1, n, f) != n)
        return rg_fail(err, RG_EIO, "write failed: %s", strerror(errno));
    return RG_OK;
}
