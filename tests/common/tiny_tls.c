/* A library with one small thread-local, for lsan_tls_test: mapped with
 * dlopen, its TLS is dynamic (a block glibc allocates per thread on first
 * use), as gRPC core's is in xproxy. */
__thread char xp_tiny_tls_var[8];

char *xp_tiny_tls(void);

char *xp_tiny_tls(void)
{
    return xp_tiny_tls_var;
}
