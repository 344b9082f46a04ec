/* Access logging with Envoy's command operators, default format and JSON
 * format dictionaries.
 *
 * The data path fills an xp_access_log_record_t (views and numbers only, no
 * allocation) when an HTTP stream or a TCP session ends and calls
 * xp_access_log_write(). The line is formatted on the calling worker thread
 * into a thread-local buffer and handed to one background writer thread per
 * file through a bounded queue, so a worker never waits for the disk: when the
 * queue is full the line is dropped and counted.
 *
 * Operators, their "-" for missing values and the default format follow
 * Envoy's access log documentation
 * (configuration/observability/access_log/usage). */
#ifndef XP_ACCESSLOG_ACCESSLOG_H
#define XP_ACCESSLOG_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/common/diag.h"
#include "proxy/common/str.h"
#include "proxy/common/strbuf.h"

/* Envoy's default format for HTTP and tcp_proxy access logs (used when the
 * configuration gives none). */
#define XP_ACCESS_LOG_DEFAULT_FORMAT                                                               \
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "             \
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "                   \
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "      \
    "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"

/* Default bound on bytes queued for one file before lines are dropped. */
#define XP_ACCESS_LOG_DEFAULT_QUEUE_LIMIT (16u * 1024 * 1024)

/* ---- configuration ------------------------------------------------------ */

struct xp_access_log;

/* One access log as configured (envoy.extensions.access_loggers.file.v3),
 * with the opened writer. Owned by the config object holding it;
 * xp_access_log_cfg_clear (proxy/config) releases everything. */
typedef struct {
    char *path;       /* file, "/dev/stdout" and "/dev/stderr" included */
    char *format;     /* text format string; NULL = Envoy's default format */
    char **json_keys; /* json_format: keys and format strings, in order */
    char **json_values;
    size_t n_json;
    struct xp_access_log *log; /* opened by the data plane before first use */
} xp_access_log_cfg_t;

/* Envoy's response flags. Bit n is Envoy's StreamInfo::ResponseFlag value n,
 * which is also the order %RESPONSE_FLAGS% prints them in (comma-separated,
 * as Envoy's ResponseFlagUtils does). */
typedef enum {
    XP_RF_LH = 1u << 0,     /* FailedLocalHealthCheck */
    XP_RF_UH = 1u << 1,     /* NoHealthyUpstream */
    XP_RF_UT = 1u << 2,     /* UpstreamRequestTimeout */
    XP_RF_LR = 1u << 3,     /* LocalReset */
    XP_RF_UR = 1u << 4,     /* UpstreamRemoteReset */
    XP_RF_UF = 1u << 5,     /* UpstreamConnectionFailure */
    XP_RF_UC = 1u << 6,     /* UpstreamConnectionTermination */
    XP_RF_UO = 1u << 7,     /* UpstreamOverflow */
    XP_RF_NR = 1u << 8,     /* NoRouteFound */
    XP_RF_DI = 1u << 9,     /* DelayInjected */
    XP_RF_FI = 1u << 10,    /* FaultInjected */
    XP_RF_RL = 1u << 11,    /* RateLimited */
    XP_RF_UAEX = 1u << 12,  /* UnauthorizedExternalService */
    XP_RF_RLSE = 1u << 13,  /* RateLimitServiceError */
    XP_RF_DC = 1u << 14,    /* DownstreamConnectionTermination */
    XP_RF_URX = 1u << 15,   /* UpstreamRetryLimitExceeded */
    XP_RF_SI = 1u << 16,    /* StreamIdleTimeout */
    XP_RF_IH = 1u << 17,    /* InvalidEnvoyRequestHeaders */
    XP_RF_DPE = 1u << 18,   /* DownstreamProtocolError */
    XP_RF_UMSDR = 1u << 19, /* UpstreamMaxStreamDurationReached */
    XP_RF_RFCF = 1u << 20,  /* ResponseFromCacheFilter */
    XP_RF_NFCF = 1u << 21,  /* NoFilterConfigFound */
    XP_RF_DT = 1u << 22,    /* DurationTimeout */
    XP_RF_UPE = 1u << 23,   /* UpstreamProtocolError */
    XP_RF_NC = 1u << 24,    /* NoClusterFound */
    XP_RF_OM = 1u << 25,    /* OverloadManagerTerminated */
    XP_RF_DF = 1u << 26,    /* DnsResolutionFailed */
    XP_RF_DO = 1u << 27,    /* DropOverload */
} xp_response_flag_t;

#define XP_RF_COUNT 28

/* Short ("UH") or long ("NoHealthyUpstream") name of flag bit `bit`
 * (0..XP_RF_COUNT-1); NULL for other bits. Static strings. */
const char *xp_response_flag_name(unsigned bit, bool long_name);

/* What one HTTP stream or TCP session leaves for the access log. Everything is
 * borrowed from the caller for the duration of xp_access_log_write() /
 * xp_access_log_format(); nothing is copied or kept. A zero-initialised record
 * with the times set to -1 prints "-" for everything that can be missing.
 * Empty views (len 0) count as missing. */
typedef struct {
    /* Times. start is wall clock; the others are offsets from start, -1 when
     * unknown (the event did not happen). */
    int64_t start_time_us;              /* microseconds since the epoch */
    int64_t duration_us;                /* %DURATION% */
    int64_t last_downstream_rx_byte_us; /* %REQUEST_DURATION% */
    int64_t first_upstream_tx_byte_us;
    int64_t first_upstream_rx_byte_us;  /* %RESPONSE_DURATION% */
    int64_t last_downstream_tx_byte_us; /* %RESPONSE_TX_DURATION% (minus first rx) */

    const char *protocol; /* "HTTP/1.1", "HTTP/1.0"; NULL for TCP */

    /* Request line / host: what %REQ(:METHOD)%, %REQ(:PATH)%,
     * %REQ(:AUTHORITY)% and %REQ(:SCHEME)% print. */
    xp_str_t method, path, authority, scheme;
    /* Looked up case-insensitively; the first field with the name wins. */
    const xp_header_t *request_headers;
    size_t n_request_headers;
    const xp_header_t *response_headers;
    size_t n_response_headers;
    const xp_header_t *response_trailers;
    size_t n_response_trailers;

    uint32_t response_code; /* 0 = no response was sent (printed as 0, like Envoy) */
    xp_str_t response_code_details;
    uint32_t response_flags; /* xp_response_flag_t bits */
    uint64_t bytes_received; /* downstream body bytes (TCP: all bytes) */
    uint64_t bytes_sent;

    xp_str_t upstream_host;          /* "ip:port" */
    xp_str_t upstream_cluster;       /* cluster name */
    xp_str_t upstream_local_address; /* "ip:port" */
    xp_str_t upstream_transport_failure_reason;
    /* "ip:port" or "[v6]:port"; the *_WITHOUT_PORT operators strip the port. */
    xp_str_t downstream_remote_address;
    xp_str_t downstream_local_address;
    xp_str_t route_name;
    xp_str_t request_id; /* used for %REQ(X-REQUEST-ID)% when the header is absent */
    uint64_t connection_id;
    xp_str_t connection_termination_details;
    xp_str_t requested_server_name; /* SNI */
    uint32_t attempt_count;         /* upstream attempts (%UPSTREAM_REQUEST_ATTEMPT_COUNT%) */
} xp_access_log_record_t;

/* Sets the record to "nothing known": zeros, empty views, times -1. */
void xp_access_log_record_init(xp_access_log_record_t *r);

/* ---- formatter ---------------------------------------------------------- */

typedef struct xp_access_log_format xp_access_log_format_t;

/* Compiles a text format string (NULL or "" = XP_ACCESS_LOG_DEFAULT_FORMAT).
 * On success *out is owned by the caller (xp_access_log_format_free) and 0 is
 * returned; otherwise XP_EINVAL with a message naming the operator in err. */
int xp_access_log_format_compile(const char *fmt, xp_access_log_format_t **out, char *err,
                                 size_t errlen);
/* Compiles a JSON format dictionary: one object per line, keys in the given
 * order. A value that is exactly one operator is typed: numeric operators
 * print as JSON numbers, a missing value as null. */
int xp_access_log_format_compile_json(char *const *keys, char *const *values, size_t n,
                                      xp_access_log_format_t **out, char *err, size_t errlen);
/* Compiles whatever the config gives (text or JSON; XP_EINVAL for both). */
int xp_access_log_format_compile_cfg(const xp_access_log_cfg_t *cfg, xp_access_log_format_t **out,
                                     char *err, size_t errlen);
void xp_access_log_format_free(xp_access_log_format_t *f);

/* Appends the formatted line for r to out (initialised by the caller) and
 * returns the number of bytes appended. Only out's growth allocates. Safe
 * from any number of threads at once on the same format. */
size_t xp_access_log_format(const xp_access_log_format_t *f, const xp_access_log_record_t *r,
                            xp_strbuf_t *out);

/* Validation only (xds/translate, --mode validate): 0, or XP_EINVAL with the
 * reason in err. Does not open the file. */
int xp_access_log_validate(const xp_access_log_cfg_t *cfg, char *err, size_t errlen);

/* ---- writer ------------------------------------------------------------- */

typedef struct xp_access_log xp_access_log_t;

/* Compiles cfg's format and opens cfg->path for appending ("/dev/stdout" and
 * "/dev/stderr" write to the process's fds 1 and 2). Logs with the same path
 * share one file descriptor and one writer thread. Returns a log with one
 * reference owned by the caller, or NULL after adding an error at
 * path_for_errors to diag. Called off the workers (config translation). */
xp_access_log_t *xp_access_log_open(const xp_access_log_cfg_t *cfg, xp_diag_t *diag,
                                    const char *path_for_errors);
xp_access_log_t *xp_access_log_ref(xp_access_log_t *l);
/* Drops a reference. The last one of the last log on a file lets its writer
 * drain the queue, close the file and exit on its own; it never waits for I/O,
 * so workers may drop references. NULL is ignored. */
void xp_access_log_unref(xp_access_log_t *l);

/* Formats r and queues the line. Never blocks on I/O: drops the line (and
 * counts it) when the file's queue is full or the writer has shut down. */
void xp_access_log_write(xp_access_log_t *l, const xp_access_log_record_t *r);
/* Lines of this log dropped so far. */
uint64_t xp_access_log_dropped(const xp_access_log_t *l);

/* Bound on queued bytes per file for files opened from now on
 * (0 = XP_ACCESS_LOG_DEFAULT_QUEUE_LIMIT). */
void xp_access_log_set_queue_limit(size_t bytes);
/* Number of distinct paths currently open (shared files count once; for
 * tests and admin). */
size_t xp_access_log_open_files(void);

/* Flushes every queued line, closes the files and joins all writer threads.
 * Logs still referenced drop their writes from then on; logs opened later
 * get new writers. Called at process exit. */
void xp_access_log_shutdown(void);

#endif
