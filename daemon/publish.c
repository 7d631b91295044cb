/* publish: what the daemon sends, encoded once per message with proto_ encoders: the main
 * input's posteriors, events, log-mel frames and status (broadcast through the server and, with
 * --json-lines, on stdout), the hello, the sidecar streams' own messages, and the histograms
 * behind /metrics and status. Everything on the loop thread. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "app.h"
#include "log.h"

static const double hop_le[APP_HIST_BUCKETS] = { 25e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6,
                                                 1e-3, 2e-3, 3e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3 };
static const double lat_le[APP_HIST_BUCKETS] = { 5e-3, 10e-3, 15e-3, 20e-3, 25e-3, 30e-3, 40e-3,
                                                 50e-3, 75e-3, 100e-3, 150e-3, 250e-3, 500e-3, 1.0 };

uint64_t app_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t app_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void app_hist_add(app_hist *h, double v)
{
    int i = 0;
    while (i < APP_HIST_BUCKETS && v > h->le[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->n++;
    if (v > h->max) h->max = v;
}

/* Quantile from the histogram, linear within a bucket; seconds, or -1 when empty. */
double app_hist_quantile(const app_hist *h, double q)
{
    if (h->n == 0) return -1;
    double want = q * (double)h->n, acc = 0;
    for (int i = 0; i <= APP_HIST_BUCKETS; i++) {
        if (acc + (double)h->counts[i] >= want && h->counts[i] > 0) {
            double lo = i ? h->le[i - 1] : 0, hi = i < APP_HIST_BUCKETS ? h->le[i] : h->max;
            return lo + (hi - lo) * (want - acc) / (double)h->counts[i];
        }
        acc += (double)h->counts[i];
    }
    return h->max;
}

/* ---- publishing ------------------------------------------------------------------------ */

/* After server_stop (shutdown) messages still go to stdout, no longer to the server. */
static char *msg_buf(app *a, size_t *cap)
{
    if (a->srv && !a->stopping) {
        char *b = server_publish_buf(a->srv, cap);
        if (b) return b;
    }
    *cap = sizeof a->msg;
    return a->msg;
}

/* Sends what was encoded into msg_buf's buffer: one broadcast and, if asked, one JSON line. */
static void msg_commit(app *a, unsigned kind, char *buf, int len, const char *what)
{
    if (len < 0) {
        log_msg(LOG_WARNING, "could not encode %s: %s", what, proto_strerror(len));
        return;
    }
    if (a->cfg.json_lines == 1 && kind != PROTO_STREAM_FRAMES) {
        buf[len] = '\n';
        if (fwrite(buf, 1, (size_t)len + 1, stdout) != (size_t)len + 1 && !a->stopping)
            log_msg(LOG_WARNING, "stdout: %s", strerror(errno));
        if (!a->cfg.fast) fflush(stdout);
        buf[len] = '\0';
    }
    if (!a->srv || a->stopping) return;
    if (buf != a->msg) server_publish_commit(a->srv, kind, (size_t)len);
    else server_publish(a->srv, kind, buf, (size_t)len);
}

static void main_on_posteriors(void *user, const pipeline_result *r)
{
    app *a = user;
    size_t cap;
    char *b = msg_buf(a, &cap);
    proto_posteriors m = { a->seq++, a->t_offset + r->t, app_wall_ms(), a->labels, r->probs,
                           r->n_labels, r->speech, r->top, r->conf };
    msg_commit(a, PROTO_STREAM_POSTERIORS, b, proto_encode_posteriors(&m, b, cap - 1), "posteriors");

    /* Capture-to-publish latency: the ADC time of the newest input sample this hop holds. */
    if (a->cap && capture_state(a->cap) == CAPTURE_RUNNING && r->t >= a->lat_from_t) {
        int64_t f = (int64_t)llround((r->t - pipeline_delay_s(a->pipe)) * a->main_rate) - 1 + a->ring_off;
        double st = ring_stamp_for(capture_ring(a->cap), f < 0 ? 0 : f, a->main_rate);
        double now = capture_now(a->cap);
        if (isfinite(st) && isfinite(now) && now >= st) app_hist_add(&a->lat_hist, now - st);
    }
    /* the frames stream runs only while somebody watches it; a new run starts a new batch */
    if (a->srv && !a->stopping) {
        int on = server_subscribers(a->srv, PROTO_STREAM_FRAMES) > 0;
        if (on && !a->frames_on) a->frame_n = 0;
        a->frames_on = on;
        pipeline_set_frames(a->pipe, on);
    }
}

static void main_on_event(void *user, const pipeline_event *e)
{
    app *a = user;
    size_t cap;
    char *b = msg_buf(a, &cap);
    proto_event m = { a->seq, a->t_offset + e->t, app_wall_ms(), a->labels[e->label],
                      e->state == PIPELINE_ONSET ? PROTO_ONSET : PROTO_OFFSET, e->held_s, e->prob };
    log_msg(LOG_DEBUG, "event %s %s at %.2f s (held %.2f s)", m.label,
            m.state == PROTO_ONSET ? "onset" : "offset", m.t, m.held_s);
    msg_commit(a, PROTO_STREAM_EVENTS, b, proto_encode_event(&m, b, cap - 1), "event");
}

static void main_on_frame(void *user, const float *logmel, int n_mels, int speech, double t)
{
    app *a = user;
    if (n_mels > 512) return;
    if (a->frame_n == 0) {
        a->frame_t0 = a->t_offset + t;
        a->frame_seq = a->hops_total; /* on_hop counts this hop after on_frame */
    }
    memcpy(a->frame_batch + (size_t)a->frame_n * (size_t)n_mels, logmel, (size_t)n_mels * sizeof(float));
    a->frame_gate[a->frame_n] = (float)speech;
    if (++a->frame_n < APP_FRAME_BATCH) return;
    size_t cap;
    char *b = msg_buf(a, &cap);
    /* ln-power range of speech through the front end: -20 (quiet) .. 5 (loud) */
    proto_frames m = { a->frame_seq, a->frame_t0, a->frame_n, n_mels, a->frame_batch, -20.0f, 5.0f,
                       a->frame_gate };
    msg_commit(a, PROTO_STREAM_FRAMES, b, proto_encode_frames(&m, b, cap - 1), "frames");
    a->frame_n = 0;
}

static void main_on_hop(void *user, double s)
{
    app *a = user;
    a->hops_total++;
    app_hist_add(&a->hop_hist, s);
}

const pipeline_callbacks app_main_cb = { main_on_posteriors, main_on_event, main_on_frame,
                                            main_on_hop };

void app_publish_status(app *a)
{
    server_stats ss = { 0 };
    if (a->srv) server_get_stats(a->srv, &ss);
    size_t cap;
    char *b = msg_buf(a, &cap);
    proto_status m = {
        a->t_offset + (a->pipe ? pipeline_time(a->pipe) : 0), app_wall_ms(), a->dev_state,
        a->input.device, a->hops_total, a->cap ? capture_overrun_chunks(a->cap) : 0, ss.drops,
        ss.subscribers, ss.sidecars,
        a->hop_hist.n ? 1e3 * app_hist_quantile(&a->hop_hist, 0.5) : -1,
        a->hop_hist.n ? 1e3 * app_hist_quantile(&a->hop_hist, 0.99) : -1,
        a->hop_hist.n ? 1e3 * a->hop_hist.max : -1,
        a->lat_hist.n ? 1e3 * app_hist_quantile(&a->lat_hist, 0.5) : -1,
        a->lat_hist.n ? 1e3 * app_hist_quantile(&a->lat_hist, 0.99) : -1 };
    msg_commit(a, PROTO_STREAM_STATUS, b, proto_encode_status(&m, b, cap - 1), "status");
}

void app_send_hello(app *a, int broadcast)
{
    const pipeline_config *pc = a->pipe ? pipeline_get_config(a->pipe) : &a->cfg.pipe;
    const dsp_params *fp = nn_model_features(a->model);
    proto_hello h = { EMOTIOND_VERSION, nn_model_id(a->model), a->labels, a->n_labels,
                      1000.0 * fp->hop_length / fp->sample_rate, pc->publish_hz, pc->smoothing,
                      a->input, PROTO_STREAMS_DEFAULT };
    a->hello_sent = 1;
    if (a->srv) {
        int rc = server_set_hello(a->srv, &h, broadcast);
        if (rc < 0) log_msg(LOG_ERR, "hello refused: %s", proto_strerror(rc));
    }
    if (a->cfg.json_lines == 1) {
        int len = proto_encode_hello(&h, a->msg, sizeof a->msg - 1);
        if (len > 0) {
            fwrite(a->msg, 1, (size_t)len, stdout);
            fputc('\n', stdout);
            fflush(stdout);
        }
    }
}

void app_set_state(app *a, int state, const char *msg)
{
    int changed = state != a->dev_state;
    a->dev_state = state;
    int level = state == PROTO_DEV_RUNNING || state == PROTO_DEV_ENDED ? LOG_INFO
              : state == PROTO_DEV_REOPENING ? LOG_DEBUG : LOG_WARNING;
    if (msg) {
        /* a machine without a sound card retries forever: say it once, then at debug level
         * (the retry delay in the message changes, so compare up to it) */
        const char *cut = strstr(msg, "; retrying in");
        size_t len = cut ? (size_t)(cut - msg) : strlen(msg);
        if (state == a->last_logged_state && len < sizeof a->last_state_msg &&
            !strncmp(a->last_state_msg, msg, len) && a->last_state_msg[len] == '\0')
            level = LOG_DEBUG;
        if (state != PROTO_DEV_REOPENING) {
            snprintf(a->last_state_msg, sizeof a->last_state_msg, "%.*s", (int)len, msg);
            a->last_logged_state = state;
        }
        log_msg(level, "%s", msg);
        sd_notifyf(0, "STATUS=%s", msg);
    }
    if (changed && a->hello_sent) app_publish_status(a);
}

void app_set_labels(app *a)
{
    a->n_labels = nn_model_n_labels(a->model);
    for (int i = 0; i < a->n_labels && i < PIPELINE_MAX_LABELS; i++) a->labels[i] = nn_model_label(a->model, i);
}

int app_make_main_pipeline(app *a, double rate, int channels, enum pipeline_format fmt,
                           char *err, size_t errlen)
{
    pipeline *np;
    int rc = pipeline_new(a->model, rate, channels, fmt, &a->cfg.pipe, &app_main_cb, a, 0, &np, err, errlen);
    if (rc < 0) return rc;
    if (a->pipe) {
        a->t_offset += pipeline_time(a->pipe);
        pipeline_free(a->pipe);
    }
    a->pipe = np;
    a->main_rate = rate;
    a->main_channels = channels;
    a->main_fmt = fmt;
    a->ring_off = a->ring_read;
    a->lat_from_t = 0;
    a->frame_n = 0;
    a->input.rate = rate;
    a->input.channels = channels;
    if (a->hello_sent) app_send_hello(a, 1);
    return 0;
}

/* ---- sidecar streams -------------------------------------------------------------------------- */

static void side_on_posteriors(void *user, const pipeline_result *r)
{
    app_sidecar *s = user;
    app *a = s->app;
    proto_posteriors m = { s->seq++, s->t_offset + r->t, app_wall_ms(), a->labels, r->probs,
                           r->n_labels, r->speech, r->top, r->conf };
    int len = proto_encode_posteriors(&m, a->msg, sizeof a->msg);
    if (len > 0) server_send_to(s->conn, PROTO_STREAM_POSTERIORS, a->msg, (size_t)len);
}

static void side_on_event(void *user, const pipeline_event *e)
{
    app_sidecar *s = user;
    app *a = s->app;
    proto_event m = { s->seq, s->t_offset + e->t, app_wall_ms(), a->labels[e->label],
                      e->state == PIPELINE_ONSET ? PROTO_ONSET : PROTO_OFFSET, e->held_s, e->prob };
    int len = proto_encode_event(&m, a->msg, sizeof a->msg);
    if (len > 0) server_send_to(s->conn, PROTO_STREAM_EVENTS, a->msg, (size_t)len);
}

const pipeline_callbacks app_side_cb = { side_on_posteriors, side_on_event, NULL, NULL };

int app_side_pipeline(app *a, app_sidecar *s, nn_model *m, const pipeline_config *pc,
                         pipeline **out, char *err, size_t errlen)
{
    int fmt = s->audio.u.audio.format == PROTO_PCM_F32LE ? PIPELINE_F32LE : PIPELINE_S16LE;
    (void)a;
    return pipeline_new(m, s->audio.u.audio.rate, s->audio.u.audio.channels, fmt, pc, &app_side_cb, s,
                        0, out, err, errlen);
}


void app_hist_init(app *a)
{
    for (int i = 0; i < APP_HIST_BUCKETS; i++) {
        a->hop_hist.le[i] = hop_le[i];
        a->lat_hist.le[i] = lat_le[i];
    }
}
