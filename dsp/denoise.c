/* Noise suppression ahead of the log-mel: speexdsp's preprocessor with only its denoiser on (no
 * AGC, VAD or dereverberation), run on blocks of hop_length samples at the model rate.
 *
 * Why speexdsp: a steady noise (fan, road, white noise) lifts every mel band a speaker's voice
 * does not fill, and a model trained in quiet rooms reads that as a different voice. Speex tracks
 * the noise spectrum per band with a minimum-statistics estimator and attenuates it by at most
 * |denoise_db|; it is a packaged, maintained library (Debian libspeexdsp) rather than a
 * hand-written spectral subtractor. Its API is 16-bit, so samples are scaled by 32768 and clipped,
 * which puts a quantisation floor about 96 dB under full scale, below the speech any microphone
 * delivers. Output lags input by one block (10 ms at the default hop: tested in test_logmel).
 * The state gathers pushed samples into whole blocks itself, so the log-mel and the pitch tracker
 * (DSP_PITCH_SUPPRESSED) take its output the same way. */
#include "dsp_internal.h"

#include <math.h>
#include <speex/speex_preprocess.h>
#include <stdlib.h>
#include <string.h>

struct dsp__denoise {
    SpeexPreprocessState *st;
    int block, rate, suppress_db;
    spx_int16_t *pcm;      /* block samples, is malloc'd */
    float *in;             /* block samples being gathered, then the denoised block, is malloc'd */
    int fill;              /* samples gathered in `in` */
};

static SpeexPreprocessState *make_state(int block, int rate, int suppress_db)
{
    SpeexPreprocessState *st = speex_preprocess_state_init(block, rate);
    if (!st)
        return NULL;
    int on = 1, off = 0, db = suppress_db;
    speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_DENOISE, &on);
    speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_AGC, &off);
    speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_DEREVERB, &off);
    speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &db);
    return st;
}

int dsp__denoise_new(int block, int rate, int suppress_db, dsp__denoise **out)
{
    dsp__denoise *d = calloc(1, sizeof *d);
    if (!d)
        return DSP_ENOMEM;
    d->block = block;
    d->rate = rate;
    d->suppress_db = suppress_db;
    d->pcm = malloc(sizeof(spx_int16_t) * (size_t)block);
    d->in = malloc(sizeof(float) * (size_t)block);
    d->st = make_state(block, rate, suppress_db);
    if (!d->pcm || !d->in || !d->st) {
        dsp__denoise_free(d);
        return DSP_ENOMEM;
    }
    *out = d;
    return DSP_OK;
}

void dsp__denoise_free(dsp__denoise *d)
{
    if (!d)
        return;
    if (d->st)
        speex_preprocess_state_destroy(d->st);
    free(d->pcm);
    free(d->in);
    free(d);
}

int dsp__denoise_reset(dsp__denoise *d)
{
    /* speexdsp has no reset: a fresh state is the only way to forget the noise estimate, and
     * a reset stream must give what a new one gives. */
    d->fill = 0;
    if (d->st)
        speex_preprocess_state_destroy(d->st);
    d->st = make_state(d->block, d->rate, d->suppress_db);
    return d->st ? DSP_OK : DSP_ENOMEM;
}

int dsp__denoise_ready(const dsp__denoise *d)
{
    return d->st != NULL;
}

static void denoise_block(dsp__denoise *d, float *x)
{
    for (int i = 0; i < d->block; i++) {
        float v = x[i] * 32768.0f;
        v = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
        d->pcm[i] = (spx_int16_t)lrintf(v);
    }
    speex_preprocess_run(d->st, d->pcm);
    for (int i = 0; i < d->block; i++)
        x[i] = (float)d->pcm[i] * (1.0f / 32768.0f);
}

const float *dsp__denoise_take(dsp__denoise *d, const float **x, size_t *n)
{
    size_t k = (size_t)(d->block - d->fill);
    if (k > *n)
        k = *n;
    if (k)
        memcpy(d->in + d->fill, *x, sizeof(float) * k);
    d->fill += (int)k;
    *x += k;
    *n -= k;
    if (d->fill < d->block)
        return NULL;
    d->fill = 0;
    denoise_block(d, d->in);
    return d->in;
}
