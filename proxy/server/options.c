#include "proxy/server/options.h"
#include "proxy/common/error.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    OPT_CONFIG_YAML = 256,
    OPT_MODE,
    OPT_CONCURRENCY,
    OPT_SERVICE_NODE,
    OPT_SERVICE_CLUSTER,
    OPT_SERVICE_ZONE,
    OPT_DRAIN_TIME,
    OPT_PARENT_SHUTDOWN,
    OPT_VERSION,
    OPT_ADMIN_ADDRESS_PATH,
    OPT_IO_URING,
    OPT_IGNORED_ARG,
    OPT_IGNORED_FLAG,
};

static const struct option xp__long_opts[] = {
    {"config-path", required_argument, NULL, 'c'},
    {"config-yaml", required_argument, NULL, OPT_CONFIG_YAML},
    {"mode", required_argument, NULL, OPT_MODE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"service-node", required_argument, NULL, OPT_SERVICE_NODE},
    {"service-cluster", required_argument, NULL, OPT_SERVICE_CLUSTER},
    {"service-zone", required_argument, NULL, OPT_SERVICE_ZONE},
    {"log-level", required_argument, NULL, 'l'},
    {"drain-time-s", required_argument, NULL, OPT_DRAIN_TIME},
    {"parent-shutdown-time-s", required_argument, NULL, OPT_PARENT_SHUTDOWN},
    {"version", no_argument, NULL, OPT_VERSION},
    {"admin-address-path", required_argument, NULL, OPT_ADMIN_ADDRESS_PATH},
    {"io-uring", required_argument, NULL, OPT_IO_URING},
    {"help", no_argument, NULL, 'h'},
    /* Envoy flags that change nothing for a single process without hot
     * restart; accepted so existing command lines keep working. */
    {"base-id", required_argument, NULL, OPT_IGNORED_ARG},
    {"restart-epoch", required_argument, NULL, OPT_IGNORED_ARG},
    {"log-format", required_argument, NULL, OPT_IGNORED_ARG},
    {"disable-hot-restart", no_argument, NULL, OPT_IGNORED_FLAG},
    {"use-dynamic-base-id", no_argument, NULL, OPT_IGNORED_FLAG},
    {NULL, 0, NULL, 0},
};

void xp_options_usage(FILE *out)
{
    fputs("Usage: xproxy -c <bootstrap.yaml> [options]\n"
          "\n"
          "  -c, --config-path PATH     Envoy v3 bootstrap, YAML or JSON\n"
          "      --config-yaml YAML     bootstrap fragment merged over the file\n"
          "      --mode serve|validate  validate: check the config, print every problem, exit\n"
          "      --concurrency N        worker threads (default: number of CPUs)\n"
          "      --service-node ID      node.id (overrides the bootstrap)\n"
          "      --service-cluster NAME node.cluster (overrides the bootstrap)\n"
          "      --service-zone ZONE    node.locality.zone\n"
          "  -l, --log-level LEVEL      trace|debug|info|warning|error|critical|off\n"
          "      --admin-address-path P write the admin server's bound address to P\n"
          "      --drain-time-s N       seconds tunnels get to finish on shutdown (default 600)\n"
          "      --io-uring on|off      on (default): each worker sends the writes of one loop\n"
          "                             iteration with one io_uring call where the kernel\n"
          "                             allows it; off: a send call per write\n"
          "      --version              print the version and exit\n"
          "  -h, --help                 this text\n",
          out);
}

static int xp__parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return XP_EINVAL;
    *out = (int)v;
    return 0;
}

int xp_options_parse(int argc, char **argv, xp_options_t *o, FILE *err)
{
    memset(o, 0, sizeof(*o));
    o->mode = XP_MODE_SERVE;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->concurrency = ncpu > 0 ? (int)ncpu : 1;
    o->log_level = XP_LOG_INFO;
    o->drain_time_s = 600;
    o->io_uring = true;
    o->parent_shutdown_time_s = 900;
    o->argc = argc;
    o->argv = argv;

    int bad = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:h", xp__long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case OPT_CONFIG_YAML:
            o->config_yaml = optarg;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "serve") == 0)
                o->mode = XP_MODE_SERVE;
            else if (strcmp(optarg, "validate") == 0)
                o->mode = XP_MODE_VALIDATE;
            else {
                fprintf(err, "error: --mode: expected serve or validate, got '%s'\n", optarg);
                bad++;
            }
            break;
        case OPT_CONCURRENCY:
            if (xp__parse_int(optarg, 1, 1024, &o->concurrency)) {
                fprintf(err, "error: --concurrency: expected an integer 1..1024, got '%s'\n",
                        optarg);
                bad++;
            }
            break;
        case OPT_SERVICE_NODE:
            o->service_node = optarg;
            break;
        case OPT_SERVICE_CLUSTER:
            o->service_cluster = optarg;
            break;
        case OPT_SERVICE_ZONE:
            o->service_zone = optarg;
            break;
        case 'l':
            if (xp_log_level_parse(optarg, &o->log_level)) {
                fprintf(err,
                        "error: --log-level: expected trace, debug, info, warning, error, "
                        "critical or off, got '%s'\n",
                        optarg);
                bad++;
            }
            break;
        case OPT_DRAIN_TIME:
            if (xp__parse_int(optarg, 0, INT_MAX, &o->drain_time_s)) {
                fprintf(err, "error: --drain-time-s: expected a non-negative integer, got '%s'\n",
                        optarg);
                bad++;
            }
            break;
        case OPT_PARENT_SHUTDOWN:
            if (xp__parse_int(optarg, 0, INT_MAX, &o->parent_shutdown_time_s)) {
                fprintf(err,
                        "error: --parent-shutdown-time-s: expected a non-negative integer, "
                        "got '%s'\n",
                        optarg);
                bad++;
            }
            break;
        case OPT_ADMIN_ADDRESS_PATH:
            o->admin_address_path = optarg;
            break;
        case OPT_IO_URING:
            if (strcmp(optarg, "on") == 0)
                o->io_uring = true;
            else if (strcmp(optarg, "off") == 0)
                o->io_uring = false;
            else {
                fprintf(err, "error: --io-uring: expected on or off, got '%s'\n", optarg);
                bad++;
            }
            break;
        case OPT_VERSION:
            o->show_version = true;
            break;
        case 'h':
            o->show_help = true;
            break;
        case OPT_IGNORED_ARG:
        case OPT_IGNORED_FLAG:
            break;
        case ':':
            fprintf(err, "error: %s needs a value\n", argv[optind - 1]);
            bad++;
            break;
        default:
            fprintf(err, "error: unknown option '%s' (see --help)\n", argv[optind - 1]);
            bad++;
            break;
        }
    }
    if (optind < argc) {
        fprintf(err, "error: unexpected argument '%s' (see --help)\n", argv[optind]);
        bad++;
    }
    if (!bad && !o->show_help && !o->show_version && o->config_path == NULL &&
        o->config_yaml == NULL) {
        fprintf(err, "error: no configuration: give -c <bootstrap.yaml> or --config-yaml\n");
        bad++;
    }
    return bad ? XP_EINVAL : 0;
}
