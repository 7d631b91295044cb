#include "feature_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    dsp_logmel *lm;
    int n_mels;
    float *rows;          /* is malloc'd, grows by doubling when the length was unknown */
    size_t n, cap;        /* frames stored / capacity in frames */
    int oom;
    cli_progress *progress;
    const char *name;
} collect;

static void on_frame(void *user, const float *frame, int64_t index)
{
    collect *c = user;
    (void)index;
    if (c->oom)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        float *nr = realloc(c->rows, cap * (size_t)c->n_mels * sizeof(float));
        if (!nr) {
            c->oom = 1;
            return;
        }
        c->rows = nr;
        c->cap = cap;
    }
    memcpy(c->rows + c->n * (size_t)c->n_mels, frame, (size_t)c->n_mels * sizeof(float));
    c->n++;
}

static int on_chunk(void *user, const float *x, size_t n, char *err, size_t errlen)
{
    collect *c = user;
    int rc = dsp_logmel_push(c->lm, x, n, on_frame, c);
    if (rc != 0) {
        snprintf(err, errlen, "feature extraction failed: %s", dsp_strerror(rc));
        return -1;
    }
    if (c->oom) {
        snprintf(err, errlen, "out of memory after %zu frames", c->n);
        return -1;
    }
    return 0;
}

static void on_progress(void *user, double fraction)
{
    collect *c = user;
    if (c->progress)
        cli_progress_pct(c->progress, c->name, fraction);
}

int features_compute(audio_file *f, const dsp_params *p, cli_progress *progress, const char *name,
                     float **out, size_t *n_frames, char *err, size_t errlen)
{
    *out = NULL;
    *n_frames = 0;
    collect c = {.n_mels = p->n_mels, .progress = progress, .name = name};
    char derr[256];
    if (dsp_logmel_new(p, &c.lm, derr, sizeof derr) != 0) {
        snprintf(err, errlen, "cannot set up the front end: %s", derr);
        return -1;
    }
    const audio_info *ai = audio_file_info(f);
    if (ai->frames > 0) {
        /* Known length: one allocation of the right size (+1 for rounding in the resampler). */
        c.cap = features_frame_count(p, ai->frames, ai->rate) + 1;
        c.rows = malloc(c.cap * (size_t)p->n_mels * sizeof(float));
        if (!c.rows) {
            snprintf(err, errlen, "out of memory (%zu frames)", c.cap);
            goto fail;
        }
    }
    size_t samples = 0;
    int rc = audio_file_decode_mono(f, p->sample_rate, on_chunk, progress ? on_progress : NULL,
                                    &c, &samples, err, errlen);
    if (progress)
        cli_progress_done(progress);
    if (rc != 0)
        goto fail;
    if (c.n == 0) {
        snprintf(err, errlen, "too short: %zu samples at %d Hz (%.1f ms) make no frame of %d "
                 "samples (%.1f ms)", samples, p->sample_rate, 1000.0 * (double)samples / p->sample_rate,
                 p->win_length, 1000.0 * p->win_length / p->sample_rate);
        goto fail;
    }
    dsp_logmel_free(c.lm);
    *out = c.rows;
    *n_frames = c.n;
    return 0;
fail:
    dsp_logmel_free(c.lm);
    free(c.rows);
    return -1;
}

size_t features_frame_count(const dsp_params *p, int64_t in_frames, int in_rate)
{
    size_t n = audio_file_resampled_length(in_frames, in_rate, p->sample_rate);
    int64_t k = dsp_logmel_frame_count(p, n);
    return k > 0 ? (size_t)k : 0;
}

const char *features_mel_scale_name(int scale)
{
    return scale == DSP_MEL_HTK ? "htk" : "slaney";
}

/* Shortest decimal that reads back as the same float: 1e-10, not 1.00000001e-10. */
static void float_text(float v, char *buf, size_t cap)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

int features_params_json(const dsp_params *p, char *buf, size_t cap)
{
    char fmin[32], fmax[32], floor[32];
    float_text(p->f_min, fmin, sizeof fmin);
    float_text(p->f_max, fmax, sizeof fmax);
    float_text(p->log_floor, floor, sizeof floor);
    /* denoise_db only when set: stamps and info output of plain features stay as they were. */
    char dn[32] = "";
    if (p->denoise_db)
        snprintf(dn, sizeof dn, ", \"denoise_db\": %d", (int)p->denoise_db);
    return snprintf(buf, cap,
                    "{\"sample_rate\": %d, \"win_length\": %d, \"hop_length\": %d, \"n_fft\": %d, "
                    "\"n_mels\": %d, \"f_min\": %s, \"f_max\": %s, \"mel_scale\": \"%s\", "
                    "\"log_floor\": %s%s}",
                    (int)p->sample_rate, (int)p->win_length, (int)p->hop_length, (int)p->n_fft,
                    (int)p->n_mels, fmin, fmax, features_mel_scale_name(p->mel_scale), floor, dn);
}
