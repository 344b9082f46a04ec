#include "proxy/common/error.h"

const char *xp_strerror(int err)
{
    switch (err) {
    case XP_OK:
        return "success";
    case XP_ENOMEM:
        return "out of memory";
    case XP_EINVAL:
        return "invalid argument";
    case XP_ENOTSUP:
        return "not supported";
    case XP_ENOENT:
        return "not found";
    case XP_EEXIST:
        return "already exists";
    case XP_ERANGE:
        return "out of range";
    case XP_EIO:
        return "I/O error";
    case XP_EAGAIN:
        return "incomplete input";
    case XP_EPROTO:
        return "protocol error";
    case XP_ETOOBIG:
        return "too large";
    case XP_ETIMEDOUT:
        return "timed out";
    case XP_ECLOSED:
        return "closed";
    }
    return "unknown error";
}
