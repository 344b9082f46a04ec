/* Command-line options, with Envoy's flag names where they apply. */
#ifndef XP_SERVER_OPTIONS_H
#define XP_SERVER_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "proxy/common/log.h"

typedef enum {
    XP_MODE_SERVE,
    XP_MODE_VALIDATE,
} xp_mode_t;

typedef struct {
    const char *config_path; /* -c / --config-path */
    const char *config_yaml; /* --config-yaml, merged over the file */
    xp_mode_t mode;          /* --mode serve|validate */
    int concurrency;         /* --concurrency, default: number of CPUs */
    const char *service_node;
    const char *service_cluster;
    const char *service_zone;
    xp_log_level_t log_level;
    const char *admin_address_path; /* --admin-address-path: write the bound admin address */
    int drain_time_s;               /* --drain-time-s, default 600 as Envoy */
    int parent_shutdown_time_s;     /* accepted for compatibility; no hot restart */
    bool io_uring;                  /* --io-uring on|off: workers batch their sends */
    bool show_help;
    bool show_version;
    int argc;    /* the original command line, for /server_info */
    char **argv; /* borrowed from main() */
} xp_options_t;

/* Parses argv into o (strings borrowed from argv). On a bad flag it writes
 * one line per problem to err and returns XP_EINVAL. */
int xp_options_parse(int argc, char **argv, xp_options_t *o, FILE *err);
void xp_options_usage(FILE *out);

#define XP_VERSION "0.1.0"

#endif
