"""protoc-c from Debian's protobuf-c-compiler, run as a genrule.

protoc_c_library(name, srcs, system_srcs) compiles the .proto files of this
package (paths relative to the package, which is also the import root) and
the named system .proto files (paths relative to /usr/include, e.g.
"google/protobuf/duration.proto") into one cc_library.  Generated headers are
included by their import path: #include "envoy/config/core/v3/address.pb-c.h".

It also generates <name>_registry.c defining xp_proto_registry[] (every
message descriptor compiled here, NULL-terminated) so that code resolving
Any type URLs can find every type without a hand-kept list.
"""

def protoc_c_library(name, srcs, system_srcs = [], deps = [], visibility = None):
    pkg = native.package_name()
    outs_c = []
    outs_h = []
    for s in srcs + system_srcs:
        base = s[:-len(".proto")]
        outs_c.append(base + ".pb-c.c")
        outs_h.append(base + ".pb-c.h")

    cmd = "protoc-c --c_out=$(RULEDIR) -I%s -I/usr/include %s %s" % (
        pkg if pkg else ".",
        " ".join(["$(location %s)" % s for s in srcs]),
        " ".join(["/usr/include/" + s for s in system_srcs]),
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs,
        outs = outs_c + outs_h,
        cmd = cmd,
        message = "protoc-c %s" % name,
    )

    reg = name + "_registry.c"
    native.genrule(
        name = name + "_registry_gen",
        srcs = outs_h,
        outs = [reg],
        cmd = " ".join([
            "(echo '#include <protobuf-c/protobuf-c.h>';",
            "cat $(SRCS) | sed -n 's/^extern const ProtobufCMessageDescriptor \\([a-z0-9_]*\\);/\\1/p' | sort -u > $@.names;",
            "sed 's/.*/extern const ProtobufCMessageDescriptor &;/' $@.names;",
            "echo 'const ProtobufCMessageDescriptor *const xp_proto_registry[] = {';",
            "sed 's/.*/  \\&&,/' $@.names;",
            "echo '  0};'; rm -f $@.names) > $@",
        ]),
        message = "protoc-c registry %s" % name,
    )

    native.cc_library(
        name = name,
        srcs = outs_c + [reg],
        hdrs = outs_h,
        includes = ["."],
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["//bazel/system:protobuf_c"],
        visibility = visibility,
    )
