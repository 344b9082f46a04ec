/* Diagnostics and field paths: what every config error message is made of. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/common/diag.h"
#include "proxy/common/error.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "tests/lib/check.h"

int main(void)
{
    xp_path_t p;
    xp_path_init(&p, "static_resources");
    size_t m1 = xp_path_push_field(&p, "clusters");
    size_t m2 = xp_path_push_index(&p, 2);
    size_t m3 = xp_path_push_field(&p, "typed_extension_protocol_options");
    xp_path_push_key(&p, "envoy.x");
    CHECK(strcmp(xp_path_str(&p), "static_resources.clusters[2].typed_extension_protocol_options"
                                  "[\"envoy.x\"]") == 0);
    xp_path_pop(&p, m3);
    CHECK(strcmp(xp_path_str(&p), "static_resources.clusters[2]") == 0);
    xp_path_pop(&p, m2);
    xp_path_pop(&p, m1);
    CHECK(strcmp(xp_path_str(&p), "static_resources") == 0);

    /* Overlong paths are cut with "..." and never overflow. */
    xp_path_t q;
    xp_path_init(&q, "");
    for (int i = 0; i < 500; i++)
        xp_path_push_field(&q, "abcdefgh");
    CHECK(q.len < sizeof(q.buf));
    CHECK(strstr(xp_path_str(&q), "...") != NULL);

    xp_diag_t d;
    xp_diag_init(&d);
    xp_diag_error(&d, "a.b", "bad %d", 1);
    xp_diag_warn(&d, "c", "odd");
    xp_diag_error(&d, "", "global");
    CHECK(d.n == 3 && d.nerrors == 2);
    char *errs = xp_diag_join(&d, XP_DIAG_ERROR);
    CHECK(strcmp(errs, "a.b: bad 1; global") == 0);
    free(errs);
    char *all = xp_diag_join(&d, XP_DIAG_WARNING);
    CHECK(strcmp(all, "a.b: bad 1; c: odd; global") == 0);
    free(all);

    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof(buf), "w");
    xp_diag_print(&d, f, "x: ");
    fclose(f);
    CHECK(strcmp(buf, "x: error: a.b: bad 1\nx: warning: c: odd\nx: error: global\n") == 0);
    xp_diag_free(&d);

    xp_log_level_t lv;
    CHECK(xp_log_level_parse("warning", &lv) == 0 && lv == XP_LOG_WARN);
    CHECK(xp_log_level_parse("warn", &lv) == 0 && lv == XP_LOG_WARN);
    CHECK(xp_log_level_parse("trace", &lv) == 0 && lv == XP_LOG_TRACE);
    CHECK(xp_log_level_parse("loud", &lv) == XP_EINVAL);
    CHECK(strcmp(xp_strerror(XP_ETOOBIG), "too large") == 0);
    CHECK(strcmp(xp_strerror(-999), "unknown error") == 0);

    char *s = xp_asprintf("%s-%d", "a", 42);
    CHECK(strcmp(s, "a-42") == 0);
    free(s);

    return check_result("diag_test");
}
