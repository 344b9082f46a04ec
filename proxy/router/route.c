/* Route model: construction, reference counting, destruction, regexes and
 * the table build step (domain validation and index compilation). */
#include "proxy/router/router_internal.h"

#include "proxy/common/error.h"
#include "proxy/common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- strings ---------------------------------------------------------- */

xp_str_t xp_str_dup(xp_str_t s)
{
    return xp_str(xp_strndup(s.p ? s.p : "", s.len), s.len);
}

void xp_str_free(xp_str_t *s)
{
    free((void *)s->p);
    s->p = NULL;
    s->len = 0;
}

/* ---- regexes -------------------------------------------------------------- */

static _Thread_local pcre2_match_data *xp__md;

pcre2_match_data *xp__regex_md(void)
{
    if (xp__md == NULL) {
        xp__md = pcre2_match_data_create(16, NULL);
        if (xp__md == NULL) {
            fprintf(stderr, "xproxy: out of memory allocating PCRE2 match data\n");
            abort();
        }
    }
    return xp__md;
}

void xp_router_thread_cleanup(void)
{
    if (xp__md) {
        pcre2_match_data_free(xp__md);
        xp__md = NULL;
    }
}

xp_regex_t *xp_regex_compile(const char *pattern, size_t len, bool full_match, char *err,
                             size_t errlen, size_t *erroffset)
{
    int errcode = 0;
    PCRE2_SIZE off = 0;
    /* RE2 semantics where PCRE2 differs by default: `$` is end of text only.
     * Envoy matches route and header regexes against the whole value
     * (RE2::FullMatch), hence ANCHORED|ENDANCHORED. Byte mode (no UTF) so
     * any path bytes can be matched without validity errors. */
    uint32_t opts = PCRE2_DOLLAR_ENDONLY;
    if (full_match)
        opts |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &errcode, &off, NULL);
    if (code == NULL) {
        if (err && errlen) {
            PCRE2_UCHAR buf[256];
            if (pcre2_get_error_message(errcode, buf, sizeof(buf)) < 0)
                snprintf((char *)buf, sizeof(buf), "error %d", errcode);
            snprintf(err, errlen, "%s", (char *)buf);
        }
        if (erroffset)
            *erroffset = off;
        return NULL;
    }
    xp_regex_t *re = xp_calloc(1, sizeof(*re));
    re->code = code;
    /* JIT failure (unsupported CPU, no executable memory) only costs speed. */
    re->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    re->pattern = xp_str_dup(xp_str(pattern, len));
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ncaptures);
    return re;
}

void xp_regex_free(xp_regex_t *re)
{
    if (re == NULL)
        return;
    pcre2_code_free(re->code);
    xp_str_free(&re->pattern);
    free(re);
}

/* pcre2_jit_match skips pcre2_match's checks of its arguments (ours are
 * always valid: byte mode, offsets inside the subject) and its dispatch: 120
 * of a route regex's 450 instructions per request (callgrind). */
static int xp__regex_exec(const xp_regex_t *re, const char *subj, size_t len, size_t start,
                          pcre2_match_data *md)
{
    if (re->jit)
        return pcre2_jit_match(re->code, (PCRE2_SPTR)subj, len, start, 0, md, NULL);
    return pcre2_match(re->code, (PCRE2_SPTR)subj, len, start, 0, md, NULL);
}

bool xp_regex_match(const xp_regex_t *re, xp_str_t s)
{
    int rc = xp__regex_exec(re, s.p ? s.p : "", s.len, 0, xp__regex_md());
    /* rc == 0: matched, ovector too small (irrelevant here). Errors such as
     * PCRE2_ERROR_MATCHLIMIT count as no match. */
    return rc >= 0;
}

uint32_t xp_regex_captures(const xp_regex_t *re)
{
    return re->ncaptures;
}

xp_str_t xp_regex_pattern(const xp_regex_t *re)
{
    return re->pattern;
}

int xp_regex_check_substitution(const xp_regex_t *re, xp_str_t sub, char *err, size_t errlen)
{
    for (size_t i = 0; i < sub.len; i++) {
        if (sub.p[i] != '\\')
            continue;
        if (i + 1 == sub.len) {
            snprintf(err, errlen, "substitution ends with a lone backslash");
            return XP_EINVAL;
        }
        char c = sub.p[++i];
        if (c == '\\')
            continue;
        if (c < '0' || c > '9') {
            snprintf(err, errlen, "invalid escape \"\\%c\" in substitution (only \\0-\\9 and \\\\)",
                     c);
            return XP_EINVAL;
        }
        if ((uint32_t)(c - '0') > re->ncaptures) {
            snprintf(err, errlen,
                     "substitution refers to group \\%c but the pattern has %u capture group(s)", c,
                     re->ncaptures);
            return XP_EINVAL;
        }
    }
    return XP_OK;
}

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} xp__buf_t;

static void xp__buf_put(xp__buf_t *b, const char *s, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap); /* size follows the request: may fail */
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static char *xp__buf_finish(xp__buf_t *b, size_t *out_len)
{
    xp__buf_put(b, "", 0);
    if (!b->oom && b->p == NULL) {
        b->p = malloc(1);
        b->oom = b->p == NULL;
    }
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    b->p[b->len] = '\0';
    if (out_len)
        *out_len = b->len;
    return b->p;
}

char *xp_regex_replace_all(const xp_regex_t *re, xp_str_t s, xp_str_t sub, size_t *out_len)
{
    pcre2_match_data *md = xp__regex_md();
    const char *subj = s.p ? s.p : "";
    xp__buf_t b = {0};
    size_t p = 0, lastend = (size_t)-1;
    /* RE2::GlobalReplace: find from p; copy the gap; an empty match right at
     * the end of the previous match is skipped by copying one byte. */
    while (p <= s.len) {
        int rc = xp__regex_exec(re, subj, s.len, p, md);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t npairs = pcre2_get_ovector_count(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > p)
            xp__buf_put(&b, subj + p, ms - p);
        if (ms == me && ms == lastend) {
            if (p < s.len)
                xp__buf_put(&b, subj + p, 1);
            p++;
            continue;
        }
        for (size_t i = 0; i < sub.len; i++) {
            char c = sub.p[i];
            if (c != '\\' || i + 1 == sub.len) {
                xp__buf_put(&b, &c, 1);
                continue;
            }
            c = sub.p[++i];
            if (c == '\\') {
                xp__buf_put(&b, &c, 1);
            } else if (c >= '0' && c <= '9') {
                uint32_t g = (uint32_t)(c - '0');
                if (g < npairs && (rc == 0 || g < (uint32_t)rc) && ov[2 * g] != PCRE2_UNSET)
                    xp__buf_put(&b, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
            }
        }
        p = me;
        lastend = me;
        /* A match that ends the subject leaves only an empty match at its
         * end, which the rule above skips: do not look for it. That is
         * ingress-nginx's "^/app(/|$)(.*)", once per request. */
        if (me == s.len)
            break;
    }
    if (p < s.len)
        xp__buf_put(&b, subj + p, s.len - p);
    return xp__buf_finish(&b, out_len);
}

/* ---- header edits ----------------------------------------------------------- */

void xp_header_edits_add(xp_header_edits_t *e, xp_str_t name, xp_str_t value,
                         xp_header_append_t append, bool keep_empty_value)
{
    e->add = xp_realloc(e->add, (e->nadd + 1) * sizeof(*e->add));
    xp_header_add_t *h = &e->add[e->nadd++];
    h->name = xp_str_dup(name);
    h->value = xp_str_dup(value);
    h->has_format = value.len && memchr(value.p, '%', value.len) != NULL;
    h->append = append;
    h->keep_empty_value = keep_empty_value;
}

void xp_header_edits_remove(xp_header_edits_t *e, xp_str_t name)
{
    e->remove = xp_realloc(e->remove, (e->nremove + 1) * sizeof(*e->remove));
    e->remove[e->nremove++] = xp_str_dup(name);
}

void xp_header_edits_copy(xp_header_edits_t *dst, const xp_header_edits_t *src)
{
    memset(dst, 0, sizeof(*dst));
    for (size_t i = 0; i < src->nadd; i++)
        xp_header_edits_add(dst, src->add[i].name, src->add[i].value, src->add[i].append,
                            src->add[i].keep_empty_value);
    for (size_t i = 0; i < src->nremove; i++)
        xp_header_edits_remove(dst, src->remove[i]);
}

void xp_header_edits_free(xp_header_edits_t *e)
{
    for (size_t i = 0; i < e->nadd; i++) {
        xp_str_free(&e->add[i].name);
        xp_str_free(&e->add[i].value);
    }
    for (size_t i = 0; i < e->nremove; i++)
        xp_str_free(&e->remove[i]);
    free(e->add);
    free(e->remove);
    memset(e, 0, sizeof(*e));
}

/* ---- routes ------------------------------------------------------------ */

const char *xp_path_match_kind_to_str(xp_path_match_kind_t k)
{
    switch (k) {
    case XP_PATH_PREFIX:
        return "prefix";
    case XP_PATH_EXACT:
        return "path";
    case XP_PATH_SEPARATED_PREFIX:
        return "path_separated_prefix";
    case XP_PATH_REGEX:
        return "safe_regex";
    case XP_PATH_CONNECT:
        return "connect_matcher";
    }
    return "?";
}

void xp_retry_policy_init(xp_retry_policy_t *p)
{
    memset(p, 0, sizeof(*p));
    p->num_retries = 1;
    p->backoff_base_ms = 25;
    p->backoff_max_ms = 250;
}

static void xp__retry_policy_free(xp_retry_policy_t *p)
{
    free(p->retriable_status_codes);
    p->retriable_status_codes = NULL;
    p->nretriable_status_codes = 0;
}

xp_route_t *xp_route_new(void)
{
    xp_route_t *r = xp_calloc(1, sizeof(*r));
    atomic_init(&r->refcnt, 1);
    r->match.case_sensitive = true;
    r->action.timeout_ms = 15000;
    r->action.cluster_not_found_code = 503;
    xp_retry_policy_init(&r->action.retry);
    r->redirect.response_code = 301;
    r->direct.status = 200;
    return r;
}

xp_route_t *xp_route_ref(xp_route_t *r)
{
    atomic_fetch_add_explicit(&r->refcnt, 1, memory_order_relaxed);
    return r;
}

static void xp__str_matcher_free(xp_str_matcher_t *m)
{
    xp_str_free(&m->value);
    xp_regex_free(m->regex);
    m->regex = NULL;
}

static void xp__route_free(xp_route_t *r)
{
    xp_route_match_t *m = &r->match;
    xp_str_free(&r->name);
    xp_str_free(&m->path);
    xp_regex_free(m->regex);
    for (size_t i = 0; i < m->nheaders; i++) {
        xp_str_free(&m->headers[i].name);
        xp__str_matcher_free(&m->headers[i].str);
    }
    free(m->headers);
    for (size_t i = 0; i < m->nquery; i++) {
        xp_str_free(&m->query[i].name);
        xp__str_matcher_free(&m->query[i].str);
    }
    free(m->query);
    xp_str_free(&m->runtime_fraction.runtime_key);

    xp_route_action_t *a = &r->action;
    xp_str_free(&a->cluster);
    xp_str_free(&a->cluster_header);
    for (size_t i = 0; i < a->nweighted; i++) {
        xp_weighted_cluster_t *w = &a->weighted[i];
        xp_str_free(&w->name);
        xp_str_free(&w->host_rewrite_literal);
        xp_header_edits_free(&w->request_headers);
        xp_header_edits_free(&w->response_headers);
    }
    free(a->weighted);
    xp_str_free(&a->weighted_runtime_prefix);
    xp_str_free(&a->prefix_rewrite);
    xp_regex_free(a->regex_rewrite);
    xp_str_free(&a->regex_substitution);
    xp_str_free(&a->host_rewrite_value);
    xp__retry_policy_free(&a->retry);
    for (size_t i = 0; i < a->nhash; i++) {
        xp_str_free(&a->hash[i].name);
        xp_str_free(&a->hash[i].cookie_path);
    }
    free(a->hash);
    for (size_t i = 0; i < a->nupgrades; i++)
        xp_str_free(&a->upgrades[i].type);
    free(a->upgrades);

    xp_redirect_t *rd = &r->redirect;
    xp_str_free(&rd->scheme);
    xp_str_free(&rd->host);
    xp_str_free(&rd->path);
    xp_regex_free(rd->regex);
    xp_str_free(&rd->regex_substitution);

    xp_str_free(&r->direct.body);
    xp_header_edits_free(&r->request_headers);
    xp_header_edits_free(&r->response_headers);
    free(r->index_key);
    free(r);
}

void xp_route_unref(xp_route_t *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refcnt, 1, memory_order_acq_rel) == 1)
        xp__route_free(r);
}

/* ---- tables ---------------------------------------------------------- */

static atomic_ulong xp__tables_alive;

unsigned long xp_route_tables_alive(void)
{
    return atomic_load_explicit(&xp__tables_alive, memory_order_relaxed);
}

xp_route_table_t *xp_route_table_new(const char *name)
{
    xp_route_table_t *t = xp_calloc(1, sizeof(*t));
    atomic_init(&t->refcnt, 1);
    atomic_fetch_add_explicit(&xp__tables_alive, 1, memory_order_relaxed);
    t->name = xp_str_dup(xp_str_c(name ? name : ""));
    return t;
}

xp_vhost_t *xp_vhost_new(const char *name)
{
    xp_vhost_t *vh = xp_calloc(1, sizeof(*vh));
    atomic_init(&vh->refcnt, 1);
    vh->name = xp_str_dup(xp_str_c(name ? name : ""));
    xp_retry_policy_init(&vh->retry);
    return vh;
}

xp_vhost_t *xp_vhost_ref(xp_vhost_t *vh)
{
    atomic_fetch_add_explicit(&vh->refcnt, 1, memory_order_relaxed);
    return vh;
}

static void xp__table_append(xp_route_table_t *t, xp_vhost_t *vh)
{
    t->vhosts = xp_realloc(t->vhosts, (t->nvhosts + 1) * sizeof(*t->vhosts));
    t->vhosts[t->nvhosts++] = vh;
}

xp_vhost_t *xp_route_table_add_vhost(xp_route_table_t *t, const char *name)
{
    xp_vhost_t *vh = xp_vhost_new(name);
    xp__table_append(t, vh);
    return vh;
}

void xp_route_table_add_vhost_ref(xp_route_table_t *t, xp_vhost_t *vh)
{
    xp__table_append(t, xp_vhost_ref(vh));
}

void xp_vhost_add_domain(xp_vhost_t *vh, const char *domain)
{
    vh->domains = xp_realloc(vh->domains, (vh->ndomains + 1) * sizeof(*vh->domains));
    vh->domains[vh->ndomains++] = xp_str_dup(xp_str_c(domain));
}

void xp_vhost_add_route(xp_vhost_t *vh, xp_route_t *r)
{
    if (vh->nroutes == vh->caproutes) {
        vh->caproutes = vh->caproutes ? 2 * vh->caproutes : 8;
        vh->routes = xp_realloc(vh->routes, vh->caproutes * sizeof(*vh->routes));
    }
    vh->routes[vh->nroutes++] = r;
}

void xp_vhost_unref(xp_vhost_t *vh)
{
    if (vh == NULL || atomic_fetch_sub_explicit(&vh->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    xp_str_free(&vh->name);
    for (size_t i = 0; i < vh->ndomains; i++)
        xp_str_free(&vh->domains[i]);
    free(vh->domains);
    for (size_t i = 0; i < vh->nroutes; i++) {
        /* Each is a cache miss of its own: ask for the next early. */
        if (i + 8 < vh->nroutes)
            __builtin_prefetch(vh->routes[i + 8], 1);
        xp_route_unref(vh->routes[i]);
    }
    free(vh->routes);
    free(vh->route_hashes);
    xp_header_edits_free(&vh->request_headers);
    xp_header_edits_free(&vh->response_headers);
    xp__retry_policy_free(&vh->retry);
    xp__route_index_free(vh->index);
    free(vh);
}

xp_route_table_t *xp_route_table_ref(xp_route_table_t *t)
{
    atomic_fetch_add_explicit(&t->refcnt, 1, memory_order_relaxed);
    return t;
}

void xp_route_table_unref(xp_route_table_t *t)
{
    if (t == NULL || atomic_fetch_sub_explicit(&t->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    atomic_fetch_sub_explicit(&xp__tables_alive, 1, memory_order_relaxed);
    xp_str_free(&t->name);
    for (size_t i = 0; i < t->nvhosts; i++)
        xp_vhost_unref(t->vhosts[i]);
    free(t->vhosts);
    xp_header_edits_free(&t->request_headers);
    xp_header_edits_free(&t->response_headers);
    for (size_t i = 0; i < t->ninternal_only_headers; i++)
        xp_str_free(&t->internal_only_headers[i]);
    free(t->internal_only_headers);
    xp__domain_index_free(t->domains);
    free(t->vhds.source);
    free(t);
}

/* ---- domain index ------------------------------------------------------- */

uint64_t xp__dom_hash(xp__dom_kind_t kind, const char *s, size_t len)
{
    /* FNV-1a over the lower-cased bytes, seeded by kind; never 0. */
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(kind + 1) * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

const xp__dent_t *xp__dom_lookup(const xp__domain_index_t *d, xp__dom_kind_t kind, const char *s,
                                 size_t len)
{
    if (d->n == 0)
        return NULL;
    uint64_t h = xp__dom_hash(kind, s, len);
    for (size_t i = h & d->mask;; i = (i + 1) & d->mask) {
        const xp__dent_t *e = &d->slots[i];
        if (e->hash == 0)
            return NULL;
        if (e->hash == h && e->kind == kind && e->len == len &&
            (len == 0 || strncasecmp(e->key, s, len) == 0))
            return e;
    }
}

void xp__domain_index_free(xp__domain_index_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; d->slots && i <= d->mask; i++)
        free(d->slots[i].key);
    free(d->slots);
    free(d->suffix_lens);
    free(d->prefix_lens);
    free(d);
}

static void xp__add_len(size_t **v, size_t *n, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == len)
            return;
    *v = xp_realloc(*v, (*n + 1) * sizeof(**v));
    size_t i = *n;
    while (i > 0 && (*v)[i - 1] < len) { /* keep longest first */
        (*v)[i] = (*v)[i - 1];
        i--;
    }
    (*v)[i] = len;
    (*n)++;
}

static int xp__domain_check(xp_str_t dom, xp_path_t *p, xp_diag_t *diag)
{
    for (size_t k = 0; k < dom.len; k++) {
        if ((unsigned char)dom.p[k] < 0x20 || dom.p[k] == 0x7f) {
            xp_diag_error(diag, xp_path_str(p), "domain contains a control character (byte %zu)",
                          k);
            return XP_EINVAL;
        }
    }
    return XP_OK;
}

static int xp__domain_index_build(xp_route_table_t *t, const char *path, xp_diag_t *diag)
{
    xp__domain_index_t *d = xp_calloc(1, sizeof(*d));
    size_t total = 0;
    for (size_t i = 0; i < t->nvhosts; i++)
        total += t->vhosts[i]->ndomains;
    size_t cap = 16;
    while (cap < total * 2)
        cap *= 2;
    d->slots = xp_calloc(cap, sizeof(*d->slots));
    d->mask = cap - 1;
    t->domains = d;

    int rc = XP_OK;
    xp_path_t p;
    xp_path_init(&p, path);
    size_t any_vh = 0, any_dom = 0;
    for (size_t i = 0; i < t->nvhosts; i++) {
        const xp_vhost_t *vh = t->vhosts[i];
        size_t m1 = xp_path_push_field(&p, "virtual_hosts");
        xp_path_push_index(&p, i);
        if (vh->ndomains == 0) {
            xp_path_push_field(&p, "domains");
            xp_diag_error(diag, xp_path_str(&p), "a virtual host needs at least one domain");
            rc = XP_EINVAL;
        }
        for (size_t j = 0; j < vh->ndomains; j++) {
            size_t m2 = xp_path_push_field(&p, "domains");
            xp_path_push_index(&p, j);
            xp_str_t dom = vh->domains[j];
            if (xp__domain_check(dom, &p, diag) != XP_OK)
                rc = XP_EINVAL;
            if (dom.len == 1 && dom.p[0] == '*') {
                if (d->any) {
                    xp_diag_error(diag, xp_path_str(&p),
                                  "only one virtual host may match \"*\" (virtual_hosts[%zu]."
                                  "domains[%zu] does already)",
                                  any_vh, any_dom);
                    rc = XP_EINVAL;
                } else {
                    d->any = vh;
                    any_vh = i;
                    any_dom = j;
                }
                xp_path_pop(&p, m2);
                continue;
            }
            /* Envoy's rule: a leading '*' makes a suffix wildcard, else a
             * trailing '*' a prefix wildcard; any other '*' is literal. */
            xp__dom_kind_t kind = XP__DOM_EXACT;
            const char *key = dom.p;
            size_t klen = dom.len;
            if (dom.len > 1 && dom.p[0] == '*') {
                kind = XP__DOM_SUFFIX;
                key++;
                klen--;
            } else if (dom.len > 1 && dom.p[dom.len - 1] == '*') {
                kind = XP__DOM_PREFIX;
                klen--;
            }
            const xp__dent_t *dup = xp__dom_lookup(d, kind, key, klen);
            if (dup) {
                xp_diag_error(diag, xp_path_str(&p),
                              "duplicate domain \"%s\" (also virtual_hosts[%zu].domains[%zu], "
                              "virtual host \"%s\"); domains must be unique across virtual hosts",
                              dom.p, dup->vh_index, dup->domain_index, dup->vh->name.p);
                rc = XP_EINVAL;
                xp_path_pop(&p, m2);
                continue;
            }
            uint64_t h = xp__dom_hash(kind, key, klen);
            size_t s = h & d->mask;
            while (d->slots[s].hash)
                s = (s + 1) & d->mask;
            xp__dent_t *e = &d->slots[s];
            e->hash = h;
            e->kind = kind;
            e->key = xp_strndup(key, klen);
            for (size_t k = 0; k < klen; k++)
                e->key[k] = (char)tolower((unsigned char)e->key[k]);
            e->len = klen;
            e->vh = vh;
            e->vh_index = i;
            e->domain_index = j;
            d->n++;
            if (kind == XP__DOM_SUFFIX)
                xp__add_len(&d->suffix_lens, &d->nsuffix, klen);
            else if (kind == XP__DOM_PREFIX)
                xp__add_len(&d->prefix_lens, &d->nprefix, klen);
            xp_path_pop(&p, m2);
        }
        xp_path_pop(&p, m1);
    }
    return rc;
}

const xp_vhost_t *xp_route_table_prev_vhost(const xp_route_table_t *prev, size_t i, xp_str_t name)
{
    if (prev == NULL || i >= prev->nvhosts || !xp_str_eq(prev->vhosts[i]->name, name))
        return NULL;
    return prev->vhosts[i];
}

void xp_vhost_common_ends(const xp_vhost_t *vh, const xp_vhost_t *prev, size_t *head, size_t *tail)
{
    size_t n = vh->nroutes, m = prev ? prev->nroutes : 0, lim = n < m ? n : m, h = 0, t = 0;
    while (h < lim && vh->routes[h] == prev->routes[h])
        h++;
    while (t < lim - h && vh->routes[n - 1 - t] == prev->routes[m - 1 - t])
        t++;
    *head = h;
    *tail = t;
}

int xp_route_table_build_next(xp_route_table_t *t, const xp_route_table_t *prev, const char *path,
                              xp_diag_t *diag)
{
    if (t->built)
        return XP_EINVAL;
    int rc = xp__domain_index_build(t, path, diag);
    if (rc != XP_OK)
        return rc;
    for (size_t i = 0; i < t->nvhosts; i++)
        if (t->vhosts[i]->index == NULL)
            t->vhosts[i]->index = xp__route_index_next(
                t->vhosts[i], xp_route_table_prev_vhost(prev, i, t->vhosts[i]->name));
    t->built = true;
    return XP_OK;
}

int xp_route_table_build(xp_route_table_t *t, const char *path, xp_diag_t *diag)
{
    return xp_route_table_build_next(t, NULL, path, diag);
}

int xp_vhost_build(xp_vhost_t *vh, const char *path, xp_diag_t *diag)
{
    return xp_vhost_build_next(vh, NULL, path, diag);
}

int xp_vhost_build_next(xp_vhost_t *vh, const xp_vhost_t *prev, const char *path, xp_diag_t *diag)
{
    int rc = XP_OK;
    xp_path_t p;
    xp_path_init(&p, path);
    size_t m = xp_path_push_field(&p, "domains");
    if (vh->ndomains == 0) {
        xp_diag_error(diag, xp_path_str(&p), "a virtual host needs at least one domain");
        rc = XP_EINVAL;
    }
    for (size_t j = 0; j < vh->ndomains; j++) {
        size_t mj = xp_path_push_index(&p, j);
        if (xp__domain_check(vh->domains[j], &p, diag) != XP_OK)
            rc = XP_EINVAL;
        for (size_t k = 0; k < j; k++) {
            if (vh->domains[k].len == vh->domains[j].len &&
                strncasecmp(vh->domains[k].p, vh->domains[j].p, vh->domains[j].len) == 0) {
                xp_diag_error(diag, xp_path_str(&p), "duplicate domain \"%s\" (also domains[%zu])",
                              vh->domains[j].p, k);
                rc = XP_EINVAL;
                break;
            }
        }
        xp_path_pop(&p, mj);
    }
    xp_path_pop(&p, m);
    if (rc == XP_OK && vh->index == NULL)
        vh->index = xp__route_index_next(vh, prev);
    return rc;
}

xp_route_table_t *xp_route_table_compose(const xp_route_table_t *base, xp_vhost_t *const *extra,
                                         size_t nextra, const char *path, xp_diag_t *diag)
{
    xp_route_table_t *t = xp_route_table_new(base->name.p);
    for (size_t i = 0; i < base->nvhosts; i++)
        xp_route_table_add_vhost_ref(t, base->vhosts[i]);
    for (size_t i = 0; i < nextra; i++)
        xp_route_table_add_vhost_ref(t, extra[i]);
    xp_header_edits_copy(&t->request_headers, &base->request_headers);
    xp_header_edits_copy(&t->response_headers, &base->response_headers);
    if (base->ninternal_only_headers) {
        t->internal_only_headers =
            xp_calloc(base->ninternal_only_headers, sizeof(*t->internal_only_headers));
        t->ninternal_only_headers = base->ninternal_only_headers;
        for (size_t i = 0; i < base->ninternal_only_headers; i++)
            t->internal_only_headers[i] = xp_str_dup(base->internal_only_headers[i]);
    }
    t->ignore_port_in_host_matching = base->ignore_port_in_host_matching;
    t->most_specific_header_mutations_wins = base->most_specific_header_mutations_wins;
    t->vhds = base->vhds;
    t->vhds.source = NULL;
    if (base->vhds.source_len) {
        t->vhds.source = xp_malloc(base->vhds.source_len);
        memcpy(t->vhds.source, base->vhds.source, base->vhds.source_len);
    }
    if (xp_route_table_build(t, path, diag) != XP_OK) {
        xp_route_table_unref(t);
        return NULL;
    }
    return t;
}
