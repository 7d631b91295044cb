/* `emotion features`: log-mel (and pitch) frames of audio files as float32 .npy, one file or a
 * batch. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_file.h"
#include "cli_util.h"
#include "cmd_features.h"
#include "feature_file.h"
#include "npy.h"

static const char *const CMD = "features";

static void usage(FILE *out)
{
    fprintf(out,
"usage: emotion features [OPTIONS] IN -o OUT.npy\n"
"       emotion features [OPTIONS] --batch LIST.txt|DIR -o OUTDIR\n"
"\n"
"Log-mel spectrogram of an audio file as a float32 NumPy array [frames, n_mels] (C order).\n"
"IN may be any format libsndfile reads (WAV, FLAC, Ogg, Opus, AIFF, MP3, ...), 8..192 kHz, any\n"
"channel count: channels are averaged and the audio is resampled (libsoxr) to --sample-rate.\n"
"Frame i covers samples [i*hop, i*hop+win) (no padding), so n samples give\n"
"1 + (n - win) / hop frames; audio shorter than one window is an error.\n"
"\n"
"Output:\n"
"  -o, --output PATH     output .npy file (single input) or directory (--batch); required.\n"
"                        Written to PATH.tmp.XXXXXX and renamed: never left half-written.\n"
"Batch mode:\n"
"  --batch LIST|DIR      a directory (searched recursively for audio files by extension) or a\n"
"                        text file with one audio path per line ('#' starts a comment).\n"
"                        Each input gives OUTDIR/<its path relative to the root>.npy\n"
"                        (DIR/Actor_01/x.flac -> OUTDIR/Actor_01/x.npy). A bad file prints one\n"
"                        error line and the batch goes on; a summary line ends the run.\n"
"                        OUTDIR/emotion-features.json records the feature parameters.\n"
"  --root DIR            base of relative paths in a list (default: the list's directory)\n"
"  --skip-existing       keep outputs newer than their input when OUTDIR/emotion-features.json\n"
"                        shows the same parameters (a feature cache)\n"
"  --progress            show progress even when stderr is not a terminal\n"
"  -q, --quiet           no progress output (errors and the batch summary still print)\n"
"Columns:\n"
"  --pitch               append the pitch tracker's 2 columns to each frame: ln F0 (Hz; YIN,\n"
"                        60..500 Hz, the last voiced value held through unvoiced frames) and\n"
"                        periodicity (0..1), over the 33 ms of raw audio that end where the\n"
"                        frame ends: [frames, n_mels + 2]\n"
"  --pitch-only          only those 2 columns: [frames, 2] (same frame count)\n"
"  --pitch-suppressed    with --pitch or --pitch-only: the tracker reads the noise suppressor's\n"
"                        output (needs --denoise-db), as the log-mel does; in noise it keeps\n"
"                        more voiced frames\n"
"Feature parameters (defaults: the model's front end):\n"
"  --sample-rate HZ      rate the features are computed at, 8000..192000 (16000)\n"
"  --n-mels N            mel bands, 1..1024 (128)\n"
"  --fmin HZ             lowest mel edge, >= 0 (0)\n"
"  --fmax HZ             highest mel edge, <= sample-rate/2 (sample-rate/2 = 8000)\n"
"  --n-fft N             FFT size, >= window length, 16..65536 (512, or the next power of two\n"
"                        >= the window)\n"
"  --win-ms MS | --win-length N   periodic Hamming window, 0.1..1000 ms or 16..65536 samples\n"
"                        (25 ms = 400)\n"
"  --hop-ms MS | --hop-length N   hop between frames, <= window, 0.1..1000 ms or samples\n"
"                        (10 ms = 160)\n"
"  --mel-scale slaney|htk  mel scale; slaney is area-normalised (slaney)\n"
"  --log-floor X         output = ln(max(energy, X)), 1e-30..1 (1e-10)\n"
"  --denoise-db N        suppress steady noise by up to N dB first (speexdsp), -90..0;\n"
"                        0 = off (0); training must use the front end its model will run\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 success, 1 processing or input error (any failed file in a batch),\n"
"2 usage error (unknown option, bad value, missing argument).\n");
}

enum {
    OPT_BATCH = 256, OPT_ROOT, OPT_SKIP, OPT_PROGRESS, OPT_RATE, OPT_MELS, OPT_FMIN, OPT_FMAX,
    OPT_NFFT, OPT_WIN_MS, OPT_WIN_LEN, OPT_HOP_MS, OPT_HOP_LEN, OPT_SCALE, OPT_FLOOR, OPT_DENOISE,
    OPT_PITCH, OPT_PITCH_ONLY, OPT_PITCH_SUPPRESSED
};

static const struct option g_long[] = {
    {"output", required_argument, NULL, 'o'},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"root", required_argument, NULL, OPT_ROOT},
    {"skip-existing", no_argument, NULL, OPT_SKIP},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"sample-rate", required_argument, NULL, OPT_RATE},
    {"n-mels", required_argument, NULL, OPT_MELS},
    {"fmin", required_argument, NULL, OPT_FMIN},
    {"fmax", required_argument, NULL, OPT_FMAX},
    {"n-fft", required_argument, NULL, OPT_NFFT},
    {"win-ms", required_argument, NULL, OPT_WIN_MS},
    {"win-length", required_argument, NULL, OPT_WIN_LEN},
    {"hop-ms", required_argument, NULL, OPT_HOP_MS},
    {"hop-length", required_argument, NULL, OPT_HOP_LEN},
    {"mel-scale", required_argument, NULL, OPT_SCALE},
    {"log-floor", required_argument, NULL, OPT_FLOOR},
    {"denoise-db", required_argument, NULL, OPT_DENOISE},
    {"pitch", no_argument, NULL, OPT_PITCH},
    {"pitch-only", no_argument, NULL, OPT_PITCH_ONLY},
    {"pitch-suppressed", no_argument, NULL, OPT_PITCH_SUPPRESSED},
    {NULL, 0, NULL, 0},
};

/* Name of the option getopt just complained about, for the one usage line. */
static const char *bad_option_name(char **argv, int optopt_c)
{
    static char buf[64];
    if (optopt_c > 0 && optopt_c < 256) {
        snprintf(buf, sizeof buf, "-%c", optopt_c);
        return buf;
    }
    for (const struct option *o = g_long; o->name; o++)
        if (o->val == optopt_c) {
            snprintf(buf, sizeof buf, "--%s", o->name);
            return buf;
        }
    return argv[optind - 1];
}

/* dsp_params_check names struct fields; the user typed options. Rewrites e.g. "n_fft 256 <
 * win_length 400" as "--n-fft 256 < --win-length 400" in place. */
static void option_names(char *msg, size_t cap)
{
    static const char *const map[][2] = {
        {"sample_rate", "--sample-rate"}, {"win_length", "--win-length"},
        {"hop_length", "--hop-length"},   {"n_fft", "--n-fft"},
        {"n_mels", "--n-mels"},           {"f_min", "--fmin"},
        {"f_max", "--fmax"},              {"mel_scale", "--mel-scale"},
        {"log_floor", "--log-floor"},     {"denoise_db", "--denoise-db"},
    };
    char out[512];
    size_t o = 0;
    for (const char *s = msg; *s && o + 1 < sizeof out;) {
        size_t i, n = sizeof map / sizeof map[0];
        for (i = 0; i < n; i++) {
            size_t l = strlen(map[i][0]);
            if (strncmp(s, map[i][0], l) == 0 && (s == msg || s[-1] == ' ' || s[-1] == '(')) {
                size_t r = strlen(map[i][1]);
                if (o + r + 1 >= sizeof out)
                    break;
                memcpy(out + o, map[i][1], r);
                o += r;
                s += l;
                break;
            }
        }
        if (i == n)
            out[o++] = *s++;
        else if (o + 1 >= sizeof out)
            break;
    }
    out[o] = '\0';
    size_t n = o < cap - 1 ? o : cap - 1;
    memcpy(msg, out, n);
    msg[n] = '\0';
}

int cmd_features(int argc, char **argv)
{
    features_opts o;
    memset(&o, 0, sizeof o);
    dsp_params_default(&o.params);
    o.columns = FEATURES_MEL;
    int force_progress = 0, quiet = 0, pitch = 0, pitch_only = 0, pitch_suppressed = 0;
    /* Values that depend on others are resolved after parsing: -1 = not given. */
    double win_ms = -1, hop_ms = -1, fmax = -1;
    long win_len = -1, hop_len = -1, n_fft = -1, rate = o.params.sample_rate;

    optind = 0; /* full re-initialisation of glibc getopt */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:qh", g_long, NULL)) != -1) {
        long lv;
        double dv;
        switch (c) {
        case 'o': o.out = optarg; break;
        case OPT_BATCH: o.batch = optarg; break;
        case OPT_ROOT: o.root = optarg; break;
        case OPT_SKIP: o.skip_existing = 1; break;
        case OPT_PROGRESS: force_progress = 1; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        case OPT_RATE:
            if (cli_parse_long(CMD, "--sample-rate", optarg, 8000, 192000, &rate) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_MELS:
            if (cli_parse_long(CMD, "--n-mels", optarg, 1, 1024, &lv) < 0)
                return CLI_EXIT_USAGE;
            o.params.n_mels = (int32_t)lv;
            break;
        case OPT_FMIN:
            if (cli_parse_double(CMD, "--fmin", optarg, 0, 96000, &dv) < 0)
                return CLI_EXIT_USAGE;
            o.params.f_min = (float)dv;
            break;
        case OPT_FMAX:
            if (cli_parse_double(CMD, "--fmax", optarg, 0, 96000, &fmax) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_NFFT:
            if (cli_parse_long(CMD, "--n-fft", optarg, 16, 65536, &n_fft) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_WIN_MS:
            if (cli_parse_double(CMD, "--win-ms", optarg, 0.1, 1000, &win_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_WIN_LEN:
            if (cli_parse_long(CMD, "--win-length", optarg, 16, 65536, &win_len) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_HOP_MS:
            if (cli_parse_double(CMD, "--hop-ms", optarg, 0.1, 1000, &hop_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_HOP_LEN:
            if (cli_parse_long(CMD, "--hop-length", optarg, 1, 65536, &hop_len) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_SCALE:
            if (strcmp(optarg, "slaney") == 0)
                o.params.mel_scale = DSP_MEL_SLANEY;
            else if (strcmp(optarg, "htk") == 0)
                o.params.mel_scale = DSP_MEL_HTK;
            else {
                cli_usage_error(CMD, "option --mel-scale: '%s' is not a mel scale (allowed: "
                                "slaney, htk)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_FLOOR:
            if (cli_parse_double(CMD, "--log-floor", optarg, 1e-30, 1, &dv) < 0)
                return CLI_EXIT_USAGE;
            o.params.log_floor = (float)dv;
            break;
        case OPT_DENOISE:
            if (cli_parse_long(CMD, "--denoise-db", optarg, -90, 0, &lv) < 0)
                return CLI_EXIT_USAGE;
            o.params.denoise_db = (int32_t)lv;
            break;
        case OPT_PITCH: pitch = 1; break;
        case OPT_PITCH_ONLY: pitch_only = 1; break;
        case OPT_PITCH_SUPPRESSED: pitch_suppressed = 1; break;
        case ':':
            cli_usage_error(CMD, "option %s needs a value", bad_option_name(argv, optopt));
            return CLI_EXIT_USAGE;
        default:
            cli_usage_error_unknown(CMD, argv[optind - 1], optopt);
            return CLI_EXIT_USAGE;
        }
    }

    if (pitch && pitch_only) {
        cli_usage_error(CMD, "options --pitch and --pitch-only exclude each other");
        return CLI_EXIT_USAGE;
    }
    if (pitch_suppressed && !pitch && !pitch_only) {
        cli_usage_error(CMD, "option --pitch-suppressed needs --pitch or --pitch-only");
        return CLI_EXIT_USAGE;
    }
    if (pitch_suppressed && !o.params.denoise_db) {
        cli_usage_error(CMD, "option --pitch-suppressed needs --denoise-db (the suppressor it reads)");
        return CLI_EXIT_USAGE;
    }
    o.columns = pitch_only ? FEATURES_PITCH : pitch ? FEATURES_MEL | FEATURES_PITCH : FEATURES_MEL;
    if (pitch_suppressed)
        o.columns |= FEATURES_PITCH_SUPPRESSED;
    if (win_ms >= 0 && win_len >= 0) {
        cli_usage_error(CMD, "options --win-ms and --win-length exclude each other");
        return CLI_EXIT_USAGE;
    }
    if (hop_ms >= 0 && hop_len >= 0) {
        cli_usage_error(CMD, "options --hop-ms and --hop-length exclude each other");
        return CLI_EXIT_USAGE;
    }
    /* Defaults that follow the rate, so that e.g. --sample-rate 8000 alone is consistent:
     * 25 ms / 10 ms, f_max = Nyquist, FFT = max(512, next power of two >= window). At 16 kHz
     * these are exactly dsp_params_default(). */
    dsp_params *p = &o.params;
    p->sample_rate = (int32_t)rate;
    p->win_length = (int32_t)(win_len >= 0 ? win_len : lround((win_ms >= 0 ? win_ms : 25.0) * rate / 1000.0));
    p->hop_length = (int32_t)(hop_len >= 0 ? hop_len : lround((hop_ms >= 0 ? hop_ms : 10.0) * rate / 1000.0));
    if (p->win_length < 1 || p->hop_length < 1) {
        cli_usage_error(CMD, "window (%d samples) and hop (%d samples) must be at least one sample "
                        "at %ld Hz", (int)p->win_length, (int)p->hop_length, rate);
        return CLI_EXIT_USAGE;
    }
    if (n_fft >= 0) {
        p->n_fft = (int32_t)n_fft;
    } else {
        long nf = 512;
        while (nf < p->win_length)
            nf *= 2;
        p->n_fft = (int32_t)nf;
    }
    p->f_max = (float)(fmax >= 0 ? fmax : rate / 2.0);
    char perr[256];
    if (dsp_params_check(p, perr, sizeof perr) != 0) {
        option_names(perr, sizeof perr);
        cli_usage_error(CMD, "invalid feature parameters: %s", perr);
        return CLI_EXIT_USAGE;
    }

    if (!o.out) {
        cli_usage_error(CMD, "missing -o %s", o.batch ? "OUTDIR" : "OUT.npy");
        return CLI_EXIT_USAGE;
    }
    int npos = argc - optind;
    if (o.batch) {
        if (npos > 0) {
            cli_usage_error(CMD, "unexpected argument '%s' with --batch", argv[optind]);
            return CLI_EXIT_USAGE;
        }
    } else {
        if (npos != 1) {
            cli_usage_error(CMD, npos == 0 ? "missing input file" : "more than one input (use --batch)");
            return CLI_EXIT_USAGE;
        }
        if (o.root || o.skip_existing) {
            cli_usage_error(CMD, "--root and --skip-existing only apply with --batch");
            return CLI_EXIT_USAGE;
        }
        o.input = argv[optind];
    }
    cli_progress_init(&o.progress, force_progress, quiet);

    if (o.batch)
        return features_batch_run(&o);

    char err[1024];
    int err_is_out = 0;
    if (features_one(&o, o.input, o.out, o.input, err, sizeof err, &err_is_out) != 0) {
        cli_error(err_is_out ? o.out : o.input, "%s", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* Fails early, before decoding anything, when the output obviously cannot be written. */
static int check_output_path(const char *out, char *err, size_t errlen)
{
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "is a directory (give a file name ending in .npy)");
        return -1;
    }
    char *dir = cli_path_dirname(out);
    if (!dir) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "cannot write: directory %s does not exist", dir);
        rc = -1;
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "cannot write: %s is not a directory", dir);
        rc = -1;
    } else if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "cannot write into directory %s: %s", dir, strerror(errno));
        rc = -1;
    }
    free(dir);
    return rc;
}

int features_one(const features_opts *o, const char *in, const char *out, const char *label,
                 char *err, size_t errlen, int *err_is_out)
{
    *err_is_out = 0;
    audio_file *f = NULL;
    float *frames = NULL;
    size_t n = 0;
    int rc = -1;
    if (audio_file_open(in, &f, err, errlen) != 0)
        goto out;
    if (check_output_path(out, err, errlen) != 0) {
        *err_is_out = 1;
        goto out;
    }
    /* A percentage only for inputs long enough to make one wait (> 60 s of audio). */
    const audio_info *ai = audio_file_info(f);
    cli_progress *prog = NULL;
    if (o->progress.enabled && (ai->frames < 0 || ai->frames > 60LL * ai->rate))
        prog = (cli_progress *)&o->progress;
    if (features_compute(f, &o->params, o->columns, prog, label, &frames, &n, err, errlen) != 0)
        goto out;
    if (npy_write_f32(out, frames, n, (size_t)features_width(&o->params, o->columns), err,
                      errlen) != 0) {
        *err_is_out = 1;
        goto out;
    }
    rc = 0;
out:
    audio_file_close(f);
    free(frames);
    return rc;
}
