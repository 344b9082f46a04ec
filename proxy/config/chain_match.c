#include "proxy/config/config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/common/mem.h"

/* Envoy's filter chain match is staged: at each criterion in order
 * (destination port, destination IP, server names, transport protocol,
 * application protocols, source IP), keep only the chains with the most
 * specific match; a chain that does not match the connection on a criterion
 * it sets is dropped. If the most specific group at some stage has no chain
 * matching the later criteria, nothing matches: there is no fallback to a
 * less specific group. Cost: O(chains) per stage, at accept time only. */

bool xp_cidr_contains(const xp_cidr_t *c, int family, const uint8_t *a)
{
    if (c->family != family)
        return false;
    unsigned bits = c->prefix_len;
    for (unsigned i = 0; bits; i++) {
        unsigned n = bits >= 8 ? 8 : bits;
        uint8_t mask = (uint8_t)(0xff00 >> n);
        if ((a[i] & mask) != (c->addr[i] & mask))
            return false;
        bits -= n;
    }
    return true;
}

static int xp__cidr_match(const xp_cidr_t *c, const struct sockaddr *sa)
{
    const uint8_t *a;
    if (sa->sa_family == AF_INET)
        a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        return -1;
    return xp_cidr_contains(c, sa->sa_family, a) ? c->prefix_len : -1;
}

/* Longest matching prefix length among ranges, -1 if none matches, and
 * -2 when the chain sets no ranges (the "any" group). */
static int xp__best_prefix(const xp_cidr_t *v, size_t n, const struct sockaddr *sa)
{
    if (n == 0)
        return -2;
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        int m = xp__cidr_match(&v[i], sa);
        if (m > best)
            best = m;
    }
    return best;
}

static uint16_t xp__port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/* Keeps the candidates with the highest score; scores < -1 mean "any"
 * (kept only when no candidate matches specifically), -1 means mismatch. */
static size_t xp__keep_best(xp_filter_chain_t **cand, size_t n, const int *score)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (score[i] > best)
            best = score[i];
    int want = best >= 0 ? best : -2;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (score[i] == want)
            cand[k++] = cand[i];
    return k;
}

xp_filter_chain_t *xp_listener_select_chain(const xp_listener_cfg_t *l,
                                            const struct sockaddr *local,
                                            const struct sockaddr *peer)
{
    size_t n = l->n_chains;
    if (n == 0)
        return l->default_chain;
    xp_filter_chain_t *stack_cand[16];
    int stack_score[16];
    xp_filter_chain_t **cand = n <= 16 ? stack_cand : xp_malloc(n * sizeof(*cand));
    int *score = n <= 16 ? stack_score : xp_malloc(n * sizeof(*score));
    memcpy(cand, l->chains, n * sizeof(*cand));

    uint16_t port = xp__port(local);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = cand[i]->match.destination_port;
        score[i] = p == 0 ? -2 : (p == port ? 1 : -1);
    }
    n = xp__keep_best(cand, n, score);
    for (size_t i = 0; i < n; i++)
        score[i] =
            xp__best_prefix(cand[i]->match.prefix_ranges, cand[i]->match.n_prefix_ranges, local);
    n = xp__keep_best(cand, n, score);
    /* Plaintext: no SNI, no ALPN; transport protocol is "raw_buffer". */
    for (size_t i = 0; i < n; i++)
        score[i] = cand[i]->match.n_server_names ? -1 : -2;
    n = xp__keep_best(cand, n, score);
    for (size_t i = 0; i < n; i++) {
        const char *tp = cand[i]->match.transport_protocol;
        score[i] = tp == NULL ? -2 : (strcmp(tp, "raw_buffer") == 0 ? 1 : -1);
    }
    n = xp__keep_best(cand, n, score);
    for (size_t i = 0; i < n; i++)
        score[i] = cand[i]->match.n_application_protocols ? -1 : -2;
    n = xp__keep_best(cand, n, score);
    for (size_t i = 0; i < n; i++)
        score[i] = xp__best_prefix(cand[i]->match.source_prefix_ranges,
                                   cand[i]->match.n_source_prefix_ranges, peer);
    n = xp__keep_best(cand, n, score);

    xp_filter_chain_t *found = n ? cand[0] : l->default_chain;
    if (cand != stack_cand) {
        free(cand);
        free(score);
    }
    return found;
}
