/* server: emotiond's HTTP + WebSocket front end, libwebsockets joined to the daemon's libuv loop.
 *
 * Files of this module (for daemon/meson.build, built into the emotiond executable with
 * lws_dep, uv_dep, proto_dep): server.c server_conn.c server_http.c fanout.c
 * Tests: tests/server/ (suite 'server').
 *
 * Promises:
 * - One port (default 127.0.0.1:8765) serves HTTP (/healthz, /metrics, static files of the
 *   dashboard from www_dir, /kiosk -> kiosk.html; GET and HEAD, other methods 405) and the
 *   WebSocket protocol v1 of proto/ (subprotocol "emotiond.v1" or none) on any path,
 *   conventionally /ws.
 * - Shutdown closes every WebSocket with 1001 "going away" after what was queued for it.
 * - Broadcast messages are encoded once by the caller and fanned out from one ring of
 *   preallocated slots (LWS_PRE headroom, one read position per connection): no allocation
 *   per publish. A slow subscriber loses its OLDEST messages (counted for it and in total,
 *   see server_stats and the pong's "dropped") and never stalls the loop or the others.
 * - Client commands are parsed with proto_parse_command; malformed, unknown, out-of-range,
 *   oversized text and unexpected binary messages get an "error" message and the connection
 *   stays up. subscribe/unsubscribe/ping are handled here; rate/smoothing go to on_command;
 *   the audio hello turns the connection into a sidecar (on_sidecar_open), which from then on
 *   receives only what is sent to it with server_send_to, not the broadcast.
 * - Security: loopback by default. If a token is set, /ws and /metrics need
 *   "Authorization: Bearer <token>" or "?token=<token>". A WebSocket handshake carrying an
 *   Origin header must come from an allowed origin: with no list, only the same origin (Origin's
 *   host:port equals the Host header); "*" in the list allows any. Refusals are HTTP 401
 *   (token), 403 (Origin), 503 (max_subscribers) at the handshake.
 * - The listen address must be numeric (no name lookups) and bindable when server_new runs.
 * - Everything runs on the loop thread; nothing here is thread-safe.
 *
 * Lifetime (STYLE.md shutdown order): server_new -> ... -> server_stop (sidecar streams get
 * on_sidecar_close, every connection is closed with 1001, then the lws context goes) -> the
 * caller closes its own handles and runs the loop until it returns (uv_run(loop, UV_RUN_DEFAULT)) -> server_free
 * (finishes lws's teardown with non-blocking loop iterations, then frees) -> uv_loop_close
 * returns 0. The same holds after a failed server_new: run the loop before uv_loop_close.
 *
 * Errors: negative PROTO_E* codes (proto.h) with one line in err.
 */
#ifndef EMOTIOND_SERVER_H
#define EMOTIOND_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct server server;
/* One per WebSocket connection; owned by the server, valid from the callback that hands it
 * out until on_sidecar_close (sidecars) or the connection closes. */
typedef struct server_conn server_conn;

typedef struct server_config {
    const char *address;      /* listen address, default "127.0.0.1"; "0.0.0.0" / "::" = all */
    int port;                 /* default 8765; 0 = an ephemeral port (see server_port) */
    int max_subscribers;      /* WebSocket connections at once, default 1024; more are refused
                                 at the handshake with HTTP 503 */
    int max_sidecars;         /* sidecar streams at once, default 8 */
    size_t max_message;       /* largest message the server sends (ring slot size), 65536 */
    size_t max_command;       /* largest client text message, default PROTO_MAX_COMMAND */
    size_t max_audio;         /* largest client binary message (PCM), default 262144 */
    int queue_len;            /* broadcast messages kept for a lagging subscriber, default 64 */
    int ping_s;               /* WebSocket ping after this many idle seconds; a client that
                                 has not answered 2 * ping_s after the last valid traffic is
                                 hung up (dead peers, stalled readers). Default 30, 0 = off */
    const char *www_dir;      /* static files; NULL or "" = none (404) */
    const char *token;        /* bearer token; NULL or "" = none */
    const char *origins;      /* comma-separated allowed Origin values ("http://host:port"),
                                 "*" = any; NULL or "" = same origin only */
} server_config;

void server_config_default(server_config *c);

/* What /healthz and /metrics report from the daemon; filled by on_stats at request time. */
typedef struct server_histogram {
    int n;                    /* buckets, 0 = histogram omitted */
    const double *le;         /* n increasing upper bounds (seconds) */
    const uint64_t *counts;   /* n + 1 counts per bucket (not cumulative); the last is > le[n-1] */
    double sum;               /* sum of all observations (seconds) */
} server_histogram;

typedef struct server_daemon_stats {
    int state;                /* enum proto_device_state of the main input */
    const char *input;        /* e.g. "mic:default", "file:/x.wav", "stdin" */
    const char *model;        /* model id */
    double uptime_s;
    uint64_t hops;            /* hops processed on the main input */
    uint64_t overruns;        /* capture ring overruns */
    server_histogram hop;     /* per-hop processing time */
    server_histogram latency; /* capture-to-publish latency */
} server_daemon_stats;

typedef struct server_callbacks {
    /* Audio hello received (fields validated by proto). Make the stream's pipeline, store it in
     * *stream and return 0; the server then sends {"type":"ack","cmd":"audio"} and a hello with
     * input.kind "sidecar". Or return a negative PROTO_E* with a message in err: the client gets
     * an error and stays an ordinary subscriber. May be NULL (sidecars refused). */
    int (*on_sidecar_open)(void *user, server_conn *c, const proto_cmd *audio, void **stream,
                           char *err, size_t errlen);
    /* Whole PCM frames (interleaved, format and channels of the hello), aligned for the sample
     * type. The results go back with server_send_to(c, ...). */
    void (*on_sidecar_audio)(void *user, server_conn *c, void *stream, const void *pcm,
                             size_t frames);
    /* The sidecar connection is gone (or the server stops): free the stream. */
    void (*on_sidecar_close)(void *user, server_conn *c, void *stream);
    /* rate / smoothing. stream is NULL for ordinary subscribers (the main input's pipeline) or
     * the sidecar's stream. Return 0 (the server acks) or a negative PROTO_E* + message. */
    int (*on_command)(void *user, server_conn *c, void *stream, const proto_cmd *cmd, char *err,
                      size_t errlen);
    /* Fill *out for /healthz and /metrics; pointers must stay valid until the next call. */
    void (*on_stats)(void *user, server_daemon_stats *out);
} server_callbacks;

/* Binds and listens on loop (which must outlive the server). cfg strings and the callbacks are
 * copied; user is borrowed. On success *out is owned by the caller (server_stop, then
 * server_free after the loop has run its closes). Fails with a message naming the address
 * when the port cannot be bound. */
int server_new(uv_loop_t *loop, const server_config *cfg, const server_callbacks *cb,
               void *user, server **out, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int server_port(const server *s);

/* The hello every new connection receives first (deep copy; streams and, for sidecars, input
 * are set per connection). Must be set before clients connect or they wait for it.
 * broadcast says who else gets it now:
 *   SERVER_HELLO_NEW          nobody else (first hello; connections still waiting get it).
 *   SERVER_HELLO_SUBSCRIBERS  every current subscriber: the main stream changed (publish rate,
 *                             smoothing, capture format). Sidecar streams keep their own rates,
 *                             so sidecars get it only if the model changed (below).
 *   SERVER_HELLO_ALL          subscribers and sidecars: the daemon has moved every sidecar stream
 *                             to h's model and settings (SIGHUP reload).
 * A sidecar stream always runs on the daemon's current model, so a hello with another model id
 * than the previous one reaches sidecars with any broadcast != 0. A sidecar's hello describes
 * its own stream (input.kind "sidecar") and is queued in order with its results: messages
 * computed before the change arrive before it. Returns 0 or a negative PROTO_E*. */
enum { SERVER_HELLO_NEW = 0, SERVER_HELLO_SUBSCRIBERS = 1, SERVER_HELLO_ALL = 2 };
int server_set_hello(server *s, const proto_hello *h, int broadcast);

/* Broadcast. kind is one PROTO_STREAM_* bit: the message goes to every non-sidecar
 * connection subscribed to it. Zero-copy form: write at most *cap bytes into the returned
 * buffer (which has LWS_PRE bytes of headroom in front) and commit its length; or copy with
 * server_publish. Returns 0 or PROTO_ETOOBIG / PROTO_EINVAL. Never blocks; with no
 * subscriber of kind it costs nothing but the copy. */
char *server_publish_buf(server *s, size_t *cap);
int server_publish_commit(server *s, unsigned kind, size_t len);
int server_publish(server *s, unsigned kind, const char *msg, size_t len);

/* How many connections (non-sidecar) are subscribed to a stream (e.g. to switch the log-mel
 * frame stream on only when someone watches). O(1). */
int server_subscribers(const server *s, unsigned kind);

/* One message to one connection (a sidecar's own posteriors/events/frames, or a reply). Each
 * connection has a private queue (8 messages, or queue_len for sidecars) that also drops its
 * oldest when full. kind is a PROTO_STREAM_* bit (sent only if the connection is subscribed to
 * it) or 0 (always sent). */
int server_send_to(server_conn *c, unsigned kind, const char *msg, size_t len);
unsigned server_conn_streams(const server_conn *c);
uint64_t server_conn_id(const server_conn *c);   /* for logs: 1, 2, ... in accept order */

typedef struct server_stats {
    int subscribers;          /* open WebSocket connections (sidecars included) */
    int sidecars;
    uint64_t connections;     /* accepted since start */
    uint64_t rejected;        /* refused: busy, token, origin */
    uint64_t published;       /* broadcast messages */
    uint64_t drops;           /* messages dropped for slow readers, all connections */
    uint64_t errors;          /* error replies sent */
    uint64_t http_requests;
} server_stats;
void server_get_stats(const server *s, server_stats *out);

/* Starts shutdown: refuses new connections, calls on_sidecar_close for each sidecar, and lets
 * every connection send what is already queued followed by a close frame 1001 "going away"
 * (commands and audio that arrive meanwhile are ignored). When all have closed, or after 1 s
 * for clients that do not answer the close, the lws context is destroyed (the rest are cut
 * without a close frame) and the server's own handles close. Nothing blocks: the loop must
 * then run until they are closed. Idempotent. */
void server_stop(server *s);
/* Frees everything; only after server_stop and the loop run. NULL is fine. */
void server_free(server *s);

#ifdef __cplusplus
}
#endif
#endif
