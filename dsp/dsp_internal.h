/* dsp internals shared by the dsp/ sources; not installed, not for other modules. */
#ifndef EMOTIOND_DSP_INTERNAL_H
#define EMOTIOND_DSP_INTERNAL_H

#include "dsp.h"

#include <stdarg.h>

/* Sparse triangular filterbank: band b weights bins [start[b], start[b] + len[b]) with
 * weights[off[b] ...]. Each triangle spans a handful of bins, so the sparse form is ~n_fft/2*2
 * multiply-adds per frame instead of n_mels * (n_fft/2 + 1). */
typedef struct dsp__melbank {
    int n_mels;
    int n_bins;        /* n_fft/2 + 1 */
    int *start;        /* n_mels, is malloc'd */
    int *len;          /* n_mels, is malloc'd */
    int *off;          /* n_mels, is malloc'd */
    double *weights;   /* sum(len), is malloc'd */
} dsp__melbank;

/* Hz <-> mel on the scale chosen in p (double precision, shared by check and build). */
double dsp__hz_to_mel(double hz, int scale);
double dsp__mel_to_hz(double mel, int scale);
/* Builds the filterbank for checked params; DSP_ENOMEM on allocation failure. */
int dsp__melbank_build(const dsp_params *p, dsp__melbank *mb);
void dsp__melbank_free(dsp__melbank *mb);

/* Noise suppressor of dsp_logmel and of dsp_pitch's suppressed form (denoise.c): denoises
 * blocks of `block` samples, output one block behind input. _new and _reset allocate; _take does
 * not, and must not be called when _ready says 0 (a failed reset, until one succeeds). */
typedef struct dsp__denoise dsp__denoise;
int dsp__denoise_new(int block, int rate, int suppress_db, dsp__denoise **out);
void dsp__denoise_free(dsp__denoise *d);
int dsp__denoise_reset(dsp__denoise *d);
int dsp__denoise_ready(const dsp__denoise *d);
/* Moves samples from *x (advancing it, decreasing *n) into the block being gathered; when that
 * completes a block, denoises it and returns it (valid until the next call), else returns NULL
 * with *n == 0. Call until NULL. _reset forgets a partly gathered block. Does not allocate. */
const float *dsp__denoise_take(dsp__denoise *d, const float **x, size_t *n);

/* snprintf into err when err is non-NULL; returns code so callers can `return dsp__fail(...)`. */
int dsp__fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when every x[i] is finite. Checks the exponent bits so it stays correct under -ffast-math. */
int dsp__all_finite(const float *x, size_t n);

#endif
