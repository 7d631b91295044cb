/* proto: the client command parser. jansson does the JSON (strict: one object, valid UTF-8,
 * no duplicate keys, no NUL in strings); this file checks every field's type and range and
 * writes one error line naming the field, what was found and what was expected. */
#include "proto.h"
#include "proto_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* Required number field in [lo, hi] (lo_open: lo excluded). */
static int get_number(json_t *o, const char *key, double lo, int lo_open, double hi, double *out,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return fail(PROTO_EFIELD, err, errlen, "missing field \"%s\" (a number)", key);
    if (!json_is_number(v))
        return fail(PROTO_EFIELD, err, errlen, "field \"%s\": expected a number, got %s", key,
                    json_kind(v));
    double d = json_number_value(v);
    if (!isfinite(d) || (lo_open ? d <= lo : d < lo) || d > hi)
        return fail(PROTO_ERANGE, err, errlen, "field \"%s\": %g is out of range %s%g, %g]", key,
                    d, lo_open ? "(" : "[", lo, hi);
    *out = d;
    return 0;
}

static int get_int(json_t *o, const char *key, long long lo, long long hi, int *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return fail(PROTO_EFIELD, err, errlen, "missing field \"%s\" (an integer)", key);
    if (!json_is_integer(v))
        return fail(PROTO_EFIELD, err, errlen, "field \"%s\": expected an integer, got %s", key,
                    json_kind(v));
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return fail(PROTO_ERANGE, err, errlen, "field \"%s\": %lld is out of range [%lld, %lld]",
                    key, (long long)i, lo, hi);
    *out = (int)i;
    return 0;
}

static int get_streams(json_t *o, unsigned *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, "streams");
    if (!v)
        return fail(PROTO_EFIELD, err, errlen, "missing field \"streams\" (an array of names)");
    if (!json_is_array(v))
        return fail(PROTO_EFIELD, err, errlen, "field \"streams\": expected an array, got %s",
                    json_kind(v));
    size_t n = json_array_size(v);
    if (n < 1 || n > 8)
        return fail(PROTO_ERANGE, err, errlen, "field \"streams\": %zu names, expected 1 to 8", n);
    unsigned set = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return fail(PROTO_EFIELD, err, errlen, "streams[%zu]: expected a string, got %s", i,
                        json_kind(e));
        const char *s = json_string_value(e);
        unsigned bit = 0;
        for (unsigned b = 1; b <= PROTO_STREAM_FRAMES; b <<= 1)
            if (strcmp(s, proto_stream_name(b)) == 0)
                bit = b;
        if (!bit)
            return fail(PROTO_ERANGE, err, errlen,
                        "streams[%zu]: unknown stream (expected posteriors, events, status or "
                        "frames)", i);
        set |= bit;
    }
    *out = set;
    return 0;
}

/* Copies the "type" string for the error reply: printable ASCII only, so it never needs more
 * than plain escaping and cannot carry control bytes back to the client. */
static void copy_name(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[i] = '\0';
}

static int get_id(json_t *o, proto_cmd *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, "id");
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        proto__w w;
        proto__w_init(&w, out->id, sizeof out->id);
        proto__w_i64(&w, json_integer_value(v));
        return proto__w_end(&w) < 0 ? PROTO_EINVAL : 0;
    }
    if (!json_is_string(v))
        return fail(PROTO_EFIELD, err, errlen, "field \"id\": expected a string or an integer, "
                    "got %s", json_kind(v));
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > 64)
        return fail(PROTO_ERANGE, err, errlen, "field \"id\": %zu bytes, at most 64", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return fail(PROTO_ERANGE, err, errlen, "field \"id\": control character at byte %zu",
                        i);
    proto__w w;
    proto__w_init(&w, out->id, sizeof out->id);
    proto__w_strn(&w, s, n); /* at most 2*64+2 bytes: only '"' and '\\' need escaping */
    if (proto__w_end(&w) < 0) {
        out->id[0] = '\0';
        return fail(PROTO_ERANGE, err, errlen, "field \"id\": too long");
    }
    return 0;
}

static int parse_object(json_t *o, proto_cmd *out, char *err, size_t errlen)
{
    json_t *t = json_object_get(o, "type");
    if (t && json_is_string(t))
        copy_name(out->name, sizeof out->name, json_string_value(t));
    int rc = get_id(o, out, err, errlen);
    if (rc)
        return rc;
    if (!t)
        return fail(PROTO_ETYPE, err, errlen, "missing field \"type\" (a command name)");
    if (!json_is_string(t))
        return fail(PROTO_ETYPE, err, errlen, "field \"type\": expected a string, got %s",
                    json_kind(t));
    const char *name = json_string_value(t);
    int type = PROTO_CMD_NONE;
    for (int i = PROTO_CMD_RATE; i <= PROTO_CMD_AUDIO; i++)
        if (strcmp(name, proto_cmd_name(i)) == 0)
            type = i;
    if (!type)
        return fail(PROTO_ETYPE, err, errlen, "unknown command type \"%s\" (expected rate, "
                    "smoothing, subscribe, unsubscribe, ping or audio)", out->name);

    switch (type) {
    case PROTO_CMD_RATE:
        rc = get_number(o, "hz", PROTO_RATE_MIN_HZ, 0, PROTO_RATE_MAX_HZ, &out->u.rate.hz, err,
                        errlen);
        break;
    case PROTO_CMD_SMOOTHING:
        rc = get_number(o, "alpha", 0, 1, 1, &out->u.smoothing.alpha, err, errlen);
        break;
    case PROTO_CMD_SUBSCRIBE:
    case PROTO_CMD_UNSUBSCRIBE:
        rc = get_streams(o, &out->u.sub.streams, err, errlen);
        break;
    case PROTO_CMD_PING:
        break;
    case PROTO_CMD_AUDIO: {
        json_t *f = json_object_get(o, "format");
        if (!f)
            return fail(PROTO_EFIELD, err, errlen, "missing field \"format\" (\"s16le\" or "
                        "\"f32le\")");
        if (!json_is_string(f))
            return fail(PROTO_EFIELD, err, errlen, "field \"format\": expected a string, got %s",
                        json_kind(f));
        const char *fs = json_string_value(f);
        if (strcmp(fs, "s16le") == 0)
            out->u.audio.format = PROTO_PCM_S16LE;
        else if (strcmp(fs, "f32le") == 0)
            out->u.audio.format = PROTO_PCM_F32LE;
        else
            return fail(PROTO_ERANGE, err, errlen, "field \"format\": unknown sample format "
                        "(expected \"s16le\" or \"f32le\")");
        rc = get_int(o, "rate", PROTO_AUDIO_RATE_MIN, PROTO_AUDIO_RATE_MAX, &out->u.audio.rate,
                     err, errlen);
        if (!rc)
            rc = get_int(o, "channels", 1, PROTO_AUDIO_CHANNELS_MAX, &out->u.audio.channels, err,
                         errlen);
        break;
    }
    }
    if (rc)
        return rc;
    out->type = type;
    return 0;
}

int proto_parse_command(const char *text, size_t len, size_t max_len, proto_cmd *out,
                        char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return fail(PROTO_EINVAL, err, errlen, "no output struct");
    memset(out, 0, sizeof *out);
    if (!text && len)
        return fail(PROTO_EINVAL, err, errlen, "no input");
    if (!max_len)
        max_len = PROTO_MAX_COMMAND;
    if (len > max_len)
        return fail(PROTO_ETOOBIG, err, errlen, "command of %zu bytes, at most %zu", len,
                    max_len);
    if (len == 0)
        return fail(PROTO_EJSON, err, errlen, "empty message, expected a JSON object");

    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_invalid_utf8)
            return fail(PROTO_EJSON, err, errlen, "text is not valid UTF-8 (at byte %d)",
                        je.position);
        return fail(PROTO_EJSON, err, errlen, "invalid JSON at byte %d: %s", je.position,
                    je.text);
    }
    int rc;
    if (!json_is_object(root))
        rc = fail(PROTO_EJSON, err, errlen, "expected a JSON object, got %s", json_kind(root));
    else
        rc = parse_object(root, out, err, errlen);
    json_decref(root);
    if (rc)
        out->type = PROTO_CMD_NONE;
    return rc;
}
