/* Error codes shared by every module: 0 is success, failures are negative
 * XP_E* values (the libuv convention). xp_strerror() names them. */
#ifndef XP_COMMON_ERROR_H
#define XP_COMMON_ERROR_H

#define XP_OK 0

enum {
    XP_ENOMEM = -1,     /* allocation failed where the caller can recover */
    XP_EINVAL = -2,     /* malformed input */
    XP_ENOTSUP = -3,    /* valid, but not supported by xproxy */
    XP_ENOENT = -4,     /* named thing does not exist */
    XP_EEXIST = -5,     /* named thing exists already */
    XP_ERANGE = -6,     /* value out of range */
    XP_EIO = -7,        /* read/write failure; errno-level detail is logged */
    XP_EAGAIN = -8,     /* need more input */
    XP_EPROTO = -9,     /* peer violated the protocol */
    XP_ETOOBIG = -10,   /* input exceeds a configured limit */
    XP_ETIMEDOUT = -11, /* timer fired */
    XP_ECLOSED = -12,   /* peer or object is closed */
};

/* Static string describing err; never NULL. */
const char *xp_strerror(int err);

#endif
