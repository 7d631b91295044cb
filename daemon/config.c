/* config: see config.h. One table names every option's INI section/key, its command-line
 * spelling and its kind; set_value() is the single place values are parsed and checked. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef EMOTIOND_MODELDIR
#define EMOTIOND_MODELDIR "/usr/local/share/emotiond"
#endif
#ifndef EMOTIOND_SRCDIR
#define EMOTIOND_SRCDIR "."
#endif
#define DEFAULT_MODEL_FILE "emotiond-default.emod"

enum kind { K_FLAG, K_VALUE, K_ACTION };

struct opt {
    const char *name;     /* command line: --name */
    const char *section;  /* INI [section] key (NULL: command line only) */
    const char *key;
    enum kind kind;
    const char *arg;      /* for --help */
    const char *help;
};

static const struct opt opts[] = {
    { "help", NULL, NULL, K_ACTION, NULL, "print this help and exit" },
    { "version", NULL, NULL, K_ACTION, NULL, "print the version and exit" },
    { "list-devices", NULL, NULL, K_ACTION, NULL, "list PortAudio input devices and exit" },
    { "check-config", NULL, NULL, K_ACTION, NULL, "parse and validate the settings, load the model, print OK or the errors, exit" },
    { "config", NULL, NULL, K_VALUE, "FILE", "INI file of settings (command-line options override it)" },
    { "device", "input", "device", K_VALUE, "NAME|INDEX", "microphone: PortAudio input device (index, exact name or unique substring); default: the default input" },
    { "mic-rate", "input", "mic_rate", K_VALUE, "HZ", "microphone: capture rate (default: the device's if a multiple of the model's, else 48 kHz if it takes it)" },
    { "mic-channels", "input", "mic_channels", K_VALUE, "1|2", "microphone: channels captured (averaged to mono; default: the device's, up to 2)" },
    { "input", "input", "file", K_VALUE, "FILE", "analyse an audio file (any libsndfile format) instead of the microphone" },
    { "fast", "input", "fast", K_FLAG, NULL, "with --input: as fast as possible instead of real time" },
    { "stdin", "input", "stdin", K_FLAG, NULL, "read raw PCM from standard input (see --format, --rate, --channels)" },
    { "format", "input", "format", K_VALUE, "s16le|f32le", "--stdin sample format (default s16le)" },
    { "rate", "input", "rate", K_VALUE, "HZ", "--stdin sample rate (default 16000)" },
    { "channels", "input", "channels", K_VALUE, "N", "--stdin interleaved channels (default 1)" },
    { "json-lines", "output", "json_lines", K_FLAG, NULL, "also write every message as a JSON line on stdout (default with --stdin)" },
    { "no-json-lines", NULL, NULL, K_FLAG, NULL, "do not write JSON lines on stdout" },
    { "keep-running", "input", "keep_running", K_FLAG, NULL, "file/stdin: keep serving after the end instead of exiting 0" },
    { "listen", "server", "listen", K_VALUE, "HOST:PORT", "HTTP/WebSocket address (default 127.0.0.1:8765; port 0 = no listener)" },
    { "token", "server", "token", K_VALUE, "TOKEN", "require 'Authorization: Bearer TOKEN' (or ?token=) from clients" },
    { "allow-origin", "server", "allow_origin", K_VALUE, "LIST", "comma-separated Origin values (http://host:port) allowed for browser clients; * = any (default: same origin only)" },
    { "max-subscribers", "server", "max_subscribers", K_VALUE, "N", "WebSocket connections allowed at once (default 1024)" },
    { "max-sidecars", "server", "max_sidecars", K_VALUE, "N", "sidecar audio streams allowed at once (default 8)" },
    { "max-message", "server", "max_message", K_VALUE, "BYTES", "largest client message accepted: sidecar PCM frames; commands are capped at 4096 (default 262144)" },
    { "web-root", "server", "web_root", K_VALUE, "DIR", "dashboard files served at / (default: the installed dashboard)" },
    { "model", "model", "path", K_VALUE, "FILE", "model file (default: the shipped model)" },
    { "publish-hz", "pipeline", "publish_hz", K_VALUE, "HZ", "posteriors per second, 0.1..100 (default 10)" },
    { "smoothing", "pipeline", "smoothing", K_VALUE, "ALPHA", "exponential smoothing per 10 ms hop, (0,1], 1 = none (default 0.1)" },
    { "gate", "gate", "mode", K_VALUE, "energy|off", "speech gate (default energy)" },
    { "gate-threshold-db", "gate", "threshold_db", K_VALUE, "DB", "speech when the level is this far above the noise floor, 0.5..40 (default 6)" },
    { "gate-abs-floor-db", "gate", "abs_floor_db", K_VALUE, "DBFS", "and above this absolute level, -120..0 (default -65)" },
    { "gate-onset-ms", "gate", "onset_ms", K_VALUE, "MS", "level must stay above this long to open, 0..500 (default 30)" },
    { "gate-hangover-ms", "gate", "hangover_ms", K_VALUE, "MS", "gate stays open this long after, 0..2000 (default 300)" },
    { "gate-contrast-db", "gate", "contrast_db", K_VALUE, "DB", "and the speech band's spectrum stands out from the per-band noise floors by this much, 0..40, 0 = off (default 8)" },
    { "speaker-prior-s", "speaker", "prior_s", K_VALUE, "S", "speaker normaliser: weight of the model's average voice, in seconds of speech, 0..600 (default 3)" },
    { "speaker-memory-s", "speaker", "memory_s", K_VALUE, "S", "speaker normaliser: plain mean over this much speech, then older speech fades, 1..3600 (default 120)" },
    { "speaker-var-floor", "speaker", "var_floor", K_VALUE, "X", "speaker normaliser: per-band variance at least X times the average voice's, 0..10 (default 0.5)" },
    { "event-on", "events", "on_threshold", K_VALUE, "P", "onset when a smoothed prob is above this ... (default 0.5)" },
    { "event-min-duration", "events", "min_duration_s", K_VALUE, "S", "... for this long, 0..60 s (default 1)" },
    { "event-off", "events", "off_threshold", K_VALUE, "P", "offset when it falls below this (default 0.35)" },
    { "log-level", "log", "level", K_VALUE, "err|warning|info|debug", "least important messages logged (default info)" },
    { NULL, NULL, NULL, 0, NULL, NULL }
};

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    c->input = CONFIG_INPUT_MIC;
    c->stdin_format = PIPELINE_S16LE;
    c->stdin_rate = 16000;
    c->stdin_channels = 1;
    c->json_lines = -1;
    c->exit_at_end = 1;
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8765;
    c->max_subscribers = 1024;
    c->max_sidecars = 8;
    c->max_message = 262144;
    pipeline_config_default(&c->pipe);
    c->log_level = 6;
}

static int parse_double(const char *s, double lo, double hi, double *out, char *why, size_t n)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        snprintf(why, n, "'%s' is not a number", s);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(why, n, "%s is out of range [%g, %g]", s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out, char *why, size_t n)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) {
        snprintf(why, n, "'%s' is not an integer", s);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(why, n, "%s is out of range [%ld, %ld]", s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out, char *why, size_t n)
{
    if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off")) {
        *out = 0;
        return 0;
    }
    snprintf(why, n, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", s);
    return -1;
}

static int copy_str(char *dst, size_t cap, const char *s, char *why, size_t n)
{
    size_t len = strlen(s);
    if (len >= cap) {
        snprintf(why, n, "value is %zu bytes long, at most %zu allowed", len, cap - 1);
        return -1;
    }
    memcpy(dst, s, len + 1);
    return 0;
}

/* "host:port", "[v6]:port", or "port". */
static int parse_listen(config *c, const char *s, char *why, size_t n)
{
    const char *colon;
    char host[256];
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            snprintf(why, n, "'%s' is not [IPv6]:PORT", s);
            return -1;
        }
        if ((size_t)(rb - s - 1) >= sizeof host) goto toolong;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        colon = rb + 1;
    } else if ((colon = strrchr(s, ':')) != NULL) {
        if ((size_t)(colon - s) >= sizeof host) goto toolong;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (strchr(host, ':')) {
            snprintf(why, n, "'%s': write IPv6 addresses as [ADDR]:PORT", s);
            return -1;
        }
    } else {
        snprintf(host, sizeof host, "%s", c->listen_host);
        colon = s - 1;
    }
    long port;
    if (parse_long(colon + 1, 0, 65535, &port, why, n) < 0) return -1;
    if (host[0] == '\0') {
        snprintf(why, n, "'%s' has an empty host (use 0.0.0.0 to listen on every address)", s);
        return -1;
    }
    /* libwebsockets binds an IP address or an interface name, not a host name */
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1 &&
        if_nametoindex(host) == 0) {
        snprintf(why, n, "'%.200s' is neither an IPv4/IPv6 address nor a network interface", host);
        return -1;
    }
    snprintf(c->listen_host, sizeof c->listen_host, "%s", host);
    c->listen_port = (int)port;
    return 0;
toolong:
    snprintf(why, n, "host in '%s' is too long", s);
    return -1;
}

/* Sets option `name` (command-line spelling) from text `val` (NULL for flags given on the
 * command line). Returns 0 or -1 with the problem in why. */
static int set_value(config *c, const char *name, const char *val, char *why, size_t n)
{
    double d;
    long l;
    int b = 1;
    pipeline_config *pc = &c->pipe;

    if (!strcmp(name, "device")) return copy_str(c->device, sizeof c->device, val, why, n);
    if (!strcmp(name, "mic-rate")) {
        if (!strcmp(val, "0") || !strcmp(val, "default")) { c->mic_rate = 0; return 0; }
        if (parse_double(val, 8000, 192000, &d, why, n) < 0) return -1;
        c->mic_rate = d;
        return 0;
    }
    if (!strcmp(name, "mic-channels")) {
        if (parse_long(val, 0, 2, &l, why, n) < 0) return -1;
        c->mic_channels = (int)l;
        return 0;
    }
    if (!strcmp(name, "input")) {
        if (copy_str(c->file, sizeof c->file, val, why, n) < 0) return -1;
        c->input = c->file[0] ? CONFIG_INPUT_FILE : CONFIG_INPUT_MIC;
        return 0;
    }
    if (!strcmp(name, "fast") || !strcmp(name, "stdin") || !strcmp(name, "json-lines") ||
        !strcmp(name, "no-json-lines") || !strcmp(name, "keep-running")) {
        if (val && parse_bool(val, &b, why, n) < 0) return -1;
        if (!strcmp(name, "fast")) c->fast = b;
        else if (!strcmp(name, "stdin")) {
            if (b) c->input = CONFIG_INPUT_STDIN;
            else if (c->input == CONFIG_INPUT_STDIN) c->input = CONFIG_INPUT_MIC;
        } else if (!strcmp(name, "json-lines")) c->json_lines = b;
        else if (!strcmp(name, "no-json-lines")) c->json_lines = !b;
        else c->exit_at_end = !b;
        return 0;
    }
    if (!strcmp(name, "format")) {
        if (!strcmp(val, "s16le")) c->stdin_format = PIPELINE_S16LE;
        else if (!strcmp(val, "f32le")) c->stdin_format = PIPELINE_F32LE;
        else {
            snprintf(why, n, "'%s' is not a sample format (s16le or f32le)", val);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "rate")) {
        if (parse_double(val, 8000, 192000, &d, why, n) < 0) return -1;
        c->stdin_rate = d;
        return 0;
    }
    if (!strcmp(name, "channels")) {
        if (parse_long(val, 1, 32, &l, why, n) < 0) return -1;
        c->stdin_channels = (int)l;
        return 0;
    }
    if (!strcmp(name, "listen")) return parse_listen(c, val, why, n);
    if (!strcmp(name, "token")) return copy_str(c->token, sizeof c->token, val, why, n);
    if (!strcmp(name, "allow-origin")) return copy_str(c->origins, sizeof c->origins, val, why, n);
    if (!strcmp(name, "max-subscribers")) {
        if (parse_long(val, 1, 100000, &l, why, n) < 0) return -1;
        c->max_subscribers = (int)l;
        return 0;
    }
    if (!strcmp(name, "max-sidecars")) {
        if (parse_long(val, 0, 1000, &l, why, n) < 0) return -1;
        c->max_sidecars = (int)l;
        return 0;
    }
    if (!strcmp(name, "max-message")) {
        if (parse_long(val, 256, 16L << 20, &l, why, n) < 0) return -1;
        c->max_message = (size_t)l;
        return 0;
    }
    if (!strcmp(name, "web-root")) return copy_str(c->web_root, sizeof c->web_root, val, why, n);
    if (!strcmp(name, "model")) return copy_str(c->model, sizeof c->model, val, why, n);
    if (!strcmp(name, "publish-hz")) return parse_double(val, 0.1, 100, &pc->publish_hz, why, n);
    if (!strcmp(name, "smoothing")) {
        if (parse_double(val, 0, 1, &d, why, n) < 0) return -1;
        if (d <= 0) {
            snprintf(why, n, "%s must be above 0 (1 = no smoothing)", val);
            return -1;
        }
        pc->smoothing = d;
        return 0;
    }
    if (!strcmp(name, "gate")) {
        if (!strcmp(val, "energy")) pc->gate.mode = PIPELINE_GATE_ENERGY;
        else if (!strcmp(val, "off")) pc->gate.mode = PIPELINE_GATE_OFF;
        else {
            snprintf(why, n, "'%s' is not a gate mode (energy or off)", val);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "gate-threshold-db")) return parse_double(val, 0.5, 40, &pc->gate.threshold_db, why, n);
    if (!strcmp(name, "gate-abs-floor-db")) return parse_double(val, -120, 0, &pc->gate.abs_floor_db, why, n);
    if (!strcmp(name, "gate-onset-ms")) return parse_double(val, 0, 500, &pc->gate.onset_ms, why, n);
    if (!strcmp(name, "gate-hangover-ms")) return parse_double(val, 0, 2000, &pc->gate.hangover_ms, why, n);
    if (!strcmp(name, "gate-contrast-db")) return parse_double(val, 0, 40, &pc->gate.contrast_db, why, n);
    if (!strcmp(name, "speaker-prior-s")) return parse_double(val, 0, 600, &pc->speaker.prior_s, why, n);
    if (!strcmp(name, "speaker-memory-s")) return parse_double(val, 1, 3600, &pc->speaker.memory_s, why, n);
    if (!strcmp(name, "speaker-var-floor")) return parse_double(val, 0, 10, &pc->speaker.var_floor, why, n);
    if (!strcmp(name, "event-on")) {
        if (parse_double(val, 0, 1, &d, why, n) < 0) return -1;
        if (d <= 0) {
            snprintf(why, n, "%s must be above 0", val);
            return -1;
        }
        pc->events.on_threshold = d;
        return 0;
    }
    if (!strcmp(name, "event-off")) return parse_double(val, 0, 1, &pc->events.off_threshold, why, n);
    if (!strcmp(name, "event-min-duration")) return parse_double(val, 0, 60, &pc->events.min_duration_s, why, n);
    if (!strcmp(name, "log-level")) {
        static const char *names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };
        for (int i = 0; i < 8; i++)
            if (!strcmp(val, names[i])) { c->log_level = i; return 0; }
        if (parse_long(val, 0, 7, &l, why, n) == 0) { c->log_level = (int)l; return 0; }
        snprintf(why, n, "'%s' is not a log level (err, warning, info, debug or 0..7)", val);
        return -1;
    }
    snprintf(why, n, "no such option");
    return -1;
}

static const struct opt *find_long(const char *name, size_t len)
{
    for (const struct opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

struct ini_ctx {
    config *c;
    FILE *f;
    int line;              /* line last read: Debian's inih passes no line number */
    const char *path;
    char *err;
    size_t errlen;
    int failed;
};

/* inih calls the handler right after reading a line, so the reader's count is its line. */
static char *read_line(char *str, int num, void *stream)
{
    struct ini_ctx *x = stream;
    char *r = fgets(str, num, x->f);
    if (r) x->line++;
    return r;
}

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
    struct ini_ctx *x = user;
    int lineno = x->line;
    char why[300];
    if (x->failed) return 1;
    for (const struct opt *o = opts; o->name; o++) {
        if (!o->section || strcmp(o->section, section) || strcmp(o->key, key)) continue;
        if (set_value(x->c, o->name, value, why, sizeof why) < 0) {
            snprintf(x->err, x->errlen, "%s:%d: [%s] %s: %s", x->path, lineno, section, key, why);
            x->failed = 1;
        }
        return 1;
    }
    if (section[0] == '\0')
        snprintf(x->err, x->errlen, "%s:%d: '%s' outside any [section]", x->path, lineno, key);
    else
        snprintf(x->err, x->errlen, "%s:%d: unknown setting '%s' in [%s]", x->path, lineno, key, section);
    x->failed = 1;
    return 1;
}

int config_read_ini(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--config %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct ini_ctx x = { c, f, 0, path, err, errlen, 0 };
    int rc = ini_parse_stream(read_line, &x, on_ini, &x);
    fclose(f);
    if (x.failed) return -1;
    if (rc > 0) {
        snprintf(err, errlen, "%s:%d: not an INI line (expected [section], key = value or a ; comment)", path, rc);
        return -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: could not be read", path);
        return -1;
    }
    return 0;
}

/* Walks argv; for each option calls fn. Returns 0, -1 (bad value), -2 (unknown/missing). */
static int walk_args(config *c, int argc, char **argv, int only_config, char *err, size_t errlen)
{
    char why[300];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const struct opt *o;
        if (!strcmp(a, "-h")) a = "--help";
        else if (!strcmp(a, "-V")) a = "--version";
        else if (!strcmp(a, "-c")) a = "--config";
        if (a[0] != '-' || a[1] != '-' || a[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --; see --help)", argv[i]);
            return -2;
        }
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        o = find_long(a + 2, len);
        if (!o) {
            snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(len + 2), a);
            return -2;
        }
        if (o->kind == K_VALUE) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else {
                snprintf(err, errlen, "option --%s needs a value (%s)", o->name, o->arg);
                return -2;
            }
        } else if (eq) {
            if (o->kind == K_ACTION) {
                snprintf(err, errlen, "option --%s takes no value", o->name);
                return -2;
            }
            val = eq + 1;
        }
        if (!strcmp(o->name, "config")) {
            if (only_config && copy_str(c->config_file, sizeof c->config_file, val, why, sizeof why) < 0) {
                snprintf(err, errlen, "--config: %s", why);
                return -1;
            }
            continue;
        }
        if (only_config) continue;
        if (o->kind == K_ACTION) {
            if (!strcmp(o->name, "help")) c->action = CONFIG_HELP;
            else if (!strcmp(o->name, "version")) c->action = CONFIG_VERSION;
            else if (!strcmp(o->name, "list-devices")) c->action = CONFIG_LIST_DEVICES;
            else c->action = CONFIG_CHECK;
            continue;
        }
        if (set_value(c, o->name, val, why, sizeof why) < 0) {
            snprintf(err, errlen, "--%s: %s", o->name, why);
            return -1;
        }
    }
    return 0;
}

int config_apply_args(config *c, int argc, char **argv, char *err, size_t errlen)
{
    return walk_args(c, argc, argv, 0, err, errlen);
}

int config_validate(const config *c, char *err, size_t errlen)
{
    char why[300];
    if (c->input == CONFIG_INPUT_FILE && c->file[0] == '\0') {
        snprintf(err, errlen, "--input: empty file name");
        return -1;
    }
    if (c->fast && c->input != CONFIG_INPUT_FILE) {
        snprintf(err, errlen, "--fast applies only to --input FILE");
        return -1;
    }
    if (pipeline_config_check(&c->pipe, why, sizeof why) < 0) {
        snprintf(err, errlen, "settings: %s", why);
        return -1;
    }
    return 0;
}

int config_load(config *c, int argc, char **argv, char *err, size_t errlen)
{
    int rc;
    config_defaults(c);
    if ((rc = walk_args(c, argc, argv, 1, err, errlen)) < 0) return rc;
    if (c->config_file[0] && (rc = config_read_ini(c, c->config_file, err, errlen)) < 0) return rc;
    if ((rc = config_apply_args(c, argc, argv, err, errlen)) < 0) return rc;
    if (c->action != CONFIG_RUN && c->action != CONFIG_CHECK) return 0;
    return config_validate(c, err, errlen);
}

const char *config_model_path(const config *c, char *buf, size_t cap, char *err, size_t errlen)
{
    if (c->model[0]) {
        if (access(c->model, R_OK) != 0) {
            snprintf(err, errlen, "model %s: %s", c->model, strerror(errno));
            return NULL;
        }
        snprintf(buf, cap, "%s", c->model);
        return buf;
    }
    const char *env = getenv("EMOTIOND_MODEL");
    if (env && env[0]) {
        snprintf(buf, cap, "%s", env);
        if (access(buf, R_OK) == 0) return buf;
    }
    snprintf(buf, cap, "%s/%s", EMOTIOND_MODELDIR, DEFAULT_MODEL_FILE);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(buf, cap, "%s/models/%s", EMOTIOND_SRCDIR, DEFAULT_MODEL_FILE);
    if (access(buf, R_OK) == 0) return buf;
    snprintf(err, errlen,
             "no model: neither %s/%s (installed) nor %s/models/%s (source tree) exists; "
             "give one with --model FILE", EMOTIOND_MODELDIR, DEFAULT_MODEL_FILE,
             EMOTIOND_SRCDIR, DEFAULT_MODEL_FILE);
    return NULL;
}

int config_host_is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

void config_print_help(const char *argv0)
{
    printf("Usage: %s [OPTION]...\n"
           "Real-time speech-emotion daemon: captures audio, publishes emotion posteriors over\n"
           "WebSocket (protocol v1) and HTTP (/, /healthz, /metrics) on 127.0.0.1:8765.\n\n",
           argv0);
    for (const struct opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-30s %s\n", left, o->help);
        if (o->section) printf("  %-30s   (INI: [%s] %s)\n", "", o->section, o->key);
    }
    printf("\n-h = --help, -V = --version, -c FILE = --config FILE. Options override the INI file.\n"
           "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config file and model.\n");
}
