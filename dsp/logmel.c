/* Streaming log-mel. Streaming and batch share one per-frame function (frame_compute) that reads
 * win_length contiguous samples: streaming keeps a linear buffer of the last win_length samples
 * (shifted by hop_length after each frame), batch points straight into the caller's signal. The
 * float values entering frame_compute are therefore identical, and so are the frames, bit for bit,
 * whatever the chunking.
 *
 * Arithmetic inside a frame is double (window, FFTW's double r2c, power, mel sums, log); only the
 * output is float. A float32 FFT's rounding error is relative to the whole frame's energy, so
 * bands 50-60 dB below a strong tone came out 3e-4 off the exact value; in double they are
 * within 2e-5 (tests/dsp/test_reference.py). It is also not slower here: 1.8 us per frame in
 * double against 2.5 us with fftwf and logf on the 2-core EPYC used for BENCHMARKS.md.
 *
 * With denoise_db the samples first gather into hop-sized blocks for the denoiser (denoise.c),
 * and only denoised blocks enter the frame buffer; batch then runs the streaming path over the
 * whole signal, so the two stay identical by construction. */
#include "dsp_internal.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dsp_logmel {
    dsp_params p;
    int n_bins;            /* n_fft/2 + 1 */
    int fill;              /* samples currently in buf */
    int64_t index;         /* index of the next frame */
    double *window;        /* win_length, periodic Hamming, is malloc'd */
    float *buf;            /* win_length newest samples, is malloc'd */
    double *power;         /* n_bins, is malloc'd */
    float *frame;          /* n_mels, the frame handed to the callback, is malloc'd */
    double *fft_in;        /* n_fft, fftw_malloc'd (aligned for SIMD codelets) */
    fftw_complex *fft_out; /* n_bins, fftw_malloc'd */
    fftw_plan plan;
    dsp__melbank mel;
    dsp__denoise *dn;      /* NULL when denoise_db == 0 */
};

/* noinline: one machine-code body for both callers, so inlining cannot give the batch and the
 * streaming path different instruction sequences (the build has no FMA contraction either way:
 * -std=c11 implies -ffp-contract=off in GCC). */
__attribute__((noinline)) static void frame_compute(dsp_logmel *s, const float *x, float *dst)
{
    const int win = s->p.win_length, n_fft = s->p.n_fft, n_bins = s->n_bins;
    double *in = s->fft_in;
    for (int i = 0; i < win; i++)
        in[i] = (double)x[i] * s->window[i];
    for (int i = win; i < n_fft; i++)
        in[i] = 0.0;
    fftw_execute(s->plan);
    const fftw_complex *X = s->fft_out;
    for (int k = 0; k < n_bins; k++)
        s->power[k] = X[k][0] * X[k][0] + X[k][1] * X[k][1];
    /* The floor is the float32 log_floor, so silence gives exactly (float)ln(log_floor). */
    const double floor_ = (double)s->p.log_floor;
    const dsp__melbank *mb = &s->mel;
    for (int b = 0; b < mb->n_mels; b++) {
        const double *w = mb->weights + mb->off[b];
        const double *pw = s->power + mb->start[b];
        double e = 0.0;
        for (int j = 0; j < mb->len[b]; j++)
            e += w[j] * pw[j];
        dst[b] = (float)log(e > floor_ ? e : floor_);
    }
}

int dsp_logmel_new(const dsp_params *p, dsp_logmel **out, char *err, size_t errlen)
{
    int rc = dsp_params_check(p, err, errlen);
    if (rc)
        return rc;
    dsp_logmel *s = calloc(1, sizeof *s);
    if (!s)
        return dsp__fail(err, errlen, DSP_ENOMEM, "dsp_logmel: out of memory");
    s->p = *p;
    s->n_bins = p->n_fft / 2 + 1;
    s->window = malloc(sizeof(double) * (size_t)p->win_length);
    s->buf = calloc((size_t)p->win_length, sizeof(float));
    s->power = calloc((size_t)s->n_bins, sizeof(double));
    s->frame = calloc((size_t)p->n_mels, sizeof(float));
    s->fft_in = fftw_malloc(sizeof(double) * (size_t)p->n_fft);
    s->fft_out = fftw_malloc(sizeof(fftw_complex) * (size_t)s->n_bins);
    if (!s->window || !s->buf || !s->power || !s->frame || !s->fft_in || !s->fft_out) {
        rc = dsp__fail(err, errlen, DSP_ENOMEM, "dsp_logmel: out of memory");
        goto fail;
    }
    if ((rc = dsp__melbank_build(p, &s->mel))) {
        dsp__fail(err, errlen, rc, "dsp_logmel: out of memory (mel filterbank)");
        goto fail;
    }
    /* Periodic Hamming (scipy get_window('hamming', N, fftbins=True), torch.hamming_window's
     * default): the window librosa/torchaudio pipelines use for STFTs. */
    for (int i = 0; i < p->win_length; i++)
        s->window[i] = 0.54 - 0.46 * cos(2.0 * M_PI * i / p->win_length);
    memset(s->fft_in, 0, sizeof(double) * (size_t)p->n_fft);
    /* FFTW_ESTIMATE: the plan depends only on size, alignment and CPU, never on timing, so every
     * process (training's feature extraction, the daemon, each sidecar stream) computes the same
     * floats; MEASURE could pick a different algorithm per run. Planning is not thread-safe in
     * FFTW, which is why it happens here and nowhere else. */
    s->plan = fftw_plan_dft_r2c_1d(p->n_fft, s->fft_in, s->fft_out, FFTW_ESTIMATE);
    if (!s->plan) {
        rc = dsp__fail(err, errlen, DSP_EFFTW, "dsp_logmel: FFTW could not plan a %d-point r2c",
                       (int)p->n_fft);
        goto fail;
    }
    if (p->denoise_db) {
        if (dsp__denoise_new(p->hop_length, p->sample_rate, p->denoise_db, &s->dn)) {
            rc = dsp__fail(err, errlen, DSP_ENOMEM, "dsp_logmel: out of memory (denoiser)");
            goto fail;
        }
    }
    *out = s;
    return DSP_OK;
fail:
    dsp_logmel_free(s);
    return rc;
}

void dsp_logmel_free(dsp_logmel *s)
{
    if (!s)
        return;
    if (s->plan)
        fftw_destroy_plan(s->plan);
    fftw_free(s->fft_in);
    fftw_free(s->fft_out);
    free(s->window);
    free(s->buf);
    free(s->power);
    free(s->frame);
    dsp__melbank_free(&s->mel);
    dsp__denoise_free(s->dn);
    free(s);
}

void dsp_logmel_reset(dsp_logmel *s)
{
    s->fill = 0;
    s->index = 0;
    if (s->dn)
        dsp__denoise_reset(s->dn); /* on failure the next push says DSP_ENOMEM */
}

const dsp_params *dsp_logmel_params(const dsp_logmel *s)
{
    return &s->p;
}

/* Moves up to cap - *fill samples from (*x, *n) into buf; 1 when buf is then full. */
static int fill_from(float *buf, int *fill, int cap, const float **x, size_t *n)
{
    size_t take = (size_t)(cap - *fill);
    if (take > *n)
        take = *n;
    memcpy(buf + *fill, *x, take * sizeof(float));
    *fill += (int)take;
    *x += take;
    *n -= take;
    return *fill == cap;
}

/* The frame path: samples (denoised when enabled) into the window buffer, frames out. */
static void feed(dsp_logmel *s, const float *x, size_t n, dsp_frame_cb cb, void *user)
{
    const int win = s->p.win_length, hop = s->p.hop_length;
    while (n > 0 && fill_from(s->buf, &s->fill, win, &x, &n)) {
        frame_compute(s, s->buf, s->frame);
        if (cb)
            cb(user, s->frame, s->index);
        s->index++;
        /* Keep the overlap: the next frame starts hop samples later. */
        memmove(s->buf, s->buf + hop, sizeof(float) * (size_t)(win - hop));
        s->fill = win - hop;
    }
}

int dsp_logmel_push(dsp_logmel *s, const float *x, size_t n, dsp_frame_cb cb, void *user)
{
    if (n == 0)
        return DSP_OK;
    if (!x)
        return DSP_EINVAL;
    if (!dsp__all_finite(x, n))
        return DSP_ENONFINITE;
    if (!s->dn) {
        feed(s, x, n, cb, user);
        return DSP_OK;
    }
    if (!dsp__denoise_ready(s->dn))
        return DSP_ENOMEM; /* its last reset failed; nothing consumed */
    const float *block;
    while ((block = dsp__denoise_take(s->dn, &x, &n)))
        feed(s, block, (size_t)s->p.hop_length, cb, user);
    return DSP_OK;
}

int64_t dsp_logmel_frame_count(const dsp_params *p, size_t n_samples)
{
    if (dsp_params_check(p, NULL, 0))
        return DSP_EINVAL;
    if (p->denoise_db) /* the denoiser only hands on whole hops */
        n_samples -= n_samples % (size_t)p->hop_length;
    if (n_samples < (size_t)p->win_length)
        return 0;
    return 1 + (int64_t)((n_samples - (size_t)p->win_length) / (size_t)p->hop_length);
}

int64_t dsp_logmel_frame_end(const dsp_params *p, int64_t index)
{
    return index * p->hop_length + p->win_length - (p->denoise_db ? p->hop_length : 0);
}

struct batch_out {
    float *out;
    size_t n_mels;
};

static void batch_frame(void *user, const float *frame, int64_t index)
{
    struct batch_out *o = user;
    memcpy(o->out + (size_t)index * o->n_mels, frame, sizeof(float) * o->n_mels);
}

int64_t dsp_logmel_batch(const dsp_params *p, const float *x, size_t n, float *out,
                         size_t max_frames)
{
    int64_t frames = dsp_logmel_frame_count(p, n);
    if (frames < 0 || !out)
        return frames; /* count only: x is not read */
    if ((size_t)frames > max_frames || (!x && n))
        return DSP_EINVAL;
    /* Same refusal as streaming, even when the signal is shorter than a frame. */
    if (n && !dsp__all_finite(x, n))
        return DSP_ENONFINITE;
    if (frames == 0)
        return 0;
    dsp_logmel *s;
    int rc = dsp_logmel_new(p, &s, NULL, 0);
    if (rc)
        return rc;
    if (s->dn) {
        struct batch_out o = {out, (size_t)p->n_mels};
        rc = dsp_logmel_push(s, x, n, batch_frame, &o);
    } else {
        for (int64_t i = 0; i < frames; i++)
            frame_compute(s, x + (size_t)i * (size_t)p->hop_length,
                          out + (size_t)i * (size_t)p->n_mels);
    }
    dsp_logmel_free(s);
    return rc ? rc : frames;
}
