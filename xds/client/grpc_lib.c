/* gRPC core loaded on demand: see grpc_lib.h. */
#include "xds/client/grpc_lib.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "xds/client/grpc_soname.h" /* XP_GRPC_SONAME, read from libgrpc.so by the build */

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

xp__grpc_t xp__grpc;

static pthread_once_t xp__grpc_once = PTHREAD_ONCE_INIT;
static char *xp__grpc_error; /* NULL once loaded; kept for every later caller */

/* "what (soname): dlerror()'s text" (which names the file or symbol). */
static char *xp__dl_error(const char *what)
{
    const char *e = dlerror();
    return xp_asprintf("%s (%s): %s", what, XP_GRPC_SONAME, e ? e : "unknown dlopen error");
}

static void xp__grpc_do_load(void)
{
    /* RTLD_LOCAL: nothing else in the process binds to gRPC's symbols by
     * accident. Never closed (see grpc_lib.h). */
    void *h = dlopen(XP_GRPC_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        xp__grpc_error = xp__dl_error("cannot load gRPC core");
        return;
    }
    xp__grpc_t t;
#define XP__GRPC_RESOLVE(fn)                                                                       \
    if (xp__grpc_error == NULL) {                                                                  \
        dlerror();                                                                                 \
        t.fn = (__typeof__(t.fn))dlsym(h, #fn);                                                    \
        if (t.fn == NULL)                                                                          \
            xp__grpc_error = xp__dl_error("cannot use gRPC core");                                 \
    }
    XP__GRPC_FUNCTIONS(XP__GRPC_RESOLVE)
#undef XP__GRPC_RESOLVE
    if (xp__grpc_error)
        return;
    xp__grpc = t;
    XP_DEBUG("xds: loaded gRPC core %s (version %s)", XP_GRPC_SONAME,
             xp__grpc.grpc_version_string());
}

int xp__grpc_load(char **err)
{
    pthread_once(&xp__grpc_once, xp__grpc_do_load);
    if (xp__grpc_error == NULL)
        return 0;
    *err = xp_strdup(xp__grpc_error);
    return -1;
}
