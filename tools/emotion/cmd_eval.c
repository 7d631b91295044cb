/* `emotion eval`: accuracy of a model file over a labelled list of audio files, computed by the C
 * runtime (dsp/ front end + nn/ offline runner), i.e. exactly what the daemon would compute.
 *
 * File-level decision (the same rule as tools/train/train.py eval_file, which selects the
 * training epoch): offline windows of nn_model_window_frames() frames at a hop of half a window,
 * the last one aligned to the file's end (a file shorter than a window is one window); the
 * file's posteriors are the mean of the windows' posteriors; the prediction is their argmax.
 *
 * Models with speaker normalisation (cmvn "speaker"), --speaker-stats:
 *   speaker (default): the list's optional 'speaker' column groups the files; each speaker's
 *     statistics are taken first from the speech frames of all of its files
 *     (nn_speaker_add_utterances, no prior: the same statistics training used), then its files
 *     are evaluated with them: the state the daemon reaches once it has heard the voice for a
 *     while, measured transductively on the speaker's unlabelled audio. Without the column each
 *     file is its own speaker. --speaker-files LIST2 adds more files (not evaluated) to their
 *     speakers' statistics: protocol 1's test speakers also speak in its training part.
 *   running: causal, as the daemon runs: a speaker's files in list order, each evaluated with the
 *     normaliser's default estimate (prior + the speaker's EARLIER files only), then added.
 *   file: each file normalised with its own speech frames only.
 *   prior: no speaker statistics at all (a daemon that has heard nothing of this voice yet).
 * --speaker-var-floor F: the normaliser's variance floor (nn_speaker_params.var_floor); default
 * 0 (training's statistics exactly) except in running mode, which uses the daemon's defaults.
 * --context N: windows of N frames instead of the model's window (same rule otherwise): how well
 * the model judges from the shorter context a stream has early on (the daemon publishes from the
 * model's min_frames on, and a lane holds 1.5-3 s), which the window-end figures do not show.
 *
 * Figures: accuracy, macro-F1 and unweighted average recall (UAR), both averaged over the classes
 * present in the list's truth (a model may know labels a corpus lacks), and the confusion matrix
 * (rows = true, columns = predicted). --protocol hands over to tools/train/protocols.py, which
 * trains one model per fold and calls this command on each.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio_file.h"
#include "cli_util.h"
#include "dsp.h"
#include "eval_list.h"
#include "nn.h"

static const char *const CMD = "eval";

static void usage(FILE *out)
{
    fprintf(out,
"usage: emotion eval --model MODEL.emod --list LIST.csv [--data DIR] [--json OUT.json]\n"
"                    [--png OUT.png] [--context FRAMES] [--quiet]\n"
"       emotion eval --protocol p1|p2 ARGS...   (runs tools/train/protocols.py ARGS)\n"
"\n"
"Runs MODEL through the C runtime over every file of LIST and prints accuracy, macro-F1,\n"
"unweighted average recall (UAR) and the confusion matrix (rows true, columns predicted).\n"
"\n"
"  -m, --model PATH   model file (.emod)\n"
"  -l, --list PATH    CSV with a header row naming at least the columns 'path' and 'label';\n"
"                     label = one of the model's label names; path relative to --data\n"
"                     and optionally 'speaker' (groups files for speaker-normalising models)\n"
"  -d, --data DIR     directory the list's paths are relative to (default: the list's dir)\n"
"  --json PATH        write the figures, the confusion matrix and each file's prediction\n"
"  --speaker-stats S  speaker-normalising models: speaker (default: all of a speaker's files\n"
"                     first), running (only the speaker's earlier files, from the prior),\n"
"                     file (each file alone) or prior (none)\n"
"  --speaker-files L  CSV like --list: more files whose speech counts in their speaker's\n"
"                     statistics (speaker mode), without being evaluated\n"
"  --speaker-var-floor F  variance floor, times the model's prior variance (default 0; running:\n"
"                     the daemon's 0.5)\n"
"  --context N        judge with windows of N frames (1..the model's window; hop N/2) instead\n"
"                     of the model's window: the accuracy from a shorter context\n"
"  --png PATH         write the confusion matrix as a PNG (needs /usr/bin/python3 with\n"
"                     matplotlib)\n"
"  -q, --quiet        no progress output\n"
"  --protocol P       exec /usr/bin/python3 tools/train/protocols.py --protocol P ARGS (trains\n"
"                     a model per fold; see docs/train.md). The script is looked up in\n"
"                     $EMOTIOND_TRAIN_DIR, then ../../tools/train relative to this binary.\n"
"  -h, --help         this text\n"
"\n"
"File-level rule: mean posteriors of windows of the model's window length (or --context;\n"
"hop: half a window, last window aligned to the end).\n"
"\n"
"Exit status: 0 success, 1 a file could not be evaluated (the others still count; the\n"
"figures say how many were skipped), 2 usage error.\n");
}

/* The model's input frames of one file (*feat is malloc'd, [*T][nn_model_input_dim]: log-mel,
 * and pitch for a model that reads it). 0 or -1 (error printed). */
static int load_features(const nn_model *m, const char *path, float **feat, int64_t *T)
{
    char err[1024];
    unsigned pitch_flags;
    int pitch = nn_model_pitch(m, &pitch_flags) ? (int)pitch_flags : -1;
    if (audio_file_load_frames(path, nn_model_features(m), pitch, feat, T, err, sizeof err) != 0) {
        cli_error(path, "%s", err);
        return -1;
    }
    return 0;
}

/* 1 when a and b are the same file entry or name the same speaker. */
static int same_speaker(const eval_entry *a, const eval_entry *b)
{
    return a == b || (a->speaker && b->speaker && strcmp(a->speaker, b->speaker) == 0);
}

/* sp := the statistics of the speech frames of every file of e[from]'s speaker, in e and in the
 * extra files x (only e[from] itself when the list names no speakers), added in one
 * nn_speaker_add_utterances call (a level floor then floors them all at the speaker's level, as
 * training does). The frames of the files evaluated next (e[from] and the same speaker's files
 * right after it) are kept in their entries so that eval_file does not decode them again; the
 * others are freed once added, which bounds the memory to one speaker's files. */
static void speaker_statistics(const nn_model *m, nn_speaker *sp, eval_entry *e, int n, int from,
                               const eval_entry *x, int nx)
{
    int run_end = from + 1;
    while (run_end < n && same_speaker(&e[run_end], &e[from]))
        run_end++;
    nn_speaker_reset(sp);
    float **feat = calloc((size_t)(n + nx), sizeof *feat);
    const float **utt = calloc((size_t)(n + nx), sizeof *utt);
    int *len = calloc((size_t)(n + nx), sizeof *len), count = 0;
    if (!feat || !utt || !len) {
        cli_error(e[from].path, "out of memory for its speaker's statistics");
        goto done;
    }
    for (int j = 0; j < n + nx; j++) {
        const eval_entry *f = j < n ? &e[j] : &x[j - n];
        if (!same_speaker(f, &e[from]))
            continue;
        if (j >= n) {   /* an extra file that is also evaluated is counted once */
            int dup = 0;
            for (int i = 0; i < n && !dup; i++)
                dup = strcmp(e[i].path, f->path) == 0;
            if (dup)
                continue;
        }
        int64_t T;
        if (load_features(m, f->path, &feat[j], &T) != 0)
            continue;   /* reported; eval_file will report and skip it too */
        utt[count] = feat[j];
        len[count++] = (int)T;
        if (j >= from && j < run_end) {
            e[j].feat = feat[j];
            e[j].n_frames = T;
            feat[j] = NULL;   /* the entry owns it now */
        }
    }
    nn_speaker_add_utterances(sp, utt, len, count);
done:
    for (int j = 0; feat && j < n + nx; j++)
        free(feat[j]);
    free(feat);
    free(utt);
    free(len);
}

enum speaker_stats { STATS_SPEAKER, STATS_RUNNING, STATS_FILE, STATS_PRIOR };

/* Posteriors of one file by the windowing rule above (windows of W frames) into probs[K], its
 * frames (f->feat if decoded already, taken over) normalised by sp first (STATS_FILE: sp := this
 * file's own statistics first; STATS_RUNNING: the file is added to sp after it was evaluated).
 * 0 or -1 (error printed). */
static int eval_file(const nn_model *m, nn_speaker *sp, enum speaker_stats mode, int W,
                     eval_entry *f, float *probs)
{
    char err[1024];
    const size_t D = (size_t)nn_model_input_dim(m);
    const char *path = f->path;
    int K = nn_model_n_labels(m), rc = -1;
    float *feat = f->feat, *wp = NULL;
    int64_t T = f->n_frames;
    f->feat = NULL;
    if (!feat && load_features(m, path, &feat, &T) != 0)
        goto done;
    if (!(wp = malloc(sizeof(float) * (size_t)K))) {
        cli_error(path, "out of memory");
        goto done;
    }
    if (mode == STATS_FILE) {
        nn_speaker_reset(sp);
        nn_speaker_add_utterance(sp, feat, (int)T);
    }
    if (mode == STATS_RUNNING) {   /* heard after it was judged: raw frames kept for the update */
        float *raw = malloc(sizeof(float) * (size_t)T * D);
        if (!raw) {
            cli_error(path, "out of memory");
            goto done;
        }
        memcpy(raw, feat, sizeof(float) * (size_t)T * D);
        for (int64_t t = 0; t < T; t++)
            nn_speaker_apply(sp, feat + (size_t)t * D, feat + (size_t)t * D);
        nn_speaker_add_utterance(sp, raw, (int)T);
        free(raw);
    } else {
        for (int64_t t = 0; t < T; t++)
            nn_speaker_apply(sp, feat + (size_t)t * D, feat + (size_t)t * D);
    }
    for (int k = 0; k < K; k++)
        probs[k] = 0.0f;
    int nw = 0;
    int64_t hop = W > 1 ? W / 2 : 1, start = 0; /* --context 1: still advances */
    for (;;) {
        int64_t len = T < W ? T : W;
        if (start + len > T)
            start = T - len;
        int r = nn_offline_run(m, feat + (size_t)start * D, (int)len, wp, err,
                               sizeof err);
        if (r != 0) {
            cli_error(path, "model: %s", err);
            goto done;
        }
        for (int k = 0; k < K; k++)
            probs[k] += wp[k];
        nw++;
        if (start + len >= T)
            break;
        start += hop;
    }
    for (int k = 0; k < K; k++)
        probs[k] /= (float)nw;
    rc = 0;
done:
    free(feat);
    free(wp);
    return rc;
}

typedef struct figures {
    int n, failed;
    double acc, uar, f1;
    long *cm; /* K x K */
} figures;

static void compute(const eval_entry *e, int n, int K, figures *fg)
{
    memset(fg->cm, 0, sizeof(long) * (size_t)K * (size_t)K);
    fg->n = 0;
    fg->failed = 0;
    long correct = 0;
    for (int i = 0; i < n; i++) {
        if (e[i].pred < 0) {
            fg->failed++;
            continue;
        }
        fg->cm[e[i].label * K + e[i].pred]++;
        fg->n++;
        correct += e[i].label == e[i].pred;
    }
    fg->acc = fg->n ? (double)correct / fg->n : 0.0;
    double rs = 0.0, fs = 0.0;
    int present = 0;
    for (int k = 0; k < K; k++) {
        long sup = 0, pred = 0;
        for (int j = 0; j < K; j++) {
            sup += fg->cm[k * K + j];
            pred += fg->cm[j * K + k];
        }
        if (!sup)
            continue;
        present++;
        double tp = (double)fg->cm[k * K + k], rec = tp / sup, prec = pred ? tp / pred : 0.0;
        rs += rec;
        fs += prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0.0;
    }
    fg->uar = present ? rs / present : 0.0;
    fg->f1 = present ? fs / present : 0.0;
}

static int write_json(const char *path, const nn_model *m, const char *list, int context,
                      const eval_entry *e, int n, const figures *fg)
{
    int K = nn_model_n_labels(m);
    FILE *f = fopen(path, "w");
    if (!f) {
        cli_error(path, "cannot create: %s", strerror(errno));
        return -1;
    }
    fprintf(f, "{\"model\": ");
    cli_json_string(f, nn_model_id(m));
    fprintf(f, ", \"list\": ");
    cli_json_string(f, list);
    fprintf(f, ", \"context_frames\": %d", context);
    fprintf(f, ", \"n\": %d, \"failed\": %d, \"accuracy\": %.6f, \"uar\": %.6f, "
               "\"macro_f1\": %.6f,\n \"labels\": [", fg->n, fg->failed, fg->acc, fg->uar, fg->f1);
    for (int k = 0; k < K; k++) {
        fprintf(f, k ? ", " : "");
        cli_json_string(f, nn_model_label(m, k));
    }
    fprintf(f, "],\n \"confusion\": [");
    for (int i = 0; i < K; i++) {
        fprintf(f, "%s[", i ? ", " : "");
        for (int j = 0; j < K; j++)
            fprintf(f, "%s%ld", j ? ", " : "", fg->cm[i * K + j]);
        fprintf(f, "]");
    }
    fprintf(f, "],\n \"files\": [");
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s\n  {\"path\": ", i ? "," : "");
        cli_json_string(f, e[i].path);
        fprintf(f, ", \"label\": ");
        cli_json_string(f, nn_model_label(m, e[i].label));
        if (e[i].pred < 0) {
            fprintf(f, ", \"pred\": null}");
            continue;
        }
        fprintf(f, ", \"pred\": ");
        cli_json_string(f, nn_model_label(m, e[i].pred));
        fprintf(f, ", \"probs\": [");
        for (int k = 0; k < K; k++)
            fprintf(f, "%s%.5f", k ? ", " : "", e[i].probs[k]);
        fprintf(f, "]}");
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
        cli_error(path, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The PNG is drawn by matplotlib from the JSON just written: one small inline script, so the
 * binary needs no plotting library and no script path. */
static const char PLOT_PY[] =
    "import json, sys\n"
    "import matplotlib\n"
    "matplotlib.use('Agg')\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "r = json.load(open(sys.argv[1]))\n"
    "cm = np.array(r['confusion'], float); lab = r['labels']; k = len(lab)\n"
    "rn = cm / np.maximum(cm.sum(1, keepdims=True), 1)\n"
    "f, ax = plt.subplots(figsize=(1 + 0.8 * k, 0.8 + 0.7 * k))\n"
    "ax.imshow(rn, cmap='Blues', vmin=0, vmax=1)\n"
    "ax.set_xticks(range(k)); ax.set_xticklabels(lab, rotation=45, ha='right')\n"
    "ax.set_yticks(range(k)); ax.set_yticklabels(lab)\n"
    "ax.set_xlabel('predicted'); ax.set_ylabel('true')\n"
    "[ax.text(j, i, '%d' % cm[i, j], ha='center', va='center', fontsize=8,\n"
    "         color='white' if rn[i, j] > 0.5 else 'black')\n"
    " for i in range(k) for j in range(k) if cm[i, j]]\n"
    "ax.set_title('%s\\nacc %.1f %%, UAR %.1f %%, n=%d' % (r['model'], 100 * r['accuracy'],\n"
    "             100 * r['uar'], r['n']), fontsize=8)\n"
    "f.tight_layout(); f.savefig(sys.argv[2], dpi=110)\n";

static int run_python(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("python", "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execv(argv[0], argv);
        cli_error(argv[0], "cannot execute: %s", strerror(errno));
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        cli_error(argv[0], "plotting failed (is matplotlib installed for /usr/bin/python3?)");
        return -1;
    }
    return 0;
}

/* --protocol: replace this process with protocols.py (training is Python's job). */
static int exec_protocols(int argc, char **argv)
{
    const char *dir = getenv("EMOTIOND_TRAIN_DIR");
    char exe[4096], script[4200];
    if (!dir) {
        ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (k <= 0) {
            cli_error(CMD, "cannot locate tools/train: set EMOTIOND_TRAIN_DIR");
            return CLI_EXIT_FAIL;
        }
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(script, sizeof script, "%s/../../tools/train/protocols.py", exe);
    } else {
        snprintf(script, sizeof script, "%s/protocols.py", dir);
    }
    if (access(script, R_OK) != 0) {
        cli_error(script, "not found (set EMOTIOND_TRAIN_DIR to the tools/train directory)");
        return CLI_EXIT_FAIL;
    }
    char **av = calloc((size_t)argc + 3, sizeof *av);
    if (!av) {
        cli_error(CMD, "out of memory");
        return CLI_EXIT_FAIL;
    }
    av[0] = "/usr/bin/python3";
    av[1] = script;
    for (int i = 1; i < argc; i++)
        av[i + 1] = argv[i];
    execv(av[0], av);
    cli_error(av[0], "cannot execute: %s", strerror(errno));
    free(av);
    return CLI_EXIT_FAIL;
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--protocol") == 0 || strncmp(argv[i], "--protocol=", 11) == 0)
            return exec_protocols(argc, argv);
    enum { OPT_JSON = 256, OPT_PNG, OPT_STATS, OPT_FLOOR, OPT_SPKFILES, OPT_CONTEXT };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"list", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},  {"json", required_argument, NULL, OPT_JSON},
        {"png", required_argument, NULL, OPT_PNG}, {"quiet", no_argument, NULL, 'q'},
        {"speaker-stats", required_argument, NULL, OPT_STATS},
        {"speaker-var-floor", required_argument, NULL, OPT_FLOOR},
        {"speaker-files", required_argument, NULL, OPT_SPKFILES},
        {"context", required_argument, NULL, OPT_CONTEXT},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *model = NULL, *list = NULL, *data = NULL, *json = NULL, *png = NULL, *spkfiles = NULL;
    int quiet = 0, c;
    enum speaker_stats mode = STATS_SPEAKER;
    double var_floor = -1;
    long context = 0; /* 0: the model's window */
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:l:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'l': list = optarg; break;
        case 'd': data = optarg; break;
        case OPT_JSON: json = optarg; break;
        case OPT_PNG: png = optarg; break;
        case OPT_STATS:
            if (strcmp(optarg, "speaker") == 0) mode = STATS_SPEAKER;
            else if (strcmp(optarg, "running") == 0) mode = STATS_RUNNING;
            else if (strcmp(optarg, "file") == 0) mode = STATS_FILE;
            else if (strcmp(optarg, "prior") == 0) mode = STATS_PRIOR;
            else {
                cli_usage_error(CMD, "--speaker-stats '%s': expected speaker, running, file or prior", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_SPKFILES: spkfiles = optarg; break;
        case OPT_FLOOR:
            if (cli_parse_double(CMD, "--speaker-var-floor", optarg, 0, 10, &var_floor) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_CONTEXT:
            /* the upper bound is the model's window, checked once the model is loaded */
            if (cli_parse_long(CMD, "--context", optarg, 1, 1L << 20, &context) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case ':': cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
        default: cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!model || !list) {
        cli_usage_error(CMD, "missing %s", !model ? "--model" : "--list");
        return CLI_EXIT_USAGE;
    }
    char err[1024];
    nn_model *m = NULL;
    eval_entry *e = NULL;
    int n = 0, rc = CLI_EXIT_FAIL;
    char *listdir = NULL;
    figures fg = {0};
    nn_speaker *sp = NULL;
    eval_entry *xe = NULL;
    int nx = 0;
    if (nn_model_load_file(model, &m, err, sizeof err) != 0) {
        cli_error(model, "%s", err);
        return CLI_EXIT_FAIL;
    }
    int K = nn_model_n_labels(m);
    if (context > nn_model_window_frames(m)) {
        cli_usage_error(CMD, "--context %ld: longer than the model's window (%d frames)", context,
                        nn_model_window_frames(m));
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    const int window = context ? (int)context : nn_model_window_frames(m); /* checked above */
    if (!data)
        data = listdir = cli_path_dirname(list);
    if (!data || eval_list_read(list, data, m, &e, &n) != 0)
        goto done;
    if (spkfiles && eval_list_read(spkfiles, data, m, &xe, &nx) != 0)
        goto done;
    fg.cm = calloc((size_t)K * (size_t)K, sizeof(long));
    if (!fg.cm) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    /* speaker and file: plain statistics, no prior, no forgetting (what training used); running
     * and prior: the normaliser as the daemon runs it. */
    nn_speaker_params spp = {0, 2000000000, 0.0};
    if (mode == STATS_RUNNING || mode == STATS_PRIOR)
        nn_speaker_params_default(&spp);
    if (var_floor >= 0)
        spp.var_floor = var_floor;
    if (nn_speaker_new(m, &spp, &sp, err, sizeof err) != 0) {
        cli_error(CMD, "%s", err);
        goto done;
    }
    const int by_speaker = nn_model_speaker_norm(m);
    int held = -1;
    cli_progress prog;
    cli_progress_init(&prog, 0, quiet);
    for (int i = 0; i < n; i++) {
        cli_progress_item(&prog, (size_t)i + 1, (size_t)n, e[i].path);
        /* sp holds the statistics of e[held]'s speaker (lists grouped by speaker: once each;
         * running: a speaker interleaved with others starts again from the prior). */
        int new_speaker = held < 0 || !same_speaker(&e[i], &e[held]);
        if (by_speaker && new_speaker && mode == STATS_SPEAKER)
            speaker_statistics(m, sp, e, n, i, xe, nx);
        else if (by_speaker && new_speaker && mode == STATS_RUNNING)
            nn_speaker_reset(sp);
        held = i;
        e[i].probs = malloc(sizeof(float) * (size_t)K);
        if (!e[i].probs) {
            cli_error(CMD, "out of memory");
            goto done;
        }
        if (eval_file(m, sp, by_speaker ? mode : STATS_PRIOR, window, &e[i], e[i].probs) != 0)
            continue;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (e[i].probs[k] > e[i].probs[best])
                best = k;
        e[i].pred = best;
    }
    compute(e, n, K, &fg);
    printf("model %s\nfiles %d (failed %d)\naccuracy %.2f %%\nmacro_f1 %.4f\nuar %.2f %%\n",
           nn_model_id(m), fg.n, fg.failed, 100 * fg.acc, fg.f1, 100 * fg.uar);
    printf("confusion (rows true, columns predicted)\n%-10s", "");
    for (int j = 0; j < K; j++)
        printf(" %9.9s", nn_model_label(m, j));
    printf("\n");
    for (int i = 0; i < K; i++) {
        printf("%-10.10s", nn_model_label(m, i));
        for (int j = 0; j < K; j++)
            printf(" %9ld", fg.cm[i * K + j]);
        printf("\n");
    }
    if (json && write_json(json, m, list, window, e, n, &fg) != 0)
        goto done;
    if (png) {
        char tmp[] = "/tmp/emotion-eval-XXXXXX";
        const char *src = json;
        int fd = -1;
        if (!src) {
            fd = mkstemp(tmp);
            if (fd < 0 || write_json(tmp, m, list, window, e, n, &fg) != 0) {
                if (fd >= 0) {
                    close(fd);
                    unlink(tmp);
                }
                cli_error(png, "cannot write the temporary JSON for plotting");
                goto done;
            }
            src = tmp;
        }
        char *av[] = {"/usr/bin/python3", "-c", (char *)PLOT_PY, (char *)src, (char *)png, NULL};
        int pr = run_python(av);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        if (pr != 0)
            goto done;
    }
    rc = fg.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
done:
    eval_list_free(e, n);
    eval_list_free(xe, nx);
    nn_speaker_free(sp);
    free(fg.cm);
    free(listdir);
    nn_model_free(m);
    return rc;
}
