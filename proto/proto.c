/* proto: the server message encoders. Every encoder checks its inputs before writing, so a
 * refused message never leaves half a message that looks valid (the buffer is still
 * NUL-terminated). */
#include "proto.h"
#include "proto_internal.h"

#include <math.h>
#include <string.h>

/* ---- encoders ------------------------------------------------------------------------- */

/* A probability: [0, 1] with 1e-4 slack for float rounding (clamped); anything else refused. */
static int prob_ok(double v) { return isfinite(v) && v >= -1e-4 && v <= 1.0 + 1e-4; }
static double prob_clamp(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

int proto_encode_hello(const proto_hello *h, char *buf, size_t cap)
{
    proto__w w;
    if (!h || !buf || !cap || !h->daemon || !h->model || !h->labels || h->n_labels < 1 ||
        h->n_labels > 64 || !proto_input_kind_name(h->input.kind))
        return PROTO_EINVAL;
    if (!isfinite(h->hop_ms) || h->hop_ms <= 0 || !isfinite(h->publish_hz) || h->publish_hz <= 0 ||
        !isfinite(h->input.rate) || h->input.rate < 0 || h->input.channels < 0 ||
        (h->smoothing >= 0 && h->smoothing > 1) || isnan(h->smoothing))
        return PROTO_ERANGE;
    for (int i = 0; i < h->n_labels; i++)
        if (!h->labels[i])
            return PROTO_EINVAL;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"hello\",\"protocol\":1,\"daemon\":");
    proto__w_str(&w, h->daemon);
    proto__w_lit(&w, ",\"model\":");
    proto__w_str(&w, h->model);
    proto__w_lit(&w, ",\"labels\":[");
    for (int i = 0; i < h->n_labels; i++) {
        if (i) proto__w_raw(&w, ",", 1);
        proto__w_str(&w, h->labels[i]);
    }
    proto__w_lit(&w, "],\"hop_ms\":");
    proto__w_fix(&w, h->hop_ms, 3);
    proto__w_lit(&w, ",\"publish_hz\":");
    proto__w_fix(&w, h->publish_hz, 3);
    if (h->smoothing > 0) {
        proto__w_lit(&w, ",\"smoothing\":");
        proto__w_fix(&w, h->smoothing, 6);
    }
    proto__w_lit(&w, ",\"input\":{\"kind\":\"");
    proto__w_lit(&w, proto_input_kind_name(h->input.kind));
    proto__w_lit(&w, "\"");
    if (h->input.device) {
        proto__w_lit(&w, ",\"device\":");
        proto__w_str(&w, h->input.device);
    }
    proto__w_lit(&w, ",\"rate\":");
    proto__w_fix(&w, h->input.rate, 3);
    proto__w_lit(&w, ",\"channels\":");
    proto__w_i64(&w, h->input.channels);
    proto__w_lit(&w, "},\"streams\":[");
    int first = 1;
    for (unsigned b = 1; b <= PROTO_STREAM_FRAMES; b <<= 1)
        if (h->streams & b) {
            if (!first) proto__w_raw(&w, ",", 1);
            first = 0;
            proto__w_str(&w, proto_stream_name(b));
        }
    proto__w_lit(&w, "]}");
    return proto__w_end(&w);
}

int proto_encode_posteriors(const proto_posteriors *p, char *buf, size_t cap)
{
    proto__w w;
    if (!p || !buf || !cap || !p->probs || p->n < 1 || p->n > 64 || p->top >= p->n ||
        p->top < -1 || (p->top >= 0 && !p->labels) || (p->top >= 0 && !p->labels[p->top]))
        return PROTO_EINVAL;
    if (!isfinite(p->t) || p->t < 0 || !prob_ok(p->conf))
        return PROTO_ERANGE;
    for (int i = 0; i < p->n; i++)
        if (!prob_ok(p->probs[i]))
            return PROTO_ERANGE;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"posteriors\",\"seq\":");
    proto__w_u64(&w, p->seq);
    proto__w_lit(&w, ",\"t\":");
    proto__w_fix(&w, p->t, 3);
    proto__w_lit(&w, ",\"wall\":");
    proto__w_wall(&w, p->wall_ms);
    proto__w_lit(&w, ",\"probs\":[");
    for (int i = 0; i < p->n; i++) {
        if (i) proto__w_raw(&w, ",", 1);
        proto__w_fix(&w, prob_clamp(p->probs[i]), 4);
    }
    proto__w_lit(&w, p->speech ? "],\"speech\":true,\"top\":" : "],\"speech\":false,\"top\":");
    if (p->top >= 0) proto__w_str(&w, p->labels[p->top]);
    else proto__w_lit(&w, "null");
    proto__w_lit(&w, ",\"conf\":");
    proto__w_fix(&w, prob_clamp(p->conf), 4);
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

int proto_encode_event(const proto_event *e, char *buf, size_t cap)
{
    proto__w w;
    if (!e || !buf || !cap || !e->label || (e->state != PROTO_ONSET && e->state != PROTO_OFFSET))
        return PROTO_EINVAL;
    if (!isfinite(e->t) || e->t < 0 || !isfinite(e->held_s) || e->held_s < 0 || !prob_ok(e->prob))
        return PROTO_ERANGE;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"event\",\"seq\":");
    proto__w_u64(&w, e->seq);
    proto__w_lit(&w, ",\"t\":");
    proto__w_fix(&w, e->t, 3);
    proto__w_lit(&w, ",\"wall\":");
    proto__w_wall(&w, e->wall_ms);
    proto__w_lit(&w, ",\"label\":");
    proto__w_str(&w, e->label);
    proto__w_lit(&w, e->state == PROTO_ONSET ? ",\"state\":\"onset\",\"held_s\":"
                                             : ",\"state\":\"offset\",\"held_s\":");
    proto__w_fix(&w, e->held_s, 3);
    proto__w_lit(&w, ",\"prob\":");
    proto__w_fix(&w, prob_clamp(e->prob), 4);
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

static int ms_ok(double v) { return !isnan(v) && (v < 0 || (isfinite(v) && v < 1e9)); }

int proto_encode_status(const proto_status *s, char *buf, size_t cap)
{
    proto__w w;
    if (!s || !buf || !cap || !proto_device_state_name(s->state) || s->subscribers < 0 ||
        s->sidecars < 0)
        return PROTO_EINVAL;
    if (!isfinite(s->t) || s->t < 0 || !ms_ok(s->proc_p50_ms) || !ms_ok(s->proc_p99_ms) ||
        !ms_ok(s->proc_max_ms) || !ms_ok(s->lat_p50_ms) || !ms_ok(s->lat_p99_ms))
        return PROTO_ERANGE;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"status\",\"t\":");
    proto__w_fix(&w, s->t, 3);
    proto__w_lit(&w, ",\"wall\":");
    proto__w_wall(&w, s->wall_ms);
    proto__w_lit(&w, ",\"state\":\"");
    proto__w_lit(&w, proto_device_state_name(s->state));
    proto__w_raw(&w, "\"", 1);
    if (s->device) {
        proto__w_lit(&w, ",\"device\":");
        proto__w_str(&w, s->device);
    }
    proto__w_lit(&w, ",\"hops\":");
    proto__w_u64(&w, s->hops);
    proto__w_lit(&w, ",\"overruns\":");
    proto__w_u64(&w, s->overruns);
    proto__w_lit(&w, ",\"drops\":");
    proto__w_u64(&w, s->drops);
    proto__w_lit(&w, ",\"subscribers\":");
    proto__w_i64(&w, s->subscribers);
    proto__w_lit(&w, ",\"sidecars\":");
    proto__w_i64(&w, s->sidecars);
    if (s->proc_p50_ms >= 0 && s->proc_p99_ms >= 0 && s->proc_max_ms >= 0) {
        proto__w_lit(&w, ",\"proc_ms\":{\"p50\":");
        proto__w_fix(&w, s->proc_p50_ms, 3);
        proto__w_lit(&w, ",\"p99\":");
        proto__w_fix(&w, s->proc_p99_ms, 3);
        proto__w_lit(&w, ",\"max\":");
        proto__w_fix(&w, s->proc_max_ms, 3);
        proto__w_raw(&w, "}", 1);
    }
    if (s->lat_p50_ms >= 0 && s->lat_p99_ms >= 0) {
        proto__w_lit(&w, ",\"lat_ms\":{\"p50\":");
        proto__w_fix(&w, s->lat_p50_ms, 3);
        proto__w_lit(&w, ",\"p99\":");
        proto__w_fix(&w, s->lat_p99_ms, 3);
        proto__w_raw(&w, "}", 1);
    }
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

size_t proto_frames_max_len(int n_frames, int n_bands)
{
    if (n_frames < 1 || n_bands < 1)
        return 0;
    size_t raw = (size_t)n_frames * (size_t)n_bands;
    /* fixed part ~200, base64 4/3, gate up to 6 chars ("0.25,") per frame */
    return 256 + (raw + 2) / 3 * 4 + (size_t)n_frames * 6;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static unsigned char quant(float v, float lo, float scale)
{
    if (!isfinite(v))
        return 0;
    float q = (v - lo) * scale;
    if (!(q > 0)) return 0;
    if (q >= 255) return 255;
    return (unsigned char)lrintf(q);
}

int proto_encode_frames(const proto_frames *f, char *buf, size_t cap)
{
    proto__w w;
    if (!f || !buf || !cap || !f->frames || f->n_frames < 1 || f->n_frames > 1000 ||
        f->n_bands < 1 || f->n_bands > 512)
        return PROTO_EINVAL;
    if (!isfinite(f->t) || f->t < 0 || !isfinite(f->lo) || !isfinite(f->hi) || !(f->lo < f->hi) ||
        fabsf(f->lo) > 1e6f || fabsf(f->hi) > 1e6f)
        return PROTO_ERANGE;
    if (f->gate)
        for (int i = 0; i < f->n_frames; i++)
            if (!prob_ok(f->gate[i]))
                return PROTO_ERANGE;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"frames\",\"seq\":");
    proto__w_u64(&w, f->seq);
    proto__w_lit(&w, ",\"t\":");
    proto__w_fix(&w, f->t, 3);
    proto__w_lit(&w, ",\"n\":");
    proto__w_i64(&w, f->n_frames);
    proto__w_lit(&w, ",\"bands\":");
    proto__w_i64(&w, f->n_bands);
    proto__w_lit(&w, ",\"lo\":");
    proto__w_fix(&w, f->lo, 4);
    proto__w_lit(&w, ",\"hi\":");
    proto__w_fix(&w, f->hi, 4);
    proto__w_lit(&w, ",\"data\":\"");
    /* base64 straight into the buffer, three quantised bytes at a time */
    size_t total = (size_t)f->n_frames * (size_t)f->n_bands;
    size_t out_len = (total + 2) / 3 * 4;
    if (!w.err && out_len >= w.cap - w.len)
        w.err = PROTO_ENOSPC;
    if (!w.err) {
        float scale = 255.0f / (f->hi - f->lo);
        char *o = w.p + w.len;
        for (size_t i = 0; i < total; i += 3) {
            unsigned b0 = quant(f->frames[i], f->lo, scale);
            unsigned b1 = i + 1 < total ? quant(f->frames[i + 1], f->lo, scale) : 0;
            unsigned b2 = i + 2 < total ? quant(f->frames[i + 2], f->lo, scale) : 0;
            unsigned v = b0 << 16 | b1 << 8 | b2;
            *o++ = b64[v >> 18];
            *o++ = b64[v >> 12 & 63];
            *o++ = i + 1 < total ? b64[v >> 6 & 63] : '=';
            *o++ = i + 2 < total ? b64[v & 63] : '=';
        }
        w.len += out_len;
    }
    proto__w_raw(&w, "\"", 1);
    if (f->gate) {
        proto__w_lit(&w, ",\"gate\":[");
        for (int i = 0; i < f->n_frames; i++) {
            if (i) proto__w_raw(&w, ",", 1);
            proto__w_fix(&w, prob_clamp(f->gate[i]), 2);
        }
        proto__w_raw(&w, "]", 1);
    }
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

/* An id handed back by the caller must be what the parser produced (an integer or a JSON
 * string); anything else would break the message, so it is refused. */
static int id_ok(const char *id)
{
    if (!id || !*id)
        return 1;
    if (*id == '"') {
        size_t i = 1;
        for (; id[i]; i++) {
            if ((unsigned char)id[i] < 0x20)
                return 0;
            if (id[i] == '\\') {
                if (!id[++i])
                    return 0;
            } else if (id[i] == '"') {
                break;
            }
        }
        return id[i] == '"' && id[i + 1] == '\0';
    }
    size_t i = *id == '-' ? 1 : 0;
    if (!id[i])
        return 0;
    for (; id[i]; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return 1;
}

int proto_encode_error(int code, const char *message, const char *cmd, const char *id,
                       char *buf, size_t cap)
{
    proto__w w;
    if (!buf || !cap || !id_ok(id))
        return PROTO_EINVAL;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"error\",\"code\":\"");
    proto__w_lit(&w, proto_error_name(code));
    proto__w_lit(&w, "\",\"message\":");
    proto__w_str(&w, message ? message : proto_strerror(code));
    if (cmd && *cmd) {
        proto__w_lit(&w, ",\"cmd\":");
        proto__w_str(&w, cmd);
    }
    if (id && *id) { /* already JSON text from the parser */
        proto__w_lit(&w, ",\"id\":");
        proto__w_lit(&w, id);
    }
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

int proto_encode_pong(const char *id, double t, uint64_t dropped, char *buf, size_t cap)
{
    proto__w w;
    if (!buf || !cap || !id_ok(id))
        return PROTO_EINVAL;
    if (!isfinite(t) || t < 0)
        return PROTO_ERANGE;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"pong\"");
    if (id && *id) {
        proto__w_lit(&w, ",\"id\":");
        proto__w_lit(&w, id);
    }
    proto__w_lit(&w, ",\"t\":");
    proto__w_fix(&w, t, 3);
    proto__w_lit(&w, ",\"dropped\":");
    proto__w_u64(&w, dropped);
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}

int proto_encode_ack(const char *cmd, const char *id, int streams, char *buf, size_t cap)
{
    proto__w w;
    if (!buf || !cap || !cmd || !*cmd || !id_ok(id) || (streams >= 0 && (unsigned)streams & ~PROTO_STREAMS_ALL))
        return PROTO_EINVAL;
    proto__w_init(&w, buf, cap);
    proto__w_lit(&w, "{\"type\":\"ack\",\"cmd\":");
    proto__w_str(&w, cmd);
    if (id && *id) {
        proto__w_lit(&w, ",\"id\":");
        proto__w_lit(&w, id);
    }
    if (streams >= 0) {
        proto__w_lit(&w, ",\"streams\":[");
        int first = 1;
        for (unsigned b = 1; b <= PROTO_STREAM_FRAMES; b <<= 1)
            if ((unsigned)streams & b) {
                if (!first) proto__w_raw(&w, ",", 1);
                first = 0;
                proto__w_str(&w, proto_stream_name(b));
            }
        proto__w_raw(&w, "]", 1);
    }
    proto__w_raw(&w, "}", 1);
    return proto__w_end(&w);
}
