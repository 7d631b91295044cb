/* Test helper: log-mel frames of a raw float32 signal, for the numpy reference test.
 *   dsp-dump IN.f32 OUT.f32 [key=value ...]
 * keys: rate win hop nfft mels fmin fmax floor scale(slaney|htk) chunk (push size; 0 = batch).
 * Writes frames x n_mels float32, row-major. Exit 0 on success, 1 with a message otherwise. */
#include "dsp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    FILE *out;
    int n_mels;
    int failed;
} sink;

static void on_frame(void *user, const float *frame, int64_t index)
{
    (void)index;
    sink *s = user;
    if (fwrite(frame, sizeof(float), (size_t)s->n_mels, s->out) != (size_t)s->n_mels)
        s->failed = 1;
}

static int num(const char *arg, const char *key, double *v)
{
    size_t k = strlen(key);
    if (strncmp(arg, key, k) || arg[k] != '=')
        return 0;
    char *end;
    errno = 0;
    *v = strtod(arg + k + 1, &end);
    if (errno || *end || end == arg + k + 1) {
        fprintf(stderr, "dsp-dump: bad number in '%s'\n", arg);
        exit(1);
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: dsp-dump IN.f32 OUT.f32 [key=value ...]\n");
        return 1;
    }
    dsp_params p;
    dsp_params_default(&p);
    double v, chunk = 0;
    for (int i = 3; i < argc; i++) {
        if (num(argv[i], "rate", &v)) p.sample_rate = (int32_t)v;
        else if (num(argv[i], "win", &v)) p.win_length = (int32_t)v;
        else if (num(argv[i], "hop", &v)) p.hop_length = (int32_t)v;
        else if (num(argv[i], "nfft", &v)) p.n_fft = (int32_t)v;
        else if (num(argv[i], "mels", &v)) p.n_mels = (int32_t)v;
        else if (num(argv[i], "fmin", &v)) p.f_min = (float)v;
        else if (num(argv[i], "fmax", &v)) p.f_max = (float)v;
        else if (num(argv[i], "floor", &v)) p.log_floor = (float)v;
        else if (num(argv[i], "chunk", &v)) chunk = v;
        else if (!strcmp(argv[i], "scale=htk")) p.mel_scale = DSP_MEL_HTK;
        else if (!strcmp(argv[i], "scale=slaney")) p.mel_scale = DSP_MEL_SLANEY;
        else {
            fprintf(stderr, "dsp-dump: unknown argument '%s'\n", argv[i]);
            return 1;
        }
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "dsp-dump: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long bytes = ftell(in);
    fseek(in, 0, SEEK_SET);
    size_t n = bytes > 0 ? (size_t)bytes / sizeof(float) : 0;
    float *x = malloc(sizeof(float) * (n ? n : 1));
    if (!x || fread(x, sizeof(float), n, in) != n) {
        fprintf(stderr, "dsp-dump: %s: short read\n", argv[1]);
        return 1;
    }
    fclose(in);
    char err[256];
    if (dsp_params_check(&p, err, sizeof err)) {
        fprintf(stderr, "dsp-dump: %s\n", err);
        return 1;
    }
    sink s = {fopen(argv[2], "wb"), p.n_mels, 0};
    if (!s.out) {
        fprintf(stderr, "dsp-dump: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (chunk <= 0) {
        int64_t frames = dsp_logmel_batch(&p, x, n, NULL, 0);
        float *out = malloc(sizeof(float) * (size_t)(frames > 0 ? frames : 1) * (size_t)p.n_mels);
        int64_t got = out ? dsp_logmel_batch(&p, x, n, out, (size_t)frames) : DSP_ENOMEM;
        if (got < 0) {
            fprintf(stderr, "dsp-dump: %s\n", dsp_strerror((int)got));
            return 1;
        }
        for (int64_t i = 0; i < got; i++)
            on_frame(&s, out + i * p.n_mels, i);
        free(out);
    } else {
        dsp_logmel *lm;
        if (dsp_logmel_new(&p, &lm, err, sizeof err)) {
            fprintf(stderr, "dsp-dump: %s\n", err);
            return 1;
        }
        for (size_t pos = 0; pos < n; pos += (size_t)chunk) {
            size_t k = n - pos < (size_t)chunk ? n - pos : (size_t)chunk;
            int rc = dsp_logmel_push(lm, x + pos, k, on_frame, &s);
            if (rc) {
                fprintf(stderr, "dsp-dump: %s\n", dsp_strerror(rc));
                return 1;
            }
        }
        dsp_logmel_free(lm);
    }
    if (fclose(s.out) || s.failed) {
        fprintf(stderr, "dsp-dump: %s: write failed\n", argv[2]);
        return 1;
    }
    free(x);
    return 0;
}
