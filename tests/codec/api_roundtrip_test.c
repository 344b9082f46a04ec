/* Every message of //proto:api, synthesized with every field set, survives
 * the JSON and clone round trips. */
#include "tests/codec/roundtrip.h"
#include "xds/codec/codec.h"

#include "api_registry.h"

#include <stdio.h>

int main(void)
{
    xp_codec_register(xp_proto_registry_api);
    int n = 0;
    for (const ProtobufCMessageDescriptor *const *p = xp_proto_registry_api; *p; p++)
        n++;
    int failed = xp_codec_roundtrip_registry(xp_proto_registry_api, 3, stderr);
    if (failed) {
        fprintf(stderr, "FAIL: %d of %d message types did not round-trip\n", failed, n);
        return 1;
    }
    printf("PASS: %d message types of //proto:api round-trip\n", n);
    return 0;
}
