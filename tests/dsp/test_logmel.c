/* dsp_logmel: streaming == batch bit for bit, tones, silence, refusal of NaN/Inf, parameters,
 * the optional noise suppressor. */
#include "dsp.h"
#include "dsp_test.h"

#include <string.h>

typedef struct {
    float *frames;     /* capacity cap frames */
    int64_t cap, n;
    int n_mels;
    int order_ok;
} collect;

static void collect_cb(void *user, const float *frame, int64_t index)
{
    collect *c = user;
    if (index != c->n)
        c->order_ok = 0;
    if (c->n < c->cap)
        memcpy(c->frames + c->n * c->n_mels, frame, sizeof(float) * (size_t)c->n_mels);
    c->n++;
}

static void collect_init(collect *c, int64_t cap, int n_mels)
{
    c->frames = malloc(sizeof(float) * (size_t)(cap > 0 ? cap : 1) * (size_t)n_mels);
    c->cap = cap;
    c->n = 0;
    c->n_mels = n_mels;
    c->order_ok = 1;
}

/* chunk sizes: mode 0 random 1..700, mode 1 all ones, mode 2 one huge push, mode 3 random mix of
 * 1, hop-1, hop, hop+1, win and multi-second pushes */
static size_t next_chunk(int mode, const dsp_params *p)
{
    switch (mode) {
    case 0: return 1 + (size_t)(t_uniform() * 700);
    case 1: return 1;
    case 2: return (size_t)-1;
    default: {
        size_t opts[] = {1, (size_t)p->hop_length - 1, (size_t)p->hop_length,
                         (size_t)p->hop_length + 1, (size_t)p->win_length, 50000};
        return opts[(size_t)(t_uniform() * 6)];
    }
    }
}

static void stream_vs_batch(const dsp_params *p, int kind, size_t n, uint64_t seed, int mode)
{
    float *x = malloc(sizeof(float) * n);
    t_signal(kind, x, n, p->sample_rate, seed);
    int64_t frames = dsp_logmel_frame_count(p, n);
    float *batch = malloc(sizeof(float) * (size_t)(frames + 1) * (size_t)p->n_mels);
    int64_t got = dsp_logmel_batch(p, x, n, batch, (size_t)frames);
    CHECK(got == frames, "batch gave %lld frames, expected %lld", (long long)got, (long long)frames);

    dsp_logmel *s = NULL;
    char err[256];
    int rc = dsp_logmel_new(p, &s, err, sizeof err);
    CHECK(rc == 0, "new: %s", err);
    if (rc)
        goto done;
    for (int pass = 0; pass < 2; pass++) { /* second pass after reset must match too */
        collect c;
        collect_init(&c, frames, p->n_mels);
        t_seed(seed * 7919 + (uint64_t)mode);
        for (size_t pos = 0; pos < n;) {
            size_t k = next_chunk(mode, p);
            if (k > n - pos)
                k = n - pos;
            CHECK(dsp_logmel_push(s, x + pos, k, collect_cb, &c) == 0, "push");
            pos += k;
        }
        CHECK(c.n == frames, "kind %d mode %d: stream %lld frames, batch %lld", kind, mode,
              (long long)c.n, (long long)frames);
        CHECK(c.order_ok, "frame indices not 0,1,2,...");
        CHECK(memcmp(c.frames, batch, sizeof(float) * (size_t)frames * (size_t)p->n_mels) == 0,
              "kind %d mode %d seed %llu pass %d: streaming differs from batch", kind, mode,
              (unsigned long long)seed, pass);
        free(c.frames);
        dsp_logmel_reset(s);
    }
done:
    dsp_logmel_free(s);
    free(batch);
    free(x);
}

static void test_stream_equals_batch(void)
{
    dsp_params p;
    dsp_params_default(&p);
    for (int kind = 0; kind < 3; kind++)
        for (int mode = 0; mode < 4; mode++)
            for (uint64_t seed = 1; seed <= 3; seed++) {
                size_t n = mode == 1 ? 8123 : 16000 * 2 + 1234 * (size_t)seed;
                stream_vs_batch(&p, kind, n, seed * 101 + (uint64_t)kind, mode);
            }
    /* Other parameter sets: HTK, n_fft == win, hop == win, 8 kHz, 40 bands, odd sizes. */
    dsp_params q = p;
    q.mel_scale = DSP_MEL_HTK;
    q.n_mels = 40;
    stream_vs_batch(&q, 2, 20000, 5, 0);
    q = p;
    q.n_fft = q.win_length;
    q.hop_length = q.win_length;
    stream_vs_batch(&q, 0, 20000, 6, 3);
    q = p;
    q.sample_rate = 8000;
    q.win_length = 201;
    q.hop_length = 77;
    q.n_fft = 256;
    q.n_mels = 40;
    q.f_min = 60;
    q.f_max = 3800;
    stream_vs_batch(&q, 1, 9000, 7, 0);
    /* With the denoiser: its hop-sized blocks must not make the frames depend on chunking, and a
     * reset must forget the noise estimate (the second pass compares against a fresh batch).
     * Lengths that are not whole hops leave a partial block behind. */
    q = p;
    q.denoise_db = -15;
    for (int kind = 0; kind < 3; kind++)
        for (int mode = 0; mode < 4; mode++)
            stream_vs_batch(&q, kind, mode == 1 ? 8123 : 16000 + 1234 * (size_t)kind, 11 + kind, mode);
}

/* Mean over frames [from, to) of band b, in nats. */
static double band_mean(const float *fr, int n_mels, int from, int to, int b)
{
    double s = 0;
    for (int i = from; i < to; i++)
        s += fr[(size_t)i * (size_t)n_mels + b];
    return s / (to - from);
}

/* How much lower the 4-8 kHz bands (bands 100-127: noise only here) are in b than in a, nats,
 * averaged over frames [100, frames), after the suppressor has learnt the noise. */
static double noise_bands_drop(const float *a, const float *b, int frames)
{
    double d = 0;
    for (int m = 100; m < 128; m++)
        d += band_mean(a, 128, 100, frames, m) - band_mean(b, 128, 100, frames, m);
    return d / 28;
}

/* A 1 kHz tone pulsed like syllables (150 ms on, 150 ms off; a steady tone is itself steady
 * noise to the estimator) in steady white noise, tone 20 dB over the noise's total power: after
 * a second to learn the noise, the suppressor lowers the bands that hold only noise by most of
 * its 15 dB and leaves the tone's band, while it sounds, within a couple of dB. */
static void test_denoise(void)
{
    dsp_params p, q;
    dsp_params_default(&p);
    q = p;
    q.denoise_db = -15;
    const size_t n = 3 * 16000;
    float *x = malloc(sizeof(float) * n);
    t_seed(42);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(((i / 2400) % 2 ? 0.0 : 0.3 * sin(2 * M_PI * 1000.0 * (double)i / 16000)) +
                       0.03 * sqrt(3.0) * (2 * t_uniform() - 1));
    int64_t frames = dsp_logmel_frame_count(&q, n);
    CHECK(frames == dsp_logmel_frame_count(&p, n), "3 s is whole hops: same count");
    CHECK(dsp_logmel_frame_count(&q, 16000 + 159) == dsp_logmel_frame_count(&p, 16000),
          "denoiser counts whole hops only");
    CHECK(dsp_logmel_frame_count(&p, 16000 + 159) == dsp_logmel_frame_count(&p, 16000) + 1,
          "plain count");
    float *a = malloc(sizeof(float) * (size_t)frames * 128), *b = malloc(sizeof(float) * (size_t)frames * 128);
    CHECK(dsp_logmel_batch(&p, x, n, a, (size_t)frames) == frames, "plain batch");
    CHECK(dsp_logmel_batch(&q, x, n, b, (size_t)frames) == frames, "denoised batch");
    int tone = -1;
    double best = -1e9;
    for (int m = 0; m < 128; m++) {
        double v = band_mean(a, 128, 100, (int)frames, m);
        if (v > best)
            best = v, tone = m;
    }
    /* frames wholly inside a "tone on" stretch (frames 30k .. 30k+12), past the denoiser's
     * one-hop lag */
    double tone_drop = 0;
    int n_on = 0;
    for (int i = 100; i < frames; i++)
        if (i % 30 >= 2 && i % 30 <= 11) {
            tone_drop += a[(size_t)i * 128 + tone] - b[(size_t)i * 128 + tone];
            n_on++;
        }
    tone_drop /= n_on;
    double noise_drop = noise_bands_drop(a, b, (int)frames);
    const double db = 10.0 / log(10.0); /* nats of power -> dB */
    printf("  denoise -15 dB: tone band %d drops %.2f dB, 4-8 kHz bands %.2f dB\n", tone,
           tone_drop * db, noise_drop * db);
    CHECK(noise_drop * db > 9.0, "noise bands lowered by only %.2f dB", noise_drop * db);
    CHECK(fabs(tone_drop * db) < 3.0, "tone band moved by %.2f dB", tone_drop * db);
    /* The suppression is bounded by denoise_db: at -6 dB the noise drops less. */
    q.denoise_db = -6;
    CHECK(dsp_logmel_batch(&q, x, n, b, (size_t)frames) == frames, "denoised batch -6");
    double weak = noise_bands_drop(a, b, (int)frames) * db;
    printf("  denoise -6 dB: 4-8 kHz bands %.2f dB\n", weak);
    CHECK(weak > 2.0 && weak < 7.0, "at -6 dB the noise bands dropped %.2f dB", weak);
    free(a);
    free(b);
    free(x);
}

/* First frame whose band-mean log-mel exceeds thr (the frame that hears the onset), or -1. */
static int first_loud_frame(const float *f, int frames, double thr)
{
    for (int i = 0; i < frames; i++) {
        double e = 0;
        for (int b = 0; b < 128; b++)
            e += f[(size_t)i * 128 + b];
        if (e / 128 > thr)
            return i;
    }
    return -1;
}

/* A tone starting at a known sample is heard by a frame that dsp_logmel_frame_end places at
 * the same point of the input with or without the suppressor, whose frames come one hop late. */
static void test_frame_end(void)
{
    dsp_params p, q;
    dsp_params_default(&p);
    q = p;
    q.denoise_db = -15;
    CHECK(dsp_logmel_frame_end(&p, 0) == 400 && dsp_logmel_frame_end(&p, 10) == 2000, "plain ends");
    CHECK(dsp_logmel_frame_end(&q, 0) == 240 && dsp_logmel_frame_end(&q, 10) == 1840, "denoised ends");
    const size_t n = 2 * 16000;
    float *x = malloc(sizeof(float) * n);
    int64_t frames = dsp_logmel_frame_count(&p, n);
    float *a = malloc(sizeof(float) * (size_t)frames * 128), *b = malloc(sizeof(float) * (size_t)frames * 128);
    const size_t onsets[] = {16000 + 37, 16000 + 100, 16000 + 150};
    for (size_t o = 0; o < sizeof onsets / sizeof *onsets; o++) {
        t_seed(7);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(0.001 * (2 * t_uniform() - 1) +
                           (i >= onsets[o] ? 0.3 * sin(2 * M_PI * 1000.0 * (double)i / 16000) : 0.0));
        CHECK(dsp_logmel_batch(&p, x, n, a, (size_t)frames) == frames, "plain batch");
        CHECK(dsp_logmel_batch(&q, x, n, b, (size_t)frames) == frames, "denoised batch");
        int ka = first_loud_frame(a, (int)frames, -10.5), kb = first_loud_frame(b, (int)frames, -10.5);
        CHECK(ka > 0 && kb == ka + 1, "onset at %zu: plain frame %d, denoised %d", onsets[o], ka, kb);
        CHECK(dsp_logmel_frame_end(&p, ka) == dsp_logmel_frame_end(&q, kb) &&
              dsp_logmel_frame_end(&p, ka) > (int64_t)onsets[o] &&
              dsp_logmel_frame_end(&p, ka - 1) <= (int64_t)onsets[o] + 160,
              "onset at %zu: frame ends %lld / %lld", onsets[o], (long long)dsp_logmel_frame_end(&p, ka),
              (long long)dsp_logmel_frame_end(&q, kb));
    }
    free(a);
    free(b);
    free(x);
}

static void test_short_and_counts(void)
{
    dsp_params p;
    dsp_params_default(&p);
    CHECK(dsp_logmel_frame_count(&p, 0) == 0, "0 samples");
    CHECK(dsp_logmel_frame_count(&p, 399) == 0, "399 samples");
    CHECK(dsp_logmel_frame_count(&p, 400) == 1, "400 samples");
    CHECK(dsp_logmel_frame_count(&p, 559) == 1, "559 samples");
    CHECK(dsp_logmel_frame_count(&p, 560) == 2, "560 samples");
    CHECK(dsp_logmel_frame_count(&p, 16000) == 98, "1 s");
    float x[1000] = {0};
    float out[128 * 4];
    CHECK(dsp_logmel_batch(&p, x, 1000, NULL, 0) == 4, "count-only batch");
    CHECK(dsp_logmel_batch(&p, x, 1000, out, 3) == DSP_EINVAL, "too small out accepted");
    CHECK(dsp_logmel_batch(&p, x, 1000, out, 4) == 4, "batch");
    CHECK(dsp_logmel_batch(&p, x, 100, out, 4) == 0, "short batch");
    dsp_params bad = p;
    bad.n_fft = 100;
    CHECK(dsp_logmel_batch(&bad, x, 1000, out, 4) == DSP_EINVAL, "bad params batch");
}

/* Independent restatement of the Slaney scale for the band centres. */
static double slaney_mel(double f)
{
    return f < 1000 ? f * 3 / 200 : 15 + log(f / 1000) * 27 / log(6.4);
}
static double slaney_hz(double m)
{
    return m < 15 ? m * 200 / 3 : 1000 * exp((m - 15) * log(6.4) / 27);
}

static void test_tones(void)
{
    dsp_params p;
    dsp_params_default(&p);
    /* Tones away from the midpoint between two centres (checked below): there the winner is a
     * matter of the neighbouring triangles' normalisation, not of correctness. */
    double freqs[] = {250, 300, 440, 1000, 1520, 2020, 3000, 4000, 6000, 7600};
    size_t n = 8000;
    float *x = malloc(sizeof(float) * n);
    int64_t frames = dsp_logmel_frame_count(&p, n);
    float *out = malloc(sizeof(float) * (size_t)frames * 128);
    double mmax = slaney_mel(p.f_max);
    for (size_t t = 0; t < sizeof freqs / sizeof *freqs; t++) {
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(0.3 * sin(2 * M_PI * freqs[t] * (double)i / p.sample_rate));
        dsp_logmel_batch(&p, x, n, out, (size_t)frames);
        int nearest = 0;
        double best = 1e9, second = 1e9;
        for (int b = 0; b < p.n_mels; b++) {
            double d = fabs(slaney_hz(mmax * (b + 1) / (p.n_mels + 1)) - freqs[t]);
            if (d < best)
                second = best, best = d, nearest = b;
            else if (d < second)
                second = d;
        }
        CHECK(best / (best + second) < 0.35, "test tone %g Hz too close to a midpoint", freqs[t]);
        /* Below ~1.3 kHz the 128 bands are closer (23 Hz) than the FFT bins (31.25 Hz): a tone
         * between two bins can only be placed to within one band there. */
        double spacing = slaney_hz(mmax * (nearest + 2) / (p.n_mels + 1)) -
                         slaney_hz(mmax * (nearest + 1) / (p.n_mels + 1));
        int tol = spacing < (double)p.sample_rate / p.n_fft ? 1 : 0;
        for (int64_t f = 0; f < frames; f += 10) {
            const float *fr = out + f * 128;
            int arg = 0;
            for (int b = 1; b < p.n_mels; b++)
                if (fr[b] > fr[arg])
                    arg = b;
            CHECK(abs(arg - nearest) <= tol, "%g Hz: max in band %d, nearest centre is band %d",
                  freqs[t], arg, nearest);
        }
    }
    free(out);
    free(x);
}

static void test_silence_floor(void)
{
    dsp_params p;
    dsp_params_default(&p);
    size_t n = 4000;
    float *x = calloc(n, sizeof(float));
    int64_t frames = dsp_logmel_frame_count(&p, n);
    float *out = malloc(sizeof(float) * (size_t)frames * 128);
    const float want = (float)log((double)p.log_floor);
    dsp_logmel_batch(&p, x, n, out, (size_t)frames);
    int bad = 0;
    for (int64_t i = 0; i < frames * 128; i++)
        bad += out[i] != want;
    CHECK(bad == 0, "%d values of silence differ from ln(log_floor) = %g", bad, (double)want);
    /* denormals and the smallest normals: finite, at the floor */
    for (size_t i = 0; i < n; i++)
        x[i] = (i & 1 ? -1.0f : 1.0f) * (i % 3 ? 1e-40f : 1.2e-38f);
    dsp_logmel_batch(&p, x, n, out, (size_t)frames);
    bad = 0;
    for (int64_t i = 0; i < frames * 128; i++)
        bad += !isfinite(out[i]) || out[i] != want;
    CHECK(bad == 0, "%d values of denormal input not at the floor", bad);
    /* a raised floor clamps quiet bands */
    p.log_floor = 1e-3f;
    t_signal(0, x, n, p.sample_rate, 3);
    for (size_t i = 0; i < n; i++)
        x[i] *= 1e-4f;
    dsp_logmel_batch(&p, x, n, out, (size_t)frames);
    bad = 0;
    for (int64_t i = 0; i < frames * 128; i++)
        bad += !(out[i] >= (float)log((double)1e-3f));
    CHECK(bad == 0, "%d values below ln(1e-3)", bad);
    free(out);
    free(x);
}

static void test_nonfinite(void)
{
    dsp_params p;
    dsp_params_default(&p);
    size_t n = 3000;
    float *x = malloc(sizeof(float) * n);
    t_signal(2, x, n, p.sample_rate, 9);
    int64_t frames = dsp_logmel_frame_count(&p, n);
    float *ref = malloc(sizeof(float) * (size_t)frames * 128);
    dsp_logmel_batch(&p, x, n, ref, (size_t)frames);

    dsp_logmel *s;
    CHECK(dsp_logmel_new(&p, &s, NULL, 0) == 0, "new");
    collect c;
    collect_init(&c, frames, 128);
    float bad[500];
    memcpy(bad, x + 1000, sizeof bad);
    float poison[] = {NAN, INFINITY, -INFINITY};
    CHECK(dsp_logmel_push(s, x, 1000, collect_cb, &c) == 0, "push");
    for (int k = 0; k < 3; k++) {
        bad[137 + k] = poison[k];
        int64_t before = c.n;
        CHECK(dsp_logmel_push(s, bad, 500, collect_cb, &c) == DSP_ENONFINITE, "poison %d", k);
        CHECK(c.n == before, "frames emitted from a refused chunk");
        bad[137 + k] = x[1137 + k];
    }
    CHECK(dsp_logmel_push(s, x + 1000, n - 1000, collect_cb, &c) == 0, "push after refusal");
    CHECK(c.n == frames && memcmp(c.frames, ref, sizeof(float) * (size_t)frames * 128) == 0,
          "stream after refusals differs from the clean batch");
    x[2999] = NAN;
    CHECK(dsp_logmel_batch(&p, x, n, ref, (size_t)frames) == DSP_ENONFINITE, "batch NaN");
    CHECK(dsp_logmel_batch(&p, x + 2990, 10, ref, (size_t)frames) == DSP_ENONFINITE,
          "batch NaN shorter than a frame");
    CHECK(strcmp(dsp_strerror(DSP_ENONFINITE), "NaN or Inf in the samples") == 0, "strerror");
    free(c.frames);
    dsp_logmel_free(s);
    free(ref);
    free(x);
}

static void expect_bad(const dsp_params *p, const char *needle)
{
    char err[256] = "";
    dsp_logmel *s = NULL;
    CHECK(dsp_params_check(p, err, sizeof err) == DSP_EINVAL, "accepted, wanted '%s'", needle);
    CHECK(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    CHECK(dsp_logmel_new(p, &s, err, sizeof err) == DSP_EINVAL && s == NULL, "new accepted");
    CHECK(strstr(err, needle) != NULL, "new's message '%s' lacks '%s'", err, needle);
}

static void test_params(void)
{
    dsp_params d, p;
    dsp_params_default(&d);
    char err[256];
    CHECK(dsp_params_check(&d, err, sizeof err) == 0, "defaults refused: %s", err);
    CHECK(d.sample_rate == 16000 && d.win_length == 400 && d.hop_length == 160 &&
          d.n_fft == 512 && d.n_mels == 128 && d.f_min == 0 && d.f_max == 8000 &&
          d.mel_scale == DSP_MEL_SLANEY && d.log_floor == 1e-10f && d.denoise_db == 0, "defaults");
    p = d; p.n_fft = 300; expect_bad(&p, "n_fft 300 < win_length 400");
    p = d; p.sample_rate = 0; expect_bad(&p, "sample_rate 0");
    p = d; p.win_length = 0; expect_bad(&p, "win_length 0");
    p = d; p.hop_length = 0; expect_bad(&p, "hop_length 0");
    p = d; p.hop_length = 401; expect_bad(&p, "hop_length 401");
    p = d; p.n_mels = 0; expect_bad(&p, "n_mels 0");
    p = d; p.n_mels = 400; expect_bad(&p, "contains no FFT bin");
    p = d; p.f_max = 9000; expect_bad(&p, "f_max 9000");
    p = d; p.f_max = NAN; expect_bad(&p, "f_max nan");
    p = d; p.f_min = -1; expect_bad(&p, "f_min -1");
    p = d; p.f_min = 8000; expect_bad(&p, "f_max 8000");
    p = d; p.mel_scale = 7; expect_bad(&p, "mel_scale 7");
    p = d; p.log_floor = 0; expect_bad(&p, "log_floor 0");
    p = d; p.log_floor = INFINITY; expect_bad(&p, "log_floor inf");
    p = d; p.n_fft = 1 << 20; expect_bad(&p, "n_fft 1048576 > 65536");
    p = d; p.denoise_db = 3; expect_bad(&p, "denoise_db 3 out of range -90..0");
    p = d; p.denoise_db = -91; expect_bad(&p, "denoise_db -91");
    CHECK(dsp_params_check(NULL, err, sizeof err) == DSP_EINVAL, "NULL params");
    p = d;
    CHECK(dsp_params_equal(&d, &p), "equal");
    p.log_floor = 1e-9f;
    CHECK(!dsp_params_equal(&d, &p), "log_floor ignored by equal");
    p = d; p.denoise_db = -15;
    CHECK(!dsp_params_equal(&d, &p), "denoise_db ignored by equal");
    p = d; p.mel_scale = DSP_MEL_HTK;
    CHECK(!dsp_params_equal(&d, &p), "mel_scale ignored by equal");
    /* HTK's scale is linear-ish lower down, so 128 bands leave the lowest ones without a bin */
    expect_bad(&p, "band 0 (0.0..27.9 Hz) contains no FFT bin");
    p.n_mels = 64;
    CHECK(dsp_params_check(&p, err, sizeof err) == 0, "htk 64 refused: %s", err);
    dsp_logmel *s;
    CHECK(dsp_logmel_new(&d, &s, NULL, 0) == 0, "new");
    CHECK(dsp_params_equal(dsp_logmel_params(s), &d), "params copy");
    dsp_logmel_free(s);
    dsp_logmel_free(NULL);
}

int main(void)
{
    RUN(test_params);
    RUN(test_short_and_counts);
    RUN(test_stream_equals_batch);
    RUN(test_tones);
    RUN(test_silence_floor);
    RUN(test_nonfinite);
    RUN(test_denoise);
    RUN(test_frame_end);
    return t_summary();
}
