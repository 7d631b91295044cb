/* gate: see gate.h. */
#include "gate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GATE_BLOCKS 8        /* minimum over GATE_BLOCKS blocks of block_hops hops */
#define GATE_BLOCK_S 0.2
#define GATE_BAND_LO 200.0
#define GATE_BAND_HI 4000.0
#define GATE_SMOOTH_S 0.03
#define GATE_MAX_BANDS 512
#define GATE_TOP 5           /* contrast: mean of the GATE_TOP highest band SNRs minus the mean */

struct gate {
    dsp_params fp;
    gate_params gp;
    int n_mels;
    int band_lo, band_hi;    /* mel bands [lo, hi) whose centres lie in the speech band */
    double ref_db;           /* level of a full-scale 1 kHz sine */
    double hop_s;
    double smooth_a;         /* per-hop coefficient of the level smoother */
    int block_hops, onset_hops, hang_hops;
    /* state */
    int started;
    double level, floor;
    double block_min[GATE_BLOCKS];
    int n_blocks, block_at, block_fill;
    double cur_min;
    int above_run, hang_left, active;
    /* per-band levels and floors (dB), same minimum statistics, for the contrast */
    double blev[GATE_MAX_BANDS], bcur[GATE_MAX_BANDS], bmin[GATE_BLOCKS][GATE_MAX_BANDS];
    double contrast;
};

static double hz_to_mel(double f, int scale)
{
    if (scale == DSP_MEL_HTK) return 2595.0 * log10(1.0 + f / 700.0);
    if (f < 1000.0) return 3.0 * f / 200.0;
    return 15.0 + 27.0 / log(6.4) * log(f / 1000.0);
}

static double mel_to_hz(double m, int scale)
{
    if (scale == DSP_MEL_HTK) return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    if (m < 15.0) return 200.0 * m / 3.0;
    return 1000.0 * exp((m - 15.0) * log(6.4) / 27.0);
}

static double band_energy(const gate *g, const float *logmel)
{
    double e = 0;
    for (int b = g->band_lo; b < g->band_hi; b++) e += exp((double)logmel[b]);
    return 10.0 * log10(e + 1e-30);
}

static void set_derived(gate *g)
{
    g->onset_hops = (int)ceil(g->gp.onset_ms / 1000.0 / g->hop_s - 1e-9);
    if (g->onset_hops < 1) g->onset_hops = 1;
    g->hang_hops = (int)lround(g->gp.hangover_ms / 1000.0 / g->hop_s);
}

gate *gate_new(const dsp_params *features, const gate_params *gp)
{
    if (dsp_params_check(features, NULL, 0) != 0 || features->n_mels > GATE_MAX_BANDS) return NULL;
    gate *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->fp = *features;
    g->gp = *gp;
    g->n_mels = features->n_mels;
    g->hop_s = (double)features->hop_length / features->sample_rate;
    g->smooth_a = 1.0 - exp(-g->hop_s / GATE_SMOOTH_S);
    g->block_hops = (int)lround(GATE_BLOCK_S / g->hop_s);
    if (g->block_hops < 1) g->block_hops = 1;
    set_derived(g);

    /* Bands whose centre frequency lies in the speech band; at least one band. */
    double mlo = hz_to_mel(features->f_min, features->mel_scale);
    double mhi = hz_to_mel(features->f_max, features->mel_scale);
    g->band_lo = -1;
    g->band_hi = 0;
    for (int b = 0; b < g->n_mels; b++) {
        double fc = mel_to_hz(mlo + (mhi - mlo) * (b + 1) / (g->n_mels + 1), features->mel_scale);
        if (fc >= GATE_BAND_LO && fc <= GATE_BAND_HI) {
            if (g->band_lo < 0) g->band_lo = b;
            g->band_hi = b + 1;
        }
    }
    if (g->band_lo < 0) { g->band_lo = 0; g->band_hi = g->n_mels; }

    /* Calibrate 0 dBFS through the real front end, whatever its scaling; without its noise
     * suppressor, which would take a steady calibration tone for noise. Speech passes it at
     * its level, so the gate's thresholds keep their meaning on denoised frames. */
    dsp_params cal = *features;
    cal.denoise_db = 0;
    size_t n = (size_t)features->win_length + 4 * (size_t)features->hop_length;
    float *x = malloc(n * sizeof *x);
    float *fr = malloc(5 * (size_t)g->n_mels * sizeof *fr);
    if (!x || !fr) goto fail;
    double f = 1000.0 < features->sample_rate / 2.5 ? 1000.0 : features->sample_rate / 8.0;
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(2 * M_PI * f * (double)i / features->sample_rate);
    if (dsp_logmel_batch(&cal, x, n, fr, 5) < 3) goto fail;
    g->ref_db = band_energy(g, fr + 2 * g->n_mels);
    free(x);
    free(fr);
    gate_reset(g);
    return g;
fail:
    free(x);
    free(fr);
    free(g);
    return NULL;
}

void gate_free(gate *g) { free(g); }

/* Per-band floors and the contrast: a broadband sound that only gets louder (a swaying fan,
 * rising traffic) lifts every band alike; speech lifts its formant and harmonic bands. */
static void band_contrast(gate *g, const float *logmel, int first, int block_done)
{
    int nb = g->band_hi - g->band_lo;
    double top[GATE_TOP] = { -1e300, -1e300, -1e300, -1e300, -1e300 };
    double sum = 0;
    for (int k = 0; k < nb; k++) {
        double e = 4.342944819 * (double)logmel[g->band_lo + k]; /* ln power -> dB */
        if (first) g->blev[k] = e;
        else g->blev[k] += g->smooth_a * (e - g->blev[k]);
        if (g->block_fill == 1 || g->blev[k] < g->bcur[k]) g->bcur[k] = g->blev[k];
        double fl = g->bcur[k];
        for (int i = 0; i < g->n_blocks; i++)
            if (g->bmin[i][k] < fl) fl = g->bmin[i][k];
        double snr = g->blev[k] - fl;
        sum += snr;
        for (int t = 0; t < GATE_TOP; t++) {
            if (snr > top[t]) {
                for (int u = GATE_TOP - 1; u > t; u--) top[u] = top[u - 1];
                top[t] = snr;
                break;
            }
        }
    }
    if (block_done) {
        /* the slot gate_push fills with this block's overall minimum right after */
        for (int k = 0; k < nb; k++) g->bmin[g->block_at][k] = g->bcur[k];
    }
    int nt = nb < GATE_TOP ? nb : GATE_TOP;
    double ts = 0;
    for (int t = 0; t < nt; t++) ts += top[t];
    g->contrast = ts / nt - sum / nb;
}

void gate_set_params(gate *g, const gate_params *gp)
{
    g->gp = *gp;
    set_derived(g);
}

void gate_reset(gate *g)
{
    g->started = 0;
    g->n_blocks = g->block_at = g->block_fill = 0;
    g->above_run = g->hang_left = g->active = 0;
    g->level = g->floor = -200;
}

int gate_push(gate *g, const float *logmel)
{
    double e = band_energy(g, logmel) - g->ref_db;
    int first = !g->started;
    if (!g->started) {
        g->level = e;
        g->cur_min = e;
        g->started = 1;
    } else {
        g->level += g->smooth_a * (e - g->level);
    }

    /* Minimum statistics: the running minimum of the current block plus the minima of the
     * last GATE_BLOCKS-1 finished blocks. */
    if (g->block_fill == 0 || g->level < g->cur_min) g->cur_min = g->level;
    g->block_fill++;
    if (g->gp.contrast_db > 0) band_contrast(g, logmel, first, g->block_fill == g->block_hops);
    if (g->block_fill == g->block_hops) {
        g->block_min[g->block_at] = g->cur_min;
        g->block_at = (g->block_at + 1) % (GATE_BLOCKS - 1);
        if (g->n_blocks < GATE_BLOCKS - 1) g->n_blocks++;
        g->block_fill = 0;
    }
    double fl = g->block_fill ? g->cur_min : 1e300;
    for (int i = 0; i < g->n_blocks; i++)
        if (g->block_min[i] < fl) fl = g->block_min[i];
    if (fl > 1e299) fl = g->level;
    g->floor = fl;

    int above = g->level > g->floor + g->gp.threshold_db && g->level > g->gp.abs_floor_db &&
                (g->gp.contrast_db <= 0 || g->contrast > g->gp.contrast_db);
    g->above_run = above ? g->above_run + 1 : 0;
    if (g->above_run >= g->onset_hops || (g->active && above)) {
        g->active = 1;
        g->hang_left = g->hang_hops;
    } else if (g->active) {
        if (g->hang_left > 0) g->hang_left--;
        else g->active = 0;
    }
    return g->active;
}

float gate_level_db(const gate *g) { return (float)g->level; }
float gate_floor_db(const gate *g) { return (float)g->floor; }
float gate_contrast_db(const gate *g) { return (float)g->contrast; }
