/* server: one WebSocket connection: its queues and writes, incoming messages, commands and
 * sidecar streams (see server.h). Lifecycle, broadcast and the lws callback are in server.c. */
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

uint64_t server__conn_dropped(const server_conn *c)
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

/* The template hello for c, with its streams and, for a sidecar, its own input, into q. */
static int put_hello(server_conn *c, fanout *q)
{
    proto_hello h = c->srv->hello;
    h.streams = c->streams;
    if (c->sc) {
        h.input.kind = PROTO_INPUT_SIDECAR;
        h.input.device = "ws";
        h.input.rate = c->sc_rate;
        h.input.channels = c->sc_channels;
    }
    char *buf = fanout_buf(q);
    int n = proto_encode_hello(&h, buf, fanout_max_msg(q));
    if (n <= 0) {
        log_msg(LOG_ERR, "server: hello not encodable: %s", proto_strerror(n));
        return -1;
    }
    fanout_commit(q, 0, (size_t)n);
    return 0;
}

/* A new hello applies to every message after it, so it must not overtake results of the old
 * model or rates. A sidecar's goes into its results queue, in order with them. A subscriber's
 * waits (hello_pending) until its reader has passed every broadcast message published before
 * now; the writer then sends it (with the template of that moment). */
void server__send_hello(server_conn *c)
{
    if (c->sc) {
        if (put_hello(c, c->sc) == 0)
            want_write(c);
        return;
    }
    c->hello_at = c->need_hello ? c->rd.pos : fanout_written(c->srv->bcast);
    c->hello_pending = 1;
    c->need_hello = 0;
    want_write(c);
}

/* The close handshake of server_stop, from the WRITEABLE callback once the queues are empty.
 * lws 4.1 sends no close frame for a connection the user callback closes from WRITEABLE (it
 * treats the socket as failed) and drops the reason while destroying its context, so the
 * frame is written here (opcode 8, which lws_write knows as LWS_WRITE_CLOSE = 4 but no longer
 * names in its header); the client's answering close then ends the connection (see
 * server__conn_peer_close). */
static int close_going_away(server_conn *c)
{
    static const char why[] = "daemon stopping";
    unsigned char b[LWS_PRE + 2 + sizeof why], *p = b + LWS_PRE;
    if (c->close_sent)
        return 0;
    c->close_sent = 1;
    p[0] = LWS_CLOSE_STATUS_GOINGAWAY >> 8;
    p[1] = LWS_CLOSE_STATUS_GOINGAWAY & 0xff;
    memcpy(p + 2, why, sizeof why - 1);
    size_t n = 2 + sizeof why - 1;
    return lws_write(c->wsi, p, n, (enum lws_write_protocol)4) < (int)n ? -1 : 0;
}

int server__conn_peer_close(server_conn *c)
{
    /* the answer to our close: nothing more to say, hang up (lws would echo another close) */
    return c->close_sent ? -1 : 0;
}

/* One message per WRITEABLE callback (lws's rule); asks for another if more is waiting. */
int server__conn_writable(server_conn *c)
{
    server *s = c->srv;
    size_t len = 0;
    fanout *from = c->priv;
    fanout_reader *rd = &c->prd;
    char *msg = fanout_peek(c->priv, &c->prd, PROTO_STREAMS_ALL, &len);
    if (!msg && c->sc) {
        from = c->sc;
        rd = &c->scrd;
        msg = fanout_peek(c->sc, &c->scrd, PROTO_STREAMS_ALL, &len);
    }
    if (!msg && !c->sc && !c->need_hello) {
        from = s->bcast;
        rd = &c->rd;
        msg = fanout_peek(s->bcast, &c->rd, c->streams, &len);
        if (c->hello_pending && (!msg || c->rd.pos >= c->hello_at)) {
            c->hello_pending = 0; /* all that came before it has gone out */
            if (put_hello(c, c->priv) == 0) {
                from = c->priv;
                rd = &c->prd;
                msg = fanout_peek(c->priv, &c->prd, PROTO_STREAMS_ALL, &len);
            }
        }
    }
    if (!msg) /* stopping: whatever was queued before server_stop has gone out first */
        return s->stopping ? close_going_away(c) : 0;
    /* lws writes the frame header into the LWS_PRE bytes in front of msg; a partial send is
     * buffered by lws and the next WRITEABLE comes only when it is gone */
    int n = lws_write(c->wsi, (unsigned char *)msg, len, LWS_WRITE_TEXT);
    if (n < (int)len)
        return -1;
    fanout_next(from, rd);
    /* more waiting (a broadcast of a kind it does not read costs one spare callback), or the
     * close frame still to send */
    if ((s->stopping && !c->close_sent) || c->hello_pending ||
        c->prd.pos < fanout_written(c->priv) || (c->sc && c->scrd.pos < fanout_written(c->sc)) ||
        (!c->sc && !c->need_hello && c->rd.pos < fanout_written(s->bcast)))
        lws_callback_on_writable(c->wsi);
    return 0;
}

int server_send_to(server_conn *c, unsigned kind, const char *msg, size_t len)
{
    if (!c || !msg || (kind && server__bit_index(kind) < 0))
        return PROTO_EINVAL;
    if ((kind && !(c->streams & kind)) || c->srv->stopping)
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
    server__count_streams(s, c, -1);
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
    c->sc_rate = cmd->u.audio.rate;
    c->sc_channels = cmd->u.audio.channels;
    reply(c, b, proto_encode_ack(cmd->name, cmd->id, -1, b, sizeof b));
    if (s->have_hello)
        server__send_hello(c);
    log_msg(LOG_INFO, "server: connection %llu streams audio (%s, %d Hz, %d ch)",
            (unsigned long long)c->id, cmd->u.audio.format == PROTO_PCM_S16LE ? "s16le" : "f32le",
            cmd->u.audio.rate, cmd->u.audio.channels);
}

void server__sidecar_close(server_conn *c)
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
        uint64_t dropped = server__conn_dropped(c);
        reply(c, b, proto_encode_pong(cmd.id, server__uptime(s), dropped, b, sizeof b));
        break;
    }
    case PROTO_CMD_SUBSCRIBE:
    case PROTO_CMD_UNSUBSCRIBE:
        server__count_streams(s, c, -1);
        if (cmd.type == PROTO_CMD_SUBSCRIBE)
            c->streams |= cmd.u.sub.streams;
        else
            c->streams &= ~cmd.u.sub.streams;
        server__count_streams(s, c, +1);
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

void server__conn_receive(server_conn *c, const void *in, size_t len)
{
    server *s = c->srv;
    struct lws *wsi = c->wsi;
    if (s->stopping)
        return; /* closing: commands and audio would only be answered with errors */
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

int server__conn_open(server *s, struct lws *wsi, server_pss *pss)
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
    server__count_streams(s, c, +1);
    c->need_hello = 1;
    if (s->have_hello)
        server__send_hello(c);
    return 0;
}

void server__conn_close(server *s, server_pss *pss)
{
    server_conn *c = pss->conn;
    if (!c)
        return;
    pss->conn = NULL;
    server__sidecar_close(c);
    server__count_streams(s, c, -1);
    if (c->counted)
        s->n_counted--;
    s->st.drops += server__conn_dropped(c);
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
    server__drain_check(s);
}
