/*
 * cmd_model.c — `ragd embed` and `ragd model import|list|pull`.
 *
 * Models are registered under DATA/models/NAME: `import` makes it a
 * symbolic link to the model folder (ragd reads Hugging Face folders as they
 * are, so importing copies nothing); `pull` downloads the folder from the
 * Hugging Face hub into DATA/models/NAME itself (engine/nn/hub.h).
 * DATA/models/default names the model used when --model is not given, and
 * is set by the first import or pull.
 *
 * `pull` talks to $HF_ENDPOINT or --endpoint (default huggingface.co) and,
 * against SSRF, connects to public addresses only. Loopback is allowed when
 * the endpoint itself names a loopback address (a local mirror, or a test
 * server: --endpoint http://127.0.0.1:8080); --allow-private also allows
 * private and link-local addresses (a mirror inside the network).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "api/cli.h"
#include "api/cli_util.h"
#include "engine/base/http.h"
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"
#include "engine/nn/hub.h"

/* Longest model name accepted by import and pull. */
#define MODEL_NAME_MAX 128
/* Seconds between two progress lines of a download. */
#define PULL_PROGRESS_S 0.2

#define PULL_USAGE                                                                                 \
    "usage: ragd model pull REPO_ID [--revision REV] [--name NAME] [--endpoint URL] "              \
    "[--allow-private] [--max-size BYTES]"

static int fail(int code, const char *fmt, const char *arg)
{
    fprintf(stderr, "ragd: error: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return code;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* DATA/models[/name] into out. */
static int models_path(const rg_cli *cli, const char *name, char *out, size_t cap)
{
    const char *data = cli && cli->data_dir ? cli->data_dir : "./ragd-data";
    int n = name ? snprintf(out, cap, "%s/models/%s", data, name)
                 : snprintf(out, cap, "%s/models", data);
    return n > 0 && (size_t)n < cap;
}

/* A folder path as given, else a registered name, else the default model. */
static int resolve_model(const rg_cli *cli, const char *arg, char *out, size_t cap)
{
    if (arg && is_dir(arg)) {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/config.json", arg);
        if (access(probe, R_OK) == 0) return snprintf(out, cap, "%s", arg) > 0;
    }
    return models_path(cli, arg ? arg : "default", out, cap) && is_dir(out);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MODEL_NAME_MAX || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

static void print_vector(const float *v, int dim)
{
    putchar('[');
    for (int d = 0; d < dim; d++)
        printf(d ? ",%.8g" : "%.8g", (double)v[d]);
    putchar(']');
}

int cmd_embed(const rg_cli *cli, int argc, char **argv)
{
    const char *model = NULL;
    rg_encoder_options o = rg_encoder_default_options();
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            size_t n;
            if (!cli_size("--threads", argv[++i], 1, CLI_THREADS_MAX, &n)) return 2;
            o.threads = (int)n;
        } else if (!strcmp(argv[i], "--int8"))
            o.int8 = 1;
        else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else
            return fail(2,
                        "embed: unknown option %s (usage: ragd embed [--model DIR|NAME] "
                        "[--threads N] [--int8] TEXT...)",
                        argv[i]);
    }
    if (i >= argc)
        return fail(2, "%s", "embed: no text given (usage: ragd embed [--model DIR|NAME] TEXT...)");
    char dir[PATH_MAX];
    if (!resolve_model(cli, model, dir, sizeof dir))
        return fail(1, "embed: no model %s (give a folder, or run ragd model import DIR)",
                    model ? model : "default");
    rg_encoder *enc;
    rg_error err;
    if (rg_encoder_open(dir, &o, &enc, &err) != RG_OK) return fail(1, "%s", rg_error_message(&err));
    if (o.int8 && !rg_encoder_int8(enc))
        fprintf(stderr, "embed: int8 weights do not run natively on this CPU (no VNNI); fp32\n");
    size_t n = (size_t)(argc - i);
    int dim = rg_encoder_dim(enc);
    float *out = rg_malloc(n * (size_t)dim * sizeof *out);
    int rc = 0;
    if (!out) {
        rc = fail(1, "%s", "embed: out of memory");
    } else if (rg_encoder_embed(enc, (const char *const *)(argv + i), NULL, n, out, &err) !=
               RG_OK) {
        rc = fail(1, "embed: %s", rg_error_message(&err));
    } else {
        printf("{\"dim\":%d,\"normalized\":%s,\"vectors\":[", dim,
               rg_encoder_normalizes(enc) ? "true" : "false");
        for (size_t k = 0; k < n; k++) {
            if (k) putchar(',');
            print_vector(out + k * (size_t)dim, dim);
        }
        printf("]}\n");
    }
    rg_free(out);
    rg_encoder_close(enc);
    return rc;
}

static int model_import(const rg_cli *cli, int argc, char **argv)
{
    const char *src = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!src && argv[i][0] != '-')
            src = argv[i];
        else
            return fail(2,
                        "model import: unexpected %s (usage: ragd model import DIR [--name NAME])",
                        argv[i]);
    }
    if (!src)
        return fail(2, "%s",
                    "model import: no folder (usage: ragd model import DIR [--name NAME])");
    char abs[PATH_MAX];
    if (!realpath(src, abs)) return fail(1, "model import: %s: no such folder", src);
    /* check that ragd can load it before registering it */
    rg_encoder_options o = rg_encoder_default_options();
    o.threads = 1;
    o.batch_tokens = 1;
    rg_encoder *enc;
    rg_error err;
    if (rg_encoder_open(abs, &o, &enc, &err) != RG_OK)
        return fail(1, "model import: %s", rg_error_message(&err));
    rg_encoder_close(enc);
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", abs);
    char *slash = strrchr(base, '/');
    /* the PyPI packages keep the folder in .../<package>/model: name it after the package */
    if (!name) {
        name = slash ? slash + 1 : base;
        if (!strcmp(name, "model") && slash && slash != base) {
            *slash = 0;
            char *up = strrchr(base, '/');
            name = up ? up + 1 : base;
        }
    }
    if (!valid_name(name))
        return fail(2, "model import: bad name '%s' (letters, digits, - _ .)", name);
    char dir[PATH_MAX], link[PATH_MAX], def[PATH_MAX];
    const char *data = cli && cli->data_dir ? cli->data_dir : "./ragd-data";
    if ((mkdir(data, 0777) != 0 && errno != EEXIST) || !models_path(cli, NULL, dir, sizeof dir) ||
        (mkdir(dir, 0777) != 0 && errno != EEXIST))
        return fail(1, "model import: cannot create %s/models", data);
    if (!models_path(cli, name, link, sizeof link) || !models_path(cli, "default", def, sizeof def))
        return fail(1, "%s", "model import: path too long");
    unlink(link);
    if (symlink(abs, link) != 0) return fail(1, "model import: cannot register %s", link);
    struct stat sb;
    if (lstat(def, &sb) != 0 && symlink(name, def) != 0)
        return fail(1, "model import: cannot set %s", def);
    printf("imported %s -> %s\n", name, abs);
    return 0;
}

static int model_list(const rg_cli *cli)
{
    char dir[PATH_MAX];
    if (!models_path(cli, NULL, dir, sizeof dir)) return fail(1, "%s", "model list: path too long");
    DIR *d = opendir(dir);
    if (!d) return 0; /* nothing imported yet */
    char def[PATH_MAX] = "";
    char defpath[PATH_MAX];
    if (models_path(cli, "default", defpath, sizeof defpath)) {
        ssize_t k = readlink(defpath, def, sizeof def - 1);
        def[k > 0 ? k : 0] = 0;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "default")) continue;
        char link[PATH_MAX * 2], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        /* a pulled model is the folder itself, not a link */
        printf("%s%s\t%s\n", e->d_name, strcmp(e->d_name, def) ? "" : " (default)",
               k > 0 ? target : link);
    }
    closedir(d);
    return 0;
}

/* The progress line of a download, on a terminal only. */
typedef struct pull_progress {
    double last;
} pull_progress;

static void show_progress(void *ctx, const char *path, uint64_t done, uint64_t total, int line_end)
{
    pull_progress *pr = ctx;
    double now = cli_now();
    if (!line_end && now - pr->last < PULL_PROGRESS_S) return;
    pr->last = now;
    if (total)
        fprintf(stderr, "\r%-26s %9.1f / %.1f MB %3d%%", path, (double)done / 1e6,
                (double)total / 1e6, (int)(done * 100 / total));
    else
        fprintf(stderr, "\r%-26s %9.1f MB", path, (double)done / 1e6);
    if (line_end) fputc('\n', stderr);
    fflush(stderr);
}

/* Options of `model pull`; returns 0 or the exit status of a usage error. */
static int pull_args(int argc, char **argv, const char **repo, const char **name, rg_hub_options *o)
{
    for (int i = 1; i < argc; i++) {
        int r;
        const char *v;
        size_t max_size;
        if ((r = cli_opt(argc, argv, &i, "--revision", &o->revision)) ||
            (r = cli_opt(argc, argv, &i, "--name", name)) ||
            (r = cli_opt(argc, argv, &i, "--endpoint", &o->endpoint))) {
            if (r < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--max-size", &v))) {
            if (r < 0 || !cli_size("--max-size", v, 1, SIZE_MAX, &max_size)) return 2;
            o->max_file_bytes = max_size;
        } else if (!strcmp(argv[i], "--allow-private")) {
            o->allow |= RG_HTTP_ALLOW_PRIVATE;
        } else if (!*repo && argv[i][0] != '-') {
            *repo = argv[i];
        } else {
            return fail(2, "model pull: unexpected %s (" PULL_USAGE ")", argv[i]);
        }
    }
    if (!*repo) return fail(2, "%s", "model pull: no repository (" PULL_USAGE ")");
    if (!rg_hub_valid_repo_id(*repo))
        return fail(2, "model pull: bad repository id '%s' (expected owner/name)", *repo);
    if (!*name) *name = strchr(*repo, '/') + 1;
    if (!valid_name(*name) || !strcmp(*name, "default"))
        return fail(2, "model pull: bad name '%s' (letters, digits, - _ ., not 'default')", *name);
    return 0;
}

static int model_pull(const rg_cli *cli, int argc, char **argv)
{
    const char *repo = NULL, *name = NULL;
    rg_hub_options o = rg_hub_default_options();
    int rc = pull_args(argc, argv, &repo, &name, &o);
    if (rc) return rc;
    pull_progress pr = {0};
    if (!cli->quiet && isatty(STDERR_FILENO)) {
        o.progress = show_progress;
        o.progress_ctx = &pr;
    }
    char dir[PATH_MAX], def[PATH_MAX];
    const char *data = cli && cli->data_dir ? cli->data_dir : "./ragd-data";
    if ((mkdir(data, 0777) != 0 && errno != EEXIST) || !models_path(cli, NULL, dir, sizeof dir) ||
        (mkdir(dir, 0777) != 0 && errno != EEXIST))
        return fail(1, "model pull: cannot create %s/models", data);
    if (!models_path(cli, name, dir, sizeof dir) || !models_path(cli, "default", def, sizeof def))
        return fail(1, "%s", "model pull: path too long");
    struct stat sb;
    if (lstat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return fail(1, "model pull: %s is an imported model; choose another --name", name);
    rg_hub_result res;
    rg_error err;
    if (rg_hub_pull(repo, dir, &o, &res, &err) != RG_OK)
        return fail(1, "model pull: %s", rg_error_message(&err));
    /* check that ragd can load it before making it the default */
    rg_encoder_options eo = rg_encoder_default_options();
    eo.threads = 1;
    eo.batch_tokens = 1;
    rg_encoder *enc;
    if (rg_encoder_open(dir, &eo, &enc, &err) != RG_OK)
        return fail(1, "model pull: downloaded, but ragd cannot load it: %s",
                    rg_error_message(&err));
    rg_encoder_close(enc);
    if (lstat(def, &sb) != 0 && symlink(name, def) != 0)
        return fail(1, "model pull: cannot set %s", def);
    printf("pulled %s@%s -> %s (%d files, %d already present, %.1f MB downloaded)\n", repo,
           res.commit, dir, res.files, res.up_to_date, (double)res.bytes / 1e6);
    return 0;
}

int cmd_model(const rg_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return fail(2, "%s",
                    "model: usage: ragd model import DIR [--name NAME] | ragd model list | "
                    "ragd model pull REPO_ID [--revision REV] [--name NAME] [--endpoint URL]");
    if (!strcmp(argv[1], "import")) return model_import(cli, argc - 1, argv + 1);
    if (!strcmp(argv[1], "list")) return model_list(cli);
    if (!strcmp(argv[1], "pull")) return model_pull(cli, argc - 1, argv + 1);
    return fail(2, "model: unknown subcommand %s (import, list, pull)", argv[1]);
}
