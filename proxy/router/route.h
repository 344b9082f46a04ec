/* The route table: xproxy's own immutable model of an
 * envoy.config.route.v3.RouteConfiguration, and the matcher that picks a
 * virtual host and a route for a request.
 *
 * Lifetime. A table is built once (by xds/translate/route.c or by tests),
 * then never changes: worker threads read it without locks. Tables,
 * virtual hosts and routes are refcounted with C11 atomics; the last unref
 * frees. A table holds one reference to each of its virtual hosts and a
 * virtual host one to each of its routes, so an RDS update can put an
 * unchanged xp_route_t into the next table generation without copying it,
 * and a VHDS update can put every unchanged virtual host (with its compiled
 * route index) into the next generation.
 *
 * Strings in the model are xp_str_t whose bytes are owned by the model
 * object and NUL-terminated (so they can also be used as C strings).
 *
 * Matching cost (see match.c for details):
 *   - virtual host: one hash lookup for exact domains, plus one hash lookup
 *     per distinct wildcard length (bounded by the longest domain, not by
 *     the number of virtual hosts);
 *   - route: O(path length) walk through a radix tree of the literal
 *     prefixes of all routes, plus a full check of each candidate route whose
 *     literal prefix is a prefix of the path, in configuration order, until
 *     the first that matches. Routes with an empty literal prefix (prefix "",
 *     regexes that do not start with a literal, CONNECT matchers) are
 *     candidates for every request. */
#ifndef XP_ROUTER_ROUTE_H
#define XP_ROUTER_ROUTE_H

#include "proxy/common/diag.h"
#include "proxy/common/str.h"
#include "proxy/common/xxhash.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- regular expressions ------------------------------------------------ */

/* A compiled PCRE2 regex (JIT when available). Envoy's safe_regex uses RE2;
 * we compile with PCRE2_DOLLAR_ENDONLY so `$` means end of text as in RE2.
 * Opaque; owned by the model object that holds it. */
typedef struct xp_regex xp_regex_t;

/* Compiles `pattern`. full_match: the regex must match the whole subject
 * (Envoy's route/header matching); otherwise it is searched for (rewrites).
 * On failure returns NULL and writes PCRE2's message and the offset in the
 * pattern into err/erroffset. Returned regex is owned by the caller. */
xp_regex_t *xp_regex_compile(const char *pattern, size_t len, bool full_match, char *err,
                             size_t errlen, size_t *erroffset);
void xp_regex_free(xp_regex_t *re);
/* True when the regex matches `s` (whole of it if compiled full_match). */
bool xp_regex_match(const xp_regex_t *re, xp_str_t s);
/* Number of capture groups in the pattern. */
uint32_t xp_regex_captures(const xp_regex_t *re);
xp_str_t xp_regex_pattern(const xp_regex_t *re);
/* Checks an RE2-style substitution: "\0".."\9" name groups (must exist),
 * "\\" is a backslash, any other backslash is an error. Returns 0 or
 * XP_EINVAL with a message in err. */
int xp_regex_check_substitution(const xp_regex_t *re, xp_str_t sub, char *err, size_t errlen);
/* Replaces every non-overlapping match of `re` in `s` with `sub` (RE2's
 * GlobalReplace semantics). Returns a malloc'd NUL-terminated string owned by
 * the caller with its length in *out_len, or NULL when out of memory. When
 * nothing matched, returns a copy of s. */
char *xp_regex_replace_all(const xp_regex_t *re, xp_str_t s, xp_str_t sub, size_t *out_len);
/* The per-thread PCRE2 match data is cached; a thread that matched calls this
 * before it exits (tests call it so leak checkers stay quiet). */
void xp_router_thread_cleanup(void);

/* ---- match model ---------------------------------------------------------- */

typedef enum {
    XP_STR_EXACT,
    XP_STR_PREFIX,
    XP_STR_SUFFIX,
    XP_STR_CONTAINS,
    XP_STR_REGEX,
} xp_str_match_kind_t;

/* envoy.type.matcher.v3.StringMatcher. */
typedef struct {
    xp_str_match_kind_t kind;
    bool ignore_case; /* not for XP_STR_REGEX */
    xp_str_t value;   /* literal kinds; regex source for XP_STR_REGEX */
    xp_regex_t *regex;
} xp_str_matcher_t;

typedef enum {
    XP_HDR_PRESENT, /* present_match, or no specifier at all */
    XP_HDR_STRING,  /* string_match and the older exact/prefix/suffix/contains/safe_regex */
    XP_HDR_RANGE,   /* range_match: start <= value < end */
} xp_header_match_kind_t;

/* envoy.config.route.v3.HeaderMatcher. */
typedef struct {
    xp_str_t name; /* compared case-insensitively */
    xp_header_match_kind_t kind;
    bool present; /* XP_HDR_PRESENT: true = must be present, false = must be absent */
    xp_str_matcher_t str;
    int64_t range_start, range_end;
    bool invert;
    bool treat_missing_as_empty;
} xp_header_matcher_t;

/* envoy.config.route.v3.QueryParameterMatcher. Without string_match the
 * parameter only has to be present. */
typedef struct {
    xp_str_t name;
    bool has_string;
    xp_str_matcher_t str;
} xp_query_matcher_t;

/* envoy.config.core.v3.RuntimeFractionalPercent. Matches when
 * random % denominator < numerator. */
typedef struct {
    bool set;
    uint32_t numerator;
    uint32_t denominator; /* 100, 10000 or 1000000 */
    xp_str_t runtime_key; /* empty = none */
} xp_runtime_fraction_t;

/* Runtime lookup used for runtime_fraction keys: returns true and fills
 * numerator/denominator when the runtime overrides `key`. */
typedef bool (*xp_runtime_fraction_fn)(void *ctx, xp_str_t key, uint32_t *numerator,
                                       uint32_t *denominator);

typedef enum {
    XP_PATH_PREFIX,           /* match.prefix: on :path including the query */
    XP_PATH_EXACT,            /* match.path: on :path without the query */
    XP_PATH_SEPARATED_PREFIX, /* match.path_separated_prefix: path w/o query == p or starts p/ */
    XP_PATH_REGEX,            /* match.safe_regex: whole path without the query */
    XP_PATH_CONNECT,          /* match.connect_matcher: CONNECT requests only */
} xp_path_match_kind_t;

const char *xp_path_match_kind_to_str(xp_path_match_kind_t k);

/* envoy.config.route.v3.RouteMatch. */
typedef struct {
    xp_path_match_kind_t kind;
    xp_str_t path;       /* prefix / path / separated prefix / regex source */
    xp_regex_t *regex;   /* XP_PATH_REGEX */
    bool case_sensitive; /* default true; ignored for regexes (as Envoy) */
    bool grpc;           /* match.grpc: content-type starts with application/grpc */
    xp_header_matcher_t *headers;
    size_t nheaders;
    xp_query_matcher_t *query;
    size_t nquery;
    xp_runtime_fraction_t runtime_fraction;
} xp_route_match_t;

/* ---- header edits ------------------------------------------------------- */

/* envoy.config.core.v3.HeaderValueOption.append_action. */
typedef enum {
    XP_APPEND_IF_EXISTS_OR_ADD,
    XP_ADD_IF_ABSENT,
    XP_OVERWRITE_IF_EXISTS_OR_ADD,
    XP_OVERWRITE_IF_EXISTS,
} xp_header_append_t;

typedef struct {
    xp_str_t name;
    xp_str_t value;  /* literal as configured */
    bool has_format; /* value contains '%': may hold %COMMAND% substitutions */
    xp_header_append_t append;
    bool keep_empty_value;
} xp_header_add_t;

/* headers_to_add + headers_to_remove, for either direction. */
typedef struct {
    xp_header_add_t *add;
    size_t nadd;
    xp_str_t *remove;
    size_t nremove;
} xp_header_edits_t;

/* ---- actions ---------------------------------------------------------------- */

enum {
    XP_RETRY_5XX = 1u << 0,
    XP_RETRY_GATEWAY_ERROR = 1u << 1,
    XP_RETRY_RESET = 1u << 2,
    XP_RETRY_CONNECT_FAILURE = 1u << 3,
    XP_RETRY_RETRIABLE_4XX = 1u << 4,
    XP_RETRY_REFUSED_STREAM = 1u << 5,
    XP_RETRY_RETRIABLE_STATUS_CODES = 1u << 6,
    XP_RETRY_RESET_BEFORE_REQUEST = 1u << 7,
    XP_RETRY_ENVOY_RATELIMITED = 1u << 8,
    XP_RETRY_HTTP3_POST_CONNECT_FAILURE = 1u << 9,
    XP_RETRY_GRPC_CANCELLED = 1u << 10,
    XP_RETRY_GRPC_DEADLINE_EXCEEDED = 1u << 11,
    XP_RETRY_GRPC_INTERNAL = 1u << 12,
    XP_RETRY_GRPC_RESOURCE_EXHAUSTED = 1u << 13,
    XP_RETRY_GRPC_UNAVAILABLE = 1u << 14,
};

/* Parses Envoy's comma-separated retry_on list into XP_RETRY_* bits: flags
 * gets every known condition. Returns 0, or XP_EINVAL with the first
 * unknown token copied into bad. */
int xp_retry_on_parse(xp_str_t s, uint32_t *flags, char *bad, size_t badlen);

/* envoy.config.route.v3.RetryPolicy (the parts that are modelled). */
typedef struct {
    uint32_t retry_on;                /* XP_RETRY_* */
    uint32_t num_retries;             /* default 1 */
    uint64_t per_try_timeout_ms;      /* 0 = the route timeout applies */
    uint64_t per_try_idle_timeout_ms; /* 0 = none */
    uint32_t *retriable_status_codes;
    size_t nretriable_status_codes;
    uint64_t backoff_base_ms; /* default 25 */
    uint64_t backoff_max_ms;  /* default 10 x base */
} xp_retry_policy_t;

typedef enum {
    XP_HASH_HEADER,
    XP_HASH_COOKIE,
    XP_HASH_SOURCE_IP,
    XP_HASH_QUERY_PARAMETER,
} xp_hash_kind_t;

/* envoy.config.route.v3.RouteAction.HashPolicy. */
typedef struct {
    xp_hash_kind_t kind;
    bool terminal;
    xp_str_t name; /* header name, cookie name or query parameter name */
    bool cookie_has_ttl;
    uint64_t cookie_ttl_ms; /* when has_ttl: cookie is generated if missing; 0 = session */
    xp_str_t cookie_path;
} xp_hash_policy_t;

/* RouteAction.UpgradeConfig: upgrade_type (compared case-insensitively) and
 * whether it is enabled on this route (default true). */
typedef struct {
    xp_str_t type;
    bool enabled;
} xp_upgrade_config_t;

typedef struct {
    xp_str_t name;
    uint32_t weight;
    xp_header_edits_t request_headers, response_headers;
    xp_str_t host_rewrite_literal; /* empty = none */
} xp_weighted_cluster_t;

typedef enum {
    XP_CLUSTER_NAME,     /* cluster */
    XP_CLUSTER_WEIGHTED, /* weighted_clusters */
    XP_CLUSTER_HEADER,   /* cluster_header */
} xp_cluster_kind_t;

typedef enum {
    XP_HOST_REWRITE_NONE,
    XP_HOST_REWRITE_LITERAL,
    XP_HOST_REWRITE_AUTO,   /* auto_host_rewrite: the upstream host's hostname */
    XP_HOST_REWRITE_HEADER, /* host_rewrite_header: value of a request header */
} xp_host_rewrite_kind_t;

/* envoy.config.route.v3.RouteAction. */
typedef struct {
    xp_cluster_kind_t cluster_kind;
    xp_str_t cluster;        /* XP_CLUSTER_NAME */
    xp_str_t cluster_header; /* XP_CLUSTER_HEADER */
    xp_weighted_cluster_t *weighted;
    size_t nweighted;
    uint64_t total_weight;            /* sum of weights, > 0 */
    xp_str_t weighted_runtime_prefix; /* runtime_key_prefix; empty = none */
    uint16_t cluster_not_found_code;  /* 503 (default) or 404 */

    bool has_prefix_rewrite;
    xp_str_t prefix_rewrite;
    xp_regex_t *regex_rewrite; /* NULL = none; searched, not anchored */
    xp_str_t regex_substitution;

    xp_host_rewrite_kind_t host_rewrite;
    xp_str_t host_rewrite_value;  /* literal, or header name */
    bool append_x_forwarded_host; /* when the host is rewritten */

    uint64_t timeout_ms; /* default 15000; 0 = disabled */
    bool has_idle_timeout;
    uint64_t idle_timeout_ms; /* 0 = disabled */
    bool has_max_stream_duration;
    uint64_t max_stream_duration_ms;
    bool has_grpc_timeout_header_max;
    uint64_t grpc_timeout_header_max_ms;
    bool has_grpc_timeout_header_offset;
    uint64_t grpc_timeout_header_offset_ms;

    bool has_retry_policy; /* else the virtual host's applies, if any */
    xp_retry_policy_t retry;

    xp_hash_policy_t *hash;
    size_t nhash;
    xp_upgrade_config_t *upgrades;
    size_t nupgrades;
} xp_route_action_t;

typedef enum {
    XP_REDIRECT_PATH_KEEP,
    XP_REDIRECT_PATH_REPLACE, /* path_redirect */
    XP_REDIRECT_PATH_PREFIX,  /* prefix_rewrite */
    XP_REDIRECT_PATH_REGEX,   /* regex_rewrite */
} xp_redirect_path_kind_t;

/* envoy.config.route.v3.RedirectAction. */
typedef struct {
    xp_str_t scheme; /* scheme_redirect, or "https" for https_redirect; empty = keep */
    xp_str_t host;   /* empty = keep */
    uint32_t port;   /* 0 = keep */
    xp_redirect_path_kind_t path_kind;
    xp_str_t path; /* path_redirect or prefix_rewrite */
    xp_regex_t *regex;
    xp_str_t regex_substitution;
    uint16_t response_code; /* 301 (default), 302, 303, 307, 308 */
    bool strip_query;
} xp_redirect_t;

/* envoy.config.route.v3.DirectResponseAction. */
typedef struct {
    uint16_t status;
    bool has_body;
    xp_str_t body;
} xp_direct_response_t;

typedef enum {
    XP_ROUTE_FORWARD,        /* route: RouteAction */
    XP_ROUTE_REDIRECT,       /* redirect */
    XP_ROUTE_DIRECT,         /* direct_response */
    XP_ROUTE_NON_FORWARDING, /* non_forwarding_action (gRPC servers; no-op here) */
} xp_route_kind_t;

/* envoy.config.route.v3.Route. Individually refcounted so unchanged routes
 * can be shared by consecutive table generations. */
typedef struct xp_route {
    /* First, in one cache line: what every update touches for each of the
     * (possibly 10,000) routes of a table, shared or not. */
    atomic_uint refcnt;
    xp_route_kind_t kind;
    /* Digest of the Route message it was translated from (0 = none): a new
     * table generation reuses the route object when the bytes match. */
    uint64_t source_hash;
    size_t source_len;
    /* The route's key in its virtual host's index (the literal prefix every
     * matching path starts with, lower-cased for case-insensitive paths) and
     * which list of the key's node it goes in, worked out by the first index
     * build that sees the route and reused by every later generation sharing
     * it. Index builds run on one thread (the one applying configuration);
     * matching never reads these. */
    char *index_key;
    uint32_t index_key_len;
    uint8_t index_list;    /* 0 any, 1 sep ('/' or the end must follow), 2 exact */
    bool index_key_folded; /* in the case-insensitive tree */
    bool index_key_done;

    xp_str_t name;
    xp_route_match_t match;
    xp_route_action_t action;    /* XP_ROUTE_FORWARD */
    xp_redirect_t redirect;      /* XP_ROUTE_REDIRECT */
    xp_direct_response_t direct; /* XP_ROUTE_DIRECT */
    xp_header_edits_t request_headers, response_headers;
} xp_route_t;

typedef enum {
    XP_REQUIRE_TLS_NONE,
    XP_REQUIRE_TLS_EXTERNAL_ONLY,
    XP_REQUIRE_TLS_ALL,
} xp_require_tls_t;

typedef struct xp__route_index xp__route_index_t;

/* envoy.config.route.v3.VirtualHost. Refcounted: shared by the table
 * generations that contain it; immutable once its index is built. */
typedef struct {
    atomic_uint refcnt;
    xp_str_t name;
    xp_str_t *domains;
    size_t ndomains;
    xp_route_t **routes; /* one reference each */
    size_t nroutes, caproutes;
    /* routes[i]->source_hash for every i, side by side (NULL when the
     * routes were not translated from bytes): what the next generation
     * compares its routes with, without touching each route object. */
    uint64_t *route_hashes;
    xp_header_edits_t request_headers, response_headers;
    bool has_retry_policy;
    xp_retry_policy_t retry;
    xp_require_tls_t require_tls;
    bool include_request_attempt_count;
    bool include_attempt_count_in_response;
    xp__route_index_t *index; /* made by xp_vhost_build(_next) / xp_route_table_build(_next) */
} xp_vhost_t;

/* RouteConfiguration.vhds: more virtual hosts delivered by VHDS (Delta xDS)
 * and merged into the table by xds/manager; the on_demand HTTP filter makes
 * a request whose host matches no virtual host wait for one. */
typedef struct {
    bool enabled;
    uint64_t wait_ms; /* how long such a request waits (initial_fetch_timeout, else 5 s) */
    /* vhds.config_source, serialized: which control plane (xds/ reads it). */
    uint8_t *source;
    size_t source_len;
} xp_vhds_cfg_t;

typedef struct xp__domain_index xp__domain_index_t;

/* envoy.config.route.v3.RouteConfiguration. */
typedef struct xp_route_table {
    atomic_uint refcnt;
    xp_str_t name;
    xp_vhost_t **vhosts;
    size_t nvhosts;
    xp_header_edits_t request_headers, response_headers;
    xp_str_t *internal_only_headers;
    size_t ninternal_only_headers;
    bool ignore_port_in_host_matching;
    bool most_specific_header_mutations_wins;
    xp_vhds_cfg_t vhds;
    bool built;
    xp__domain_index_t *domains;
} xp_route_table_t;

/* ---- building ------------------------------------------------------------- */

/* A new route with refcount 1 and Envoy's defaults (case_sensitive, timeout
 * 15 s, cluster_not_found 503, redirect 301, ...). Owned by the caller. */
xp_route_t *xp_route_new(void);
xp_route_t *xp_route_ref(xp_route_t *r);
void xp_route_unref(xp_route_t *r);
/* Retry policy defaults (num_retries 1, backoff 25 ms / 250 ms). */
void xp_retry_policy_init(xp_retry_policy_t *p);

/* A new, empty table with refcount 1, owned by the caller. */
xp_route_table_t *xp_route_table_new(const char *name);
/* Appends a new virtual host held by the table (its only reference); fill
 * its fields, then use xp_vhost_add_domain / xp_vhost_add_route. */
xp_vhost_t *xp_route_table_add_vhost(xp_route_table_t *t, const char *name);
/* Appends vh, taking a new reference (vh may be in other tables too). */
void xp_route_table_add_vhost_ref(xp_route_table_t *t, xp_vhost_t *vh);
/* A virtual host of no table yet, refcount 1, owned by the caller. */
xp_vhost_t *xp_vhost_new(const char *name);
xp_vhost_t *xp_vhost_ref(xp_vhost_t *vh);
void xp_vhost_unref(xp_vhost_t *vh);
/* Checks vh's own domains (at least one, no control characters, none
 * twice) with errors under `path` ("<path>.domains[1]") and compiles its
 * route index. After success vh must not be modified. Returns 0 or
 * XP_EINVAL. Tables build their virtual hosts that are not built yet. */
int xp_vhost_build(xp_vhost_t *vh, const char *path, xp_diag_t *diag);
/* The same, where prev (NULL: none) is vh's previous generation: vh's
 * index is then made from prev's when most routes are the same objects. */
int xp_vhost_build_next(xp_vhost_t *vh, const xp_vhost_t *prev, const char *path, xp_diag_t *diag);
/* How many routes at the start (*head) and at the end (*tail) of vh's list
 * are the same objects, in the same order, as at the start and end of
 * prev's (NULL: none); head + tail is at most either list's length. Only
 * the two pointer arrays are read. */
void xp_vhost_common_ends(const xp_vhost_t *vh, const xp_vhost_t *prev, size_t *head, size_t *tail);
/* How many generations in a row vh's route index was made by patching the
 * previous generation's (0: built in full). */
unsigned xp_vhost_index_patches(const xp_vhost_t *vh);
void xp_vhost_add_domain(xp_vhost_t *vh, const char *domain);
/* Takes over the caller's reference to r. */
void xp_vhost_add_route(xp_vhost_t *vh, xp_route_t *r);
/* Validates domains (duplicates across the table, misplaced wildcards, two
 * "*") and compiles the domain and route indexes. Errors are added to diag
 * under `path` (e.g. "route_config"): "<path>.virtual_hosts[1].domains[0]".
 * Returns 0 or XP_EINVAL. After success the table must not be modified. */
int xp_route_table_build(xp_route_table_t *t, const char *path, xp_diag_t *diag);
/* The same, where prev (NULL: none) is t's previous generation: the index
 * of each virtual host with a previous generation in prev
 * (xp_route_table_prev_vhost) is made from that one's. */
int xp_route_table_build_next(xp_route_table_t *t, const xp_route_table_t *prev, const char *path,
                              xp_diag_t *diag);
/* The previous generation in prev (NULL: none) of the virtual host named
 * `name` at position i of a new table: prev's virtual host at the same
 * position with the same name, or NULL. */
const xp_vhost_t *xp_route_table_prev_vhost(const xp_route_table_t *prev, size_t i, xp_str_t name);
xp_route_table_t *xp_route_table_ref(xp_route_table_t *t);
void xp_route_table_unref(xp_route_table_t *t);
/* A new built table (refcount 1, owned by the caller) with base's name and
 * table-level settings, base's virtual hosts and then `extra` (references
 * taken: nothing is copied or compiled again but the domain index). base
 * must be built; extra may hold virtual hosts not built yet. Domain errors
 * go to diag under `path`; NULL then. */
xp_route_table_t *xp_route_table_compose(const xp_route_table_t *base, xp_vhost_t *const *extra,
                                         size_t nextra, const char *path, xp_diag_t *diag);
/* Route tables alive, all generations together. */
unsigned long xp_route_tables_alive(void);

/* Model helpers, used by translation and tests (copy their inputs). */
xp_str_t xp_str_dup(xp_str_t s);
void xp_str_free(xp_str_t *s);
void xp_header_edits_free(xp_header_edits_t *e);
void xp_header_edits_copy(xp_header_edits_t *dst, const xp_header_edits_t *src);
void xp_header_edits_add(xp_header_edits_t *e, xp_str_t name, xp_str_t value,
                         xp_header_append_t append, bool keep_empty_value);
void xp_header_edits_remove(xp_header_edits_t *e, xp_str_t name);

/* ---- matching ----------------------------------------------------------- */

/* The parts of a request the router looks at. Views into the caller's
 * buffers; nothing is copied or kept. */
typedef struct {
    xp_str_t method;
    xp_str_t path;              /* :path as received, with the query string */
    xp_str_t host;              /* Host / :authority */
    xp_str_t scheme;            /* "http" / "https" (x-forwarded-proto as the HCM set it) */
    const xp_header_t *headers; /* names compared case-insensitively */
    size_t nheaders;
    xp_str_t source_ip;             /* downstream address without the port, for hash policies */
    xp_runtime_fraction_fn runtime; /* may be NULL: runtime defaults apply */
    void *runtime_ctx;
} xp_route_request_t;

/* Statistics of one match, for tests and debugging. */
typedef struct {
    uint32_t candidates;  /* routes whose full match was evaluated */
    uint32_t regex_evals; /* regexes run (path, header and query matchers) */
} xp_route_match_stats_t;

/* The virtual host for `host` by Envoy's precedence (exact, then suffix
 * wildcards longest first, then prefix wildcards longest first, then "*"),
 * case-insensitive. strip_port: remove a trailing ":port" from host first (the
 * HCM's strip_any_host_port; also done when the table sets
 * ignore_port_in_host_matching). NULL when nothing matches. The table must be
 * built. The result borrows from the table. */
const xp_vhost_t *xp_route_table_find_vhost(const xp_route_table_t *t, xp_str_t host,
                                            bool strip_port);

/* The first route of vh, in configuration order, whose whole match holds;
 * NULL when none does. random drives runtime_fraction (Envoy uses the
 * stream's random value). The result borrows from the table. */
const xp_route_t *xp_vhost_match(const xp_vhost_t *vh, const xp_route_request_t *req,
                                 uint64_t random);
/* Same, counting work into *stats (may be NULL). */
const xp_route_t *xp_vhost_match_ex(const xp_vhost_t *vh, const xp_route_request_t *req,
                                    uint64_t random, xp_route_match_stats_t *stats);
/* Convenience: vhost then route. */
const xp_route_t *xp_route_table_match(const xp_route_table_t *t, const xp_route_request_t *req,
                                       bool strip_port, uint64_t random, const xp_vhost_t **vh_out);

/* Whether one route's match holds (no index); exposed for tests. */
bool xp_route_match_eval(const xp_route_t *r, const xp_route_request_t *req, uint64_t random,
                         xp_route_match_stats_t *stats);

/* The value of the first header named `name` (case-insensitive); false when
 * absent. */
bool xp_route_request_header(const xp_route_request_t *req, xp_str_t name, xp_str_t *value);

/* ---- data-path helpers (action.c) ---------------------------------------- */

/* The weighted cluster chosen by random % total_weight (Envoy's choice). */
const xp_weighted_cluster_t *xp_route_pick_weighted(const xp_route_action_t *a, uint64_t random);

/* The upstream cluster name for a forwarding route: the configured cluster,
 * the weighted pick, or the cluster_header's value. Empty when the header is
 * absent (reply a.cluster_not_found_code). *wc is set for weighted clusters
 * (else NULL) so per-cluster header edits can be applied. Borrows from the
 * route or the request. */
xp_str_t xp_route_cluster(const xp_route_t *r, const xp_route_request_t *req, uint64_t random,
                          const xp_weighted_cluster_t **wc);

/* The path to send upstream after prefix_rewrite / regex_rewrite, with the
 * query string preserved. Returns 0 and *out = NULL when the route does not
 * rewrite; 0 and a malloc'd NUL-terminated string owned by the caller; or
 * XP_ENOMEM. */
int xp_route_rewrite_path(const xp_route_t *r, const xp_route_request_t *req, char **out,
                          size_t *out_len);

/* The Location of a redirect route (scheme://host[:port]path[?query]), as
 * Envoy builds it. Returns 0 with a malloc'd string owned by the caller, or
 * XP_ENOMEM / XP_EINVAL (not a redirect route). */
int xp_route_redirect_location(const xp_route_t *r, const xp_route_request_t *req, char **out,
                               size_t *out_len);

/* A cookie the hash policy wants set on the response (cookie policy with a
 * ttl and no cookie in the request). value is hex text in `buf`. */
typedef struct {
    const xp_hash_policy_t *policy; /* NULL = nothing to set */
    char value[17];
} xp_hash_cookie_t;

/* Envoy's hash policy evaluation: each policy that yields a value is mixed
 * in as hash = rotl(hash, 1) ^ xxh64(value); a terminal policy that produced
 * a hash stops the walk. Returns false when no policy produced a value (the
 * load balancer then picks at random). set_cookie may be NULL. */
bool xp_route_hash(const xp_route_action_t *a, const xp_route_request_t *req, uint64_t *hash,
                   xp_hash_cookie_t *set_cookie);

/* Whether an upgrade ("websocket", ...) is allowed on this route: a
 * route-level upgrade config decides; otherwise `hcm_default` (whether the
 * HCM's upgrade_configs enable it). */
bool xp_route_upgrade_allowed(const xp_route_t *r, xp_str_t upgrade_type, bool hcm_default);

/* The retry policy in force for a forwarding route: its own, else the
 * virtual host's, else NULL. */
const xp_retry_policy_t *xp_route_retry_policy(const xp_route_t *r, const xp_vhost_t *vh);

#endif
