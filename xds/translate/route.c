/* RouteConfiguration -> xp_route_table_t. Every message is checked against
 * Envoy's validation rules that matter for behaviour; fields xproxy does
 * not implement are errors when they change what happens to a request
 * (mirroring, hedging, internal redirects, subset matching, ...) and
 * warnings when they only feed features that are absent anyway (stats,
 * tracing, per-filter configs for filters xproxy does not have). */
#include "xds/translate/route.h"

#include "envoy/config/route/v3/route_components.pb-c.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "proxy/common/u64map.h"
#include "proxy/common/xxhash.h"
#include "xds/codec/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One virtual host's Route fields, as slices of the serialized message. */
typedef struct {
    xp_wire_field_t *v;
    size_t n, cap;
} xp__wire_routes_t;

typedef struct {
    xp_path_t path;
    xp_diag_t *diag;
    size_t errors;
    uint32_t max_body; /* max_direct_response_body_size_bytes */
    /* The previous generation of this table's virtual hosts (prev_vhs):
     * unchanged routes are shared with it instead of translated again. The
     * one paired with the virtual host being translated (prev_vh, see
     * xp_route_table_prev_vhost) is compared with it route by route; the
     * routes of them all are looked up by source_hash in `prev`, made on
     * first need (prev_ready). */
    xp_vhost_t *const *prev_vhs;
    size_t prev_nvhs;
    const xp_vhost_t *prev_vh;
    const xp_route_table_t *prev_tab;
    xp_u64map_t prev;
    bool prev_ready;
    size_t reused;
    /* From bytes (see xp__split): the Route messages of every virtual host
     * (their decoded messages have none) and of the one being translated. */
    const xp__wire_routes_t *wire_vhs, *wire_cur;
} xp__tr_t;

/* The seed of routes' source_hash (a digest of their serialized bytes). */
#define XP__ROUTE_SEED 0x78707274ull

static void xp__msg(xp__tr_t *t, xp_diag_sev_t sev, const char *field, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t m = t->path.len;
    if (field)
        xp_path_push_field(&t->path, field);
    xp_diag_add(t->diag, sev, xp_path_str(&t->path), "%s", buf);
    xp_path_pop(&t->path, m);
    if (sev == XP_DIAG_ERROR)
        t->errors++;
}

__attribute__((format(printf, 3, 4))) static void xp__err(xp__tr_t *t, const char *field,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp__msg(t, XP_DIAG_ERROR, field, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void xp__warn(xp__tr_t *t, const char *field,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp__msg(t, XP_DIAG_WARNING, field, fmt, ap);
    va_end(ap);
}

#define XP__UNSUPPORTED(t, field) xp__err((t), (field), "not supported by xproxy")

/* Fields protobuf-c did not know (not in xproxy's proto subset). */
static void xp__unknown(xp__tr_t *t, const ProtobufCMessage *m)
{
    if (m == NULL)
        return;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        xp__warn(t, NULL, "unknown field number %u (not in xproxy's API subset) ignored",
                 m->unknown_fields[i].tag);
}

static xp_str_t xp__s(const char *s)
{
    return xp_str_dup(xp_str_c(s ? s : ""));
}

static bool xp__set(const char *s)
{
    return s && s[0];
}

static uint64_t xp__dur_ms(xp__tr_t *t, const Google__Protobuf__Duration *d, const char *field,
                           uint64_t dflt)
{
    if (d == NULL)
        return dflt;
    if (d->seconds < 0 || d->nanos < 0) {
        xp__err(t, field, "must not be negative");
        return dflt;
    }
    /* rounded up so that 1ns does not become 0 (= disabled) */
    return (uint64_t)d->seconds * 1000 + ((uint64_t)d->nanos + 999999) / 1000000;
}

/* Errors on a configured string that cannot be written where it goes. */
static void xp__field(xp__tr_t *t, const char *field, xp_str_t s, xp_field_kind_t kind)
{
    char why[96];
    if (!xp_http_field_ok(s, kind, why, sizeof(why)))
        xp__err(t, field, "%s", why);
}

/* ---- headers to add / remove ------------------------------------------- */

static void xp__edits(xp__tr_t *t, xp_header_edits_t *e, size_t nadd,
                      Envoy__Config__Core__V3__HeaderValueOption **add, const char *add_field,
                      size_t nrm, char **rm, const char *rm_field, bool request)
{
    for (size_t i = 0; i < nadd; i++) {
        const Envoy__Config__Core__V3__HeaderValueOption *o = add[i];
        size_t m = xp_path_push_field(&t->path, add_field);
        xp_path_push_index(&t->path, i);
        xp__unknown(t, &o->base);
        if (o->header == NULL || !xp__set(o->header->key)) {
            xp__err(t, "header.key", "a header name is required");
            xp_path_pop(&t->path, m);
            continue;
        }
        const char *key = o->header->key;
        if (key[0] == ':' || (request && strcasecmp(key, "host") == 0))
            xp__err(t, "header.key", "\"%s\" cannot be modified (pseudo-header or host)", key);
        else
            xp__field(t, "header.key", xp_str_c(key), XP_FIELD_NAME);
        xp_str_t value = xp_str_c(o->header->value);
        if (o->header->raw_value.len) {
            if (value.len)
                xp__err(t, "header", "only one of value and raw_value may be set");
            value = xp_str((const char *)o->header->raw_value.data, o->header->raw_value.len);
        }
        xp__field(t, o->header->raw_value.len ? "header.raw_value" : "header.value", value,
                  XP_FIELD_VALUE);
        xp_header_append_t app = (xp_header_append_t)o->append_action;
        if (o->append) {
            if (o->append_action != 0)
                xp__err(t, "append", "append and append_action cannot both be set");
            app = o->append->value ? XP_APPEND_IF_EXISTS_OR_ADD : XP_OVERWRITE_IF_EXISTS_OR_ADD;
        }
        if ((unsigned)app > XP_OVERWRITE_IF_EXISTS)
            xp__err(t, "append_action", "unknown value %d", (int)o->append_action);
        xp_header_edits_add(e, xp_str_c(key), value, app, o->keep_empty_value);
        xp_path_pop(&t->path, m);
    }
    for (size_t i = 0; i < nrm; i++) {
        size_t m = xp_path_push_field(&t->path, rm_field);
        xp_path_push_index(&t->path, i);
        if (!xp__set(rm[i]))
            xp__err(t, NULL, "must not be empty");
        else if (rm[i][0] == ':' || (request && strcasecmp(rm[i], "host") == 0))
            xp__err(t, NULL, "\"%s\" cannot be removed (pseudo-header or host)", rm[i]);
        else {
            xp__field(t, NULL, xp_str_c(rm[i]), XP_FIELD_NAME);
            xp_header_edits_remove(e, xp_str_c(rm[i]));
        }
        xp_path_pop(&t->path, m);
    }
}

/* ---- matchers ------------------------------------------------------------ */

static xp_regex_t *xp__regex(xp__tr_t *t, const Envoy__Type__Matcher__V3__RegexMatcher *rm,
                             const char *field, bool full)
{
    size_t m = xp_path_push_field(&t->path, field);
    xp_regex_t *re = NULL;
    if (rm == NULL || rm->regex == NULL) {
        xp__err(t, "regex", "a regex is required");
    } else {
        char err[256];
        size_t off = 0;
        re = xp_regex_compile(rm->regex, strlen(rm->regex), full, err, sizeof(err), &off);
        if (re == NULL)
            xp__err(t, "regex", "invalid regex \"%s\": %s at offset %zu", rm->regex, err, off);
    }
    xp_path_pop(&t->path, m);
    return re;
}

static bool xp__string_matcher(xp__tr_t *t, const Envoy__Type__Matcher__V3__StringMatcher *sm,
                               const char *field, xp_str_matcher_t *out)
{
    size_t m = xp_path_push_field(&t->path, field);
    bool ok = true;
    out->ignore_case = sm->ignore_case;
    xp__unknown(t, &sm->base);
    switch (sm->match_pattern_case) {
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT:
        out->kind = XP_STR_EXACT;
        out->value = xp__s(sm->exact);
        break;
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX:
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SUFFIX:
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_CONTAINS: {
        const char *v, *name;
        if (sm->match_pattern_case ==
            ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX)
            out->kind = XP_STR_PREFIX, v = sm->prefix, name = "prefix";
        else if (sm->match_pattern_case ==
                 ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SUFFIX)
            out->kind = XP_STR_SUFFIX, v = sm->suffix, name = "suffix";
        else
            out->kind = XP_STR_CONTAINS, v = sm->contains, name = "contains";
        if (!xp__set(v)) {
            xp__err(t, name, "must not be empty");
            ok = false;
        }
        out->value = xp__s(v);
        break;
    }
    case ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX:
        out->kind = XP_STR_REGEX;
        if (sm->ignore_case) {
            xp__err(t, "ignore_case", "has no effect with safe_regex (use (?i) in the regex)");
            ok = false;
        }
        out->regex = xp__regex(t, sm->safe_regex, "safe_regex", true);
        out->value = xp__s(sm->safe_regex ? sm->safe_regex->regex : "");
        ok = ok && out->regex;
        break;
    default:
        xp__err(t, NULL, "one of exact, prefix, suffix, contains or safe_regex is required");
        out->kind = XP_STR_EXACT;
        out->value = xp__s("");
        ok = false;
        break;
    }
    xp_path_pop(&t->path, m);
    return ok;
}

static void xp__header_matcher(xp__tr_t *t, const Envoy__Config__Route__V3__HeaderMatcher *hm,
                               xp_header_matcher_t *h)
{
    xp__unknown(t, &hm->base);
    if (!xp__set(hm->name))
        xp__err(t, "name", "a header name is required");
    h->name = xp__s(hm->name);
    h->invert = hm->invert_match;
    h->treat_missing_as_empty = hm->treat_missing_header_as_empty;
    h->kind = XP_HDR_STRING;
    switch (hm->header_match_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER__NOT_SET:
        h->kind = XP_HDR_PRESENT; /* no specifier: the header must be present */
        h->present = true;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH:
        h->kind = XP_HDR_PRESENT;
        h->present = hm->present_match;
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH:
        h->kind = XP_HDR_RANGE;
        if (hm->range_match == NULL) {
            xp__err(t, "range_match", "start and end are required");
            break;
        }
        h->range_start = hm->range_match->start;
        h->range_end = hm->range_match->end;
        if (h->range_start >= h->range_end)
            xp__err(t, "range_match", "start (%lld) must be less than end (%lld)",
                    (long long)h->range_start, (long long)h->range_end);
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH:
        h->str.kind = XP_STR_EXACT;
        h->str.value = xp__s(hm->exact_match);
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH:
        h->str.kind = XP_STR_PREFIX;
        if (!xp__set(hm->prefix_match))
            xp__err(t, "prefix_match", "must not be empty");
        h->str.value = xp__s(hm->prefix_match);
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH:
        h->str.kind = XP_STR_SUFFIX;
        if (!xp__set(hm->suffix_match))
            xp__err(t, "suffix_match", "must not be empty");
        h->str.value = xp__s(hm->suffix_match);
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH:
        h->str.kind = XP_STR_CONTAINS;
        if (!xp__set(hm->contains_match))
            xp__err(t, "contains_match", "must not be empty");
        h->str.value = xp__s(hm->contains_match);
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH:
        h->str.kind = XP_STR_REGEX;
        h->str.regex = xp__regex(t, hm->safe_regex_match, "safe_regex_match", true);
        h->str.value = xp__s(hm->safe_regex_match ? hm->safe_regex_match->regex : "");
        break;
    case ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH:
        xp__string_matcher(t, hm->string_match, "string_match", &h->str);
        break;
    default:
        xp__err(t, NULL, "unknown header match specifier %d", (int)hm->header_match_specifier_case);
        break;
    }
}

static void xp__runtime_fraction(xp__tr_t *t,
                                 const Envoy__Config__Core__V3__RuntimeFractionalPercent *rf,
                                 const char *field, xp_runtime_fraction_t *out)
{
    size_t m = xp_path_push_field(&t->path, field);
    out->set = true;
    out->runtime_key = xp__s(rf->runtime_key);
    if (rf->default_value == NULL) {
        xp__err(t, "default_value", "is required");
    } else {
        out->numerator = rf->default_value->numerator;
        switch (rf->default_value->denominator) {
        case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED:
            out->denominator = 100;
            break;
        case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__TEN_THOUSAND:
            out->denominator = 10000;
            break;
        case ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__MILLION:
            out->denominator = 1000000;
            break;
        default:
            xp__err(t, "default_value.denominator", "unknown denominator %d",
                    (int)rf->default_value->denominator);
        }
    }
    xp_path_pop(&t->path, m);
}

static void xp__match(xp__tr_t *t, const Envoy__Config__Route__V3__RouteMatch *pm,
                      xp_route_match_t *m)
{
    size_t mark = xp_path_push_field(&t->path, "match");
    if (pm == NULL) {
        xp__err(t, NULL, "is required");
        m->path = xp__s("");
        xp_path_pop(&t->path, mark);
        return;
    }
    xp__unknown(t, &pm->base);
    m->case_sensitive = pm->case_sensitive ? pm->case_sensitive->value : true;
    switch (pm->path_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX:
        m->kind = XP_PATH_PREFIX;
        m->path = xp__s(pm->prefix);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH:
        m->kind = XP_PATH_EXACT;
        m->path = xp__s(pm->path);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX: {
        m->kind = XP_PATH_SEPARATED_PREFIX;
        m->path = xp__s(pm->path_separated_prefix);
        const char *p = m->path.p;
        if (m->path.len == 0 || p[0] != '/')
            xp__err(t, "path_separated_prefix", "must start with '/'");
        else if (strpbrk(p, "?#"))
            xp__err(t, "path_separated_prefix", "must not contain '?' or '#'");
        else if (m->path.len > 1 && p[m->path.len - 1] == '/')
            xp__err(t, "path_separated_prefix", "must not end with '/'");
        break;
    }
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX:
        m->kind = XP_PATH_REGEX;
        m->regex = xp__regex(t, pm->safe_regex, "safe_regex", true);
        m->path = xp__s(pm->safe_regex ? pm->safe_regex->regex : "");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_CONNECT_MATCHER:
        m->kind = XP_PATH_CONNECT;
        m->path = xp__s("");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_MATCH_POLICY:
        XP__UNSUPPORTED(t, "path_match_policy");
        m->path = xp__s("");
        break;
    default:
        xp__err(t, NULL,
                "one of prefix, path, safe_regex, path_separated_prefix or connect_matcher is "
                "required");
        m->path = xp__s("");
        break;
    }
    if (pm->runtime_fraction)
        xp__runtime_fraction(t, pm->runtime_fraction, "runtime_fraction", &m->runtime_fraction);
    if (pm->n_headers) {
        m->headers = xp_calloc(pm->n_headers, sizeof(*m->headers));
        m->nheaders = pm->n_headers;
        for (size_t i = 0; i < pm->n_headers; i++) {
            size_t k = xp_path_push_field(&t->path, "headers");
            xp_path_push_index(&t->path, i);
            xp__header_matcher(t, pm->headers[i], &m->headers[i]);
            xp_path_pop(&t->path, k);
        }
    }
    if (pm->n_query_parameters) {
        m->query = xp_calloc(pm->n_query_parameters, sizeof(*m->query));
        m->nquery = pm->n_query_parameters;
        for (size_t i = 0; i < pm->n_query_parameters; i++) {
            const Envoy__Config__Route__V3__QueryParameterMatcher *qp = pm->query_parameters[i];
            xp_query_matcher_t *q = &m->query[i];
            size_t k = xp_path_push_field(&t->path, "query_parameters");
            xp_path_push_index(&t->path, i);
            xp__unknown(t, &qp->base);
            if (!xp__set(qp->name))
                xp__err(t, "name", "a parameter name is required");
            q->name = xp__s(qp->name);
            if (qp->query_parameter_match_specifier_case ==
                ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH) {
                q->has_string = true;
                xp__string_matcher(t, qp->string_match, "string_match", &q->str);
            }
            xp_path_pop(&t->path, k);
        }
    }
    m->grpc = pm->grpc != NULL;
    if (pm->tls_context)
        XP__UNSUPPORTED(t, "tls_context");
    xp_path_pop(&t->path, mark);
}

/* ---- actions ----------------------------------------------------------- */

static void xp__retry(xp__tr_t *t, const Envoy__Config__Route__V3__RetryPolicy *rp,
                      xp_retry_policy_t *out)
{
    size_t m = xp_path_push_field(&t->path, "retry_policy");
    xp__unknown(t, &rp->base);
    char bad[128];
    if (xp_retry_on_parse(xp_str_c(rp->retry_on), &out->retry_on, bad, sizeof(bad)) != XP_OK)
        xp__err(t, "retry_on", "unknown or unsupported retry condition \"%s\"", bad);
    out->num_retries = rp->num_retries ? rp->num_retries->value : 1;
    out->per_try_timeout_ms = xp__dur_ms(t, rp->per_try_timeout, "per_try_timeout", 0);
    out->per_try_idle_timeout_ms =
        xp__dur_ms(t, rp->per_try_idle_timeout, "per_try_idle_timeout", 0);
    if (rp->n_retriable_status_codes) {
        out->retriable_status_codes =
            xp_calloc(rp->n_retriable_status_codes, sizeof(*out->retriable_status_codes));
        out->nretriable_status_codes = rp->n_retriable_status_codes;
        for (size_t i = 0; i < rp->n_retriable_status_codes; i++) {
            uint32_t c = rp->retriable_status_codes[i];
            if (c < 100 || c > 599) {
                size_t k = xp_path_push_field(&t->path, "retriable_status_codes");
                xp_path_push_index(&t->path, i);
                xp__err(t, NULL, "%u is not an HTTP status code", c);
                xp_path_pop(&t->path, k);
            }
            out->retriable_status_codes[i] = c;
        }
    }
    if (rp->retry_back_off) {
        const Envoy__Config__Route__V3__RetryPolicy__RetryBackOff *b = rp->retry_back_off;
        size_t k = xp_path_push_field(&t->path, "retry_back_off");
        if (b->base_interval == NULL)
            xp__err(t, "base_interval", "is required");
        out->backoff_base_ms = xp__dur_ms(t, b->base_interval, "base_interval", 25);
        if (out->backoff_base_ms == 0)
            xp__err(t, "base_interval", "must be greater than 0");
        out->backoff_max_ms =
            xp__dur_ms(t, b->max_interval, "max_interval", out->backoff_base_ms * 10);
        if (out->backoff_max_ms < out->backoff_base_ms)
            xp__err(t, "max_interval", "must be at least base_interval");
        xp_path_pop(&t->path, k);
    }
    if (rp->retry_priority)
        XP__UNSUPPORTED(t, "retry_priority");
    if (rp->n_retry_host_predicate)
        XP__UNSUPPORTED(t, "retry_host_predicate");
    if (rp->n_retry_options_predicates)
        XP__UNSUPPORTED(t, "retry_options_predicates");
    if (rp->rate_limited_retry_back_off)
        XP__UNSUPPORTED(t, "rate_limited_retry_back_off");
    if (rp->n_retriable_headers)
        XP__UNSUPPORTED(t, "retriable_headers");
    if (rp->n_retriable_request_headers)
        XP__UNSUPPORTED(t, "retriable_request_headers");
    if (rp->host_selection_retry_max_attempts)
        xp__warn(t, "host_selection_retry_max_attempts",
                 "ignored (only meaningful with retry_host_predicate)");
    xp_path_pop(&t->path, m);
}

static void xp__weighted(xp__tr_t *t, const Envoy__Config__Route__V3__WeightedCluster *wc,
                         xp_route_action_t *a)
{
    size_t m = xp_path_push_field(&t->path, "weighted_clusters");
    xp__unknown(t, &wc->base);
    if (wc->n_clusters == 0)
        xp__err(t, "clusters", "at least one cluster is required");
    a->weighted = xp_calloc(wc->n_clusters ? wc->n_clusters : 1, sizeof(*a->weighted));
    a->nweighted = wc->n_clusters;
    uint64_t sum = 0;
    for (size_t i = 0; i < wc->n_clusters; i++) {
        const Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *cw = wc->clusters[i];
        xp_weighted_cluster_t *w = &a->weighted[i];
        size_t k = xp_path_push_field(&t->path, "clusters");
        xp_path_push_index(&t->path, i);
        xp__unknown(t, &cw->base);
        if (xp__set(cw->cluster_header))
            XP__UNSUPPORTED(t, "cluster_header");
        else if (!xp__set(cw->name))
            xp__err(t, "name", "a cluster name is required");
        w->name = xp__s(cw->name);
        w->weight = cw->weight ? cw->weight->value : 0;
        sum += w->weight;
        if (cw->metadata_match)
            XP__UNSUPPORTED(t, "metadata_match");
        if (cw->n_typed_per_filter_config)
            xp__warn(t, "typed_per_filter_config", "ignored (no HTTP filter uses it)");
        if (cw->host_rewrite_specifier_case ==
            ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__CLUSTER_WEIGHT__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL) {
            w->host_rewrite_literal = xp__s(cw->host_rewrite_literal);
            xp__field(t, "host_rewrite_literal", w->host_rewrite_literal, XP_FIELD_VALUE);
        }
        xp__edits(t, &w->request_headers, cw->n_request_headers_to_add, cw->request_headers_to_add,
                  "request_headers_to_add", cw->n_request_headers_to_remove,
                  cw->request_headers_to_remove, "request_headers_to_remove", true);
        xp__edits(t, &w->response_headers, cw->n_response_headers_to_add,
                  cw->response_headers_to_add, "response_headers_to_add",
                  cw->n_response_headers_to_remove, cw->response_headers_to_remove,
                  "response_headers_to_remove", false);
        xp_path_pop(&t->path, k);
    }
    if (wc->n_clusters && sum == 0)
        xp__err(t, "clusters", "the weights sum to 0");
    else if (sum > UINT32_MAX)
        xp__err(t, "clusters", "the weights sum to %llu, more than 4294967295",
                (unsigned long long)sum);
    if (wc->total_weight && wc->total_weight->value != sum)
        xp__err(t, "total_weight", "is %u but the cluster weights sum to %llu",
                wc->total_weight->value, (unsigned long long)sum);
    a->total_weight = sum;
    a->weighted_runtime_prefix = xp__s(wc->runtime_key_prefix);
    if (wc->random_value_specifier_case ==
        ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__RANDOM_VALUE_SPECIFIER_HEADER_NAME)
        XP__UNSUPPORTED(t, "header_name");
    xp_path_pop(&t->path, m);
}

/* Fills h; false when the policy is inert and was dropped. */
static bool xp__hash_policy(xp__tr_t *t,
                            const Envoy__Config__Route__V3__RouteAction__HashPolicy *hp,
                            xp_hash_policy_t *h)
{
    xp__unknown(t, &hp->base);
    h->terminal = hp->terminal;
    switch (hp->policy_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER:
        h->kind = XP_HASH_HEADER;
        h->name = xp__s(hp->header->header_name);
        if (!xp__set(hp->header->header_name))
            xp__err(t, "header.header_name", "is required");
        if (hp->header->regex_rewrite)
            XP__UNSUPPORTED(t, "header.regex_rewrite");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE:
        h->kind = XP_HASH_COOKIE;
        h->name = xp__s(hp->cookie->name);
        if (!xp__set(hp->cookie->name))
            xp__err(t, "cookie.name", "is required");
        h->cookie_path = xp__s(hp->cookie->path);
        if (hp->cookie->ttl) {
            h->cookie_has_ttl = true;
            h->cookie_ttl_ms = xp__dur_ms(t, hp->cookie->ttl, "cookie.ttl", 0);
        }
        if (hp->cookie->n_attributes)
            XP__UNSUPPORTED(t, "cookie.attributes");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES:
        h->kind = XP_HASH_SOURCE_IP;
        if (!hp->connection_properties->source_ip) {
            /* never yields a hash, so it can never end the walk either */
            xp__warn(t, "connection_properties.source_ip", "is false: policy dropped");
            return false;
        }
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_QUERY_PARAMETER:
        h->kind = XP_HASH_QUERY_PARAMETER;
        h->name = xp__s(hp->query_parameter->name);
        if (!xp__set(hp->query_parameter->name))
            xp__err(t, "query_parameter.name", "is required");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_FILTER_STATE:
        XP__UNSUPPORTED(t, "filter_state");
        h->name = xp__s("");
        break;
    default:
        xp__err(t, NULL,
                "one of header, cookie, connection_properties or query_parameter is "
                "required");
        h->name = xp__s("");
        break;
    }
    return true;
}

static void xp__route_action(xp__tr_t *t, const Envoy__Config__Route__V3__RouteAction *ra,
                             xp_route_t *r)
{
    xp_route_action_t *a = &r->action;
    size_t m = xp_path_push_field(&t->path, "route");
    xp__unknown(t, &ra->base);
    switch (ra->cluster_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER:
        a->cluster_kind = XP_CLUSTER_NAME;
        a->cluster = xp__s(ra->cluster);
        if (!xp__set(ra->cluster))
            xp__err(t, "cluster", "must not be empty");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_HEADER:
        a->cluster_kind = XP_CLUSTER_HEADER;
        a->cluster_header = xp__s(ra->cluster_header);
        if (!xp__set(ra->cluster_header))
            xp__err(t, "cluster_header", "must not be empty");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS:
        a->cluster_kind = XP_CLUSTER_WEIGHTED;
        xp__weighted(t, ra->weighted_clusters, a);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_SPECIFIER_PLUGIN:
        XP__UNSUPPORTED(t, "cluster_specifier_plugin");
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_INLINE_CLUSTER_SPECIFIER_PLUGIN:
        XP__UNSUPPORTED(t, "inline_cluster_specifier_plugin");
        break;
    default:
        xp__err(t, NULL, "one of cluster, cluster_header or weighted_clusters is required");
        break;
    }
    switch (ra->cluster_not_found_response_code) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_NOT_FOUND_RESPONSE_CODE__NOT_FOUND:
        a->cluster_not_found_code = 404;
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_NOT_FOUND_RESPONSE_CODE__INTERNAL_SERVER_ERROR:
        a->cluster_not_found_code = 500;
        break;
    default:
        a->cluster_not_found_code = 503;
        break;
    }
    if (ra->metadata_match)
        XP__UNSUPPORTED(t, "metadata_match");
    if (xp__set(ra->prefix_rewrite) && ra->regex_rewrite)
        xp__err(t, "regex_rewrite", "only one of prefix_rewrite and regex_rewrite may be set");
    if (ra->prefix_rewrite && ra->prefix_rewrite[0]) {
        a->has_prefix_rewrite = true;
        a->prefix_rewrite = xp__s(ra->prefix_rewrite);
        xp__field(t, "prefix_rewrite", a->prefix_rewrite, XP_FIELD_PATH);
        if (r->match.kind == XP_PATH_CONNECT)
            xp__err(t, "prefix_rewrite", "cannot be used with connect_matcher");
    }
    if (ra->regex_rewrite) {
        size_t k = xp_path_push_field(&t->path, "regex_rewrite");
        a->regex_rewrite = xp__regex(t, ra->regex_rewrite->pattern, "pattern", false);
        a->regex_substitution = xp__s(ra->regex_rewrite->substitution);
        xp__field(t, "substitution", a->regex_substitution, XP_FIELD_PATH);
        char err[256];
        if (a->regex_rewrite && xp_regex_check_substitution(a->regex_rewrite, a->regex_substitution,
                                                            err, sizeof(err)) != XP_OK)
            xp__err(t, "substitution", "%s", err);
        xp_path_pop(&t->path, k);
    }
    if (ra->path_rewrite_policy)
        XP__UNSUPPORTED(t, "path_rewrite_policy");
    switch (ra->host_rewrite_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL:
        a->host_rewrite = XP_HOST_REWRITE_LITERAL;
        a->host_rewrite_value = xp__s(ra->host_rewrite_literal);
        xp__field(t, "host_rewrite_literal", a->host_rewrite_value, XP_FIELD_VALUE);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE:
        if (ra->auto_host_rewrite && ra->auto_host_rewrite->value)
            a->host_rewrite = XP_HOST_REWRITE_AUTO;
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_HEADER:
        a->host_rewrite = XP_HOST_REWRITE_HEADER;
        a->host_rewrite_value = xp__s(ra->host_rewrite_header);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_PATH_REGEX:
        XP__UNSUPPORTED(t, "host_rewrite_path_regex");
        break;
    default:
        break;
    }
    a->append_x_forwarded_host = ra->append_x_forwarded_host;
    a->timeout_ms = xp__dur_ms(t, ra->timeout, "timeout", 15000);
    if (ra->idle_timeout) {
        a->has_idle_timeout = true;
        a->idle_timeout_ms = xp__dur_ms(t, ra->idle_timeout, "idle_timeout", 0);
    }
    if (ra->early_data_policy)
        xp__warn(t, "early_data_policy", "ignored (no HTTP/3 early data)");
    if (ra->retry_policy) {
        a->has_retry_policy = true;
        xp__retry(t, ra->retry_policy, &a->retry);
    }
    if (ra->retry_policy_typed_config)
        XP__UNSUPPORTED(t, "retry_policy_typed_config");
    if (ra->n_request_mirror_policies)
        XP__UNSUPPORTED(t, "request_mirror_policies");
    if (ra->priority != ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT)
        xp__warn(t, "priority", "ignored (one priority only)");
    if (ra->n_hash_policy) {
        a->hash = xp_calloc(ra->n_hash_policy, sizeof(*a->hash));
        for (size_t i = 0; i < ra->n_hash_policy; i++) {
            size_t k = xp_path_push_field(&t->path, "hash_policy");
            xp_path_push_index(&t->path, i);
            if (xp__hash_policy(t, ra->hash_policy[i], &a->hash[a->nhash]))
                a->nhash++;
            xp_path_pop(&t->path, k);
        }
    }
    if (ra->cors)
        xp__warn(t, "cors", "ignored (the CORS filter is not supported)");
    if (ra->max_grpc_timeout) {
        a->has_grpc_timeout_header_max = true;
        a->grpc_timeout_header_max_ms = xp__dur_ms(t, ra->max_grpc_timeout, "max_grpc_timeout", 0);
    }
    if (ra->grpc_timeout_offset) {
        a->has_grpc_timeout_header_offset = true;
        a->grpc_timeout_header_offset_ms =
            xp__dur_ms(t, ra->grpc_timeout_offset, "grpc_timeout_offset", 0);
    }
    if (ra->n_upgrade_configs) {
        a->upgrades = xp_calloc(ra->n_upgrade_configs, sizeof(*a->upgrades));
        a->nupgrades = ra->n_upgrade_configs;
        for (size_t i = 0; i < ra->n_upgrade_configs; i++) {
            const Envoy__Config__Route__V3__RouteAction__UpgradeConfig *u = ra->upgrade_configs[i];
            size_t k = xp_path_push_field(&t->path, "upgrade_configs");
            xp_path_push_index(&t->path, i);
            xp__unknown(t, &u->base);
            if (!xp__set(u->upgrade_type))
                xp__err(t, "upgrade_type", "is required");
            a->upgrades[i].type = xp__s(u->upgrade_type);
            a->upgrades[i].enabled = u->enabled ? u->enabled->value : true;
            if (u->connect_config)
                XP__UNSUPPORTED(t, "connect_config");
            xp_path_pop(&t->path, k);
        }
    }
    if (ra->internal_redirect_policy)
        XP__UNSUPPORTED(t, "internal_redirect_policy");
    if (ra->internal_redirect_action !=
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INTERNAL_REDIRECT_ACTION__PASS_THROUGH_INTERNAL_REDIRECT)
        XP__UNSUPPORTED(t, "internal_redirect_action");
    if (ra->max_internal_redirects)
        XP__UNSUPPORTED(t, "max_internal_redirects");
    if (ra->hedge_policy)
        XP__UNSUPPORTED(t, "hedge_policy");
    if (ra->max_stream_duration) {
        const Envoy__Config__Route__V3__RouteAction__MaxStreamDuration *d = ra->max_stream_duration;
        size_t k = xp_path_push_field(&t->path, "max_stream_duration");
        if (d->max_stream_duration) {
            a->has_max_stream_duration = true;
            a->max_stream_duration_ms =
                xp__dur_ms(t, d->max_stream_duration, "max_stream_duration", 0);
        }
        if (d->grpc_timeout_header_max) {
            a->has_grpc_timeout_header_max = true;
            a->grpc_timeout_header_max_ms =
                xp__dur_ms(t, d->grpc_timeout_header_max, "grpc_timeout_header_max", 0);
        }
        if (d->grpc_timeout_header_offset) {
            a->has_grpc_timeout_header_offset = true;
            a->grpc_timeout_header_offset_ms =
                xp__dur_ms(t, d->grpc_timeout_header_offset, "grpc_timeout_header_offset", 0);
        }
        xp_path_pop(&t->path, k);
    }
    xp_path_pop(&t->path, m);
}

static void xp__redirect(xp__tr_t *t, const Envoy__Config__Route__V3__RedirectAction *ra,
                         xp_route_t *r)
{
    xp_redirect_t *rd = &r->redirect;
    size_t m = xp_path_push_field(&t->path, "redirect");
    xp__unknown(t, &ra->base);
    rd->host = xp__s(ra->host_redirect);
    xp__field(t, "host_redirect", rd->host, XP_FIELD_VALUE);
    if (ra->port_redirect > 65535)
        xp__err(t, "port_redirect", "%u is not a port", ra->port_redirect);
    rd->port = ra->port_redirect;
    static const uint16_t codes[] = {301, 302, 303, 307, 308};
    if ((unsigned)ra->response_code >= XP_ARRAY_SIZE(codes))
        xp__err(t, "response_code", "unknown value %d", (int)ra->response_code);
    else
        rd->response_code = codes[ra->response_code];
    rd->strip_query = ra->strip_query;
    switch (ra->scheme_rewrite_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT:
        if (ra->https_redirect)
            rd->scheme = xp__s("https");
        break;
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT:
        rd->scheme = xp__s(ra->scheme_redirect);
        xp__field(t, "scheme_redirect", rd->scheme, XP_FIELD_VALUE);
        break;
    default:
        break;
    }
    switch (ra->path_rewrite_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT:
        rd->path_kind = XP_REDIRECT_PATH_REPLACE;
        rd->path = xp__s(ra->path_redirect);
        xp__field(t, "path_redirect", rd->path, XP_FIELD_VALUE);
        break;
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE:
        rd->path_kind = XP_REDIRECT_PATH_PREFIX;
        rd->path = xp__s(ra->prefix_rewrite);
        xp__field(t, "prefix_rewrite", rd->path, XP_FIELD_VALUE);
        if (r->match.kind == XP_PATH_CONNECT)
            xp__err(t, "prefix_rewrite", "cannot be used with connect_matcher");
        break;
    case ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_REGEX_REWRITE: {
        rd->path_kind = XP_REDIRECT_PATH_REGEX;
        size_t k = xp_path_push_field(&t->path, "regex_rewrite");
        rd->regex = xp__regex(t, ra->regex_rewrite->pattern, "pattern", false);
        rd->regex_substitution = xp__s(ra->regex_rewrite->substitution);
        xp__field(t, "substitution", rd->regex_substitution, XP_FIELD_VALUE);
        char err[256];
        if (rd->regex && xp_regex_check_substitution(rd->regex, rd->regex_substitution, err,
                                                     sizeof(err)) != XP_OK)
            xp__err(t, "substitution", "%s", err);
        xp_path_pop(&t->path, k);
        break;
    }
    default:
        break;
    }
    xp_path_pop(&t->path, m);
}

static void xp__direct(xp__tr_t *t, const Envoy__Config__Route__V3__DirectResponseAction *da,
                       xp_route_t *r)
{
    size_t m = xp_path_push_field(&t->path, "direct_response");
    xp__unknown(t, &da->base);
    if (da->status < 200 || da->status > 599)
        xp__err(t, "status", "%u is not in [200, 599]", da->status);
    r->direct.status = (uint16_t)da->status;
    const Envoy__Config__Core__V3__DataSource *b = da->body;
    if (b) {
        r->direct.has_body = true;
        switch (b->specifier_case) {
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
            r->direct.body = xp__s(b->inline_string);
            break;
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES:
            r->direct.body =
                xp_str_dup(xp_str((const char *)b->inline_bytes.data, b->inline_bytes.len));
            break;
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME: {
            FILE *f = fopen(b->filename, "rb");
            char *buf = xp_malloc((size_t)t->max_body + 1);
            size_t n = 0;
            if (f == NULL) {
                xp__err(t, "body.filename", "cannot open \"%s\"", b->filename);
            } else {
                n = fread(buf, 1, (size_t)t->max_body + 1, f);
                fclose(f);
            }
            r->direct.body = xp_str_dup(xp_str(buf, n));
            free(buf);
            break;
        }
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_ENVIRONMENT_VARIABLE: {
            const char *v = getenv(b->environment_variable);
            if (v == NULL)
                xp__err(t, "body.environment_variable", "\"%s\" is not set",
                        b->environment_variable);
            r->direct.body = xp__s(v);
            break;
        }
        default:
            r->direct.has_body = false;
            break;
        }
        if (r->direct.body.len > t->max_body)
            xp__err(t, "body", "is %zu bytes, more than max_direct_response_body_size_bytes (%u)",
                    r->direct.body.len, t->max_body);
    }
    xp_path_pop(&t->path, m);
}

static xp_route_t *xp__route(xp__tr_t *t, const Envoy__Config__Route__V3__Route *pr)
{
    xp_route_t *r = xp_route_new();
    xp__unknown(t, &pr->base);
    r->name = xp__s(pr->name);
    xp__match(t, pr->match, &r->match);
    switch (pr->action_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE:
        r->kind = XP_ROUTE_FORWARD;
        xp__route_action(t, pr->route, r);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT:
        r->kind = XP_ROUTE_REDIRECT;
        xp__redirect(t, pr->redirect, r);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE:
        r->kind = XP_ROUTE_DIRECT;
        xp__direct(t, pr->direct_response, r);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_NON_FORWARDING_ACTION:
        r->kind = XP_ROUTE_NON_FORWARDING;
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_FILTER_ACTION:
        XP__UNSUPPORTED(t, "filter_action");
        break;
    default:
        xp__err(t, NULL, "one of route, redirect or direct_response is required");
        break;
    }
    if (pr->decorator)
        xp__warn(t, "decorator", "ignored (no tracing)");
    if (pr->n_typed_per_filter_config)
        xp__warn(t, "typed_per_filter_config", "ignored (no HTTP filter uses it)");
    if (pr->per_request_buffer_limit_bytes)
        xp__warn(t, "per_request_buffer_limit_bytes", "ignored (requests are not buffered)");
    xp__edits(t, &r->request_headers, pr->n_request_headers_to_add, pr->request_headers_to_add,
              "request_headers_to_add", pr->n_request_headers_to_remove,
              pr->request_headers_to_remove, "request_headers_to_remove", true);
    xp__edits(t, &r->response_headers, pr->n_response_headers_to_add, pr->response_headers_to_add,
              "response_headers_to_add", pr->n_response_headers_to_remove,
              pr->response_headers_to_remove, "response_headers_to_remove", false);
    return r;
}

static void xp__prev_collect(xp__tr_t *t);

/* The previous generation's route with these bytes in map (NULL: every
 * route of the previous generation), or NULL. */
static xp_route_t *xp__prev_route(xp__tr_t *t, const xp_u64map_t *map, uint64_t h, size_t len)
{
    if (map == NULL) {
        xp__prev_collect(t);
        map = &t->prev;
    }
    xp_route_t *r = xp_u64map_get(map, h);
    if (r == NULL || r->source_len != len)
        return NULL;
    t->reused++;
    return xp_route_ref(r);
}

/* The route for pr: the previous generation's object when pr's bytes are
 * the same (no copy, no regex compiled again), else a new translation. */
static xp_route_t *xp__route_reuse(xp__tr_t *t, const Envoy__Config__Route__V3__Route *pr)
{
    size_t len = protobuf_c_message_get_packed_size(&pr->base);
    uint8_t stack[512];
    uint8_t *buf = len <= sizeof(stack) ? stack : xp_malloc(len);
    protobuf_c_message_pack(&pr->base, buf);
    uint64_t h = xp_xxh64(buf, len, XP__ROUTE_SEED);
    if (buf != stack)
        free(buf);
    xp_route_t *r = xp__prev_route(t, NULL, h, len);
    if (r)
        return r;
    r = xp__route(t, pr);
    r->source_hash = h;
    r->source_len = len;
    return r;
}

/* The same for a serialized Route whose bytes hash to h, looked up in map
 * (see xp__prev_route): only a route that is not there is decoded (and
 * checked for fields xproxy does not know). NULL (an error added) when the
 * bytes do not decode. */
static xp_route_t *xp__route_bytes(xp__tr_t *t, const xp_u64map_t *map, size_t index,
                                   const uint8_t *p, size_t len, uint64_t h)
{
    xp_route_t *r = xp__prev_route(t, map, h, len);
    if (r)
        return r;
    size_t m = xp_path_push_field(&t->path, "routes");
    xp_path_push_index(&t->path, index);
    Envoy__Config__Route__V3__Route *pr = (Envoy__Config__Route__V3__Route *)xp_pb_unpack(
        &envoy__config__route__v3__route__descriptor, len, p);
    if (pr == NULL) {
        xp__err(t, NULL, "cannot decode this Route");
    } else {
        t->errors +=
            (size_t)xp_codec_check_unknown_fields(&pr->base, xp_path_str(&t->path), t->diag);
        r = xp__route(t, pr);
        r->source_hash = h;
        r->source_len = len;
        envoy__config__route__v3__route__free_unpacked(pr, NULL);
    }
    xp_path_pop(&t->path, m);
    return r;
}

/* The routes of vh from their bytes w. Each is hashed; the run of routes
 * at the start and the run at the end whose hashes match those of the
 * previous generation of vh, in order, are its very objects (compared side
 * by side in route_hashes, without touching the objects but to reference
 * them). Only the routes in between are looked up by hash (among the
 * previous generation's routes in between, or, with no previous generation
 * of vh, among every route of the previous table) and, if new, decoded
 * (their path is built only then). A route that moves to another virtual
 * host while both keep their names and places is decoded again. */
static void xp__vhost_routes(xp__tr_t *t, const xp__wire_routes_t *w, xp_vhost_t *vh)
{
    size_t n = w->n;
    uint64_t *h = xp_malloc((n ? n : 1) * sizeof(*h));
    for (size_t i = 0; i < n; i++)
        h[i] = xp_xxh64(w->v[i].val, w->v[i].len, XP__ROUTE_SEED);
    const xp_vhost_t *ov = t->prev_vh && t->prev_vh->route_hashes ? t->prev_vh : NULL;
    size_t m = ov ? ov->nroutes : 0, lim = n < m ? n : m, head = 0, tail = 0;
    while (head < lim && h[head] == ov->route_hashes[head])
        head++;
    while (tail < lim - head && h[n - 1 - tail] == ov->route_hashes[m - 1 - tail])
        tail++;
    xp_u64map_t mid = {0};
    if (ov) {
        xp_u64map_init(&mid, m - head - tail);
        for (size_t j = head; j < m - tail; j++)
            xp_u64map_put(&mid, ov->route_hashes[j], ov->routes[j]);
    }
    vh->caproutes = n ? n : 1;
    vh->routes = xp_realloc(vh->routes, vh->caproutes * sizeof(*vh->routes));
    for (size_t i = 0; i < n; i++) {
        xp_route_t *r;
        if (i < head || i >= n - tail) {
            /* Each is a cache miss of its own: ask for the next early. */
            size_t j = i < head ? i : i - n + m;
            if (j + 8 < m)
                __builtin_prefetch(ov->routes[j + 8], 1);
            r = xp_route_ref(ov->routes[j]);
            t->reused++;
        } else {
            r = xp__route_bytes(t, ov ? &mid : NULL, i, w->v[i].val, w->v[i].len, h[i]);
        }
        if (r)
            xp_vhost_add_route(vh, r);
    }
    xp_u64map_free(&mid);
    if (vh->nroutes == n) {
        vh->route_hashes = h;
    } else {
        free(h); /* an error was added: the table fails */
    }
}

static void xp__vhost(xp__tr_t *t, const Envoy__Config__Route__V3__VirtualHost *pv, xp_vhost_t *vh)
{
    xp__unknown(t, &pv->base);
    if (!xp__set(pv->name))
        xp__err(t, "name", "a virtual host name is required");
    for (size_t i = 0; i < pv->n_domains; i++)
        xp_vhost_add_domain(vh, pv->domains[i] ? pv->domains[i] : "");
    if (t->wire_cur)
        xp__vhost_routes(t, t->wire_cur, vh);
    for (size_t i = 0; !t->wire_cur && i < pv->n_routes; i++) {
        size_t m = xp_path_push_field(&t->path, "routes");
        xp_path_push_index(&t->path, i);
        xp_vhost_add_route(vh, xp__route_reuse(t, pv->routes[i]));
        xp_path_pop(&t->path, m);
    }
    switch (pv->require_tls) {
    case ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__NONE:
        vh->require_tls = XP_REQUIRE_TLS_NONE;
        break;
    case ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__EXTERNAL_ONLY:
        vh->require_tls = XP_REQUIRE_TLS_EXTERNAL_ONLY;
        break;
    case ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__ALL:
        vh->require_tls = XP_REQUIRE_TLS_ALL;
        break;
    default:
        xp__err(t, "require_tls", "unknown value %d", (int)pv->require_tls);
    }
    if (pv->n_virtual_clusters)
        xp__warn(t, "virtual_clusters", "ignored (no virtual cluster stats)");
    xp__edits(t, &vh->request_headers, pv->n_request_headers_to_add, pv->request_headers_to_add,
              "request_headers_to_add", pv->n_request_headers_to_remove,
              pv->request_headers_to_remove, "request_headers_to_remove", true);
    xp__edits(t, &vh->response_headers, pv->n_response_headers_to_add, pv->response_headers_to_add,
              "response_headers_to_add", pv->n_response_headers_to_remove,
              pv->response_headers_to_remove, "response_headers_to_remove", false);
    if (pv->cors)
        xp__warn(t, "cors", "ignored (the CORS filter is not supported)");
    if (pv->n_typed_per_filter_config)
        xp__warn(t, "typed_per_filter_config", "ignored (no HTTP filter uses it)");
    vh->include_request_attempt_count = pv->include_request_attempt_count;
    vh->include_attempt_count_in_response = pv->include_attempt_count_in_response;
    if (pv->retry_policy) {
        vh->has_retry_policy = true;
        xp__retry(t, pv->retry_policy, &vh->retry);
    }
    if (pv->retry_policy_typed_config)
        XP__UNSUPPORTED(t, "retry_policy_typed_config");
    if (pv->hedge_policy)
        XP__UNSUPPORTED(t, "hedge_policy");
    if (pv->include_is_timeout_retry_header)
        xp__warn(t, "include_is_timeout_retry_header", "ignored");
    if (pv->per_request_buffer_limit_bytes)
        xp__warn(t, "per_request_buffer_limit_bytes", "ignored (requests are not buffered)");
    if (pv->n_request_mirror_policies)
        XP__UNSUPPORTED(t, "request_mirror_policies");
}

static xp_route_table_t *xp__translate_table(xp__tr_t *tp,
                                             const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                             const char *path);

/* The routes of the previous generation, by digest, in t->prev (once). */
static void xp__prev_collect(xp__tr_t *t)
{
    if (t->prev_ready)
        return;
    t->prev_ready = true;
    xp_vhost_t *const *vhs = t->prev_vhs;
    size_t n = t->prev_nvhs;
    size_t total = 0;
    for (size_t v = 0; v < n; v++)
        total += vhs[v]->nroutes;
    xp_u64map_init(&t->prev, total);
    for (size_t v = 0; v < n; v++)
        for (size_t i = 0; i < vhs[v]->nroutes; i++)
            xp_u64map_put(&t->prev, vhs[v]->routes[i]->source_hash, vhs[v]->routes[i]);
}

/* prev (NULL: none) is the previous generation of the table translated
 * with t. */
static void xp__prev_table(xp__tr_t *t, const xp_route_table_t *prev)
{
    t->prev_tab = prev;
    if (prev) {
        t->prev_vhs = prev->vhosts;
        t->prev_nvhs = prev->nvhosts;
    }
}

xp_vhost_t *xp_translate_vhost(const Envoy__Config__Route__V3__VirtualHost *pv, const char *path,
                               xp_diag_t *diag, xp_vhost_t *prev, size_t *reused)
{
    xp__tr_t t = {.diag = diag, .max_body = 4096, .prev_vh = prev};
    if (prev) {
        t.prev_vhs = &prev;
        t.prev_nvhs = 1;
    }
    xp_path_init(&t.path, path);
    xp_vhost_t *vh = xp_vhost_new(pv->name);
    xp__vhost(&t, pv, vh);
    xp_u64map_free(&t.prev);
    if (reused)
        *reused = t.reused;
    if (t.errors || xp_vhost_build_next(vh, prev, path, diag) != XP_OK) {
        xp_vhost_unref(vh);
        return NULL;
    }
    return vh;
}

static const char *xp__api_type_name(int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
        &envoy__config__core__v3__api_config_source__api_type__descriptor, v);
    return ev ? ev->name : "?";
}

/* RouteConfiguration.vhds: VHDS exists only as Delta xDS (Envoy accepts
 * api_config_source with DELTA_GRPC, or ads when ads_config is Delta, which
 * only the manager can see). */
static void xp__vhds(xp__tr_t *t, const Envoy__Config__Route__V3__Vhds *v, xp_route_table_t *tab)
{
    size_t m = xp_path_push_field(&t->path, "vhds");
    xp__unknown(t, &v->base);
    const Envoy__Config__Core__V3__ConfigSource *cs = v->config_source;
    if (cs == NULL) {
        xp__err(t, "config_source", "is required");
        xp_path_pop(&t->path, m);
        return;
    }
    switch (cs->config_source_specifier_case) {
    case ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS:
        break;
    case ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_API_CONFIG_SOURCE: {
        const Envoy__Config__Core__V3__ApiConfigSource *api = cs->api_config_source;
        if (api->api_type != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__DELTA_GRPC)
            xp__err(t, "config_source.api_config_source.api_type",
                    "VHDS is served over Delta xDS only: must be DELTA_GRPC (is %s)",
                    xp__api_type_name((int)api->api_type));
        if (api->n_grpc_services == 0)
            xp__err(t, "config_source.api_config_source.grpc_services", "is required");
        break;
    }
    default:
        xp__err(t, "config_source",
                "VHDS needs a Delta gRPC source: ads (with a DELTA_GRPC ads_config) or "
                "api_config_source with api_type DELTA_GRPC");
    }
    tab->vhds.enabled = true;
    /* Bounded even when the source sets 0 (which means "no timeout" for an
     * initial fetch): a request never waits forever. */
    tab->vhds.wait_ms =
        xp__dur_ms(t, cs->initial_fetch_timeout, "config_source.initial_fetch_timeout", 0);
    if (tab->vhds.wait_ms == 0)
        tab->vhds.wait_ms = 5000;
    tab->vhds.source_len = protobuf_c_message_get_packed_size(&cs->base);
    tab->vhds.source = xp_malloc(tab->vhds.source_len + 1);
    protobuf_c_message_pack(&cs->base, tab->vhds.source);
    xp_path_pop(&t->path, m);
}

xp_route_table_t *xp_translate_route_config(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                            const char *path, xp_diag_t *diag)
{
    return xp_translate_route_config_reuse(rc, path, diag, NULL, NULL);
}

xp_route_table_t *
xp_translate_route_config_reuse(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                const char *path, xp_diag_t *diag, const xp_route_table_t *prev,
                                size_t *reused)
{
    xp__tr_t t = {.diag = diag, .max_body = 4096};
    xp__prev_table(&t, prev);
    xp_route_table_t *tab = xp__translate_table(&t, rc, path);
    xp_u64map_free(&t.prev);
    if (reused)
        *reused = t.reused;
    return tab;
}

/* Copies the serialized RouteConfiguration rc into *out without the routes
 * of its virtual hosts (field 3 of each virtual_hosts entry, field 2), and
 * lists those routes per virtual host in order. Every other byte is kept as
 * it was, so decoding *out gives the configuration minus its routes. -1 on
 * malformed bytes. */
static int xp__split(const uint8_t *rc, size_t len, uint8_t **out, size_t *out_len,
                     xp__wire_routes_t **vhs, size_t *nvh)
{
    uint8_t *o = xp_malloc(len + 1), *scratch = xp_malloc(len + 1);
    size_t olen = 0, cap = 0;
    xp__wire_routes_t *v = NULL;
    size_t n = 0;
    const uint8_t *p = rc, *end = rc + len;
    int rc_ = 0;
    while (p < end && rc_ == 0) {
        xp_wire_field_t f;
        if (xp_wire_next(&p, end, &f) < 0) {
            rc_ = -1;
            break;
        }
        if (f.field != 2 || f.wire_type != 2) {
            memcpy(o + olen, f.start, (size_t)(f.end - f.start));
            olen += (size_t)(f.end - f.start);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            v = xp_realloc(v, cap * sizeof(*v));
        }
        xp__wire_routes_t *vr = &v[n++];
        memset(vr, 0, sizeof(*vr));
        size_t slen = 0;
        const uint8_t *q = f.val, *qend = f.val + f.len;
        while (q < qend) {
            xp_wire_field_t g;
            if (xp_wire_next(&q, qend, &g) < 0) {
                rc_ = -1;
                break;
            }
            if (g.field == 3 && g.wire_type == 2) {
                if (vr->n == vr->cap) {
                    vr->cap = vr->cap ? 2 * vr->cap : 64;
                    vr->v = xp_realloc(vr->v, vr->cap * sizeof(*vr->v));
                }
                vr->v[vr->n++] = g;
            } else {
                memcpy(scratch + slen, g.start, (size_t)(g.end - g.start));
                slen += (size_t)(g.end - g.start);
            }
        }
        /* The virtual host without its routes is never longer than it was:
         * tag (field 2, LEN), length, bytes. */
        o[olen++] = 0x12;
        olen += xp_wire_put_varint(o + olen, slen);
        memcpy(o + olen, scratch, slen);
        olen += slen;
    }
    free(scratch);
    *out = o;
    *out_len = olen;
    *vhs = v;
    *nvh = n;
    return rc_;
}

static void xp__wire_routes_free(xp__wire_routes_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].v);
    free(v);
}

xp_route_table_t *xp_translate_route_config_bytes(const uint8_t *data, size_t len, const char *path,
                                                  xp_diag_t *diag, const xp_route_table_t *prev,
                                                  size_t *reused)
{
    uint8_t *stripped;
    size_t slen, nvh;
    xp__wire_routes_t *vhs;
    Envoy__Config__Route__V3__RouteConfiguration *rc = NULL;
    if (xp__split(data, len, &stripped, &slen, &vhs, &nvh) == 0)
        rc = (Envoy__Config__Route__V3__RouteConfiguration *)xp_pb_unpack(
            &envoy__config__route__v3__route_configuration__descriptor, slen, stripped);
    free(stripped);
    if (rc == NULL || rc->n_virtual_hosts != nvh) {
        xp_diag_error(diag, path, "cannot decode this RouteConfiguration");
        if (rc)
            envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);
        xp__wire_routes_free(vhs, nvh);
        return NULL;
    }
    xp_route_table_t *tab = NULL;
    if (xp_codec_check_unknown_fields(&rc->base, path, diag) == 0) {
        xp__tr_t t = {.diag = diag, .max_body = 4096, .wire_vhs = vhs};
        xp__prev_table(&t, prev);
        tab = xp__translate_table(&t, rc, path);
        xp_u64map_free(&t.prev);
        if (reused)
            *reused = t.reused;
    }
    envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);
    xp__wire_routes_free(vhs, nvh);
    return tab;
}

static xp_route_table_t *xp__translate_table(xp__tr_t *tp,
                                             const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                             const char *path)
{
    xp__tr_t t = *tp;
    xp_path_init(&t.path, path);
    if (rc == NULL) {
        xp__err(&t, NULL, "a route configuration is required");
        return NULL;
    }
    xp__unknown(&t, &rc->base);
    if (rc->max_direct_response_body_size_bytes)
        t.max_body = rc->max_direct_response_body_size_bytes->value;
    xp_route_table_t *tab = xp_route_table_new(rc->name);
    for (size_t i = 0; i < rc->n_virtual_hosts; i++) {
        size_t m = xp_path_push_field(&t.path, "virtual_hosts");
        xp_path_push_index(&t.path, i);
        const Envoy__Config__Route__V3__VirtualHost *pv = rc->virtual_hosts[i];
        if (t.wire_vhs)
            t.wire_cur = &t.wire_vhs[i];
        t.prev_vh = xp_route_table_prev_vhost(t.prev_tab, i, xp_str_c(pv->name ? pv->name : ""));
        xp__vhost(&t, pv, xp_route_table_add_vhost(tab, pv->name));
        xp_path_pop(&t.path, m);
    }
    if (rc->vhds)
        xp__vhds(&t, rc->vhds, tab);
    if (rc->n_internal_only_headers) {
        tab->internal_only_headers =
            xp_calloc(rc->n_internal_only_headers, sizeof(*tab->internal_only_headers));
        tab->ninternal_only_headers = rc->n_internal_only_headers;
        for (size_t i = 0; i < rc->n_internal_only_headers; i++)
            tab->internal_only_headers[i] = xp__s(rc->internal_only_headers[i]);
    }
    xp__edits(&t, &tab->request_headers, rc->n_request_headers_to_add, rc->request_headers_to_add,
              "request_headers_to_add", rc->n_request_headers_to_remove,
              rc->request_headers_to_remove, "request_headers_to_remove", true);
    xp__edits(&t, &tab->response_headers, rc->n_response_headers_to_add,
              rc->response_headers_to_add, "response_headers_to_add",
              rc->n_response_headers_to_remove, rc->response_headers_to_remove,
              "response_headers_to_remove", false);
    tab->most_specific_header_mutations_wins = rc->most_specific_header_mutations_wins;
    tab->ignore_port_in_host_matching = rc->ignore_port_in_host_matching;
    if (rc->validate_clusters && rc->validate_clusters->value)
        xp__warn(&t, "validate_clusters", "ignored (unknown clusters answer 503 at request time)");
    if (rc->n_cluster_specifier_plugins)
        XP__UNSUPPORTED(&t, "cluster_specifier_plugins");
    if (rc->n_request_mirror_policies)
        XP__UNSUPPORTED(&t, "request_mirror_policies");
    if (rc->ignore_path_parameters_in_path_matching)
        XP__UNSUPPORTED(&t, "ignore_path_parameters_in_path_matching");
    if (rc->n_typed_per_filter_config)
        xp__warn(&t, "typed_per_filter_config", "ignored (no HTTP filter uses it)");

    /* domain checks and index compilation (also when errors were found, so
     * duplicate domains are reported in the same pass) */
    xp_path_init(&t.path, path);
    tp->reused = t.reused;
    tp->prev = t.prev; /* the caller frees it */
    tp->prev_ready = t.prev_ready;
    if (xp_route_table_build_next(tab, t.prev_tab, path, t.diag) != XP_OK || t.errors) {
        xp_route_table_unref(tab);
        return NULL;
    }
    return tab;
}
