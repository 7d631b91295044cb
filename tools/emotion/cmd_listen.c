/* `emotion listen ws://HOST:PORT/ws`: a terminal client of emotiond's WebSocket protocol v1.
 *
 * Promises: prints what the daemon publishes, one line per message, readable in a terminal (time,
 * top label, confidence, a small bar; events highlighted; status only when it changes) or, with
 * --raw, exactly the JSON text of each message, one per line, for pipelines. With --send FILE it
 * is a sidecar: it sends the audio hello ({"type":"audio",...}) and the file's PCM (f32le, the
 * file's own rate and channels) at real-time pace (--fast: as fast as the socket takes it) and
 * prints the posteriors of its own stream. Ctrl-C (SIGINT/SIGTERM), --count, --duration and the
 * end of a sent file close the connection with a normal close frame and exit 0; the daemon
 * closing prints one line saying so. Exit 1 when the connection fails or the daemon refuses.
 *
 * libwebsockets' own event loop (lws_service) drives everything on one thread; a 50 ms timer
 * (lws_sul) paces the PCM, notices signals and deadlines. No libuv needed for a client this size.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <langinfo.h>
#include <libwebsockets.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_file.h"
#include "cli_util.h"
#include "listen_print.h"
#include "ws_url.h"

static const char *const CMD = "listen";

static void usage(FILE *out)
{
    fprintf(out,
"usage: emotion listen [OPTIONS] ws://HOST:PORT[/PATH]\n"
"\n"
"Connects to a running emotiond (protocol v1, subprotocol \"emotiond.v1\") and prints what it\n"
"publishes: one line per posteriors message (stream time, top label, confidence, bar; \"no\n"
"speech\" while the daemon's gate is closed), events highlighted, status lines when the\n"
"daemon's state or counters change. The daemon's default address is ws://127.0.0.1:8765/ws.\n"
"\n"
"  --raw           print every message's JSON text as received, one per line\n"
"  --send FILE     sidecar mode: stream FILE (any format libsndfile reads) to the daemon as\n"
"                  f32le PCM at real-time pace and print the posteriors of that stream; exits\n"
"                  when the file has been sent and its last results arrived\n"
"  --fast          with --send: send as fast as the connection takes it\n"
"  --frames        also subscribe to the log-mel frame stream (one line per frames message)\n"
"  --rate HZ       ask for HZ posteriors per second (0.1..100)\n"
"  --token TOKEN   bearer token for a daemon that requires one\n"
"  --count N       exit after N posteriors messages\n"
"  --duration S    exit after S seconds\n"
"  --color WHEN    auto (default: when stdout is a terminal and NO_COLOR is unset), always, never\n"
"  -h, --help      this text\n"
"\n"
"Exit status: 0 closed normally (Ctrl-C, --count, --duration, file sent, daemon shut down),\n"
"1 could not connect, daemon refused or closed before its hello, 2 usage error.\n");
}

typedef struct listen_opts {
    const char *url;
    int raw, fast, frames, color;
    const char *send_path;
    double rate_hz;         /* 0: leave the daemon's rate */
    const char *token;
    long count;             /* 0: unlimited */
    double duration;        /* 0: unlimited */
} listen_opts;

#define TXQ_MAX 8
#define SEND_CHUNK_MS 20
#define SEND_MAX_BYTES 65536
#define MAX_MESSAGE (4u << 20)  /* a frames message of 1000 x 512 is ~700 kB */

/* One per run; the lws callback reaches it through the context's user pointer. */
typedef struct listen_state {
    listen_opts o;
    struct lws_context *ctx;
    struct lws *wsi;
    ws_url url;
    lws_sorted_usec_list_t tick;
    lws_usec_t started, close_deadline, drain_deadline;

    char *rx;               /* message being reassembled; is malloc'd */
    size_t rx_len, rx_cap;
    int rx_overflow;

    char *txq[TXQ_MAX];     /* text commands waiting for a writable callback; each malloc'd */
    int txq_n;

    audio_file *af;         /* --send: open file; owned */
    float *pcm;             /* LWS_PRE + one chunk of interleaved frames; is malloc'd */
    size_t chunk_frames;
    int sending, eof;
    int64_t sent_frames;
    lws_usec_t send_t0;
    double file_s;

    listen_printer pr;
    int got_hello, closing, done, exit_code;
    long n_posteriors;
    double last_t;
} listen_state;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int queue_text(listen_state *s, const char *text)
{
    if (s->txq_n == TXQ_MAX)
        return -1;
    char *c = strdup(text);
    if (!c)
        return -1;
    s->txq[s->txq_n++] = c;
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
    return 0;
}

static void begin_close(listen_state *s, const char *why)
{
    if (s->closing)
        return;
    s->closing = 1;
    if (why)
        fprintf(stderr, "emotion listen: %s\n", why);
    s->close_deadline = lws_now_usecs() + 1500 * 1000;
    if (s->wsi)
        lws_callback_on_writable(s->wsi);
    else
        s->done = 1;
}

static void on_hello(listen_state *s, json_t *m)
{
    if (!s->o.raw)
        listen_print_hello(&s->pr, s->o.url, m);
    if (s->got_hello)
        return;   /* a sidecar's second hello describes its stream: nothing more to ask */
    s->got_hello = 1;
    char cmd[160];
    if (s->o.frames)
        queue_text(s, "{\"type\":\"subscribe\",\"streams\":[\"frames\"]}");
    if (s->o.rate_hz > 0) {
        snprintf(cmd, sizeof cmd, "{\"type\":\"rate\",\"hz\":%g}", s->o.rate_hz);
        queue_text(s, cmd);
    }
    if (s->af) {
        const audio_info *ai = audio_file_info(s->af);
        snprintf(cmd, sizeof cmd,
                 "{\"type\":\"audio\",\"format\":\"f32le\",\"rate\":%d,\"channels\":%d}",
                 ai->rate, ai->channels);
        queue_text(s, cmd);
    }
}

static void on_posteriors(listen_state *s, json_t *m)
{
    s->n_posteriors++;
    s->last_t = listen_jnum(m, "t", s->last_t);
    if (!s->o.raw)
        listen_print_posteriors(&s->pr, m);
    if (s->o.count > 0 && s->n_posteriors >= s->o.count)
        begin_close(s, NULL);
    /* Sidecar: the results of the file's last hop have arrived. */
    if (s->eof && s->last_t >= s->file_s - 0.2)
        begin_close(s, NULL);
}

static void on_message(listen_state *s, const char *text, size_t len)
{
    if (s->o.raw) {
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
    }
    json_error_t jerr;
    json_t *m = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(m)) {
        fprintf(stderr, "emotion listen: daemon sent a message that is not a JSON object: %s\n",
                jerr.text);
        json_decref(m);
        return;
    }
    const char *type = listen_jstr(m, "type", "");
    if (strcmp(type, "hello") == 0) {
        on_hello(s, m);
    } else if (strcmp(type, "posteriors") == 0) {
        on_posteriors(s, m);
    } else if (strcmp(type, "event") == 0) {
        if (!s->o.raw)
            listen_print_event(&s->pr, m);
    } else if (strcmp(type, "status") == 0) {
        if (!s->o.raw)
            listen_print_status(&s->pr, m);
    } else if (strcmp(type, "frames") == 0) {
        if (!s->o.raw)
            listen_print_frames(&s->pr, m);
    } else if (strcmp(type, "ack") == 0) {
        if (s->af && !s->sending && strcmp(listen_jstr(m, "cmd", ""), "audio") == 0) {
            s->sending = 1;
            s->send_t0 = lws_now_usecs();
        }
    } else if (strcmp(type, "error") == 0) {
        const char *cmd = listen_jstr(m, "cmd", NULL);
        fprintf(stderr, "emotion listen: daemon error %s%s%s: %s\n", listen_jstr(m, "code", "?"),
                cmd ? " for " : "", cmd ? cmd : "", listen_jstr(m, "message", ""));
        if (cmd && strcmp(cmd, "audio") == 0) {   /* the sidecar was refused: nothing to do */
            s->exit_code = CLI_EXIT_FAIL;
            begin_close(s, NULL);
        }
    }
    json_decref(m);
}

/* ---------------------------------------------------------------- sending */

static int send_pcm(listen_state *s)
{
    const audio_info *ai = audio_file_info(s->af);
    char err[512];
    int64_t n = audio_file_read(s->af, s->pcm + LWS_PRE / sizeof(float), s->chunk_frames, err,
                                sizeof err);
    if (n < 0) {
        cli_error(s->o.send_path, "%s", err);
        s->exit_code = CLI_EXIT_FAIL;
        begin_close(s, NULL);
        return 0;
    }
    if (n == 0) {
        s->eof = 1;
        s->file_s = (double)s->sent_frames / ai->rate;
        /* Wait for the results of the last hops; give up after a few seconds of silence. */
        s->drain_deadline = lws_now_usecs() + 3 * LWS_US_PER_SEC;
        if (s->last_t >= s->file_s - 0.2)
            begin_close(s, NULL);
        return 0;
    }
    size_t bytes = (size_t)n * (size_t)ai->channels * sizeof(float);
    /* f32le on the wire: this is a little-endian host everywhere emotiond runs. */
    if (lws_write(s->wsi, (unsigned char *)s->pcm + LWS_PRE, bytes, LWS_WRITE_BINARY) <
        (int)bytes) {
        fprintf(stderr, "emotion listen: sending audio failed\n");
        return -1;
    }
    s->sent_frames += n;
    return 0;
}

/* Frames the file should have delivered by now at real-time pace (plus one chunk of lead so the
 * daemon never starves between timer ticks). */
static int64_t frames_due(const listen_state *s)
{
    const audio_info *ai = audio_file_info(s->af);
    double elapsed = (double)(lws_now_usecs() - s->send_t0) / LWS_US_PER_SEC;
    return (int64_t)(elapsed * ai->rate) + (int64_t)s->chunk_frames;
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    listen_state *s = lws_container_of(sul, listen_state, tick);
    lws_usec_t now = lws_now_usecs();
    if (g_stop && !s->closing)
        begin_close(s, "interrupted, closing the connection");
    if (s->o.duration > 0 && !s->closing &&
        now - s->started >= (lws_usec_t)(s->o.duration * LWS_US_PER_SEC))
        begin_close(s, NULL);
    if (s->eof && !s->closing && now >= s->drain_deadline)
        begin_close(s, NULL);
    if (s->closing && now >= s->close_deadline)
        s->done = 1;   /* the daemon did not answer the close frame: stop anyway */
    if (s->sending && !s->eof && !s->closing && s->wsi &&
        (s->o.fast || s->sent_frames < frames_due(s)))
        lws_callback_on_writable(s->wsi);
    if (!s->done)
        lws_sul_schedule(s->ctx, 0, &s->tick, on_tick, 50 * LWS_US_PER_MS);
    else
        lws_cancel_service(s->ctx);
}

/* ---------------------------------------------------------------- lws callback */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    listen_state *s = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (s && s->o.token) {
            unsigned char **p = (unsigned char **)in, *end = *p + len;
            char hdr[600];
            int n = snprintf(hdr, sizeof hdr, "Bearer %s", s->o.token);
            if (n < 0 || (size_t)n >= sizeof hdr ||
                lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                             (unsigned char *)hdr, n, p, end))
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "emotion listen: cannot connect to %s: %s%s\n", s->o.url,
                in && len ? (const char *)in : "connection failed",
                in && len && strstr((const char *)in, "unauthorized")
                    ? (s->o.token ? " (wrong --token?)" : " (the daemon wants --token)") : "");
        s->wsi = NULL;
        s->exit_code = CLI_EXIT_FAIL;
        s->done = 1;
        lws_cancel_service(s->ctx);
        break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_frame_is_binary(wsi))
            break;   /* v1 sends no binary to clients; ignore rather than misprint */
        if (lws_is_first_fragment(wsi)) {
            s->rx_len = 0;
            s->rx_overflow = 0;
        }
        if (!s->rx_overflow) {
            if (s->rx_len + len > MAX_MESSAGE) {
                fprintf(stderr, "emotion listen: message over %u bytes skipped\n", MAX_MESSAGE);
                s->rx_overflow = 1;
            } else {
                if (s->rx_len + len + 1 > s->rx_cap) {
                    size_t cap = s->rx_cap ? s->rx_cap : 8192;
                    while (cap < s->rx_len + len + 1)
                        cap *= 2;
                    char *r = realloc(s->rx, cap);
                    if (!r) {
                        fprintf(stderr, "emotion listen: out of memory\n");
                        return -1;
                    }
                    s->rx = r;
                    s->rx_cap = cap;
                }
                memcpy(s->rx + s->rx_len, in, len);
                s->rx_len += len;
            }
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi) && !s->rx_overflow) {
            s->rx[s->rx_len] = '\0';
            on_message(s, s->rx, s->rx_len);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (s->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
            return -1;
        }
        if (s->txq_n) {
            char *t = s->txq[0];
            size_t n = strlen(t);
            unsigned char buf[LWS_PRE + 256];
            if (n < sizeof buf - LWS_PRE) {
                memcpy(buf + LWS_PRE, t, n);
                if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n)
                    return -1;
            }
            free(t);
            memmove(s->txq, s->txq + 1, sizeof s->txq[0] * (size_t)--s->txq_n);
            lws_callback_on_writable(wsi);
            break;
        }
        if (s->sending && !s->eof) {
            if (send_pcm(s) < 0)
                return -1;
            if (!s->eof && (s->o.fast || s->sent_frames < frames_due(s)))
                lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
        unsigned code = len >= 2 ? ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1] : 1005;
        int rlen = len > 2 ? (int)(len - 2) : 0;
        if (!s->closing)
            fprintf(stderr, "emotion listen: daemon closed the connection (%u%s%.*s)\n", code,
                    rlen ? ": " : "", rlen, (const char *)in + 2);
        s->closing = 1;
        break;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!s->closing)
            fprintf(stderr, "emotion listen: connection to %s lost (no close frame: daemon "
                    "stopped or network failed)\n", s->o.url);
        if (!s->got_hello && s->exit_code == 0)
            s->exit_code = CLI_EXIT_FAIL;
        s->wsi = NULL;
        s->done = 1;
        lws_cancel_service(s->ctx);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"emotiond.v1", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

/* ---------------------------------------------------------------- set-up */

static void lws_log(int level, const char *line)
{
    (void)level;
    fprintf(stderr, "emotion listen: libwebsockets: %s", line);
}

int cmd_listen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"raw", no_argument, NULL, 'r'},     {"send", required_argument, NULL, 's'},
        {"fast", no_argument, NULL, 'f'},    {"frames", no_argument, NULL, 'F'},
        {"rate", required_argument, NULL, 'R'}, {"token", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'}, {"duration", required_argument, NULL, 'd'},
        {"color", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    listen_state s;
    memset(&s, 0, sizeof s);
    const char *color = "auto";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': s.o.raw = 1; break;
        case 's': s.o.send_path = optarg; break;
        case 'f': s.o.fast = 1; break;
        case 'F': s.o.frames = 1; break;
        case 'R':
            if (cli_parse_double(CMD, "--rate", optarg, 0.1, 100, &s.o.rate_hz) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 't': s.o.token = optarg; break;
        case 'n':
            if (cli_parse_long(CMD, "--count", optarg, 1, 1000000000L, &s.o.count) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'd':
            if (cli_parse_double(CMD, "--duration", optarg, 0.01, 1e7, &s.o.duration) < 0)
                return CLI_EXIT_USAGE;
            break;
        case 'c': color = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_usage_error(CMD, optind == argc ? "missing the daemon's URL (e.g. ws://127.0.0.1:8765/ws)"
                                             : "one URL expected, got '%s' too", argv[argc - 1]);
        return CLI_EXIT_USAGE;
    }
    if (s.o.fast && !s.o.send_path) {
        cli_usage_error(CMD, "--fast only applies to --send FILE");
        return CLI_EXIT_USAGE;
    }
    if (s.o.token && strlen(s.o.token) > 512) {
        cli_usage_error(CMD, "--token longer than 512 bytes");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(color, "always") == 0)
        s.o.color = 1;
    else if (strcmp(color, "never") == 0)
        s.o.color = 0;
    else if (strcmp(color, "auto") == 0)
        s.o.color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    else {
        cli_usage_error(CMD, "--color must be auto, always or never, not '%s'", color);
        return CLI_EXIT_USAGE;
    }
    s.o.url = argv[optind];
    if (ws_url_parse(CMD, s.o.url, &s.url) < 0)
        return CLI_EXIT_USAGE;

    setlocale(LC_CTYPE, "");
    s.pr.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    s.pr.color = s.o.color;
    setvbuf(stdout, NULL, _IOLBF, 0);   /* pipelines see each message as it arrives */

    int rc = CLI_EXIT_FAIL;
    char err[512];
    if (s.o.send_path) {
        if (audio_file_open(s.o.send_path, &s.af, err, sizeof err) != 0) {
            cli_error(s.o.send_path, "%s", err);
            return CLI_EXIT_FAIL;
        }
        const audio_info *ai = audio_file_info(s.af);
        s.chunk_frames = (size_t)ai->rate * SEND_CHUNK_MS / 1000;
        /* Keep each binary message well under the daemon's default limit (max_audio 256 kB)
         * even for 192 kHz x 32 channels. */
        size_t max_frames = SEND_MAX_BYTES / ((size_t)ai->channels * sizeof(float));
        if (s.chunk_frames > max_frames)
            s.chunk_frames = max_frames;
        s.pcm = malloc(LWS_PRE + s.chunk_frames * (size_t)ai->channels * sizeof(float));
        if (!s.pcm) {
            cli_error(NULL, "out of memory");
            goto out;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    lws_set_log_level(LLL_ERR, lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.user = &s;
    if (s.url.tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    s.ctx = lws_create_context(&info);
    if (!s.ctx) {
        cli_error(NULL, "could not create the libwebsockets context");
        goto out;
    }

    struct lws_client_connect_info cc;
    memset(&cc, 0, sizeof cc);
    cc.context = s.ctx;
    cc.address = s.url.host;
    cc.port = s.url.port;
    cc.path = s.url.path;
    cc.host = s.url.host;
    cc.origin = s.url.host;
    cc.protocol = protocols[0].name;
    cc.ssl_connection = s.url.tls ? LCCSCF_USE_SSL : 0;
    cc.pwsi = &s.wsi;
    s.started = lws_now_usecs();
    if (!lws_client_connect_via_info(&cc)) {
        fprintf(stderr, "emotion listen: cannot connect to %s\n", s.o.url);
        goto out;
    }
    lws_sul_schedule(s.ctx, 0, &s.tick, on_tick, 50 * LWS_US_PER_MS);
    while (!s.done)
        if (lws_service(s.ctx, 0) < 0)
            break;
    rc = s.exit_code;
    if (rc == 0 && s.af && !s.eof && !g_stop && !(s.o.duration > 0) && !(s.o.count > 0))
        rc = CLI_EXIT_FAIL;   /* the connection ended before the file was sent */

out:
    if (s.ctx) {
        lws_sul_cancel(&s.tick);
        lws_context_destroy(s.ctx);
    }
    for (int i = 0; i < s.txq_n; i++)
        free(s.txq[i]);
    free(s.rx);
    free(s.pcm);
    if (s.af)
        audio_file_close(s.af);
    return rc;
}
