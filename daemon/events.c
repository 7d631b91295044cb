/* events: see events.h. */
#include "events.h"

#include <stdlib.h>

enum { IDLE, PENDING, ACTIVE };

struct events {
    int n;
    double hop_s, alpha;
    pipeline_event_config ec;
    float s[PIPELINE_MAX_LABELS];
    int state[PIPELINE_MAX_LABELS];
    double since[PIPELINE_MAX_LABELS]; /* PENDING: first hop above; ACTIVE: onset time */
    double above_since[PIPELINE_MAX_LABELS];
};

events *events_new(int n_labels, double hop_s, double alpha, const pipeline_event_config *ec)
{
    if (n_labels < 1 || n_labels > PIPELINE_MAX_LABELS || !(hop_s > 0)) return NULL;
    events *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->n = n_labels;
    e->hop_s = hop_s;
    e->alpha = alpha;
    e->ec = *ec;
    events_reset(e);
    return e;
}

void events_free(events *e) { free(e); }
void events_set_alpha(events *e, double alpha) { e->alpha = alpha; }
void events_set_config(events *e, const pipeline_event_config *ec) { e->ec = *ec; }

void events_reset(events *e)
{
    for (int i = 0; i < e->n; i++) {
        e->s[i] = 1.0f / (float)e->n;
        e->state[i] = IDLE;
    }
}

const float *events_smoothed(const events *e) { return e->s; }

void events_push(events *e, const float *in, double t,
                 void (*cb)(void *user, const pipeline_event *ev), void *user)
{
    float a = (float)e->alpha;
    for (int i = 0; i < e->n; i++) e->s[i] += a * (in[i] - e->s[i]);

    /* Offsets first, so a change of label reads "offset old, onset new" in stream order. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < e->n; i++) {
            double p = e->s[i];
            if (pass == 0) {
                if (e->state[i] == ACTIVE && p < e->ec.off_threshold) {
                    e->state[i] = IDLE;
                    pipeline_event ev = { t, i, PIPELINE_OFFSET, t - e->above_since[i], (float)p };
                    if (cb) cb(user, &ev);
                }
                continue;
            }
            if (e->state[i] == IDLE && p > e->ec.on_threshold) {
                e->state[i] = PENDING;
                /* the prob was above since this hop's start */
                e->above_since[i] = t - e->hop_s;
            }
            if (e->state[i] == PENDING) {
                if (!(p > e->ec.on_threshold)) {
                    e->state[i] = IDLE;
                } else if (t - e->above_since[i] >= e->ec.min_duration_s - 1e-9) {
                    e->state[i] = ACTIVE;
                    e->since[i] = t;
                    pipeline_event ev = { t, i, PIPELINE_ONSET, t - e->above_since[i], (float)p };
                    if (cb) cb(user, &ev);
                }
            }
        }
    }
}
