/* Tiny assertion helpers and deterministic signals shared by the dsp unit tests. */
#ifndef EMOTIOND_DSP_TEST_H
#define EMOTIOND_DSP_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures __attribute__((unused));

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            t_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

#define RUN(fn)                                                                              \
    do {                                                                                     \
        int before_ = t_failures;                                                            \
        fn();                                                                                \
        fprintf(stderr, "%-40s %s\n", #fn, t_failures == before_ ? "ok" : "FAILED");         \
    } while (0)

/* Exit status for main: 0 when every CHECK held. */
static inline int t_summary(void)
{
    if (t_failures)
        fprintf(stderr, "%d check(s) failed\n", t_failures);
    return t_failures ? 1 : 0;
}

/* xorshift64*: reproducible across platforms, unlike rand(). */
static uint64_t t_rng_state = 88172645463325252ull;
static inline void t_seed(uint64_t s) { t_rng_state = s ? s : 1; }
static inline uint64_t t_next(void)
{
    t_rng_state ^= t_rng_state >> 12;
    t_rng_state ^= t_rng_state << 25;
    t_rng_state ^= t_rng_state >> 27;
    return t_rng_state * 2685821657736338717ull;
}
/* uniform in [0, 1) */
static inline double t_uniform(void) { return (double)(t_next() >> 11) * (1.0 / 9007199254740992.0); }

/* Kinds of test signal: 0 white noise, 1 chirp 50 Hz..7.9 kHz, 2 voiced-speech-like harmonic
 * series (F0 glide, formant-ish envelope, syllabic amplitude modulation, bits of silence). */
static inline void t_signal(int kind, float *x, size_t n, double rate, uint64_t seed)
{
    t_seed(seed);
    double phase = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        double v = 0;
        if (kind == 0) {
            v = 0.5 * (2 * t_uniform() - 1);
        } else if (kind == 1) {
            double dur = (double)n / rate;
            double f = 50.0 * pow(7900.0 / 50.0, t / dur);
            phase += 2 * M_PI * f / rate;
            v = 0.4 * sin(phase);
        } else {
            double f0 = 120 + 40 * sin(2 * M_PI * 0.7 * t);
            phase += 2 * M_PI * f0 / rate;
            for (int h = 1; h * f0 < 7800; h++) {
                double fh = h * f0;
                double env = exp(-pow((fh - 700) / 300, 2)) + 0.6 * exp(-pow((fh - 1800) / 400, 2)) +
                             0.2 * exp(-pow((fh - 3000) / 600, 2)) + 0.01;
                v += env * sin(h * phase) / h;
            }
            double am = sin(2 * M_PI * 3.1 * t);
            v *= am > -0.3 ? 0.3 * (am + 0.3) : 0.0; /* syllables, near-silence between */
            v += 1e-4 * (2 * t_uniform() - 1);
        }
        x[i] = (float)v;
    }
}

#endif
