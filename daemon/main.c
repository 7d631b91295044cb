/* emotiond: the daemon. main() reads as its steps: settings, logging, model, server, input,
 * signals, READY; then the loop; then the shutdown order of STYLE.md. The server's callbacks
 * (sidecars, commands, stats), SIGHUP reload and the watchdog live here; what is published is
 * in publish.c, the sources (microphone, file, stdin) in input.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

void openblas_set_num_threads(int num_threads);

/* ---- sidecars (server callbacks) ------------------------------------------------- */

static int on_sidecar_open(void *user, server_conn *c, const proto_cmd *audio, void **stream,
                           char *err, size_t errlen)
{
    app *a = user;
    app_sidecar *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return PROTO_EINTERNAL;
    }
    s->app = a;
    s->conn = c;
    s->audio = *audio;
    if (app_side_pipeline(a, s, a->model, &a->cfg.pipe, &s->pipe, err, errlen) < 0) {
        free(s);
        return PROTO_ERANGE;
    }
    s->next = a->sidecars;
    a->sidecars = s;
    *stream = s;
    log_msg(LOG_INFO, "sidecar #%llu: %s %d Hz x %d", (unsigned long long)server_conn_id(c),
            audio->u.audio.format == PROTO_PCM_F32LE ? "f32le" : "s16le", audio->u.audio.rate,
            audio->u.audio.channels);
    return 0;
}

static void on_sidecar_audio(void *user, server_conn *c, void *stream, const void *pcm, size_t frames)
{
    app_sidecar *s = stream;
    (void)user;
    (void)c;
    if (pipeline_push(s->pipe, pcm, frames) == PIPELINE_EINPUT) {
        const char *e = "NaN or Inf samples: chunk dropped";
        char buf[256];
        int len = proto_encode_error(PROTO_ERANGE, e, "audio", NULL, buf, sizeof buf);
        if (len > 0) server_send_to(s->conn, 0, buf, (size_t)len);
    }
}

static void on_sidecar_close(void *user, server_conn *c, void *stream)
{
    app *a = user;
    app_sidecar *s = stream;
    (void)c;
    for (app_sidecar **pp = &a->sidecars; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pipeline_free(s->pipe);
    free(s);
}

static int on_command(void *user, server_conn *c, void *stream, const proto_cmd *cmd, char *err,
                      size_t errlen)
{
    app *a = user;
    app_sidecar *s = stream;
    pipeline *p = s ? s->pipe : a->pipe;
    (void)c;
    int rc = 0;
    if (!p) {
        /* no device yet: the settings apply to the pipeline made when it appears */
        pipeline_config pc = a->cfg.pipe;
        if (cmd->type == PROTO_CMD_RATE) pc.publish_hz = cmd->u.rate.hz;
        else if (cmd->type == PROTO_CMD_SMOOTHING) pc.smoothing = cmd->u.smoothing.alpha;
        if (pipeline_config_check(&pc, err, errlen) < 0) return PROTO_ERANGE;
        a->cfg.pipe = pc;
        app_send_hello(a, 1);
        return 0;
    }
    if (cmd->type == PROTO_CMD_RATE) rc = pipeline_set_publish_hz(p, cmd->u.rate.hz);
    else if (cmd->type == PROTO_CMD_SMOOTHING) rc = pipeline_set_smoothing(p, cmd->u.smoothing.alpha);
    else {
        snprintf(err, errlen, "command not handled by the daemon");
        return PROTO_ETYPE;
    }
    if (rc < 0) {
        snprintf(err, errlen, "value out of range");
        return PROTO_ERANGE;
    }
    if (!s) {
        /* kept for a pipeline rebuilt on another capture format; SIGHUP resets to the file */
        a->cfg.pipe.publish_hz = pipeline_get_config(p)->publish_hz;
        a->cfg.pipe.smoothing = pipeline_get_config(p)->smoothing;
        app_send_hello(a, 1); /* everybody shares the main stream: tell them its new rates */
    }
    return 0;
}

static void on_stats(void *user, server_daemon_stats *o)
{
    app *a = user;
    memset(o, 0, sizeof *o);
    o->state = a->dev_state;
    o->input = a->input_desc;
    o->model = nn_model_id(a->model);
    o->uptime_s = (double)(app_now_ns() - a->start_mono_ns) / 1e9;
    o->hops = a->hops_total;
    o->overruns = a->cap ? capture_overrun_chunks(a->cap) : 0;
    o->hop = (server_histogram){ APP_HIST_BUCKETS, a->hop_hist.le, a->hop_hist.counts, a->hop_hist.sum };
    o->latency = (server_histogram){ a->lat_hist.n ? APP_HIST_BUCKETS : 0, a->lat_hist.le,
                                     a->lat_hist.counts, a->lat_hist.sum };
}

/* ---- reload ---------------------------------------------------------------------------- */

/* "ID (path, N network(s averaged))": how the log names the model in use */
static const char *model_desc(const app *a, char *buf, size_t n)
{
    const int k = nn_model_members(a->model);
    snprintf(buf, n, "%s (%s, %d network%s)", nn_model_id(a->model), a->model_path, k,
             k > 1 ? "s averaged" : "");
    return buf;
}

static void reload(app *a)
{
    config nc;
    char err[1024], path[CONFIG_PATH_MAX];
    nn_model *nm = NULL;
    pipeline *np = NULL;
    log_msg(LOG_INFO, "SIGHUP: reloading settings and model");
    sd_notify(0, "RELOADING=1\nSTATUS=reloading");
    if (config_load(&nc, a->argc, a->argv, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "reload refused: %s; keeping the running settings and model", err);
        goto done;
    }
    if (!config_model_path(&nc, path, sizeof path, err, sizeof err)) {
        log_msg(LOG_ERR, "reload refused: %s; keeping the running model", err);
        goto done;
    }
    if (nn_model_load_file(path, &nm, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "reload refused: model %s: %s; keeping %s", path, err, nn_model_id(a->model));
        goto done;
    }
    if (nn_model_n_labels(nm) > PIPELINE_MAX_LABELS) {
        log_msg(LOG_ERR, "reload refused: model %s has %d labels, at most %d", path,
                nn_model_n_labels(nm), PIPELINE_MAX_LABELS);
        goto fail;
    }
    /* Build every new stream before touching the old ones: all or nothing. */
    if (a->pipe && pipeline_new(nm, a->main_rate, a->main_channels, a->main_fmt, &nc.pipe, &app_main_cb,
                                a, 0, &np, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "reload refused: %s", err);
        goto fail;
    }
    int n_side = 0;
    for (app_sidecar *s = a->sidecars; s; s = s->next) n_side++;
    pipeline **sp = calloc((size_t)n_side + 1, sizeof *sp);
    int i = 0, ok = sp != NULL;
    for (app_sidecar *s = a->sidecars; ok && s; s = s->next, i++)
        ok = app_side_pipeline(a, s, nm, &nc.pipe, &sp[i], err, sizeof err) == 0;
    if (!ok) {
        log_msg(LOG_ERR, "reload refused: sidecar stream: %s", sp ? err : "out of memory");
        for (int k = 0; sp && k < n_side; k++) pipeline_free(sp[k]);
        free(sp);
        pipeline_free(np);
        goto fail;
    }
    /* Commit. Settings that need a restart keep their running values. */
    if (strcmp(nc.listen_host, a->cfg.listen_host) || nc.listen_port != a->cfg.listen_port ||
        strcmp(nc.token, a->cfg.token) || strcmp(nc.origins, a->cfg.origins) ||
        nc.input != a->cfg.input || strcmp(nc.device, a->cfg.device) || strcmp(nc.file, a->cfg.file) ||
        nc.max_subscribers != a->cfg.max_subscribers || nc.max_sidecars != a->cfg.max_sidecars)
        log_msg(LOG_WARNING, "reload: listen address, token, origins, limits and input change only on restart");
    a->cfg.pipe = nc.pipe;
    a->cfg.log_level = nc.log_level;
    snprintf(a->cfg.model, sizeof a->cfg.model, "%s", nc.model);
    log_set_level(nc.log_level);
    /* The voices heard so far carry over (a new model need not relearn the speaker); with a
     * model of other features they cannot, and the new streams start from its prior. */
    i = 0;
    for (app_sidecar *s = a->sidecars; s; s = s->next, i++) {
        if (pipeline_take_voice(sp[i], s->pipe, err, sizeof err) < 0)
            log_msg(LOG_WARNING, "reload: a sidecar stream: %s", err);
        s->t_offset += pipeline_time(s->pipe);
        pipeline_free(s->pipe);
        s->pipe = sp[i];
    }
    free(sp);
    if (a->pipe) {
        if (pipeline_take_voice(np, a->pipe, err, sizeof err) < 0)
            log_msg(LOG_WARNING, "reload: %s", err);
        a->t_offset += pipeline_time(a->pipe);
        pipeline_free(a->pipe);
        a->pipe = np;
        a->ring_off = a->ring_read;
        a->lat_from_t = 0;
        a->frame_n = 0;
    }
    nn_model_free(a->model);
    a->model = nm;
    snprintf(a->model_path, sizeof a->model_path, "%s", path);
    app_set_labels(a);
    app_send_hello(a, SERVER_HELLO_ALL); /* sidecar streams were rebuilt too */
    char desc[CONFIG_PATH_MAX + 128];
    log_msg(LOG_INFO, "reloaded: model %s", model_desc(a, desc, sizeof desc));
    goto done;
fail:
    nn_model_free(nm);
done:
    sd_notify(0, "READY=1\nSTATUS=running");
}

/* ---- signals, timers, shutdown ---------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    app *a = h->data;
    a->handles_open--;
}

static void close_handle(app *a, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = a;
        uv_close(h, on_closed);
    }
}

static void begin_shutdown(app *a, int code, const char *why)
{
    if (a->stopping) return;
    a->stopping = 1;
    a->exit_code = code;
    log_msg(LOG_INFO, "shutting down: %s", why);
    sd_notify(0, "STOPPING=1");
    input_stop(a); /* drains what was captured, then closes the source */
    if (a->srv) server_stop(a->srv);
    uv_handle_t *hs[] = { (uv_handle_t *)&a->sig_term, (uv_handle_t *)&a->sig_int,
                          (uv_handle_t *)&a->sig_hup, (uv_handle_t *)&a->watchdog,
                          (uv_handle_t *)&a->status_timer, (uv_handle_t *)&a->end_timer };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) close_handle(a, hs[i]);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app *a = s->data;
    if (signum == SIGHUP) reload(a);
    else begin_shutdown(a, 0, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

static void on_status_timer(uv_timer_t *t)
{
    app_publish_status(t->data);
}

static void on_end_timer(uv_timer_t *t)
{
    begin_shutdown(t->data, 0, "end of input");
}

void app_input_ended(app *a)
{
    if (a->ended || a->stopping) return;
    a->ended = 1;
    if (a->pipe) pipeline_flush(a->pipe);
    if (a->cfg.json_lines == 1) fflush(stdout);
    app_set_state(a, PROTO_DEV_ENDED, "end of input");
    /* Leave the server a moment to write the last messages to subscribers. */
    if (a->cfg.exit_at_end) uv_timer_start(&a->end_timer, on_end_timer, 200, 0);
}

static void start_timers(app *a)
{
    uv_signal_t *sigs[] = { &a->sig_term, &a->sig_int, &a->sig_hup };
    int nums[] = { SIGTERM, SIGINT, SIGHUP };
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&a->loop, sigs[i]);
        sigs[i]->data = a;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    uv_timer_init(&a->loop, &a->watchdog);
    uv_timer_init(&a->loop, &a->status_timer);
    uv_timer_init(&a->loop, &a->end_timer);
    a->watchdog.data = a->status_timer.data = a->end_timer.data = a;
    a->handles_open = 6;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        uint64_t ms = usec / 2000;
        uv_timer_start(&a->watchdog, on_watchdog, ms ? ms : 1, ms ? ms : 1);
        log_msg(LOG_DEBUG, "watchdog heartbeat every %llu ms", (unsigned long long)ms);
    }
    uv_timer_start(&a->status_timer, on_status_timer, 2000, 2000);
}

static int check_config(app *a)
{
    char err[1024], path[CONFIG_PATH_MAX];
    nn_model *m;
    if (!config_model_path(&a->cfg, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "emotiond: %s\n", err);
        return 1;
    }
    if (nn_model_load_file(path, &m, err, sizeof err) < 0) {
        fprintf(stderr, "emotiond: model %s: %s\n", path, err);
        return 1;
    }
    printf("OK: model %s (%s, %d labels), listen %s:%d, publish %g Hz\n", nn_model_id(m), path,
           nn_model_n_labels(m), a->cfg.listen_host, a->cfg.listen_port, a->cfg.pipe.publish_hz);
    nn_model_free(m);
    return 0;
}

static int start_server(app *a, char *err, size_t errlen)
{
    server_config sc;
    server_callbacks cb = { on_sidecar_open, on_sidecar_audio, on_sidecar_close, on_command, on_stats };
    char www[CONFIG_PATH_MAX];
    server_config_default(&sc);
    sc.address = a->cfg.listen_host;
    sc.port = a->cfg.listen_port;
    sc.max_subscribers = a->cfg.max_subscribers;
    sc.max_sidecars = a->cfg.max_sidecars;
    sc.max_command = a->cfg.max_message < PROTO_MAX_COMMAND ? a->cfg.max_message : PROTO_MAX_COMMAND;
    sc.max_audio = a->cfg.max_message;
    sc.token = a->cfg.token;
    sc.origins = a->cfg.origins;
    if (a->cfg.web_root[0]) snprintf(www, sizeof www, "%s", a->cfg.web_root);
    else if (access(EMOTIOND_WEBDIR "/index.html", R_OK) == 0) snprintf(www, sizeof www, "%s", EMOTIOND_WEBDIR);
    else snprintf(www, sizeof www, "%s/web", EMOTIOND_SRCDIR);
    sc.www_dir = www;
    if (!config_host_is_loopback(a->cfg.listen_host) && !a->cfg.token[0])
        log_msg(LOG_WARNING, "listening on %s without a token: anyone who can reach it sees the posteriors",
                a->cfg.listen_host);
    int rc = server_new(&a->loop, &sc, &cb, a, &a->srv, err, errlen);
    if (rc < 0) return rc;
    log_msg(LOG_INFO, "listening on http://%s%s%s:%d/ (dashboard), ws://…/ws",
            strchr(a->cfg.listen_host, ':') ? "[" : "", a->cfg.listen_host,
            strchr(a->cfg.listen_host, ':') ? "]" : "", server_port(a->srv));
    return 0;
}

int main(int argc, char **argv)
{
    static app A;
    app *a = &A;
    char err[1024];

    /* 1. settings */
    a->argc = argc;
    a->argv = argv;
    int rc = config_load(&a->cfg, argc, argv, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "emotiond: %s\n", err);
        return rc == -2 ? 2 : 1;
    }
    switch (a->cfg.action) {
    case CONFIG_HELP: config_print_help(argv[0]); return 0;
    case CONFIG_VERSION: printf("emotiond %s\n", EMOTIOND_VERSION); return 0;
    case CONFIG_LIST_DEVICES: return capture_list_devices(stdout) < 0;
    case CONFIG_CHECK: return check_config(a);
    default: break;
    }
    if (a->cfg.json_lines < 0) a->cfg.json_lines = a->cfg.input == CONFIG_INPUT_STDIN;

    /* 2. logging, process-wide settings */
    log_set_level(a->cfg.log_level);
    openblas_set_num_threads(1); /* the model runs on the loop thread; no BLAS thread pool */
    app_hist_init(a);
    a->start_mono_ns = app_now_ns();
    a->dev_state = PROTO_DEV_WAITING;
    a->last_logged_state = -1;

    /* 3. model */
    if (!config_model_path(&a->cfg, a->model_path, sizeof a->model_path, err, sizeof err)) {
        log_msg(LOG_ERR, "%s", err);
        return 1;
    }
    if (nn_model_load_file(a->model_path, &a->model, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "model %s: %s", a->model_path, err);
        return 1;
    }
    if (nn_model_n_labels(a->model) > PIPELINE_MAX_LABELS) {
        log_msg(LOG_ERR, "model %s has %d labels, at most %d", a->model_path, nn_model_n_labels(a->model),
                PIPELINE_MAX_LABELS);
        return 1;
    }
    app_set_labels(a);
    char desc[CONFIG_PATH_MAX + 128];
    log_msg(LOG_INFO, "emotiond %s: model %s", EMOTIOND_VERSION, model_desc(a, desc, sizeof desc));
    int denoise_db = (int)nn_model_features(a->model)->denoise_db;
    if (denoise_db)
        log_msg(LOG_INFO, "front end: the model's noise suppression, up to %d dB (one hop more latency)",
                -denoise_db);
    unsigned pitch_flags;
    if (nn_model_pitch(a->model, &pitch_flags))
        log_msg(LOG_INFO, "front end: the voice's pitch beside the log-mel (tracker on the %s)",
                pitch_flags & DSP_PITCH_SUPPRESSED ? "suppressor's output" : "model-rate samples");

    /* 4. loop, server */
    if (uv_loop_init(&a->loop) < 0) {
        log_msg(LOG_ERR, "uv_loop_init failed");
        return 1;
    }
    if (a->cfg.listen_port > 0 && (rc = start_server(a, err, sizeof err)) < 0) {
        log_msg(LOG_ERR, "%s", err);
        nn_model_free(a->model);
        uv_loop_close(&a->loop);
        return 1;
    }

    /* 5. signals and timers, then the input (which may end at once with --fast) */
    start_timers(a);
    if (input_start(a, err, sizeof err) < 0) {
        log_msg(LOG_ERR, "%s", err);
        begin_shutdown(a, 1, "input failed");
    } else {
        app_send_hello(a, 0);
        app_publish_status(a);
        /* 6. READY once listeners are up and the input is started */
        sd_notifyf(0, "READY=1\nSTATUS=%s", a->dev_state == PROTO_DEV_RUNNING ? "running" : "waiting for input");
    }

    /* 7. run; begin_shutdown closes everything and the loop returns */
    uv_run(&a->loop, UV_RUN_DEFAULT);

    /* 8. free after the loop has run the closes; uv_loop_close must succeed */
    server_free(a->srv);
    pipeline_free(a->pipe);
    while (a->sidecars) {
        app_sidecar *s = a->sidecars;
        a->sidecars = s->next;
        pipeline_free(s->pipe);
        free(s);
    }
    nn_model_free(a->model);
    free(a->drain);
    if (a->cfg.json_lines == 1) fflush(stdout);
    rc = uv_loop_close(&a->loop);
    if (rc != 0) {
        log_msg(LOG_ERR, "loop did not close cleanly: %s", uv_strerror(rc));
        return 1;
    }
    log_msg(LOG_INFO, "stopped");
    return a->exit_code;
}
