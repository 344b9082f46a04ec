/* Watches the resource directory with inotify on its own thread.
 *
 * Why inotify rather than polling mtimes every 200 ms: a change is seen at
 * once (the tests require a push within 1 s, the demo wants it instant),
 * an idle server does no work at all, and mtimes are too coarse anyway
 * (see snapshot.c). The events are only a trigger: any event, after a
 * 20 ms quiet period to let a burst (an editor's save, a `cp` of many
 * files) settle, rescans the directory, and the rescan compares content.
 *
 * IN_CLOSE_WRITE and IN_MOVED_TO rather than IN_MODIFY, so that a file is
 * read once its writer is done; writers should still replace files
 * atomically (write a dotfile, rename it in), as the admin API does,
 * because a rescan triggered by another file may read a half-written one
 * (it is then rejected, reported, and its old content kept). */
#include "xds/server/server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define XP__WATCH_MASK                                                                             \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF |       \
     IN_MOVE_SELF)

/* Drains the inotify fd; false if the stop pipe fired. */
static bool xp__drain(xp_xds_server_t *srv, int timeout_ms, bool *got)
{
    struct pollfd p[2] = {{srv->inotify_fd, POLLIN, 0}, {srv->watch_wake[0], POLLIN, 0}};
    int r = poll(p, 2, timeout_ms);
    if (r < 0 && errno != EINTR)
        return false;
    if (r <= 0)
        return true;
    if (p[1].revents)
        return false;
    if (p[0].revents) {
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(srv->inotify_fd, buf, sizeof(buf));
        if (n > 0)
            *got = true;
    }
    return true;
}

static void *xp__watch_main(void *arg)
{
    xp_xds_server_t *srv = arg;
    for (;;) {
        bool got = false;
        if (!xp__drain(srv, -1, &got))
            break;
        if (!got)
            continue;
        /* Let the burst settle: rescan after 20 ms without events. */
        bool more;
        do {
            more = false;
            if (!xp__drain(srv, 20, &more))
                return NULL;
        } while (more);
        xp__reload(srv);
    }
    return NULL;
}

int xp__watch_start(xp_xds_server_t *srv)
{
    srv->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (srv->inotify_fd < 0) {
        fprintf(stderr, "xds-server: inotify_init1: %s\n", strerror(errno));
        return -1;
    }
    if (inotify_add_watch(srv->inotify_fd, srv->dir, XP__WATCH_MASK) < 0) {
        fprintf(stderr, "xds-server: watching %s: %s\n", srv->dir, strerror(errno));
        close(srv->inotify_fd);
        srv->inotify_fd = -1;
        return -1;
    }
    if (pipe2(srv->watch_wake, O_CLOEXEC) < 0 ||
        pthread_create(&srv->watch_thread, NULL, xp__watch_main, srv) != 0) {
        fprintf(stderr, "xds-server: cannot start the watcher\n");
        return -1;
    }
    srv->watch_started = true;
    return 0;
}

void xp__watch_stop(xp_xds_server_t *srv)
{
    if (srv->watch_started) {
        ssize_t w;
        do
            w = write(srv->watch_wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(srv->watch_thread, NULL);
        srv->watch_started = false;
        close(srv->watch_wake[0]);
        close(srv->watch_wake[1]);
    }
    if (srv->inotify_fd >= 0)
        close(srv->inotify_fd);
    srv->inotify_fd = -1;
}
