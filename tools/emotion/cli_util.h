/* cli_util: what every `emotion` subcommand shares: exit codes, one-line error messages,
 * range-checked number parsing for options, progress lines, and small path helpers.
 *
 * Promises: numbers are parsed with strtol/strtod over the whole string (no trailing garbage,
 * no overflow, inside the stated range); a failed parse prints one usage error naming the option
 * and the allowed range and returns -1, so callers only `return CLI_EXIT_USAGE`.
 * Error lines all read "emotion: WHAT: problem" on stderr, exactly one line each.
 */
#ifndef EMOTION_CLI_UTIL_H
#define EMOTION_CLI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every subcommand (documented in `emotion --help`). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,   /* processing or input error (bad audio, unwritable output, ...) */
    CLI_EXIT_USAGE = 2   /* unknown option, bad option value, missing argument */
};

/* "emotion: WHAT: message\n" (WHAT may be NULL: "emotion: message"). Always one line: newlines
 * inside the message are replaced so that a log line never splits. */
void cli_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_verror(const char *what, const char *fmt, va_list ap);

/* Usage error of subcommand cmd: "emotion CMD: message (see 'emotion CMD --help')". */
void cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After getopt returned '?': names the offending argument. `arg` is argv[optind - 1], `opt` the
 * optopt getopt set. "--name=value" on a flag and unknown long options are named as typed. */
void cli_usage_error_unknown(const char *cmd, const char *arg, int opt);

/* Parse `text` (the value of option `opt`, e.g. "--n-mels") as an integer in [lo, hi] or a finite
 * double in [lo, hi]. On failure print a usage error for cmd and return -1; 0 on success. */
int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out);

/* Progress output: enabled when stderr is a terminal or forced with --progress, and always off
 * with --quiet. `tty` says whether carriage-return updates may be used. */
typedef struct cli_progress {
    int enabled;
    int tty;
    int last_pct;  /* last percentage printed, -1 before the first */
} cli_progress;

void cli_progress_init(cli_progress *p, int force, int quiet);
/* One line per item of a batch: "[k/n] name". */
void cli_progress_item(cli_progress *p, size_t k, size_t n, const char *name);
/* Percentage of one long input (only prints when the integer percent changes; on a pipe only
 * every 10 %). cli_progress_done ends the line on a terminal. */
void cli_progress_pct(cli_progress *p, const char *name, double fraction);
void cli_progress_done(cli_progress *p);

/* Writes s as a JSON string literal (quotes, and the escapes RFC 8259 requires). */
void cli_json_string(FILE *out, const char *s);

/* ---- paths ---- */
/* Newly allocated a + "/" + b (just b when b is absolute or a is empty). NULL on ENOMEM. */
char *cli_path_join(const char *a, const char *b);
/* Newly allocated copy of the directory part of path ("." when it has none). */
char *cli_path_dirname(const char *path);
/* Newly allocated path with its extension (after the last '.' of the last component) replaced
 * by ext (which includes the dot, e.g. ".npy"); appended when there is none. */
char *cli_path_replace_ext(const char *path, const char *ext);
/* mkdir -p for dir (mode 0777 & ~umask). 0 or -errno. */
int cli_mkdirs(const char *dir);

#endif
