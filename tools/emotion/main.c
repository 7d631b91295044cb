/* emotion: offline command-line tool of emotiond (features, info, and the subcommands other parts
 * add). Each subcommand is one `int cmd_NAME(int argc, char **argv)` in its own cmd_NAME.c, called
 * with argv[0] = its name; it parses its own options and returns an exit code (cli_util.h). To add
 * one: declare it below, add a row to g_commands, add the file to emotion_sources in
 * tools/meson.build. */
#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "cli_util.h"

int cmd_analyze(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_listen(int argc, char **argv);

typedef struct emotion_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;   /* one line for `emotion --help` */
} emotion_cmd;

static const emotion_cmd g_commands[] = {
    {"analyze", cmd_analyze, "emotion posteriors of an audio file, whole file and over time (JSON or CSV)"},
    {"eval", cmd_eval, "accuracy, macro-F1, UAR and confusion matrix of a model over a labelled list"},
    {"features", cmd_features, "log-mel features of audio files as float32 .npy (one file or --batch)"},
    {"info", cmd_info, "format, rate, channels, frames and duration of audio files"},
    {"listen", cmd_listen, "print a running emotiond's messages (ws://...), or stream a file to it (--send)"},
};

#define N_COMMANDS (sizeof g_commands / sizeof g_commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: emotion COMMAND [OPTIONS] [ARGS]\n"
            "       emotion COMMAND --help\n"
            "       emotion --version\n"
            "\n"
            "Offline tools of emotiond, the real-time speech-emotion daemon.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(out,
            "\n"
            "Exit status (every command):\n"
            "  0  success\n"
            "  1  processing or input error (unreadable/corrupt audio, unwritable output, ...);\n"
            "     one line \"emotion: FILE: problem\" per error on stderr\n"
            "  2  usage error (unknown command or option, bad option value, missing argument)\n");
}

static const emotion_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(g_commands[i].name, name) == 0)
            return &g_commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0) {
        printf("emotion %s (emotiond)\n", EMOTIOND_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(first, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        const emotion_cmd *c = find_command(argv[2]);
        if (!c) {
            cli_usage_error(NULL, "unknown command '%s'", argv[2]);
            return CLI_EXIT_USAGE;
        }
        char *hargv[] = {(char *)c->name, "--help", NULL};
        return c->fn(2, hargv);
    }
    if (first[0] == '-') {
        cli_usage_error(NULL, "unknown option '%s' (options go after the command)", first);
        return CLI_EXIT_USAGE;
    }
    const emotion_cmd *c = find_command(first);
    if (!c) {
        cli_usage_error(NULL, "unknown command '%s'", first);
        return CLI_EXIT_USAGE;
    }
    /* Interrupting a run must not leave a half-written output behind. */
    atomic_file_install_signal_cleanup();
    return c->fn(argc - 1, argv + 1);
}
