#include "api/cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_fail("option %s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_fail(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ragd: error: %s\n", line);
    return 1;
}

int cli_fail_err(const rg_error *err)
{
    return cli_fail("%s", rg_error_message(err));
}

int cli_size(const char *opt, const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        cli_fail("%s takes a whole number from %zu to %zu, not '%s'", opt, min, max, s);
        return 0;
    }
    *out = (size_t)v;
    return 1;
}

rg_status cli_open_store(const rg_cli *cli, int create, rg_store **out, rg_error *err)
{
    rg_store_options o = rg_store_default_options();
    o.create = create;
    return rg_store_open(cli->data_dir, &o, out, err);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
