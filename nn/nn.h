/* nn: the emotion model runtime (CNN-LSTM over log-mel frames). The streaming path runs on
 * small per-ISA kernels of its own (no BLAS call per hop); the offline runner uses OpenBLAS.
 *
 * Promises: one immutable nn_model (weights, labels, feature parameters, normalisation), loaded
 * from a versioned, checksummed file and shared read-only by any number of nn_stream objects
 * (one per audio stream; not thread-safe each). A stream takes one input frame per hop
 * (exactly dsp_logmel's output for nn_model_features(), followed, for a model that reads the
 * voice's pitch, by dsp_pitch's columns of the same frame: nn_model_pitch), with cost per hop
 * independent of how
 * long the stream has run, and no allocation after nn_stream_new. No I/O except
 * nn_model_load_file, no global state.
 *
 * Errors: negative NN_E* codes; functions taking err/errlen also write one line naming the
 * problem (what was found, what was expected).
 *
 * The network and the file format are defined by tools/train/model.py and export.py (docs/nn.md).
 *
 * Bounded context: a stream runs two lanes, each a full copy of the network state. Lane 0 resets
 * at frames 0, W, 2W, ... and lane 1 at s, s + W, ... where W = nn_model_window_frames() and s is
 * the first multiple of the model's time pool (2 or 4 frames) from W/2 on, so that both lanes'
 * steps fall on the same frames. The posteriors come from the older lane and equal
 * nn_offline_run() over exactly that lane's frames (parity <= 1e-4, tested). The network's output
 * updates on every 2nd (time pool 4: 4th) frame of a lane; on the frames in between
 * nn_stream_push repeats the lane's last posteriors.
 *
 * Threads: nn_offline_run calls OpenBLAS, whose thread pool is process-global. A real-time
 * process should call openblas_set_num_threads(1) (or run with OPENBLAS_NUM_THREADS=1) once at
 * start-up, so that idle BLAS workers do not spin on the other core; the streaming path itself
 * never enters OpenBLAS. The library does not set it because it has no global state.
 */
#ifndef EMOTIOND_NN_H
#define EMOTIOND_NN_H

#include <stddef.h>
#include <stdint.h>

#include "dsp.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    NN_OK = 0,
    NN_EINVAL = -1,    /* bad argument */
    NN_ENOMEM = -2,
    NN_EIO = -3,       /* file could not be opened or read */
    NN_EFORMAT = -4,   /* not a model file, truncated, bad checksum, bad layer list */
    NN_EVERSION = -5,  /* a format version this build does not read */
    NN_EMISMATCH = -6  /* feature parameters or shapes inconsistent */
};
const char *nn_strerror(int code);

typedef struct nn_model nn_model;
typedef struct nn_stream nn_stream;

/* Loads a model file. On success *out is owned by the caller (nn_model_free) and must outlive
 * every nn_stream made from it. The error line starts with the path. */
int nn_model_load_file(const char *path, nn_model **out, char *err, size_t errlen);
/* Same from memory; buf is copied. */
int nn_model_load_buffer(const void *buf, size_t len, nn_model **out, char *err, size_t errlen);
void nn_model_free(nn_model *m);

int nn_model_n_labels(const nn_model *m);
const char *nn_model_label(const nn_model *m, int i);
/* The front end the model was trained on; pass it to dsp_logmel_new. */
const dsp_params *nn_model_features(const nn_model *m);
/* Stable identifier "name@sha256:<first 16 hex of the file hash>". */
const char *nn_model_id(const nn_model *m);
/* Frames per analysis window (bounded context, e.g. 300 = 3 s). */
int nn_model_window_frames(const nn_model *m);
/* Networks in the model: 1, or 2..16 for an ensemble file (format version 2), whose members
 * share labels, features, window and speaker normaliser and each run over every frame; the
 * posteriors are their mean, at about the cost of one network per member. */
int nn_model_members(const nn_model *m);
/* Floats per input frame: the n_mels log-mel bands, then, when the model reads the voice's pitch,
 * the DSP_PITCH_DIM columns of dsp_pitch for the same frame index. Every frame-taking call below
 * (nn_stream_push, nn_speaker_*, nn_offline_run) takes frames of this width. */
int nn_model_input_dim(const nn_model *m);
/* 1 when the model reads pitch columns, with *flags (may be NULL) the flags to create its
 * dsp_pitch with (0, or DSP_PITCH_SUPPRESSED: the tracker reads the noise suppressor's output);
 * 0 when it reads the bands alone. An ensemble's members all read the same input. */
int nn_model_pitch(const nn_model *m, unsigned *flags);

/* Streaming runner. On success *out is owned by the caller: nn_stream_free. */
int nn_stream_new(const nn_model *m, nn_stream **out, char *err, size_t errlen);
void nn_stream_free(nn_stream *s);
/* Back to the state of a new stream (e.g. at a speech boundary). */
void nn_stream_reset(nn_stream *s);
/* Advances one frame (nn_model_input_dim finite floats). Writes the current
 * posteriors (n_labels floats, summing to 1) into probs and returns 1 when they are defined
 * (the older lane has seen the model's min_frames frames, 0.5 s by default), 0 while the stream
 * is too young (probs untouched). No allocation, lock or system call. */
int nn_stream_push(nn_stream *s, const float *frame, float *probs);

/* Speaker normaliser, for models trained with cmvn "speaker" (nn_model_speaker_norm() == 1).
 * Such a model expects every frame normalised by its speaker's statistics: per band
 * y = (x - mean) / sqrt(var + cmvn_eps), mean and var over the speech frames heard from this
 * voice (the pitch columns too, if the model reads them: a voice's ln F0 becomes its distance
 * from the voice's mean; which frames are speech is decided on the bands alone). The normaliser
 * keeps that estimate OUTSIDE the lanes (it survives their resets), starts
 * from the model's prior (the training speakers' average) weighted as prior_frames frames, is a
 * plain mean up to max_frames speech frames and forgets exponentially beyond, so it follows a new
 * voice within about max_frames of speech. Callers add speech frames (the daemon: frames its gate
 * calls speech; `emotion eval`: nn_speaker_add_utterance over each of a speaker's files first)
 * and pass every frame through nn_speaker_apply before nn_stream_push / nn_offline_run. For other
 * models every call is harmless: add does nothing and apply copies. One nn_speaker per stream;
 * *out owned by the caller (nn_speaker_free); the model must outlive it. nn_speaker_add and
 * nn_speaker_apply do not allocate, lock or make system calls. The defaults (nn_speaker_params_default)
 * are the daemon's, which states them in seconds of speech (the NN_SPEAKER_DEFAULT_* values) and
 * converts them at its model's hop; nn_speaker_params_default converts at 100 frames per second.
 *
 * Level floor (models trained with level_floor c > 0, docs/nn.md): every frame, before the
 * statistics and before normalising, becomes ln(exp(x) + c * exp(level)) per band, where level is
 * the mean raw log-mel (over bands) of the speech frames heard from this voice (the model's prior
 * level before any): detail more than -10 log10(c) dB below the voice's level is hidden in clean
 * and noisy rooms alike, so a steady noise under that floor changes less of what the network
 * sees. The statistics are then those of floored frames, and the prior's mean moves with the
 * voice's level (the prior is an average voice at this voice's level). */
#define NN_SPEAKER_DEFAULT_PRIOR_S 3.0
#define NN_SPEAKER_DEFAULT_MEMORY_S 120.0
#define NN_SPEAKER_DEFAULT_VAR_FLOOR 0.5
typedef struct nn_speaker nn_speaker;
typedef struct {
    int prior_frames;   /* weight of the prior, in frames (300 = 3 s of speech); 0 = none */
    int max_frames;     /* plain mean up to this many speech frames (12000 = 2 min) */
    double var_floor;   /* per band, the variance used is at least var_floor * the prior's
                         * (0.5; 0 = none, as in training): in steady noise a band can be nearly
                         * flat over the speech, and scaling it to unit variance would feed the
                         * network amplified noise. 0..10 */
} nn_speaker_params;
void nn_speaker_params_default(nn_speaker_params *p);
int nn_model_speaker_norm(const nn_model *m);
/* p NULL = defaults. */
int nn_speaker_new(const nn_model *m, const nn_speaker_params *p, nn_speaker **out, char *err,
                   size_t errlen);
void nn_speaker_free(nn_speaker *s);
/* New parameters for the same voice (a configuration reload): the speech heard so far is kept.
 * Does not allocate. NN_EINVAL (and s unchanged) for out-of-range values. */
int nn_speaker_set_params(nn_speaker *s, const nn_speaker_params *p, char *err, size_t errlen);
/* Forget every speech frame: back to the prior (a new voice or device). */
void nn_speaker_reset(nn_speaker *s);
/* The voice heard by `from` (the statistics of its speech frames) carried into s, for a stream
 * that goes on with another model (a reload): the statistics are of raw frames, so any model
 * that reads the same features and has the same level floor (none, or the same c) can use them;
 * s keeps its own model's prior and its parameters. NN_EINVAL (s unchanged) when the two models'
 * features differ (nn_model_features). From a model that does not normalise by speaker (no voice
 * kept), has another level floor or reads other columns (pitch: nn_model_pitch), s is reset.
 * Does not allocate. */
int nn_speaker_copy_voice(nn_speaker *s, const nn_speaker *from, char *err, size_t errlen);
/* One speech frame (nn_model_input_dim floats, raw log-mel and pitch). */
void nn_speaker_add(nn_speaker *s, const float *frame);
/* The speech frames of one whole utterance [n][input_dim]: those whose mean log-energy is within
 * 5 nats (21.7 dB) of the utterance's loudest frame (the rule training used). Returns how many. */
int nn_speaker_add_utterance(nn_speaker *s, const float *frames, int n);
/* The same for count utterances (frames[u]: n[u] frames each) at once: with a level floor, their
 * frames are all floored at the level of all of them (what training does per speaker), where
 * adding them one by one floors each at the level heard up to it. Returns the frames added. */
int nn_speaker_add_utterances(nn_speaker *s, const float *const *frames, const int *n, int count);
/* Normalises one raw frame into out (nn_model_input_dim floats; out may equal frame). */
void nn_speaker_apply(const nn_speaker *s, const float *frame, float *out);
/* Speech frames in the current estimate (after forgetting). */
double nn_speaker_frames(const nn_speaker *s);

/* Offline runner: posteriors of the whole frame matrix [n_frames][input_dim] taken as one window
 * (what training saw; n_frames >= the time pool (2 or 4), any length, frames after the last whole
 * time-pool step are ignored). Allocates its scratch per call. Returns 0 or a negative code
 * (NN_EINVAL for too few or non-finite frames). */
int nn_offline_run(const nn_model *m, const float *frames, int n_frames, float *probs,
                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
