/*
 * log.h — leveled diagnostics on standard error.
 *
 * One line per message: "ragd: warning: <message>". The threshold is
 * process-wide (set from --quiet/--verbose); messages below it cost one
 * comparison.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

typedef enum rg_log_level {
    RG_LOG_DEBUG,
    RG_LOG_INFO,
    RG_LOG_WARN,
    RG_LOG_ERROR,
    RG_LOG_OFF
} rg_log_level;

void rg_log_set_level(rg_log_level level);
rg_log_level rg_log_get_level(void);
void rg_log(rg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
