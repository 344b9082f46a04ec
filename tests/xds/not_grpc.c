/* A shared object that is not gRPC core: installed under libgrpc's soname by
 * grpc_load_test.sh, it loads but has none of gRPC's functions. */
int xp_not_grpc(void);

int xp_not_grpc(void)
{
    return 0;
}
