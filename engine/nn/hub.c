#include "engine/nn/hub.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/buf.h"
#include "engine/base/http.h"
#include "engine/base/log.h"
#include "engine/base/mem.h"
#include "engine/base/sha256.h"

/* Bytes read at a time when hashing a file already on disk. */
#define HASH_CHUNK (1u << 20)
/* A git commit id, as the listing's "sha" gives it. */
#define COMMIT_HEX_LEN 40

/* The files of a repo that ragd reads; everything else is left on the hub. */
static const struct wanted {
    const char *path;
    int required;
    int weights; /* gets RG_HUB_MAX_WEIGHTS instead of RG_HUB_MAX_SMALL */
} wanted[] = {
    {"config.json", 1, 0},
    {"tokenizer.json", 1, 0},
    {"model.safetensors", 1, 1},
    {"modules.json", 0, 0},
    {"sentence_bert_config.json", 0, 0},
    {"1_Pooling/config.json", 0, 0},
    {"special_tokens_map.json", 0, 0},
    {"tokenizer_config.json", 0, 0},
};
#define N_WANTED (sizeof wanted / sizeof wanted[0])

typedef struct hub_file {
    int listed;                         /* present in the repo */
    int64_t size;                       /* from the listing, -1 unknown */
    char sha256[RG_SHA256_HEX_LEN + 1]; /* from the listing (LFS files), "" unknown */
} hub_file;

typedef struct pull {
    rg_http *http;
    const rg_hub_options *o;
    const char *endpoint;
    size_t endpoint_len; /* without trailing slashes */
    const char *repo;
    const char *dest;
    char commit[RG_HUB_REVISION_MAX + 1];
    rg_hub_result *res;
} pull;

rg_hub_options rg_hub_default_options(void)
{
    rg_hub_options o = {0};
    return o;
}

const char *rg_hub_endpoint(const rg_hub_options *o)
{
    if (o && o->endpoint && o->endpoint[0]) return o->endpoint;
    const char *env = getenv("HF_ENDPOINT");
    return env && env[0] ? env : RG_HUB_DEFAULT_ENDPOINT;
}

/* ---- Validation ---- */

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* One part of a repo id: 1..96 name characters, no leading '.' or '-', no "..". */
static int valid_segment(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]) || (i + 1 < n && s[i] == '.' && s[i + 1] == '.')) return 0;
    return 1;
}

int rg_hub_valid_repo_id(const char *id)
{
    size_t n = strlen(id);
    const char *slash = strchr(id, '/');
    if (n > RG_HUB_REPO_ID_MAX || !slash) return 0;
    return valid_segment(id, (size_t)(slash - id)) &&
           valid_segment(slash + 1, n - (size_t)(slash - id) - 1);
}

/* Path-like names: parts separated by single '/', none empty, ".", or "..". */
static int valid_parts(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '/' || s[n - 1] == '/') return 0;
    const char *part = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == 0) {
            size_t len = (size_t)(p - part);
            if (len == 0 || (len == 1 && part[0] == '.') ||
                (len == 2 && part[0] == '.' && part[1] == '.'))
                return 0;
            if (*p == 0) return 1;
            part = p + 1;
        } else if (!name_char(*p)) {
            return 0;
        }
    }
}

int rg_hub_valid_revision(const char *rev)
{
    return rev[0] != '-' && valid_parts(rev, RG_HUB_REVISION_MAX) && !strstr(rev, "..");
}

int rg_hub_valid_path(const char *path)
{
    return valid_parts(path, RG_HUB_PATH_MAX);
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/*
 * The SHA-256 an ETag carries, if it is one: the hub's LFS ETags are the
 * quoted hex digest (maybe weak, W/"..."); git blob ETags are SHA-1 and
 * are not used.
 */
static int etag_sha256(const char *etag, char out[RG_SHA256_HEX_LEN + 1])
{
    if (!strncmp(etag, "W/", 2)) etag += 2;
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') etag++, n -= 2;
    if (n != RG_SHA256_HEX_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(etag[i] >= 'A' && etag[i] <= 'F' ? etag[i] - 'A' + 'a' : etag[i]);
    out[n] = 0;
    return is_hex(out, RG_SHA256_HEX_LEN);
}

/* ---- URLs ---- */

/* Appends s percent-encoded; '/' stays as it is when keep_slash. */
static rg_status put_encoded(rg_buf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    rg_status rc = RG_OK;
    for (; *s && rc == RG_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if (name_char((char)c) || c == '~' || (keep_slash && c == '/')) {
            rc = rg_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = rg_buf_append(b, e, sizeof e);
        }
    }
    return rc;
}

/* {endpoint}/api/models/{repo}/revision/{rev}?blobs=true */
static rg_status listing_url(const pull *p, const char *rev, rg_buf *url)
{
    rg_status rc = rg_buf_append(url, p->endpoint, p->endpoint_len);
    if (!rc) rc = rg_buf_puts(url, "/api/models/");
    if (!rc) rc = put_encoded(url, p->repo, 1);
    if (!rc) rc = rg_buf_puts(url, "/revision/");
    if (!rc) rc = put_encoded(url, rev, 0);
    if (!rc) rc = rg_buf_puts(url, "?blobs=true");
    return rc;
}

/* {endpoint}/{repo}/resolve/{commit}/{path} */
static rg_status resolve_url(const pull *p, const char *path, rg_buf *url)
{
    rg_status rc = rg_buf_append(url, p->endpoint, p->endpoint_len);
    if (!rc) rc = rg_buf_putc(url, '/');
    if (!rc) rc = put_encoded(url, p->repo, 1);
    if (!rc) rc = rg_buf_puts(url, "/resolve/");
    if (!rc) rc = put_encoded(url, p->commit, 0);
    if (!rc) rc = rg_buf_putc(url, '/');
    if (!rc) rc = put_encoded(url, path, 1);
    return rc;
}

/* ---- The listing ---- */

static void read_sibling(const cJSON *sib, hub_file files[N_WANTED])
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(sib, "rfilename");
    if (!cJSON_IsString(name) || !rg_hub_valid_path(name->valuestring))
        return; /* never a file ragd wants, and never a path it would write */
    for (size_t i = 0; i < N_WANTED; i++) {
        if (strcmp(name->valuestring, wanted[i].path)) continue;
        hub_file *f = &files[i];
        f->listed = 1;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(sib, "size");
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(sib, "lfs");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(lfs, "sha256");
        if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 9.0e18)
            f->size = (int64_t)size->valuedouble;
        if (cJSON_IsString(sha) && is_hex(sha->valuestring, RG_SHA256_HEX_LEN))
            memcpy(f->sha256, sha->valuestring, RG_SHA256_HEX_LEN + 1);
    }
}

static rg_status fetch_listing(pull *p, const char *rev, hub_file files[N_WANTED], rg_error *err)
{
    rg_buf url, body;
    rg_buf_init(&url, RG_HTTP_URL_MAX);
    rg_buf_init(&body, RG_HUB_LISTING_MAX);
    cJSON *j = NULL;
    rg_http_response resp;
    rg_status rc = listing_url(p, rev, &url);
    if (rc) {
        rc = rg_fail(err, rc, "listing URL too long");
        goto out;
    }
    if ((rc = rg_http_get_buf(p->http, rg_buf_str(&url), NULL, &body, &resp, err))) goto out;
    if (resp.status == 401 || resp.status == 403 || resp.status == 404) {
        /* the hub answers 401 for repos that do not exist (or are private) */
        rc = rg_fail(err, RG_ENOTFOUND, "repository %s (revision %s) not found at %s (HTTP %ld)",
                     p->repo, rev, p->endpoint, resp.status);
        goto out;
    }
    if (resp.status != 200) {
        rc = rg_fail(err, RG_ENET, "%s: HTTP %ld", rg_buf_str(&url), resp.status);
        goto out;
    }
    j = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(j, "siblings");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(sib)) {
        rc = rg_fail(err, RG_EPARSE, "%s: not a model listing", rg_buf_str(&url));
        goto out;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, sib) read_sibling(s, files);
    /* pin every file to the commit the listing describes */
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "sha");
    const char *commit =
        cJSON_IsString(sha) && is_hex(sha->valuestring, COMMIT_HEX_LEN) ? sha->valuestring : rev;
    snprintf(p->commit, sizeof p->commit, "%s", commit);
out:
    cJSON_Delete(j);
    rg_buf_free(&url);
    rg_buf_free(&body);
    return rc;
}

/* ---- One file ---- */

/* Receives the body of one attempt: into the part file and the hash. */
typedef struct sink {
    const pull *p;
    const char *path;
    int fd;
    rg_sha256 sha;
    uint64_t have;   /* bytes in the part file, all hashed */
    uint64_t offset; /* where this attempt's range starts */
    uint64_t limit;
    uint64_t total; /* expected size, 0 unknown */
    uint64_t got;   /* bytes received in this attempt */
    int restart;    /* the part file was dropped: another attempt is worth it */
    int started;
    const rg_http_response *resp;
} sink;

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* First bytes of a response: a 206 must resume exactly where the part ends. */
static rg_status sink_start(sink *s, rg_error *err)
{
    if (s->offset == 0) return RG_OK;
    if (s->resp->status == 206) {
        const char *cr = s->resp->content_range;
        char *end = NULL;
        unsigned long long start = 0;
        if (!strncasecmp(cr, "bytes ", 6)) start = strtoull(cr + 6, &end, 10);
        if (!end || *end != '-' || start != s->offset)
            return rg_fail(err, RG_ECORRUPT, "%s: server resumed at '%s', not at byte %llu",
                           s->path, cr, (unsigned long long)s->offset);
        return RG_OK;
    }
    /* 200 to a range request: the server sends the whole file, start over */
    rg_log(RG_LOG_INFO, "%s: server ignored the range, downloading from the start", s->path);
    if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
        return rg_fail(err, RG_EIO, "%s.part: %s", s->path, strerror(errno));
    rg_sha256_init(&s->sha);
    s->have = 0;
    return RG_OK;
}

static rg_status sink_data(void *ctx, const void *data, size_t n, rg_error *err)
{
    sink *s = ctx;
    if (!s->started) {
        s->started = 1;
        rg_status rc = sink_start(s, err);
        if (rc) return rc;
    }
    if (n > s->limit - s->have)
        return rg_fail(err, RG_ELIMIT, "%s: larger than the limit of %llu bytes", s->path,
                       (unsigned long long)s->limit);
    if (write_all(s->fd, data, n) != 0)
        return rg_fail(err, RG_EIO, "%s.part: %s", s->path, strerror(errno));
    rg_sha256_update(&s->sha, data, n);
    s->have += n;
    s->got += n;
    if (s->p->o->progress) s->p->o->progress(s->p->o->progress_ctx, s->path, s->have, s->total, 0);
    return RG_OK;
}

/* Hashes the first len bytes of fd into ctx. */
static rg_status hash_fd(int fd, uint64_t len, rg_sha256 *ctx, const char *what, rg_error *err)
{
    char *buf = rg_malloc(HASH_CHUNK);
    if (!buf) return rg_fail(err, RG_ENOMEM, "out of memory");
    rg_status rc = RG_OK;
    uint64_t at = 0;
    while (at < len) {
        size_t want = len - at < HASH_CHUNK ? (size_t)(len - at) : HASH_CHUNK;
        ssize_t k = pread(fd, buf, want, (off_t)at);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            rc = rg_fail(err, RG_EIO, "%s: read failed", what);
            break;
        }
        rg_sha256_update(ctx, buf, (size_t)k);
        at += (uint64_t)k;
    }
    rg_free(buf);
    return rc;
}

static void hex32(const unsigned char d[32], char out[RG_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[RG_SHA256_HEX_LEN] = 0;
}

/* Whether the file at path has the listed size and SHA-256 (known to be given). */
static int already_there(const char *path, const hub_file *f)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat sb;
    int ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (f->size < 0 || sb.st_size == f->size);
    rg_sha256 ctx;
    rg_sha256_init(&ctx);
    if (ok && hash_fd(fd, (uint64_t)sb.st_size, &ctx, path, NULL) == RG_OK) {
        unsigned char d[32];
        char got[RG_SHA256_HEX_LEN + 1];
        rg_sha256_final(&ctx, d);
        hex32(d, got);
        ok = !strcmp(got, f->sha256);
    } else {
        ok = 0;
    }
    close(fd);
    return ok;
}

/* Makes the folders of dest/path above the file. */
static rg_status make_parents(const char *full, size_t dest_len, rg_error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", full);
    for (char *p = dir + dest_len + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return rg_fail(err, RG_EIO, "cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
    return RG_OK;
}

/* fsync of the folder, so the rename itself survives a crash. */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return;
    *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* The checksum to hold the file to: the listing's, else the response's. */
static rg_status expected_sha(const char *path, const hub_file *f, const rg_http_response *resp,
                              char out[RG_SHA256_HEX_LEN + 1], rg_error *err)
{
    char hdr[RG_SHA256_HEX_LEN + 1] = "";
    if (!etag_sha256(resp->linked_etag, hdr)) etag_sha256(resp->etag, hdr);
    if (f->sha256[0] && hdr[0] && strcmp(f->sha256, hdr))
        return rg_fail(err, RG_ECORRUPT,
                       "%s: the hub's listing and its response disagree on the checksum", path);
    snprintf(out, RG_SHA256_HEX_LEN + 1, "%s", f->sha256[0] ? f->sha256 : hdr);
    return RG_OK;
}

/*
 * One request for path, resuming the part file. s->got and s->restart tell
 * the caller whether this attempt made progress (so another is worth it).
 */
static rg_status attempt(pull *p, const char *path, const hub_file *f, const char *url,
                         const char *part, const char *final, sink *s, rg_error *err)
{
    rg_http_response resp;
    memset(&resp, 0, sizeof resp);
    s->fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (s->fd < 0) return rg_fail(err, RG_EIO, "%s: %s", part, strerror(errno));
    rg_status rc = RG_OK;
    struct stat sb;
    if (fstat(s->fd, &sb) != 0) {
        rc = rg_fail(err, RG_EIO, "%s: %s", part, strerror(errno));
        goto out;
    }
    s->have = (uint64_t)sb.st_size;
    /*
     * Resume only what a known checksum will vouch for: without one, a part
     * file from an older commit could silently mix with the new bytes.
     */
    if (!f->sha256[0] || s->have > s->limit || (f->size >= 0 && s->have > (uint64_t)f->size)) {
        if (ftruncate(s->fd, 0) != 0) {
            rc = rg_fail(err, RG_EIO, "%s: %s", part, strerror(errno));
            goto out;
        }
        s->have = 0;
    }
    rg_sha256_init(&s->sha);
    if (s->have && (rc = hash_fd(s->fd, s->have, &s->sha, part, err))) goto out;
    if (lseek(s->fd, (off_t)s->have, SEEK_SET) < 0) {
        rc = rg_fail(err, RG_EIO, "%s: %s", part, strerror(errno));
        goto out;
    }
    s->offset = s->have;
    s->started = 0;
    s->resp = &resp;
    /* a part file as long as the listed size only needs checking */
    if (!(f->size > 0 && s->have == (uint64_t)f->size)) {
        if (s->have)
            rg_log(RG_LOG_INFO, "%s: resuming at byte %llu", path, (unsigned long long)s->have);
        /* a 2 GB file on a slow line may take an hour: only the stall limit applies */
        rg_http_request req = {.url = url,
                               .range_from = s->have,
                               .max_body = s->limit,
                               .timeout_ms = -1,
                               .on_data = sink_data,
                               .ctx = s};
        if ((rc = rg_http_get(p->http, &req, &resp, err))) {
            if (rc == RG_ELIMIT || rc == RG_ECORRUPT) unlink(part); /* no use resuming it */
            goto out;
        }
        if (resp.status == 416 && s->have) {
            /* the part file does not fit the file on the hub any more */
            if (ftruncate(s->fd, 0) != 0) {
                rc = rg_fail(err, RG_EIO, "%s: %s", part, strerror(errno));
                goto out;
            }
            s->restart = 1; /* the next attempt starts clean */
            rc = rg_fail(err, RG_ENET, "%s: HTTP 416 for the part file, starting over", path);
            goto out;
        }
        if (resp.status == 404) {
            rc = rg_fail(err, RG_ENOTFOUND, "%s: not found in %s at %s (HTTP 404)", path, p->repo,
                         p->endpoint);
            goto out;
        }
        if (resp.status != 200 && resp.status != 206) {
            rc = rg_fail(err, RG_ENET, "%s: HTTP %ld", url, resp.status);
            goto out;
        }
    }
    if (f->size >= 0 && s->have < (uint64_t)f->size) {
        rc = rg_fail(err, RG_ENET, "%s: transfer ended at byte %llu of %lld", path,
                     (unsigned long long)s->have, (long long)f->size);
        goto out;
    }
    char want[RG_SHA256_HEX_LEN + 1], got[RG_SHA256_HEX_LEN + 1];
    unsigned char digest[32];
    rg_sha256_final(&s->sha, digest);
    hex32(digest, got);
    if ((rc = expected_sha(path, f, &resp, want, err)) == RG_OK && want[0] && strcmp(want, got))
        rc = rg_fail(err, RG_ECORRUPT,
                     "%s: SHA-256 mismatch (expected %s, got %s); the download was deleted", path,
                     want, got);
    if (rc == RG_OK && f->size >= 0 && s->have != (uint64_t)f->size)
        rc = rg_fail(err, RG_ECORRUPT, "%s: %llu bytes, the hub lists %lld", path,
                     (unsigned long long)s->have, (long long)f->size);
    if (rc != RG_OK) {
        unlink(part); /* resuming a bad file would only repeat the failure */
        goto out;
    }
    if (fsync(s->fd) != 0 || rename(part, final) != 0) {
        rc = rg_fail(err, RG_EIO, "%s: %s", final, strerror(errno));
        goto out;
    }
    sync_parent(final);
    if (!want[0]) rg_log(RG_LOG_INFO, "%s: the hub gave no SHA-256, size checked only", path);
out:
    if (rc != RG_OK && s->have == 0) unlink(part); /* an empty part file helps no one */
    close(s->fd);
    s->fd = -1;
    return rc;
}

static rg_status download(pull *p, size_t i, const hub_file *f, rg_error *err)
{
    const char *path = wanted[i].path;
    char final[PATH_MAX], part[PATH_MAX];
    size_t dest_len = strlen(p->dest);
    if ((size_t)snprintf(final, sizeof final, "%s/%s", p->dest, path) >= sizeof final ||
        (size_t)snprintf(part, sizeof part, "%s.part", final) >= sizeof part)
        return rg_fail(err, RG_ELIMIT, "%s/%s: path too long", p->dest, path);
    uint64_t limit = p->o->max_file_bytes ? p->o->max_file_bytes
                     : wanted[i].weights  ? RG_HUB_MAX_WEIGHTS
                                          : RG_HUB_MAX_SMALL;
    if (f->size >= 0 && (uint64_t)f->size > limit)
        return rg_fail(err, RG_ELIMIT, "%s: %lld bytes, over the limit of %llu bytes", path,
                       (long long)f->size, (unsigned long long)limit);
    if (f->sha256[0] && already_there(final, f)) {
        p->res->up_to_date++;
        p->res->files++;
        return RG_OK;
    }
    rg_status rc = make_parents(final, dest_len, err);
    if (rc) return rc;
    rg_buf url;
    rg_buf_init(&url, RG_HTTP_URL_MAX);
    if (resolve_url(p, path, &url) != RG_OK) {
        rg_buf_free(&url);
        return rg_fail(err, RG_ELIMIT, "%s: URL too long", path);
    }
    sink s = {.p = p,
              .path = path,
              .fd = -1,
              .limit = limit,
              .total = f->size > 0 ? (uint64_t)f->size : 0};
    for (int tries = 0;; tries++) {
        s.got = 0;
        s.restart = 0;
        rc = attempt(p, path, f, rg_buf_str(&url), part, final, &s, err);
        p->res->bytes += s.got;
        if (rc == RG_OK || !(rc == RG_ENET || rc == RG_ETIMEOUT) || (!s.got && !s.restart) ||
            tries >= RG_HUB_RETRIES)
            break;
        if (p->o->progress) /* end the progress line before the warning */
            p->o->progress(p->o->progress_ctx, path, s.have, s.total, 1);
        rg_log(RG_LOG_WARN, "%s; resuming", rg_error_message(err));
    }
    rg_buf_free(&url);
    if (p->o->progress) p->o->progress(p->o->progress_ctx, path, s.have, s.total, 1);
    if (rc == RG_OK) p->res->files++;
    return rc;
}

/* ---- The whole pull ---- */

/* Only one pull at a time may write into dest: their part files would mix. */
static rg_status lock_dest(const char *dest, int *fd, rg_error *err)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/.pull.lock", dest) >= sizeof path)
        return rg_fail(err, RG_ELIMIT, "%s: path too long", dest);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return rg_fail(err, RG_EIO, "%s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        close(*fd);
        *fd = -1;
        return rg_fail(err, RG_EBUSY, "another pull into %s is running", dest);
    }
    return RG_OK;
}

static rg_status check_args(const char *repo_id, const char *endpoint, const char *rev,
                            unsigned *allow, rg_error *err)
{
    if (!rg_hub_valid_repo_id(repo_id))
        return rg_fail(err, RG_EINVAL, "bad repository id '%s' (expected owner/name)", repo_id);
    if (!rg_hub_valid_revision(rev)) return rg_fail(err, RG_EINVAL, "bad revision '%s'", rev);
    if (strncasecmp(endpoint, "http://", 7) && strncasecmp(endpoint, "https://", 8))
        return rg_fail(err, RG_EINVAL, "endpoint %s is not an http or https URL", endpoint);
    if (strlen(endpoint) > RG_HTTP_URL_MAX / 2)
        return rg_fail(err, RG_EINVAL, "endpoint URL too long");
    rg_addr_class host;
    rg_status rc = rg_http_url_host_class(endpoint, &host, err);
    if (rc) return rc;
    /* naming a loopback endpoint is the explicit consent to reach loopback */
    if (host == RG_ADDR_LOOPBACK) *allow |= RG_HTTP_ALLOW_LOOPBACK;
    return RG_OK;
}

rg_status rg_hub_pull(const char *repo_id, const char *dest, const rg_hub_options *opts,
                      rg_hub_result *res, rg_error *err)
{
    rg_hub_options o = opts ? *opts : rg_hub_default_options();
    rg_hub_result scratch;
    if (!res) res = &scratch;
    memset(res, 0, sizeof *res);
    const char *rev = o.revision && o.revision[0] ? o.revision : RG_HUB_DEFAULT_REVISION;
    pull p = {.o = &o, .endpoint = rg_hub_endpoint(&o), .repo = repo_id, .dest = dest, .res = res};
    rg_http_options ho = rg_http_default_options();
    rg_status rc = check_args(repo_id, p.endpoint, rev, &ho.allow, err);
    if (rc) return rc;
    ho.allow |= o.allow;
    p.endpoint_len = strlen(p.endpoint);
    while (p.endpoint_len && p.endpoint[p.endpoint_len - 1] == '/')
        p.endpoint_len--;
    if (mkdir(dest, 0777) != 0 && errno != EEXIST)
        return rg_fail(err, RG_EIO, "cannot create %s: %s", dest, strerror(errno));
    int lock = -1;
    if ((rc = lock_dest(dest, &lock, err))) return rc;
    if ((rc = rg_http_open(&ho, &p.http, err))) goto out;
    hub_file files[N_WANTED];
    for (size_t i = 0; i < N_WANTED; i++)
        files[i] = (hub_file){.size = -1};
    if ((rc = fetch_listing(&p, rev, files, err))) goto out;
    snprintf(res->commit, sizeof res->commit, "%s", p.commit);
    for (size_t i = 0; i < N_WANTED; i++)
        if (wanted[i].required && !files[i].listed) {
            rc = rg_fail(err, RG_ENOTFOUND,
                         "%s has no %s (ragd needs config.json, tokenizer.json and "
                         "model.safetensors; other weight formats are not read)",
                         repo_id, wanted[i].path);
            goto out;
        }
    for (size_t i = 0; i < N_WANTED && rc == RG_OK; i++)
        if (files[i].listed) rc = download(&p, i, &files[i], err);
out:
    rg_http_close(p.http);
    close(lock);
    return rc;
}
