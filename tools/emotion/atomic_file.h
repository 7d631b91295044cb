/* atomic_file: write a file so that readers see either nothing or the complete new content.
 *
 * Promises: data goes to "PATH.tmp.XXXXXX" in the destination's own directory (so rename(2) is
 * atomic), is fsync'ed, and is renamed over PATH only by atomic_file_commit. Any failure, an
 * atomic_file_abort, or SIGINT/SIGTERM/SIGHUP/SIGPIPE while a file is open (after
 * atomic_file_install_signal_cleanup) removes the temporary file: no partial output is left.
 * One file open at a time per process (the signal handler tracks one path).
 */
#ifndef EMOTION_ATOMIC_FILE_H
#define EMOTION_ATOMIC_FILE_H

#include <stddef.h>

typedef struct atomic_file {
    int fd;            /* -1 when closed */
    char *path;        /* destination; is malloc'd */
    char *tmp_path;    /* temporary; is malloc'd */
} atomic_file;

/* Installs handlers that unlink the open temporary file and then die of the same signal. */
void atomic_file_install_signal_cleanup(void);

/* Creates the temporary file for path (mode 0666 & ~umask, like a plain creat()).
 * 0 or -errno with err holding "cannot create ...: reason". */
int atomic_file_open(atomic_file *f, const char *path, char *err, size_t errlen);
/* Writes all of buf (retries short writes). 0 or -errno with a message. */
int atomic_file_write(atomic_file *f, const void *buf, size_t len, char *err, size_t errlen);
/* fsync, close and rename over the destination. On failure the temporary is removed. */
int atomic_file_commit(atomic_file *f, char *err, size_t errlen);
/* Closes and removes the temporary; safe to call on a closed or committed file. */
void atomic_file_abort(atomic_file *f);

#endif
