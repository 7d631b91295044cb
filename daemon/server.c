/* server: lifecycle, WebSocket connections, commands, fan-out (see server.h). HTTP and the
 * handshake checks are in server_http.c. */
#include "server_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ALL_KINDS PROTO_STREAMS_ALL

void server_config_default(server_config *c)
{
    memset(c, 0, sizeof *c);
    c->address = "127.0.0.1";
    c->port = 8765;
    c->max_subscribers = 1024;
    c->max_sidecars = 8;
    c->max_message = 65536;
    c->max_command = PROTO_MAX_COMMAND;
    c->max_audio = 262144;
    c->queue_len = 64;
}

static int bit_index(unsigned bit)
{
    for (int i = 0; i < 4; i++)
        if (bit == 1u << i)
            return i;
    return -1;
}

/* Keeps n_sub (broadcast subscribers per stream) in step with a connection's subscriptions. */
static void count_streams(server *s, const server_conn *c, int sign)
{
    if (!c->counted || c->sc)
        return;
    for (int i = 0; i < 4; i++)
        if (c->streams & (1u << i))
            s->n_sub[i] += sign;
}

/* Messages this connection lost, including those it is about to find overwritten. */
static uint64_t conn_dropped(const server_conn *c)
{
    uint64_t d = c->rd.dropped + c->prd.dropped + fanout_pending_drops(c->priv, &c->prd,
                                                                        PROTO_STREAMS_ALL);
    if (c->sc)
        d += c->scrd.dropped + fanout_pending_drops(c->sc, &c->scrd, PROTO_STREAMS_ALL);
    if (!c->sc)
        d += fanout_pending_drops(c->srv->bcast, &c->rd, c->streams);
    return d;
}

/* ---- sending ------------------------------------------------------------------------- */

static void want_write(server_conn *c)
{
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
}

/* A reply or hello into the connection's private queue (oldest dropped when full). */
static void reply(server_conn *c, const char *msg, int n)
{
    if (n <= 0) {
        log_msg(LOG_ERR, "server: reply to connection %llu not encodable: %s",
                (unsigned long long)c->id, proto_strerror(n));
        return;
    }
    if (fanout_put(c->priv, 0, msg, (size_t)n) == 0)
        want_write(c);
}

static void reply_error(server_conn *c, int code, const char *message, const proto_cmd *cmd)
{
    char b[1024];
    c->srv->st.errors++;
    reply(c, b, proto_encode_error(code, message, cmd ? cmd->name : NULL, cmd ? cmd->id : NULL,
                                   b, sizeof b));
}

static void send_hello(server_conn *c, const proto_cmd *audio)
{
    server *s = c->srv;
    proto_hello h = s->hello;
    h.streams = c->streams;
    if (audio) {
        h.input.kind = PROTO_INPUT_SIDECAR;
        h.input.device = "ws";
        h.input.rate = audio->u.audio.rate;
        h.input.channels = audio->u.audio.channels;
    }
    char *buf = fanout_buf(c->priv);
    int n = proto_encode_hello(&h, buf, fanout_max_msg(c->priv));
    if (n <= 0) {
        log_msg(LOG_ERR, "server: hello not encodable: %s", proto_strerror(n));
        return;
    }
    fanout_commit(c->priv, 0, (size_t)n);
    c->need_hello = 0;
    want_write(c);
}

/* One message per WRITEABLE callback (lws's rule); asks for another if more is waiting. */
static int conn_writable(server_conn *c)
{
    server *s = c->srv;
    size_t len = 0;
    fanout *from = c->priv;
    fanout_reader *rd = &c->prd;
    char *msg = fanout_peek(c->priv, &c->prd, ALL_KINDS, &len);
    if (!msg && c->sc) {
        from = c->sc;
        rd = &c->scrd;
        msg = fanout_peek(c->sc, &c->scrd, ALL_KINDS, &len);
    }
    if (!msg && !c->sc && !c->need_hello) {
        from = s->bcast;
        rd = &c->rd;
        msg = fanout_peek(s->bcast, &c->rd, c->streams, &len);
    }
    if (!msg) {
        return 0;
    }
    /* lws writes the frame header into the LWS_PRE bytes in front of msg; a partial send is
     * buffered by lws and the next WRITEABLE comes only when it is gone */
    int n = lws_write(c->wsi, (unsigned char *)msg, len, LWS_WRITE_TEXT);
    if (n < (int)len)
        return -1;
    fanout_next(from, rd);
    lws_callback_on_writable(c->wsi); /* maybe more; a spare callback finds nothing */
    return 0;
}

int server_send_to(server_conn *c, unsigned kind, const char *msg, size_t len)
{
    if (!c || !msg || (kind && bit_index(kind) < 0))
        return PROTO_EINVAL;
    if (kind && !(c->streams & kind))
        return 0;
    fanout *q = c->sc ? c->sc : c->priv;
    if (len > fanout_max_msg(q))
        return PROTO_ETOOBIG;
    fanout_put(q, kind, msg, len);
    want_write(c);
    return 0;
}

unsigned server_conn_streams(const server_conn *c) { return c ? c->streams : 0; }
uint64_t server_conn_id(const server_conn *c) { return c ? c->id : 0; }

char *server_publish_buf(server *s, size_t *cap)
{
    if (cap)
        *cap = fanout_max_msg(s->bcast);
    return fanout_buf(s->bcast);
}

int server_publish_commit(server *s, unsigned kind, size_t len)
{
    int i = bit_index(kind);
    if (i < 0)
        return PROTO_EINVAL;
    if (fanout_commit(s->bcast, kind, len))
        return PROTO_ETOOBIG;
    s->st.published++;
    if (!s->n_sub[i])
        return 0;
    for (server_conn *c = s->conns; c; c = c->next)
        if (c->counted && !c->sc && (c->streams & kind))
            lws_callback_on_writable(c->wsi);
    return 0;
}

int server_publish(server *s, unsigned kind, const char *msg, size_t len)
{
    if (!s || !msg || bit_index(kind) < 0)
        return PROTO_EINVAL;
    if (len > fanout_max_msg(s->bcast))
        return PROTO_ETOOBIG;
    memcpy(fanout_buf(s->bcast), msg, len);
    return server_publish_commit(s, kind, len);
}

int server_subscribers(const server *s, unsigned kind)
{
    int i = bit_index(kind);
    return s && i >= 0 ? s->n_sub[i] : 0;
}

/* ---- hello template ------------------------------------------------------------------- */

int server_set_hello(server *s, const proto_hello *h, int broadcast)
{
    if (!s || !h || !h->daemon || !h->model || !h->labels || h->n_labels < 1 || h->n_labels > 64)
        return PROTO_EINVAL;
    /* validate by encoding once; the copy below is then known to be encodable */
    char *test = malloc(SERVER_PRIV_MSG);
    if (!test)
        return PROTO_EINVAL;
    int rc = proto_encode_hello(h, test, SERVER_PRIV_MSG);
    free(test);
    if (rc < 0)
        return rc;
    size_t total = strlen(h->daemon) + strlen(h->model) + 3 +
                   (h->input.device ? strlen(h->input.device) + 1 : 0);
    for (int i = 0; i < h->n_labels; i++)
        total += strlen(h->labels[i]) + 1;
    char *strs = malloc(total);
    const char **labels = malloc(sizeof *labels * (size_t)h->n_labels);
    if (!strs || !labels) {
        free(strs);
        free(labels);
        return PROTO_EINVAL;
    }
    char *p = strs;
#define COPY(dst, src)                     \
    do {                                   \
        size_t l_ = strlen(src) + 1;       \
        memcpy(p, (src), l_);              \
        (dst) = p;                         \
        p += l_;                           \
    } while (0)
    proto_hello c = *h;
    COPY(c.daemon, h->daemon);
    COPY(c.model, h->model);
    if (h->input.device)
        COPY(c.input.device, h->input.device);
    for (int i = 0; i < h->n_labels; i++)
        COPY(labels[i], h->labels[i]);
#undef COPY
    c.labels = labels;
    free(s->hello_strings);
    free(s->hello_labels);
    s->hello_strings = strs;
    s->hello_labels = labels;
    s->hello = c;
    s->have_hello = 1;
    for (server_conn *k = s->conns; k; k = k->next)
        if (k->counted && !k->sc && (k->need_hello || broadcast))
            send_hello(k, NULL);
    return 0;
}

/* ---- commands ------------------------------------------------------------------------ */

static void sidecar_open(server_conn *c, const proto_cmd *cmd)
{
    server *s = c->srv;
    char err[256] = "";
    if (c->sc) {
        reply_error(c, PROTO_ESTATE, "this connection already streams audio", cmd);
        return;
    }
    if (!s->cb.on_sidecar_open) {
        reply_error(c, PROTO_ESTATE, "sidecar mode is not available in this daemon", cmd);
        return;
    }
    if (s->n_sidecars >= s->cfg.max_sidecars) {
        snprintf(err, sizeof err, "%d sidecar streams already open (max_sidecars)",
                 s->n_sidecars);
        reply_error(c, PROTO_EBUSY, err, cmd);
        return;
    }
    size_t fb = (size_t)proto_pcm_sample_bytes(cmd->u.audio.format) *
                (size_t)cmd->u.audio.channels;
    size_t cap = SERVER_PCM_CHUNK / fb * fb;
    if (cap < 2 * fb)
        cap = 2 * fb;
    fanout *q = NULL;
    unsigned char *pcm = aligned_alloc(16, (cap + 15) & ~(size_t)15);
    if (!pcm || fanout_new(s->cfg.queue_len, s->cfg.max_message, LWS_PRE, &q)) {
        free(pcm);
        reply_error(c, PROTO_EINTERNAL, "out of memory", cmd);
        return;
    }
    void *stream = NULL;
    int rc = s->cb.on_sidecar_open(s->user, c, cmd, &stream, err, sizeof err);
    if (rc) {
        free(pcm);
        fanout_free(q);
        reply_error(c, rc < 0 ? rc : PROTO_EINTERNAL, err[0] ? err : NULL, cmd);
        return;
    }
    count_streams(s, c, -1);
    c->sidecar = 1;
    c->stream = stream;
    c->sc = q;
    fanout_reader_init(q, &c->scrd);
    c->pcm = pcm;
    c->pcm_cap = cap;
    c->pcm_fill = 0;
    c->frame_bytes = fb;
    s->n_sidecars++;
    char b[256];
    reply(c, b, proto_encode_ack(cmd->name, cmd->id, -1, b, sizeof b));
    if (s->have_hello)
        send_hello(c, cmd);
    log_msg(LOG_INFO, "server: connection %llu streams audio (%s, %d Hz, %d ch)",
            (unsigned long long)c->id, cmd->u.audio.format == PROTO_PCM_S16LE ? "s16le" : "f32le",
            cmd->u.audio.rate, cmd->u.audio.channels);
}

static void sidecar_close(server_conn *c)
{
    server *s = c->srv;
    if (!c->sidecar)
        return;
    if (s->cb.on_sidecar_close)
        s->cb.on_sidecar_close(s->user, c, c->stream);
    c->sidecar = 0;
    c->stream = NULL;
    s->n_sidecars--;
}

static void handle_text(server_conn *c, const char *text, size_t len)
{
    server *s = c->srv;
    proto_cmd cmd;
    char err[256];
    char b[512];
    int rc = proto_parse_command(text, len, s->cfg.max_command, &cmd, err, sizeof err);
    if (rc) {
        reply_error(c, rc, err, &cmd);
        return;
    }
    switch (cmd.type) {
    case PROTO_CMD_PING: {
        uint64_t dropped = conn_dropped(c);
        reply(c, b, proto_encode_pong(cmd.id, server__uptime(s), dropped, b, sizeof b));
        break;
    }
    case PROTO_CMD_SUBSCRIBE:
    case PROTO_CMD_UNSUBSCRIBE:
        count_streams(s, c, -1);
        if (cmd.type == PROTO_CMD_SUBSCRIBE)
            c->streams |= cmd.u.sub.streams;
        else
            c->streams &= ~cmd.u.sub.streams;
        count_streams(s, c, +1);
        reply(c, b, proto_encode_ack(cmd.name, cmd.id, (int)c->streams, b, sizeof b));
        break;
    case PROTO_CMD_RATE:
    case PROTO_CMD_SMOOTHING:
        err[0] = '\0';
        rc = s->cb.on_command ? s->cb.on_command(s->user, c, c->stream, &cmd, err, sizeof err)
                              : PROTO_ESTATE;
        if (rc)
            reply_error(c, rc < 0 ? rc : PROTO_EINTERNAL,
                        err[0] ? err : s->cb.on_command ? NULL : "not supported by this daemon",
                        &cmd);
        else
            reply(c, b, proto_encode_ack(cmd.name, cmd.id, -1, b, sizeof b));
        break;
    case PROTO_CMD_AUDIO:
        sidecar_open(c, &cmd);
        break;
    default:
        reply_error(c, PROTO_ETYPE, NULL, &cmd);
    }
}

/* PCM is a byte stream: frames may straddle fragments and messages; whole frames go to the
 * daemon from an aligned buffer, the remainder waits for the next bytes. */
static void feed_pcm(server_conn *c, const unsigned char *in, size_t len)
{
    server *s = c->srv;
    while (len && c->sidecar) {
        size_t take = c->pcm_cap - c->pcm_fill;
        if (take > len)
            take = len;
        memcpy(c->pcm + c->pcm_fill, in, take);
        c->pcm_fill += take;
        in += take;
        len -= take;
        size_t frames = c->pcm_fill / c->frame_bytes;
        if (frames) {
            size_t used = frames * c->frame_bytes;
            if (s->cb.on_sidecar_audio)
                s->cb.on_sidecar_audio(s->user, c, c->stream, c->pcm, frames);
            memmove(c->pcm, c->pcm + used, c->pcm_fill - used);
            c->pcm_fill -= used;
        }
    }
}

static void conn_receive(server_conn *c, const void *in, size_t len)
{
    server *s = c->srv;
    struct lws *wsi = c->wsi;
    int binary = lws_frame_is_binary(wsi);
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (!c->rx_in_msg) {
        c->rx_in_msg = 1;
        c->rx_len = 0;
        c->rx_total = 0;
        c->rx_skip = 0;
    }
    c->rx_total += len;
    if (!c->rx_skip) {
        char msg[160];
        if (binary && !c->sidecar) {
            reply_error(c, PROTO_EBINARY, "binary message without an audio hello: send "
                        "{\"type\":\"audio\",...} first", NULL);
            c->rx_skip = 1;
        } else if (binary && c->rx_total > s->cfg.max_audio) {
            snprintf(msg, sizeof msg, "binary message of more than %zu bytes (max_audio); the "
                     "rest of it is dropped", s->cfg.max_audio);
            reply_error(c, PROTO_ETOOBIG, msg, NULL);
            c->rx_skip = 1;
        } else if (!binary && c->rx_total > s->cfg.max_command) {
            snprintf(msg, sizeof msg, "command of more than %zu bytes, at most %zu",
                     s->cfg.max_command, s->cfg.max_command);
            reply_error(c, PROTO_ETOOBIG, msg, NULL);
            c->rx_skip = 1;
        } else if (binary) {
            feed_pcm(c, in, len);
        } else {
            memcpy(c->rx + c->rx_len, in, len);
            c->rx_len += len;
        }
    }
    if (final) {
        if (!binary && !c->rx_skip)
            handle_text(c, c->rx, c->rx_len);
        c->rx_in_msg = 0;
    }
}

/* ---- connection lifecycle ------------------------------------------------------------ */

static int conn_open(server *s, struct lws *wsi, server_pss *pss)
{
    server_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->srv = s;
    c->wsi = wsi;
    c->id = ++s->next_id;
    c->streams = PROTO_STREAMS_DEFAULT;
    c->rx = malloc(s->cfg.max_command ? s->cfg.max_command : 1);
    if (!c->rx || fanout_new(SERVER_PRIV_SLOTS, SERVER_PRIV_MSG, LWS_PRE, &c->priv)) {
        free(c->rx);
        free(c);
        return -1;
    }
    fanout_reader_init(c->priv, &c->prd);
    fanout_reader_init(s->bcast, &c->rd);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pss->conn = c;
    s->st.connections++;
    if (s->n_counted >= s->cfg.max_subscribers || s->stopping) {
        /* normally refused with 503 at the handshake already */
        s->st.rejected++;
        return -1;
    }
    c->counted = 1;
    s->n_counted++;
    count_streams(s, c, +1);
    c->need_hello = 1;
    if (s->have_hello)
        send_hello(c, NULL);
    return 0;
}

static void conn_close(server *s, server_pss *pss)
{
    server_conn *c = pss->conn;
    if (!c)
        return;
    pss->conn = NULL;
    sidecar_close(c);
    count_streams(s, c, -1);
    if (c->counted)
        s->n_counted--;
    s->st.drops += conn_dropped(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    fanout_free(c->priv);
    fanout_free(c->sc);
    free(c->pcm);
    free(c->rx);
    free(c);
}

/* A plain HTTP/1.1 refusal of a WebSocket handshake (lws's own status page says HTTP/1.0 at
 * this point, which some clients reject as malformed instead of reporting the status). */
static void refuse(struct lws *wsi, unsigned status, const char *why)
{
    unsigned char b[LWS_PRE + 512];
    const char *text = status == HTTP_STATUS_UNAUTHORIZED ? "Unauthorized"
                       : status == HTTP_STATUS_FORBIDDEN  ? "Forbidden"
                                                          : "Service Unavailable";
    int n = snprintf((char *)b + LWS_PRE, sizeof b - LWS_PRE,
                     "HTTP/1.1 %u %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     "content-length: %zu\r\nconnection: close\r\n%s\r\n%s\n", status, text,
                     strlen(why) + 1, status == HTTP_STATUS_UNAUTHORIZED ?
                     "www-authenticate: Bearer\r\n" : "", why);
    if (n > 0 && (size_t)n < sizeof b - LWS_PRE)
        lws_write(wsi, b + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    server *s = vh ? lws_get_vhost_user(vh) : NULL;
    server_pss *pss = user;
    if (!s)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        unsigned status = 0;
        const char *why = server__check_ws(s, wsi, &status);
        if (!why && (s->stopping || s->n_counted >= s->cfg.max_subscribers)) {
            why = s->stopping ? "shutting down" : "max_subscribers reached";
            status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        }
        if (why) {
            char peer[64] = "";
            lws_get_peer_simple(wsi, peer, sizeof peer);
            log_msg(LOG_NOTICE, "server: WebSocket from %s refused (%u): %s", peer, status, why);
            s->st.rejected++;
            refuse(wsi, status, why);
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!pss)
            return -1;
        memset(pss, 0, sizeof *pss);
        return conn_open(s, wsi, pss);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss && pss->conn ? conn_writable(pss->conn) : 0;
    case LWS_CALLBACK_RECEIVE:
        if (pss && pss->conn)
            conn_receive(pss->conn, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (pss)
            conn_close(s, pss);
        return 0;
    default:
        return server__http_cb(wsi, reason, pss, in, len);
    }
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void lws_log(int level, const char *line)
{
    if (strstr(line, "User code denied connection"))
        return; /* our own refusal, already logged with its reason */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_msg(level == LLL_ERR ? LOG_ERR : LOG_WARNING, "lws: %.*s", (int)n, line);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int server_new(uv_loop_t *loop, const server_config *cfg, const server_callbacks *cb,
               void *user, server **out, char *err, size_t errlen)
{
    server_config def;
    server *s = NULL;
    *out = NULL;
    if (!cfg) {
        server_config_default(&def);
        cfg = &def;
    }
    if (!loop || cfg->port < 0 || cfg->port > 65535 || cfg->max_subscribers < 1 ||
        cfg->max_sidecars < 0 || cfg->queue_len < 2 || cfg->queue_len > 65536 ||
        cfg->max_message < 1024 || cfg->max_message > (64u << 20) || cfg->max_command < 64 ||
        cfg->max_command > (1u << 20) || cfg->max_audio < 1024 || cfg->max_audio > (64u << 20)) {
        snprintf(err, errlen, "server: invalid configuration (port 0..65535, max_subscribers >= 1, "
                 "queue_len 2..65536, max_message 1 KiB..64 MiB, max_command 64 B..1 MiB, "
                 "max_audio 1 KiB..64 MiB)");
        return PROTO_EINVAL;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->loop = loop;
    s->cfg = *cfg;
    s->address = dup_or_null(cfg->address);
    s->www_dir = dup_or_null(cfg->www_dir);
    s->token = dup_or_null(cfg->token);
    s->origins = dup_or_null(cfg->origins);
    if ((cfg->address && *cfg->address && !s->address) || (cfg->www_dir && *cfg->www_dir &&
        !s->www_dir) || (cfg->token && *cfg->token && !s->token) ||
        (cfg->origins && *cfg->origins && !s->origins))
        goto nomem;
    s->cfg.address = s->address;
    s->cfg.www_dir = s->www_dir;
    s->cfg.token = s->token;
    s->cfg.origins = s->origins;
    if (s->www_dir && !realpath(s->www_dir, s->www_real)) {
        /* not fatal: the daemon still serves the protocol; the page says 404 */
        log_msg(LOG_WARNING, "server: web root %s: %s; serving no files", s->www_dir,
                strerror(errno));
        s->www_real[0] = '\0';
    }
    s->cb = cb ? *cb : (server_callbacks){0};
    s->user = user;
    s->start_ns = uv_hrtime();
    if (fanout_new(cfg->queue_len, cfg->max_message, LWS_PRE, &s->bcast))
        goto nomem;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    s->protocols[0] = (struct lws_protocols){
        .name = PROTO_SUBPROTOCOL,
        .callback = callback,
        .per_session_data_size = sizeof(server_pss),
        /* bytes lws hands us per RECEIVE at most; longer messages come in pieces */
        .rx_buffer_size = 8192,
    };
    /* a client that names no subprotocol gets ours too */
    s->pvo_default = (struct lws_protocol_vhost_options){NULL, NULL, "default", "1"};
    s->pvo = (struct lws_protocol_vhost_options){NULL, &s->pvo_default, PROTO_SUBPROTOCOL, ""};

    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port; /* 0: the kernel picks one (server_port tells) */
    info.iface = s->address ? s->address : "127.0.0.1";
    info.protocols = s->protocols;
    info.pvo = &s->pvo;
    info.user = s;
    info.foreign_loops = foreign;
    info.pcontext = &s->ctx; /* lws sets it to NULL once the context is completely gone */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   (strchr(info.iface, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
    info.timeout_secs = 10;
    info.max_http_header_data = 4096;
    info.vhost_name = "emotiond";
    info.pt_serv_buf_size = 16384;

    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen, "server: could not start libwebsockets on the libuv loop (is "
                 "libwebsockets-evlib-uv installed?)");
        goto fail;
    }
    /* the vhost separately, so a bind failure is reported as such */
    s->vh = lws_create_vhost(s->ctx, &info);
    if (!s->vh) {
        snprintf(err, errlen, "server: cannot listen on %s port %d (address in use, not a local "
                 "address, or not permitted)", info.iface, cfg->port);
        goto fail;
    }
    s->port = lws_get_vhost_listen_port(s->vh);
    *out = s;
    return 0;
nomem:
    snprintf(err, errlen, "server: out of memory");
fail:
    server_free(s); /* also finishes destroying a context that was made */
    return s ? PROTO_EINTERNAL : PROTO_EINVAL;
}

int server_port(const server *s) { return s ? s->port : 0; }

void server_get_stats(const server *s, server_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    *out = s->st;
    out->subscribers = s->n_counted;
    out->sidecars = s->n_sidecars;
    for (server_conn *c = s->conns; c; c = c->next)
        out->drops += conn_dropped(c);
}

void server_stop(server *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    /* the daemon frees its sidecar pipelines now, while everything is still consistent */
    for (server_conn *c = s->conns; c; c = c->next)
        sidecar_close(c);
    /* closes every connection (their CLOSED callbacks run now or on the loop) and then lws's
     * own handles, as the caller's loop runs */
    if (s->ctx)
        lws_context_destroy(s->ctx);
}

/* With a foreign libuv loop, lws 4.1 can need a second lws_context_destroy after the loop has
 * run the first one's closes (its own minimal example calls it again after the loop); each
 * pass finishes in close callbacks, which a non-blocking loop iteration runs. Other handles
 * are closed by then (STYLE.md order), so this only runs what is left of lws. */
static void finish_lws(server *s)
{
    for (int pass = 0; s->ctx && pass < 2; pass++) {
        lws_context_destroy(s->ctx);
        for (int i = 0; s->ctx && i < 1000; i++)
            uv_run(s->loop, UV_RUN_NOWAIT);
    }
}

void server_free(server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    finish_lws(s);
    if (s->ctx) {
        log_msg(LOG_ERR, "server: libwebsockets did not finish closing; leaking it");
        return;
    }
    while (s->conns) { /* lws normally closed them all; anything left is only memory */
        server_pss p = {s->conns, NULL};
        conn_close(s, &p);
    }
    fanout_free(s->bcast);
    free(s->hello_strings);
    free(s->hello_labels);
    free(s->address);
    free(s->www_dir);
    free(s->token);
    free(s->origins);
    free(s);
}
