/* proxy/runtime: how a value's text is read (Envoy's rules), layers and
 * their precedence in a snapshot, fraction lookups as the router makes them,
 * and the /runtime JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/runtime/runtime.h"
#include "tests/router/check.h"

static void test_parse(void)
{
    static const struct {
        const char *raw;
        int b;     /* -1: not a boolean */
        int64_t u; /* -1: not an unsigned integer */
        int is_double;
    } cases[] = {
        {"true", 1, -1, 0},
        {"FaLsE", 0, -1, 0},
        {"0", 0, 0, 1},
        {"42", 1, 42, 1},
        {" 7\n", 1, 7, 1}, /* whitespace around is ignored */
        {"3.7", -1, 3, 1}, /* rounded down */
        {"-1", -1, -1, 1}, /* a number, not unsigned */
        {"1e3", -1, 1000, 1},
        {"0x10", -1, -1, 0}, /* decimal only */
        {"abc", -1, -1, 0},
        {"", -1, -1, 0},
        {"18446744073709551616", -1, -1, 1}, /* 2^64: too big for both */
        {"18446744073709551615", 1, -1, 1},  /* a boolean; as a double it rounds to 2^64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xp_runtime_entry_t e = {.raw = (char *)cases[i].raw};
        xp_runtime_entry_parse(&e);
        CHECK(e.has_bool == (cases[i].b >= 0) && (!e.has_bool || e.bool_value == cases[i].b),
              "'%s': bool %d/%d", cases[i].raw, e.has_bool, e.bool_value);
        CHECK(e.has_uint == (cases[i].u >= 0) &&
                  (!e.has_uint || e.uint_value == (uint64_t)cases[i].u),
              "'%s': uint %d/%llu", cases[i].raw, e.has_uint, (unsigned long long)e.uint_value);
        CHECK(e.has_double == cases[i].is_double, "'%s': double %d", cases[i].raw, e.has_double);
    }
}

static xp_runtime_layer_t *layer(const char *name, const char *const *kv)
{
    xp_runtime_layer_t *l = xp_runtime_layer_new(name);
    for (size_t i = 0; kv[i]; i += 2)
        xp_runtime_layer_put(l, kv[i], kv[i + 1]);
    xp_runtime_layer_seal(l);
    return l;
}

static void test_layers(void)
{
    uint64_t alive0 = xp_runtimes_alive();
    const char *a[] = {"b.key", "1", "a.key", "x", "a.key", "y", "only.a", "5", NULL};
    const char *b[] = {"b.key", "2", "c.key", "z", NULL};
    xp_runtime_layer_t *la = layer("A", a), *lb = layer("B", b);
    CHECK(la->n == 3, "a later put of a key replaces the earlier one (%zu entries)", la->n);
    CHECK(strcmp(la->entries[0].key, "a.key") == 0 && strcmp(la->entries[0].raw, "y") == 0,
          "sorted, last put wins: %s=%s", la->entries[0].key, la->entries[0].raw);
    xp_runtime_layer_t *v[] = {la, lb};
    xp_runtime_t *rt = xp_runtime_new(v, 2);
    xp_runtime_layer_unref(la);
    xp_runtime_layer_unref(lb);
    CHECK(xp_runtimes_alive() == alive0 + 1, "one snapshot alive");
    CHECK(rt->n_values == 4, "4 keys, got %zu", rt->n_values);
    const xp_runtime_entry_t *e = xp_runtime_get(rt, XP_STR_LIT("b.key"));
    CHECK(e && strcmp(e->raw, "2") == 0, "the later layer wins");
    e = xp_runtime_get(rt, XP_STR_LIT("a.key"));
    CHECK(e && strcmp(e->raw, "y") == 0, "a key only the first layer has");
    /* Keys are views: no NUL needed after them. */
    e = xp_runtime_get(rt, xp_str("c.keyXYZ", 5));
    CHECK(e && strcmp(e->raw, "z") == 0, "lookup by view");
    CHECK(xp_runtime_get(rt, XP_STR_LIT("c.ke")) == NULL, "no prefix match");
    CHECK(xp_runtime_get(rt, XP_STR_LIT("zzz")) == NULL, "absent");
    CHECK(xp_runtime_get(NULL, XP_STR_LIT("b.key")) == NULL, "NULL runtime");
    uint64_t u = 0;
    CHECK(xp_runtime_get_u64(rt, XP_STR_LIT("only.a"), &u) && u == 5, "u64 %llu",
          (unsigned long long)u);
    CHECK(!xp_runtime_get_u64(rt, XP_STR_LIT("c.key"), &u), "text is not a u64");

    char *json = xp_runtime_render_json(rt);
    const char *want = "{\n \"layers\": [\n  \"A\",\n  \"B\"\n ],\n \"entries\": {\n"
                       "  \"a.key\": {\n   \"final_value\": \"y\",\n   \"layer_values\": [\n"
                       "    \"y\",\n    \"\"\n   ]\n  },\n"
                       "  \"b.key\": {\n   \"final_value\": \"2\",\n   \"layer_values\": [\n"
                       "    \"1\",\n    \"2\"\n   ]\n  },\n"
                       "  \"c.key\": {\n   \"final_value\": \"z\",\n   \"layer_values\": [\n"
                       "    \"\",\n    \"z\"\n   ]\n  },\n"
                       "  \"only.a\": {\n   \"final_value\": \"5\",\n   \"layer_values\": [\n"
                       "    \"5\",\n    \"\"\n   ]\n  }\n }\n}\n";
    CHECK(strcmp(json, want) == 0, "/runtime JSON:\n%s", json);
    free(json);
    json = xp_runtime_render_json(NULL);
    CHECK(strcmp(json, "{\n \"layers\": [],\n \"entries\": {}\n}\n") == 0, "empty: %s", json);
    free(json);
    xp_runtime_unref(rt);
    CHECK(xp_runtimes_alive() == alive0, "the last unref frees the snapshot");
}

static void test_fraction(void)
{
    xp_runtime_layer_t *l = xp_runtime_layer_new("L");
    xp_runtime_layer_put(l, "pct", "42");
    xp_runtime_layer_put(l, "big", "250");
    xp_runtime_layer_put(l, "text", "on");
    xp_runtime_entry_t *e = xp_runtime_layer_put(l, "fp", "{numerator: 3, denominator: MILLION}");
    e->has_fraction = true;
    e->numerator = 3;
    e->denominator = 1000000;
    xp_runtime_layer_seal(l);
    xp_runtime_t *rt = xp_runtime_new(&l, 1);
    xp_runtime_layer_unref(l);
    uint32_t n = 0, d = 0;
    CHECK(xp_runtime_fraction(rt, XP_STR_LIT("pct"), &n, &d) && n == 42 && d == 100,
          "an integer is a percentage: %u/%u", n, d);
    CHECK(xp_runtime_fraction(rt, XP_STR_LIT("fp"), &n, &d) && n == 3 && d == 1000000,
          "a FractionalPercent as written: %u/%u", n, d);
    CHECK(xp_runtime_fraction(rt, XP_STR_LIT("big"), &n, &d) && n >= d && d > 0,
          "above 100: always (%u/%u)", n, d);
    CHECK(!xp_runtime_fraction(rt, XP_STR_LIT("text"), &n, &d), "text keeps the default");
    CHECK(!xp_runtime_fraction(rt, XP_STR_LIT("missing"), &n, &d), "absent keeps the default");
    CHECK(!xp_runtime_fraction(NULL, XP_STR_LIT("pct"), &n, &d), "no runtime keeps the default");
    xp_runtime_unref(rt);
}

int main(void)
{
    test_parse();
    test_layers();
    test_fraction();
    TEST_DONE();
}
