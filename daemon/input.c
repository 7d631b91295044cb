/* input: the main input's sources, all feeding app->pipe on the loop thread.
 *   mic:   capture.c's ring, drained on every uv_async wake-up;
 *   file:  libsndfile, at real-time pace (a 10 ms uv_timer pushing what the wall clock says is
 *          due) or with --fast as fast as possible (a uv_idle handle pushing 8192 frames per
 *          turn of the loop, so HTTP/WebSocket keep being served meanwhile);
 *   stdin: raw PCM read by libuv (uv_pipe for pipes, sockets and ttys; uv_fs_read for a
 *          redirected regular file), partial frames carried to the next read. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

#define FILE_TICK_MS 10
#define FAST_CHUNK 8192
#define DRAIN_FRAMES 4096

/* ---- microphone ------------------------------------------------------------------------ */

static void mic_drain(app *a)
{
    ring *r = capture_ring(a->cap);
    if (!r || !a->pipe) return;
    size_t ch = (size_t)capture_channels(a->cap);
    for (;;) {
        size_t n = ring_read(r, a->drain, a->drain_cap - a->drain_cap % ch);
        if (n == 0) break;
        a->ring_read += (int64_t)(n / ch);
        pipeline_push(a->pipe, a->drain, n / ch);
    }
}

static void mic_on_data(void *user)
{
    mic_drain(user);
}

static void mic_on_state(void *user, int state, const char *msg)
{
    app *a = user;
    char err[512];
    int ps = state == CAPTURE_RUNNING ? PROTO_DEV_RUNNING
           : state == CAPTURE_WAITING ? PROTO_DEV_WAITING
           : state == CAPTURE_LOST ? PROTO_DEV_LOST : PROTO_DEV_REOPENING;
    if (state == CAPTURE_RUNNING) {
        double rate = capture_rate(a->cap);
        int ch = capture_channels(a->cap);
        size_t need = DRAIN_FRAMES * (size_t)ch;
        if (a->drain_cap < need) {
            float *d = realloc(a->drain, need * sizeof *d);
            if (!d) {
                log_msg(LOG_ERR, "out of memory for the capture buffer");
                return;
            }
            a->drain = d;
            a->drain_cap = need;
        }
        a->ring_read = 0;
        snprintf(a->input_desc, sizeof a->input_desc, "mic:%s", capture_device_name(a->cap));
        a->input.device = capture_device_name(a->cap);
        if (!a->pipe || a->main_rate != rate || a->main_channels != ch) {
            if (app_make_main_pipeline(a, rate, ch, PIPELINE_F32LE, err, sizeof err) < 0) {
                log_msg(LOG_ERR, "capture at %g Hz x %d: %s", rate, ch, err);
                return;
            }
        } else {
            a->ring_off = -pipeline_in_frames(a->pipe);
        }
        /* Latency is a steady-state figure: at stream start PulseAudio hands over its backlog
         * (up to ~0.6 s old), so the first second after each open is not recorded. */
        a->lat_from_t = pipeline_time(a->pipe) + 1.0;
    }
    app_set_state(a, ps, msg);
}

/* ---- file ------------------------------------------------------------------------------ */

static void file_push(app *a, int64_t frames)
{
    float buf[FAST_CHUNK * 2];
    int ch = a->sfi.channels;
    int64_t per = (int64_t)(sizeof buf / sizeof buf[0]) / ch;
    while (frames > 0) {
        int64_t k = frames < per ? frames : per;
        sf_count_t got = sf_readf_float(a->sf, buf, k);
        if (got <= 0) {
            if (sf_error(a->sf)) log_msg(LOG_ERR, "%s: %s", a->cfg.file, sf_strerror(a->sf));
            if (a->cfg.fast) uv_idle_stop(&a->file_idle);
            else uv_timer_stop(&a->file_timer);
            app_input_ended(a);
            return;
        }
        if (pipeline_push(a->pipe, buf, (size_t)got) == PIPELINE_EINPUT)
            log_msg(LOG_WARNING, "%s: NaN/Inf samples near frame %lld skipped", a->cfg.file,
                    (long long)a->file_pushed);
        a->file_pushed += got;
        frames -= got;
    }
}

static void on_file_idle(uv_idle_t *h)
{
    file_push(h->data, FAST_CHUNK);
}

static void on_file_tick(uv_timer_t *t)
{
    app *a = t->data;
    double el = (double)(app_now_ns() - a->file_t0_ns) / 1e9;
    int64_t due = (int64_t)(el * a->sfi.samplerate) - a->file_pushed;
    if (due > 0) file_push(a, due);
}

static int file_start(app *a, char *err, size_t errlen)
{
    memset(&a->sfi, 0, sizeof a->sfi);
    a->sf = sf_open(a->cfg.file, SFM_READ, &a->sfi);
    if (!a->sf) {
        snprintf(err, errlen, "--input %s: %s", a->cfg.file, sf_strerror(NULL));
        return -1;
    }
    /* float reads of integer files scale to [-1, 1) */
    sf_command(a->sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
    if (a->sfi.channels < 1 || a->sfi.channels > 2 * FAST_CHUNK) {
        snprintf(err, errlen, "--input %s: %d channels", a->cfg.file, a->sfi.channels);
        return -1;
    }
    snprintf(a->input_desc, sizeof a->input_desc, "file:%s", a->cfg.file);
    a->input.kind = PROTO_INPUT_FILE;
    a->input.device = a->cfg.file;
    if (app_make_main_pipeline(a, a->sfi.samplerate, a->sfi.channels, PIPELINE_F32LE, err, errlen) < 0)
        return -1;
    a->file_t0_ns = app_now_ns();
    if (a->cfg.fast) {
        uv_idle_init(&a->loop, &a->file_idle);
        a->file_idle.data = a;
        uv_idle_start(&a->file_idle, on_file_idle);
    } else {
        uv_timer_init(&a->loop, &a->file_timer);
        a->file_timer.data = a;
        uv_timer_start(&a->file_timer, on_file_tick, 0, FILE_TICK_MS);
    }
    char msg[CONFIG_PATH_MAX + 64];
    snprintf(msg, sizeof msg, "reading %s (%d Hz, %d ch, %.1f s)%s", a->cfg.file, a->sfi.samplerate,
             a->sfi.channels, (double)a->sfi.frames / a->sfi.samplerate, a->cfg.fast ? " as fast as possible" : "");
    app_set_state(a, PROTO_DEV_RUNNING, msg);
    return 0;
}

/* ---- stdin ----------------------------------------------------------------------------- */

static void stdin_bytes(app *a, const unsigned char *p, size_t n)
{
    size_t fb = (size_t)(a->cfg.stdin_format == PIPELINE_S16LE ? 2 : 4) * (size_t)a->cfg.stdin_channels;
    /* complete a frame left over from the previous read */
    if (a->in_have) {
        unsigned char *carry = a->in_buf + sizeof a->in_buf - fb; /* tail of in_buf as carry */
        size_t take = fb - a->in_have < n ? fb - a->in_have : n;
        memcpy(carry + a->in_have, p, take);
        a->in_have += take;
        p += take;
        n -= take;
        if (a->in_have < fb) return;
        pipeline_push(a->pipe, carry, 1);
        a->in_have = 0;
    }
    size_t whole = n / fb;
    if (whole && pipeline_push(a->pipe, p, whole) == PIPELINE_EINPUT)
        log_msg(LOG_WARNING, "stdin: NaN/Inf samples skipped");
    size_t rest = n - whole * fb;
    if (rest) {
        memcpy(a->in_buf + sizeof a->in_buf - fb, p + whole * fb, rest);
        a->in_have = rest;
    }
}

static void on_stdin_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    app *a = h->data;
    size_t fb = (size_t)(a->cfg.stdin_format == PIPELINE_S16LE ? 2 : 4) * (size_t)a->cfg.stdin_channels;
    (void)hint;
    /* the last frame's worth of in_buf is the carry area */
    *buf = uv_buf_init((char *)a->in_buf, (unsigned)(sizeof a->in_buf - fb));
}

static void stdin_end(app *a, const char *why)
{
    if (why) log_msg(LOG_ERR, "stdin: %s", why);
    app_input_ended(a);
}

static void on_stdin_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    app *a = s->data;
    if (n > 0) stdin_bytes(a, (const unsigned char *)buf->base, (size_t)n);
    else if (n < 0) {
        uv_read_stop(s);
        stdin_end(a, n == UV_EOF ? NULL : uv_strerror((int)n));
    }
}

static void on_stdin_fs(uv_fs_t *req)
{
    app *a = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n > 0) {
        stdin_bytes(a, a->in_buf, (size_t)n);
        a->in_offset += n;
        if (a->stopping) return;
        size_t fb = (size_t)(a->cfg.stdin_format == PIPELINE_S16LE ? 2 : 4) * (size_t)a->cfg.stdin_channels;
        uv_buf_t b = uv_buf_init((char *)a->in_buf, (unsigned)(sizeof a->in_buf - fb));
        uv_fs_read(&a->loop, &a->in_fs, 0, &b, 1, a->in_offset, on_stdin_fs);
        return;
    }
    stdin_end(a, n < 0 ? uv_strerror((int)n) : NULL);
}

static int stdin_start(app *a, char *err, size_t errlen)
{
    snprintf(a->input_desc, sizeof a->input_desc, "stdin");
    a->input.kind = PROTO_INPUT_STDIN;
    a->input.device = "stdin";
    if (app_make_main_pipeline(a, a->cfg.stdin_rate, a->cfg.stdin_channels, a->cfg.stdin_format,
                               err, errlen) < 0)
        return -1;
    uv_handle_type t = uv_guess_handle(0);
    int rc;
    if (t == UV_FILE) {
        a->in_is_file = 1;
        a->in_fs.data = a;
        size_t fb = (size_t)(a->cfg.stdin_format == PIPELINE_S16LE ? 2 : 4) * (size_t)a->cfg.stdin_channels;
        uv_buf_t b = uv_buf_init((char *)a->in_buf, (unsigned)(sizeof a->in_buf - fb));
        rc = uv_fs_read(&a->loop, &a->in_fs, 0, &b, 1, 0, on_stdin_fs);
    } else {
        rc = uv_pipe_init(&a->loop, &a->in_pipe, 0);
        if (rc == 0) rc = uv_pipe_open(&a->in_pipe, 0);
        a->in_pipe.data = a;
        if (rc == 0) rc = uv_read_start((uv_stream_t *)&a->in_pipe, on_stdin_alloc, on_stdin_read);
    }
    if (rc < 0) {
        snprintf(err, errlen, "--stdin: %s", uv_strerror(rc));
        return -1;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "reading %s PCM from stdin (%g Hz, %d ch)",
             a->cfg.stdin_format == PIPELINE_S16LE ? "s16le" : "f32le", a->cfg.stdin_rate,
             a->cfg.stdin_channels);
    app_set_state(a, PROTO_DEV_RUNNING, msg);
    return 0;
}

/* ---- start / stop ---------------------------------------------------------------------- */

int input_start(app *a, char *err, size_t errlen)
{
    if (a->cfg.input == CONFIG_INPUT_FILE) return file_start(a, err, errlen);
    if (a->cfg.input == CONFIG_INPUT_STDIN) return stdin_start(a, err, errlen);
    capture_callbacks cb = { mic_on_data, mic_on_state };
    a->input.kind = PROTO_INPUT_MIC;
    a->input.device = a->cfg.device[0] ? a->cfg.device : "default";
    snprintf(a->input_desc, sizeof a->input_desc, "mic:%s", a->input.device);
    if (capture_new(&a->loop, a->cfg.device, a->cfg.mic_rate, a->cfg.mic_channels,
                    nn_model_features(a->model)->sample_rate, &cb, a, &a->cap,
                    err, errlen) < 0)
        return -1;
    capture_start(a->cap);
    return 0;
}

static void on_input_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_capture_closed(void *user)
{
    (void)user;
}

void input_stop(app *a)
{
    if (a->cap) {
        mic_drain(a); /* what the callback already delivered still gets published */
        capture_close(a->cap, on_capture_closed);
        a->cap = NULL;
    }
    if (a->sf) {
        uv_close(a->cfg.fast ? (uv_handle_t *)&a->file_idle : (uv_handle_t *)&a->file_timer, on_input_closed);
        sf_close(a->sf);
        a->sf = NULL;
    }
    if (a->cfg.input == CONFIG_INPUT_STDIN && !a->in_is_file && !uv_is_closing((uv_handle_t *)&a->in_pipe))
        uv_close((uv_handle_t *)&a->in_pipe, on_input_closed);
    /* a pending uv_fs_read on a regular file completes by itself; on_stdin_fs sees stopping */
}
