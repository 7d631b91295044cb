/* nn-bench: cost of the model runtime (benchmark, never a test). nn-bench.py runs it next to the
 * PyTorch alternative and prints both; run this alone for the C figures only.
 *
 *   nn-bench MODEL.emod [--frames F.f32] [--seconds S] [--passes N] [--dump OUT.f32] [--evict MB]
 *
 * Input: F.f32 (raw float32 [frames][nn_model_input_dim]: n_mels, + 2 pitch columns for a model
 * that reads pitch; e.g. `emotion features [--pitch]` output converted by nn-bench.py), else S
 * seconds (default 60) of synthetic voiced audio through dsp_logmel (and dsp_pitch), so the
 * features are real front-end output either way. OpenBLAS is set to one thread (what emotiond
 * does). --dump writes the features used (so the PyTorch side runs on the same numbers).
 * --evict MB writes an MB-sized buffer between hops (untimed), so each hop finds its weights and
 * state out of cache, as in the daemon, where a hop comes every 10 ms after other work; the
 * stream's CPU figure is then the sum of the hops' wall times (one thread: run it on a quiet
 * machine).
 * Prints one JSON object:
 *   hop_us_p25/median/p75/p99/max/mean   wall time of nn_speaker_add+apply and nn_stream_push per 10 ms frame (all
 *                                passes; odd and even frames differ, see BENCHMARKS.md)
 *   stream_cpu_s_per_audio_s     thread CPU time of the pushes / audio duration
 *   offline_x_realtime           audio duration / thread CPU time of nn_offline_run over windows
 *                                of the model's window (hop half a window, emotion eval's rule)
 *   offline_whole_x_realtime     the same for one nn_offline_run over all frames
 */
#include "audio_file.h"
#include "dsp.h"
#include "nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int n);

static double now_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The model's input frames (audio_frames: log-mel, and pitch for a model that reads it) of a
 * synthetic voice. */
static float *synthetic_features(const nn_model *m, double seconds, int64_t *n_frames)
{
    const dsp_params *p = nn_model_features(m);
    size_t n = (size_t)(seconds * p->sample_rate);
    float *x = malloc(sizeof(float) * n), *f = NULL;
    if (!x)
        return NULL;
    double ph = 0;
    uint32_t r = 12345;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / p->sample_rate;
        double f0 = 120 + 80 * sin(2 * M_PI * 0.3 * t) + 30 * sin(2 * M_PI * 2.1 * t);
        ph += 2 * M_PI * f0 / p->sample_rate;
        double syl = fmax(0.0, sin(2 * M_PI * 3.7 * t)); /* syllable-like bursts and pauses */
        r = r * 1664525u + 1013904223u;
        double noise = ((double)(r >> 8) / 16777216.0 - 0.5) * 0.02;
        x[i] = (float)(0.2 * syl * (sin(ph) + 0.5 * sin(2 * ph) + 0.25 * sin(3 * ph)) + noise);
    }
    unsigned flags;
    char err[256];
    if (audio_frames(x, n, p, nn_model_pitch(m, &flags) ? (int)flags : -1, &f, n_frames, err,
                     sizeof err) != 0)
        fprintf(stderr, "nn-bench: %s\n", err);
    free(x);
    return f;
}

static float *read_frames(const char *path, int M, int64_t *n_frames)
{
    FILE *fp = fopen(path, "rb");
    float *f = NULL;
    long size;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (size = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        size % (long)(sizeof(float) * (size_t)M) == 0 && (f = malloc((size_t)size)) &&
        fread(f, 1, (size_t)size, fp) == (size_t)size) {
        *n_frames = size / (long)(sizeof(float) * (size_t)M);
    } else {
        free(f);
        f = NULL;
    }
    fclose(fp);
    return f;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *frames_path = NULL, *dump_path = NULL;
    double seconds = 60;
    int passes = 3;
    long evict_mb = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames_path = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || end == argv[i])
                seconds = -1;   /* refused below */
        }
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump_path = argv[++i];
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            passes = (*end || end == argv[i] || v < 1 || v > 100) ? -1 : (int)v;
        }
        else if (!strcmp(argv[i], "--evict") && i + 1 < argc) {
            char *end;
            evict_mb = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || evict_mb < 1 || evict_mb > 4096)
                evict_mb = -1;   /* refused below */
        }
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else {
            fprintf(stderr, "usage: nn-bench MODEL.emod [--frames F.f32] [--seconds S] [--passes N] "
                            "[--dump OUT.f32] [--evict MB]\n");
            return 2;
        }
    }
    if (!model_path || !(seconds >= 1 && seconds <= 36000) || passes < 1 || passes > 100 ||
        evict_mb < 0) {
        fprintf(stderr, "usage: nn-bench MODEL.emod [--frames F.f32] [--seconds 1..36000] "
                        "[--passes 1..100] [--evict 1..4096]\n");
        return 2;
    }
    openblas_set_num_threads(1);
    char err[512];
    nn_model *m = NULL;
    if (nn_model_load_file(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "nn-bench: %s\n", err);
        return 1;
    }
    const dsp_params *p = nn_model_features(m);
    const int M = nn_model_input_dim(m), K = nn_model_n_labels(m), W = nn_model_window_frames(m);
    int64_t T = 0;
    float *feat = frames_path ? read_frames(frames_path, M, &T) : synthetic_features(m, seconds, &T);
    if (!feat || T < 2 * W) {
        fprintf(stderr, "nn-bench: %s: need at least %d frames of %d columns\n",
                frames_path ? frames_path : "synthetic audio", 2 * W, M);
        return 1;
    }
    if (dump_path) {
        FILE *fp = fopen(dump_path, "wb");
        if (!fp || fwrite(feat, sizeof(float) * (size_t)M, (size_t)T, fp) != (size_t)T || fclose(fp) != 0) {
            fprintf(stderr, "nn-bench: cannot write %s\n", dump_path);
            return 1;
        }
    }
    const double audio_s = (double)T * p->hop_length / p->sample_rate;
    nn_stream *s = NULL;
    if (nn_stream_new(m, &s, err, sizeof err) != 0) {
        fprintf(stderr, "nn-bench: %s\n", err);
        return 1;
    }
    /* A speaker-normalising model's hop also updates and applies the normaliser, as in the
     * daemon (every frame counted as speech here: the costlier case). */
    nn_speaker *sp = NULL;
    if (nn_speaker_new(m, NULL, &sp, err, sizeof err) != 0) {
        fprintf(stderr, "nn-bench: %s\n", err);
        return 1;
    }
    float probs[256], norm[1024];
    if (M > 1024) {
        fprintf(stderr, "nn-bench: %d bands, at most 1024\n", M);
        return 1;
    }
    double *hop = malloc(sizeof(double) * (size_t)T * passes);
    const size_t evict_bytes = (size_t)evict_mb << 20;
    unsigned char *evict = evict_bytes ? malloc(evict_bytes) : NULL;
    if (!hop || (evict_bytes && !evict)) {
        fprintf(stderr, "nn-bench: out of memory\n");
        return 1;
    }
    double cpu = 0, sink = 0;
    for (int pass = 0; pass < passes; pass++) {
        nn_stream_reset(s);
        nn_speaker_reset(sp);
        double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), walls = 0;
        for (int64_t t = 0; t < T; t++) {
            if (evict) {
                memset(evict, (int)(t & 0xff), evict_bytes);
                sink += evict[(size_t)t % evict_bytes];
            }
            double a = now_s(CLOCK_MONOTONIC);
            nn_speaker_add(sp, feat + (size_t)t * M);
            nn_speaker_apply(sp, feat + (size_t)t * M, norm);
            if (nn_stream_push(s, norm, probs))
                sink += probs[0];
            hop[(size_t)pass * T + t] = (now_s(CLOCK_MONOTONIC) - a) * 1e6;
            walls += hop[(size_t)pass * T + t] * 1e-6;
        }
        cpu += evict ? walls : now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    free(evict);
    size_t nh = (size_t)T * passes;
    double mean = 0;
    for (size_t i = 0; i < nh; i++)
        mean += hop[i];
    mean /= (double)nh;
    qsort(hop, nh, sizeof *hop, cmp_double);

    /* offline: emotion eval's windows, and one run over everything */
    double off_cpu = 1e30, whole_cpu = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        double c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
        for (int64_t start = 0;; start += W / 2) {
            if (start + W > T)
                start = T - W;
            nn_offline_run(m, feat + (size_t)start * M, W, probs, err, sizeof err);
            sink += probs[0];
            if (start + W >= T)
                break;
        }
        double c1 = now_s(CLOCK_THREAD_CPUTIME_ID);
        nn_offline_run(m, feat, (int)T, probs, err, sizeof err);
        double c2 = now_s(CLOCK_THREAD_CPUTIME_ID);
        sink += probs[0];
        off_cpu = fmin(off_cpu, c1 - c0);
        whole_cpu = fmin(whole_cpu, c2 - c1);
    }
    printf("{\"model\":\"%s\",\"labels\":%d,\"window\":%d,\"input\":\"%s\",\"frames\":%lld,"
           "\"audio_s\":%.2f,\"passes\":%d,\"hop_us_p25\":%.2f,\"hop_us_median\":%.2f,"
           "\"hop_us_p75\":%.2f,\"hop_us_p99\":%.2f,"
           "\"hop_us_max\":%.2f,\"hop_us_mean\":%.2f,\"stream_cpu_s_per_audio_s\":%.6g,"
           "\"offline_x_realtime\":%.1f,\"offline_whole_x_realtime\":%.1f,\"checksum\":%.3g}\n",
           nn_model_id(m), K, W, frames_path ? frames_path : "synthetic", (long long)T, audio_s,
           passes, hop[nh / 4], hop[nh / 2], hop[(size_t)(nh * 0.75)], hop[(size_t)(nh * 0.99)], hop[nh - 1], mean, cpu / passes / audio_s,
           audio_s / off_cpu, audio_s / whole_cpu, sink);
    free(hop);
    free(feat);
    nn_stream_free(s);
    nn_speaker_free(sp);
    nn_model_free(m);
    return 0;
}
