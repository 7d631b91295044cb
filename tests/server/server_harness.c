/* The server module alone on a libuv loop, for test_server.py: publishes synthetic posteriors
 * (and frames, status) on timers, runs fake sidecar streams that answer with their own
 * posteriors (t = frames received / rate, probs from the signal level), and shuts down on
 * SIGTERM or when stdin closes, checking the shutdown order: server_stop, own handles closed,
 * loop run to the end, server_free, uv_loop_close == 0 (exit 0; anything else exits 1).
 * Prints "PORT <n>" on stdout once listening. Hello changes as the daemon makes them:
 * SIGHUP = model reload (another model id and labels, broadcast SERVER_HELLO_SUBSCRIBERS as
 * daemon/main.c passes it), SIGUSR1 = main publish rate change (same model, SUBSCRIBERS),
 * SIGUSR2 = same model with new settings for everybody (SERVER_HELLO_ALL).
 *
 * Options: --port N --address A --www DIR --token T --origins LIST --max-subscribers N --max-sidecars N
 *          --queue-len N --ping-s N --max-command N --post-hz HZ --frames-hz HZ --frame-n N --no-hello */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "proto.h"
#include "server.h"

static const char *labels0[] = {"neutral", "happy", "sad", "angry"};
static const char *labels1[] = {"calm", "joy", "grief", "rage"};
static const char **labels = labels0;

typedef struct sidecar {
    proto_cmd audio;
    uint64_t frames, seq;
    double sum_abs;
    server_conn *conn;
} sidecar;

typedef struct harness {
    uv_loop_t loop;
    uv_timer_t post_timer, frames_timer, status_timer;
    uv_signal_t sigterm, sighup, sigusr1, sigusr2;
    proto_hello hello;
    uv_pipe_t in;
    server *srv;
    uint64_t seq, frame_seq, hops;
    int frame_n;
    int open_sidecars;
    double rate_hz;
    int stopping;
    float *frames;
    char rxbuf[256];
} harness;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_post(uv_timer_t *t)
{
    harness *h = t->data;
    float p[4];
    double ph = (double)h->seq * 0.05;
    double a = 0.25 + 0.2 * sin(ph), b = 0.25 + 0.2 * cos(ph);
    p[0] = (float)a; p[1] = (float)b; p[2] = (float)(0.5 - a / 2); p[3] = 1.0f - p[0] - p[1] - p[2];
    if (p[3] < 0) p[3] = 0;
    int top = 0;
    for (int i = 1; i < 4; i++)
        if (p[i] > p[top]) top = i;
    proto_posteriors m = {h->seq, (double)h->seq / 10.0, now_ms(), labels, p, 4,
                          (int)(h->seq / 20 % 2), top, p[top]};
    size_t cap;
    char *buf = server_publish_buf(h->srv, &cap);
    int n = proto_encode_posteriors(&m, buf, cap);
    if (n > 0 && server_publish_commit(h->srv, PROTO_STREAM_POSTERIORS, (size_t)n) == 0)
        h->seq++;
    h->hops += 10;
    if (h->seq % 50 == 25) {
        proto_event e = {h->seq, m.t, now_ms(), labels[h->seq / 50 % 4],
                         (int)(h->seq / 50 % 2), 1.5, 0.7};
        buf = server_publish_buf(h->srv, &cap);
        n = proto_encode_event(&e, buf, cap);
        if (n > 0)
            server_publish_commit(h->srv, PROTO_STREAM_EVENTS, (size_t)n);
    }
}

static void on_frames(uv_timer_t *t)
{
    harness *h = t->data;
    if (!server_subscribers(h->srv, PROTO_STREAM_FRAMES))
        return; /* what the daemon does: no work for nobody */
    float gate[1000];
    for (int i = 0; i < h->frame_n; i++)
        gate[i] = (float)((h->frame_seq + (uint64_t)i) / 50 % 2);
    proto_frames f = {h->frame_seq, (double)h->frame_seq / 100.0, h->frame_n, 128, h->frames,
                      -4, 4, gate};
    size_t cap;
    char *buf = server_publish_buf(h->srv, &cap);
    int n = proto_encode_frames(&f, buf, cap);
    if (n > 0)
        server_publish_commit(h->srv, PROTO_STREAM_FRAMES, (size_t)n);
    h->frame_seq += (uint64_t)h->frame_n;
}

static void on_status(uv_timer_t *t)
{
    harness *h = t->data;
    server_stats st;
    server_get_stats(h->srv, &st);
    proto_status s = {(double)h->seq / 10.0, now_ms(), PROTO_DEV_RUNNING, "harness", h->hops, 0,
                      st.drops, st.subscribers, st.sidecars, 0.1, 0.2, 0.3, 5, 9};
    char b[1024];
    int n = proto_encode_status(&s, b, sizeof b);
    if (n > 0)
        server_publish(h->srv, PROTO_STREAM_STATUS, b, (size_t)n);
}

/* ---- fake daemon callbacks ----------------------------------------------------------- */

static int sc_open(void *user, server_conn *c, const proto_cmd *audio, void **stream, char *err,
                   size_t errlen)
{
    harness *h = user;
    if (audio->u.audio.rate == 11025) { /* lets the test see a daemon-side refusal */
        snprintf(err, errlen, "harness refuses 11025 Hz");
        return PROTO_ERANGE;
    }
    sidecar *sc = calloc(1, sizeof *sc);
    if (!sc)
        return PROTO_EINTERNAL;
    sc->audio = *audio;
    sc->conn = c;
    *stream = sc;
    h->open_sidecars++;
    return 0;
}

static void sc_audio(void *user, server_conn *c, void *stream, const void *pcm, size_t frames)
{
    (void)user;
    sidecar *sc = stream;
    int ch = sc->audio.u.audio.channels;
    for (size_t i = 0; i < frames * (size_t)ch; i++)
        sc->sum_abs += sc->audio.u.audio.format == PROTO_PCM_S16LE
                           ? fabs(((const int16_t *)pcm)[i] / 32768.0)
                           : fabs(((const float *)pcm)[i]);
    sc->frames += frames;
    double level = sc->sum_abs / (double)(sc->frames * (uint64_t)ch);
    if (level > 1) level = 1;
    float p[4] = {(float)level, (float)(1 - level), 0, 0};
    proto_posteriors m = {sc->seq++, (double)sc->frames / sc->audio.u.audio.rate, now_ms(),
                          labels, p, 4, level > 0.01, level > 0.5 ? 0 : 1,
                          level > 0.5 ? p[0] : p[1]};
    char b[1024];
    int n = proto_encode_posteriors(&m, b, sizeof b);
    if (n > 0)
        server_send_to(c, PROTO_STREAM_POSTERIORS, b, (size_t)n);
}

static void sc_close(void *user, server_conn *c, void *stream)
{
    harness *h = user;
    (void)c;
    free(stream);
    h->open_sidecars--;
}

static int on_command(void *user, server_conn *c, void *stream, const proto_cmd *cmd, char *err,
                      size_t errlen)
{
    harness *h = user;
    (void)c;
    if (cmd->type == PROTO_CMD_SMOOTHING && cmd->u.smoothing.alpha > 0.5) {
        snprintf(err, errlen, "harness refuses alpha > 0.5");
        return PROTO_ERANGE;
    }
    if (cmd->type == PROTO_CMD_RATE && !stream)
        h->rate_hz = cmd->u.rate.hz;
    return 0;
}

static void on_stats(void *user, server_daemon_stats *d)
{
    harness *h = user;
    static const double le[3] = {0.0005, 0.001, 0.01};
    static uint64_t counts[4];
    counts[0] = h->hops / 2;
    counts[1] = h->hops / 4;
    counts[2] = h->hops / 8;
    counts[3] = h->hops - counts[0] - counts[1] - counts[2];
    d->state = PROTO_DEV_RUNNING;
    d->input = "test:\"harness\"";
    d->model = "test@sha256:0000000000000000";
    d->hops = h->hops;
    d->overruns = 0;
    d->hop = (server_histogram){3, le, counts, 0.0002 * (double)h->hops};
}

/* ---- shutdown ------------------------------------------------------------------------ */

static void stop(harness *h)
{
    if (h->stopping)
        return;
    h->stopping = 1;
    server_stop(h->srv);
    uv_close((uv_handle_t *)&h->post_timer, NULL);
    uv_close((uv_handle_t *)&h->frames_timer, NULL);
    uv_close((uv_handle_t *)&h->status_timer, NULL);
    uv_close((uv_handle_t *)&h->sigterm, NULL);
    uv_close((uv_handle_t *)&h->sighup, NULL);
    uv_close((uv_handle_t *)&h->sigusr1, NULL);
    uv_close((uv_handle_t *)&h->sigusr2, NULL);
    uv_close((uv_handle_t *)&h->in, NULL);
}

static void on_sigterm(uv_signal_t *s, int sig)
{
    (void)sig;
    stop(s->data);
}

static void on_hello_signal(uv_signal_t *s, int sig)
{
    harness *h = s->data;
    int how = SERVER_HELLO_SUBSCRIBERS;
    if (sig == SIGHUP) {
        labels = labels == labels0 ? labels1 : labels0;
        h->hello.model = labels == labels0 ? "test@sha256:0000000000000000"
                                           : "test@sha256:1111111111111111";
        h->hello.labels = labels;
    } else {
        h->hello.publish_hz = h->hello.publish_hz == 5 ? 10 : 5;
        how = sig == SIGUSR2 ? SERVER_HELLO_ALL : SERVER_HELLO_SUBSCRIBERS;
    }
    if (server_set_hello(h->srv, &h->hello, how))
        fprintf(stderr, "harness: hello refused\n");
}

static void in_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *b)
{
    harness *h = hd->data;
    (void)sz;
    *b = uv_buf_init(h->rxbuf, sizeof h->rxbuf);
}

static void in_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0) {
        if (n != UV_EOF)
            fprintf(stderr, "harness: stdin: %s\n", uv_strerror((int)n));
        stop(st->data);
    }
}

int main(int argc, char **argv)
{
    static harness H;
    harness *h = &H;
    server_config cfg;
    server_config_default(&cfg);
    cfg.port = 0;
    double post_hz = 10, frames_hz = 10;
    int hello = 1;
    h->frame_n = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-hello")) { hello = 0; continue; }
        if (!v) { fprintf(stderr, "harness: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--port")) cfg.port = atoi(v);
        else if (!strcmp(a, "--address")) cfg.address = v;
        else if (!strcmp(a, "--www")) cfg.www_dir = v;
        else if (!strcmp(a, "--token")) cfg.token = v;
        else if (!strcmp(a, "--origins")) cfg.origins = v;
        else if (!strcmp(a, "--max-subscribers")) cfg.max_subscribers = atoi(v);
        else if (!strcmp(a, "--max-sidecars")) cfg.max_sidecars = atoi(v);
        else if (!strcmp(a, "--queue-len")) cfg.queue_len = atoi(v);
        else if (!strcmp(a, "--ping-s")) cfg.ping_s = atoi(v);
        else if (!strcmp(a, "--max-command")) cfg.max_command = (size_t)atoi(v);
        else if (!strcmp(a, "--post-hz")) post_hz = atof(v);
        else if (!strcmp(a, "--frames-hz")) frames_hz = atof(v);
        else if (!strcmp(a, "--frame-n")) h->frame_n = atoi(v);
        else { fprintf(stderr, "harness: unknown option %s\n", a); return 2; }
    }
    signal(SIGPIPE, SIG_IGN);
    h->frames = malloc(sizeof(float) * 128 * (size_t)h->frame_n);
    for (int i = 0; i < 128 * h->frame_n; i++)
        h->frames[i] = (float)sin(i * 0.37) * 4.0f;
    if (uv_loop_init(&h->loop))
        return 1;
    server_callbacks cb = {sc_open, sc_audio, sc_close, on_command, on_stats};
    char err[256];
    if (server_new(&h->loop, &cfg, &cb, h, &h->srv, err, sizeof err)) {
        fprintf(stderr, "harness: %s\n", err);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        return uv_loop_close(&h->loop) == 0 ? 3 : 1;
    }
    proto_hello hl = {"0.1.0-test", "test@sha256:0000000000000000", labels, 4, 10, post_hz, 0.1,
                      {PROTO_INPUT_MIC, "harness", 48000, 1}, 0};
    h->hello = hl;
    if (hello && server_set_hello(h->srv, &hl, SERVER_HELLO_NEW)) {
        fprintf(stderr, "harness: hello refused\n");
        return 1;
    }
    uv_timer_init(&h->loop, &h->post_timer);
    uv_timer_init(&h->loop, &h->frames_timer);
    uv_timer_init(&h->loop, &h->status_timer);
    h->post_timer.data = h->frames_timer.data = h->status_timer.data = h;
    uv_timer_start(&h->post_timer, on_post, 50, (uint64_t)(1000 / post_hz));
    uv_timer_start(&h->frames_timer, on_frames, 50, (uint64_t)(1000 / frames_hz));
    uv_timer_start(&h->status_timer, on_status, 200, 1000);
    uv_signal_t *hs[] = {&h->sigterm, &h->sighup, &h->sigusr1, &h->sigusr2};
    int sigs[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
    uv_signal_cb cbs[] = {on_sigterm, on_hello_signal, on_hello_signal, on_hello_signal};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(&h->loop, hs[i]);
        hs[i]->data = h;
        uv_signal_start(hs[i], cbs[i], sigs[i]);
    }
    /* stdin closing (the test runner died) stops the harness; only a pipe can be watched */
    uv_pipe_init(&h->loop, &h->in, 0);
    h->in.data = h;
    if (uv_guess_handle(0) == UV_NAMED_PIPE && uv_pipe_open(&h->in, 0) == 0)
        uv_read_start((uv_stream_t *)&h->in, in_alloc, in_read);
    printf("PORT %d\n", server_port(h->srv));
    fflush(stdout);

    uv_run(&h->loop, UV_RUN_DEFAULT);
    server_stats st;
    server_get_stats(h->srv, &st);
    server_free(h->srv);
    free(h->frames);
    int rc = uv_loop_close(&h->loop);
    if (rc) {
        fprintf(stderr, "harness: uv_loop_close: %s\n", uv_strerror(rc));
        uv_print_all_handles(&h->loop, stderr);
        return 1;
    }
    if (h->open_sidecars) {
        fprintf(stderr, "harness: %d sidecar streams never closed\n", h->open_sidecars);
        return 1;
    }
    fprintf(stderr, "harness: clean exit (connections %llu, drops %llu)\n",
            (unsigned long long)st.connections, (unsigned long long)st.drops);
    return 0;
}
