#include "feature_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One growing matrix of rows of `width` floats. */
typedef struct {
    float *rows;          /* is malloc'd, grows by doubling when the length was unknown */
    size_t n, cap;        /* rows stored / capacity in rows */
    int width;
} rows_buf;

typedef struct {
    dsp_logmel *lm;       /* NULL without FEATURES_MEL */
    dsp_pitch *pt;        /* NULL without FEATURES_PITCH */
    rows_buf mel, pitch;
    int oom;
    cli_progress *progress;
    const char *name;
} collect;

static int rows_reserve(rows_buf *b, size_t cap)
{
    float *nr = realloc(b->rows, cap * (size_t)b->width * sizeof(float));
    if (!nr)
        return -1;
    b->rows = nr;
    b->cap = cap;
    return 0;
}

static void rows_add(collect *c, rows_buf *b, const float *row)
{
    if (c->oom)
        return;
    if (b->n == b->cap && rows_reserve(b, b->cap ? b->cap * 2 : 1024) != 0) {
        c->oom = 1;
        return;
    }
    memcpy(b->rows + b->n * (size_t)b->width, row, (size_t)b->width * sizeof(float));
    b->n++;
}

static void on_mel(void *user, const float *frame, int64_t index)
{
    (void)index;
    collect *c = user;
    rows_add(c, &c->mel, frame);
}

static void on_pitch(void *user, const float *frame, int64_t index)
{
    (void)index;
    collect *c = user;
    rows_add(c, &c->pitch, frame);
}

static int on_chunk(void *user, const float *x, size_t n, char *err, size_t errlen)
{
    collect *c = user;
    int rc = c->lm ? dsp_logmel_push(c->lm, x, n, on_mel, c) : 0;
    if (rc == 0 && c->pt)
        rc = dsp_pitch_push(c->pt, x, n, on_pitch, c);
    if (rc != 0) {
        snprintf(err, errlen, "feature extraction failed: %s", dsp_strerror(rc));
        return -1;
    }
    if (c->oom) {
        snprintf(err, errlen, "out of memory after %zu frames", c->mel.n > c->pitch.n ? c->mel.n : c->pitch.n);
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

int features_width(const dsp_params *p, int columns)
{
    return (columns & FEATURES_MEL ? p->n_mels : 0) + (columns & FEATURES_PITCH ? DSP_PITCH_DIM : 0);
}

int features_compute(audio_file *f, const dsp_params *p, int columns, cli_progress *progress,
                     const char *name, float **out, size_t *n_frames, char *err, size_t errlen)
{
    *out = NULL;
    *n_frames = 0;
    collect c = {.mel.width = p->n_mels, .pitch.width = DSP_PITCH_DIM, .progress = progress,
                 .name = name};
    float *joined = NULL;
    int rc = -1;
    char derr[256];
    if (((columns & FEATURES_MEL) && dsp_logmel_new(p, &c.lm, derr, sizeof derr) != 0) ||
        ((columns & FEATURES_PITCH) &&
         dsp_pitch_new(p, columns & FEATURES_PITCH_SUPPRESSED ? DSP_PITCH_SUPPRESSED : 0, &c.pt, derr,
                       sizeof derr) != 0)) {
        snprintf(err, errlen, "cannot set up the front end: %s", derr);
        goto fail;
    }
    const audio_info *ai = audio_file_info(f);
    if (ai->frames > 0) {
        /* Known length: one allocation of the right size (+2 for rounding in the resampler and
         * the pitch frame a denoised log-mel has not completed yet). */
        size_t cap = features_frame_count(p, ai->frames, ai->rate) + 2;
        if ((c.lm && rows_reserve(&c.mel, cap) != 0) || (c.pt && rows_reserve(&c.pitch, cap) != 0)) {
            snprintf(err, errlen, "out of memory (%zu frames)", cap);
            goto fail;
        }
    }
    size_t samples = 0;
    int drc = audio_file_decode_mono(f, p->sample_rate, on_chunk, progress ? on_progress : NULL,
                                     &c, &samples, err, errlen);
    if (progress)
        cli_progress_done(progress);
    if (drc != 0)
        goto fail;
    /* The log-mel's count for every column set: pitch frames past it are dropped. */
    int64_t frames = dsp_logmel_frame_count(p, samples);
    if (frames <= 0) {
        snprintf(err, errlen, "too short: %zu samples at %d Hz (%.1f ms) make no frame of %d "
                 "samples (%.1f ms)", samples, p->sample_rate, 1000.0 * (double)samples / p->sample_rate,
                 p->win_length, 1000.0 * p->win_length / p->sample_rate);
        goto fail;
    }
    if (!(columns & FEATURES_MEL) || !(columns & FEATURES_PITCH)) {
        rows_buf *b = columns & FEATURES_MEL ? &c.mel : &c.pitch;
        *out = b->rows;
        b->rows = NULL;
    } else {
        const int w = features_width(p, columns);
        joined = malloc((size_t)frames * (size_t)w * sizeof(float));
        if (!joined) {
            snprintf(err, errlen, "out of memory (%lld frames)", (long long)frames);
            goto fail;
        }
        for (int64_t i = 0; i < frames; i++) {
            memcpy(joined + i * w, c.mel.rows + i * p->n_mels, sizeof(float) * (size_t)p->n_mels);
            memcpy(joined + i * w + p->n_mels, c.pitch.rows + i * DSP_PITCH_DIM,
                   sizeof(float) * DSP_PITCH_DIM);
        }
        *out = joined;
    }
    *n_frames = (size_t)frames;
    rc = 0;
fail:
    dsp_logmel_free(c.lm);
    dsp_pitch_free(c.pt);
    free(c.mel.rows);
    free(c.pitch.rows);
    return rc;
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
