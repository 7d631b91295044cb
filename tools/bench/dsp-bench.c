/* dsp-bench: cost of the log-mel front end (not a test; prints figures).
 *
 *   dsp-bench [--seconds S] [--passes N] [--denoise-db N] [--json] [--dump-audio OUT.f32]
 *
 * Audio: 16 kHz speech concatenated from $EMOTIOND_DATA (default /work/shared/data, emodb/ then
 * ravdess/, sorted) up to S seconds (default 60); without corpora, a synthetic voiced signal.
 * Figures, single thread:
 *   - per hop: dsp_logmel_push of 160 samples, timed with CLOCK_MONOTONIC around each push
 *     (median, p99, over all hops of N passes);
 *   - per hop with the resampler: the same audio at 48 kHz stereo, 480 frames through
 *     dsp_resampler_process then dsp_logmel_push;
 *   - offline: dsp_logmel_batch over the whole audio (median of N runs) as multiples of real time;
 *   - per hop: dsp_pitch_push of 160 samples (the pitch tracker, not on the daemon's path yet).
 * --denoise-db N (-90..-1) measures the front end with its noise suppressor (dsp_params.denoise_db),
 * and also the pitch tracker reading the suppressor's own output (DSP_PITCH_SUPPRESSED).
 * --dump-audio writes the exact samples used (float32), so tools/bench/dsp-bench.py can run its
 * numpy reference on the same audio. */
#include "dsp.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE 16000

typedef struct {
    float *x;
    size_t n, cap;
    int files;
} audio;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int append(audio *a, const float *x, size_t n)
{
    if (a->n + n > a->cap) {
        size_t cap = (a->n + n) * 2;
        float *p = realloc(a->x, cap * sizeof(float));
        if (!p)
            return -1;
        a->x = p;
        a->cap = cap;
    }
    memcpy(a->x + a->n, x, n * sizeof(float));
    a->n += n;
    return 0;
}

/* Appends one 16 kHz file (mono or downmixed); other rates are skipped (the corpora are 16 kHz). */
static void add_file(audio *a, const char *path)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return;
    if (info.samplerate == RATE && info.channels >= 1 && info.frames > 0) {
        size_t frames = (size_t)info.frames, ch = (size_t)info.channels;
        float *buf = malloc(frames * ch * sizeof(float));
        if (buf) {
            sf_count_t got = sf_readf_float(f, buf, info.frames);
            for (sf_count_t i = 0; i < got; i++) {
                float acc = 0;
                for (size_t c = 0; c < ch; c++)
                    acc += buf[(size_t)i * ch + c];
                buf[i] = acc / (float)ch;
            }
            if (got > 0 && append(a, buf, (size_t)got) == 0)
                a->files++;
            free(buf);
        }
    }
    sf_close(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted walk of dir (one level of subdirectories, for ravdess/Actor_NN). */
static void add_dir(audio *a, const char *dir, size_t want, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **p = realloc(names, cap * sizeof *p);
            if (!p)
                break;
            names = p;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            free(names[i]);
            continue;
        }
        size_t len = strlen(names[i]);
        if (a->n < want && len > 5 && (!strcmp(names[i] + len - 5, ".flac") ||
                                       !strcmp(names[i] + len - 4, ".wav")))
            add_file(a, path);
        else if (a->n < want && depth > 0)
            add_dir(a, path, want, depth - 1);
        free(names[i]);
    }
    free(names);
}

/* Fallback: voiced-speech-like harmonics with syllabic envelope and a little noise. */
static void synth(audio *a, size_t want)
{
    float *x = malloc(want * sizeof(float));
    double phase = 0;
    uint32_t seed = 1;
    for (size_t i = 0; i < want; i++) {
        double t = (double)i / RATE, f0 = 120 + 40 * sin(2 * M_PI * 0.7 * t), v = 0;
        phase += 2 * M_PI * f0 / RATE;
        for (int h = 1; h * f0 < 7800; h++) {
            double fh = h * f0;
            v += (exp(-pow((fh - 700) / 300, 2)) + 0.5 * exp(-pow((fh - 1800) / 400, 2)) + 0.02) *
                 sin(h * phase) / h;
        }
        double am = sin(2 * M_PI * 3.1 * t);
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(v * (am > -0.3 ? 0.3 * (am + 0.3) : 0) + 1e-3 * ((seed >> 8) / 16777216.0 - 0.5));
    }
    append(a, x, want);
    free(x);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(q * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static void ignore_frame(void *user, const float *frame, int64_t index)
{
    (void)index;
    *(float *)user += frame[0];
}

/* One 160-sample push of the object under test (the log-mel or the pitch tracker) and its reset. */
typedef struct {
    int (*push)(void *obj, const float *x, size_t n, float *sink);
    void (*reset)(void *obj);
    void *obj;
} hop_target;

static int push_logmel(void *obj, const float *x, size_t n, float *sink)
{
    return dsp_logmel_push(obj, x, n, ignore_frame, sink);
}
static void reset_logmel(void *obj) { dsp_logmel_reset(obj); }
static int push_pitch(void *obj, const float *x, size_t n, float *sink)
{
    return dsp_pitch_push(obj, x, n, ignore_frame, sink);
}
static void reset_pitch(void *obj) { dsp_pitch_reset(obj); }

/* Times every 160-sample push of `passes` passes over the audio into t (ns); returns the count. */
static size_t time_hops(const hop_target *h, const audio *a, int passes, double *t, float *sink)
{
    size_t k = 0, hops = a->n / 160;
    for (int pass = 0; pass < passes; pass++) {
        h->reset(h->obj);
        for (size_t i = 0; i < hops; i++) {
            double t0 = now_ns();
            h->push(h->obj, a->x + i * 160, 160, sink);
            t[k++] = now_ns() - t0;
        }
    }
    return k;
}

int main(int argc, char **argv)
{
    double seconds = 60;
    int passes = 3, json = 0, denoise_db = 0;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
            passes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--denoise-db") && i + 1 < argc)
            denoise_db = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--dump-audio") && i + 1 < argc)
            dump = argv[++i];
        else {
            fprintf(stderr, "usage: dsp-bench [--seconds S] [--passes N] [--denoise-db N] "
                            "[--json] [--dump-audio OUT.f32]\n");
            return 2;
        }
    }
    if (!(seconds >= 1 && seconds <= 3600) || passes < 1 || passes > 100 || denoise_db < -90 ||
        denoise_db > 0) {
        fprintf(stderr, "dsp-bench: --seconds 1..3600, --passes 1..100, --denoise-db -90..0\n");
        return 2;
    }
    size_t want = (size_t)(seconds * RATE);
    audio a = {0};
    const char *data = getenv("EMOTIOND_DATA");
    char dir[4096];
    for (int k = 0; k < 2 && a.n < want; k++) {
        snprintf(dir, sizeof dir, "%s/%s", data && *data ? data : "/work/shared/data",
                 k ? "ravdess" : "emodb");
        add_dir(&a, dir, want, 1);
    }
    const char *source = a.files ? "corpus speech" : "synthetic voiced signal";
    if (a.n < want) {
        if (a.files == 0)
            synth(&a, want);
        else
            want = a.n;
    }
    a.n = want;
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(a.x, sizeof(float), a.n, f) != a.n || fclose(f)) {
            fprintf(stderr, "dsp-bench: %s: %s\n", dump, strerror(errno));
            return 1;
        }
    }

    dsp_params p;
    dsp_params_default(&p);
    p.denoise_db = denoise_db;
    char err[256];
    dsp_logmel *s;
    if (dsp_logmel_new(&p, &s, err, sizeof err)) {
        fprintf(stderr, "dsp-bench: %s\n", err);
        return 1;
    }
    size_t hops = a.n / 160;
    double *t = malloc(sizeof(double) * hops * (size_t)passes);
    float sink = 0;
    hop_target lm = {push_logmel, reset_logmel, s};
    size_t k = time_hops(&lm, &a, passes, t, &sink);
    double hop_med = pct(t, k, 0.5) / 1e3, hop_p99 = pct(t, k, 0.99) / 1e3;

    /* The tracker on the raw samples, then (with the suppressor) on the suppressor's output. */
    double pitch_med[2] = {0, 0}, pitch_p99[2] = {0, 0};
    for (int sup = 0; sup < (denoise_db ? 2 : 1); sup++) {
        dsp_pitch *pt;
        if (dsp_pitch_new(&p, sup ? DSP_PITCH_SUPPRESSED : 0, &pt, err, sizeof err)) {
            fprintf(stderr, "dsp-bench: %s\n", err);
            return 1;
        }
        hop_target pitch = {push_pitch, reset_pitch, pt};
        k = time_hops(&pitch, &a, passes, t, &sink);
        pitch_med[sup] = pct(t, k, 0.5) / 1e3;
        pitch_p99[sup] = pct(t, k, 0.99) / 1e3;
        dsp_pitch_free(pt);
    }

    /* 48 kHz stereo through the resampler: upsample the audio once (not timed) */
    dsp_resampler *up, *down;
    double rs_med = 0, rs_p99 = 0;
    if (dsp_resampler_new(RATE, 1, 48000, &up, err, sizeof err) ||
        dsp_resampler_new(48000, 2, RATE, &down, err, sizeof err)) {
        fprintf(stderr, "dsp-bench: %s\n", err);
        return 1;
    }
    size_t n48 = dsp_resampler_max_out(up, a.n), got = 0, got2 = 0;
    float *x48 = malloc(sizeof(float) * (n48 + 4096)), *st = malloc(sizeof(float) * 2 * (n48 + 4096));
    dsp_resampler_process(up, a.x, a.n, x48, n48 + 4096, &got);
    dsp_resampler_flush(up, x48 + got, n48 + 4096 - got, &got2);
    got += got2;
    for (size_t i = 0; i < got; i++)
        st[2 * i] = st[2 * i + 1] = x48[i];
    size_t hops48 = got / 480;
    float mono[2048];
    k = 0;
    dsp_logmel_reset(s);
    for (size_t h = 0; h < hops48 && k < hops * (size_t)passes; h++) {
        size_t n = 0;
        double t0 = now_ns();
        dsp_resampler_process(down, st + h * 960, 480, mono, 2048, &n);
        dsp_logmel_push(s, mono, n, ignore_frame, &sink);
        t[k++] = now_ns() - t0;
    }
    rs_med = pct(t, k, 0.5) / 1e3;
    rs_p99 = pct(t, k, 0.99) / 1e3;

    int64_t frames = dsp_logmel_frame_count(&p, a.n);
    float *out = malloc(sizeof(float) * (size_t)frames * (size_t)p.n_mels);
    /* Whole-signal runs are long enough to be preempted on a shared machine: report the median
     * and the best of several. */
    size_t runs = (size_t)passes * 3;
    double *bt = malloc(sizeof(double) * runs);
    for (size_t r = 0; r < runs; r++) {
        double t0 = now_ns();
        dsp_logmel_batch(&p, a.x, a.n, out, (size_t)frames);
        bt[r] = now_ns() - t0;
    }
    double batch_s = pct(bt, runs, 0.5) / 1e9;
    double batch_best_s = bt[0] / 1e9; /* pct() sorted bt */
    double audio_s = (double)a.n / RATE;

    if (json)
        printf("{\"source\":\"%s\",\"denoise_db\":%d,\"files\":%d,\"audio_s\":%.3f,\"hops\":%zu,\"passes\":%d,"
               "\"hop_median_us\":%.3f,\"hop_p99_us\":%.3f,\"hop48_median_us\":%.3f,"
               "\"hop48_p99_us\":%.3f,\"batch_s\":%.6f,\"batch_xrt\":%.1f,"
               "\"batch_best_xrt\":%.1f,\"batch_us_per_frame\":%.3f,\"pitch_hop_median_us\":%.3f,"
               "\"pitch_hop_p99_us\":%.3f,\"pitch_suppressed_hop_median_us\":%.3f,"
               "\"pitch_suppressed_hop_p99_us\":%.3f}\n",
               source, denoise_db, a.files, audio_s, hops, passes, hop_med, hop_p99, rs_med, rs_p99, batch_s,
               audio_s / batch_s, audio_s / batch_best_s, batch_s / (double)frames * 1e6, pitch_med[0],
               pitch_p99[0], pitch_med[1], pitch_p99[1]);
    else
        printf("audio: %.1f s of %s (%d files), %zu hops x %d passes, denoise_db %d\n"
               "log-mel per hop (push 160):          median %.2f us, p99 %.2f us\n"
               "48 kHz stereo resample + log-mel:    median %.2f us, p99 %.2f us\n"
               "log-mel offline (batch):             %.0f x real time median (%.2f us per frame), "
               "best %.0f x\n"
               "pitch per hop (push 160):            median %.2f us, p99 %.2f us\n",
               audio_s, source, a.files, hops, passes, denoise_db, hop_med, hop_p99, rs_med, rs_p99,
               audio_s / batch_s, batch_s / (double)frames * 1e6, audio_s / batch_best_s,
               pitch_med[0], pitch_p99[0]);
    if (!json && denoise_db)
        printf("pitch on the suppressor's output:    median %.2f us, p99 %.2f us\n", pitch_med[1],
               pitch_p99[1]);
    if (sink == 12345.678f) /* keep the callbacks' work observable */
        puts("");
    dsp_logmel_free(s);
    dsp_resampler_free(up);
    dsp_resampler_free(down);
    free(out), free(bt), free(t), free(x48), free(st), free(a.x);
    return 0;
}
