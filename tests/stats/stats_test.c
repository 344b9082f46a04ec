/* The stats store: creation, lookup, concurrent updates from threads, and
 * the three renderings the admin server serves. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/stats/stats.h"
#include "tests/lib/check.h"

static void *bump(void *arg)
{
    xp_stat_t *c = arg;
    for (int i = 0; i < 100000; i++)
        xp_stat_inc(c);
    return NULL;
}

static bool starts_with_server(const char *name, void *arg)
{
    (void)arg;
    return strncmp(name, "server.", 7) == 0;
}

int main(void)
{
    xp_stats_t *s = xp_stats_new();
    xp_stat_t *a = xp_stats_counter(s, "cluster.backend.upstream_cx_total");
    CHECK(a == xp_stats_counter(s, "cluster.backend.upstream_cx_total"));
    CHECK(a == xp_stats_counterf(s, "cluster.%s.upstream_cx_total", "backend"));
    CHECK(xp_stats_find(s, "nope") == NULL);

    /* Growth keeps every pointer valid. */
    xp_stat_t *first = xp_stats_gauge(s, "g.0");
    for (int i = 1; i < 5000; i++)
        xp_stat_set(xp_stats_gaugef(s, "g.%d", i), i);
    CHECK(first == xp_stats_find(s, "g.0"));
    CHECK(xp_stat_get(xp_stats_find(s, "g.4999")) == 4999);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump, a);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(xp_stat_get(a) == 400000);

    xp_stats_t *r = xp_stats_new();
    xp_stat_add(xp_stats_counter(r, "cluster.backend.upstream_rq_total"), 7);
    xp_stat_set(xp_stats_gauge(r, "listener.127.0.0.1_10000.downstream_cx_active"), 3);
    xp_stat_set(xp_stats_gauge(r, "server.live"), 1);
    xp_stat_add(xp_stats_counter(r, "http.ingress\"x.downstream_rq_total"), 2);

    char *text = xp_stats_render_text(r, NULL);
    CHECK(strstr(text, "cluster.backend.upstream_rq_total: 7\n") != NULL);
    CHECK(strstr(text, "server.live: 1\n") != NULL);
    /* sorted by name */
    CHECK(strstr(text, "cluster.") < strstr(text, "server."));
    free(text);
    xp_stats_filter_t only_server = {starts_with_server, NULL};
    text = xp_stats_render_text(r, &only_server);
    CHECK(strcmp(text, "server.live: 1\n") == 0);
    free(text);

    char *json = xp_stats_render_json(r, NULL);
    CHECK(strstr(json, "{\"name\":\"server.live\",\"value\":1}") != NULL);
    CHECK(strstr(json, "http.ingress\\\"x.downstream_rq_total") != NULL);
    free(json);

    char *prom = xp_stats_render_prometheus(r, &only_server);
    CHECK(strcmp(prom, "# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n") == 0);
    free(prom);
    json = xp_stats_render_json(r, &only_server);
    CHECK(strcmp(json, "{\"stats\":[{\"name\":\"server.live\",\"value\":1}]}\n") == 0);
    free(json);

    prom = xp_stats_render_prometheus(r, NULL);
    CHECK(strstr(prom, "# TYPE envoy_cluster_upstream_rq_total counter\n") != NULL);
    CHECK(strstr(prom, "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 7\n") !=
          NULL);
    CHECK(strstr(prom, "# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n") != NULL);
    free(prom);

    xp_stats_free(r);
    xp_stats_free(s);
    return check_result("stats_test");
}
