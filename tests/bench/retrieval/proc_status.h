/*
 * proc_status.h — resident memory of the calling process, for the
 * retrieval benchmarks (Linux /proc only).
 */
#ifndef RG_BENCH_PROC_STATUS_H
#define RG_BENCH_PROC_STATUS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A /proc/self/status field ("VmRSS:", "VmHWM:") in MB; -1 if unknown. */
static inline double bench_status_mb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) kb = strtol(line + n, NULL, 10);
    if (f) fclose(f);
    return kb < 0 ? -1.0 : (double)kb / 1024.0;
}

#endif
