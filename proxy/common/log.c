#include "proxy/common/log.h"
#include "proxy/common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

xp_log_level_t xp_log_level = XP_LOG_INFO;

static const char *const xp__level_names[] = {"trace", "debug",    "info", "warning",
                                              "error", "critical", "off"};

const char *xp_log_level_to_str(xp_log_level_t level)
{
    if ((unsigned)level > XP_LOG_OFF)
        return "?";
    return xp__level_names[level];
}

int xp_log_level_parse(const char *name, xp_log_level_t *out)
{
    for (int i = 0; i <= XP_LOG_OFF; i++) {
        if (strcmp(name, xp__level_names[i]) == 0) {
            *out = (xp_log_level_t)i;
            return 0;
        }
    }
    if (strcmp(name, "warn") == 0) {
        *out = XP_LOG_WARN;
        return 0;
    }
    return XP_EINVAL;
}

void xp_log_write(xp_log_level_t level, const char *fmt, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "[%04d-%02d-%02d %02d:%02d:%02d.%03d][%ld][%s] ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(tv.tv_usec / 1000), (long)syscall(SYS_gettid), xp_log_level_to_str(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write() per line so lines from worker threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
