#include "engine/base/log.h"

#include <stdarg.h>
#include <stdio.h>

static rg_log_level threshold = RG_LOG_WARN;

void rg_log_set_level(rg_log_level level)
{
    threshold = level;
}

rg_log_level rg_log_get_level(void)
{
    return threshold;
}

void rg_log(rg_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level < threshold || level >= RG_LOG_OFF) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ragd: %s: %s\n", names[level], line);
}
