/* dsp: streaming log-mel front end, pitch tracker and resampler for emotiond.
 *
 * Promises: push audio in any chunking (down to one sample at a time) and get exactly the frames
 * that one batch call over the same samples gives, bit for bit. No I/O, no global state; every
 * buffer and the FFTW plan are made in the _new functions, so the per-hop path never allocates,
 * locks or calls the kernel. Objects are not thread-safe; use one per stream.
 *
 * Frame i covers samples [i*hop, i*hop + win) of the stream (no centring, no padding: the front
 * end is causal, which the streaming model needs). A stream of n samples yields
 * n < win ? 0 : 1 + (n - win) / hop frames (with denoise_db, n rounded down to whole hops first).
 *
 * Errors: functions returning int give 0 or a negative DSP_E* code; dsp_strerror() names it.
 */
#ifndef EMOTIOND_DSP_H
#define EMOTIOND_DSP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DSP_OK = 0,
    DSP_EINVAL = -1,   /* a parameter is out of range (see dsp_params_check's message) */
    DSP_ENOMEM = -2,   /* allocation failed at construction */
    DSP_EFFTW = -3,    /* FFTW could not make a plan */
    DSP_ESOXR = -4,    /* libsoxr refused the configuration or failed */
    DSP_ENONFINITE = -5 /* NaN or Inf samples were pushed */
};

const char *dsp_strerror(int code);

/* Mel scales. Default: DSP_MEL_SLANEY (linear below 1 kHz, logarithmic above; librosa's and
 * torchaudio's "slaney" scale) with Slaney area normalisation of each triangle (2/(f_hi-f_lo)),
 * so that bands of different width carry comparable energy; this is what the research's
 * librosa-based pipelines computed. DSP_MEL_HTK: 2595*log10(1+f/700), no area normalisation. */
enum dsp_mel_scale { DSP_MEL_SLANEY = 0, DSP_MEL_HTK = 1 };

/* Everything that defines the features. The model file carries a copy; a model is only run on
 * frames made with identical parameters (dsp_params_equal). */
typedef struct dsp_params {
    int32_t sample_rate;   /* Hz of the samples pushed into dsp_logmel (the model rate). 16000 */
    int32_t win_length;    /* samples per frame, periodic Hamming window. 400 (25 ms at 16 kHz) */
    int32_t hop_length;    /* samples between frame starts, 1..win_length. 160 (10 ms) */
    int32_t n_fft;         /* FFT size, >= win_length; the frame is zero-padded at the end. 512 */
    int32_t n_mels;        /* mel bands; each must contain an FFT bin (checked). 128 */
    float f_min;           /* Hz, lowest mel edge. 0 */
    float f_max;           /* Hz, highest mel edge, <= sample_rate/2. 8000 */
    int32_t mel_scale;     /* enum dsp_mel_scale. DSP_MEL_SLANEY */
    float log_floor;       /* output = ln(max(mel_energy, log_floor)), energy of |X|^2 with
                              samples in [-1, 1]. 1e-10 (-23.03) */
    int32_t denoise_db;    /* 0: off. -90..-1: steady noise is suppressed by up to this many dB
                              (speexdsp's denoiser on blocks of hop_length samples) before the
                              frames are made; samples are then only used in whole hops and the
                              frames lag the audio by one more hop. 0 */
} dsp_params;

/* Fills the defaults listed above. */
void dsp_params_default(dsp_params *p);
/* 0 if p is usable; otherwise DSP_EINVAL and a message naming the field and its allowed range. */
int dsp_params_check(const dsp_params *p, char *err, size_t errlen);
/* 1 if both describe identical features. */
int dsp_params_equal(const dsp_params *a, const dsp_params *b);

/* ---- streaming log-mel ---- */
typedef struct dsp_logmel dsp_logmel;

/* Called once per completed frame, in order. `frame` holds n_mels floats and is valid only
 * during the call; `index` counts frames from 0 since creation or the last reset. */
typedef void (*dsp_frame_cb)(void *user, const float *frame, int64_t index);

/* Creates a front end for p (copied). On success *out is owned by the caller: dsp_logmel_free.
 * Makes the FFTW plan (FFTW_ESTIMATE, so every process computes the same floats); FFTW's planner
 * is not thread-safe, so do not create front ends from several threads at once. */
int dsp_logmel_new(const dsp_params *p, dsp_logmel **out, char *err, size_t errlen);
void dsp_logmel_free(dsp_logmel *s);
/* Forgets buffered samples; the next frame starts at the next sample pushed, with index 0.
 * With denoise_db the noise estimate is forgotten too: that makes a new speexdsp state, so the
 * call allocates (like dsp_resampler_reset, a stream boundary, not the per-hop path); if that
 * fails, push reports DSP_ENOMEM until a later reset succeeds. */
void dsp_logmel_reset(dsp_logmel *s);
const dsp_params *dsp_logmel_params(const dsp_logmel *s);

/* Pushes n samples; calls cb (may be NULL) for each frame they complete. NaN/Inf samples are
 * refused whole (DSP_ENONFINITE, nothing consumed) so one bad sample cannot poison the stream's
 * frames. cb must not push to or reset s. Returns 0 or a DSP_E* code. */
int dsp_logmel_push(dsp_logmel *s, const float *x, size_t n, dsp_frame_cb cb, void *user);

/* Batch: frames of the whole signal x[0..n) into out (row-major [frames][n_mels]); returns the
 * frame count (or a negative code). out may be NULL to ask for the count (x is then not read);
 * max_frames smaller than the count is DSP_EINVAL with nothing written. Identical, bit for bit,
 * to pushing x through a fresh dsp_logmel in any chunking. Makes its own FFTW plan, so like
 * dsp_logmel_new it must not run concurrently with other FFTW planning. */
int64_t dsp_logmel_batch(const dsp_params *p, const float *x, size_t n, float *out, size_t max_frames);
int64_t dsp_logmel_frame_count(const dsp_params *p, size_t n_samples);
/* Where frame `index` (0-based) ends in the input, in samples at p->sample_rate (exclusive):
 * index * hop_length + win_length, one hop earlier with the suppressor, whose output lags its
 * input by one hop. Timestamps of frames and of what is computed from them use this. */
int64_t dsp_logmel_frame_end(const dsp_params *p, int64_t index);

/* ---- streaming pitch (YIN), one estimate per log-mel frame ---- */
/* Frame i of a dsp_pitch holds DSP_PITCH_DIM floats: [ln F0 in Hz, periodicity in 0..1]. F0 is
 * searched in DSP_PITCH_F0_MIN..DSP_PITCH_F0_MAX over the 2 x sample_rate / F0_MIN raw samples
 * (before any denoising; zeros before the stream's start) that end where log-mel frame i ends
 * (dsp_logmel_frame_end). Where the frame is not voiced (periodicity under 0.65, or silence,
 * which gives periodicity 0) ln F0 holds the last voiced value, ln DSP_PITCH_F0_START before
 * any. A stream of n samples yields the same count as the log-mel, dsp_logmel_frame_count;
 * pushing yields frame i once its end has been pushed (with denoise_db a hop before the log-mel
 * frame). With the flag DSP_PITCH_SUPPRESSED (needs denoise_db) it reads the noise suppressor's
 * output instead, the samples the log-mel reads, and yields frame i when the log-mel does. Same
 * promises as dsp_logmel: any chunking gives the batch's frames bit for bit, no allocation after
 * _new, NaN/Inf refused whole. */
#define DSP_PITCH_DIM 2
#define DSP_PITCH_F0_MIN 60.0
#define DSP_PITCH_F0_MAX 500.0
#define DSP_PITCH_F0_START 150.0
#define DSP_PITCH_SUPPRESSED 1u /* flag: track the noise suppressor's output */
typedef struct dsp_pitch dsp_pitch;

/* On success *out is owned by the caller: dsp_pitch_free. flags: 0 or DSP_PITCH_SUPPRESSED. */
int dsp_pitch_new(const dsp_params *p, unsigned flags, dsp_pitch **out, char *err, size_t errlen);
void dsp_pitch_free(dsp_pitch *s);
/* Forgets the stream and the held F0 (and the suppressor's noise estimate: that one allocates, as
 * dsp_logmel_reset); the next frame has index 0. Otherwise does not allocate. */
void dsp_pitch_reset(dsp_pitch *s);
/* Pushes n samples; cb (may be NULL) gets each completed frame (DSP_PITCH_DIM floats, valid
 * during the call). Returns 0 or a DSP_E* code. */
int dsp_pitch_push(dsp_pitch *s, const float *x, size_t n, dsp_frame_cb cb, void *user);
/* Batch: dsp_logmel_frame_count(p, n) frames into out ([frames][DSP_PITCH_DIM]); out NULL asks
 * for the count; max_frames smaller than it is DSP_EINVAL with nothing written. */
int64_t dsp_pitch_batch(const dsp_params *p, unsigned flags, const float *x, size_t n, float *out,
                        size_t max_frames);

/* ---- streaming resampler (libsoxr) with channel downmix ---- */
typedef struct dsp_resampler dsp_resampler;

/* in_rate 8000..192000 Hz, channels 1..32 (interleaved float input, averaged to mono),
 * out_rate: the model rate. When in_rate == out_rate the samples are only downmixed.
 * On success *out is owned by the caller: dsp_resampler_free. */
int dsp_resampler_new(double in_rate, int channels, double out_rate, dsp_resampler **out,
                      char *err, size_t errlen);
void dsp_resampler_free(dsp_resampler *r);
/* Consumes all in_frames interleaved frames; writes the mono samples they complete to out,
 * *out_n = count. out_cap must be >= dsp_resampler_max_out(r, in_frames): otherwise DSP_EINVAL
 * and nothing is consumed, so no output is ever dropped or held back for lack of room. NaN/Inf
 * input is refused whole (DSP_ENONFINITE), as in dsp_logmel_push. The result does not depend on
 * how the input is chunked (bit for bit; tested). No allocation: soxr is primed in _new (for
 * integer rates; see docs/dsp.md). */
int dsp_resampler_process(dsp_resampler *r, const float *in, size_t in_frames, float *out,
                          size_t out_cap, size_t *out_n);
/* End of stream: drains what the filter still holds (out_cap >= dsp_resampler_max_out(r, 0)),
 * then resets r for a new stream. */
int dsp_resampler_flush(dsp_resampler *r, float *out, size_t out_cap, size_t *out_n);
/* Upper bound on the output of processing in_frames more frames now. */
size_t dsp_resampler_max_out(const dsp_resampler *r, size_t in_frames);
/* Latency the resampler adds, in output samples: how far its output lags its input in steady
 * state, measured in _new on a probe instance (0 for passthrough). Timing is otherwise kept:
 * output sample k stands for time k/out_rate to within ~2 samples (soxr trims its filter's
 * delay). About 200 samples (12.5 ms) from 48 kHz to 16 kHz; table in docs/dsp.md. */
double dsp_resampler_delay(const dsp_resampler *r);
/* Forgets the stream (a new soxr instance: allocates, so not for the per-hop path). */
void dsp_resampler_reset(dsp_resampler *r);

#ifdef __cplusplus
}
#endif
#endif
