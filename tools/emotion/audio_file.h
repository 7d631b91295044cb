/* audio_file: reading audio files for the `emotion` tools, with the validation the CLI promises.
 *
 * Promises: any format libsndfile reads (WAV, FLAC, Ogg/Vorbis, Opus, AIFF, MP3, ...). Opening
 * refuses, with one message naming the problem: a missing path, a directory, an empty (0-byte)
 * file, anything libsndfile does not recognise, sample rates outside 8000..192000 Hz, more than
 * 32 channels, files whose header announces more audio than the file holds (libsndfile silently
 * shortens those; we read its header log), and files with no audio at all. Reading refuses NaN or
 * Inf samples (naming the time, frame and channel) and reports a file that ends before the frame
 * count its header announced, or that the decoder could not finish. Messages do not contain the
 * file name; callers print "emotion: PATH: message".
 *
 * The decode helpers downmix to mono and resample to a target rate through dsp_resampler
 * (libsoxr), flushing at the end, so the mono stream has the length the whole file implies.
 */
#ifndef EMOTION_AUDIO_FILE_H
#define EMOTION_AUDIO_FILE_H

#include <stddef.h>
#include <stdint.h>

#define AUDIO_FILE_MIN_RATE 8000
#define AUDIO_FILE_MAX_RATE 192000
#define AUDIO_FILE_MAX_CHANNELS 32

typedef struct audio_file audio_file;

typedef struct audio_info {
    int64_t frames;        /* samples per channel the header announces; -1 when unknown */
    int rate;              /* Hz */
    int channels;
    int sf_format;         /* libsndfile SF_FORMAT_* (major | subtype) */
    char format[64];       /* short name, e.g. "FLAC PCM_16", "WAV FLOAT", "OGG VORBIS" */
} audio_info;

/* Opens and validates path. On success *out is owned by the caller: audio_file_close.
 * Returns 0 or -1 with err set. */
int audio_file_open(const char *path, audio_file **out, char *err, size_t errlen);
void audio_file_close(audio_file *f);
const audio_info *audio_file_info(const audio_file *f);

/* Reads up to max_frames interleaved frames into buf (max_frames * channels floats). Returns the
 * count, 0 at a clean end of file, or -1 with err set (non-finite sample, decode error,
 * truncation found at the end, or a file that turned out to hold no audio). */
int64_t audio_file_read(audio_file *f, float *buf, size_t max_frames, char *err, size_t errlen);
/* Frames returned so far. */
int64_t audio_file_frames_read(const audio_file *f);

/* Mono samples at out_rate, handed to cb in chunks as they are decoded; cb returns 0 to go on or
 * a negative value to stop (audio_file_decode_mono then returns that value, leaving err as cb
 * set it). progress (may be NULL) gets the fraction of the file decoded, when the length is
 * known. *n_out (may be NULL) gets the number of mono samples delivered. Returns 0 or -1. */
typedef int (*audio_chunk_cb)(void *user, const float *mono, size_t n, char *err, size_t errlen);
typedef void (*audio_progress_cb)(void *user, double fraction);
int audio_file_decode_mono(audio_file *f, double out_rate, audio_chunk_cb cb,
                           audio_progress_cb progress, void *user, size_t *n_out, char *err,
                           size_t errlen);

/* Whole file as mono float at out_rate. On success *out (malloc'd, owned by the caller: free())
 * holds *n samples. Opens, validates, decodes and closes. Returns 0 or -1 with err set. */
int audio_file_load_mono(const char *path, double out_rate, float **out, size_t *n, char *err,
                         size_t errlen);

/* Mono samples a file of in_frames at in_rate yields at out_rate through the decode helpers
 * (what `info` reports without decoding). */
size_t audio_file_resampled_length(int64_t in_frames, double in_rate, double out_rate);

/* A model's input frames of the signal x[0..n) (model-rate mono): the log-mel frames of front
 * end p, each followed, when pitch_flags >= 0, by the DSP_PITCH_DIM columns dsp_pitch (with
 * those flags) gives the same frame: *feat (malloc'd, [*n_frames][n_mels (+ DSP_PITCH_DIM)],
 * owned by the caller: free()). 0, or -1 with one line in err (fewer than 2 frames, front end
 * error). */
struct dsp_params;
int audio_frames(const float *x, size_t n, const struct dsp_params *p, int pitch_flags,
                 float **feat, int64_t *n_frames, char *err, size_t errlen);
/* The same for a whole file (0, or -1 also when it cannot be read). */
int audio_file_load_frames(const char *path, const struct dsp_params *p, int pitch_flags,
                           float **feat, int64_t *n_frames, char *err, size_t errlen);

/* Nonzero when libsndfile has a reader for this file name's extension (batch directory scans). */
int audio_file_known_extension(const char *name);

#endif
