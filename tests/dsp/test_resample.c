/* dsp_resampler: frequency/amplitude kept, lengths, downmix, chunking, latency, bad input. */
#include "dsp.h"
#include "dsp_test.h"

#include <string.h>

#define OUT_RATE 16000.0

/* Resamples x (frames x ch) in one call plus flush; returns the output length. */
static size_t run_once(double rate, int ch, const float *x, size_t frames, float *out,
                       size_t cap)
{
    dsp_resampler *r;
    char err[200];
    int rc = dsp_resampler_new(rate, ch, OUT_RATE, &r, err, sizeof err);
    CHECK(rc == 0, "new %g: %s", rate, err);
    if (rc)
        return 0;
    size_t n = 0, m = 0;
    CHECK(dsp_resampler_process(r, x, frames, out, cap, &n) == 0, "process %g", rate);
    CHECK(dsp_resampler_flush(r, out + n, cap - n, &m) == 0, "flush %g", rate);
    dsp_resampler_free(r);
    return n + m;
}

/* Least-squares fit of a*sin + b*cos at f over y[from..to): amplitude and residual RMS. */
static void fit_sine(const float *y, size_t from, size_t to, double f, double rate, double *amp,
                     double *resid)
{
    double ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
    for (size_t i = from; i < to; i++) {
        double s = sin(2 * M_PI * f * (double)i / rate), c = cos(2 * M_PI * f * (double)i / rate);
        ss += s * s, cc += c * c, sc += s * c, ys += y[i] * s, yc += y[i] * c;
    }
    double det = ss * cc - sc * sc;
    double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
    double e = 0;
    for (size_t i = from; i < to; i++) {
        double v = y[i] - a * sin(2 * M_PI * f * (double)i / rate) -
                   b * cos(2 * M_PI * f * (double)i / rate);
        e += v * v;
    }
    *amp = sqrt(a * a + b * b);
    *resid = sqrt(e / (double)(to - from));
}

static const double rates[] = {8000, 22050, 44100, 48000, 96000, 192000, 16000, 11025, 32000};

static void test_sine_kept(void)
{
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        double rate = rates[k];
        size_t frames = (size_t)(rate * 1.5);
        float *x = malloc(sizeof(float) * frames);
        size_t cap = (size_t)(frames * OUT_RATE / rate) + 4096;
        float *y = malloc(sizeof(float) * cap);
        double freqs[] = {440, 1000, 3000};
        for (int fi = 0; fi < 3; fi++) {
            double f = freqs[fi];
            for (size_t i = 0; i < frames; i++)
                x[i] = (float)(0.5 * sin(2 * M_PI * f * (double)i / rate));
            size_t n = run_once(rate, 1, x, frames, y, cap);
            double expect = frames * OUT_RATE / rate;
            CHECK(fabs((double)n - expect) <= 1.0, "%g Hz: %zu samples out, expected %.1f", rate,
                  n, expect);
            double amp, resid;
            /* skip the edges: the filter's transient at start and end of stream */
            fit_sine(y, 800, n - 800, f, OUT_RATE, &amp, &resid);
            CHECK(fabs(amp - 0.5) < 0.5 * 0.002, "%g Hz, %g Hz tone: amplitude %.5f", rate, f,
                  amp);
            CHECK(resid < 1e-3, "%g Hz, %g Hz tone: residual %.2e after the fit", rate, f, resid);
        }
        free(x);
        free(y);
    }
}

static void test_downmix(void)
{
    double rs[] = {16000, 48000, 44100};
    int chans[] = {2, 6};
    for (int ri = 0; ri < 3; ri++)
        for (int ci = 0; ci < 2; ci++) {
            double rate = rs[ri];
            int ch = chans[ci];
            size_t frames = (size_t)(rate * 0.5);
            float *x = malloc(sizeof(float) * frames * (size_t)ch);
            float *mono = malloc(sizeof(float) * frames);
            t_seed(42);
            for (size_t i = 0; i < frames; i++) {
                float acc = 0;
                for (int c = 0; c < ch; c++) {
                    float v = (float)(0.3 * sin(2 * M_PI * (300.0 + 500 * c) * (double)i / rate) +
                                      0.05 * (t_uniform() - 0.5));
                    x[i * (size_t)ch + (size_t)c] = v;
                    acc += v;
                }
                mono[i] = ch == 2 ? acc * 0.5f : acc * (1.0f / (float)ch);
            }
            size_t cap = frames + 4096;
            float *y1 = malloc(sizeof(float) * cap), *y2 = malloc(sizeof(float) * cap);
            size_t n1 = run_once(rate, ch, x, frames, y1, cap);
            size_t n2 = run_once(rate, 1, mono, frames, y2, cap);
            CHECK(n1 == n2 && memcmp(y1, y2, n1 * sizeof(float)) == 0,
                  "%d channels at %g Hz differ from their average resampled as mono", ch, rate);
            if (rate == OUT_RATE) {
                double maxerr = 0;
                for (size_t i = 0; i < frames; i++) {
                    double avg = 0;
                    for (int c = 0; c < ch; c++)
                        avg += x[i * (size_t)ch + (size_t)c];
                    maxerr = fmax(maxerr, fabs(y1[i] - avg / ch));
                }
                CHECK(n1 == frames && maxerr < 1e-6, "passthrough downmix error %g", maxerr);
            }
            free(x), free(mono), free(y1), free(y2);
        }
}

/* Random chunking (1..3000 frames, incl. single frames) vs one call. */
static void test_chunking(void)
{
    for (size_t k = 0; k < sizeof rates / sizeof *rates; k++) {
        double rate = rates[k];
        int ch = k % 2 ? 2 : 1;
        size_t frames = (size_t)(rate * 1.2);
        float *x = malloc(sizeof(float) * frames * (size_t)ch);
        t_signal(2, x, frames * (size_t)ch, rate, 11 + k);
        size_t cap = (size_t)(frames * OUT_RATE / rate) + 4096;
        float *ref = malloc(sizeof(float) * cap), *y = malloc(sizeof(float) * cap);
        size_t nref = run_once(rate, ch, x, frames, ref, cap);

        dsp_resampler *r;
        CHECK(dsp_resampler_new(rate, ch, OUT_RATE, &r, NULL, 0) == 0, "new");
        size_t n = 0, pos = 0, overshoot = 0;
        t_seed(k + 1);
        while (pos < frames) {
            size_t c = t_uniform() < 0.2 ? 1 : 1 + (size_t)(t_uniform() * 3000);
            if (c > frames - pos)
                c = frames - pos;
            size_t bound = dsp_resampler_max_out(r, c), got = 0;
            CHECK(dsp_resampler_process(r, x + pos * (size_t)ch, c, y + n, cap - n, &got) == 0,
                  "process");
            overshoot += got > bound;
            n += got;
            pos += c;
        }
        size_t got = 0;
        CHECK(dsp_resampler_flush(r, y + n, cap - n, &got) == 0, "flush");
        n += got;
        CHECK(overshoot == 0, "output exceeded dsp_resampler_max_out %zu times", overshoot);
        double maxd = 0;
        for (size_t i = 0; i < n && i < nref; i++)
            maxd = fmax(maxd, fabs(y[i] - ref[i]));
        CHECK(n == nref && maxd == 0.0, "%g Hz: chunked %zu samples vs %zu, max diff %g", rate, n,
              nref, maxd);
        dsp_resampler_free(r);
        free(x), free(ref), free(y);
    }
}

/* An impulse keeps its time position (soxr trims its filter's delay from the output timeline);
 * the latency is what the resampler holds back until later input arrives, and
 * dsp_resampler_delay() must report it. */
static void test_latency(void)
{
    double rs[] = {8000, 22050, 44100, 48000, 96000, 192000};
    for (int k = 0; k < 6; k++) {
        double rate = rs[k];
        size_t frames = (size_t)rate; /* 1 s */
        float *x = calloc(frames, sizeof(float));
        size_t t0 = frames / 2;
        x[t0] = 1.0f;
        size_t cap = 20000;
        float *y = malloc(sizeof(float) * cap);
        dsp_resampler *r;
        CHECK(dsp_resampler_new(rate, 1, OUT_RATE, &r, NULL, 0) == 0, "new");
        size_t hop = (size_t)(rate / 100), n = 0, got, pos;
        double held_sum = 0;
        int held_n = 0;
        for (pos = 0; pos + hop <= frames; pos += hop) {
            dsp_resampler_process(r, x + pos, hop, y + n, cap - n, &got);
            n += got;
            if (pos > frames / 4) { /* steady state */
                held_sum += (double)(pos + hop) * OUT_RATE / rate - (double)n;
                held_n++;
            }
        }
        double reported = dsp_resampler_delay(r);
        dsp_resampler_flush(r, y + n, cap - n, &got);
        n += got;
        size_t peak = 0;
        for (size_t i = 1; i < n; i++)
            if (fabs(y[i]) > fabs(y[peak]))
                peak = i;
        double where = (double)t0 * OUT_RATE / rate;
        double held = held_sum / held_n;
        fprintf(stderr, "  %6g Hz -> 16 kHz: impulse at %.2f lands at %zu; held back %.1f "
                "output samples (%.2f ms), dsp_resampler_delay %.1f\n", rate, where, peak, held,
                held / OUT_RATE * 1e3, reported);
        /* minimum phase: the peak of the response sits a couple of samples after t0 */
        CHECK((double)peak >= where - 0.5 && (double)peak <= where + 3.0,
              "%g Hz: impulse moved from %.2f to %zu", rate, where, peak);
        CHECK(fabs(held - reported) <= 1.5, "%g Hz: reported delay %.1f, measured %.1f", rate,
              reported, held);
        CHECK(held < 0.035 * OUT_RATE, "%g Hz: latency %.1f ms", rate, held / OUT_RATE * 1e3);
        dsp_resampler_free(r);
        free(x), free(y);
    }
    dsp_resampler *r;
    CHECK(dsp_resampler_new(16000, 2, OUT_RATE, &r, NULL, 0) == 0, "new");
    CHECK(dsp_resampler_delay(r) == 0.0, "passthrough has a delay");
    dsp_resampler_free(r);
}

static void test_bad_input(void)
{
    char err[200] = "";
    dsp_resampler *r = NULL;
    struct { double in; int ch; double out; const char *needle; } bad[] = {
        {7999, 1, 16000, "in_rate 7999"}, {192001, 1, 16000, "in_rate 192001"},
        {NAN, 1, 16000, "in_rate nan"}, {48000, 0, 16000, "channels 0"},
        {48000, 33, 16000, "channels 33"}, {48000, 1, 0, "out_rate 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        CHECK(dsp_resampler_new(bad[i].in, bad[i].ch, bad[i].out, &r, err, sizeof err) ==
                  DSP_EINVAL, "accepted %s", bad[i].needle);
        CHECK(strstr(err, bad[i].needle) != NULL, "message '%s' lacks '%s'", err, bad[i].needle);
    }
    CHECK(dsp_resampler_new(48000, 2, OUT_RATE, &r, err, sizeof err) == 0, "new: %s", err);
    float x[960 * 2], y[1000];
    size_t n = 99;
    for (int i = 0; i < 960 * 2; i++)
        x[i] = (float)sin(i * 0.01);
    CHECK(dsp_resampler_process(r, x, 960, y, 10, &n) == DSP_EINVAL && n == 0, "small out_cap");
    x[7] = NAN;
    CHECK(dsp_resampler_process(r, x, 960, y, 1000, &n) == DSP_ENONFINITE && n == 0, "NaN");
    x[7] = INFINITY;
    CHECK(dsp_resampler_process(r, x, 960, y, 1000, &n) == DSP_ENONFINITE && n == 0, "Inf");
    x[7] = 0.5f;
    CHECK(dsp_resampler_process(r, x, 960, y, 1000, &n) == 0, "usable after refusal");
    for (int i = 0; i < (int)n; i++)
        CHECK(isfinite(y[i]), "non-finite output %d", i);
    CHECK(dsp_resampler_process(r, x, 0, y, 0, &n) == 0 && n == 0, "empty input");
    dsp_resampler_reset(r);
    CHECK(dsp_resampler_process(r, x, 960, y, 1000, &n) == 0, "after reset");
    dsp_resampler_free(r);
    dsp_resampler_free(NULL);
}

int main(void)
{
    RUN(test_bad_input);
    RUN(test_sine_kept);
    RUN(test_downmix);
    RUN(test_chunking);
    RUN(test_latency);
    return t_summary();
}
