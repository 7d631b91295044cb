/* app: the daemon's state, shared by main.c (start-up, signals, reload, shutdown, publishing)
 * and input.c (microphone, file and stdin sources). One per process, on the loop thread. */
#ifndef EMOTIOND_APP_H
#define EMOTIOND_APP_H

#include <sndfile.h>
#include <stdint.h>
#include <uv.h>

#include "capture.h"
#include "config.h"
#include "nn.h"
#include "pipeline.h"
#include "proto.h"
#include "server.h"

#define APP_HIST_BUCKETS 14
#define APP_MSG_MAX 65536
#define APP_FRAME_BATCH 10 /* log-mel frames per "frames" message (10 Hz at 10 ms hops) */

typedef struct app_hist {
    double le[APP_HIST_BUCKETS];
    uint64_t counts[APP_HIST_BUCKETS + 1];
    double sum, max;
    uint64_t n;
} app_hist;

/* One per sidecar connection; made in on_sidecar_open, freed in on_sidecar_close. */
typedef struct app_sidecar {
    struct app *app;
    server_conn *conn;          /* the server's, valid until on_sidecar_close */
    pipeline *pipe;             /* owned */
    proto_cmd audio;            /* the audio hello (format, rate, channels) */
    uint64_t seq;               /* posteriors sent, contiguous across reloads */
    double t_offset;            /* stream time before the current pipeline */
    struct app_sidecar *next;
} app_sidecar;

typedef struct app {
    uv_loop_t loop;
    config cfg;                 /* current settings (swapped on SIGHUP) */
    int argc;
    char **argv;
    double start_wall;
    uint64_t start_mono_ns;

    nn_model *model;            /* owned; replaced on SIGHUP */
    char model_path[CONFIG_PATH_MAX];
    const char *labels[PIPELINE_MAX_LABELS];
    int n_labels;

    server *srv;                /* owned; NULL with --listen port 0 */
    app_sidecar *sidecars;

    /* main input */
    pipeline *pipe;             /* owned; NULL until the input's format is known */
    double main_rate;           /* its input format */
    int main_channels;
    enum pipeline_format main_fmt;
    proto_input input;          /* for hello */
    char input_desc[CONFIG_PATH_MAX + 16];
    int dev_state;              /* enum proto_device_state */
    uint64_t seq;               /* posteriors published on the main input, contiguous */
    double t_offset;            /* stream time before the current pipeline was made */
    uint64_t hops_total;
    int ended;
    char last_state_msg[256];
    int last_logged_state;   /* repeated identical state messages are logged at debug */
    int hello_sent;             /* the first hello went out: later changes re-send it */

    capture *cap;               /* owned, mic input */
    int64_t ring_off;           /* ring frame position = pipeline input frame + ring_off */
    int64_t ring_read;          /* frames read from the current ring */
    double lat_from_t;          /* pipeline time from which latency is recorded (warm-up skip) */
    float *drain;               /* is malloc'd: scratch for ring reads */
    size_t drain_cap;

    SNDFILE *sf;                /* file input */
    SF_INFO sfi;
    uv_timer_t file_timer;      /* real-time pace */
    uv_idle_t file_idle;        /* --fast: a chunk per loop iteration */
    uint64_t file_t0_ns;
    int64_t file_pushed;

    uv_pipe_t in_pipe;          /* stdin input (pipe/tty/socket) */
    uv_fs_t in_fs;              /* stdin input when it is a regular file */
    int in_is_file;
    unsigned char in_buf[65536];
    size_t in_have;             /* bytes of a partial frame kept for the next read */
    int64_t in_offset;

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog, status_timer, end_timer;
    int handles_open;
    int stopping;
    int exit_code;

    app_hist hop_hist, lat_hist;
    float frame_batch[APP_FRAME_BATCH * 512];
    float frame_gate[APP_FRAME_BATCH];
    int frame_n;
    int frames_on;
    uint64_t frame_seq;
    double frame_t0;

    char msg[APP_MSG_MAX];      /* encode buffer for JSON lines without a server */
} app;

/* publish.c */
extern const pipeline_callbacks app_main_cb;   /* the main input's pipeline -> broadcast */
extern const pipeline_callbacks app_side_cb;   /* a sidecar's pipeline -> its connection */
void app_publish_status(app *a);
void app_set_state(app *a, int state, const char *msg);
void app_send_hello(app *a, int broadcast);
void app_set_labels(app *a);
int app_make_main_pipeline(app *a, double rate, int channels, enum pipeline_format fmt,
                           char *err, size_t errlen);
int app_side_pipeline(app *a, app_sidecar *s, nn_model *m, const pipeline_config *pc,
                      pipeline **out, char *err, size_t errlen);
void app_hist_init(app *a);
void app_hist_add(app_hist *h, double v);
double app_hist_quantile(const app_hist *h, double q);
uint64_t app_now_ns(void);
int64_t app_wall_ms(void);

/* main.c */
void app_input_ended(app *a);

/* input.c */
int input_start(app *a, char *err, size_t errlen);
void input_stop(app *a);

#endif
