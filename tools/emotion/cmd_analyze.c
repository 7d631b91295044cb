/* `emotion analyze`: emotion posteriors of one audio file, for the whole file and over time,
 * computed by the C runtime exactly as the daemon would (dsp/ front end, nn/ runners).
 *
 * Whole file: the rule of `emotion eval` (and of training's model selection): offline windows of
 * nn_model_window_frames() frames (3 s by default) at a hop of half a window, the last window
 * aligned to the file's end (a file shorter than a window is one window); the file's posteriors
 * are the mean of the windows' posteriors. Over time: the streaming runner's posteriors (what
 * emotiond publishes, before its speech gate and smoothing) every --hop-out ms, once the stream
 * has seen the model's minimum context (0.5 s by default); t is the end of the newest frame.
 * A speaker-normalising model (cmvn "speaker") takes the voice's statistics from the speech
 * frames of the file and of any --speaker-from files (nn_speaker_add_utterances), as `emotion
 * eval` does for a speaker's files.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "audio_file.h"
#include "cli_util.h"
#include "dsp.h"
#include "nn.h"

static const char *const CMD = "analyze";
#define DEFAULT_MODEL_FILE "emotiond-default.emod"

static void usage(FILE *out)
{
    fprintf(out,
"usage: emotion analyze IN [--model M.emod] [--speaker-from FILE]... [--csv] [--hop-out MS]\n"
"                          [-o OUT]\n"
"\n"
"Emotion posteriors of the audio file IN (any format `emotion info` reads), for the whole file\n"
"and over time, as JSON (default) or CSV.\n"
"\n"
"  -m, --model PATH  model file (default: $EMOTIOND_MODEL, else the installed\n"
"                    ../share/emotiond/" DEFAULT_MODEL_FILE " next to this program, else\n"
"                    the source tree's models/" DEFAULT_MODEL_FILE " for an uninstalled build)\n"
"  --speaker-from FILE  (repeatable) more speech of the same voice: a speaker-normalising model\n"
"                    (the default one) takes the voice's statistics from IN and these files.\n"
"                    IN alone gives it little to go on: on held-out speakers 43 %% accuracy\n"
"                    from one file's statistics, 74 %% from all of a speaker's files\n"
"  --csv             CSV instead of JSON: header \"t,LABEL...,top\", one row per time step,\n"
"                    then a row with t = \"file\" for the whole file\n"
"  --hop-out MS      time between rows, 10..60000 ms, rounded to whole 10 ms hops (default 100)\n"
"  -o, --output PATH write there (atomically) instead of stdout\n"
"  -h, --help        this text\n"
"\n"
"Whole file: mean posteriors of offline windows of the model's window (3 s), hop half a window,\n"
"last window aligned to the end: the rule of `emotion eval`. Over time: the streaming runner's\n"
"posteriors (what emotiond publishes before its speech gate and smoothing), from 0.5 s on; t is\n"
"the end of the newest 25 ms frame, in seconds. No speech detection: silence is analysed too.\n"
"\n"
"JSON: {\"file\", \"model\" (id), \"labels\", \"sample_rate\", \"duration\" (s), \"frames\",\n"
"\"window_frames\", \"windows\", \"probs\", \"top\", \"conf\", \"hop_out\" (s),\n"
"\"timeline\": [{\"t\", \"probs\", \"top\"}...]}; probabilities in label order.\n");
}

/* Fills path with the default model, or returns -1 with the candidates named in err. */
static int default_model(char *path, size_t cap, char *err, size_t errlen)
{
    const char *env = getenv("EMOTIOND_MODEL");
    if (env && env[0]) {
        snprintf(path, cap, "%s", env);
        return 0;   /* explicit: a missing file is reported by the loader, naming it */
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(err, errlen, "no --model given and the program's own path is unknown (%s)",
                 strerror(errno));
        return -1;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    /* installed: PREFIX/bin/emotion -> PREFIX/share/emotiond; build tree: SRC/BUILD/tools/emotion */
    const char *rel[] = {"../share/emotiond/" DEFAULT_MODEL_FILE, "../../models/" DEFAULT_MODEL_FILE};
    char tried[2][2200];
    for (int i = 0; i < 2; i++) {
        snprintf(tried[i], sizeof tried[i], "%.2100s/%s", exe, rel[i]);
        if (access(tried[i], R_OK) == 0) {
            snprintf(path, cap, "%.2199s", tried[i]);
            return 0;
        }
    }
    snprintf(err, errlen, "no model found (tried %.400s and %.400s); give one with --model or $EMOTIOND_MODEL",
             tried[0], tried[1]);
    return -1;
}

static int top_label(const float *p, int K)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

static void csv_str(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void probs_out(FILE *out, const float *p, int K, const char *sep)
{
    for (int k = 0; k < K; k++)
        fprintf(out, "%s%.6f", k ? sep : "", (double)p[k]);
}

/* The whole-file rule (see the header comment) into probs; returns the window count or -1. */
static int file_posteriors(const nn_model *m, const float *feat, int64_t T, float *probs, float *wp,
                           char *err, size_t errlen)
{
    const int K = nn_model_n_labels(m), W = nn_model_window_frames(m), M = nn_model_input_dim(m);
    int nw = 0;
    int64_t start = 0;
    for (int k = 0; k < K; k++)
        probs[k] = 0;
    for (;;) {
        int64_t len = T < W ? T : W;
        if (start + len > T)
            start = T - len;
        if (nn_offline_run(m, feat + (size_t)start * M, (int)len, wp, err, errlen) != 0)
            return -1;
        for (int k = 0; k < K; k++)
            probs[k] += wp[k];
        nw++;
        if (start + len >= T)
            break;
        start += W / 2;
    }
    for (int k = 0; k < K; k++)
        probs[k] /= (float)nw;
    return nw;
}

int cmd_analyze(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"csv", no_argument, NULL, 'c'},
        {"hop-out", required_argument, NULL, 'H'},
        {"output", required_argument, NULL, 'o'},
        {"speaker-from", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_arg = NULL, *out_path = NULL;
    int csv = 0, c, rc = CLI_EXIT_FAIL, n_from = 0;
    const char *from[64];
    long hop_ms = 100;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 'c': csv = 1; break;
        case 'o': out_path = optarg; break;
        case 'S':
            if (n_from == (int)(sizeof from / sizeof from[0])) {
                cli_usage_error(CMD, "--speaker-from: at most %d files", n_from);
                return CLI_EXIT_USAGE;
            }
            from[n_from++] = optarg;
            break;
        case 'H':
            if (cli_parse_long(CMD, "--hop-out", optarg, 10, 60000, &hop_ms) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default:
            cli_usage_error_unknown(CMD, argv[optind - 1], optopt);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_usage_error(CMD, "missing input file");
        return CLI_EXIT_USAGE;
    }
    if (argc - optind > 1) {
        cli_usage_error(CMD, "one input file only (got %d)", argc - optind);
        return CLI_EXIT_USAGE;
    }
    const char *in = argv[optind];

    char err[1024], model_path[PATH_MAX + 64];
    nn_model *m = NULL;
    nn_stream *s = NULL;
    nn_speaker *sp = NULL;
    float *x = NULL, *feat = NULL, *probs = NULL, *rows = NULL;
    float **utt = NULL;   /* [0] = feat, then the --speaker-from files' frames (owned) */
    int *utt_len = NULL, n_utt = 0;
    int64_t *row_frame = NULL;
    char *text = NULL;
    size_t text_len = 0, n = 0;
    FILE *out = NULL;

    if (model_arg)
        snprintf(model_path, sizeof model_path, "%s", model_arg);
    else if (default_model(model_path, sizeof model_path, err, sizeof err) != 0) {
        cli_error(NULL, "%s", err);
        return CLI_EXIT_FAIL;
    }
    if (nn_model_load_file(model_path, &m, err, sizeof err) != 0) {
        cli_error(NULL, "model %s", err);   /* err starts with the path */
        return CLI_EXIT_FAIL;
    }
    const dsp_params *p = nn_model_features(m);
    const int K = nn_model_n_labels(m), M = nn_model_input_dim(m);
    unsigned pitch_flags;
    const int pitch = nn_model_pitch(m, &pitch_flags) ? (int)pitch_flags : -1;
    int64_t T = 0;
    if (audio_file_load_mono(in, p->sample_rate, &x, &n, err, sizeof err) != 0 ||
        audio_frames(x, n, p, pitch, &feat, &T, err, sizeof err) != 0) {
        cli_error(in, "%s", err);
        goto done;
    }
    long hop_frames = (hop_ms * p->sample_rate / 1000 + p->hop_length / 2) / p->hop_length;
    if (hop_frames < 1)
        hop_frames = 1;
    size_t max_rows = (size_t)(T / hop_frames) + 1;
    probs = malloc(sizeof(float) * 2 * (size_t)K);
    rows = malloc(sizeof(float) * max_rows * K);
    row_frame = malloc(sizeof *row_frame * max_rows);
    if (!probs || !rows || !row_frame) {
        cli_error(in, "out of memory for %lld frames", (long long)T);
        goto done;
    }
    nn_speaker_params spp = {0, 2000000000, 0.0};   /* the file's plain statistics */
    if (nn_speaker_new(m, &spp, &sp, err, sizeof err) != 0) {
        cli_error(in, "model: %s", err);
        goto done;
    }
    /* IN and every --speaker-from file in one call: a level floor then floors them all at the
     * voice's level, as `emotion eval` and training do. */
    n_utt = nn_model_speaker_norm(m) ? n_from + 1 : 1;
    utt = calloc((size_t)n_utt, sizeof *utt);
    utt_len = calloc((size_t)n_utt, sizeof *utt_len);
    if (!utt || !utt_len) {
        cli_error(in, "out of memory");
        goto done;
    }
    utt[0] = feat;
    utt_len[0] = (int)T;
    for (int i = 1; i < n_utt; i++) {
        int64_t fT = 0;
        if (audio_file_load_frames(from[i - 1], p, pitch, &utt[i], &fT, err, sizeof err) != 0) {
            cli_error(from[i - 1], "%s", err);
            goto done;
        }
        utt_len[i] = (int)fT;
    }
    nn_speaker_add_utterances(sp, (const float *const *)utt, utt_len, n_utt);
    for (int64_t t = 0; t < T; t++)
        nn_speaker_apply(sp, feat + (size_t)t * M, feat + (size_t)t * M);
    int nw = file_posteriors(m, feat, T, probs, probs + K, err, sizeof err);
    if (nw < 0) {
        cli_error(in, "model: %s", err);
        goto done;
    }
    if (nn_stream_new(m, &s, err, sizeof err) != 0) {
        cli_error(in, "model: %s", err);
        goto done;
    }
    size_t n_rows = 0;
    for (int64_t t = 0; t < T; t++) {
        int ready = nn_stream_push(s, feat + (size_t)t * M, rows + n_rows * K);
        if (ready && (t + 1) % hop_frames == 0)
            row_frame[n_rows++] = t;
    }

    if (!(out = open_memstream(&text, &text_len))) {
        cli_error(in, "out of memory");
        goto done;
    }
    const double sr = p->sample_rate;
    if (csv) {
        fputs("t", out);
        for (int k = 0; k < K; k++) {
            fputc(',', out);
            csv_str(out, nn_model_label(m, k));
        }
        fputs(",top\n", out);
        for (size_t r = 0; r < n_rows; r++) {
            const float *pr = rows + r * K;
            fprintf(out, "%.3f,", (double)dsp_logmel_frame_end(p, row_frame[r]) / sr);
            probs_out(out, pr, K, ",");
            fputc(',', out);
            csv_str(out, nn_model_label(m, top_label(pr, K)));
            fputc('\n', out);
        }
        fputs("file,", out);
        probs_out(out, probs, K, ",");
        fputc(',', out);
        csv_str(out, nn_model_label(m, top_label(probs, K)));
        fputc('\n', out);
    } else {
        fputs("{\"file\":", out);
        cli_json_string(out, in);
        fputs(",\"model\":", out);
        cli_json_string(out, nn_model_id(m));
        fputs(",\"labels\":[", out);
        for (int k = 0; k < K; k++) {
            if (k)
                fputc(',', out);
            cli_json_string(out, nn_model_label(m, k));
        }
        int top = top_label(probs, K);
        fprintf(out, "],\"sample_rate\":%d,\"duration\":%.3f,\"frames\":%lld,\"window_frames\":%d,"
                     "\"windows\":%d,\"probs\":[", (int)p->sample_rate, (double)n / sr, (long long)T,
                nn_model_window_frames(m), nw);
        probs_out(out, probs, K, ",");
        fputs("],\"top\":", out);
        cli_json_string(out, nn_model_label(m, top));
        fprintf(out, ",\"conf\":%.6f,\"hop_out\":%.3f,\"timeline\":[", (double)probs[top],
                (double)hop_frames * p->hop_length / sr);
        for (size_t r = 0; r < n_rows; r++) {
            const float *pr = rows + r * K;
            fprintf(out, "%s\n{\"t\":%.3f,\"probs\":[", r ? "," : "",
                    (double)dsp_logmel_frame_end(p, row_frame[r]) / sr);
            probs_out(out, pr, K, ",");
            fputs("],\"top\":", out);
            cli_json_string(out, nn_model_label(m, top_label(pr, K)));
            fputc('}', out);
        }
        fputs("]}\n", out);
    }
    if (fclose(out) != 0) {
        out = NULL;
        cli_error(in, "out of memory formatting the output");
        goto done;
    }
    out = NULL;
    if (out_path) {
        atomic_file af = {.fd = -1, .path = NULL, .tmp_path = NULL};
        if (atomic_file_open(&af, out_path, err, sizeof err) != 0 ||
            atomic_file_write(&af, text, text_len, err, sizeof err) != 0 ||
            atomic_file_commit(&af, err, sizeof err) != 0) {
            atomic_file_abort(&af);
            cli_error(out_path, "%s", err);
            goto done;
        }
    } else if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        cli_error("stdout", "write failed: %s", strerror(errno));
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    if (out)
        fclose(out);
    free(text);
    nn_stream_free(s);
    nn_speaker_free(sp);
    nn_model_free(m);
    free(x);
    free(feat);
    for (int i = 1; utt && i < n_utt; i++)
        free(utt[i]);
    free(utt);
    free(utt_len);
    free(probs);
    free(rows);
    free(row_frame);
    return rc;
}
