/* proto: error names, enum names and the bounded JSON writer every encoder uses. */
#include "proto.h"
#include "proto_internal.h"

#include <math.h>
#include <string.h>
#include <time.h>

/* ---- errors and names ----------------------------------------------------------------- */

static const struct { int code; const char *name; const char *text; } errs[] = {
    {PROTO_OK, "ok", "success"},
    {PROTO_EINVAL, "invalid", "invalid argument"},
    {PROTO_ENOSPC, "no_space", "output buffer too small"},
    {PROTO_EJSON, "bad_json", "not a valid UTF-8 JSON object"},
    {PROTO_ETYPE, "unknown_type", "unknown or missing command type"},
    {PROTO_EFIELD, "bad_field", "missing field or wrong field type"},
    {PROTO_ERANGE, "out_of_range", "value out of range"},
    {PROTO_ETOOBIG, "too_big", "message too large"},
    {PROTO_EBINARY, "unexpected_binary", "binary message without an audio hello"},
    {PROTO_ESTATE, "bad_state", "command not valid in this state"},
    {PROTO_EBUSY, "busy", "limit reached"},
    {PROTO_EAUTH, "unauthorized", "not authorized"},
    {PROTO_EINTERNAL, "internal", "internal error"},
};

const char *proto_strerror(int code)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].code == code)
            return errs[i].text;
    return "unknown error";
}

const char *proto_error_name(int code)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].code == code)
            return errs[i].name;
    return "invalid";
}

const char *proto_stream_name(unsigned stream)
{
    switch (stream) {
    case PROTO_STREAM_POSTERIORS: return "posteriors";
    case PROTO_STREAM_EVENTS: return "events";
    case PROTO_STREAM_STATUS: return "status";
    case PROTO_STREAM_FRAMES: return "frames";
    default: return NULL;
    }
}

const char *proto_input_kind_name(int kind)
{
    static const char *const n[] = {"mic", "file", "stdin", "sidecar"};
    return kind >= 0 && kind < 4 ? n[kind] : NULL;
}

const char *proto_device_state_name(int state)
{
    static const char *const n[] = {"running", "waiting", "lost", "reopening", "ended"};
    return state >= 0 && state < 5 ? n[state] : NULL;
}

const char *proto_cmd_name(int type)
{
    static const char *const n[] = {NULL, "rate", "smoothing", "subscribe", "unsubscribe",
                                    "ping", "audio"};
    return type > 0 && type < 7 ? n[type] : NULL;
}

int proto_pcm_sample_bytes(int format)
{
    return format == PROTO_PCM_S16LE ? 2 : format == PROTO_PCM_F32LE ? 4 : 0;
}

/* ---- writer --------------------------------------------------------------------------- */

void proto__w_init(proto__w *w, char *buf, size_t cap)
{
    w->p = buf;
    w->cap = cap;
    w->len = 0;
    w->err = (buf && cap) ? 0 : PROTO_EINVAL;
    if (buf && cap)
        buf[0] = '\0';
}

int proto__w_end(proto__w *w)
{
    if (w->p && w->cap) /* proto__w_raw always leaves room for it */
        w->p[w->len] = '\0';
    return w->err ? w->err : (int)w->len;
}

void proto__w_raw(proto__w *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (n >= w->cap - w->len) { /* keep one byte for the NUL */
        w->err = PROTO_ENOSPC;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

void proto__w_lit(proto__w *w, const char *s) { proto__w_raw(w, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return 0;
    if (n < need + 1) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i <= need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return need + 1;
}

void proto__w_strn(proto__w *w, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    proto__w_raw(w, "\"", 1);
    while (i < n && !w->err) {
        unsigned c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            run++;
            continue;
        }
        /* flush the plain run before the special byte */
        proto__w_raw(w, (const char *)s + i - run, run);
        run = 0;
        if (c >= 0x80) {
            size_t l = utf8_len(s + i, n - i);
            if (l) proto__w_raw(w, (const char *)s + i, l);
            else proto__w_raw(w, "\\ufffd", 6);
            i += l ? l : 1;
            continue;
        }
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
            el = 6;
        }
        proto__w_raw(w, e, el);
        i++;
    }
    proto__w_raw(w, (const char *)s + i - run, run);
    proto__w_raw(w, "\"", 1);
}

void proto__w_str(proto__w *w, const char *s) { proto__w_strn(w, s, s ? strlen(s) : 0); }

void proto__w_u64(proto__w *w, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    proto__w_raw(w, t + i, sizeof t - i);
}

void proto__w_i64(proto__w *w, int64_t v)
{
    if (v < 0) {
        proto__w_raw(w, "-", 1);
        proto__w_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        proto__w_u64(w, (uint64_t)v);
    }
}

void proto__w_fix(proto__w *w, double v, int decimals)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    static const int64_t i10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    if (w->err)
        return;
    if (decimals < 0 || decimals > 6 || !isfinite(v) || fabs(v) * p10[decimals] > 9e15) {
        w->err = PROTO_ERANGE;
        return;
    }
    int64_t q = llround(v * p10[decimals]);
    if (q < 0) {
        proto__w_raw(w, "-", 1);
        q = -q;
    }
    proto__w_u64(w, (uint64_t)(q / i10[decimals]));
    int64_t f = q % i10[decimals];
    if (f) {
        char t[8];
        int d = decimals;
        while (f % 10 == 0) { /* trim trailing zeros */
            f /= 10;
            d--;
        }
        t[0] = '.';
        for (int k = d; k >= 1; k--) {
            t[k] = (char)('0' + f % 10);
            f /= 10;
        }
        proto__w_raw(w, t, (size_t)d + 1);
    }
}

int proto_format_wall(int64_t unix_ms, char *out, size_t cap)
{
    if (!out || cap < 25)
        return PROTO_ENOSPC;
    /* floor division so times before 1970 still get a 0..999 ms part */
    int64_t s = unix_ms / 1000, ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        s -= 1;
    }
    if (s < -62167219200LL || s > 253402300799LL) /* 0000-01-01 .. 9999-12-31 */
        return PROTO_ERANGE;
    time_t tt = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return PROTO_ERANGE;
    /* hand-formatted: snprintf with %d widths makes GCC warn about truncation */
    int y = tm.tm_year + 1900, f[] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    char *p = out;
    *p++ = (char)('0' + y / 1000); *p++ = (char)('0' + y / 100 % 10);
    *p++ = (char)('0' + y / 10 % 10); *p++ = (char)('0' + y % 10);
    static const char sep[] = "--T::";
    for (int i = 0; i < 5; i++) {
        *p++ = sep[i];
        *p++ = (char)('0' + f[i] / 10);
        *p++ = (char)('0' + f[i] % 10);
    }
    *p++ = '.';
    *p++ = (char)('0' + ms / 100); *p++ = (char)('0' + ms / 10 % 10); *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p = '\0';
    return 24;
}

void proto__w_wall(proto__w *w, int64_t unix_ms)
{
    char t[32];
    int n = proto_format_wall(unix_ms, t, sizeof t);
    if (n < 0) {
        if (!w->err) w->err = n;
        return;
    }
    proto__w_raw(w, "\"", 1);
    proto__w_raw(w, t, (size_t)n);
    proto__w_raw(w, "\"", 1);
}
