/* gate: speech-like signals open it; silence and stationary noise at several levels do not.
 * Signals are generated here: "speech" is a harmonic complex (f0 120..200 Hz with vibrato,
 * formant-like spectral tilt) in syllables of 150-300 ms with short gaps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dsp.h"
#include "gate.h"

#define SR 16000

static double contrast_db = 8;
static uint32_t rng = 1;
static double urand(void) { rng = rng * 1664525u + 1013904223u; return (rng >> 8) / 16777216.0; }
static double gauss(void)
{
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* white (kind 0) or pink (kind 1, Voss-McCartney-like filter) noise at rms level dbfs */
static void noise(float *x, size_t n, int kind, double dbfs)
{
    double b0 = 0, b1 = 0, b2 = 0, a = pow(10, dbfs / 20);
    for (size_t i = 0; i < n; i++) {
        double w = gauss();
        if (kind == 1) {
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            w = (b0 + b1 + b2 + w * 0.1848) / 3.0;
        }
        x[i] += (float)(a * w);
    }
}

/* Adds syllables; marks truth[i] = 1 inside them. Returns nothing; level = peak-ish rms dBFS. */
static void speechlike(float *x, unsigned char *truth, size_t n, double dbfs)
{
    double a = pow(10, dbfs / 20) * sqrt(2.0) / 3.0, ph[20] = { 0 };
    size_t i = 0;
    while (i < n) {
        size_t syl = (size_t)(SR * (0.15 + 0.15 * urand())), gap = (size_t)(SR * (0.05 + 0.1 * urand()));
        double f0 = 120 + 80 * urand();
        for (size_t k = 0; k < syl && i < n; k++, i++) {
            double env = sin(M_PI * (double)k / (double)syl);
            double f = f0 * (1 + 0.03 * sin(2 * M_PI * 5 * (double)k / SR));
            double s = 0;
            for (int h = 1; h <= 20; h++) {
                ph[h - 1] += 2 * M_PI * f * h / SR;
                if (f * h < SR / 2) s += sin(ph[h - 1]) / h;
            }
            x[i] += (float)(a * env * s);
            truth[i] = 1;
        }
        i += gap;
    }
}

/* Runs the gate over x; returns the fraction of frames called speech among frames whose
 * centre sample has truth == want (truth NULL: all frames), skipping the first skip_s. */
static double run(const float *x, const unsigned char *truth, size_t n, int want, double skip_s)
{
    dsp_params fp;
    dsp_params_default(&fp);
    gate_params gp = { 6, -65, 30, 300, contrast_db };
    gate *g = gate_new(&fp, &gp);
    CHECK(g != NULL);
    int64_t nf = dsp_logmel_frame_count(&fp, n);
    float *fr = malloc((size_t)nf * (size_t)fp.n_mels * sizeof *fr);
    dsp_logmel_batch(&fp, x, n, fr, (size_t)nf);
    long yes = 0, tot = 0;
    for (int64_t i = 0; i < nf; i++) {
        int s = gate_push(g, fr + i * fp.n_mels);
        size_t c = (size_t)(i * fp.hop_length + fp.win_length / 2);
        if ((double)c / SR < skip_s) continue;
        if (truth && truth[c] != want) continue;
        tot++;
        yes += s;
    }
    free(fr);
    gate_free(g);
    return tot ? (double)yes / (double)tot : -1;
}

static void silence_is_not_speech(void)
{
    size_t n = 3 * SR;
    float *x = calloc(n, sizeof *x);
    CHECK(run(x, NULL, n, 0, 0) == 0);
    noise(x, n, 0, -90); /* a dithered silence */
    CHECK(run(x, NULL, n, 0, 0) == 0);
    free(x);
}

static void stationary_noise_is_not_speech(void)
{
    size_t n = 5 * SR;
    float *x = malloc(n * sizeof *x);
    for (int kind = 0; kind < 2; kind++) {
        for (double db = -60; db <= -10; db += 25) {
            memset(x, 0, n * sizeof *x);
            noise(x, n, kind, db);
            double fa = run(x, NULL, n, 0, 0);
            CHECKF(fa < 0.01, "%s noise at %g dBFS: %.1f %% of frames called speech",
                   kind ? "pink" : "white", db, 100 * fa);
        }
    }
    free(x);
}

static void speech_is_found(void)
{
    size_t n = 6 * SR;
    float *x = calloc(n, sizeof *x);
    unsigned char *truth = calloc(n, 1);
    /* 1 s of quiet room, then syllables */
    speechlike(x + SR, truth + SR, n - SR, -20);
    noise(x, n, 1, -60);
    double hit = run(x, truth, n, 1, 0);
    CHECKF(hit > 0.9, "clean: %.1f %% of speech frames found", 100 * hit);
    /* in white noise: the syllables' rms is about -30 dBFS, so -40 dBFS noise is 10 dB SNR */
    for (int db = -50; db <= -30; db += 5) {
        memset(x, 0, n * sizeof *x);
        memset(truth, 0, n);
        speechlike(x + SR, truth + SR, n - SR, -20);
        noise(x, n, 0, db);
        hit = run(x, truth, n, 1, 0);
        fprintf(stderr, "  white noise %d dBFS: %.1f %% of speech frames found\n", db, 100 * hit);
        if (db == -40) CHECKF(hit > 0.75, "10 dB SNR: %.1f %% of speech frames found", 100 * hit);
    }
    free(x);
    free(truth);
}

static void swaying_noise_is_not_speech(void)
{
    /* broadband noise whose level sways +-4 dB at 0.3 Hz (a fan, traffic): the level alone
     * rises above the 1.6 s floor; the spectral contrast tells it from speech */
    size_t n = 10 * SR;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.01 * gauss() * pow(10, 4.0 * sin(2 * M_PI * 0.3 * (double)i / SR) / 20));
    double fa = run(x, NULL, n, 0, 0);
    CHECKF(fa < 0.01, "swaying noise: %.1f %% of frames called speech", 100 * fa);
    contrast_db = 0;
    double fa0 = run(x, NULL, n, 0, 0);
    contrast_db = 8;
    CHECKF(fa0 > 0.05, "without the contrast the level test alone should accept some (%.1f %%)", 100 * fa0);
    free(x);
}

static void noise_level_step_is_absorbed(void)
{
    /* noise that jumps up 30 dB: speech for at most the floor's window (~1.6 s) */
    size_t n = 6 * SR;
    float *x = calloc(n, sizeof *x);
    noise(x, 2 * SR, 0, -60);
    noise(x + 2 * SR, n - 2 * SR, 0, -30);
    double tail = run(x, NULL, n, 0, 4.0);
    CHECKF(tail == 0, "noise after a step: %.1f %% speech 2 s later", 100 * tail);
    free(x);
}

int main(void)
{
    RUN(silence_is_not_speech);
    RUN(stationary_noise_is_not_speech);
    RUN(speech_is_found);
    RUN(swaying_noise_is_not_speech);
    RUN(noise_level_step_is_absorbed);
    return check_failures != 0;
}
