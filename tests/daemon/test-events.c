/* events: smoothing and onset/offset hysteresis on controlled posteriors. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "events.h"

#define HOP 0.01

struct log { int n; pipeline_event ev[64]; };
static void on_ev(void *user, const pipeline_event *e)
{
    struct log *l = user;
    if (l->n < 64) l->ev[l->n++] = *e;
}

/* Feeds `hops` hops of a distribution with label `lab` at prob p (rest spread evenly). */
static double feed(events *e, struct log *l, double t, int hops, int lab, float p)
{
    float in[4];
    for (int i = 0; i < 4; i++) in[i] = (1 - p) / 3;
    in[lab] = p;
    for (int h = 0; h < hops; h++) {
        t += HOP;
        events_push(e, in, t, on_ev, l);
    }
    return t;
}

static void smoothing_converges(void)
{
    pipeline_event_config ec = { 0.5, 1.0, 0.35 };
    events *e = events_new(4, HOP, 0.1, &ec);
    const float *s = events_smoothed(e);
    CHECK(fabsf(s[0] - 0.25f) < 1e-6);
    struct log l = { 0 };
    feed(e, &l, 0, 1, 2, 1.0f);
    CHECK(fabsf(s[2] - (0.25f + 0.1f * 0.75f)) < 1e-6);
    feed(e, &l, 0, 200, 2, 1.0f);
    CHECK(s[2] > 0.999f);
    double sum = 0;
    for (int i = 0; i < 4; i++) sum += s[i];
    CHECK(fabs(sum - 1) < 1e-5);
    events_set_alpha(e, 1.0);
    feed(e, &l, 0, 1, 0, 0.7f);
    CHECK(fabsf(s[0] - 0.7f) < 1e-6);
    events_free(e);
}

static void flicker_gives_no_event(void)
{
    pipeline_event_config ec = { 0.5, 1.0, 0.35 };
    events *e = events_new(4, HOP, 1.0, &ec);
    struct log l = { 0 };
    double t = 0;
    /* above on for 0.6 s, then just below on (but above off) for 0.1 s, 10 times: never 1 s */
    for (int k = 0; k < 10; k++) {
        t = feed(e, &l, t, 60, 3, 0.8f);
        t = feed(e, &l, t, 10, 3, 0.45f);
    }
    CHECKF(l.n == 0, "%d events from flicker", l.n);
    events_free(e);
}

static void sustained_label_onset_then_offset(void)
{
    pipeline_event_config ec = { 0.5, 2.0, 0.35 };
    events *e = events_new(4, HOP, 1.0, &ec);
    struct log l = { 0 };
    double t = feed(e, &l, 0, 100, 0, 0.25f);
    t = feed(e, &l, t, 199, 3, 0.9f);   /* 1.99 s above: not yet */
    CHECK(l.n == 0);
    t = feed(e, &l, t, 1, 3, 0.9f);     /* 2.0 s */
    CHECK(l.n == 1);
    CHECK(l.ev[0].label == 3 && l.ev[0].state == PIPELINE_ONSET);
    CHECKF(fabs(l.ev[0].held_s - 2.0) < 1e-6, "held %g", l.ev[0].held_s);
    CHECK(fabs(l.ev[0].t - 3.0) < 1e-6);
    /* dips between the thresholds keep it active */
    t = feed(e, &l, t, 300, 3, 0.4f);
    CHECK(l.n == 1);
    t = feed(e, &l, t, 1, 3, 0.3f);
    CHECK(l.n == 2);
    CHECK(l.ev[1].label == 3 && l.ev[1].state == PIPELINE_OFFSET);
    CHECKF(fabs(l.ev[1].held_s - 5.01) < 1e-6, "held %g", l.ev[1].held_s);
    events_free(e);
}

static void label_change_offset_before_onset(void)
{
    pipeline_event_config ec = { 0.5, 0.0, 0.35 };
    events *e = events_new(4, HOP, 1.0, &ec);
    struct log l = { 0 };
    double t = feed(e, &l, 0, 5, 1, 0.9f);
    CHECK(l.n == 1 && l.ev[0].label == 1 && l.ev[0].state == PIPELINE_ONSET);
    feed(e, &l, t, 1, 2, 0.9f);
    CHECK(l.n == 3);
    CHECK(l.ev[1].label == 1 && l.ev[1].state == PIPELINE_OFFSET);
    CHECK(l.ev[2].label == 2 && l.ev[2].state == PIPELINE_ONSET);
    events_reset(e);
    CHECK(fabsf(events_smoothed(e)[2] - 0.25f) < 1e-6);
    events_free(e);
}

static void bad_args(void)
{
    pipeline_event_config ec = { 0.5, 1.0, 0.35 };
    CHECK(events_new(0, HOP, 0.1, &ec) == NULL);
    CHECK(events_new(PIPELINE_MAX_LABELS + 1, HOP, 0.1, &ec) == NULL);
    CHECK(events_new(4, 0, 0.1, &ec) == NULL);
}

int main(void)
{
    RUN(smoothing_converges);
    RUN(flicker_gives_no_event);
    RUN(sustained_label_onset_then_offset);
    RUN(label_change_offset_before_onset);
    RUN(bad_args);
    return check_failures != 0;
}
