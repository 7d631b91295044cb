#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one temporary path the signal handler may unlink. A copy in a static buffer because the
 * handler may only call async-signal-safe functions (unlink, signal, raise). */
static char g_tmp[4096];
static volatile sig_atomic_t g_tmp_set;

static void on_fatal_signal(int sig)
{
    if (g_tmp_set)
        unlink(g_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

void atomic_file_install_signal_cleanup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static void track(const char *tmp)
{
    g_tmp_set = 0;
    if (tmp && strlen(tmp) < sizeof g_tmp) {
        memcpy(g_tmp, tmp, strlen(tmp) + 1);
        g_tmp_set = 1;
    }
}

int atomic_file_open(atomic_file *f, const char *path, char *err, size_t errlen)
{
    f->fd = -1;
    f->path = strdup(path);
    size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
    f->tmp_path = malloc(n);
    if (!f->path || !f->tmp_path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(f->tmp_path, n, "%s.tmp.XXXXXX", path);
    f->fd = mkstemp(f->tmp_path);
    if (f->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create output: %s", strerror(e));
        free(f->path);
        free(f->tmp_path);
        f->path = f->tmp_path = NULL;
        return -e;
    }
    track(f->tmp_path);
    /* mkstemp makes 0600; outputs are ordinary files, readable like anything else we write. */
    mode_t um = umask(0);
    umask(um);
    if (fchmod(f->fd, 0666 & ~um) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot set mode of %s: %s", f->tmp_path, strerror(e));
        atomic_file_abort(f);
        return -e;
    }
    return 0;
fail:
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    return -ENOMEM;
}

int atomic_file_write(atomic_file *f, const void *buf, size_t len, char *err, size_t errlen)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            snprintf(err, errlen, "write failed: %s", strerror(e));
            return -e;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int atomic_file_commit(atomic_file *f, char *err, size_t errlen)
{
    int e = 0;
    if (fsync(f->fd) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot flush output to disk: %s", strerror(e));
        goto fail;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        e = errno;
        snprintf(err, errlen, "cannot close output: %s", strerror(e));
        goto fail;
    }
    f->fd = -1;
    if (rename(f->tmp_path, f->path) != 0) {
        e = errno;
        snprintf(err, errlen, "cannot rename %s to the output: %s", f->tmp_path, strerror(e));
        goto fail;
    }
    track(NULL);
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    return 0;
fail:
    atomic_file_abort(f);
    return -e;
}

void atomic_file_abort(atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path)
        unlink(f->tmp_path);
    track(NULL);
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
}
