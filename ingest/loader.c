/*
 * loader.c — choosing a loader, refusing what is not text, reading files.
 *
 * Every check that does not depend on the format (size, UTF-16, binary
 * content) happens here, before a loader sees the data, so loaders only
 * deal with their own syntax.
 */
#include "ingest/loader.h"

#include <errno.h>
#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/base/mem.h"
#include "engine/base/utf8.h"

/* Binary sniffing looks at this many leading bytes. */
#define SNIFF_BYTES 8192
/* More than 1 in this many control bytes in the sniffed part means binary. */
#define SNIFF_CONTROL_RATIO 10
/* Room for strerror_r's text in messages. */
#define ERRNO_MSG_MAX 128
/* libmagic looks at this many leading bytes (OOXML's first zip entries are in them). */
#define MAGIC_SNIFF_BYTES (64u << 10)

/* Text comes last: it claims every file without an extension that no one else sniffs. */
static const rg_loader *const loaders[] = {
    &rg_loader_markdown, &rg_loader_html, &rg_loader_docx,  &rg_loader_pdf,   &rg_loader_csv,
    &rg_loader_tsv,      &rg_loader_json, &rg_loader_jsonl, &rg_loader_email, &rg_loader_text};
/* Loaders of binary containers: they get the bytes the binary check refuses to others. */
static const rg_loader *const binary_loaders[] = {&rg_loader_docx, &rg_loader_pdf};

/*
 * Content types (libmagic's MIME names) to loaders, by name so that an entry
 * may name a loader that is not registered (it is then skipped). by_content:
 * the type has a signature strong enough to take a file whose extension no
 * loader knows (x.bin); other types only decide for files without one.
 */
static const struct mime_loader {
    const char *mime;
    const char *loader;
    int by_content;
} mime_loaders[] = {
    {"application/pdf", "pdf", 1},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", 1},
    {"text/html", "html", 0},
    {"text/plain", "text", 0},
    {"text/markdown", "markdown", 0},
    {"text/csv", "csv", 0},
    {"application/json", "json", 0},
    {"message/rfc822", "email", 0},
};

static const char *display_name(const char *path)
{
    return path ? path : "(buffer)";
}

/* --- helpers for loaders ---------------------------------------------------- */

rg_status rg_loader_check_utf8(const char *data, size_t n, rg_error *err)
{
    size_t bad;
    if (rg_utf8_valid(data, n, &bad)) return RG_OK;
    return rg_fail(err, RG_EUTF8, "invalid UTF-8 at byte %zu", bad);
}

size_t rg_loader_bom_len(const char *data, size_t n)
{
    return n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* The extension of path (without the dot), or NULL. */
static const char *path_ext(const char *path)
{
    if (!path) return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base && dot[1] ? dot + 1 : NULL;
}

static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca += 'a' - 'A';
        if (ca != cb) return 1;
        if (ca == 0) return 0;
    }
}

int rg_path_has_ext(const char *path, const char *const *exts)
{
    const char *ext = path_ext(path);
    if (!ext) return 0;
    for (; *exts; exts++)
        if (ascii_casecmp(ext, *exts) == 0) return 1;
    return 0;
}

int rg_path_has_no_ext(const char *path)
{
    return path_ext(path) == NULL;
}

int rg_next_line(const char *data, size_t n, size_t *pos, const char **line, size_t *len)
{
    size_t i = *pos;
    if (i >= n) return 0;
    size_t j = i;
    while (j < n && data[j] != '\n' && data[j] != '\r')
        j++;
    *line = data + i;
    *len = j - i;
    if (j < n && data[j++] == '\r' && j < n && data[j] == '\n') j++;
    *pos = j;
    return 1;
}

/* --- choosing ------------------------------------------------------------- */

const rg_loader *rg_loader_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof loaders / sizeof loaders[0]; i++)
        if (strcmp(loaders[i]->name, name) == 0) return loaders[i];
    return NULL;
}

/* One libmagic handle for the process: handles are not thread-safe, and loading is slow. */
static pthread_once_t magic_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t magic_lock = PTHREAD_MUTEX_INITIALIZER;
static magic_t magic_handle; /* NULL when libmagic has no database */

static void magic_setup(void)
{
    magic_t m = magic_open(MAGIC_MIME_TYPE);
    if (m && magic_load(m, NULL) != 0) {
        magic_close(m);
        m = NULL;
    }
    magic_handle = m;
}

int rg_loader_detect_type(const char *data, size_t n, char *mime)
{
    mime[0] = '\0';
    if (!data || !n) return 0;
    pthread_once(&magic_once, magic_setup);
    if (!magic_handle) return 0;
    pthread_mutex_lock(&magic_lock);
    const char *t = magic_buffer(magic_handle, data, n < MAGIC_SNIFF_BYTES ? n : MAGIC_SNIFF_BYTES);
    if (t) snprintf(mime, RG_MIME_MAX, "%s", t);
    pthread_mutex_unlock(&magic_lock);
    return mime[0] != '\0';
}

/* The registered loader for a MIME type; with strong_only, only types with a signature. */
static const rg_loader *loader_for_type(const char *mime, int strong_only)
{
    for (size_t i = 0; i < sizeof mime_loaders / sizeof mime_loaders[0]; i++)
        if (strcmp(mime_loaders[i].mime, mime) == 0 && (!strong_only || mime_loaders[i].by_content))
            return rg_loader_by_name(mime_loaders[i].loader);
    return NULL;
}

const rg_loader *rg_loader_find(const char *path, const char *data, size_t n)
{
    int no_ext = rg_path_has_no_ext(path);
    /* a known extension decides; its loader may still refuse the content */
    for (size_t i = 0; !no_ext && i < sizeof loaders / sizeof loaders[0]; i++)
        if (loaders[i]->can_load(path, NULL, 0))
            return !data || loaders[i]->can_load(path, data, n) ? loaders[i] : NULL;
    char mime[RG_MIME_MAX];
    if (rg_loader_detect_type(data, n, mime)) {
        const rg_loader *l = loader_for_type(mime, !no_ext);
        if (l) return l;
    }
    for (size_t i = 0; no_ext && i < sizeof loaders / sizeof loaders[0]; i++)
        if (loaders[i]->can_load(path, data, n)) return loaders[i];
    return NULL;
}

static int starts_with(const char *data, size_t n, const char *sig, size_t len)
{
    return n >= len && memcmp(data, sig, len) == 0;
}

int rg_looks_binary(const char *data, size_t n)
{
    static const struct {
        const char *sig;
        size_t len;
    } sigs[] = {
        {"%PDF-", 5},
        {"PK\x03\x04", 4},
        {"PK\x05\x06", 4},
        {"\x89PNG\r\n\x1a\n", 8},
        {"\x7f"
         "ELF",
         4},
        {"GIF87a", 6},
        {"GIF89a", 6},
        {"\xFF\xD8\xFF", 3},
        {"\x1F\x8B", 2},
        {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8},
        {"7z\xBC\xAF\x27\x1C", 6},
        {"Rar!\x1A\x07", 6},
        {"\xCA\xFE\xBA\xBE", 4},
        {"\xCF\xFA\xED\xFE", 4},
        {"OggS", 4},
        {"SQLite format 3", 15},
        {"BZh", 3},
    };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (starts_with(data, n, sigs[i].sig, sigs[i].len)) return 1;
    size_t m = n < SNIFF_BYTES ? n : SNIFF_BYTES, control = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == 0) return 1;
        /* tab, line ends, form feed and ESC (ANSI colours in logs) are text */
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' &&
             c != 0x1B) ||
            c == 0x7F)
            control++;
    }
    return control * SNIFF_CONTROL_RATIO > m;
}

/* --- loading -------------------------------------------------------------- */

static int is_utf16_bom(const char *data, size_t n)
{
    return starts_with(data, n, "\xFF\xFE", 2) || starts_with(data, n, "\xFE\xFF", 2);
}

static int reads_binary(const rg_loader *loader)
{
    for (size_t i = 0; loader && i < sizeof binary_loaders / sizeof binary_loaders[0]; i++)
        if (binary_loaders[i] == loader) return 1;
    return 0;
}

/*
 * Binary content where text was expected. When the content is a format some
 * loader reads (a PDF named .txt), the message says so: the name is wrong,
 * and renaming the file is the fix.
 */
static rg_status binary_error(rg_error *err, const char *name, const rg_loader *by_name,
                              const char *data, size_t n)
{
    char mime[RG_MIME_MAX];
    if (!rg_loader_detect_type(data, n, mime))
        return rg_fail(err, RG_EBINARY, "%s: looks like a binary file", name);
    const rg_loader *by_content = loader_for_type(mime, 1);
    if (by_name && by_content)
        return rg_fail(err, RG_EBINARY,
                       "%s: the content is %s but the file name says %s; rename it to load it "
                       "as %s",
                       name, mime, by_name->name, by_content->name);
    return rg_fail(err, RG_EBINARY, "%s: looks like a binary file (%s)", name, mime);
}

rg_status rg_load_buffer(const char *path, const char *data, size_t n, rg_document *doc,
                         rg_error *err)
{
    return rg_load_buffer_masked(path, data, n, 0, NULL, doc, err);
}

rg_status rg_load_buffer_masked(const char *path, const char *data, size_t n, unsigned pii_types,
                                rg_pii_counts *counts, rg_document *doc, rg_error *err)
{
    rg_load_options o = {.pii_types = pii_types, .counts = counts};
    return rg_load_buffer_with(path, data, n, &o, doc, err);
}

rg_status rg_load_buffer_with(const char *path, const char *data, size_t n,
                              const rg_load_options *opt, rg_document *doc, rg_error *err)
{
    rg_load_options o = opt ? *opt : (rg_load_options){0};
    const char *name = display_name(path);
    if (n > RG_LOADER_MAX_FILE_BYTES)
        return rg_fail(err, RG_ELIMIT, "%s: %zu bytes is over the file limit of %u bytes", name, n,
                       RG_LOADER_MAX_FILE_BYTES);
    if (is_utf16_bom(data, n))
        return rg_fail(err, RG_EUNSUPPORTED, "%s: UTF-16 text is not supported, convert to UTF-8",
                       name);
    const rg_loader *loader = rg_loader_find(path, data, n);
    if (!reads_binary(loader) && rg_looks_binary(data, n))
        return binary_error(err, name, loader, data, n);
    if (!loader) return rg_fail(err, RG_EUNSUPPORTED, "%s: no loader for this file type", name);
    rg_doc_builder *b = rg_doc_builder_new();
    if (!b) return rg_fail(err, RG_ENOMEM, "%s: out of memory", name);
    rg_doc_builder_mask(b, o.pii_types, o.counts);
    rg_doc_builder_set_json_fields(b, o.json);
    rg_error inner;
    rg_error_clear(&inner);
    rg_document tmp;
    rg_status st = loader->load(path, data, n, b, &inner);
    if (st == RG_OK) st = rg_doc_builder_finish(b, &tmp, &inner);
    rg_doc_builder_free(b);
    if (st) return rg_fail(err, st, "%s: %s", name, rg_error_message(&inner));
    tmp.media_type = loader->media_type;
    tmp.loader = loader;
    *doc = tmp;
    return RG_OK;
}

static rg_status open_error(rg_error *err, const char *path, int e)
{
    char msg[ERRNO_MSG_MAX];
    if (e == ENOENT || e == ENOTDIR) return rg_fail(err, RG_ENOTFOUND, "%s: no such file", path);
    if (strerror_r(e, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "error %d", e);
    return rg_fail(err, RG_EIO, "%s: cannot read: %s", path, msg);
}

rg_status rg_load_file(const char *path, rg_document *doc, rg_error *err)
{
    if (!path) return rg_fail(err, RG_EINVAL, "no file name");
    FILE *f = fopen(path, "rb");
    if (!f) return open_error(err, path, errno);
    char *data = NULL;
    rg_status st = RG_OK;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        st = open_error(err, path, errno);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = rg_fail(err, RG_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    if ((unsigned long long)sb.st_size > RG_LOADER_MAX_FILE_BYTES) {
        st = rg_fail(err, RG_ELIMIT, "%s: %lld bytes is over the file limit of %u bytes", path,
                     (long long)sb.st_size, RG_LOADER_MAX_FILE_BYTES);
        goto out;
    }
    size_t size = (size_t)sb.st_size;
    data = rg_malloc(size ? size : 1);
    if (!data) {
        st = rg_fail(err, RG_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
        goto out;
    }
    /* a file that shrank while we read is taken as it is now; one that grew is cut */
    size_t got = fread(data, 1, size, f);
    if (got < size && ferror(f)) {
        st = open_error(err, path, errno);
        goto out;
    }
    st = rg_load_buffer(path, data, got, doc, err);
out:
    rg_free(data);
    fclose(f);
    return st;
}
