/* pipeline settings: defaults and range checks (see pipeline.h). Separate from pipeline.c so
 * the config parser links without the model runtime. */
#include <stdio.h>
#include <string.h>

#include "pipeline.h"

void pipeline_config_default(pipeline_config *c)
{
    memset(c, 0, sizeof *c);
    c->publish_hz = 10;
    c->smoothing = 0.1;
    c->gate.mode = PIPELINE_GATE_ENERGY;
    c->gate.threshold_db = 6;
    c->gate.abs_floor_db = -65;
    c->gate.onset_ms = 30;
    c->gate.hangover_ms = 300;
    c->gate.contrast_db = 8;
    c->events.on_threshold = 0.5;
    c->events.min_duration_s = 1.0;
    c->events.off_threshold = 0.35;
    c->speaker.prior_s = NN_SPEAKER_DEFAULT_PRIOR_S;
    c->speaker.memory_s = NN_SPEAKER_DEFAULT_MEMORY_S;
    c->speaker.var_floor = NN_SPEAKER_DEFAULT_VAR_FLOOR;
}

#define RANGE(v, lo, hi, name) \
    if (!((v) >= (lo) && (v) <= (hi))) { \
        if (err && errlen) snprintf(err, errlen, "%s = %g is out of range [%g, %g]", name, \
                                    (double)(v), (double)(lo), (double)(hi)); \
        return PIPELINE_EINVAL; \
    }

int pipeline_config_check(const pipeline_config *c, char *err, size_t errlen)
{
    RANGE(c->publish_hz, 0.1, 100, "publish_hz");
    if (!(c->smoothing > 0 && c->smoothing <= 1)) {
        if (err && errlen) snprintf(err, errlen, "smoothing = %g is out of range (0, 1]", c->smoothing);
        return PIPELINE_EINVAL;
    }
    if (c->gate.mode != PIPELINE_GATE_ENERGY && c->gate.mode != PIPELINE_GATE_OFF) {
        if (err && errlen) snprintf(err, errlen, "gate mode %d is neither energy nor off", c->gate.mode);
        return PIPELINE_EINVAL;
    }
    RANGE(c->gate.threshold_db, 0.5, 40, "gate_threshold_db");
    RANGE(c->gate.abs_floor_db, -120, 0, "gate_abs_floor_db");
    RANGE(c->gate.onset_ms, 0, 500, "gate_onset_ms");
    RANGE(c->gate.hangover_ms, 0, 2000, "gate_hangover_ms");
    RANGE(c->gate.contrast_db, 0, 40, "gate_contrast_db");
    if (!(c->events.on_threshold > 0 && c->events.on_threshold <= 1)) {
        if (err && errlen) snprintf(err, errlen, "event_on = %g is out of range (0, 1]", c->events.on_threshold);
        return PIPELINE_EINVAL;
    }
    RANGE(c->events.min_duration_s, 0, 60, "event_min_duration");
    if (!(c->events.off_threshold >= 0 && c->events.off_threshold < c->events.on_threshold)) {
        if (err && errlen) snprintf(err, errlen,
                                    "event_off = %g must be >= 0 and below event_on = %g",
                                    c->events.off_threshold, c->events.on_threshold);
        return PIPELINE_EINVAL;
    }
    RANGE(c->speaker.prior_s, 0, 600, "speaker_prior_s");
    RANGE(c->speaker.memory_s, 1, 3600, "speaker_memory_s");
    RANGE(c->speaker.var_floor, 0, 10, "speaker_var_floor");
    return 0;
}

