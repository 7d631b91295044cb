/* Unit tests of proto/: every encoder (exact output, refusals, buffer limits, escaping) and the
 * command parser (each command, malformed JSON, unknown types, wrong types, ranges, oversized,
 * non-UTF-8). Links proto_lib alone. */
#include "proto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define CHECK_STR(got, want)                                                             \
    do {                                                                                 \
        if (strcmp((got), (want)) != 0) {                                                \
            fprintf(stderr, "%s:%d: got  %s\n%*swant %s\n", __FILE__, __LINE__, (got),   \
                    (int)strlen(__FILE__) + 8, "", (want));                              \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static const char *const labels7[] = {"neutral", "happy", "sad", "angry", "fearful", "disgust",
                                      "surprised"};
/* 2026-11-23T14:00:00.120Z */
static const int64_t WALL = 1795442400120LL;

static void test_wall(void)
{
    char b[32];
    CHECK(proto_format_wall(WALL, b, sizeof b) == 24);
    CHECK_STR(b, "2026-11-23T14:00:00.120Z");
    CHECK(proto_format_wall(0, b, sizeof b) == 24);
    CHECK_STR(b, "1970-01-01T00:00:00.000Z");
    CHECK(proto_format_wall(-1, b, sizeof b) == 24);
    CHECK_STR(b, "1969-12-31T23:59:59.999Z");
    CHECK(proto_format_wall(WALL, b, 24) == PROTO_ENOSPC);
    CHECK(proto_format_wall(INT64_MAX, b, sizeof b) == PROTO_ERANGE);
}

static void test_posteriors(void)
{
    char b[512];
    float probs[7] = {0.61f, 0.05f, 0.02f, 0.2f, 0.08f, 0.02f, 0.02f};
    proto_posteriors p = {.seq = 1234, .t = 123.4, .wall_ms = WALL, .labels = labels7,
                          .probs = probs, .n = 7, .speech = 1, .top = 0, .conf = 0.61f};
    int n = proto_encode_posteriors(&p, b, sizeof b);
    const char *want = "{\"type\":\"posteriors\",\"seq\":1234,\"t\":123.4,"
                       "\"wall\":\"2026-11-23T14:00:00.120Z\","
                       "\"probs\":[0.61,0.05,0.02,0.2,0.08,0.02,0.02],\"speech\":true,"
                       "\"top\":\"neutral\",\"conf\":0.61}";
    CHECK(n == (int)strlen(want));
    CHECK_STR(b, want);

    /* exactly fitting buffer works, one byte less is ENOSPC and still NUL-terminated */
    char small[512];
    CHECK(proto_encode_posteriors(&p, small, (size_t)n + 1) == n);
    memset(small, 'x', sizeof small);
    CHECK(proto_encode_posteriors(&p, small, (size_t)n) == PROTO_ENOSPC);
    CHECK(memchr(small, '\0', (size_t)n) != NULL);

    /* no speech, no top */
    p.speech = 0;
    p.top = -1;
    p.conf = 0;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) > 0);
    CHECK(strstr(b, "\"speech\":false,\"top\":null,\"conf\":0}") != NULL);

    /* rounding slack is clamped; rounding to 4 decimals; tiny negative zero prints as 0 */
    probs[0] = 1.00001f;
    probs[1] = -0.00001f;
    probs[2] = 0.123456f;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) > 0);
    CHECK(strstr(b, "\"probs\":[1,0,0.1235,") != NULL);

    /* NaN, Inf and real out-of-range values are refused, never written */
    probs[0] = NAN;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    probs[0] = INFINITY;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    probs[0] = 1.5f;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    probs[0] = 0.5f;
    p.conf = NAN;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    p.conf = 0.5f;
    p.t = -1;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    p.t = NAN;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
    p.t = 1;
    p.top = 7;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_EINVAL);
    p.top = 0;
    p.n = 0;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_EINVAL);
    p.n = 7;
    CHECK(proto_encode_posteriors(NULL, b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_posteriors(&p, NULL, 10) == PROTO_EINVAL);
    CHECK(proto_encode_posteriors(&p, b, 0) == PROTO_EINVAL);
    p.wall_ms = INT64_MIN;
    CHECK(proto_encode_posteriors(&p, b, sizeof b) == PROTO_ERANGE);
}

static void test_strings(void)
{
    char b[512];
    /* labels and messages with quotes, backslashes, controls and invalid UTF-8 stay valid */
    const char *weird[] = {"a\"b\\c\n\x01", "\xff\xfe", "caf\xc3\xa9", "\xe2\x82", "\xed\xa0\x80"};
    float probs[5] = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
    proto_posteriors p = {.seq = 0, .t = 0, .wall_ms = 0, .labels = weird, .probs = probs,
                          .n = 5, .speech = 0, .top = 0, .conf = 0.2f};
    CHECK(proto_encode_posteriors(&p, b, sizeof b) > 0);
    CHECK(strstr(b, "\"top\":\"a\\\"b\\\\c\\n\\u0001\"") != NULL);
    proto_hello h = {.daemon = "0.1.0", .model = "m@sha256:00", .labels = weird, .n_labels = 5,
                     .hop_ms = 10, .publish_hz = 10, .smoothing = -1,
                     .input = {PROTO_INPUT_MIC, "default", 48000, 1}, .streams = 0};
    CHECK(proto_encode_hello(&h, b, sizeof b) > 0);
    CHECK(strstr(b, "[\"a\\\"b\\\\c\\n\\u0001\",\"\\ufffd\\ufffd\",\"caf\xc3\xa9\","
                    "\"\\ufffd\\ufffd\",\"\\ufffd\\ufffd\\ufffd\"]") != NULL);
    /* error message with arbitrary bytes */
    CHECK(proto_encode_error(PROTO_EJSON, "bad \x80 byte\t", "r\"x", NULL, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"bad \\ufffd byte\\t\","
                 "\"cmd\":\"r\\\"x\"}");
}

static void test_hello(void)
{
    char b[1024];
    proto_hello h = {.daemon = "0.1.0", .model = "emotiond-default@sha256:0123456789abcdef",
                     .labels = labels7, .n_labels = 7, .hop_ms = 10, .publish_hz = 10,
                     .smoothing = 0.1, .input = {PROTO_INPUT_MIC, "default", 48000, 1},
                     .streams = PROTO_STREAMS_DEFAULT};
    int n = proto_encode_hello(&h, b, sizeof b);
    CHECK(n > 0);
    CHECK_STR(b, "{\"type\":\"hello\",\"protocol\":1,\"daemon\":\"0.1.0\","
                 "\"model\":\"emotiond-default@sha256:0123456789abcdef\","
                 "\"labels\":[\"neutral\",\"happy\",\"sad\",\"angry\",\"fearful\",\"disgust\","
                 "\"surprised\"],\"hop_ms\":10,\"publish_hz\":10,\"smoothing\":0.1,"
                 "\"input\":{\"kind\":\"mic\",\"device\":\"default\",\"rate\":48000,"
                 "\"channels\":1},\"streams\":[\"posteriors\",\"events\",\"status\"]}");
    CHECK(proto_encode_hello(&h, b, (size_t)n) == PROTO_ENOSPC);
    h.input.device = NULL;
    h.input.kind = PROTO_INPUT_SIDECAR;
    h.smoothing = -1;
    CHECK(proto_encode_hello(&h, b, sizeof b) > 0);
    CHECK(strstr(b, "\"input\":{\"kind\":\"sidecar\",\"rate\":48000") != NULL);
    CHECK(strstr(b, "smoothing") == NULL);
    h.input.kind = 9;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_EINVAL);
    h.input.kind = 0;
    h.hop_ms = 0;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_ERANGE);
    h.hop_ms = 10;
    h.publish_hz = NAN;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_ERANGE);
    h.publish_hz = 10;
    h.smoothing = 1.5;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_ERANGE);
    h.smoothing = 1;
    h.n_labels = 0;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_EINVAL);
    h.n_labels = 7;
    h.model = NULL;
    CHECK(proto_encode_hello(&h, b, sizeof b) == PROTO_EINVAL);
}

static void test_event_status(void)
{
    char b[512];
    proto_event e = {.seq = 1240, .t = 124, .wall_ms = WALL, .label = "angry",
                     .state = PROTO_ONSET, .held_s = 2, .prob = 0.72};
    CHECK(proto_encode_event(&e, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"event\",\"seq\":1240,\"t\":124,\"wall\":\"2026-11-23T14:00:00.120Z\","
                 "\"label\":\"angry\",\"state\":\"onset\",\"held_s\":2,\"prob\":0.72}");
    e.state = PROTO_OFFSET;
    CHECK(proto_encode_event(&e, b, sizeof b) > 0 && strstr(b, "\"state\":\"offset\""));
    e.state = 2;
    CHECK(proto_encode_event(&e, b, sizeof b) == PROTO_EINVAL);
    e.state = 0;
    e.held_s = -0.5;
    CHECK(proto_encode_event(&e, b, sizeof b) == PROTO_ERANGE);
    e.held_s = 1;
    e.prob = NAN;
    CHECK(proto_encode_event(&e, b, sizeof b) == PROTO_ERANGE);
    e.prob = 0.5;
    e.label = NULL;
    CHECK(proto_encode_event(&e, b, sizeof b) == PROTO_EINVAL);

    proto_status s = {.t = 12.345, .wall_ms = WALL, .state = PROTO_DEV_RUNNING,
                      .device = "pulse", .hops = 1234, .overruns = 1, .drops = 2,
                      .subscribers = 3, .sidecars = 0, .proc_p50_ms = 0.21,
                      .proc_p99_ms = 0.4, .proc_max_ms = 1.25, .lat_p50_ms = 12.5,
                      .lat_p99_ms = 20};
    CHECK(proto_encode_status(&s, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"status\",\"t\":12.345,\"wall\":\"2026-11-23T14:00:00.120Z\","
                 "\"state\":\"running\",\"device\":\"pulse\",\"hops\":1234,\"overruns\":1,"
                 "\"drops\":2,\"subscribers\":3,\"sidecars\":0,"
                 "\"proc_ms\":{\"p50\":0.21,\"p99\":0.4,\"max\":1.25},"
                 "\"lat_ms\":{\"p50\":12.5,\"p99\":20}}");
    s.proc_p50_ms = -1;
    s.lat_p99_ms = -1;
    s.device = NULL;
    s.state = PROTO_DEV_REOPENING;
    CHECK(proto_encode_status(&s, b, sizeof b) > 0);
    CHECK(!strstr(b, "proc_ms") && !strstr(b, "lat_ms") && !strstr(b, "device"));
    CHECK(strstr(b, "\"reopening\"") != NULL);
    s.lat_p50_ms = NAN;
    CHECK(proto_encode_status(&s, b, sizeof b) == PROTO_ERANGE);
    s.lat_p50_ms = -1;
    s.state = 17;
    CHECK(proto_encode_status(&s, b, sizeof b) == PROTO_EINVAL);
}

static int b64val(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(a, c);
    return p && c ? (int)(p - a) : -1;
}

static void test_frames(void)
{
    enum { NF = 3, NB = 5 };
    float fr[NF * NB], gate[NF] = {0, 0.5f, 1};
    for (int i = 0; i < NF * NB; i++)
        fr[i] = -4.0f + 8.0f * (float)i / (NF * NB - 1);
    fr[1] = NAN;    /* non-finite -> 0 */
    fr[2] = 100.0f; /* above hi -> 255 */
    proto_frames f = {.seq = 500, .t = 5, .n_frames = NF, .n_bands = NB, .frames = fr,
                      .lo = -4, .hi = 4, .gate = gate};
    size_t cap = proto_frames_max_len(NF, NB);
    char *b = malloc(cap);
    int n = proto_encode_frames(&f, b, cap);
    CHECK(n > 0 && (size_t)n < cap);
    CHECK(strncmp(b, "{\"type\":\"frames\",\"seq\":500,\"t\":5,\"n\":3,\"bands\":5,\"lo\":-4,"
                     "\"hi\":4,\"data\":\"", 70) == 0);
    CHECK(strstr(b, "\"gate\":[0,0.5,1]}") != NULL);
    /* decode the base64 and check the quantisation */
    const char *d = strstr(b, "\"data\":\"") + 8;
    unsigned char q[NF * NB + 3];
    size_t nq = 0;
    for (; *d != '"'; d += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = d[k] == '=' ? 0 : b64val(d[k]);
        CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0);
        unsigned x = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        q[nq++] = (unsigned char)(x >> 16);
        if (d[2] != '=') q[nq++] = (unsigned char)(x >> 8);
        if (d[3] != '=') q[nq++] = (unsigned char)x;
    }
    CHECK(nq == NF * NB);
    CHECK(q[0] == 0 && q[1] == 0 && q[2] == 255 && q[NF * NB - 1] == 255);
    for (int i = 3; i < NF * NB; i++)
        CHECK(abs((int)q[i] - (int)lrintf((fr[i] + 4) / 8 * 255)) <= 0);
    /* no gate; ENOSPC; bad args */
    f.gate = NULL;
    CHECK(proto_encode_frames(&f, b, cap) > 0 && !strstr(b, "gate"));
    CHECK(proto_encode_frames(&f, b, 60) == PROTO_ENOSPC);
    f.lo = 4;
    CHECK(proto_encode_frames(&f, b, cap) == PROTO_ERANGE);
    f.lo = -4;
    f.gate = gate;
    gate[1] = NAN;
    CHECK(proto_encode_frames(&f, b, cap) == PROTO_ERANGE);
    f.n_bands = 0;
    CHECK(proto_encode_frames(&f, b, cap) == PROTO_EINVAL);
    free(b);

    /* the real size: 10 frames x 128 bands fits the stated bound */
    float big[10 * 128] = {0}, g[10] = {0};
    proto_frames F = {.seq = 0, .t = 0, .n_frames = 10, .n_bands = 128, .frames = big,
                      .lo = -1, .hi = 1, .gate = g};
    size_t bc = proto_frames_max_len(10, 128);
    char *bb = malloc(bc);
    n = proto_encode_frames(&F, bb, bc);
    CHECK(n > 0 && n < 2000);
    free(bb);
}

static void test_replies(void)
{
    char b[256];
    CHECK(proto_encode_pong("7", 1.5, 3, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"pong\",\"id\":7,\"t\":1.5,\"dropped\":3}");
    CHECK(proto_encode_pong(NULL, 0, 0, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"pong\",\"t\":0,\"dropped\":0}");
    CHECK(proto_encode_ack("subscribe", "\"a\\\"b\"", PROTO_STREAMS_ALL, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"ack\",\"cmd\":\"subscribe\",\"id\":\"a\\\"b\","
                 "\"streams\":[\"posteriors\",\"events\",\"status\",\"frames\"]}");
    CHECK(proto_encode_ack("rate", NULL, -1, b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"ack\",\"cmd\":\"rate\"}");
    /* ids that are not what the parser makes are refused (they would break the JSON) */
    CHECK(proto_encode_ack("rate", "x", -1, b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_ack("rate", "\"a\"b\"", -1, b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_pong("\"open", 0, 0, b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_error(PROTO_ERANGE, "m", NULL, "1}", b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_ack("rate", NULL, 1 << 6, b, sizeof b) == PROTO_EINVAL);
    CHECK(proto_encode_error(PROTO_ETOOBIG, NULL, NULL, "-12", b, sizeof b) > 0);
    CHECK_STR(b, "{\"type\":\"error\",\"code\":\"too_big\",\"message\":\"message too large\","
                 "\"id\":-12}");
    /* every code has a distinct name and text */
    for (int c = 0; c >= PROTO_EINTERNAL; c--) {
        CHECK(strcmp(proto_strerror(c), "unknown error") != 0);
        for (int d = c - 1; d >= PROTO_EINTERNAL; d--)
            CHECK(strcmp(proto_error_name(c), proto_error_name(d)) != 0);
    }
    CHECK(strcmp(proto_strerror(-99), "unknown error") == 0);
}

/* Parses s and returns the code; *c and err are filled. */
static int parse(const char *s, proto_cmd *c, char *err)
{
    return proto_parse_command(s, strlen(s), 0, c, err, 200);
}

static void test_parse_ok(void)
{
    proto_cmd c;
    char err[200];
    CHECK(parse("{\"type\":\"rate\",\"hz\":5}", &c, err) == 0);
    CHECK(c.type == PROTO_CMD_RATE && c.u.rate.hz == 5 && c.id[0] == '\0');
    CHECK(parse("{\"type\":\"rate\",\"hz\":0.1,\"id\":42}", &c, err) == 0);
    CHECK(c.u.rate.hz == 0.1 && strcmp(c.id, "42") == 0);
    CHECK(parse("{\"type\":\"smoothing\",\"alpha\":1,\"id\":\"q\\\"1\"}", &c, err) == 0);
    CHECK(c.type == PROTO_CMD_SMOOTHING && c.u.smoothing.alpha == 1);
    CHECK_STR(c.id, "\"q\\\"1\"");
    CHECK(parse("{\"type\":\"subscribe\",\"streams\":[\"frames\",\"status\",\"frames\"]}", &c,
                err) == 0);
    CHECK(c.type == PROTO_CMD_SUBSCRIBE &&
          c.u.sub.streams == (PROTO_STREAM_FRAMES | PROTO_STREAM_STATUS));
    CHECK(parse("{\"type\":\"unsubscribe\",\"streams\":[\"posteriors\"]}", &c, err) == 0);
    CHECK(c.type == PROTO_CMD_UNSUBSCRIBE && c.u.sub.streams == PROTO_STREAM_POSTERIORS);
    CHECK(parse(" {\"type\":\"ping\", \"future\": {\"x\": [1,2]}} \n", &c, err) == 0);
    CHECK(c.type == PROTO_CMD_PING && strcmp(c.name, "ping") == 0);
    CHECK(parse("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000,\"channels\":1}", &c,
                err) == 0);
    CHECK(c.type == PROTO_CMD_AUDIO && c.u.audio.format == PROTO_PCM_S16LE &&
          c.u.audio.rate == 16000 && c.u.audio.channels == 1);
    CHECK(parse("{\"type\":\"audio\",\"format\":\"f32le\",\"rate\":192000,\"channels\":32}", &c,
                err) == 0);
    CHECK(c.u.audio.format == PROTO_PCM_F32LE && proto_pcm_sample_bytes(c.u.audio.format) == 4);
    /* not NUL-terminated input: only len bytes are read */
    const char buf[] = "{\"type\":\"ping\"}GARBAGE";
    CHECK(proto_parse_command(buf, 15, 0, &c, err, sizeof err) == 0);
}

static void expect_fail(const char *s, int code, const char *in_msg, int line)
{
    proto_cmd c;
    char err[200];
    int rc = parse(s, &c, err);
    if (rc != code || !strstr(err, in_msg) || c.type != PROTO_CMD_NONE) {
        fprintf(stderr, "%s:%d: parse(%s) = %d (%s), want %d with \"%s\"\n", __FILE__, line, s, rc,
                err, code, in_msg);
        failures++;
    }
    /* the error reply for it is always encodable */
    char b[512];
    if (proto_encode_error(rc, err, c.name, c.id, b, sizeof b) <= 0) {
        fprintf(stderr, "%s:%d: error reply not encodable\n", __FILE__, line);
        failures++;
    }
}
#define FAIL(s, code, msg) expect_fail(s, code, msg, __LINE__)

static void test_parse_bad(void)
{
    /* malformed JSON */
    FAIL("", PROTO_EJSON, "empty");
    FAIL("{", PROTO_EJSON, "invalid JSON");
    FAIL("{\"type\":\"ping\"", PROTO_EJSON, "invalid JSON");
    FAIL("{\"type\":\"ping\"} {}", PROTO_EJSON, "invalid JSON");
    FAIL("[1,2]", PROTO_EJSON, "expected a JSON object, got an array");
    FAIL("\"ping\"", PROTO_EJSON, "invalid JSON");
    FAIL("{\"type\":\"ping\",\"type\":\"rate\"}", PROTO_EJSON, "duplicate");
    FAIL("{\"type\":\"rate\",\"hz\":NaN}", PROTO_EJSON, "invalid JSON");
    FAIL("{\"type\":\"rate\",\"hz\":1e999}", PROTO_EJSON, "invalid JSON");
    /* non-UTF-8 and NUL */
    FAIL("{\"type\":\"p\xffing\"}", PROTO_EJSON, "UTF-8");
    FAIL("{\"type\":\"\xc0\xaf\"}", PROTO_EJSON, "UTF-8");
    FAIL("{\"type\":\"ping\\u0000\"}", PROTO_EJSON, "invalid JSON");
    /* unknown / missing type */
    FAIL("{}", PROTO_ETYPE, "missing field \"type\"");
    FAIL("{\"type\":\"launch\"}", PROTO_ETYPE, "unknown command type \"launch\"");
    FAIL("{\"type\":\"PING\"}", PROTO_ETYPE, "unknown command type");
    FAIL("{\"type\":5}", PROTO_ETYPE, "expected a string, got an integer");
    /* wrong field types */
    FAIL("{\"type\":\"rate\"}", PROTO_EFIELD, "missing field \"hz\"");
    FAIL("{\"type\":\"rate\",\"hz\":\"5\"}", PROTO_EFIELD, "\"hz\": expected a number, got a string");
    FAIL("{\"type\":\"rate\",\"hz\":null}", PROTO_EFIELD, "got null");
    FAIL("{\"type\":\"smoothing\",\"alpha\":true}", PROTO_EFIELD, "got a boolean");
    FAIL("{\"type\":\"subscribe\",\"streams\":\"frames\"}", PROTO_EFIELD, "expected an array");
    FAIL("{\"type\":\"subscribe\",\"streams\":[1]}", PROTO_EFIELD, "streams[0]: expected a string");
    FAIL("{\"type\":\"subscribe\"}", PROTO_EFIELD, "missing field \"streams\"");
    FAIL("{\"type\":\"audio\",\"rate\":16000,\"channels\":1}", PROTO_EFIELD, "\"format\"");
    FAIL("{\"type\":\"audio\",\"format\":16,\"rate\":16000,\"channels\":1}", PROTO_EFIELD,
         "\"format\": expected a string");
    FAIL("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000.5,\"channels\":1}", PROTO_EFIELD,
         "\"rate\": expected an integer, got a number");
    FAIL("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000}", PROTO_EFIELD,
         "missing field \"channels\"");
    FAIL("{\"type\":\"ping\",\"id\":[1]}", PROTO_EFIELD, "\"id\": expected a string or an integer");
    FAIL("{\"type\":\"ping\",\"id\":1.5}", PROTO_EFIELD, "\"id\"");
    /* ranges */
    FAIL("{\"type\":\"rate\",\"hz\":0}", PROTO_ERANGE, "out of range [0.1, 100]");
    FAIL("{\"type\":\"rate\",\"hz\":100.5}", PROTO_ERANGE, "out of range");
    FAIL("{\"type\":\"rate\",\"hz\":-5}", PROTO_ERANGE, "out of range");
    FAIL("{\"type\":\"smoothing\",\"alpha\":0}", PROTO_ERANGE, "out of range (0, 1]");
    FAIL("{\"type\":\"smoothing\",\"alpha\":1.01}", PROTO_ERANGE, "out of range");
    FAIL("{\"type\":\"subscribe\",\"streams\":[]}", PROTO_ERANGE, "expected 1 to 8");
    FAIL("{\"type\":\"subscribe\",\"streams\":[\"video\"]}", PROTO_ERANGE, "unknown stream");
    FAIL("{\"type\":\"audio\",\"format\":\"s24le\",\"rate\":16000,\"channels\":1}", PROTO_ERANGE,
         "unknown sample format");
    FAIL("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":7999,\"channels\":1}", PROTO_ERANGE,
         "[8000, 192000]");
    FAIL("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000,\"channels\":0}", PROTO_ERANGE,
         "[1, 32]");
    FAIL("{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":99999999999,\"channels\":1}",
         PROTO_ERANGE, "out of range");
    FAIL("{\"type\":\"ping\",\"id\":\"0123456789012345678901234567890123456789012345678901234567"
         "8901234\"}", PROTO_ERANGE, "at most 64");
    FAIL("{\"type\":\"ping\",\"id\":\"a\\nb\"}", PROTO_ERANGE, "control character");

    /* the failing command's name and id are kept for the error reply */
    proto_cmd c;
    char err[200];
    CHECK(parse("{\"id\":9,\"type\":\"rate\",\"hz\":\"x\"}", &c, err) == PROTO_EFIELD);
    CHECK(strcmp(c.name, "rate") == 0 && strcmp(c.id, "9") == 0 && c.type == PROTO_CMD_NONE);
    CHECK(parse("{\"type\":\"\\u00e9\\n\",\"id\":\"x\"}", &c, err) == PROTO_ETYPE);
    CHECK_STR(c.name, "???"); /* two UTF-8 bytes + newline, each replaced */
    CHECK(parse("{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", &c, err) == PROTO_ETYPE);
    CHECK(strlen(c.name) == sizeof c.name - 1);

    /* oversized: refused before parsing, whatever it contains */
    size_t big = PROTO_MAX_COMMAND + 1;
    char *s = malloc(big + 1);
    memset(s, ' ', big);
    memcpy(s, "{\"type\":\"ping\"}", 15);
    s[big] = '\0';
    CHECK(proto_parse_command(s, big, 0, &c, err, sizeof err) == PROTO_ETOOBIG);
    CHECK(strstr(err, "at most 4096") != NULL);
    CHECK(proto_parse_command(s, big, big, &c, err, sizeof err) == 0);
    CHECK(proto_parse_command(s, 100, 50, &c, err, sizeof err) == PROTO_ETOOBIG);
    free(s);
    /* deep nesting within the size limit is rejected cleanly or parsed, never crashes */
    char deep[4000];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "{\"type\":\"ping\",\"x\":");
    while (k < 3000) deep[k++] = '[';
    deep[k] = '\0';
    CHECK(proto_parse_command(deep, k, 0, &c, err, sizeof err) == PROTO_EJSON);
    /* NULL handling */
    CHECK(proto_parse_command(NULL, 5, 0, &c, err, sizeof err) == PROTO_EINVAL);
    CHECK(proto_parse_command("{}", 2, 0, NULL, err, sizeof err) == PROTO_EINVAL);
    CHECK(proto_parse_command("{\"type\":\"ping\"}", 15, 0, &c, NULL, 0) == 0);
    CHECK(proto_parse_command("{", 1, 0, &c, NULL, 0) == PROTO_EJSON);
    /* binary garbage */
    unsigned char g[256];
    for (int i = 0; i < 256; i++) g[i] = (unsigned char)(i * 37 + 11);
    CHECK(proto_parse_command((const char *)g, sizeof g, 0, &c, err, sizeof err) == PROTO_EJSON);
}

/* xorshift: deterministic, so a failure reproduces */
static uint32_t rnd(uint32_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 17;
    *st ^= *st << 5;
    return *st;
}

/* Random bytes and mutations of valid commands: the parser never crashes (ASan/UBSan watch),
 * accepts only what re-validates, and every refusal has an encodable reply. */
static void test_parse_random(void)
{
    static const char *const seeds[] = {
        "{\"type\":\"rate\",\"hz\":5,\"id\":1}",
        "{\"type\":\"subscribe\",\"streams\":[\"frames\",\"status\"]}",
        "{\"type\":\"audio\",\"format\":\"f32le\",\"rate\":48000,\"channels\":2}",
        "{\"type\":\"smoothing\",\"alpha\":0.25,\"id\":\"x\\\"y\"}",
        "{\"type\":\"ping\"}",
    };
    uint32_t st = 0x9e3779b9u;
    char buf[300], err[256], reply[1024];
    proto_cmd c;
    int accepted = 0;
    for (int it = 0; it < 50000; it++) {
        size_t n;
        if (it % 4 == 0) { /* pure noise */
            n = rnd(&st) % sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)rnd(&st);
        } else { /* a valid command with a few bytes flipped, cut or duplicated */
            const char *sd = seeds[rnd(&st) % 5];
            n = strlen(sd);
            memcpy(buf, sd, n);
            int edits = 1 + (int)(rnd(&st) % 3);
            for (int e = 0; e < edits && n; e++) {
                size_t at = rnd(&st) % n;
                switch (rnd(&st) % 3) {
                case 0: buf[at] = (char)rnd(&st); break;
                case 1: n = at; break;
                default:
                    if (n < sizeof buf - 1) {
                        memmove(buf + at + 1, buf + at, n - at);
                        n++;
                    }
                }
            }
        }
        int rc = proto_parse_command(buf, n, 0, &c, err, sizeof err);
        if (rc == 0) {
            accepted++;
            CHECK(c.type >= PROTO_CMD_RATE && c.type <= PROTO_CMD_AUDIO);
            if (c.type == PROTO_CMD_RATE)
                CHECK(c.u.rate.hz >= PROTO_RATE_MIN_HZ && c.u.rate.hz <= PROTO_RATE_MAX_HZ);
            if (c.type == PROTO_CMD_SMOOTHING)
                CHECK(c.u.smoothing.alpha > 0 && c.u.smoothing.alpha <= 1);
            if (c.type == PROTO_CMD_AUDIO)
                CHECK(c.u.audio.rate >= PROTO_AUDIO_RATE_MIN && c.u.audio.channels >= 1);
            CHECK(proto_encode_ack(c.name, c.id, -1, reply, sizeof reply) > 0);
        } else {
            CHECK(rc < 0 && c.type == PROTO_CMD_NONE && err[0]);
            CHECK(proto_encode_error(rc, err, c.name, c.id, reply, sizeof reply) > 0);
        }
    }
    CHECK(accepted > 100); /* the mutations keep some commands valid: the check above ran */
}

static void test_names(void)
{
    CHECK(strcmp(proto_cmd_name(PROTO_CMD_AUDIO), "audio") == 0 && !proto_cmd_name(0) &&
          !proto_cmd_name(7));
    CHECK(strcmp(proto_stream_name(PROTO_STREAM_FRAMES), "frames") == 0 && !proto_stream_name(3));
    CHECK(strcmp(proto_device_state_name(PROTO_DEV_ENDED), "ended") == 0 &&
          !proto_device_state_name(-1));
    CHECK(strcmp(proto_input_kind_name(PROTO_INPUT_STDIN), "stdin") == 0 &&
          !proto_input_kind_name(4));
    CHECK(proto_pcm_sample_bytes(PROTO_PCM_S16LE) == 2 && proto_pcm_sample_bytes(5) == 0);
}

int main(void)
{
    test_wall();
    test_posteriors();
    test_strings();
    test_hello();
    test_event_status();
    test_frames();
    test_replies();
    test_parse_ok();
    test_parse_bad();
    test_parse_random();
    test_names();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("proto: all checks passed\n");
    return 0;
}
