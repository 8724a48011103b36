/*
 * cmd_model.c — `ragd embed` and `ragd model import|list`.
 *
 * Models are registered under DATA/models/NAME as a symbolic link to the
 * model folder (ragd reads Hugging Face folders as they are, so importing
 * copies nothing); DATA/models/default names the model used when --model
 * is not given, and is set by the first import.
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
#include "engine/base/mem.h"
#include "engine/nn/encoder.h"

/* Longest model name accepted by import. */
#define MODEL_NAME_MAX 128

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
    int n = name ? snprintf(out, cap, "%s/models/%s", data, name) : snprintf(out, cap, "%s/models", data);
    return n > 0 && (size_t)n < cap;
}

/* A folder path as given, else a registered name, else the default model. */
static int resolve_model(const rg_cli *cli, const char *arg, char *out, size_t cap)
{
    if (arg && is_dir(arg)) {
        char probe[PATH_MAX];
        snprintf(probe, sizeof probe, "%s/config.json", arg);
        if (access(probe, R_OK) == 0)
            return snprintf(out, cap, "%s", arg) > 0;
    }
    return models_path(cli, arg ? arg : "default", out, cap) && is_dir(out);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MODEL_NAME_MAX || s[0] == '.')
        return 0;
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
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--int8"))
            o.int8 = 1;
        else if (!strcmp(argv[i], "--"))
        {
            i++;
            break;
        } else
            return fail(2, "embed: unknown option %s (usage: ragd embed [--model DIR|NAME] "
                           "[--threads N] [--int8] TEXT...)", argv[i]);
    }
    if (i >= argc)
        return fail(2, "%s", "embed: no text given (usage: ragd embed [--model DIR|NAME] TEXT...)");
    char dir[PATH_MAX];
    if (!resolve_model(cli, model, dir, sizeof dir))
        return fail(1, "embed: no model %s (give a folder, or run ragd model import DIR)",
                    model ? model : "default");
    rg_encoder *enc;
    rg_error err;
    if (rg_encoder_open(dir, &o, &enc, &err) != RG_OK)
        return fail(1, "%s", rg_error_message(&err));
    size_t n = (size_t)(argc - i);
    int dim = rg_encoder_dim(enc);
    float *out = rg_malloc(n * (size_t)dim * sizeof *out);
    int rc = 0;
    if (!out) {
        rc = fail(1, "%s", "embed: out of memory");
    } else if (rg_encoder_embed(enc, (const char *const *)(argv + i), NULL, n, out, &err) != RG_OK) {
        rc = fail(1, "embed: %s", rg_error_message(&err));
    } else {
        printf("{\"dim\":%d,\"normalized\":%s,\"vectors\":[", dim,
               rg_encoder_normalizes(enc) ? "true" : "false");
        for (size_t k = 0; k < n; k++) {
            if (k)
                putchar(',');
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
            return fail(2, "model import: unexpected %s (usage: ragd model import DIR [--name NAME])", argv[i]);
    }
    if (!src)
        return fail(2, "%s", "model import: no folder (usage: ragd model import DIR [--name NAME])");
    char abs[PATH_MAX];
    if (!realpath(src, abs))
        return fail(1, "model import: %s: no such folder", src);
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
    if (symlink(abs, link) != 0)
        return fail(1, "model import: cannot register %s", link);
    struct stat sb;
    if (lstat(def, &sb) != 0 && symlink(name, def) != 0)
        return fail(1, "model import: cannot set %s", def);
    printf("imported %s -> %s\n", name, abs);
    return 0;
}

static int model_list(const rg_cli *cli)
{
    char dir[PATH_MAX];
    if (!models_path(cli, NULL, dir, sizeof dir))
        return fail(1, "%s", "model list: path too long");
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* nothing imported yet */
    char def[PATH_MAX] = "";
    char defpath[PATH_MAX];
    if (models_path(cli, "default", defpath, sizeof defpath)) {
        ssize_t k = readlink(defpath, def, sizeof def - 1);
        def[k > 0 ? k : 0] = 0;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "default"))
            continue;
        char link[PATH_MAX * 2], target[PATH_MAX];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        printf("%s%s\t%s\n", e->d_name, strcmp(e->d_name, def) ? "" : " (default)", target);
    }
    closedir(d);
    return 0;
}

int cmd_model(const rg_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return fail(2, "%s", "model: usage: ragd model import DIR [--name NAME] | ragd model list");
    if (!strcmp(argv[1], "import"))
        return model_import(cli, argc - 1, argv + 1);
    if (!strcmp(argv[1], "list"))
        return model_list(cli);
    return fail(2, "model: unknown subcommand %s (import, list)", argv[1]);
}
