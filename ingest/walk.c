/*
 * walk.c — the files an ingest or sync takes: named files, directories
 * walked in name order (depth and file-count limits, include and exclude
 * globs, symbolic links followed only inside the root), and reading one.
 */
#include "ingest/pipeline_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/base/log.h"
#include "engine/base/mem.h"
#include "ingest/loader.h"

static int glob_hit(const char *const *globs, size_t n, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < n; i++) {
        if (fnmatch(globs[i], path, 0) == 0 || fnmatch(globs[i], base, 0) == 0) return 1;
        /* Globs with a slash (like "drafts/x.md") match anywhere in the path, not only from the
         * root. */
        if (strchr(globs[i], '/')) {
            for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/'))
                if (fnmatch(globs[i], p + 1, 0) == 0) return 1;
        }
    }
    return 0;
}

static int wanted(const rg_ingest_options *o, const char *path)
{
    if (o->n_include && !glob_hit(o->include, o->n_include, path)) return 0;
    if (o->n_exclude && glob_hit(o->exclude, o->n_exclude, path)) return 0;
    return 1;
}

static rg_status walk_add(rg_walk *w, const char *path, const struct stat *sb, int explicit_arg,
                          rg_error *err)
{
    if (w->n >= RG_INGEST_MAX_FILES)
        return rg_fail(err, RG_ELIMIT, "more than %u files in one run", RG_INGEST_MAX_FILES);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        rg_walk_file *f = rg_realloc(w->files, cap * sizeof *f);
        if (!f) return rg_fail(err, RG_ENOMEM, "out of memory listing files");
        w->files = f;
        w->cap = cap;
    }
    char *copy = rg_strdup(path);
    if (!copy) return rg_fail(err, RG_ENOMEM, "out of memory listing files");
    int64_t ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + (int64_t)sb->st_mtim.tv_nsec;
    w->files[w->n++] =
        (rg_walk_file){copy, (int64_t)sb->st_size, (int64_t)sb->st_mtime, ns, explicit_arg};
    return RG_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static rg_status walk_dir(rg_walk *w, const char *dir, int depth, rg_error *err);

/* 1 if path resolves inside root (root NULL: always). */
static int inside_root(const char *root, const char *path)
{
    if (!root) return 1;
    char real[PATH_MAX];
    if (!realpath(path, real)) return 0;
    size_t n = strlen(root);
    return strncmp(real, root, n) == 0 && (real[n] == '\0' || real[n] == '/' || n == 1);
}

static rg_status walk_entry(rg_walk *w, const char *path, int depth, rg_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return RG_OK; /* vanished or dangling link: nothing to ingest */
    if (!inside_root(w->opt->root, path)) {
        rg_log(RG_LOG_WARN, "%s leads outside %s: skipped", path, w->opt->root);
        return RG_OK;
    }
    if (S_ISDIR(sb.st_mode)) {
        if (depth >= RG_INGEST_MAX_DEPTH) return RG_OK;
        return walk_dir(w, path, depth + 1, err);
    }
    if (!S_ISREG(sb.st_mode) || !wanted(w->opt, path)) return RG_OK;
    return walk_add(w, path, &sb, 0, err);
}

static rg_status walk_dir(rg_walk *w, const char *dir, int depth, rg_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return rg_fail(err, RG_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    rg_status st = RG_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files, ., .. and .git */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = rg_realloc(names, nc * sizeof *nn);
            if (!nn) {
                st = rg_fail(err, RG_ENOMEM, "out of memory listing %s", dir);
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = rg_strdup(e->d_name))) {
            st = rg_fail(err, RG_ENOMEM, "out of memory listing %s", dir);
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n && !st; i++) {
        char path[PATH_MAX];
        int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (k < 0 || (size_t)k >= sizeof path) continue;
        st = walk_entry(w, path, depth, err);
    }
out:
    for (size_t i = 0; i < n; i++)
        rg_free(names[i]);
    rg_free(names);
    closedir(d);
    return st;
}

rg_status rg_walk_read_file(const char *path, char **data, size_t *len, rg_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat sb;
    rg_status st = RG_OK;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = rg_fail(err, RG_EIO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > RG_LOADER_MAX_FILE_BYTES) {
        st = rg_fail(err, RG_ELIMIT, "%s: file is %lld bytes; the limit is %u", path,
                     (long long)sb.st_size, RG_LOADER_MAX_FILE_BYTES);
        goto out;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    buf = rg_malloc(n + 1);
    if (!buf) {
        st = rg_fail(err, RG_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = rg_fail(err, RG_EIO, "%s: read failed: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) break; /* shrank while reading: take what is there */
        got += (size_t)r;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
out:
    rg_free(buf);
    close(fd);
    return st;
}

void rg_walk_free(rg_walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        rg_free(w->files[i].path);
    rg_free(w->files);
}

rg_status rg_walk_collect(rg_walk *w, const char *const *paths, size_t n_paths, rg_error *err)
{
    for (size_t i = 0; i < n_paths; i++) {
        char abs[PATH_MAX];
        struct stat sb;
        if (!realpath(paths[i], abs) || stat(abs, &sb) != 0)
            return rg_fail(err, errno == ENOENT ? RG_ENOTFOUND : RG_EIO, "%s: %s", paths[i],
                           strerror(errno));
        if (!inside_root(w->opt->root, abs))
            return rg_fail(err, RG_EINVAL, "%s is outside %s", paths[i], w->opt->root);
        rg_status st =
            S_ISDIR(sb.st_mode) ? walk_dir(w, abs, 0, err) : walk_add(w, abs, &sb, 1, err);
        if (st) return st;
    }
    return RG_OK;
}

int rg_walk_path_cmp(const void *a, const void *b)
{
    return strcmp(((const rg_walk_file *)a)->path, ((const rg_walk_file *)b)->path);
}

int rg_walk_has(const rg_walk *w, const char *path)
{
    rg_walk_file key = {.path = (char *)path};
    return bsearch(&key, w->files, w->n, sizeof *w->files, rg_walk_path_cmp) != NULL;
}
