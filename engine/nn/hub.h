/*
 * hub.h — downloads an encoder model folder from the Hugging Face hub, or
 * from a mirror that speaks its HTTP API (HF_ENDPOINT).
 *
 * The repo's file listing comes from GET {endpoint}/api/models/{repo}/
 * revision/{rev}?blobs=true (siblings[].rfilename, sizes, LFS SHA-256 and
 * the commit id); each file ragd reads is fetched from {endpoint}/{repo}/
 * resolve/{commit}/{path}, pinned to the listed commit so the files match
 * each other. Other weight formats (PyTorch, ONNX, ...) are never fetched.
 *
 * Every file goes through PATH.part: a part file left by an earlier attempt
 * is resumed with a Range request, the SHA-256 is checked when the hub gives
 * one (the listing's lfs.sha256, else an X-Linked-Etag / ETag that is a
 * SHA-256), and only a complete, verified file is renamed into place. A
 * checksum mismatch deletes the part file. A dropped connection is resumed
 * within the same call up to RG_HUB_RETRIES times.
 *
 * Network safety: see http.h. Loopback addresses are reachable only when
 * the endpoint itself names a loopback address ("http://127.0.0.1:8080",
 * "http://[::1]:8080", "http://localhost:8080"); private addresses only when
 * the caller allows them in the options.
 */
#ifndef RG_NN_HUB_H
#define RG_NN_HUB_H

#include <stdint.h>

#include "engine/base/status.h"

#define RG_HUB_DEFAULT_ENDPOINT "https://huggingface.co"
#define RG_HUB_DEFAULT_REVISION "main"
/* Longest repo id ("owner/name"), revision, and file path inside a repo. */
#define RG_HUB_REPO_ID_MAX  200
#define RG_HUB_REVISION_MAX 128
#define RG_HUB_PATH_MAX     256
/* Largest file listing (JSON) read. */
#define RG_HUB_LISTING_MAX (16u << 20)
/* Largest model.safetensors accepted (bge-m3's is 2.3 GB). */
#define RG_HUB_MAX_WEIGHTS (8ull << 30)
/* Largest other file accepted (bge-m3's tokenizer.json is 17 MB). */
#define RG_HUB_MAX_SMALL (64u << 20)
/* Attempts at one file after the first, each resuming where the last stopped. */
#define RG_HUB_RETRIES 3

/*
 * Progress of one file: done of total bytes (total 0 when unknown).
 * line_end is 1 on the last call for that file, and before a warning about
 * it is logged (a retry), so a progress line can end there.
 */
typedef void (*rg_hub_progress_fn)(void *ctx, const char *path, uint64_t done, uint64_t total,
                                   int line_end);

typedef struct rg_hub_options {
    const char *endpoint;        /* NULL: $HF_ENDPOINT, else RG_HUB_DEFAULT_ENDPOINT */
    const char *revision;        /* NULL: RG_HUB_DEFAULT_REVISION (branch, tag or commit) */
    unsigned allow;              /* RG_HTTP_ALLOW_* bits beyond what the endpoint implies */
    uint64_t max_file_bytes;     /* > 0: cap on every file instead of the defaults above */
    rg_hub_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} rg_hub_options;

rg_hub_options rg_hub_default_options(void);

/* What a pull did. */
typedef struct rg_hub_result {
    char commit[RG_HUB_REVISION_MAX + 1]; /* the commit the files come from */
    int files;                            /* files now in place */
    int up_to_date;                       /* of which already present and verified */
    uint64_t bytes;                       /* bytes downloaded in this call */
} rg_hub_result;

/* "owner/name": letters, digits, '-', '_', '.', no "..", no leading '.' or '-'. */
int rg_hub_valid_repo_id(const char *repo_id);
/* A branch, tag or commit: letters, digits, '-', '_', '.', '/', no "..". */
int rg_hub_valid_revision(const char *rev);
/* A relative path inside a repo: no leading '/', no "." or ".." parts, safe characters. */
int rg_hub_valid_path(const char *path);

/* The endpoint the options name (for messages): never NULL. */
const char *rg_hub_endpoint(const rg_hub_options *o);

/*
 * Downloads the files of repo_id that ragd reads into the folder dest
 * (created if missing; its parent must exist). Files already there with a
 * matching SHA-256 are kept. res may be NULL. Errors: RG_EINVAL (bad repo
 * id, revision or endpoint), RG_ENOTFOUND (no such repo or revision, or no
 * model.safetensors in it), RG_ECORRUPT (checksum or size mismatch; the
 * part file is deleted), RG_ELIMIT (a file over its size limit, too many
 * redirects), RG_ENET / RG_ETIMEOUT (network; part files are kept for the
 * next attempt), RG_EBUSY (another pull into dest is running), RG_EIO,
 * RG_ENOMEM. Files already renamed into place stay on failure.
 */
rg_status rg_hub_pull(const char *repo_id, const char *dest, const rg_hub_options *o,
                      rg_hub_result *res, rg_error *err);

#endif
