/* `emotion features --batch`: one .npy per input of a directory tree or a list file, mirroring
 * relative paths under the output directory. Training builds its feature cache with this, so a
 * bad file must not stop the run, and a cache made with other parameters must never be reused. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_file.h"
#include "cli_util.h"
#include "cmd_features.h"
#include "feature_file.h"

#define STAMP_NAME "emotion-features.json"
#define MAX_DEPTH 32

typedef struct job {
    char *in;       /* path to open; is malloc'd */
    char *rel;      /* path relative to the root (what is mirrored); is malloc'd */
    char *out;      /* output .npy; is malloc'd (NULL when problem is set) */
    char *problem;  /* set when the entry itself is bad (list syntax, duplicate); is malloc'd */
    const char *where; /* what the problem line names (list file:line or the input) */
    char where_buf[512];
} job;

typedef struct job_list {
    job *v;
    size_t n, cap;
} job_list;

static job *job_add(job_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        job *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        l->v = nv;
        l->cap = cap;
    }
    job *j = &l->v[l->n++];
    memset(j, 0, sizeof *j);
    return j;
}

static void jobs_free(job_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].in);
        free(l->v[i].rel);
        free(l->v[i].out);
        free(l->v[i].problem);
    }
    free(l->v);
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp(((const job *)a)->rel, ((const job *)b)->rel);
}

/* Recursive scan: audio files by extension, hidden entries skipped, symlinks followed (a depth
 * limit stops cycles). Unreadable subdirectories are reported and skipped. */
static int scan_dir(const char *dir, const char *rel, int depth, job_list *jobs, int *errors)
{
    if (depth > MAX_DEPTH) {
        cli_error(dir, "directory nesting deeper than %d levels (symlink loop?); skipped", MAX_DEPTH);
        (*errors)++;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cli_error(dir, "cannot read directory: %s", strerror(errno));
        (*errors)++;
        return 0;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = cli_path_join(dir, e->d_name);
        char *r = rel[0] ? cli_path_join(rel, e->d_name) : strdup(e->d_name);
        struct stat st;
        if (!path || !r) {
            rc = -1;
        } else if (stat(path, &st) != 0) {
            /* dangling symlink: not audio we can read; say so only if it looks like audio */
            if (audio_file_known_extension(e->d_name)) {
                cli_error(path, "cannot open: %s", strerror(errno));
                (*errors)++;
            }
        } else if (S_ISDIR(st.st_mode)) {
            rc = scan_dir(path, r, depth + 1, jobs, errors);
        } else if (audio_file_known_extension(e->d_name)) {
            job *j = job_add(jobs);
            if (!j) {
                rc = -1;
            } else {
                j->in = path;
                j->rel = r;
                path = r = NULL;
            }
        }
        free(path);
        free(r);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Reduces a list entry to a clean relative path, or explains why it cannot be mirrored. */
static const char *relative_entry(const char *entry, const char *root_real, const char **rel)
{
    if (entry[0] == '/') {
        size_t lr = root_real ? strlen(root_real) : 0;
        if (!root_real || strncmp(entry, root_real, lr) != 0 || entry[lr] != '/')
            return "absolute path outside the root directory (give --root, or list it relative)";
        entry += lr;
    }
    while (entry[0] == '/' || (entry[0] == '.' && entry[1] == '/'))
        entry += entry[0] == '/' ? 1 : 2;
    for (const char *c = entry; *c;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return "path leaves the root directory ('..'); list it from a common --root";
        c += len + (slash ? 1 : 0);
    }
    if (entry[0] == '\0')
        return "empty path";
    *rel = entry;
    return NULL;
}

static int read_list(const char *list, const char *root, job_list *jobs)
{
    FILE *fp = fopen(list, "r");
    if (!fp) {
        cli_error(list, "cannot open list: %s", errno == ENOENT ? "no such file" : strerror(errno));
        return -1;
    }
    char *root_real = realpath(root, NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len)) {
            cli_error(list, "line %ld contains a NUL byte: not a text list of paths", lineno);
            rc = -1;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        job *j = job_add(jobs);
        if (!j) {
            rc = -1;
            break;
        }
        snprintf(j->where_buf, sizeof j->where_buf, "%s:%ld", list, lineno);
        const char *rel = NULL;
        const char *why = relative_entry(s, root_real, &rel);
        j->in = cli_path_join(root, s);
        j->rel = strdup(why ? s : rel);
        if (why) {
            j->problem = strdup(why);
            j->where = j->where_buf;
        }
        if (!j->in || !j->rel || (why && !j->problem)) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        cli_error(list, "cannot read list: %s", strerror(errno));
        rc = -1;
    }
    free(line);
    free(root_real);
    fclose(fp);
    return rc;
}

static int newer_or_same(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

static int up_to_date(const char *in, const char *out)
{
    struct stat si, so;
    if (stat(in, &si) != 0 || stat(out, &so) != 0 || !S_ISREG(so.st_mode))
        return 0;
    return newer_or_same(&so.st_mtim, &si.st_mtim);
}

/* The cache stamp: the parameters the outputs in OUTDIR were made with. */
static void stamp_text(const dsp_params *p, int columns, char *buf, size_t cap)
{
    char pj[512];
    features_params_json(p, pj, sizeof pj);
    /* The tracker's input is part of the layout: a cache of the other one is not reused. */
    const int sup = columns & FEATURES_PITCH_SUPPRESSED;
    const char *layout = !(columns & FEATURES_PITCH) ? "frames x n_mels"
                         : !(columns & FEATURES_MEL)
                             ? (sup ? "frames x (ln F0, periodicity; suppressed samples)"
                                    : "frames x (ln F0, periodicity)")
                             : (sup ? "frames x (n_mels, ln F0, periodicity; suppressed samples)"
                                    : "frames x (n_mels, ln F0, periodicity)");
    snprintf(buf, cap, "{\"emotion\": \"%s\", \"dtype\": \"float32\", \"layout\": \"%s\", "
             "\"features\": %s}\n", EMOTIOND_VERSION, layout, pj);
}

static int stamp_matches(const char *path, const char *want)
{
    char have[1024];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    size_t n = fread(have, 1, sizeof have - 1, fp);
    fclose(fp);
    have[n] = '\0';
    return strcmp(have, want) == 0;
}

static int stamp_write(const char *path, const char *text)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return -1;
    int ok = fputs(text, fp) >= 0;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Marks every job whose output another job also writes (x.wav and x.flac side by side). */
static void mark_duplicates(job_list *jobs)
{
    job **v = malloc(jobs->n * sizeof *v);
    if (!v)
        return;
    size_t m = 0;
    for (size_t i = 0; i < jobs->n; i++)
        if (jobs->v[i].out)
            v[m++] = &jobs->v[i];
    /* insertion of pointers sorted by output; jobs are already sorted by rel so equal outputs
     * are neighbours after sorting by out */
    for (size_t i = 1; i < m; i++)
        for (size_t k = i; k > 0 && strcmp(v[k - 1]->out, v[k]->out) > 0; k--) {
            job *t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    for (size_t i = 1; i < m; i++) {
        if (strcmp(v[i - 1]->out, v[i]->out) == 0 && !v[i]->problem) {
            char msg[1024];
            snprintf(msg, sizeof msg, "output %s is also the output of %s; skipped", v[i]->out,
                     v[i - 1]->in);
            v[i]->problem = strdup(msg);
        }
    }
    free(v);
}

int features_batch_run(features_opts *o)
{
    job_list jobs = {0};
    int exit_code = CLI_EXIT_FAIL;
    size_t written = 0, skipped = 0, failed = 0;
    char *root = NULL, *stamp = NULL;
    int scan_errors = 0;
    struct stat st;

    if (stat(o->batch, &st) != 0) {
        cli_error(o->batch, "cannot open: %s", errno == ENOENT ? "no such file or directory"
                                                               : strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        if (o->root) {
            cli_usage_error("features", "--root applies to a list file, not a directory");
            exit_code = CLI_EXIT_USAGE;
            goto out;
        }
        if (scan_dir(o->batch, "", 0, &jobs, &scan_errors) != 0) {
            cli_error(o->batch, "out of memory while scanning");
            goto out;
        }
        if (jobs.n > 1)
            qsort(jobs.v, jobs.n, sizeof *jobs.v, cmp_rel);
    } else {
        root = o->root ? strdup(o->root) : cli_path_dirname(o->batch);
        if (!root || read_list(o->batch, root, &jobs) != 0)
            goto out;
    }
    failed += (size_t)scan_errors;
    if (jobs.n == 0 && scan_errors == 0) {
        cli_error(o->batch, S_ISDIR(st.st_mode) ? "no audio files found (by extension: .wav, .flac, "
                  ".ogg, ...)" : "the list names no files");
        goto out;
    }
    for (size_t i = 0; i < jobs.n; i++) {
        job *j = &jobs.v[i];
        if (j->problem)
            continue;
        char *npy = cli_path_replace_ext(j->rel, ".npy");
        j->out = npy ? cli_path_join(o->out, npy) : NULL;
        free(npy);
        if (!j->out) {
            cli_error(NULL, "out of memory");
            goto out;
        }
    }
    mark_duplicates(&jobs);

    int mk = cli_mkdirs(o->out);
    if (mk != 0) {
        cli_error(o->out, "cannot create output directory: %s", strerror(-mk));
        goto out;
    }
    if (access(o->out, W_OK | X_OK) != 0) {
        cli_error(o->out, "cannot write into output directory: %s", strerror(errno));
        goto out;
    }
    char want[1024];
    stamp_text(&o->params, o->columns, want, sizeof want);
    stamp = cli_path_join(o->out, STAMP_NAME);
    if (!stamp) {
        cli_error(NULL, "out of memory");
        goto out;
    }
    int same = stamp_matches(stamp, want);
    if (same == 0) {
        /* Outputs there were made with other parameters. Remove the stamp before touching
         * anything so an interrupted run can never leave old frames marked as current. */
        if (o->skip_existing)
            fprintf(stderr, "emotion: %s: made with other feature parameters; recomputing every "
                    "output\n", stamp);
        unlink(stamp);
    }
    int may_skip = o->skip_existing && same == 1;

    for (size_t i = 0; i < jobs.n; i++) {
        job *j = &jobs.v[i];
        cli_progress_item(&o->progress, i + 1, jobs.n, j->rel);
        if (j->problem) {
            cli_error(j->where ? j->where : j->in, "%s", j->problem);
            failed++;
            continue;
        }
        if (may_skip && up_to_date(j->in, j->out)) {
            skipped++;
            continue;
        }
        char err[1024];
        int err_is_out = 0;
        char *dir = cli_path_dirname(j->out);
        int mrc = dir ? cli_mkdirs(dir) : -ENOMEM;
        if (mrc != 0) {
            cli_error(dir ? dir : j->out, "cannot create output directory: %s", strerror(-mrc));
            free(dir);
            failed++;
            continue;
        }
        free(dir);
        if (features_one(o, j->in, j->out, j->rel, err, sizeof err, &err_is_out) != 0) {
            cli_error(err_is_out ? j->out : j->in, "%s", err);
            failed++;
            continue;
        }
        written++;
    }
    if (stamp_write(stamp, want) != 0) {
        cli_error(stamp, "cannot write the parameter stamp: %s", strerror(errno));
        failed++;
    }
    if (skipped)
        fprintf(stderr, "emotion: %zu written, %zu up to date, %zu failed\n", written, skipped, failed);
    else
        fprintf(stderr, "emotion: %zu written, %zu failed\n", written, failed);
    exit_code = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    jobs_free(&jobs);
    free(root);
    free(stamp);
    return exit_code;
}
