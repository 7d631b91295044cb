/* dsp_pitch: F0 of tones and harmonic series (no octave error), periodicity of noise and
 * silence, the held value through silence, frame counts and ends shared with the log-mel, stream
 * equal to batch bit for bit under random chunking, NaN refused, reset; the same for the tracker on
 * the noise suppressor's output, which keeps a tone in white noise voiced where the raw one does not. */
#include "dsp.h"
#include "dsp_test.h"

#include <string.h>

#define RATE 16000

typedef struct {
    float *f;
    int64_t n, cap;
} collect;

static void collect_cb(void *user, const float *frame, int64_t index)
{
    collect *c = user;
    if (index == c->n && c->n < c->cap)
        memcpy(c->f + DSP_PITCH_DIM * c->n++, frame, sizeof(float) * DSP_PITCH_DIM);
}

/* Harmonics 1..n_harm of f0 with 1/h amplitudes (n_harm 1: a sine). */
static void harmonic(float *x, size_t n, double f0, int n_harm, double amp)
{
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (int h = 1; h <= n_harm && h * f0 < RATE / 2; h++)
            v += sin(2 * M_PI * h * f0 * (double)i / RATE) / h;
        x[i] = (float)(amp * v);
    }
}

static float *batch_flags(const dsp_params *p, unsigned flags, const float *x, size_t n,
                          int64_t *frames)
{
    *frames = dsp_pitch_batch(p, flags, x, n, NULL, 0);
    float *out = malloc(sizeof(float) * DSP_PITCH_DIM * (size_t)(*frames + 1));
    int64_t got = dsp_pitch_batch(p, flags, x, n, out, (size_t)*frames);
    CHECK(got == *frames, "batch returned %lld, count %lld", (long long)got, (long long)*frames);
    return out;
}

static float *batch(const dsp_params *p, const float *x, size_t n, int64_t *frames)
{
    return batch_flags(p, 0, x, n, frames);
}

/* Median F0 (Hz) and minimum periodicity over frames [from, to). */
static void summary(const float *f, int64_t from, int64_t to, double *f0, double *per_min)
{
    int64_t n = to - from;
    double *v = malloc(sizeof(double) * (size_t)n);
    *per_min = 1;
    for (int64_t i = 0; i < n; i++) {
        v[i] = exp(f[DSP_PITCH_DIM * (from + i)]);
        if (f[DSP_PITCH_DIM * (from + i) + 1] < *per_min)
            *per_min = f[DSP_PITCH_DIM * (from + i) + 1];
    }
    for (int64_t i = 1; i < n; i++) /* insertion sort: a few hundred values */
        for (int64_t j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *f0 = v[n / 2];
    free(v);
}

static void test_tones(void)
{
    dsp_params p;
    dsp_params_default(&p);
    const size_t n = RATE; /* 1 s */
    float *x = malloc(sizeof(float) * n);
    const double f0s[] = {70, 110, 196.5, 310, 480};
    for (int k = 0; k < 5; k++)
        for (int harm = 1; harm <= 20; harm += 19) {
            harmonic(x, n, f0s[k], harm, 0.3);
            int64_t frames;
            float *f = batch(&p, x, n, &frames);
            double f0, per;
            summary(f, 5, frames, &f0, &per); /* from the first frame whose span is all signal */
            CHECK(fabs(f0 / f0s[k] - 1) < 0.01, "%.1f Hz with %d harmonics read as %.2f Hz",
                  f0s[k], harm, f0);
            CHECK(per > 0.9, "%.1f Hz x %d: periodicity down to %.3f", f0s[k], harm, per);
            free(f);
        }
    free(x);
}

static void test_noise_and_silence(void)
{
    dsp_params p;
    dsp_params_default(&p);
    const size_t n = RATE;
    float *x = malloc(sizeof(float) * n);
    t_signal(0, x, n, RATE, 11);
    int64_t frames;
    float *f = batch(&p, x, n, &frames);
    int periodic = 0;
    for (int64_t i = 0; i < frames; i++)
        periodic += f[DSP_PITCH_DIM * i + 1] > 0.65f;
    CHECK(periodic <= frames / 20, "white noise: %d of %lld frames voiced", periodic, (long long)frames);
    free(f);

    memset(x, 0, sizeof(float) * n);
    f = batch(&p, x, n, &frames);
    for (int64_t i = 0; i < frames; i++) {
        CHECK(f[DSP_PITCH_DIM * i + 1] == 0.0f, "silence frame %lld: periodicity %g", (long long)i,
              f[DSP_PITCH_DIM * i + 1]);
        CHECK(f[DSP_PITCH_DIM * i] == (float)log(DSP_PITCH_F0_START), "silence frame %lld: ln F0 %g",
              (long long)i, f[DSP_PITCH_DIM * i]);
    }
    free(f);

    /* 0.5 s at 220 Hz, then 0.5 s of silence: ln 220 is held with periodicity 0. */
    harmonic(x, n / 2, 220, 10, 0.3);
    f = batch(&p, x, n, &frames);
    int64_t last = frames - 1;
    CHECK(f[DSP_PITCH_DIM * last + 1] == 0.0f, "periodicity %g in the silence", f[DSP_PITCH_DIM * last + 1]);
    CHECK(fabs(exp(f[DSP_PITCH_DIM * last]) - 220) < 2, "held F0 %.2f, not 220", exp(f[DSP_PITCH_DIM * last]));
    free(f);
    free(x);
}

static void stream_vs_batch(const dsp_params *p, unsigned flags, uint64_t seed)
{
    const size_t n = 2 * RATE + 123;
    float *x = malloc(sizeof(float) * n);
    t_signal(2, x, n, RATE, seed);
    int64_t frames;
    float *ref = batch_flags(p, flags, x, n, &frames);
    CHECK(frames == dsp_logmel_frame_count(p, n), "pitch %lld frames, log-mel %lld",
          (long long)frames, (long long)dsp_logmel_frame_count(p, n));
    dsp_pitch *s;
    char err[200];
    CHECK(dsp_pitch_new(p, flags, &s, err, sizeof err) == 0, "new: %s", err);
    for (int round = 0; round < 2; round++) { /* the second after a reset: same frames */
        collect c = {malloc(sizeof(float) * DSP_PITCH_DIM * (size_t)(frames + 4)), 0, frames + 4};
        t_seed(seed + 7 + (uint64_t)round);
        for (size_t at = 0; at < n;) {
            size_t k = 1 + (size_t)(t_uniform() * (t_uniform() < 0.5 ? 7 : 900));
            if (k > n - at)
                k = n - at;
            CHECK(dsp_pitch_push(s, x + at, k, collect_cb, &c) == 0, "push");
            at += k;
        }
        /* Streaming yields every frame whose end has been pushed: with denoise_db on the raw
         * samples that can be more than the log-mel count (ends a hop earlier, no rounding to
         * whole hops); on the suppressor's output it is the log-mel count. */
        int64_t ends = flags ? frames : 1 + ((int64_t)n - dsp_logmel_frame_end(p, 0)) / p->hop_length;
        CHECK(c.n == ends && c.n >= frames, "stream gave %lld frames, %lld ends pushed, batch %lld",
              (long long)c.n, (long long)ends, (long long)frames);
        CHECK(memcmp(c.f, ref, sizeof(float) * DSP_PITCH_DIM * (size_t)frames) == 0,
              "round %d: stream differs from batch (denoise_db %d, flags %u)", round, p->denoise_db,
              flags);
        free(c.f);
        dsp_pitch_reset(s);
    }
    dsp_pitch_free(s);
    free(ref);
    free(x);
}

static void test_stream_equals_batch(void)
{
    dsp_params p;
    dsp_params_default(&p);
    stream_vs_batch(&p, 0, 3);
    p.denoise_db = -15;
    stream_vs_batch(&p, 0, 4);
    stream_vs_batch(&p, DSP_PITCH_SUPPRESSED, 5);
}

/* A 150 Hz voice-like tone in white noise at 0 dB SNR, after 1 s of the noise alone: the
 * suppressor's output keeps it voiced at its F0 in more frames than the raw samples do, and the
 * noise alone stays unvoiced either way. */
static void test_suppressed_in_noise(void)
{
    dsp_params p;
    dsp_params_default(&p);
    p.denoise_db = -15;
    const size_t n = 3 * RATE;
    float *x = malloc(sizeof(float) * n), *tone = malloc(sizeof(float) * n);
    t_signal(0, x, n, RATE, 21); /* white noise, rms 0.5 / sqrt(3) */
    harmonic(tone, n, 150, 19, 1.0);
    double et = 0, en = 0;
    for (size_t i = RATE; i < n; i++) {
        et += (double)tone[i] * tone[i];
        en += (double)x[i] * x[i];
    }
    const double g = sqrt(en / et); /* 0 dB */
    for (size_t i = RATE; i < n; i++)
        x[i] += (float)(g * tone[i]);
    int voiced[2] = {0, 0}, noise_voiced[2] = {0, 0};
    int64_t frames = 0;
    for (int sup = 0; sup < 2; sup++) {
        float *f = batch_flags(&p, sup ? DSP_PITCH_SUPPRESSED : 0, x, n, &frames);
        for (int64_t i = 0; i < frames; i++) {
            int v = f[DSP_PITCH_DIM * i + 1] > 0.65f;
            if (dsp_logmel_frame_end(&p, i) <= RATE)
                noise_voiced[sup] += v;
            else if (dsp_logmel_frame_end(&p, i) > RATE + 2 * RATE / 60)
                voiced[sup] += v && fabs(exp(f[DSP_PITCH_DIM * i]) / 150 - 1) < 0.05;
        }
        free(f);
    }
    fprintf(stderr, "tone at 0 dB in white noise: voiced at its F0 in %d (raw) / %d (suppressed) "
            "frames of about %lld; the noise alone voiced in %d / %d\n", voiced[0], voiced[1],
            (long long)(frames - 100), noise_voiced[0], noise_voiced[1]);
    CHECK(voiced[1] > voiced[0] + frames / 10, "suppressed %d voiced frames, raw %d", voiced[1],
          voiced[0]);
    CHECK(noise_voiced[0] <= 5 && noise_voiced[1] <= 5, "noise alone voiced in %d / %d frames",
          noise_voiced[0], noise_voiced[1]);
    free(tone);
    free(x);
}

/* A tone that starts at sample 8000: the first voiced frame is the first whose window (ending at
 * dsp_logmel_frame_end) holds enough of it, so the estimate is aligned with the log-mel frames;
 * the same on the suppressor's output, whose one-block lag the frame ends allow for. */
static int64_t alignment(int denoise_db, unsigned flags)
{
    dsp_params p;
    dsp_params_default(&p);
    p.denoise_db = denoise_db;
    const size_t n = RATE;
    float *x = calloc(n, sizeof(float));
    harmonic(x + 8000, n - 8000, 150, 10, 0.3);
    int64_t frames;
    float *f = batch_flags(&p, flags, x, n, &frames);
    int64_t first = -1;
    for (int64_t i = 0; i < frames && first < 0; i++)
        if (f[DSP_PITCH_DIM * i + 1] > 0.65f)
            first = i;
    int64_t end = first >= 0 ? dsp_logmel_frame_end(&p, first) : -1;
    /* voiced once the window holds at least ~2 periods of the tone, and not before its onset */
    fprintf(stderr, "tone from sample 8000 (denoise_db %d, flags %u): first voiced frame ends at "
            "%lld\n", denoise_db, flags, (long long)end);
    CHECK(end > 8000 && end <= 8000 + 2 * RATE / 60, "first voiced frame %lld ends at sample %lld "
          "(denoise_db %d, flags %u)", (long long)first, (long long)end, denoise_db, flags);
    free(f);
    free(x);
    return end;
}

static void test_alignment(void)
{
    alignment(0, 0);
    int64_t raw = alignment(-15, 0), sup = alignment(-15, DSP_PITCH_SUPPRESSED);
    /* a hop off in the suppressed form's frame ends would move its onset by 160 samples */
    CHECK(sup == raw, "tone onset: suppressed form's first voiced frame ends at %lld, raw form's "
          "at %lld", (long long)sup, (long long)raw);
}

static void test_errors(void)
{
    dsp_params p;
    dsp_params_default(&p);
    dsp_pitch *s;
    char err[200];
    CHECK(dsp_pitch_new(&p, 0, &s, err, sizeof err) == 0, "new: %s", err);
    float x[1000];
    harmonic(x, 1000, 200, 3, 0.3);
    collect c = {malloc(sizeof(float) * DSP_PITCH_DIM * 10), 0, 10};
    x[500] = NAN;
    CHECK(dsp_pitch_push(s, x, 1000, collect_cb, &c) == DSP_ENONFINITE, "NaN accepted");
    CHECK(c.n == 0, "frames from a refused push");
    x[500] = 0;
    CHECK(dsp_pitch_push(s, x, 1000, collect_cb, &c) == 0 && c.n == 4, "%lld frames after the "
          "refusal, 4 expected", (long long)c.n);
    dsp_pitch_free(s);
    free(c.f);
    float out[4];
    CHECK(dsp_pitch_batch(&p, 0, x, 1000, out, 1) == DSP_EINVAL, "batch into a too-small buffer");
    CHECK(dsp_pitch_new(&p, DSP_PITCH_SUPPRESSED, &s, err, sizeof err) == DSP_EINVAL &&
          strstr(err, "denoise_db"), "suppressed without a suppressor: %s", err);
    CHECK(dsp_pitch_batch(&p, DSP_PITCH_SUPPRESSED, x, 1000, out, 4) == DSP_EINVAL,
          "batch: suppressed without a suppressor");
    CHECK(dsp_pitch_new(&p, 8, &s, err, sizeof err) == DSP_EINVAL && strstr(err, "flags"),
          "unknown flags: %s", err);
    p.hop_length = 0;
    CHECK(dsp_pitch_new(&p, 0, &s, err, sizeof err) == DSP_EINVAL && strstr(err, "hop_length"),
          "bad params: %s", err);
}

int main(void)
{
    RUN(test_tones);
    RUN(test_noise_and_silence);
    RUN(test_stream_equals_batch);
    RUN(test_suppressed_in_noise);
    RUN(test_alignment);
    RUN(test_errors);
    return t_summary();
}
