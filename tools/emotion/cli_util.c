#include "cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Formats into a fixed buffer first so the line reaches stderr in one write (batch runs may be
 * logged line by line) and so embedded newlines can be flattened. */
void cli_verror(const char *what, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    if (what)
        fprintf(stderr, "emotion: %s: %s\n", what, msg);
    else
        fprintf(stderr, "emotion: %s\n", msg);
}

void cli_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verror(what, fmt, ap);
    va_end(ap);
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "emotion %s: %s (see 'emotion %s --help')\n", cmd, msg, cmd);
    else
        fprintf(stderr, "emotion: %s (see 'emotion --help')\n", msg);
}

void cli_usage_error_unknown(const char *cmd, const char *arg, int opt)
{
    if (arg && strncmp(arg, "--", 2) == 0) {
        if (strchr(arg, '='))
            cli_usage_error(cmd, "unknown option or unexpected value '%s'", arg);
        else
            cli_usage_error(cmd, "unknown option '%s'", arg);
    } else if (opt > 0 && opt < 128) {
        cli_usage_error(cmd, "unknown option '-%c'", opt);
    } else {
        cli_usage_error(cmd, "unknown option '%s'", arg ? arg : "?");
    }
}

int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '\0') {
        cli_usage_error(cmd, "option %s: '%s' is not an integer (allowed %ld..%ld)", opt, text,
                        lo, hi);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        cli_usage_error(cmd, "option %s: %s is out of range (allowed %ld..%ld)", opt, text, lo,
                        hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || text[0] == '\0') {
        cli_usage_error(cmd, "option %s: '%s' is not a number (allowed %g..%g)", opt, text, lo,
                        hi);
        return -1;
    }
    /* ERANGE on underflow (e.g. 1e-400) still yields a usable 0 or denormal; only overflow and
     * non-finite values are refused here, then the range decides. */
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0) || v < lo || v > hi) {
        cli_usage_error(cmd, "option %s: %s is out of range (allowed %g..%g)", opt, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_progress_init(cli_progress *p, int force, int quiet)
{
    p->tty = isatty(STDERR_FILENO);
    p->enabled = !quiet && (force || p->tty);
    p->last_pct = -1;
}

void cli_progress_item(cli_progress *p, size_t k, size_t n, const char *name)
{
    if (!p->enabled)
        return;
    fprintf(stderr, "[%zu/%zu] %s\n", k, n, name);
}

void cli_progress_pct(cli_progress *p, const char *name, double fraction)
{
    if (!p->enabled)
        return;
    int pct = (int)(fraction * 100.0);
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    if (pct == p->last_pct)
        return;
    if (p->tty) {
        fprintf(stderr, "\r%s: %3d%%", name, pct);
        fflush(stderr);
        p->last_pct = pct;
    } else if (p->last_pct < 0 || pct / 10 != p->last_pct / 10) {
        /* A pipe or log file gets whole lines, and only every 10 %. */
        fprintf(stderr, "%s: %d%%\n", name, pct);
        p->last_pct = pct;
    }
}

void cli_progress_done(cli_progress *p)
{
    if (p->enabled && p->tty && p->last_pct >= 0)
        fputc('\n', stderr);
    p->last_pct = -1;
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

char *cli_path_join(const char *a, const char *b)
{
    if (b[0] == '/' || a[0] == '\0')
        return strdup(b);
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    size_t k = la;
    if (a[la - 1] != '/')
        s[k++] = '/';
    memcpy(s + k, b, lb + 1);
    return s;
}

char *cli_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char *cli_path_replace_ext(const char *path, const char *ext)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t keep = (dot && dot != base) ? (size_t)(dot - path) : strlen(path);
    size_t le = strlen(ext);
    char *s = malloc(keep + le + 1);
    if (!s)
        return NULL;
    memcpy(s, path, keep);
    memcpy(s + keep, ext, le + 1);
    return s;
}

int cli_mkdirs(const char *dir)
{
    char *tmp = strdup(dir);
    if (!tmp)
        return -ENOMEM;
    int rc = 0;
    size_t n = strlen(tmp);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        tmp[i] = saved;
    }
    if (rc == 0) {
        struct stat st;
        if (stat(dir, &st) != 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    free(tmp);
    return rc;
}
