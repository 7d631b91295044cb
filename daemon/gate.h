/* gate: speech gate (voice activity) on log-mel frames.
 *
 * Why our own and not speexdsp's VAD: the pipeline already has a log-mel frame every hop, so a
 * gate on it costs a few dozen flops and no second front end; speexdsp's preprocessor VAD
 * needs int16 frames of its own size and a denoiser state, and its decision is documented by
 * speex itself as rough. The figures that justify this gate are in BENCHMARKS.md "Speech gate"
 * (emotiond-gate-eval: miss rate on corpus speech, false accepts on silence and noise).
 *
 * Decision per hop:
 *   level  = energy of the mel bands between 200 Hz and 4 kHz (the speech band), in dB relative
 *            to a full-scale 1 kHz sine through the same front end (so "dBFS"), lightly smoothed
 *            (30 ms time constant);
 *   floor  = minimum of that level over the last ~1.6 s (8 blocks of 200 ms: minimum
 *            statistics, as noise estimators do): stationary noise of any level becomes the
 *            floor within 1.6 s, while speech always has gaps between syllables;
 *   contrast = the same per mel band of the speech band (level and 1.6 s minimum per band):
 *            mean of the 5 highest band SNRs minus the mean band SNR. Broadband noise that
 *            only gets louder (a swaying fan, rising traffic) lifts all bands alike (contrast
 *            ~4 dB); voiced speech lifts its harmonic and formant bands (15-30 dB);
 *   active = level > floor + threshold_db and level > abs_floor_db and contrast > contrast_db
 *            (when contrast_db > 0) for onset_ms in a row; stays active for hangover_ms after
 *            the last such hop.
 * Known limits: non-stationary noise with spectral structure (music, babble, door slams) above
 * the threshold is taken for speech; speech that starts within the first hops of a stream
 * with no quiet before it is found only once a gap has lowered the floor.
 *
 * Promises: all state sized at gate_new (which runs the front end once to calibrate); gate_push
 * never allocates. Not thread-safe.
 */
#ifndef EMOTIOND_GATE_H
#define EMOTIOND_GATE_H

#include "dsp.h"

typedef struct gate gate;

typedef struct gate_params {
    double threshold_db;  /* see pipeline_gate_config */
    double abs_floor_db;
    double onset_ms;
    double hangover_ms;
    double contrast_db;   /* 0 = off; else also require the speech band's spectrum to stand out
                             from the per-band noise floors by this much (top bands vs mean) */
} gate_params;

/* Makes a gate for frames made with `features` (copied). NULL on failure (bad params,
 * allocation). Owner: caller, gate_free. */
gate *gate_new(const dsp_params *features, const gate_params *gp);
void gate_free(gate *g);
void gate_set_params(gate *g, const gate_params *gp);
void gate_reset(gate *g);
/* One log-mel frame (n_mels floats); returns 1 for speech. */
int gate_push(gate *g, const float *logmel);
/* Level and floor (dBFS) after the last push, and the spectral contrast (dB). */
float gate_level_db(const gate *g);
float gate_floor_db(const gate *g);
float gate_contrast_db(const gate *g);

#endif
