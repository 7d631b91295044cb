/* pipeline: see pipeline.h. */
#include "pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "gate.h"

/* A model that reads the voice's pitch gets frame i's bands with the tracker's frame i. Samples
 * go to the tracker first, in slices of PITCH_SLICE_HOPS hops, then to the log-mel; the tracker
 * yields frame i no later than the log-mel (a hop earlier with the suppressor on the log-mel
 * and the raw tracker), so at most PITCH_SLICE_HOPS + 2 pitch frames wait for their bands. */
#define PITCH_SLICE_HOPS 8
#define PITCH_RING 16
_Static_assert(PITCH_SLICE_HOPS + 2 < PITCH_RING, "a pitch frame would be overwritten before its bands came");

/* One of these per audio stream; every buffer is sized in pipeline_new. */
struct pipeline {
    const nn_model *model;           /* borrowed, shared */
    pipeline_config cfg;
    pipeline_callbacks cb;
    void *user;
    double in_rate, model_rate, hop_rate;
    int channels, format, n_labels, n_mels;
    size_t max_chunk;

    dsp_resampler *rs;               /* owned */
    dsp_logmel *lm;                  /* owned */
    dsp_pitch *pt;                   /* owned; NULL unless the model reads pitch */
    float pitch_ring[PITCH_RING][DSP_PITCH_DIM];   /* pitch frame i at i % PITCH_RING */
    int in_dim;                      /* the model's input: n_mels, + DSP_PITCH_DIM with pitch */
    float *frame;                    /* is malloc'd: [in_dim], the bands then the pitch */
    nn_stream *ns;                   /* owned */
    nn_speaker *spk;                 /* owned: speaker normaliser (copies for other models) */
    float *norm;                     /* is malloc'd: the frame after nn_speaker_apply */
    gate *gt;                        /* owned */
    events *ev;                      /* owned */
    float *in_f;                     /* is malloc'd: max_chunk*channels floats */
    float *mono;                     /* is malloc'd: resampler output for max_chunk frames */
    size_t mono_cap;

    float raw[PIPELINE_MAX_LABELS];
    float uniform[PIPELINE_MAX_LABELS];
    int frames_on;
    int publish_every, countdown;
    int last_published;              /* the last hop made was published */
    int64_t in_frames;               /* input frames pushed since new/reset */
    uint64_t hops, seq;
    int speech;
    pipeline_result last;            /* the newest hop, for flush */
    struct timespec hop_t0;          /* start of the current hop's work (for on_hop) */
};

static struct timespec now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static double elapsed_s(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
}

const char *pipeline_strerror(int code)
{
    switch (code) {
    case PIPELINE_OK: return "ok";
    case PIPELINE_EINVAL: return "invalid parameter";
    case PIPELINE_ENOMEM: return "out of memory";
    case PIPELINE_EDSP: return "front end refused the configuration";
    case PIPELINE_ENN: return "model stream could not be made";
    case PIPELINE_EINPUT: return "NaN or Inf samples (chunk dropped)";
    default: return "unknown pipeline error";
    }
}

static gate_params gate_params_of(const pipeline_config *c)
{
    gate_params g = { c->gate.threshold_db, c->gate.abs_floor_db, c->gate.onset_ms,
                      c->gate.hangover_ms, c->gate.contrast_db };
    return g;
}

static nn_speaker_params speaker_params_of(const pipeline_config *c, double hop_rate)
{
    nn_speaker_params s;
    nn_speaker_params_default(&s);
    s.prior_frames = (int)lround(c->speaker.prior_s * hop_rate);
    s.max_frames = (int)lround(c->speaker.memory_s * hop_rate);
    s.var_floor = c->speaker.var_floor;
    return s;
}

static int publish_every_of(double hop_rate, double hz)
{
    long n = lround(hop_rate / hz);
    return n < 1 ? 1 : (int)n;
}

void pipeline_free(pipeline *p)
{
    if (!p) return;
    dsp_resampler_free(p->rs);
    dsp_logmel_free(p->lm);
    dsp_pitch_free(p->pt);
    free(p->frame);
    nn_stream_free(p->ns);
    nn_speaker_free(p->spk);
    free(p->norm);
    gate_free(p->gt);
    events_free(p->ev);
    free(p->in_f);
    free(p->mono);
    free(p);
}

int pipeline_new(const nn_model *m, double in_rate, int channels, enum pipeline_format format,
                 const pipeline_config *cfg, const pipeline_callbacks *cb, void *user,
                 size_t max_chunk, pipeline **out, char *err, size_t errlen)
{
    char sub[256];
    int rc;
    *out = NULL;
    if (!m || !cfg) {
        snprintf(err, errlen, "pipeline_new: model and config are required");
        return PIPELINE_EINVAL;
    }
    if (format != PIPELINE_F32LE && format != PIPELINE_S16LE) {
        snprintf(err, errlen, "sample format %d is neither f32le nor s16le", (int)format);
        return PIPELINE_EINVAL;
    }
    if (channels < 1 || channels > 32) {
        snprintf(err, errlen, "channels = %d is out of range [1, 32]", channels);
        return PIPELINE_EINVAL;
    }
    if (!(in_rate >= 8000 && in_rate <= 192000)) {
        snprintf(err, errlen, "input rate %g Hz is out of range [8000, 192000]", in_rate);
        return PIPELINE_EINVAL;
    }
    if ((rc = pipeline_config_check(cfg, err, errlen)) < 0) return rc;
    int nl = nn_model_n_labels(m);
    if (nl < 1 || nl > PIPELINE_MAX_LABELS) {
        snprintf(err, errlen, "model has %d labels, this build handles 1..%d", nl, PIPELINE_MAX_LABELS);
        return PIPELINE_EINVAL;
    }
    if (max_chunk == 0) max_chunk = 4096;

    pipeline *p = calloc(1, sizeof *p);
    if (!p) goto nomem;
    const dsp_params *fp = nn_model_features(m);
    p->model = m;
    p->cfg = *cfg;
    if (cb) p->cb = *cb;
    p->user = user;
    p->in_rate = in_rate;
    p->channels = channels;
    p->format = format;
    p->max_chunk = max_chunk;
    p->model_rate = fp->sample_rate;
    p->hop_rate = p->model_rate / fp->hop_length;
    p->n_labels = nl;
    p->n_mels = fp->n_mels;
    for (int i = 0; i < nl; i++) p->uniform[i] = 1.0f / (float)nl;

    if ((rc = dsp_resampler_new(in_rate, channels, p->model_rate, &p->rs, sub, sizeof sub)) < 0) {
        snprintf(err, errlen, "resampler: %s", sub);
        rc = PIPELINE_EDSP;
        goto fail;
    }
    if ((rc = dsp_logmel_new(fp, &p->lm, sub, sizeof sub)) < 0) {
        snprintf(err, errlen, "front end: %s", sub);
        rc = PIPELINE_EDSP;
        goto fail;
    }
    unsigned pitch_flags;
    if (nn_model_pitch(m, &pitch_flags) &&
        (rc = dsp_pitch_new(fp, pitch_flags, &p->pt, sub, sizeof sub)) < 0) {
        snprintf(err, errlen, "pitch tracker: %s", sub);
        rc = PIPELINE_EDSP;
        goto fail;
    }
    p->in_dim = nn_model_input_dim(m);
    if ((rc = nn_stream_new(m, &p->ns, sub, sizeof sub)) < 0) {
        snprintf(err, errlen, "model stream: %s", sub);
        rc = PIPELINE_ENN;
        goto fail;
    }
    nn_speaker_params sp = speaker_params_of(cfg, p->hop_rate);
    if ((rc = nn_speaker_new(m, &sp, &p->spk, sub, sizeof sub)) < 0) {
        snprintf(err, errlen, "speaker normaliser: %s", sub);
        rc = PIPELINE_ENN;
        goto fail;
    }
    p->norm = malloc((size_t)p->in_dim * sizeof(float));
    p->frame = malloc((size_t)p->in_dim * sizeof(float));
    gate_params gp = gate_params_of(cfg);
    p->gt = gate_new(fp, &gp);
    p->ev = events_new(nl, 1.0 / p->hop_rate, cfg->smoothing, &cfg->events);
    p->in_f = malloc(max_chunk * (size_t)channels * sizeof(float));
    p->mono_cap = dsp_resampler_max_out(p->rs, max_chunk);
    if (p->mono_cap < 4096) p->mono_cap = 4096; /* flush may return a filter's worth */
    p->mono = malloc(p->mono_cap * sizeof(float));
    if (!p->gt || !p->ev || !p->in_f || !p->mono || !p->norm || !p->frame) goto nomem;
    p->publish_every = publish_every_of(p->hop_rate, cfg->publish_hz);
    pipeline_reset(p);
    p->seq = 0;
    *out = p;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory making the pipeline");
    rc = PIPELINE_ENOMEM;
fail:
    pipeline_free(p);
    return rc;
}

void pipeline_reset(pipeline *p)
{
    dsp_resampler_reset(p->rs);
    dsp_logmel_reset(p->lm);
    if (p->pt) dsp_pitch_reset(p->pt);
    nn_stream_reset(p->ns);
    nn_speaker_reset(p->spk);
    gate_reset(p->gt);
    events_reset(p->ev);
    p->countdown = p->publish_every;
    p->last_published = 1;
    p->in_frames = 0;
    p->speech = 0;
}

static void fill_result(pipeline *p, pipeline_result *r, double t)
{
    const float *s = events_smoothed(p->ev);
    int top = 0;
    for (int i = 1; i < p->n_labels; i++)
        if (s[i] > s[top]) top = i;
    r->t = t;
    r->in_frame = p->in_frames;
    r->n_labels = p->n_labels;
    r->probs = s;
    r->raw = p->raw;
    r->speech = p->speech;
    r->top = top;
    r->conf = s[top];
    r->level_db = gate_level_db(p->gt);
    r->floor_db = gate_floor_db(p->gt);
}

static void on_pitch(void *user, const float *f0, int64_t index)
{
    pipeline *p = user;
    memcpy(p->pitch_ring[index % PITCH_RING], f0, sizeof p->pitch_ring[0]);
}

/* One hop: everything after the front end. */
static void on_logmel(void *user, const float *bands, int64_t index)
{
    pipeline *p = user;
    const float *frame = bands;
    if (p->pt) {   /* the model's input: the bands, then the same frame's pitch (see run_front) */
        memcpy(p->frame, bands, (size_t)p->n_mels * sizeof(float));
        memcpy(p->frame + p->n_mels, p->pitch_ring[index % PITCH_RING], sizeof p->pitch_ring[0]);
        frame = p->frame;
    }
    /* index counts from the front end's creation or reset, which pipeline_reset does. */
    const double t =
        (double)dsp_logmel_frame_end(nn_model_features(p->model), index) / p->model_rate;
    p->hops++;

    /* The gate's speech frames feed the speaker normaliser (models with cmvn "speaker"), which
     * every frame then passes through on its way to the network. */
    int gated = gate_push(p->gt, frame);
    if (gated) nn_speaker_add(p->spk, frame);
    nn_speaker_apply(p->spk, frame, p->norm);
    int ready = nn_stream_push(p->ns, p->norm, p->raw) == 1;
    if (!ready) memcpy(p->raw, p->uniform, (size_t)p->n_labels * sizeof(float));
    p->speech = p->cfg.gate.mode == PIPELINE_GATE_OFF ? 1 : gated;
    events_push(p->ev, p->speech && ready ? p->raw : p->uniform, t, p->cb.on_event, p->user);

    if (p->frames_on && p->cb.on_frame) p->cb.on_frame(p->user, bands, p->n_mels, p->speech, t);

    fill_result(p, &p->last, t);
    if (--p->countdown <= 0) {
        p->countdown = p->publish_every;
        p->last.seq = p->seq++;
        p->last_published = 1;
        if (p->cb.on_posteriors) p->cb.on_posteriors(p->user, &p->last);
    } else {
        p->last_published = 0;
    }
    if (p->cb.on_hop) {
        /* the next hop's work starts now (its front-end share runs before its callback) */
        struct timespec t1 = now_mono();
        p->cb.on_hop(p->user, elapsed_s(p->hop_t0, t1));
        p->hop_t0 = t1;
    }
}

/* Model-rate samples through the front end: the pitch tracker (if any) ahead of the log-mel,
 * slice by slice, so that each log-mel frame finds its pitch frame in the ring. */
static int run_front(pipeline *p, const float *x, size_t n)
{
    if (!p->pt)
        return dsp_logmel_push(p->lm, x, n, on_logmel, p) < 0 ? PIPELINE_EDSP : 0;
    const size_t slice = PITCH_SLICE_HOPS * (size_t)nn_model_features(p->model)->hop_length;
    for (size_t at = 0; at < n; at += slice) {
        size_t k = n - at < slice ? n - at : slice;
        if (dsp_pitch_push(p->pt, x + at, k, on_pitch, p) < 0 ||
            dsp_logmel_push(p->lm, x + at, k, on_logmel, p) < 0)
            return PIPELINE_EDSP;
    }
    return 0;
}

static int run_mono(pipeline *p, const float *in, size_t frames)
{
    size_t n = 0;
    if (p->cb.on_hop) p->hop_t0 = now_mono();
    if (dsp_resampler_process(p->rs, in, frames, p->mono, p->mono_cap, &n) < 0) return PIPELINE_EDSP;
    p->in_frames += (int64_t)frames;
    return n ? run_front(p, p->mono, n) : 0;
}

int pipeline_push(pipeline *p, const void *pcm, size_t frames)
{
    int rc = 0;
    while (frames > 0) {
        size_t k = frames < p->max_chunk ? frames : p->max_chunk;
        size_t ns = k * (size_t)p->channels;
        if (p->format == PIPELINE_S16LE) {
            const unsigned char *b = pcm;
            for (size_t i = 0; i < ns; i++) {
                int16_t v = (int16_t)(uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
                p->in_f[i] = (float)v * (1.0f / 32768.0f);
            }
            pcm = b + 2 * ns;
        } else {
            const unsigned char *b = pcm;
            int bad = 0;
            memcpy(p->in_f, b, ns * sizeof(float)); /* little-endian host (x86/arm) */
            for (size_t i = 0; i < ns; i++) bad |= !isfinite(p->in_f[i]);
            pcm = b + 4 * ns;
            if (bad) {
                rc = PIPELINE_EINPUT;
                frames -= k;
                continue;
            }
        }
        int r2 = run_mono(p, p->in_f, k);
        if (r2 < 0) return r2;
        frames -= k;
    }
    return rc;
}

int pipeline_flush(pipeline *p)
{
    size_t n = 0;
    if (p->cb.on_hop) p->hop_t0 = now_mono();
    if (dsp_resampler_flush(p->rs, p->mono, p->mono_cap, &n) < 0) return PIPELINE_EDSP;
    if (n && run_front(p, p->mono, n) < 0) return PIPELINE_EDSP;
    if (!p->last_published && p->hops > 0) {
        p->last.seq = p->seq++;
        p->last_published = 1;
        p->countdown = p->publish_every;
        if (p->cb.on_posteriors) p->cb.on_posteriors(p->user, &p->last);
    }
    return 0;
}

int pipeline_set_publish_hz(pipeline *p, double hz)
{
    if (!(hz >= 0.1 && hz <= 100)) return PIPELINE_EINVAL;
    p->cfg.publish_hz = hz;
    p->publish_every = publish_every_of(p->hop_rate, hz);
    if (p->countdown > p->publish_every) p->countdown = p->publish_every;
    return 0;
}

int pipeline_take_voice(pipeline *p, const pipeline *from, char *err, size_t errlen)
{
    return nn_speaker_copy_voice(p->spk, from->spk, err, errlen) < 0 ? PIPELINE_EINVAL : 0;
}

int pipeline_set_smoothing(pipeline *p, double alpha)
{
    if (!(alpha > 0 && alpha <= 1)) return PIPELINE_EINVAL;
    p->cfg.smoothing = alpha;
    events_set_alpha(p->ev, alpha);
    return 0;
}

int pipeline_set_config(pipeline *p, const pipeline_config *cfg, char *err, size_t errlen)
{
    int rc = pipeline_config_check(cfg, err, errlen);
    if (rc < 0) return rc;
    nn_speaker_params sp = speaker_params_of(cfg, p->hop_rate);
    if ((rc = nn_speaker_set_params(p->spk, &sp, err, errlen)) < 0)
        return PIPELINE_EINVAL;
    p->cfg.speaker = cfg->speaker;
    gate_params gp = gate_params_of(cfg);
    gate_set_params(p->gt, &gp);
    events_set_config(p->ev, &cfg->events);
    p->cfg.gate = cfg->gate;
    p->cfg.events = cfg->events;
    pipeline_set_smoothing(p, cfg->smoothing);
    pipeline_set_publish_hz(p, cfg->publish_hz);
    return 0;
}

void pipeline_set_frames(pipeline *p, int on) { p->frames_on = on != 0; }
const pipeline_config *pipeline_get_config(const pipeline *p) { return &p->cfg; }
const nn_model *pipeline_model(const pipeline *p) { return p->model; }
double pipeline_hop_rate(const pipeline *p) { return p->hop_rate; }
double pipeline_in_rate(const pipeline *p) { return p->in_rate; }
int pipeline_channels(const pipeline *p) { return p->channels; }
uint64_t pipeline_hops(const pipeline *p) { return p->hops; }
double pipeline_time(const pipeline *p) { return (double)p->in_frames / p->in_rate; }
int64_t pipeline_in_frames(const pipeline *p) { return p->in_frames; }
double pipeline_delay_s(const pipeline *p) { return dsp_resampler_delay(p->rs) / p->model_rate; }
