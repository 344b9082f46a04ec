/* Micro benchmark: ns per request head for a typical browser GET (~500
 * bytes), parsed complete in one call, plus the body decoder on a small
 * chunked body. Not a test; run with `bazel run -c opt //proxy/http1:parse_bench`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/http1/http1.h"

static const char req[] =
    "GET /workspaces/ws-1234/api/files?path=src%2Fmain.c&rev=42 HTTP/1.1\r\n"
    "Host: ide.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"119\", \"Not?A_Brand\";v=\"24\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: cors\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Referer: https://ide.example.com/workspaces/ws-1234/\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=3f9a1c0d5e7b4a2f8c6d; theme=dark\r\n"
    "\r\n";

static const char chunked[] = "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n10;x=y\r\n0123456789abcdef\r\n"
                              "0\r\nX-Trailer: 1\r\n\r\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    xp_http1_limits_t lim;
    xp_http1_limits_default(&lim);
    xp_header_t hdrs[XP_HTTP1_DEFAULT_MAX_HEADERS_COUNT];
    xp_http1_head_t h;
    size_t len = sizeof(req) - 1;
    volatile long sink = 0;

    for (int round = 0; round < 3; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            xp_http1_head_init(&h, hdrs, sizeof(hdrs) / sizeof(hdrs[0]));
            int r = xp_http1_parse_request(&h, req, len, &lim);
            if (r != (int)len) {
                fprintf(stderr, "parse failed: %d %s\n", r, h.err_msg ? h.err_msg : "");
                return 1;
            }
            sink += (long)h.num_headers;
        }
        double t1 = now_ns();
        printf("request head (%zu bytes, %zu fields): %.1f ns/request, %.2f GB/s\n", len,
               h.num_headers, (t1 - t0) / (double)iters, (double)len * (double)iters / (t1 - t0));
    }

    xp_str_t spans[8];
    size_t consumed, ns;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        xp_http1_body_t b;
        h.body_mode = XP_HTTP1_BODY_CHUNKED;
        xp_http1_body_init(&b, &h, &lim);
        int r = xp_http1_body_decode(&b, chunked, sizeof(chunked) - 1, &consumed, spans, 8, &ns);
        if (r != XP_HTTP1_DONE)
            return 1;
        sink += (long)ns;
    }
    double t1 = now_ns();
    printf("chunked body (%zu bytes, 2 chunks + trailer): %.1f ns/body\n", sizeof(chunked) - 1,
           (t1 - t0) / (double)iters);
    (void)sink;
    return 0;
}
