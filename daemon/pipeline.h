/* pipeline: one audio stream's path from PCM to published results, on the loop thread.
 *
 *   PCM (any rate 8..192 kHz, 1..32 channels, s16le or f32le, interleaved)
 *     -> dsp_resampler (downmix + resample to the model rate)
 *     -> dsp_logmel (one frame per 10 ms hop; beside it dsp_pitch for a model that reads the
 *        voice's pitch, nn_model_pitch: the frame is then the bands and that hop's pitch)
 *     -> nn_stream_push (posteriors of the model, every hop)
 *     -> speech gate (energy above a tracked noise floor, from the log-mel frame; see gate.h)
 *     -> exponential smoothing (per hop)
 *     -> events (onset/offset with hysteresis and a minimum duration)
 *     -> callbacks: on_posteriors at the publish rate, on_event when an event fires,
 *                   on_frame every hop (optional log-mel stream for the dashboard)
 *
 * Promises: one pipeline per audio stream (microphone, file, stdin, each sidecar connection);
 * all state is made in pipeline_new, so pipeline_push never allocates, locks or calls the
 * kernel (callbacks may, that is theirs). Any chunking of the same PCM gives the same results.
 * Not thread-safe: call everything from one thread (the libuv loop). The nn_model is shared and
 * read-only; it must outlive the pipeline.
 *
 * What is published when there is no speech: the model keeps running on every frame (so its
 * state is warm when speech starts, and with the gate off and smoothing 1 the published
 * probabilities are exactly the model's), but a hop the gate calls non-speech feeds the
 * UNIFORM distribution into the smoother instead of the model's output. A pause of a few hops
 * changes little; after ~3 time constants of silence the published distribution is close to
 * uniform (conf ~ 1/K), so the daemon never publishes confident emotions of silence, and held
 * emotions end with a normal offset event. Messages carry speech:false meanwhile.
 *
 * Errors: negative PIPELINE_E* codes plus one message line in err.
 */
#ifndef EMOTIOND_PIPELINE_H
#define EMOTIOND_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    PIPELINE_OK = 0,
    PIPELINE_EINVAL = -1,  /* bad parameter (message names it) */
    PIPELINE_ENOMEM = -2,
    PIPELINE_EDSP = -3,    /* front end or resampler refused the configuration */
    PIPELINE_ENN = -4,     /* model stream could not be made */
    PIPELINE_EINPUT = -5   /* NaN/Inf samples pushed: the chunk was dropped */
};
const char *pipeline_strerror(int code);

enum pipeline_format { PIPELINE_F32LE = 0, PIPELINE_S16LE = 1 };

/* Largest label set and chunk handled without allocation per push. */
#define PIPELINE_MAX_LABELS 32

enum pipeline_gate_mode {
    PIPELINE_GATE_ENERGY = 0, /* default: energy above tracked noise floor (gate.h) */
    PIPELINE_GATE_OFF = 1     /* every hop is speech */
};

typedef struct pipeline_gate_config {
    int mode;                 /* enum pipeline_gate_mode */
    double threshold_db;      /* speech when band energy > noise floor + this. 0.5..40, def 6 */
    double abs_floor_db;      /* and > this absolute level (dBFS of the band energy). -120..0,
                                 def -70: digital silence and a muted mic are never speech */
    double onset_ms;          /* energy must stay above for this long to open. 0..500, def 30 */
    double hangover_ms;       /* stays open this long after the energy falls. 0..2000, def 300 */
    double contrast_db;       /* and the band spectrum stands out from the per-band noise
                                 floors by this much (0 = not required). 0..40, def 8 */
} pipeline_gate_config;

typedef struct pipeline_event_config {
    double on_threshold;      /* onset when smoothed prob > this ... (0,1], def 0.5 */
    double min_duration_s;    /* ... for at least this long. 0..60, def 1.0 */
    double off_threshold;     /* offset when smoothed prob < this (< on_threshold), def 0.35 */
} pipeline_event_config;

/* The speaker normaliser of speaker-normalising models (nn_speaker_params, in seconds of the
 * gate's speech at the model's 100 Hz frame rate). */
typedef struct pipeline_speaker_config {
    double prior_s;           /* weight of the model's average voice. 0..600, def 3 */
    double memory_s;          /* plain mean up to this much speech, then forgetting. 1..3600, def 120 */
    double var_floor;         /* per band at least this times the prior's variance. 0..10, def 0.5 */
} pipeline_speaker_config;

typedef struct pipeline_config {
    double publish_hz;        /* posteriors per second. (0, hop rate], def 10 */
    double smoothing;         /* alpha per hop: s += alpha*(p - s). (0, 1], 1 = none. def 0.1 */
    pipeline_gate_config gate;
    pipeline_event_config events;
    pipeline_speaker_config speaker;
} pipeline_config;

/* Fills the defaults listed above. */
void pipeline_config_default(pipeline_config *c);
/* 0 if usable; otherwise PIPELINE_EINVAL and a message naming the field and its range. */
int pipeline_config_check(const pipeline_config *c, char *err, size_t errlen);

/* What on_posteriors receives; valid only during the call. */
typedef struct pipeline_result {
    uint64_t seq;             /* publish counter of this pipeline, from 0, contiguous */
    double t;                 /* stream time (s) of the newest sample in the hop, from the
                                 first sample pushed since new/reset, in the input's time */
    int64_t in_frame;         /* input frames (at the input rate) pushed when the hop was made:
                                 maps the hop to capture timestamps (latency measurement) */
    int n_labels;
    const float *probs;       /* n_labels, smoothed and gated as described above, sum 1 */
    const float *raw;         /* n_labels, the model's posteriors this hop (uniform while the
                                 model stream is too young) */
    int speech;               /* 1 if the gate says speech this hop */
    int top;                  /* index of the largest of probs */
    float conf;               /* probs[top] */
    float level_db;           /* band energy of the hop (dBFS) and the gate's noise floor: */
    float floor_db;           /*   for the dashboard and for tuning the gate */
} pipeline_result;

enum pipeline_event_state { PIPELINE_ONSET = 0, PIPELINE_OFFSET = 1 };

typedef struct pipeline_event {
    double t;                 /* stream time of the hop that fired the event */
    int label;                /* index into the model's labels */
    int state;                /* enum pipeline_event_state */
    double held_s;            /* onset: how long the label has been above on_threshold;
                                 offset: how long it was above, from the start of that run
                                 (before the onset) to the offset */
    float prob;               /* smoothed prob of the label at this hop */
} pipeline_event;

typedef struct pipeline_callbacks {
    /* At the publish rate (every round(hop_rate / publish_hz) hops). May be NULL. */
    void (*on_posteriors)(void *user, const pipeline_result *r);
    /* When an event fires, before on_posteriors of the same hop. May be NULL. */
    void (*on_event)(void *user, const pipeline_event *e);
    /* Every hop, only while pipeline_set_frames(p, 1): the log-mel frame. May be NULL. */
    void (*on_frame)(void *user, const float *logmel, int n_mels, int speech, double t);
    /* Every hop, last: the processing time of the hop in seconds (resampling and front end
     * share of the push, model, gate, smoothing, the callbacks above). May be NULL. */
    void (*on_hop)(void *user, double seconds);
} pipeline_callbacks;

typedef struct pipeline pipeline;

/* Makes a pipeline for PCM at in_rate Hz with `channels` interleaved channels in `format`.
 * cfg and cb are copied; m and user are borrowed (m must outlive the pipeline). max_chunk is
 * the largest number of frames one pipeline_push will be given (larger pushes are split
 * internally, so this only sizes the scratch buffer; 0 = 4096). On success *out is owned by
 * the caller: pipeline_free. */
int pipeline_new(const nn_model *m, double in_rate, int channels, enum pipeline_format format,
                 const pipeline_config *cfg, const pipeline_callbacks *cb, void *user,
                 size_t max_chunk, pipeline **out, char *err, size_t errlen);
void pipeline_free(pipeline *p);

/* Pushes `frames` interleaved frames (frames*channels samples; pcm is float* or int16_t* per
 * the format). Callbacks run from inside this call. Returns 0, or PIPELINE_EINPUT when the
 * chunk held NaN/Inf (f32 only; the chunk is dropped, the stream goes on). */
int pipeline_push(pipeline *p, const void *pcm, size_t frames);
/* End of stream: pushes what the resampler still holds so the last hops are published, and
 * publishes the final hop's posteriors if it was not a publish hop. */
int pipeline_flush(pipeline *p);

/* Changes taking effect at the next hop; they return PIPELINE_EINVAL for values out of range
 * (same ranges as pipeline_config_check) and then change nothing. */
int pipeline_set_publish_hz(pipeline *p, double hz);
int pipeline_set_smoothing(pipeline *p, double alpha);
/* Replaces every setting (a SIGHUP reload); smoothing, gate, event and speaker-normaliser state
 * are kept. */
int pipeline_set_config(pipeline *p, const pipeline_config *cfg, char *err, size_t errlen);
/* Carries the voice heard by `from` (its speaker normaliser's statistics) into p, a pipeline
 * that replaces it on the same input with another model or settings (a SIGHUP reload), so the
 * new model does not start from the average speaker again. PIPELINE_EINVAL (p unchanged) when
 * the two models read different features. */
int pipeline_take_voice(pipeline *p, const pipeline *from, char *err, size_t errlen);
/* Turns the per-hop on_frame callback on or off. */
void pipeline_set_frames(pipeline *p, int on);

/* Back to the state of a new pipeline (stream time 0, model state, smoother, gate, events);
 * seq keeps counting so subscribers see contiguous sequence numbers. */
void pipeline_reset(pipeline *p);

const pipeline_config *pipeline_get_config(const pipeline *p);
const nn_model *pipeline_model(const pipeline *p);
double pipeline_hop_rate(const pipeline *p);   /* hops per second (100 for 10 ms) */
double pipeline_in_rate(const pipeline *p);
int pipeline_channels(const pipeline *p);
uint64_t pipeline_hops(const pipeline *p);     /* hops processed since new */
/* Stream time (s) of everything pushed so far, and the same in input frames. */
double pipeline_time(const pipeline *p);
int64_t pipeline_in_frames(const pipeline *p);
/* Algorithmic delay of the resampler (s): a hop at stream time t holds input up to t - this. */
double pipeline_delay_s(const pipeline *p);

#ifdef __cplusplus
}
#endif
#endif
