/* Unit tests of the generic codec (xds/codec) over tests/codec/xptest.proto:
 * YAML and JSON decoding of every field kind, printing, round trips, the
 * error table (exact paths and messages), merge/clone, Any and the
 * unknown-field report. */
#include "xds/codec/codec.h"

#include "proxy/common/diag.h"
#include "tests/codec/xptest.pb-c.h"
#include "xptest_proto_registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define ALL_DESC (&xptest__v1__all_types__descriptor)

static Xptest__V1__AllTypes *parse_all(const char *text, xp_diag_t *d)
{
    return (Xptest__V1__AllTypes *)xp_codec_parse(text, strlen(text), ALL_DESC, "cfg", d);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

static bool same_bytes(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
    bool eq = la == lb && memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return eq;
}

static void print_diag(const xp_diag_t *d)
{
    xp_diag_print(d, stderr, "    diag ");
}

static const char *all_yaml =
    "f_int32: -42\n"
    "f_int64: \"-9000000000\"\n"
    "f_uint32: 4294967295\n"
    "f_uint64: 18446744073709551615\n"
    "f_sint32: -7\n"
    "f_sint64: -8\n"
    "f_fixed32: 9\n"
    "f_fixed64: \"10\"\n"
    "f_sfixed32: -11\n"
    "f_sfixed64: -12\n"
    "f_float: 1.5\n"
    "f_double: -2.25e10\n"
    "f_bool: true\n"
    "f_string: héllo\n"
    "f_bytes: aGVsbG8=\n"
    "f_enum: GREEN\n"
    "inner: {name: in, port: 80, color: BLUE, children: [{name: kid}]}\n"
    "snakeCaseName: 5\n"
    "r_int32: [1, 2, 3]\n"
    "r_string:\n"
    "- a\n"
    "- 123\n"
    "r_inner:\n"
    "- name: x\n"
    "- name: y\n"
    "  port: 2\n"
    "r_enum: [RED, 3]\n"
    "r_bytes: [AQI, -_8]\n"
    "r_double: [NaN, Infinity, -Infinity]\n"
    "r_int64: [\"1\", 2]\n"
    "r_bool: [true, false]\n"
    "labels: {app: web, tier: \"1\"}\n"
    "inners:\n"
    "  first: {name: f, port: 1}\n"
    "by_id: {7: seven, -1: minus}\n"
    "flags: {true: 5}\n"
    "timeouts: {a: 2s}\n"
    "choice_inner: {name: c}\n"
    "timeout: 1.500s\n"
    "created: 2024-01-31T10:00:00.250+01:00\n"
    "max_conns: 100\n"
    "enabled: false\n"
    "label: lbl\n"
    "big: \"-5\"\n"
    "ratio: 0.5\n"
    "blob: AAE=\n"
    "fratio: 0.25\n"
    "small: -3\n"
    "ubig: 18446744073709551615\n"
    "meta: {a: 1, b: [true, null, x], c: {d: \"2\"}}\n"
    "any_value: [1, {x: y}]\n"
    "list: [1, two]\n"
    "typed:\n"
    "  '@type': type.googleapis.com/xptest.v1.Inner\n"
    "  name: packed\n"
    "  port: 8080\n"
    "typed_list:\n"
    "- {'@type': type.googleapis.com/google.protobuf.Duration, value: 3s}\n"
    "- {'@type': xptest.v1.Inner}\n"
    "empty: {}\n"
    "durations: [1s, 0.000000001s, -2.5s]\n"
    "mask: a.fooBar,baz\n";

static void test_yaml_all_kinds(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    Xptest__V1__AllTypes *m = parse_all(all_yaml, &d);
    CHECK(m != NULL, "all_yaml must parse");
    CHECK(d.n == 0, "no diagnostics expected, got %zu", d.n);
    print_diag(&d);
    if (!m) {
        xp_diag_free(&d);
        return;
    }
    CHECK(m->f_int32 == -42, "%d", m->f_int32);
    CHECK(m->f_int64 == -9000000000LL, "%lld", (long long)m->f_int64);
    CHECK(m->f_uint32 == 4294967295u, "%u", m->f_uint32);
    CHECK(m->f_uint64 == 18446744073709551615ULL, "%llu", (unsigned long long)m->f_uint64);
    CHECK(m->f_sint32 == -7 && m->f_sint64 == -8 && m->f_fixed32 == 9 && m->f_fixed64 == 10,
          "ints");
    CHECK(m->f_sfixed32 == -11 && m->f_sfixed64 == -12, "sfixed");
    CHECK(m->f_float == 1.5f && m->f_double == -2.25e10, "floats %g %g", m->f_float, m->f_double);
    CHECK(m->f_bool == 1, "bool");
    CHECK(strcmp(m->f_string, "h\xc3\xa9llo") == 0, "%s", m->f_string);
    CHECK(m->f_bytes.len == 5 && memcmp(m->f_bytes.data, "hello", 5) == 0, "bytes");
    CHECK(m->f_enum == XPTEST__V1__COLOR__GREEN, "enum");
    CHECK(m->inner && !strcmp(m->inner->name, "in") && m->inner->port == 80 &&
              m->inner->color == XPTEST__V1__COLOR__BLUE && m->inner->n_children == 1 &&
              !strcmp(m->inner->children[0]->name, "kid"),
          "inner");
    CHECK(m->snake_case_name == 5, "camelCase key");
    CHECK(m->n_r_int32 == 3 && m->r_int32[2] == 3, "r_int32");
    CHECK(m->n_r_string == 2 && !strcmp(m->r_string[1], "123"), "plain 123 as string");
    CHECK(m->n_r_inner == 2 && m->r_inner[1]->port == 2, "r_inner");
    CHECK(m->n_r_enum == 2 && m->r_enum[1] == XPTEST__V1__COLOR__BLUE, "enum by number");
    CHECK(m->n_r_bytes == 2 && m->r_bytes[0].len == 2 && m->r_bytes[0].data[1] == 2 &&
              m->r_bytes[1].len == 2 && m->r_bytes[1].data[0] == 0xfb &&
              m->r_bytes[1].data[1] == 0xff,
          "base64 unpadded and url-safe");
    CHECK(m->n_r_double == 3 && isnan(m->r_double[0]) && isinf(m->r_double[1]) &&
              m->r_double[2] < 0,
          "NaN/Infinity");
    CHECK(m->n_r_int64 == 2 && m->r_int64[0] == 1 && m->r_int64[1] == 2, "r_int64");
    CHECK(m->n_r_bool == 2 && m->r_bool[0] && !m->r_bool[1], "r_bool");
    CHECK(m->n_labels == 2 && !strcmp(m->labels[0]->key, "app") &&
              !strcmp(m->labels[0]->value, "web") && !strcmp(m->labels[1]->value, "1"),
          "map<string,string>");
    CHECK(m->n_inners == 1 && !strcmp(m->inners[0]->key, "first") && m->inners[0]->value->port == 1,
          "map<string,Inner>");
    CHECK(m->n_by_id == 2 && m->by_id[0]->key == 7 && m->by_id[1]->key == -1, "map<int32,..>");
    CHECK(m->n_flags == 1 && m->flags[0]->key == 1 && m->flags[0]->value == 5, "map<bool,..>");
    CHECK(m->n_timeouts == 1 && m->timeouts[0]->value->seconds == 2, "map<string,Duration>");
    CHECK(m->choice_case == XPTEST__V1__ALL_TYPES__CHOICE_CHOICE_INNER &&
              !strcmp(m->choice_inner->name, "c"),
          "oneof");
    CHECK(m->timeout && m->timeout->seconds == 1 && m->timeout->nanos == 500000000, "duration");
    CHECK(m->created && m->created->seconds == 1706691600 && m->created->nanos == 250000000,
          "timestamp %lld", m->created ? (long long)m->created->seconds : 0);
    CHECK(m->max_conns && m->max_conns->value == 100, "UInt32Value");
    CHECK(m->enabled && m->enabled->value == 0, "BoolValue false is still set");
    CHECK(m->label && !strcmp(m->label->value, "lbl"), "StringValue");
    CHECK(m->big && m->big->value == -5, "Int64Value");
    CHECK(m->ratio && m->ratio->value == 0.5, "DoubleValue");
    CHECK(m->blob && m->blob->value.len == 2, "BytesValue");
    CHECK(m->fratio && m->fratio->value == 0.25f, "FloatValue");
    CHECK(m->small && m->small->value == -3, "Int32Value");
    CHECK(m->ubig && m->ubig->value == 18446744073709551615ULL, "UInt64Value");
    CHECK(m->meta && m->meta->n_fields == 3, "Struct");
    if (m->meta && m->meta->n_fields == 3) {
        Google__Protobuf__Value *a = m->meta->fields[0]->value;
        CHECK(a->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE && a->number_value == 1,
              "Struct number");
        Google__Protobuf__Value *b = m->meta->fields[1]->value;
        CHECK(b->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE &&
                  b->list_value->n_values == 3 &&
                  b->list_value->values[0]->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE &&
                  b->list_value->values[1]->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE &&
                  b->list_value->values[2]->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE,
              "Struct list");
        Google__Protobuf__Value *c = m->meta->fields[2]->value;
        CHECK(c->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE &&
                  c->struct_value->fields[0]->value->kind_case ==
                      GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE,
              "quoted \"2\" stays a string in Struct");
    }
    CHECK(m->any_value && m->any_value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE,
          "Value");
    CHECK(m->list && m->list->n_values == 2, "ListValue");
    CHECK(m->typed && !strcmp(m->typed->type_url, "type.googleapis.com/xptest.v1.Inner"), "Any");
    if (m->typed) {
        xp_diag_t d2;
        xp_diag_init(&d2);
        Xptest__V1__Inner *in = (Xptest__V1__Inner *)xp_any_unpack(
            m->typed, &xptest__v1__inner__descriptor, &d2, "cfg.typed");
        CHECK(in && !strcmp(in->name, "packed") && in->port == 8080, "Any payload");
        if (in)
            protobuf_c_message_free_unpacked(&in->base, NULL);
        xp_diag_free(&d2);
    }
    CHECK(m->n_typed_list == 2 &&
              !strcmp(m->typed_list[0]->type_url, "type.googleapis.com/google.protobuf.Duration") &&
              m->typed_list[1]->value.len == 0 &&
              !strcmp(m->typed_list[1]->type_url, "xptest.v1.Inner"),
          "Any list (WKT value form, empty payload)");
    CHECK(m->empty != NULL, "Empty");
    CHECK(m->n_durations == 3 && m->durations[1]->nanos == 1 && m->durations[2]->seconds == -2 &&
              m->durations[2]->nanos == -500000000,
          "durations");
    CHECK(m->mask && m->mask->n_paths == 2 && !strcmp(m->mask->paths[0], "a.foo_bar") &&
              !strcmp(m->mask->paths[1], "baz"),
          "FieldMask");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    xp_diag_free(&d);
}

/* The same content as JSON, camelCase keys, JSON escapes. */
static void test_json(void)
{
    const char *json =
        "{\n\t\"fInt32\": -42, \"fString\": \"caf\\u00e9 \\ud83d\\ude00 \\/ \\\"q\\\" \\n\",\n"
        "\"rInt32\":[1,2],\"labels\":{\"a\":\"b\"},\"byId\":{\"7\":\"x\"},\n"
        "\"timeout\":\"0.250s\",\"maxConns\":7,\"fInt64\":\"-1\",\"fUint64\":"
        "\"18446744073709551615\",\n"
        "\"meta\":{\"k\":[1,\"s\",true,null,{\"n\":1.5}]},\"fBool\":true,\"fEnum\":\"RED\",\n"
        "\"typed\":{\"port\":1,\"@type\":\"type.googleapis.com/"
        "xptest.v1.Inner\"},\"fFloat\":1e3,\"fInt32\":-42}";
    xp_diag_t d;
    xp_diag_init(&d);
    Xptest__V1__AllTypes *m = parse_all(json, &d);
    /* fInt32 given twice: an error. */
    CHECK(m == NULL && d.nerrors == 1 && strstr(d.v[0].msg, "duplicate key 'fInt32'") &&
              !strcmp(d.v[0].path, "cfg.fInt32"),
          "duplicate JSON key");
    print_diag(&d);
    xp_diag_free(&d);

    char *fixed = strdup(json);
    strcpy(strstr(fixed, ",\"fInt32\":-42}"), "}");
    xp_diag_init(&d);
    m = parse_all(fixed, &d);
    CHECK(m != NULL && d.n == 0, "JSON must parse: %s", fixed);
    print_diag(&d);
    if (m) {
        CHECK(!strcmp(m->f_string, "caf\xc3\xa9 \xf0\x9f\x98\x80 / \"q\" \n"), "escapes: [%s]",
              m->f_string);
        CHECK(m->f_int32 == -42 && m->n_r_int32 == 2 && m->n_labels == 1 && m->n_by_id == 1 &&
                  m->by_id[0]->key == 7,
              "json fields");
        CHECK(m->timeout->nanos == 250000000 && m->max_conns->value == 7 && m->f_int64 == -1,
              "json wkt");
        CHECK(m->f_float == 1000.0f, "1e3");
        CHECK(m->meta->fields[0]->value->list_value->n_values == 5, "struct list");
        CHECK(m->typed && m->typed->value.len == 2, "Any with @type after fields");
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    xp_diag_free(&d);
    free(fixed);
}

static void test_print_and_roundtrip(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    Xptest__V1__AllTypes *m = parse_all(all_yaml, &d);
    if (!m) {
        CHECK(0, "parse");
        return;
    }
    char *json = xp_codec_to_json(&m->base, false);
    static const char *want[] = {
        "\"f_int64\":\"-9000000000\"",
        "\"f_uint32\":4294967295",
        "\"f_uint64\":\"18446744073709551615\"",
        "\"f_float\":1.5",
        "\"f_double\":-22500000000",
        "\"f_bytes\":\"aGVsbG8=\"",
        "\"f_enum\":\"GREEN\"",
        "\"snake_case_name\":5",
        "\"r_enum\":[\"RED\",\"BLUE\"]",
        "\"r_bytes\":[\"AQI=\",\"+/8=\"]",
        "\"r_double\":[\"NaN\",\"Infinity\",\"-Infinity\"]",
        "\"labels\":{\"app\":\"web\",\"tier\":\"1\"}",
        "\"by_id\":{\"7\":\"seven\",\"-1\":\"minus\"}",
        "\"flags\":{\"true\":\"5\"}",
        "\"timeout\":\"1.500s\"",
        "\"created\":\"2024-01-31T09:00:00.250Z\"",
        "\"max_conns\":100",
        "\"enabled\":false",
        "\"big\":\"-5\"",
        "\"meta\":{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":\"2\"}}",
        "\"typed\":{\"@type\":\"type.googleapis.com/xptest.v1.Inner\",\"name\":\"packed\","
        "\"port\":8080}",
        "{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"3s\"}",
        "\"empty\":{}",
        "\"durations\":[\"1s\",\"0.000000001s\",\"-2.500s\"]",
        "\"mask\":\"a.fooBar,baz\"",
        "\"choice_inner\":{\"name\":\"c\"}",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK(strstr(json, want[i]) != NULL, "to_json lacks %s in\n%s", want[i], json);
    CHECK(strstr(json, "f_int32\":-42") && !strstr(json, "fInt32"), "proto names");
    for (int pretty = 0; pretty < 2; pretty++) {
        char *j = xp_codec_to_json(&m->base, pretty);
        ProtobufCMessage *back = xp_codec_parse(j, strlen(j), ALL_DESC, "", &d);
        CHECK(back != NULL, "to_json output parses back (pretty=%d)", pretty);
        print_diag(&d);
        if (back) {
            /* NaN != NaN, so compare bytes, which are equal for equal bits. */
            CHECK(same_bytes(&m->base, back), "round trip bytes (pretty=%d)", pretty);
            protobuf_c_message_free_unpacked(back, NULL);
        }
        free(j);
    }
    /* An empty message prints as {} and defaults are omitted. */
    Xptest__V1__AllTypes empty = XPTEST__V1__ALL_TYPES__INIT;
    char *e = xp_codec_to_json(&empty.base, false);
    CHECK(!strcmp(e, "{}"), "%s", e);
    free(e);
    e = xp_codec_to_json(&empty.base, true);
    CHECK(!strcmp(e, "{}\n"), "%s", e);
    free(e);
    /* An Any of an unregistered type keeps its bytes. */
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    uint8_t raw[] = {8, 1};
    any.type_url = "type.googleapis.com/nope.Nope";
    any.value.data = raw;
    any.value.len = 2;
    e = xp_codec_to_json(&any.base, false);
    CHECK(!strcmp(e, "{\"@type\":\"type.googleapis.com/nope.Nope\",\"value\":\"CAE=\"}"), "%s", e);
    free(e);
    free(json);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    xp_diag_free(&d);
}

static void test_leniencies(void)
{
    const char *text = "inner: &in {name: anchored, port: 1}\n"
                       "r_inner: [*in, {<<: *in, port: 2}]\n"
                       "inners:\n"
                       "  m:\n"
                       "    <<: [{name: first, port: 3}, {name: second, color: RED}]\n"
                       "    port: 4\n"
                       "f_int32: \"12\"\n"
                       "f_uint32: 1e3\n"
                       "f_double: \"7\"\n"
                       "f_bool: True\n"
                       "r_string: single\n"
                       "r_inner_unused: ~\n";
    xp_diag_t d;
    xp_diag_init(&d);
    Xptest__V1__AllTypes *m = parse_all(text, &d);
    CHECK(m == NULL, "r_inner_unused is unknown");
    xp_diag_free(&d);

    const char *extra = "labels: null\nf_string: null\ntimeout: {seconds: 3, nanos: 5}\n";
    char *ok = malloc(strlen(text) + strlen(extra) + 1);
    strcpy(ok, text);
    *strstr(ok, "r_inner_unused") = '\0';
    strcat(ok, extra);
    xp_diag_init(&d);
    m = parse_all(ok, &d);
    CHECK(m != NULL, "leniencies parse");
    print_diag(&d);
    if (m) {
        CHECK(!strcmp(m->inner->name, "anchored"), "anchor");
        CHECK(m->n_r_inner == 2 && m->r_inner[0]->port == 1 && m->r_inner[1]->port == 2 &&
                  !strcmp(m->r_inner[1]->name, "anchored"),
              "alias and merge key");
        Xptest__V1__Inner *mi = m->inners[0]->value;
        CHECK(!strcmp(mi->name, "first") && mi->port == 4 && mi->color == XPTEST__V1__COLOR__RED,
              "merge list precedence: name=%s port=%u", mi->name, mi->port);
        CHECK(m->f_int32 == 12 && m->f_uint32 == 1000 && m->f_double == 7 && m->f_bool,
              "numeric strings");
        CHECK(m->n_r_string == 1 && !strcmp(m->r_string[0], "single"), "single value as list");
        CHECK(m->n_labels == 0 && m->f_string[0] == '\0', "null leaves the default");
        CHECK(m->timeout->seconds == 3 && m->timeout->nanos == 5, "Duration object form");
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    xp_diag_free(&d);
    free(ok);

    /* Empty documents decode to an empty message. */
    xp_diag_init(&d);
    m = parse_all("", &d);
    CHECK(m != NULL && d.n == 0, "empty text");
    if (m)
        protobuf_c_message_free_unpacked(&m->base, NULL);
    m = parse_all("# only a comment\n---\n", &d);
    CHECK(m != NULL && d.n == 0, "comment-only document");
    if (m)
        protobuf_c_message_free_unpacked(&m->base, NULL);
    xp_diag_free(&d);
}

typedef struct {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
    const char *text;
    const char *path;
    const char *phrase;
} err_case_t;

#define BOOT        (&xptest__v1__bootstrap__descriptor)
#define TYPE_PREFIX "type.googleapis.com/"

static const err_case_t err_cases[] = {
    {"uint32 negative", ALL_DESC, "f_uint32: -1", "cfg.f_uint32",
     "value -1 is out of range for an unsigned 32-bit integer (line 1)"},
    {"uint32 too big", ALL_DESC, "f_uint32: 4294967296", "cfg.f_uint32",
     "out of range for an unsigned 32-bit integer"},
    {"int32 too big", ALL_DESC, "f_int32: 2147483648", "cfg.f_int32",
     "value 2147483648 is out of range for a 32-bit integer"},
    {"int32 text", ALL_DESC, "f_int32: abc", "cfg.f_int32",
     "expected a 32-bit integer, got \"abc\""},
    {"int32 fraction", ALL_DESC, "f_int32: 1.5", "cfg.f_int32",
     "expected a 32-bit integer, got \"1.5\""},
    {"int64 overflow", ALL_DESC, "f_int64: \"9223372036854775808\"", "cfg.f_int64",
     "out of range for a 64-bit integer"},
    {"uint64 negative", ALL_DESC, "f_uint64: -5", "cfg.f_uint64",
     "out of range for an unsigned 64-bit integer"},
    {"bool yes", ALL_DESC, "f_bool: yes", "cfg.f_bool",
     "expected a boolean (true or false), got \"yes\""},
    {"float range", ALL_DESC, "f_float: 1e39", "cfg.f_float", "out of range for a float"},
    {"double text", ALL_DESC, "f_double: abc", "cfg.f_double", "expected a number, got \"abc\""},
    {"double overflow", ALL_DESC, "f_double: 1e999", "cfg.f_double", "out of range for a double"},
    {"enum name", ALL_DESC, "f_enum: PURPLE", "cfg.f_enum",
     "unknown value \"PURPLE\" for enum xptest.v1.Color (expected one of: COLOR_UNSPECIFIED, RED, "
     "GREEN, BLUE)"},
    {"enum number range", ALL_DESC, "f_enum: 3000000000", "cfg.f_enum",
     "enum number 3000000000 is out of range for xptest.v1.Color"},
    {"bytes", ALL_DESC, "f_bytes: \"!!!\"", "cfg.f_bytes", "expected base64-encoded bytes"},
    {"string mapping", ALL_DESC, "f_string: {a: 1}", "cfg.f_string",
     "expected a string, got a mapping"},
    {"string NUL", ALL_DESC, "{\"f_string\": \"a\\u0000b\"}", "cfg.f_string",
     "string contains a NUL character"},
    {"message scalar", ALL_DESC, "inner: 5", "cfg.inner",
     "expected a mapping for xptest.v1.Inner, got \"5\""},
    {"repeated element", ALL_DESC, "r_inner: [{}, 1]", "cfg.r_inner[1]",
     "expected a mapping for xptest.v1.Inner"},
    {"single value as list", ALL_DESC, "r_int32: {a: 1}", "cfg.r_int32[0]",
     "expected a 32-bit integer, got a mapping"},
    {"null list element", ALL_DESC, "r_int32: [1, null]", "cfg.r_int32[1]",
     "null is not allowed as a list element"},
    {"map given list", ALL_DESC, "labels: [a]", "cfg.labels",
     "expected a mapping for map field 'labels', got a list"},
    {"map int key", ALL_DESC, "by_id: {abc: x}", "cfg.by_id[\"abc\"]",
     "expected a 32-bit integer, got \"abc\""},
    {"map null value", ALL_DESC, "labels: {a: null}", "cfg.labels[\"a\"]",
     "null is not allowed as a map value"},
    {"map value error", ALL_DESC, "inners: {x: {port: -2}}", "cfg.inners[\"x\"].port",
     "out of range for an unsigned 32-bit integer"},
    {"duplicate map key", ALL_DESC, "labels: {a: x, a: y}", "cfg.labels[\"a\"]",
     "duplicate key 'a' (first given on line 1)"},
    {"oneof twice", ALL_DESC, "choice_name: a\nchoice_num: 2", "cfg.choice_num",
     "fields 'choice_name' and 'choice_num' belong to the same oneof"},
    {"duration no s", ALL_DESC, "timeout: 1.5", "cfg.timeout",
     "expected a duration with an 's' suffix like \"1.5s\", got \"1.5\""},
    {"duration syntax", ALL_DESC, "timeout: abc", "cfg.timeout",
     "expected a duration like \"1.5s\", got \"abc\""},
    {"duration digits", ALL_DESC, "timeout: 1.1234567891s", "cfg.timeout",
     "1 to 9 fractional digits"},
    {"duration range", ALL_DESC, "timeout: 315576000001s", "cfg.timeout", "duration out of range"},
    {"duration list", ALL_DESC, "timeout: [1s]", "cfg.timeout", "got a list"},
    {"timestamp date", ALL_DESC, "created: 2024-13-01T00:00:00Z", "cfg.created",
     "invalid date or time"},
    {"timestamp syntax", ALL_DESC, "created: yesterday", "cfg.created",
     "expected an RFC 3339 timestamp"},
    {"wrapper range", ALL_DESC, "max_conns: -1", "cfg.max_conns",
     "out of range for an unsigned 32-bit integer"},
    {"wrapper bool", ALL_DESC, "enabled: on", "cfg.enabled", "expected a boolean"},
    {"struct list", ALL_DESC, "meta: [1]", "cfg.meta",
     "expected a mapping for google.protobuf.Struct, got a list"},
    {"listvalue scalar", ALL_DESC, "list: 5", "cfg.list",
     "expected a list for google.protobuf.ListValue, got \"5\""},
    {"any unknown type", ALL_DESC, "typed: {'@type': " TYPE_PREFIX "nope.Nope}", "cfg.typed",
     "unknown type \"type.googleapis.com/nope.Nope\" in \"@type\""},
    {"any missing type", ALL_DESC, "typed: {name: x}", "cfg.typed",
     "missing \"@type\" in google.protobuf.Any"},
    {"any bad type", ALL_DESC, "typed: {'@type': [1]}", "cfg.typed",
     "expected a type URL for \"@type\", got a list"},
    {"any scalar", ALL_DESC, "typed: 5", "cfg.typed",
     "expected a mapping with \"@type\" for google.protobuf.Any"},
    {"any payload field", ALL_DESC, "typed: {'@type': " TYPE_PREFIX "xptest.v1.Inner, port: abc}",
     "cfg.typed.port", "expected an unsigned 32-bit integer, got \"abc\""},
    {"any payload unknown", ALL_DESC, "typed: {'@type': " TYPE_PREFIX "xptest.v1.Inner, nam: x}",
     "cfg.typed.nam", "unknown field 'nam' in xptest.v1.Inner"},
    {"any wkt value", ALL_DESC,
     "typed: {'@type': " TYPE_PREFIX "google.protobuf.Duration, value: 1x}", "cfg.typed.value",
     "expected a duration"},
    {"any wkt missing value", ALL_DESC, "typed: {'@type': " TYPE_PREFIX "google.protobuf.Duration}",
     "cfg.typed", "missing \"value\" in an Any holding google.protobuf.Duration"},
    {"any wkt extra key", ALL_DESC,
     "typed: {'@type': " TYPE_PREFIX "google.protobuf.Duration, value: 1s, x: 1}", "cfg.typed.x",
     "only \"value\""},
    {"unknown field", ALL_DESC, "bogus_field: 1", "cfg.bogus_field",
     "unknown field 'bogus_field' in xptest.v1.AllTypes (line 1)"},
    {"both spellings", ALL_DESC, "f_int32: 1\nfInt32: 2", "cfg.f_int32",
     "field 'f_int32' is given twice (as 'f_int32' and 'fInt32') (line 2)"},
    {"duplicate key", ALL_DESC, "f_int32: 1\nf_int32: 2", "cfg.f_int32",
     "duplicate key 'f_int32' (first given on line 1) (line 2)"},
    {"top-level list", ALL_DESC, "[1, 2]", "cfg",
     "expected a mapping for xptest.v1.AllTypes, got a list"},
    {"non-scalar key", ALL_DESC, "? [a]\n: 1", "cfg", "expected a field name, got a list"},
    {"bad merge", ALL_DESC, "<<: 5\nf_int32: 1", "cfg",
     "expected a mapping or a list of mappings to merge with '<<'"},
    {"bad merge element", ALL_DESC, "<<: [5]\nf_int32: 1", "cfg",
     "expected a mapping to merge with '<<'"},
    {"two documents", ALL_DESC, "f_int32: 1\n---\nf_int32: 2\n", "cfg",
     "more than one YAML document (a second one starts) (line 3)"},
    {"invalid YAML", ALL_DESC, "f_int32: [1, 2\n", "cfg", "invalid YAML/JSON"},
    {"invalid JSON", ALL_DESC, "{\"f_int32\": 1,,}", "cfg", "invalid YAML/JSON"},
    {"lone surrogate", ALL_DESC, "{\"f_string\": \"\\ud83d\"}", "cfg",
     "invalid Unicode character escape"},
    {"not supported, listed", BOOT, "static_resources: {clusters: [{name: a, health_checks: []}]}",
     "boot.static_resources.clusters[0].health_checks",
     "field 'health_checks' of xptest.v1.Cluster is not supported by xproxy"},
    {"deep path", BOOT,
     "static_resources:\n"
     "  clusters:\n"
     "  - name: a\n"
     "  - name: b\n"
     "  - name: c\n"
     "    load_assignment:\n"
     "      cluster_name: c\n"
     "      endpoints:\n"
     "      - lb_endpoints:\n"
     "        - endpoint: {address: {socket_address: {port_value: 1}}}\n"
     "        - endpoint:\n"
     "            address:\n"
     "              socket_address:\n"
     "                address: 127.0.0.1\n"
     "                port_value: abc\n",
     "boot.static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[1].endpoint."
     "address.socket_address.port_value",
     "expected an unsigned 32-bit integer, got \"abc\" (line 15)"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case_t *c = &err_cases[i];
        xp_diag_t d;
        xp_diag_init(&d);
        const char *root = c->desc == BOOT ? "boot" : "cfg";
        ProtobufCMessage *m = xp_codec_parse(c->text, strlen(c->text), c->desc, root, &d);
        bool found = false;
        for (size_t j = 0; j < d.n; j++)
            if (d.v[j].sev == XP_DIAG_ERROR && !strcmp(d.v[j].path, c->path) &&
                strstr(d.v[j].msg, c->phrase))
                found = true;
        CHECK(m == NULL, "error case '%s' must fail", c->name);
        CHECK(found, "error case '%s': want path '%s' message containing '%s'", c->name, c->path,
              c->phrase);
        if (!found || m)
            print_diag(&d);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        xp_diag_free(&d);
    }
    printf("  %zu error cases\n", sizeof(err_cases) / sizeof(err_cases[0]));
}

/* All errors are collected, warnings do not fail a parse. */
static void test_collect_and_warn(void)
{
    const char *text = "f_int32: x\n"
                       "f_uint32: -1\n"
                       "inner: {port: y, nope: 1}\n"
                       "r_int32: [1, z]\n";
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *m = xp_codec_parse(text, strlen(text), ALL_DESC, "", &d);
    CHECK(m == NULL && d.nerrors == 5, "5 errors collected, got %zu", d.nerrors);
    CHECK(d.n == 5 && !strcmp(d.v[0].path, "f_int32") && !strcmp(d.v[2].path, "inner.port") &&
              !strcmp(d.v[3].path, "inner.nope") && !strcmp(d.v[4].path, "r_int32[1]"),
          "paths in order");
    CHECK(d.n == 5 && strstr(d.v[4].msg, "(line 4)"), "line numbers");
    print_diag(&d);
    xp_diag_free(&d);

    const char *boot = "static_resources:\n"
                       "  clusters:\n"
                       "  - name: a\n"
                       "    altStatName: stats\n";
    xp_diag_init(&d);
    m = xp_codec_parse(boot, strlen(boot), BOOT, "", &d);
    CHECK(m != NULL && d.nerrors == 0 && d.n == 1 && d.v[0].sev == XP_DIAG_WARNING &&
              !strcmp(d.v[0].path, "static_resources.clusters[0].altStatName") &&
              strstr(d.v[0].msg,
                     "field 'altStatName' is not supported by xproxy and is ignored (line 4)"),
          "harmless unmodeled field is a warning");
    print_diag(&d);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    xp_diag_free(&d);
}

static Xptest__V1__AllTypes *must_parse(const char *text)
{
    xp_diag_t d;
    xp_diag_init(&d);
    Xptest__V1__AllTypes *m = parse_all(text, &d);
    CHECK(m != NULL, "must parse: %s", text);
    print_diag(&d);
    xp_diag_free(&d);
    return m;
}

static void test_merge_clone(void)
{
    Xptest__V1__AllTypes *dst = must_parse("f_int32: 1\nf_string: base\nf_uint32: 9\n"
                                           "inner: {name: a, port: 1, children: [{name: k1}]}\n"
                                           "r_int32: [1]\nlabels: {a: '1', b: '2'}\n"
                                           "choice_name: n\ntimeout: 1s\nmax_conns: 5\n"
                                           "f_bytes: AAE=\n");
    Xptest__V1__AllTypes *src = must_parse("f_int32: 2\nf_string: over\n"
                                           "inner: {port: 2, children: [{name: k2}]}\n"
                                           "r_int32: [2, 3]\nlabels: {b: x, c: y}\n"
                                           "choice_inner: {name: ci}\nmax_conns: 0\n"
                                           "f_bytes: AgM=\n");
    if (!dst || !src)
        return;
    xp_proto_merge(&dst->base, &src->base);
    CHECK(dst->f_int32 == 2 && !strcmp(dst->f_string, "over"), "scalars overwritten");
    CHECK(dst->f_uint32 == 9, "default in src does not overwrite");
    CHECK(!strcmp(dst->inner->name, "a") && dst->inner->port == 2 && dst->inner->n_children == 2 &&
              !strcmp(dst->inner->children[1]->name, "k2"),
          "sub-message merged recursively");
    CHECK(dst->n_r_int32 == 3 && dst->r_int32[0] == 1 && dst->r_int32[2] == 3, "repeated appended");
    CHECK(dst->n_labels == 3 && !strcmp(dst->labels[1]->key, "b") &&
              !strcmp(dst->labels[1]->value, "x") && !strcmp(dst->labels[2]->key, "c"),
          "map entry replaced by key");
    CHECK(dst->choice_case == XPTEST__V1__ALL_TYPES__CHOICE_CHOICE_INNER &&
              !strcmp(dst->choice_inner->name, "ci"),
          "oneof member replaced");
    CHECK(dst->timeout && dst->timeout->seconds == 1, "unset in src kept");
    CHECK(dst->max_conns && dst->max_conns->value == 5,
          "wrapper present in src merges (value 0 is a proto3 default inside)");
    CHECK(dst->f_bytes.len == 2 && dst->f_bytes.data[0] == 2, "bytes replaced");

    /* The merged message equals parsing the combined YAML. */
    Xptest__V1__AllTypes *want =
        must_parse("f_int32: 2\nf_string: over\nf_uint32: 9\n"
                   "inner: {name: a, port: 2, children: [{name: k1}, {name: k2}]}\n"
                   "r_int32: [1, 2, 3]\nlabels: {a: '1', b: x, c: y}\n"
                   "choice_inner: {name: ci}\ntimeout: 1s\nmax_conns: 5\nf_bytes: AgM=\n");
    if (want) {
        CHECK(same_bytes(&dst->base, &want->base), "merge result equals expected message");
        protobuf_c_message_free_unpacked(&want->base, NULL);
    }
    ProtobufCMessage *c = xp_proto_clone(&dst->base);
    CHECK(same_bytes(c, &dst->base), "clone equals original");
    protobuf_c_message_free_unpacked(&dst->base, NULL);
    /* The clone owns its own memory: still valid after the original is gone. */
    char *j = xp_codec_to_json(c, false);
    CHECK(strstr(j, "\"choice_inner\":{\"name\":\"ci\"}") != NULL, "%s", j);
    free(j);
    protobuf_c_message_free_unpacked(c, NULL);

    /* oneof: a scalar member replacing a message member, and src untouched. */
    Xptest__V1__AllTypes *a = must_parse("choice_inner: {name: x}\n");
    Xptest__V1__AllTypes *b = must_parse("choice_num: 0\n");
    if (a && b) {
        xp_proto_merge(&a->base, &b->base);
        CHECK(a->choice_case == XPTEST__V1__ALL_TYPES__CHOICE_CHOICE_NUM && a->choice_num == 0,
              "oneof zero member still replaces");
    }
    if (a)
        protobuf_c_message_free_unpacked(&a->base, NULL);
    CHECK(b && b->choice_case == XPTEST__V1__ALL_TYPES__CHOICE_CHOICE_NUM, "src untouched");
    if (b)
        protobuf_c_message_free_unpacked(&b->base, NULL);
    protobuf_c_message_free_unpacked(&src->base, NULL);
}

static void test_any_and_registry(void)
{
    CHECK(xp_codec_find_type("type.googleapis.com/xptest.v1.Inner") ==
              &xptest__v1__inner__descriptor,
          "find by URL");
    CHECK(xp_codec_find_type("example.com/a/b/xptest.v1.Inner") == &xptest__v1__inner__descriptor,
          "any prefix");
    CHECK(xp_codec_find_type("xptest.v1.Inner") == &xptest__v1__inner__descriptor, "bare name");
    CHECK(xp_codec_find_type("google.protobuf.Duration") != NULL, "WKT always registered");
    CHECK(xp_codec_find_type("xptest.v1.Nope") == NULL, "unknown");
    CHECK(xp_codec_find_type("type.googleapis.com/") == NULL, "empty name");
    xp_codec_register(xp_proto_registry_xptest_proto); /* twice is harmless */
    CHECK(xp_codec_find_type("xptest.v1.Cluster") == &xptest__v1__cluster__descriptor, "again");

    Xptest__V1__Inner in = XPTEST__V1__INNER__INIT;
    in.name = "n";
    in.port = 9;
    Google__Protobuf__Any *any = xp_any_pack(&in.base);
    CHECK(!strcmp(any->type_url, "type.googleapis.com/xptest.v1.Inner"), "%s", any->type_url);
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *u = xp_any_unpack(any, NULL, &d, "r");
    CHECK(u && u->descriptor == &xptest__v1__inner__descriptor &&
              ((Xptest__V1__Inner *)u)->port == 9,
          "unpack by URL");
    if (u)
        protobuf_c_message_free_unpacked(u, NULL);
    u = xp_any_unpack(any, &xptest__v1__cluster__descriptor, &d, "resources[3]");
    CHECK(u == NULL && d.nerrors == 1 && !strcmp(d.v[0].path, "resources[3]") &&
              !strcmp(d.v[0].msg, "expected type xptest.v1.Cluster, got type URL "
                                  "\"type.googleapis.com/xptest.v1.Inner\""),
          "type mismatch");
    free(any->type_url);
    any->type_url = strdup("type.googleapis.com/xptest.v1.Missing");
    u = xp_any_unpack(any, NULL, &d, "r");
    CHECK(u == NULL && d.nerrors == 2 &&
              strstr(d.v[1].msg, "unknown type URL \"type.googleapis.com/xptest.v1.Missing\""),
          "unknown type");
    free(any->type_url);
    any->type_url = strdup("type.googleapis.com/xptest.v1.Inner");
    any->value.data[any->value.len - 1] = 0xff; /* truncate a varint */
    u = xp_any_unpack(any, NULL, &d, "r");
    CHECK(u == NULL && d.nerrors == 3 && strstr(d.v[2].msg, "do not decode as xptest.v1.Inner"),
          "bad bytes");
    free(any->type_url);
    any->type_url = strdup("");
    u = xp_any_unpack(any, NULL, &d, "r");
    CHECK(u == NULL && d.nerrors == 4 && strstr(d.v[3].msg, "has no type URL"), "no URL");
    print_diag(&d);
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&any->base, NULL);
}

/* Binary-decoded messages: fields the subset does not model arrive as
 * protobuf-c unknown fields and are reported. */
static void test_unknown_binary(void)
{
    Xptest__V1__ClusterFull cf = XPTEST__V1__CLUSTER_FULL__INIT;
    Xptest__V1__Inner hc = XPTEST__V1__INNER__INIT;
    Xptest__V1__Inner *hcs[] = {&hc};
    cf.name = "c0";
    cf.alt_stat_name = "alt";
    cf.n_health_checks = 1;
    cf.health_checks = hcs;
    cf.mystery = 7;
    Xptest__V1__ClusterFull *cfs[] = {&cf};
    Xptest__V1__BootstrapFull__Resources res = XPTEST__V1__BOOTSTRAP_FULL__RESOURCES__INIT;
    res.n_clusters = 1;
    res.clusters = cfs;
    Xptest__V1__BootstrapFull bf = XPTEST__V1__BOOTSTRAP_FULL__INIT;
    bf.static_resources = &res;
    size_t len;
    uint8_t *buf = pack(&bf.base, &len);
    ProtobufCMessage *b =
        protobuf_c_message_unpack(&xptest__v1__bootstrap__descriptor, NULL, len, buf);
    CHECK(b != NULL, "unpack");
    xp_diag_t d;
    xp_diag_init(&d);
    int errors = xp_codec_check_unknown_fields(b, "bootstrap", &d);
    CHECK(errors == 2 && d.n == 3, "2 errors and a warning, got %d/%zu", errors, d.n);
    print_diag(&d);
    if (d.n == 3) {
        CHECK(d.v[0].sev == XP_DIAG_ERROR &&
                  !strcmp(d.v[0].path, "bootstrap.static_resources.clusters[0].health_checks") &&
                  !strcmp(d.v[0].msg, "field 'health_checks' (number 8) of xptest.v1.Cluster is "
                                      "not supported by xproxy"),
              "listed non-harmless");
        CHECK(d.v[1].sev == XP_DIAG_WARNING &&
                  !strcmp(d.v[1].path, "bootstrap.static_resources.clusters[0].alt_stat_name") &&
                  strstr(d.v[1].msg, "is not supported by xproxy and is ignored"),
              "harmless");
        CHECK(d.v[2].sev == XP_DIAG_ERROR &&
                  !strcmp(d.v[2].path, "bootstrap.static_resources.clusters[0]") &&
                  !strcmp(d.v[2].msg, "unknown field number 99 in xptest.v1.Cluster"),
              "unlisted");
    }
    xp_diag_free(&d);

    /* Inside an Any payload, and after a clone (unknown fields copied). */
    Xptest__V1__AllTypes at = XPTEST__V1__ALL_TYPES__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    size_t clen;
    uint8_t *cbuf = pack(&cf.base, &clen);
    any.type_url = "type.googleapis.com/xptest.v1.Cluster";
    any.value.data = cbuf;
    any.value.len = clen;
    at.typed = &any;
    ProtobufCMessage *c = xp_proto_clone(&at.base);
    xp_diag_init(&d);
    errors = xp_codec_check_unknown_fields(c, "", &d);
    CHECK(errors == 2 && d.n == 3 && !strcmp(d.v[1].path, "typed.alt_stat_name"),
          "unknown fields inside Any");
    print_diag(&d);
    xp_diag_free(&d);
    ProtobufCMessage *bc = xp_proto_clone(b);
    xp_diag_init(&d);
    CHECK(xp_codec_check_unknown_fields(bc, "", &d) == 2, "clone keeps unknown fields");
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(bc, NULL);
    protobuf_c_message_free_unpacked(c, NULL);
    protobuf_c_message_free_unpacked(b, NULL);
    free(cbuf);
    free(buf);
}

/* parse_node: decode parts of one document, e.g. a DiscoveryResponse-like
 * file with a list of resources. */
static void test_parse_node(void)
{
    const char *text = "resources:\n"
                       "- {name: a, port: 1}\n"
                       "- {name: b, port: x}\n";
    yaml_document_t doc;
    xp_diag_t d;
    xp_diag_init(&d);
    CHECK(xp_codec_load_yaml(text, strlen(text), &doc, "", &d) == 0, "load");
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *list = yaml_document_get_node(&doc, root->data.mapping.pairs.start->value);
    int i = 0, ok = 0;
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++, i++) {
        char path[32];
        snprintf(path, sizeof(path), "resources[%d]", i);
        ProtobufCMessage *m = xp_codec_parse_node(&doc, yaml_document_get_node(&doc, *it),
                                                  &xptest__v1__inner__descriptor, path, &d);
        if (m) {
            ok++;
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    CHECK(ok == 1 && d.nerrors == 1 && !strcmp(d.v[0].path, "resources[1].port") &&
              strstr(d.v[0].msg, "(line 3)"),
          "per-node decoding");
    yaml_document_delete(&doc);
    xp_diag_free(&d);
}

static const xp_unmodeled_field_t test_unmodeled[] = {
    {"xptest.v1.Cluster", "alt_stat_name", 28, true},
    {"xptest.v1.Cluster", "health_checks", 8, false},
};

int main(void)
{
    xp_codec_register(xp_proto_registry_xptest_proto);
    xp_codec_register_unmodeled(test_unmodeled, 2);
    CHECK(xp_codec_find_unmodeled("envoy.config.cluster.v3.Cluster", "altStatName", 0) != NULL,
          "built-in table, camelCase lookup");
    CHECK(xp_codec_find_unmodeled("envoy.config.listener.v3.Listener", NULL, 28)->harmless,
          "built-in table by number");
    test_yaml_all_kinds();
    test_json();
    test_print_and_roundtrip();
    test_leniencies();
    test_errors();
    test_collect_and_warn();
    test_merge_clone();
    test_any_and_registry();
    test_unknown_binary();
    test_parse_node();
    if (failures) {
        fprintf(stderr, "FAIL: %d checks failed\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
