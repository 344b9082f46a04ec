/* A virtual host's next generation that shares all but a few routes with the
 * previous one gets its route index by patching a copy of the previous
 * index (xp_vhost_build_next). Over hundreds of random generations (routes
 * put in, taken out, replaced and moved, of every path kind, keys that
 * split and share edges, case-insensitive ones, several routes on one key)
 * each patched index must choose what a first-match scan of the routes in
 * order chooses, for the paths of every route and their neighbours; and the
 * patches must really happen, with a full build after the bound on them. */
#include "tests/router/route_test_util.h"

#include <ctype.h>
#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static int serial;

/* A random route: short paths over few letters, so keys share prefixes,
 * split edges, and sometimes coincide. */
static xp_route_t *random_route(void)
{
    static const char alpha[] = "ab/-1";
    char path[32];
    size_t len = 1;
    path[0] = '/';
    for (uint32_t k = 0, n = 1 + rnd(7); k < n; k++)
        path[len++] = alpha[rnd(sizeof(alpha) - 1)];
    path[len] = '\0';
    char name[32];
    snprintf(name, sizeof(name), "r%d", serial++);
    xp_route_t *r;
    switch (rnd(5)) {
    case 0:
        r = xp_t_route(NULL, XP_PATH_EXACT, path, name);
        break;
    case 1:
        r = xp_t_route(NULL, XP_PATH_SEPARATED_PREFIX, path, name);
        break;
    case 2: {
        char re[64];
        snprintf(re, sizeof(re), "%s(/|$).*", path);
        r = xp_t_route(NULL, XP_PATH_REGEX, re, name);
        break;
    }
    default:
        r = xp_t_route(NULL, XP_PATH_PREFIX, path, name);
        break;
    }
    if (r->match.kind != XP_PATH_REGEX && rnd(6) == 0) {
        r->match.case_sensitive = false;
        for (size_t k = 0; k < len; k++)
            if (rnd(2))
                path[k] = (char)toupper((unsigned char)path[k]);
        xp_str_free(&r->match.path);
        r->match.path = xp_str_dup(xp_str_c(path));
    }
    return r;
}

/* A new generation of vh: its route objects (referenced again) with a few
 * changed in one place, or, now and then, anywhere (a full build). With
 * one_only, exactly one route is replaced. */
static xp_vhost_t *next_gen(const xp_vhost_t *vh, bool one_only)
{
    xp_vhost_t *nv = xp_vhost_new("v");
    xp_vhost_add_domain(nv, "*");
    size_t n = vh->nroutes, at = rnd((uint32_t)n + 1);
    size_t out = rnd(4), in = rnd(4);
    int kind = (int)rnd(10);
    if (one_only) {
        at = rnd((uint32_t)n);
        out = in = 1;
        kind = 2;
    }
    if (at + out > n)
        out = n - at;
    for (size_t i = 0; i < at; i++)
        xp_vhost_add_route(nv, xp_route_ref(vh->routes[i]));
    for (size_t k = 0; k < in; k++) {
        /* a new route, or one of the old ones moved here */
        if (kind == 0 && n)
            xp_vhost_add_route(nv, xp_route_ref(vh->routes[rnd((uint32_t)n)]));
        else
            xp_vhost_add_route(nv, random_route());
    }
    for (size_t i = at + out; i < n; i++)
        xp_vhost_add_route(nv, xp_route_ref(vh->routes[i]));
    if (kind == 1) { /* many changes: more than a patch takes */
        for (size_t k = 0; k < nv->nroutes / 2; k++) {
            size_t i = rnd((uint32_t)nv->nroutes);
            xp_route_unref(nv->routes[i]);
            nv->routes[i] = random_route();
        }
    }
    return nv;
}

/* Every route's path, with '/', 'x' and a query after it, cut short, and
 * upper-cased, through the index and through a scan (xp_t_match). */
static void probe(const xp_vhost_t *vh)
{
    for (size_t i = 0; i < vh->nroutes; i++) {
        const xp_route_t *r = vh->routes[i];
        char base[64], p[80];
        size_t len = r->match.path.len < 40 ? r->match.path.len : 40;
        memcpy(base, r->match.path.p, len);
        base[len] = '\0';
        if (r->match.kind == XP_PATH_REGEX)
            base[strcspn(base, "(")] = '\0';
        static const char *const tails[] = {"", "/", "x", "?q=1", "/a"};
        for (size_t t = 0; t < XP_ARRAY_SIZE(tails); t++) {
            snprintf(p, sizeof(p), "%s%s", base, tails[t]);
            xp_t_match(vh, p, NULL, 0, 0);
        }
        size_t bl = strlen(base);
        if (bl > 2) {
            snprintf(p, sizeof(p), "%.*s", (int)(bl - 1), base);
            xp_t_match(vh, p, NULL, 0, 0);
        }
        for (size_t k = 0; k < bl; k++)
            p[k] = (char)toupper((unsigned char)base[k]);
        p[bl] = '\0';
        xp_t_match(vh, p, NULL, 0, 0);
    }
}

int main(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    xp_vhost_t *vh = xp_vhost_new("v");
    xp_vhost_add_domain(vh, "*");
    for (int i = 0; i < 150; i++)
        xp_vhost_add_route(vh, random_route());
    CHECK(xp_vhost_build(vh, "v", &d) == 0, "first build");
    CHECK(xp_vhost_index_patches(vh) == 0, "a first build is a full one");
    probe(vh);

    int patched = 0, full = 0, after_max = 0;
    unsigned prev_patches = 0;
    for (int g = 0; g < 400 && xp_test_failures == 0; g++) {
        /* the last 100: one route replaced each time, so patches run up
         * to their bound */
        xp_vhost_t *nv = next_gen(vh, g >= 300);
        CHECK(xp_vhost_build_next(nv, vh, "v", &d) == 0, "generation %d builds", g);
        unsigned p = xp_vhost_index_patches(nv);
        if (p) {
            CHECK(p == prev_patches + 1, "generation %d: patch %u after %u", g, p, prev_patches);
            patched++;
        } else {
            full++;
            after_max += prev_patches == 64;
        }
        prev_patches = p;
        probe(nv);
        xp_vhost_unref(vh);
        vh = nv;
    }
    printf("%d patched generations, %d full builds (%d at the bound)\n", patched, full, after_max);
    CHECK(patched >= 250, "most generations are patched (%d)", patched);
    CHECK(after_max >= 1, "a full build follows 64 patches in a row");
    CHECK(full > after_max, "generations with many changes are built in full");

    /* No previous generation: a full build. */
    xp_vhost_t *nv = next_gen(vh, true);
    CHECK(xp_vhost_build_next(nv, NULL, "v", &d) == 0 && xp_vhost_index_patches(nv) == 0,
          "no previous generation");
    xp_vhost_unref(nv);
    xp_vhost_unref(vh);
    xp_diag_free(&d);
    TEST_DONE();
}
