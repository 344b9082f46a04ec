/* SRDS in the manager: what scoped_routes reference, when a scope set is
 * ready, unique keys across an update, and the scope sets handed to the
 * data plane.
 *
 * Envoy subscribes SRDS as a wildcard: every ScopedRouteConfiguration of a
 * source belongs to the set of every scoped_routes that names that source.
 * Sets are named by source ("" for the xDS stream, else the file's path);
 * each request's HCM builds its key and looks it up in its set. */
#include "xds/manager/manager_internal.h"

#include "proxy/common/mem.h"
#include "proxy/router/route.h"

#include <stdlib.h>
#include <string.h>

static bool xp__src_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void xp__scoped_refs(xp_xds_manager_t *m, const xp_scoped_routes_cfg_t *sr, xp__refs_t *refs)
{
    if (sr->inline_scopes) {
        for (size_t i = 0; i < sr->inline_scopes->n; i++)
            if (sr->inline_scopes->scopes[i]->rds_name)
                xp__refs_add(&refs[XP__RDS], sr->inline_scopes->scopes[i]->rds_name,
                             &sr->rds_source);
        return;
    }
    if (!sr->srds)
        return;
    xp__refs_add(&refs[XP__SRDS], xp_scoped_routes_set_name(sr), &sr->srds_source);
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next) {
        if (!xp__src_eq(r->src, sr->srds_source.path))
            continue;
        const xp_scope_t *a = r->obj, *b = r->applied;
        if (a && a->rds_name)
            xp__refs_add(&refs[XP__RDS], a->rds_name, &sr->rds_source);
        if (b && b->rds_name)
            xp__refs_add(&refs[XP__RDS], b->rds_name, &sr->rds_source);
    }
}

bool xp__scope_ready(xp_xds_manager_t *m, const xp_scope_t *sc)
{
    if (sc->rds_name == NULL)
        return true;
    const xp__res_t *r = xp__find_src(m, XP__RDS, sc->rds_name, NULL);
    return r && (r->warm || r->applied);
}

bool xp__scope_set_ready(xp_xds_manager_t *m, const xp__ref_t *ref)
{
    const char *path = ref->src ? ref->src->path : NULL;
    if (path ? !xp__file_loaded(m, XP__SRDS, path) : !m->got_first[XP__SRDS])
        return false;
    for (const xp__res_t *r = m->res[XP__SRDS]; r; r = r->next)
        if (xp__src_eq(r->src, path) && !r->warm && r->applied == NULL)
            return false;
    return true;
}

/* ---- unique keys ------------------------------------------------------------- */

typedef struct {
    xp_scope_t *scope;
    long pending; /* index into the update, or -1 for a scope it leaves alone */
} xp__cand_t;

static bool xp__same_key(const xp_scope_t *a, const xp_scope_t *b)
{
    return xp_scope_key_cmp(a->key, a->nkey, b->key, b->nkey) == 0;
}

static int xp__cand_cmp(const void *x, const void *y)
{
    const xp__cand_t *a = x, *b = y;
    int c = xp_scope_key_cmp(a->scope->key, a->scope->nkey, b->scope->key, b->scope->nkey);
    if (c)
        return c;
    /* Scopes the update leaves alone first, then in the update's order. */
    return (a->pending > b->pending) - (a->pending < b->pending);
}

static bool xp__in(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void xp__scopes_check(xp_xds_manager_t *m, xp__pending_t *p, size_t n, char *const *removed,
                      size_t n_removed, bool delta, const char *src, xp_diag_t *diag)
{
    /* The set as it will be: scopes the update does not touch (unless it
     * removes them), the new version of those it changes, the accepted
     * version of those it fails to change. */
    size_t cap = n;
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next)
        cap++;
    xp__cand_t *c = xp_calloc(cap + 1, sizeof(*c));
    size_t nc = 0;
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next) {
        if (!xp__src_eq(r->src, src))
            continue;
        bool named = false;
        for (size_t i = 0; i < n && !named; i++)
            named = p[i].r == r;
        if (named || (delta ? xp__in(removed, n_removed, r->name) : true))
            continue;
        c[nc++] = (xp__cand_t){r->obj, -1};
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].obj)
            c[nc++] = (xp__cand_t){p[i].obj, (long)i};
        else if (p[i].r && p[i].r->obj)
            c[nc++] = (xp__cand_t){p[i].r->obj, -1};
    }
    /* Each round rejects one new scope of a pair with the same key (sorted,
     * the later one: scopes the update leaves alone sort first), so the
     * loop ends. */
    for (;;) {
        qsort(c, nc, sizeof(*c), xp__cand_cmp);
        size_t i = 0;
        while (i + 1 < nc && (c[i + 1].pending < 0 || !xp__same_key(c[i].scope, c[i + 1].scope)))
            i++;
        if (i + 1 >= nc)
            break;
        xp__pending_t *lp = &p[c[i + 1].pending];
        char *where = xp_asprintf("%s[%s].key", xp__type_names[XP__SRDS], lp->x->name);
        xp_diag_error(diag, where, "scope key conflict: scope '%s' has the same key",
                      c[i].scope->name);
        free(where);
        void *obj = lp->obj;
        lp->obj = NULL;
        if (lp->r && lp->r->obj)
            c[i + 1] = (xp__cand_t){lp->r->obj, -1};
        else
            c[i + 1] = c[--nc];
        xp_scope_unref(obj);
    }
    free(c);
}

/* ---- the sets in force ---------------------------------------------------------- */

static xp_scope_set_t *xp__set_for(xp_xds_manager_t *m, const char *name, const char *src)
{
    size_t n = 0;
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next)
        n++;
    xp_scope_t **v = xp_calloc(n + 1, sizeof(*v));
    size_t nw = 0;
    /* Warm scopes first; a warming scope's predecessor only where no warm
     * scope has its key (a key can move from one scope to another while the
     * first one's new version warms). */
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next)
        if (xp__src_eq(r->src, src) && r->warm)
            v[nw++] = r->obj;
    xp_scopes_sort(v, nw);
    size_t nv = nw;
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next) {
        xp_scope_t *a = r->applied;
        if (!xp__src_eq(r->src, src) || r->warm || a == NULL)
            continue;
        bool taken = false;
        for (size_t lo = 0, hi = nw; lo < hi && !taken;) {
            size_t mid = lo + (hi - lo) / 2;
            int c = xp_scope_key_cmp(v[mid]->key, v[mid]->nkey, a->key, a->nkey);
            if (c == 0)
                taken = true;
            else if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!taken)
            v[nv++] = a;
    }
    xp_scopes_sort(v, nv);
    xp_scope_set_t *set = NULL;
    for (size_t i = 0; i < m->n_sets && set == NULL; i++)
        if (strcmp(m->sets[i]->name, name) == 0 && xp_scope_set_same(m->sets[i], v, nv))
            set = xp_scope_set_ref(m->sets[i]);
    if (set == NULL)
        set = xp_scope_set_new(name, v, nv);
    free(v);
    return set;
}

void xp__scope_sets_build(xp_xds_manager_t *m, const xp__refs_t *srds_refs)
{
    xp_scope_set_t **sets = xp_calloc(srds_refs->n + 1, sizeof(*sets));
    for (size_t i = 0; i < srds_refs->n; i++) {
        const xp__ref_t *r = &srds_refs->v[i];
        sets[i] = xp__set_for(m, r->name, r->src ? r->src->path : NULL);
    }
    for (size_t i = 0; i < m->n_sets; i++)
        xp_scope_set_unref(m->sets[i]);
    free(m->sets);
    m->sets = sets;
    m->n_sets = srds_refs->n;
}
