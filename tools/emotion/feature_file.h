/* feature_file: log-mel (and pitch) frames of a whole audio file, as `emotion features` writes them.
 *
 * Promises: the file is decoded, downmixed and resampled to p->sample_rate (audio_file), and the
 * mono stream is pushed through one dsp_logmel, so the frames are exactly dsp_logmel_batch() over
 * the resampled signal (dsp's streaming == batch contract). Audio shorter than one analysis
 * window is an error rather than an empty matrix: a [0, n_mels] array is never what a caller of
 * a feature extractor wants.
 */
#ifndef EMOTION_FEATURE_FILE_H
#define EMOTION_FEATURE_FILE_H

#include <stddef.h>

#include "audio_file.h"
#include "cli_util.h"
#include "dsp.h"

/* Column sets of a feature row: the log-mel bands, the pitch tracker's DSP_PITCH_DIM values
 * (ln F0, periodicity), or both in that order. FEATURES_PITCH_SUPPRESSED, beside FEATURES_PITCH,
 * makes the tracker read the noise suppressor's output (DSP_PITCH_SUPPRESSED; needs denoise_db). */
enum { FEATURES_MEL = 1, FEATURES_PITCH = 2, FEATURES_PITCH_SUPPRESSED = 4 };

/* Floats per row for a column set. */
int features_width(const dsp_params *p, int columns);

/* Frames of f (opened, not yet read) for p. On success *out (malloc'd, owned by the caller:
 * free()) holds *n_frames rows of features_width(p, columns) floats; the count is always the
 * log-mel's (dsp_logmel_frame_count). progress may be NULL; it is fed the decoded fraction under
 * the label `name`. Returns 0 or -1 with err set. */
int features_compute(audio_file *f, const dsp_params *p, int columns, cli_progress *progress,
                     const char *name, float **out, size_t *n_frames, char *err, size_t errlen);

/* Frames a file of in_frames at in_rate yields for p (what `info` reports). */
size_t features_frame_count(const dsp_params *p, int64_t in_frames, int in_rate);

/* Parameters as one deterministic JSON object (a line, no newline), for `info --json` and the
 * batch cache stamp. Returns the length written (truncated to cap like snprintf). */
int features_params_json(const dsp_params *p, char *buf, size_t cap);

const char *features_mel_scale_name(int scale);

#endif
