/* gRPC core, loaded when the first xDS client is created.
 *
 * xproxy does not link libgrpc: mapping, relocating and statically
 * initialising gRPC core and what it pulls in (libstdc++, abseil, re2,
 * c-ares, OpenSSL) costs about 6 MiB of RSS at start, which a proxy whose
 * bootstrap has no gRPC config source never uses. The client's files call
 * gRPC through xp__grpc, a table of the functions below, filled by
 * xp__grpc_load() from the library whose soname the build read from the
 * installed libgrpc.so (grpc_soname.h, generated). The table's member types
 * come from gRPC's own headers (__typeof__), so a call through it is checked
 * exactly like a direct call. Once loaded, the library stays loaded for the
 * life of the process (gRPC keeps threads and process-wide state past
 * grpc_shutdown()). */
#ifndef XP_XDS_CLIENT_GRPC_LIB_H
#define XP_XDS_CLIENT_GRPC_LIB_H

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* Every gRPC core function the xDS client calls (gpr_* live in libgpr,
 * which libgrpc needs, so they resolve through libgrpc's handle). */
#define XP__GRPC_FUNCTIONS(X)                                                                      \
    X(grpc_version_string)                                                                         \
    X(grpc_init)                                                                                   \
    X(grpc_shutdown_blocking)                                                                      \
    X(grpc_insecure_credentials_create)                                                            \
    X(grpc_channel_credentials_release)                                                            \
    X(grpc_channel_create)                                                                         \
    X(grpc_channel_destroy)                                                                        \
    X(grpc_channel_create_call)                                                                    \
    X(grpc_completion_queue_create_for_next)                                                       \
    X(grpc_completion_queue_next)                                                                  \
    X(grpc_completion_queue_shutdown)                                                              \
    X(grpc_completion_queue_destroy)                                                               \
    X(grpc_call_start_batch)                                                                       \
    X(grpc_call_cancel)                                                                            \
    X(grpc_call_unref)                                                                             \
    X(grpc_slice_malloc)                                                                           \
    X(grpc_slice_unref)                                                                            \
    X(grpc_slice_from_static_string)                                                               \
    X(grpc_empty_slice)                                                                            \
    X(grpc_slice_to_c_string)                                                                      \
    X(grpc_raw_byte_buffer_create)                                                                 \
    X(grpc_byte_buffer_destroy)                                                                    \
    X(grpc_byte_buffer_reader_init)                                                                \
    X(grpc_byte_buffer_reader_readall)                                                             \
    X(grpc_byte_buffer_reader_destroy)                                                             \
    X(grpc_metadata_array_init)                                                                    \
    X(grpc_metadata_array_destroy)                                                                 \
    X(gpr_free)                                                                                    \
    X(gpr_inf_future)

typedef struct {
#define XP__GRPC_MEMBER(fn) __typeof__(fn) *fn;
    XP__GRPC_FUNCTIONS(XP__GRPC_MEMBER)
#undef XP__GRPC_MEMBER
} xp__grpc_t;

/* Filled by a successful xp__grpc_load(); read-only afterwards. */
extern xp__grpc_t xp__grpc;

/* Loads gRPC core once per process (thread-safe; later calls return the
 * first result). Returns 0, or -1 with *err set to a malloc'd message naming
 * the library and why it could not be used (caller frees). */
int xp__grpc_load(char **err);

#endif
