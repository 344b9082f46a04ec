/* Scoped routing (proxy/router/scope.c): keys built from headers as Envoy's
 * HeaderValueExtractor does, scope sets found by key, sharing of scopes. */
#include "proxy/common/mem.h"
#include "proxy/router/scope.h"
#include "tests/router/check.h"

#include <stdlib.h>

static xp_scope_fragment_builder_t xp__by_index(const char *name, const char *sep, uint32_t index)
{
    return (xp_scope_fragment_builder_t){
        .name = xp_str_c(name), .element_separator = xp_str_c(sep), .index = index};
}

static xp_scope_fragment_builder_t xp__by_key(const char *name, const char *sep, const char *kv_sep,
                                              const char *key)
{
    return (xp_scope_fragment_builder_t){.name = xp_str_c(name),
                                         .element_separator = xp_str_c(sep),
                                         .by_key = true,
                                         .kv_separator = xp_str_c(kv_sep),
                                         .kv_key = xp_str_c(key)};
}

/* The fragment f builds from one header "name: value" (NULL: absent), or
 * "<none>". */
static char *xp__frag(xp_scope_fragment_builder_t f, const char *name, const char *value)
{
    xp_header_t h[2] = {{xp_str_c("host"), xp_str_c("a")}, {xp_str_c(name), xp_str_c(value)}};
    xp_route_request_t req = {.headers = h, .nheaders = value ? 2 : 1};
    xp_scope_key_builder_t b = {&f, 1};
    xp_str_t out;
    if (!xp_scope_key_build(&b, &req, &out))
        return xp_strdup("<none>");
    return xp_strndup(out.p, out.len);
}

#define FRAG(want, f, name, value)                                                                 \
    do {                                                                                           \
        char *got_ = xp__frag((f), (name), (value));                                               \
        CHECK_STR(got_, (want));                                                                   \
        free(got_);                                                                                \
    } while (0)

static void test_fragments(void)
{
    /* Envoy's example: X-Route-Selector: vip=172.10.10.20 with "," and "=". */
    xp_scope_fragment_builder_t vip = xp__by_key("X-Route-Selector", ",", "=", "vip");
    FRAG("172.10.10.20", vip, "x-route-selector", "vip=172.10.10.20");
    FRAG("172.10.10.20", vip, "X-Route-Selector", "a=b,vip=172.10.10.20,vip=x");
    FRAG("<none>", vip, "X-Route-Selector", "a=b,c=d");
    FRAG("<none>", vip, "X-Other", "vip=1");
    FRAG("<none>", vip, "X-Route-Selector", NULL);
    FRAG("", vip, "X-Route-Selector", "vip");          /* no separator: empty value */
    FRAG("=x", vip, "X-Route-Selector", "vip==x");     /* split at the first one */
    FRAG("<none>", vip, "X-Route-Selector", " vip=1"); /* keys are compared exactly */
    /* Multi-byte separators. */
    FRAG("2", xp__by_key("h", ";;", "::", "b"), "h", "a::1;;b::2");
    /* Index. */
    FRAG("a;b", xp__by_index("h", "", 0), "h", "a;b");
    FRAG("b", xp__by_index("h", ";", 1), "h", "a;b;c");
    FRAG("", xp__by_index("h", ";", 1), "h", "a;;c");
    FRAG("", xp__by_index("h", ";", 1), "h", "a;");
    FRAG("<none>", xp__by_index("h", ";", 3), "h", "a;b;c");
    FRAG("", xp__by_index("h", ";", 0), "h", "");
    /* Pseudo headers work too. */
    xp_scope_fragment_builder_t f = xp__by_index(":path", "/", 1);
    xp_route_request_t req = {.path = xp_str_c("/tenant/x")};
    xp_scope_key_builder_t b = {&f, 1};
    xp_str_t out;
    CHECK(xp_scope_key_build(&b, &req, &out) && xp_str_eq(out, xp_str_c("tenant")), "%.*s",
          (int)out.len, out.p);
}

static void test_sets(void)
{
    /* Two-fragment keys; a key needs every fragment. */
    xp_scope_fragment_builder_t fb[2] = {xp__by_index("x-a", "", 0), xp__by_index("x-b", "", 0)};
    xp_scope_key_builder_t b = {fb, 2};
    xp_str_t k1[2] = {xp_str_c("a"), xp_str_c("b")}, k2[2] = {xp_str_c("a"), xp_str_c("c")},
             k3[1] = {xp_str_c("ab")};
    xp_scope_t *s1 = xp_scope_new("s1", k1, 2, "r1", NULL, false);
    xp_scope_t *s2 = xp_scope_new("s2", k2, 2, "r2", NULL, false);
    xp_scope_t *s3 = xp_scope_new("s3", k3, 1, "r3", NULL, false);
    xp_scope_t *v[] = {s2, s3, s1};
    xp_scope_set_t *set = xp_scope_set_new("", v, 3);
    CHECK(set->n == 3, "%zu", set->n);

    xp_header_t h[2] = {{xp_str_c("x-b"), xp_str_c("c")}, {xp_str_c("x-a"), xp_str_c("a")}};
    xp_route_request_t req = {.headers = h, .nheaders = 2};
    xp_str_t key[2];
    CHECK(xp_scope_key_build(&b, &req, key), "both fragments present");
    const xp_scope_t *found = xp_scope_set_find(set, key, 2);
    CHECK(found == s2, "found %s", found ? found->name : "nothing");
    h[0].value = xp_str_c("b");
    CHECK(xp_scope_key_build(&b, &req, key), "both fragments present");
    found = xp_scope_set_find(set, key, 2);
    CHECK(found == s1, "found %s", found ? found->name : "nothing");
    h[0].value = xp_str_c("z");
    CHECK(xp_scope_key_build(&b, &req, key) && xp_scope_set_find(set, key, 2) == NULL,
          "no scope has a/z");
    req.nheaders = 1; /* x-a missing */
    CHECK(!xp_scope_key_build(&b, &req, key), "a missing fragment makes no key");
    /* Fragment count is part of the key: "ab" is not ("a","b"). */
    CHECK(xp_scope_set_find(set, k3, 1) == s3, "one-fragment key");

    /* Duplicates are found after sorting. */
    xp_scope_t *s4 = xp_scope_new("s4", k2, 2, "r4", NULL, false);
    xp_scope_t *w[] = {s1, s4, s2, s3};
    xp_scopes_sort(w, 4);
    size_t d = xp_scopes_find_dup(w, 4);
    CHECK(d < 3 && ((w[d] == s2 && w[d + 1] == s4) || (w[d] == s4 && w[d + 1] == s2)), "dup at %zu",
          d);
    CHECK(xp_scopes_find_dup(set->scopes, set->n) == set->n, "the set has distinct keys");

    /* A new set of the same scopes is the same; one changed scope is not,
     * and the others are shared, not copied. */
    xp_scope_t *same[] = {s1, s2, s3};
    xp_scopes_sort(same, 3);
    CHECK(xp_scope_set_same(set, same, 3), "same scopes");
    xp_scope_t *s2b = xp_scope_new("s2", k2, 2, "r2b", NULL, false);
    xp_scope_t *next[] = {s1, s2b, s3};
    xp_scope_set_t *set2 = xp_scope_set_new("", next, 3);
    CHECK(!xp_scope_set_same(set, set2->scopes, 3), "changed");
    CHECK(xp_scope_set_find(set2, k1, 2) == s1 && xp_scope_set_find(set, k1, 2) == s1,
          "s1 shared by both generations");
    CHECK(s1->ref.n == 3, "s1 refs %u (ours + two sets)", (unsigned)s1->ref.n);

    unsigned long alive = xp_scopes_alive();
    xp_scope_set_unref(set);
    xp_scope_unref(s2);
    CHECK(xp_scopes_alive() == alive - 1, "s2 freed with the old set: %lu -> %lu", alive,
          xp_scopes_alive());
    xp_scope_set_unref(set2);
    xp_scope_unref(s1);
    xp_scope_unref(s2b);
    xp_scope_unref(s3);
    xp_scope_unref(s4);
    CHECK(xp_scopes_alive() == 0, "%lu scopes leaked", xp_scopes_alive());
}

int main(void)
{
    test_fragments();
    test_sets();
    TEST_DONE();
}
