/* server internals shared by server.c (lifecycle, WebSocket) and server_http.c (HTTP, auth).
 * Not part of the API (see server.h). */
#ifndef EMOTIOND_SERVER_INTERNAL_H
#define EMOTIOND_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <limits.h>

#include "fanout.h"
#include "server.h"

#define SERVER_PRIV_SLOTS 8        /* replies queued per connection */
#define SERVER_PRIV_MSG 16384      /* largest reply (hello with many labels fits) */
#define SERVER_PCM_CHUNK 16384     /* bytes of PCM handed to on_sidecar_audio at most */
#define SERVER_DRAIN_MS 1000       /* server_stop waits this long for close handshakes */

/* One of these is created for each WebSocket client (at ESTABLISHED) and freed at CLOSED. */
struct server_conn {
    server *srv;
    struct lws *wsi;
    uint64_t id;
    unsigned streams;              /* PROTO_STREAM_* bits */
    int counted;                   /* counts as a subscriber (not busy-rejected) */
    int need_hello;                /* connected before server_set_hello */
    int hello_pending;             /* a hello to send once rd has reached hello_at */
    uint64_t hello_at;             /* broadcast position of the hello change */
    int close_sent;                /* server_stop's close frame is out */
    fanout_reader rd;              /* position in the broadcast ring */
    fanout *priv;                  /* replies and hellos; is malloc'd */
    fanout_reader prd;
    /* sidecar: sc != NULL from the accepted audio hello on (no broadcast any more); sidecar
     * is 1 while the daemon's stream is open (on_sidecar_open .. on_sidecar_close) */
    int sidecar;
    void *stream;                  /* the daemon's pipeline for it (on_sidecar_open) */
    fanout *sc;                    /* its own results; is malloc'd */
    fanout_reader scrd;
    size_t frame_bytes;            /* sample bytes * channels */
    int sc_rate, sc_channels;      /* of its audio hello, for the hellos it is sent */
    unsigned char *pcm;            /* aligned scratch, pcm_cap bytes; is malloc'd */
    size_t pcm_cap, pcm_fill;
    /* incoming message reassembly */
    char *rx;                      /* max_command bytes; is malloc'd */
    size_t rx_len;
    size_t rx_total;               /* bytes of the current message so far */
    int rx_in_msg;                 /* between the first and the final fragment */
    int rx_skip;                   /* discarding the rest of a refused message */
    server_conn *prev, *next;
};

/* Per-HTTP-request state (server_http.c); is malloc'd per request. */
typedef struct server_http_req server_http_req;

/* lws per-session data, for both HTTP and WebSocket wsi. */
typedef struct server_pss {
    server_conn *conn;
    server_http_req *http;
} server_pss;

struct server {
    uv_loop_t *loop;
    struct lws_context *ctx;       /* NULL once lws finished destroying it */
    struct lws_vhost *vh;
    struct lws_protocols protocols[2];
    struct lws_protocol_vhost_options pvo_default, pvo;
    lws_retry_bo_t idle;           /* ping / hang-up of idle connections (cfg.ping_s) */
    server_config cfg;             /* strings point into the copies below */
    char *address, *www_dir, *token, *origins; /* are malloc'd */
    char www_real[PATH_MAX];       /* realpath of www_dir, "" if none */
    server_callbacks cb;
    void *user;
    int port;
    fanout *bcast;
    /* hello template (deep copy) */
    int have_hello;
    proto_hello hello;
    char *hello_strings;           /* daemon, model, device, labels; is malloc'd */
    const char **hello_labels;     /* is malloc'd */
    server_conn *conns;            /* list of every WebSocket connection */
    int n_counted, n_sidecars;
    int n_sub[4];                  /* non-sidecar subscribers per stream bit */
    server_stats st;
    uint64_t next_id;
    uint64_t start_ns;
    int stopping;
    /* server_stop's close handshakes: the lws context is destroyed only when every connection
     * has closed or SERVER_DRAIN_MS have passed (drain_cb) */
    uv_timer_t drain;
    int draining;                  /* waiting for connections to close */
    int drain_open;                /* the timer handle is not closed yet */
};

/* server.c */
int server__bit_index(unsigned bit);                 /* PROTO_STREAM_* bit -> 0..3, else -1 */
/* Keeps n_sub (broadcast subscribers per stream) in step with c's subscriptions. */
void server__count_streams(server *s, const server_conn *c, int sign);
/* A connection closed while draining: destroys the context once none is left. */
void server__drain_check(server *s);

/* server_conn.c */
int server__conn_open(server *s, struct lws *wsi, server_pss *pss);   /* ESTABLISHED */
void server__conn_close(server *s, server_pss *pss);                  /* CLOSED */
int server__conn_writable(server_conn *c);                            /* SERVER_WRITEABLE */
void server__conn_receive(server_conn *c, const void *in, size_t len); /* RECEIVE */
int server__conn_peer_close(server_conn *c);                          /* PEER_INITIATED_CLOSE */
void server__send_hello(server_conn *c);  /* the template, with c's input if a sidecar */
void server__sidecar_close(server_conn *c);
uint64_t server__conn_dropped(const server_conn *c);

/* server_http.c */
int server__http_cb(struct lws *wsi, enum lws_callback_reasons reason, server_pss *pss,
                    void *in, size_t len);
/* NULL if the WebSocket handshake on wsi may proceed; otherwise a reason for the log and the
 * HTTP status to answer with in *status. */
const char *server__check_ws(server *s, struct lws *wsi, unsigned *status);
double server__uptime(const server *s);

#endif
