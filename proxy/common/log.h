/* Process-wide logger with Envoy's level names. Lines go to stderr as
 * "[2026-11-25 10:00:00.123][tid][level] message". Formatting only happens
 * when the level is enabled, so disabled XP_DEBUG calls cost one compare. */
#ifndef XP_COMMON_LOG_H
#define XP_COMMON_LOG_H

typedef enum {
    XP_LOG_TRACE,
    XP_LOG_DEBUG,
    XP_LOG_INFO,
    XP_LOG_WARN,
    XP_LOG_ERROR,
    XP_LOG_CRITICAL,
    XP_LOG_OFF,
} xp_log_level_t;

extern xp_log_level_t xp_log_level;

/* Parses Envoy's level names (trace, debug, info, warning/warn, error,
 * critical, off). Returns 0 or XP_EINVAL. */
int xp_log_level_parse(const char *name, xp_log_level_t *out);
const char *xp_log_level_to_str(xp_log_level_t level);
void xp_log_write(xp_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define XP_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= xp_log_level)                                                               \
            xp_log_write((level), __VA_ARGS__);                                                    \
    } while (0)
#define XP_TRACE(...) XP_LOG(XP_LOG_TRACE, __VA_ARGS__)
#define XP_DEBUG(...) XP_LOG(XP_LOG_DEBUG, __VA_ARGS__)
#define XP_INFO(...)  XP_LOG(XP_LOG_INFO, __VA_ARGS__)
#define XP_WARN(...)  XP_LOG(XP_LOG_WARN, __VA_ARGS__)
#define XP_ERROR(...) XP_LOG(XP_LOG_ERROR, __VA_ARGS__)

#endif
