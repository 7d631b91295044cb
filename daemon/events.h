/* events: exponential smoothing of posteriors and onset/offset events with hysteresis.
 *
 * Per label: IDLE -> (smoothed prob > on_threshold) -> PENDING; PENDING falls back to IDLE the
 * hop the prob is no longer above on_threshold, and fires ONSET once it has stayed above for
 * min_duration_s; ACTIVE fires OFFSET when the prob drops below off_threshold. The gap between
 * the two thresholds and the minimum duration mean that a label flickering around a threshold
 * fires nothing: a kiosk can alert on "angry for 2 s" (on 0.5, min 2 s) without flicker.
 *
 * Promises: sized at events_new, no allocation afterwards; not thread-safe.
 */
#ifndef EMOTIOND_EVENTS_H
#define EMOTIOND_EVENTS_H

#include "pipeline.h"

typedef struct events events;

/* n_labels 1..PIPELINE_MAX_LABELS; hop_s: seconds per hop. NULL on bad args. Owner: caller. */
events *events_new(int n_labels, double hop_s, double alpha, const pipeline_event_config *ec);
void events_free(events *e);
void events_set_alpha(events *e, double alpha);
void events_set_config(events *e, const pipeline_event_config *ec);
/* Smoother back to uniform, every label idle. */
void events_reset(events *e);

/* One hop: smooths `in` (n_labels, sums to 1) into the state, then runs the state machines at
 * stream time t, calling cb(user, event) for each event fired (onsets after offsets). */
void events_push(events *e, const float *in, double t,
                 void (*cb)(void *user, const pipeline_event *ev), void *user);
/* The smoothed distribution (n_labels floats). */
const float *events_smoothed(const events *e);

#endif
