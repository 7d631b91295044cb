/* Prints one sample of every message kind the proto encoders produce (one JSON per line, with
 * edge cases: weird label bytes, no speech, empty optional parts, error replies for real parser
 * failures), for test_schema.py to validate against proto/schema/v1.json. With --commands it
 * prints instead, per line, "<rc>\t<command>" for a list of commands, so the test can check the
 * parser and the schema agree on what is a valid command. */
#include "proto.h"

#include <stdio.h>
#include <string.h>

static void out(int n, const char *b, const char *what)
{
    if (n <= 0) {
        fprintf(stderr, "proto_samples: encoding %s failed: %s\n", what, proto_strerror(n));
        return;
    }
    printf("%s\n", b);
}

static const char *const commands[] = {
    "{\"type\":\"rate\",\"hz\":5}",
    "{\"type\":\"rate\",\"hz\":100,\"id\":1}",
    "{\"type\":\"rate\",\"hz\":0.05}",
    "{\"type\":\"rate\",\"hz\":\"5\"}",
    "{\"type\":\"smoothing\",\"alpha\":0.5,\"id\":\"abc\"}",
    "{\"type\":\"smoothing\",\"alpha\":0}",
    "{\"type\":\"subscribe\",\"streams\":[\"frames\"]}",
    "{\"type\":\"unsubscribe\",\"streams\":[\"status\",\"events\"]}",
    "{\"type\":\"subscribe\",\"streams\":[]}",
    "{\"type\":\"subscribe\",\"streams\":[\"video\"]}",
    "{\"type\":\"ping\"}",
    "{\"type\":\"ping\",\"id\":[1]}",
    "{\"type\":\"ping\",\"extra\":true}",
    "{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000,\"channels\":1}",
    "{\"type\":\"audio\",\"format\":\"f32le\",\"rate\":48000,\"channels\":2}",
    "{\"type\":\"audio\",\"format\":\"u8\",\"rate\":16000,\"channels\":1}",
    "{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000,\"channels\":33}",
    "{\"type\":\"audio\",\"format\":\"s16le\",\"rate\":16000}",
    "{\"type\":\"launch\"}",
    "{}",
};

int main(int argc, char **argv)
{
    static char b[65536];
    proto_cmd c;
    char err[256];
    if (argc > 1 && strcmp(argv[1], "--commands") == 0) {
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            int rc = proto_parse_command(commands[i], strlen(commands[i]), 0, &c, err, sizeof err);
            printf("%d\t%s\n", rc, commands[i]);
        }
        return 0;
    }
    const char *labels[] = {"neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"};
    const char *weird[] = {"a\"b\\c\n\x01", "\xff\xfe", "caf\xc3\xa9"};
    float probs[7] = {0.61f, 0.05f, 0.02f, 0.2f, 0.08f, 0.02f, 0.02f};
    int64_t wall = 1795442400120LL;

    proto_hello h = {"0.1.0", "emotiond-default@sha256:0123456789abcdef", labels, 7, 10, 10, 0.1,
                     {PROTO_INPUT_MIC, "default", 48000, 1}, PROTO_STREAMS_DEFAULT};
    out(proto_encode_hello(&h, b, sizeof b), b, "hello");
    proto_hello h2 = {"0.1.0", "m", weird, 3, 10, 2.5, -1, {PROTO_INPUT_SIDECAR, NULL, 0, 0}, 0};
    out(proto_encode_hello(&h2, b, sizeof b), b, "hello sidecar");
    h2.input.kind = PROTO_INPUT_FILE;
    h2.input.device = "/tmp/x y.wav";
    h2.streams = PROTO_STREAMS_ALL;
    out(proto_encode_hello(&h2, b, sizeof b), b, "hello file");

    proto_posteriors p = {1234, 123.4, wall, labels, probs, 7, 1, 0, 0.61f};
    out(proto_encode_posteriors(&p, b, sizeof b), b, "posteriors");
    p.speech = 0;
    p.top = -1;
    p.seq = 0;
    p.t = 0;
    out(proto_encode_posteriors(&p, b, sizeof b), b, "posteriors no top");
    p.labels = weird;
    p.n = 3;
    p.top = 1;
    out(proto_encode_posteriors(&p, b, sizeof b), b, "posteriors weird");

    proto_event e = {1240, 124, wall, "angry", PROTO_ONSET, 2, 0.72};
    out(proto_encode_event(&e, b, sizeof b), b, "event");
    e.state = PROTO_OFFSET;
    e.label = weird[0];
    out(proto_encode_event(&e, b, sizeof b), b, "event offset");

    proto_status s = {12.345, wall, PROTO_DEV_RUNNING, "pulse", 1234, 1, 2, 3, 0, 0.21, 0.4, 1.25,
                      12.5, 20};
    out(proto_encode_status(&s, b, sizeof b), b, "status");
    for (int st = PROTO_DEV_WAITING; st <= PROTO_DEV_ENDED; st++) {
        proto_status s2 = {0, wall, st, NULL, 0, 0, 0, 0, 2, -1, -1, -1, -1, -1};
        out(proto_encode_status(&s2, b, sizeof b), b, "status minimal");
    }

    static float fr[10 * 128];
    float gate[10];
    for (int i = 0; i < 10 * 128; i++)
        fr[i] = (float)(i % 97) / 10.0f - 5.0f;
    for (int i = 0; i < 10; i++)
        gate[i] = i < 5 ? 0.0f : 1.0f;
    proto_frames f = {500, 5, 10, 128, fr, -4, 4, gate};
    out(proto_encode_frames(&f, b, sizeof b), b, "frames");
    proto_frames f1 = {501, 5.01, 1, 1, fr, -1.5f, 2.25f, NULL};
    out(proto_encode_frames(&f1, b, sizeof b), b, "frames one");
    proto_frames f2 = {502, 5.02, 2, 1, fr, -1, 1, NULL}; /* 2 bytes: one '=' of padding */
    out(proto_encode_frames(&f2, b, sizeof b), b, "frames two");

    /* error replies for real parser failures, with and without name/id */
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int rc = proto_parse_command(commands[i], strlen(commands[i]), 0, &c, err, sizeof err);
        if (rc)
            out(proto_encode_error(rc, err, c.name, c.id, b, sizeof b), b, "error");
    }
    const char *garbage = "\x89PNG\r\n\x1a\n\xff";
    int rc = proto_parse_command(garbage, strlen(garbage), 0, &c, err, sizeof err);
    out(proto_encode_error(rc, err, c.name, c.id, b, sizeof b), b, "error garbage");
    for (int code = PROTO_EINVAL; code >= PROTO_EINTERNAL; code--)
        out(proto_encode_error(code, NULL, NULL, NULL, b, sizeof b), b, "error code");

    out(proto_encode_pong(NULL, 0, 0, b, sizeof b), b, "pong");
    out(proto_encode_pong("\"p-1\"", 12.5, 7, b, sizeof b), b, "pong id");
    for (int t = PROTO_CMD_RATE; t <= PROTO_CMD_AUDIO; t++)
        out(proto_encode_ack(proto_cmd_name(t), t % 2 ? "3" : NULL,
                             t == PROTO_CMD_SUBSCRIBE ? PROTO_STREAMS_ALL : -1, b, sizeof b),
            b, "ack");
    out(proto_encode_ack("unsubscribe", "\"x\"", 0, b, sizeof b), b, "ack empty streams");
    return 0;
}
