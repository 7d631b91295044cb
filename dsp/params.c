/* dsp parameters, error strings and the mel filterbank (construction-time code only). */
#include "dsp_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dsp_strerror(int code)
{
    switch (code) {
    case DSP_OK: return "success";
    case DSP_EINVAL: return "invalid argument";
    case DSP_ENOMEM: return "out of memory";
    case DSP_EFFTW: return "FFTW could not make a plan";
    case DSP_ESOXR: return "libsoxr error";
    case DSP_ENONFINITE: return "NaN or Inf in the samples";
    default: return "unknown dsp error";
    }
}

int dsp__fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int dsp__all_finite(const float *x, size_t n)
{
    /* OR-reduce "exponent all ones" over the chunk: branch-free, so it vectorises and the cost
     * per 10 ms hop is a few nanoseconds. */
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

void dsp_params_default(dsp_params *p)
{
    memset(p, 0, sizeof *p);
    p->sample_rate = 16000;
    p->win_length = 400;
    p->hop_length = 160;
    p->n_fft = 512;
    p->n_mels = 128;
    p->f_min = 0.0f;
    p->f_max = 8000.0f;
    p->mel_scale = DSP_MEL_SLANEY;
    p->log_floor = 1e-10f;
}

/* Slaney (Auditory Toolbox) scale as in librosa's hz_to_mel(htk=False): 3 mels per 200 Hz up to
 * 1 kHz (15 mels), then 27 mels per factor 6.4 in frequency. */
#define SLANEY_F_SP (200.0 / 3.0)
#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL (SLANEY_MIN_LOG_HZ / SLANEY_F_SP)
#define SLANEY_LOGSTEP (log(6.4) / 27.0)

double dsp__hz_to_mel(double hz, int scale)
{
    if (scale == DSP_MEL_HTK)
        return 2595.0 * log10(1.0 + hz / 700.0);
    if (hz < SLANEY_MIN_LOG_HZ)
        return hz / SLANEY_F_SP;
    return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
}

double dsp__mel_to_hz(double mel, int scale)
{
    if (scale == DSP_MEL_HTK)
        return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    if (mel < SLANEY_MIN_LOG_MEL)
        return mel * SLANEY_F_SP;
    return SLANEY_MIN_LOG_HZ * exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
}

/* Edge b (0..n_mels+1) of the triangles: n_mels+2 points evenly spaced in mel. */
static double band_edge(const dsp_params *p, int b)
{
    double m0 = dsp__hz_to_mel(p->f_min, p->mel_scale);
    double m1 = dsp__hz_to_mel(p->f_max, p->mel_scale);
    return dsp__mel_to_hz(m0 + (m1 - m0) * b / (p->n_mels + 1), p->mel_scale);
}

int dsp_params_check(const dsp_params *p, char *err, size_t errlen)
{
    if (!p)
        return dsp__fail(err, errlen, DSP_EINVAL, "params: NULL");
    if (p->sample_rate < 1000 || p->sample_rate > 384000)
        return dsp__fail(err, errlen, DSP_EINVAL, "sample_rate %d Hz out of range 1000..384000",
                         (int)p->sample_rate);
    if (p->win_length < 16 || p->win_length > 65536)
        return dsp__fail(err, errlen, DSP_EINVAL, "win_length %d out of range 16..65536",
                         (int)p->win_length);
    if (p->n_fft < p->win_length)
        return dsp__fail(err, errlen, DSP_EINVAL, "n_fft %d < win_length %d", (int)p->n_fft,
                         (int)p->win_length);
    if (p->n_fft > 65536)
        return dsp__fail(err, errlen, DSP_EINVAL, "n_fft %d > 65536", (int)p->n_fft);
    if (p->hop_length < 1 || p->hop_length > p->win_length)
        return dsp__fail(err, errlen, DSP_EINVAL,
                         "hop_length %d out of range 1..win_length (%d)", (int)p->hop_length,
                         (int)p->win_length);
    if (p->n_mels < 1 || p->n_mels > 1024)
        return dsp__fail(err, errlen, DSP_EINVAL, "n_mels %d out of range 1..1024",
                         (int)p->n_mels);
    if (p->mel_scale != DSP_MEL_SLANEY && p->mel_scale != DSP_MEL_HTK)
        return dsp__fail(err, errlen, DSP_EINVAL,
                         "mel_scale %d unknown (0 = slaney, 1 = htk)", (int)p->mel_scale);
    if (!isfinite(p->f_min) || p->f_min < 0)
        return dsp__fail(err, errlen, DSP_EINVAL, "f_min %g Hz must be finite and >= 0",
                         (double)p->f_min);
    if (!isfinite(p->f_max) || p->f_max <= p->f_min || p->f_max > p->sample_rate / 2.0)
        return dsp__fail(err, errlen, DSP_EINVAL,
                         "f_max %g Hz out of range (f_min %g, sample_rate/2 %g]",
                         (double)p->f_max, (double)p->f_min, p->sample_rate / 2.0);
    if (!isfinite(p->log_floor) || !(p->log_floor >= 1e-37f) || p->log_floor > 1.0f)
        return dsp__fail(err, errlen, DSP_EINVAL, "log_floor %g out of range [1e-37, 1]",
                         (double)p->log_floor);
    if (p->denoise_db < -90 || p->denoise_db > 0)
        return dsp__fail(err, errlen, DSP_EINVAL,
                         "denoise_db %d out of range -90..0 (0 = no noise suppression)",
                         (int)p->denoise_db);
    /* Every band must cover at least one FFT bin strictly inside its triangle, or it would be a
     * constant ln(log_floor) channel: too many bands for the FFT resolution. */
    double df = (double)p->sample_rate / p->n_fft;
    int last_bin = p->n_fft / 2;
    for (int b = 0; b < p->n_mels; b++) {
        double lo = band_edge(p, b), hi = band_edge(p, b + 2);
        double k = floor(lo / df) + 1.0;
        if (!(k * df < hi) || k > last_bin)
            return dsp__fail(err, errlen, DSP_EINVAL,
                             "n_mels %d too many for n_fft %d at %d Hz: band %d (%.1f..%.1f Hz) "
                             "contains no FFT bin", (int)p->n_mels, (int)p->n_fft,
                             (int)p->sample_rate, b, lo, hi);
    }
    return DSP_OK;
}

int dsp_params_equal(const dsp_params *a, const dsp_params *b)
{
    return a->sample_rate == b->sample_rate && a->win_length == b->win_length &&
           a->hop_length == b->hop_length && a->n_fft == b->n_fft && a->n_mels == b->n_mels &&
           a->f_min == b->f_min && a->f_max == b->f_max && a->mel_scale == b->mel_scale &&
           a->log_floor == b->log_floor && a->denoise_db == b->denoise_db;
}

void dsp__melbank_free(dsp__melbank *mb)
{
    free(mb->start);
    free(mb->len);
    free(mb->off);
    free(mb->weights);
    memset(mb, 0, sizeof *mb);
}

int dsp__melbank_build(const dsp_params *p, dsp__melbank *mb)
{
    int n = p->n_mels, n_bins = p->n_fft / 2 + 1;
    double *edge = NULL;
    memset(mb, 0, sizeof *mb);
    mb->n_mels = n;
    mb->n_bins = n_bins;
    edge = malloc(sizeof *edge * (size_t)(n + 2));
    mb->start = calloc((size_t)n, sizeof *mb->start);
    mb->len = calloc((size_t)n, sizeof *mb->len);
    mb->off = calloc((size_t)n, sizeof *mb->off);
    if (!edge || !mb->start || !mb->len || !mb->off)
        goto fail;
    for (int b = 0; b < n + 2; b++)
        edge[b] = band_edge(p, b);

    /* First pass: the bin range with non-zero weight, for the flat weight array's size. */
    double df = (double)p->sample_rate / p->n_fft;
    size_t total = 0;
    for (int b = 0; b < n; b++) {
        int first = -1, last = -1;
        for (int k = 0; k < n_bins; k++) {
            double f = k * df;
            if (f > edge[b] && f < edge[b + 2]) {
                if (first < 0)
                    first = k;
                last = k;
            }
        }
        mb->start[b] = first < 0 ? 0 : first;
        mb->len[b] = first < 0 ? 0 : last - first + 1;
        mb->off[b] = (int)total;
        total += (size_t)mb->len[b];
    }
    mb->weights = malloc(sizeof *mb->weights * (total ? total : 1));
    if (!mb->weights)
        goto fail;
    for (int b = 0; b < n; b++) {
        /* Slaney area normalisation: each triangle integrates to the same area, 2/(hi-lo). */
        double norm = p->mel_scale == DSP_MEL_SLANEY ? 2.0 / (edge[b + 2] - edge[b]) : 1.0;
        for (int j = 0; j < mb->len[b]; j++) {
            double f = (mb->start[b] + j) * df;
            double lower = (f - edge[b]) / (edge[b + 1] - edge[b]);
            double upper = (edge[b + 2] - f) / (edge[b + 2] - edge[b + 1]);
            double w = fmax(0.0, fmin(lower, upper));
            mb->weights[mb->off[b] + j] = w * norm;
        }
    }
    free(edge);
    return DSP_OK;
fail:
    free(edge);
    dsp__melbank_free(mb);
    return DSP_ENOMEM;
}
