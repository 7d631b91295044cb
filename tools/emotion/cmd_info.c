/* `emotion info`: what an audio file holds and how many feature frames it gives. The whole file
 * is decoded, so what `info` accepts is exactly what `features` accepts (truncation and NaN
 * samples are only visible by reading). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_file.h"
#include "cli_util.h"
#include "dsp.h"
#include "feature_file.h"

static const char *const CMD = "info";

static void usage(FILE *out)
{
    fprintf(out,
"usage: emotion info [--json] IN...\n"
"\n"
"Prints, for each audio file: format (e.g. \"FLAC PCM_16\"), sample rate, channels, frames\n"
"(samples per channel), duration, and the number of feature frames `emotion features` makes at\n"
"the default parameters (16 kHz, 25 ms window, 10 ms hop, 128 mels). The file is decoded\n"
"completely, so truncated files and NaN/Inf samples are reported as errors.\n"
"\n"
"  --json       one JSON object per file and line: {\"file\", \"format\", \"sample_rate\",\n"
"               \"channels\", \"frames\", \"duration_s\", \"feature_frames\", \"features\": {...}}\n"
"  -h, --help   this text\n"
"\n"
"Exit status: 0 success, 1 a file could not be read (the others are still printed),\n"
"2 usage error.\n");
}

static int info_one(const char *path, int json, int first)
{
    char err[1024];
    audio_file *f = NULL;
    float *buf = NULL;
    int rc = -1;
    if (audio_file_open(path, &f, err, sizeof err) != 0)
        goto out;
    const audio_info *ai = audio_file_info(f);
    /* Read everything: validates the file and counts frames when the header does not say. */
    enum { BLOCK = 8192 };
    buf = malloc(sizeof(float) * BLOCK * (size_t)ai->channels);
    if (!buf) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    int64_t n;
    while ((n = audio_file_read(f, buf, BLOCK, err, sizeof err)) > 0) {
    }
    if (n < 0)
        goto out;
    int64_t frames = audio_file_frames_read(f);
    dsp_params p;
    dsp_params_default(&p);
    size_t feat = features_frame_count(&p, frames, ai->rate);
    double dur = (double)frames / ai->rate;
    if (json) {
        char pj[512];
        features_params_json(&p, pj, sizeof pj);
        printf("{\"file\": ");
        cli_json_string(stdout, path);
        printf(", \"format\": ");
        cli_json_string(stdout, ai->format);
        printf(", \"sample_rate\": %d, \"channels\": %d, \"frames\": %lld, \"duration_s\": %.6f, "
               "\"feature_frames\": %zu, \"features\": %s}\n",
               ai->rate, ai->channels, (long long)frames, dur, feat, pj);
    } else {
        if (!first)
            printf("\n");
        printf("file:           %s\n", path);
        printf("format:         %s\n", ai->format);
        printf("sample rate:    %d Hz\n", ai->rate);
        printf("channels:       %d\n", ai->channels);
        printf("frames:         %lld\n", (long long)frames);
        printf("duration:       %.3f s\n", dur);
        printf("feature frames: %zu (%d Hz, window %d, hop %d, %d mels)\n", feat,
               (int)p.sample_rate, (int)p.win_length, (int)p.hop_length, (int)p.n_mels);
    }
    fflush(stdout);
    rc = 0;
out:
    if (rc != 0)
        cli_error(path, "%s", err);
    free(buf);
    audio_file_close(f);
    return rc;
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
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
    int failed = 0;
    for (int i = optind; i < argc; i++)
        if (info_one(argv[i], json, i == optind) != 0)
            failed++;
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
