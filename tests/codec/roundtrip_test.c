/* Every message of the test registry and of the well-known types,
 * synthesized with every field set, survives JSON and clone round trips. */
#include "tests/codec/roundtrip.h"
#include "xds/codec/codec.h"

#include "wkt_registry.h"
#include "xptest_proto_registry.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    xp_codec_register(xp_proto_registry_xptest_proto);
    /* XP_ROUNDTRIP_DUMP=xptest.v1.AllTypes prints that synthesized message. */
    const char *dump = getenv("XP_ROUNDTRIP_DUMP");
    if (dump && xp_codec_find_type(dump)) {
        ProtobufCMessage *m = xp_codec_synthesize(xp_codec_find_type(dump), 2);
        char *j = xp_codec_to_json(m, true);
        fputs(j, stdout);
        free(j);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    int failed = 0, n = 0;
    for (const ProtobufCMessageDescriptor *const *p = xp_proto_registry_xptest_proto; *p; p++)
        n++;
    failed += xp_codec_roundtrip_registry(xp_proto_registry_xptest_proto, 3, stderr);
    failed += xp_codec_roundtrip_registry(xp_proto_registry_wkt, 3, stderr);
    if (failed) {
        fprintf(stderr, "FAIL: %d message types did not round-trip\n", failed);
        return 1;
    }
    printf("PASS: %d test types and the well-known types round-trip\n", n);
    return 0;
}
