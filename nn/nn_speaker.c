/* nn_speaker: the stream-level speaker normaliser of cmvn "speaker" models (see nn.h). */
#include "nn_layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct nn_speaker {
    const nn_model *m;
    nn_speaker_params p;
    double w;            /* speech frames in the estimate (after forgetting) */
    double *s1, *s2;     /* [in_dim] weighted sums of x and x^2 over those frames (floored, with a
                          * level floor) */
    double *mean, *istd; /* [in_dim] the current estimate, as applied */
    /* Level floor (m->level_floor > 0): the speaker's speech level = weighted mean of the raw
     * speech frames' band-mean log-mel (same weights as w), ln_floor = ln c + that level, or
     * + the model's prior level while no speech was heard. */
    double lw, l1, ln_floor;
};

/* ln(exp(x) + exp(lf)) without overflow: the mel power plus the floor power. */
static double floored(double x, double lf)
{
    return x > lf ? x + log1p(exp(lf - x)) : lf + log1p(exp(x - lf));
}

static double band_mean(const float *frame, int M)
{
    double e = 0;
    for (int b = 0; b < M; b++)
        e += frame[b];
    return e / M;
}

static void update_floor(nn_speaker *s)
{
    const nn_model *m = s->m;
    if (m->level_floor > 0)
        s->ln_floor = log(m->level_floor) + (s->lw > 0 ? s->l1 / s->lw : m->spk_prior_level);
}

void nn_speaker_params_default(nn_speaker_params *p)
{
    p->prior_frames = (int)(NN_SPEAKER_DEFAULT_PRIOR_S * 100);
    p->max_frames = (int)(NN_SPEAKER_DEFAULT_MEMORY_S * 100);
    p->var_floor = NN_SPEAKER_DEFAULT_VAR_FLOOR;
}

/* mean and 1/sqrt(var + eps) from the prior (weight prior_frames) plus the speech frames. */
static void update_estimate(nn_speaker *s)
{
    const nn_model *m = s->m;
    const double w0 = s->p.prior_frames, wt = w0 + s->w;
    /* With a level floor the prior is an average voice at this voice's level: its mean moves
     * with the level heard (0 before any speech). */
    const double shift = m->level_floor > 0 && s->lw > 0 ? s->l1 / s->lw - m->spk_prior_level : 0.0;
    /* no prior weight and no speech yet: the prior itself (weight 1, no sums) */
    nn__k_speaker_estimate(m->in_dim, wt > 0 ? w0 : 1.0, wt > 0 ? wt : 1.0, wt > 0 ? shift : 0.0,
                           wt > 0, m->spk_prior_mean, m->spk_prior_var, s->s1, s->s2,
                           s->p.var_floor, m->cmvn == NN_CMVN_SPEAKER_MEAN ? -1.0 : m->cmvn_eps,
                           s->mean, s->istd);
}

static int check_params(const nn_speaker_params *p, char *err, size_t errlen)
{
    if (p->prior_frames < 0 || p->max_frames < 1 || !(p->var_floor >= 0 && p->var_floor <= 10))
        return nn__fail(err, errlen, NN_EINVAL, "speaker normaliser: prior_frames %d must be >= 0, "
                        "max_frames %d >= 1 and var_floor %g in [0, 10]", p->prior_frames,
                        p->max_frames, p->var_floor);
    return 0;
}

int nn_speaker_new(const nn_model *m, const nn_speaker_params *p, nn_speaker **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    nn_speaker_params def;
    if (!p) {
        nn_speaker_params_default(&def);
        p = &def;
    }
    int rc = check_params(p, err, errlen);
    if (rc < 0)
        return rc;
    nn_speaker *s = calloc(1, sizeof *s);
    if (!s)
        return nn__fail(err, errlen, NN_ENOMEM, "out of memory");
    const size_t M = (size_t)m->in_dim;
    s->m = m;
    s->p = *p;
    s->s1 = calloc(2 * M, sizeof(double));
    s->mean = calloc(2 * M, sizeof(double));
    if (!s->s1 || !s->mean) {
        nn_speaker_free(s);
        return nn__fail(err, errlen, NN_ENOMEM, "out of memory");
    }
    s->s2 = s->s1 + M;
    s->istd = s->mean + M;
    nn_speaker_reset(s);
    *out = s;
    return 0;
}

int nn_speaker_set_params(nn_speaker *s, const nn_speaker_params *p, char *err, size_t errlen)
{
    int rc = check_params(p, err, errlen);
    if (rc < 0)
        return rc;
    s->p = *p;
    /* The sums are kept: only how they are weighed and floored changes. A smaller max_frames
     * takes effect as frames arrive (the weight decays towards it). */
    if (NN_IS_SPEAKER(s->m))
        update_estimate(s);
    return 0;
}

void nn_speaker_free(nn_speaker *s)
{
    if (!s)
        return;
    free(s->s1);
    free(s->mean);
    free(s);
}

void nn_speaker_reset(nn_speaker *s)
{
    const size_t M = (size_t)s->m->in_dim;
    s->w = s->lw = s->l1 = 0;
    memset(s->s1, 0, 2 * M * sizeof(double));
    update_floor(s);
    if (NN_IS_SPEAKER(s->m))
        update_estimate(s);
}

int nn_speaker_copy_voice(nn_speaker *s, const nn_speaker *from, char *err, size_t errlen)
{
    if (!dsp_params_equal(&s->m->dsp, &from->m->dsp))
        return nn__fail(err, errlen, NN_EINVAL, "speaker normaliser: the two models read different "
                        "features (front-end parameters differ): the voice heard cannot carry over");
    /* The sums of a level-floor model are of floored frames: they carry over only to a model with
     * the same floor. */
    if (!NN_IS_SPEAKER(from->m) || !NN_IS_SPEAKER(s->m) ||
        from->m->level_floor != s->m->level_floor || from->m->in_dim != s->m->in_dim ||
        from->m->pitch_flags != s->m->pitch_flags) {
        nn_speaker_reset(s);
        return 0;
    }
    const size_t M = (size_t)s->m->in_dim;
    s->w = from->w;
    s->lw = from->lw;
    s->l1 = from->l1;
    memcpy(s->s1, from->s1, 2 * M * sizeof(double));   /* s1 and s2 are one block */
    update_floor(s);
    update_estimate(s);
    return 0;
}

/* A plain mean up to max_frames; beyond, each frame's weight decays by (1 - 1/max_frames) per
 * new frame, so the estimate follows a new voice within about max_frames of speech. */
static double keep_factor(const nn_speaker *s, double w)
{
    return w + 1 > s->p.max_frames ? 1.0 - 1.0 / s->p.max_frames : 1.0;
}

/* Adds one raw frame to the level (level floor models; the floor is updated by the caller). */
static void accumulate_level(nn_speaker *s, const float *frame)
{
    double keep = keep_factor(s, s->lw);
    s->lw = s->lw * keep + 1;
    s->l1 = s->l1 * keep + band_mean(frame, s->m->n_mels);
}

/* Adds one raw frame to the sums, floored at the current level floor if the model has one; the
 * estimate is brought up to date by the caller. */
static void accumulate(nn_speaker *s, const float *frame)
{
    const nn_model *m = s->m;
    double keep = keep_factor(s, s->w);
    s->w = s->w * keep + 1;
    for (int b = 0; b < m->in_dim; b++) {
        double v = m->level_floor > 0 ? floored(frame[b], s->ln_floor) : frame[b];
        s->s1[b] = s->s1[b] * keep + v;
        s->s2[b] = s->s2[b] * keep + v * v;
    }
}

void nn_speaker_add(nn_speaker *s, const float *frame)
{
    if (!NN_IS_SPEAKER(s->m))
        return;
    if (s->m->level_floor > 0) {
        accumulate_level(s, frame);
        update_floor(s);
    }
    accumulate(s, frame);
    update_estimate(s);
}

/* Speech frames of an utterance = mean ln-energy within NN_SPEECH_RANGE of its peak
 * (features.speech_mask, the rule the training statistics used); this is the threshold. */
static double speech_threshold(const float *frames, int n, int M, int D)
{
    double peak = -INFINITY;
    for (int t = 0; t < n; t++) {
        double e = band_mean(frames + (size_t)t * D, M);
        peak = e > peak ? e : peak;
    }
    return peak - NN_SPEECH_RANGE;
}

int nn_speaker_add_utterances(nn_speaker *s, const float *const *frames, const int *n, int count)
{
    const int M = s->m->n_mels, D = s->m->in_dim;
    if (!NN_IS_SPEAKER(s->m))
        return 0;
    /* Two passes with a level floor: the level of all the utterances' speech first, then their
     * frames floored at it, as training floors every frame of a speaker at one level. */
    for (int pass = s->m->level_floor > 0 ? 0 : 1; pass < 2; pass++) {
        int added = 0;
        for (int u = 0; u < count; u++) {
            if (n[u] < 1)
                continue;
            double thr = speech_threshold(frames[u], n[u], M, D);
            for (int t = 0; t < n[u]; t++) {
                const float *f = frames[u] + (size_t)t * D;
                if (band_mean(f, M) < thr)
                    continue;
                if (pass == 0)
                    accumulate_level(s, f);
                else
                    accumulate(s, f);
                added++;
            }
        }
        if (pass == 0) {
            update_floor(s);
            continue;
        }
        update_estimate(s);
        return added;
    }
    return 0;
}

int nn_speaker_add_utterance(nn_speaker *s, const float *frames, int n)
{
    return nn_speaker_add_utterances(s, &frames, &n, 1);
}

void nn_speaker_apply(const nn_speaker *s, const float *frame, float *out)
{
    const int D = s->m->in_dim;
    if (!NN_IS_SPEAKER(s->m)) {
        if (out != frame)
            memmove(out, frame, sizeof(float) * (size_t)D);
        return;
    }
    if (s->m->level_floor > 0) {   /* never with pitch columns (the loader refuses it) */
        for (int b = 0; b < D; b++)
            out[b] = (float)((floored(frame[b], s->ln_floor) - s->mean[b]) * s->istd[b]);
        return;
    }
    for (int b = 0; b < D; b++)
        out[b] = (float)(((double)frame[b] - s->mean[b]) * s->istd[b]);
}

double nn_speaker_frames(const nn_speaker *s) { return s->w; }

int nn_model_speaker_norm(const nn_model *m) { return NN_IS_SPEAKER(m); }
