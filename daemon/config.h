/* config: emotiond's settings from defaults, an INI file (libinih) and the command line.
 *
 * Precedence: built-in defaults < the INI file (--config FILE) < command-line options. A SIGHUP
 * reload re-reads the same INI file and re-applies the same command line into a scratch config
 * (config_load), so the daemon swaps settings only when the whole reload succeeded.
 *
 * Every option has one INI spelling ([section] key) and one command-line spelling (--key);
 * docs/daemon.md lists them (and `emotiond --help`). Values are checked when set: numbers via
 * strtol/strtod with range checks; errors are one line naming the option (or FILE:LINE for the
 * INI file) and the problem.
 */
#ifndef EMOTIOND_CONFIG_H
#define EMOTIOND_CONFIG_H

#include <stddef.h>

#include "pipeline.h"

enum config_input { CONFIG_INPUT_MIC = 0, CONFIG_INPUT_FILE, CONFIG_INPUT_STDIN };
enum config_action { CONFIG_RUN = 0, CONFIG_HELP, CONFIG_VERSION, CONFIG_LIST_DEVICES,
                     CONFIG_CHECK };

#define CONFIG_PATH_MAX 1024

typedef struct config {
    /* input */
    int input;                        /* enum config_input */
    char device[256];                 /* mic: PortAudio device name (substring) or index; "" = default */
    double mic_rate;                  /* mic: Hz, 0 = the device's default rate */
    int mic_channels;                 /* mic: 1 or 2, 0 = min(device channels, 2) */
    char file[CONFIG_PATH_MAX];       /* --input FILE */
    int fast;                         /* file: as fast as possible instead of real time */
    int stdin_format;                 /* enum pipeline_format */
    double stdin_rate;
    int stdin_channels;
    int json_lines;                   /* messages as JSON lines on stdout; -1 = default (on with --stdin) */
    int exit_at_end;                  /* file/stdin: exit 0 after the end (default 1) */
    /* server */
    char listen_host[256];            /* default 127.0.0.1 */
    int listen_port;                  /* default 8765; 0 = no listener */
    char token[256];                  /* bearer token, "" = none */
    char origins[1024];               /* comma-separated allowed Origin values, "" = any */
    int max_subscribers;
    int max_sidecars;
    size_t max_message;               /* largest client message accepted (bytes) */
    char web_root[CONFIG_PATH_MAX];   /* dashboard files, "" = installed default */
    /* model and processing */
    char model[CONFIG_PATH_MAX];      /* "" = shipped model (config_default_model) */
    pipeline_config pipe;
    /* logging */
    int log_level;                    /* journald priority: 3 err .. 7 debug, default 6 */

    /* bookkeeping, not options */
    char config_file[CONFIG_PATH_MAX];
    int action;                       /* enum config_action */
} config;

void config_defaults(config *c);

/* Whole load: defaults, then the INI file named by --config in argv (if any), then argv.
 * Returns 0, or -1 with one line in err (bad option, bad value, FILE:LINE problems), or -2 for
 * an unknown option / missing argument (the caller exits 2). */
int config_load(config *c, int argc, char **argv, char *err, size_t errlen);

/* Parts of config_load, for tests. */
int config_read_ini(config *c, const char *path, char *err, size_t errlen);
int config_apply_args(config *c, int argc, char **argv, char *err, size_t errlen);
/* Cross-field checks (listen address, file vs stdin, thresholds). */
int config_validate(const config *c, char *err, size_t errlen);

/* The model path to load: c->model, or the shipped model at the install path, or (for an
 * uninstalled build) the source tree's models/emotiond-default.emod. Writes the candidates
 * tried into err when none exists and returns NULL. */
const char *config_model_path(const config *c, char *buf, size_t cap, char *err, size_t errlen);

/* 1 if host is a loopback address or "localhost". */
int config_host_is_loopback(const char *host);

void config_print_help(const char *argv0);

#endif
