/* proto: emotiond's WebSocket protocol v1 (see proto/README.md and proto/schema/v1.json).
 *
 * Promises: encoders of every server message and a parser of every client command. Encoders
 * write compact JSON into a buffer the caller owns (so a server can reserve LWS_PRE headroom in
 * front and encode once per publish); they are hand-written formatters that never allocate
 * (jansson is used only to parse client commands). Output is always valid UTF-8
 * JSON: strings are escaped and invalid UTF-8 in them is replaced by U+FFFD; non-finite or
 * out-of-range numbers are refused (PROTO_ERANGE), never written. The command parser accepts
 * only the commands of v1 with the right field types and ranges and reports one error code plus
 * a message line the server sends back in an "error" message. No I/O, no global state;
 * every function is reentrant.
 *
 * Encoders return the length written (> 0, excluding the terminating NUL, which is always
 * written when cap > 0) or a negative PROTO_E* code; on PROTO_ENOSPC the buffer content is
 * unspecified but NUL-terminated.
 */
#ifndef EMOTIOND_PROTO_H
#define EMOTIOND_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_VERSION 1
/* WebSocket subprotocol name (clients may also send none). */
#define PROTO_SUBPROTOCOL "emotiond.v1"

enum {
    PROTO_OK = 0,
    PROTO_EINVAL = -1,   /* bad argument from the caller (NULL, negative count, ...) */
    PROTO_ENOSPC = -2,   /* output buffer too small */
    PROTO_EJSON = -3,    /* client text is not one valid UTF-8 JSON object */
    PROTO_ETYPE = -4,    /* unknown or missing command "type" */
    PROTO_EFIELD = -5,   /* a field is missing or has the wrong JSON type */
    PROTO_ERANGE = -6,   /* a value is out of range (or non-finite) */
    PROTO_ETOOBIG = -7,  /* message larger than the configured limit */
    /* Codes for conditions the server detects; here so every error has one name. */
    PROTO_EBINARY = -8,  /* binary frame on a connection that has not sent an audio hello */
    PROTO_ESTATE = -9,   /* command not valid now (e.g. a second audio hello) */
    PROTO_EBUSY = -10,   /* a limit is reached (subscribers, sidecar streams) */
    PROTO_EAUTH = -11,   /* missing/wrong bearer token or origin not allowed */
    PROTO_EINTERNAL = -12 /* the daemon failed to carry out a valid command */
};
/* One line of English for a code ("output buffer too small"). */
const char *proto_strerror(int code);
/* The stable machine name sent as "code" in error messages ("bad_json", "unknown_type",
 * "bad_field", "out_of_range", "too_big", "unexpected_binary", "bad_state", "busy",
 * "unauthorized", "internal", "invalid"). */
const char *proto_error_name(int code);

/* Optional streams a connection can subscribe to (bit set). A new connection gets
 * POSTERIORS | EVENTS | STATUS; FRAMES only on request. */
enum proto_stream {
    PROTO_STREAM_POSTERIORS = 1 << 0,
    PROTO_STREAM_EVENTS = 1 << 1,
    PROTO_STREAM_STATUS = 1 << 2,
    PROTO_STREAM_FRAMES = 1 << 3
};
#define PROTO_STREAMS_DEFAULT (PROTO_STREAM_POSTERIORS | PROTO_STREAM_EVENTS | PROTO_STREAM_STATUS)
#define PROTO_STREAMS_ALL (PROTO_STREAMS_DEFAULT | PROTO_STREAM_FRAMES)
/* "posteriors", "events", "status", "frames" for a single bit; NULL otherwise. */
const char *proto_stream_name(unsigned stream);

/* Formats Unix time in ms as ISO-8601 UTC "2026-11-23T14:00:00.120Z" (24 chars + NUL).
 * Returns 24 or PROTO_ERANGE (years outside 0..9999) / PROTO_ENOSPC (cap < 25). */
int proto_format_wall(int64_t unix_ms, char *out, size_t cap);

/* ---- server messages ---------------------------------------------------------------- */

enum proto_input_kind { PROTO_INPUT_MIC = 0, PROTO_INPUT_FILE, PROTO_INPUT_STDIN, PROTO_INPUT_SIDECAR };
const char *proto_input_kind_name(int kind); /* "mic", "file", "stdin", "sidecar"; NULL if bad */

typedef struct proto_input {
    int kind;               /* enum proto_input_kind */
    const char *device;     /* device name, file path, "stdin", "ws"; may be NULL */
    double rate;            /* input sample rate (Hz); > 0, or 0 while unknown (no device) */
    int channels;           /* >= 0 (0 while unknown) */
} proto_input;

/* All pointers are borrowed for the duration of the call. */
typedef struct proto_hello {
    const char *daemon;     /* daemon version, e.g. "0.1.0" */
    const char *model;      /* nn_model_id() */
    const char *const *labels; /* n_labels names, in the order of every probs array */
    int n_labels;           /* 1..64 */
    double hop_ms;          /* > 0 */
    double publish_hz;      /* > 0 */
    double smoothing;       /* current alpha per hop, (0, 1]; < 0 = omitted */
    proto_input input;
    unsigned streams;       /* the connection's current subscriptions (proto_stream bits) */
} proto_hello;
/* PROTO_EINVAL if a required string is NULL or counts/rates are out of range. */
int proto_encode_hello(const proto_hello *h, char *buf, size_t cap);

typedef struct proto_posteriors {
    uint64_t seq;           /* contiguous per stream, from 0 */
    double t;               /* stream time (s), >= 0 */
    int64_t wall_ms;        /* Unix time (ms) the message was made */
    const char *const *labels; /* n names (to write "top") */
    const float *probs;     /* n values in [0, 1] (tiny rounding beyond is clamped) */
    int n;                  /* 1..64 */
    int speech;             /* 0 or 1 */
    int top;                /* index into labels, or -1: "top":null (e.g. no model output yet) */
    float conf;             /* probs[top] normally; [0, 1] */
} proto_posteriors;
int proto_encode_posteriors(const proto_posteriors *p, char *buf, size_t cap);

enum proto_event_state { PROTO_ONSET = 0, PROTO_OFFSET = 1 };

typedef struct proto_event {
    uint64_t seq;           /* seq of the posteriors message this event precedes */
    double t;               /* stream time (s) of the hop that fired it */
    int64_t wall_ms;
    const char *label;
    int state;              /* enum proto_event_state */
    double held_s;          /* >= 0: onset: time above threshold; offset: time held */
    double prob;            /* smoothed probability of label at that hop, [0, 1] */
} proto_event;
int proto_encode_event(const proto_event *e, char *buf, size_t cap);

enum proto_device_state {
    PROTO_DEV_RUNNING = 0,  /* capturing */
    PROTO_DEV_WAITING,      /* no device yet (none at start), retrying */
    PROTO_DEV_LOST,         /* device vanished / stream failed */
    PROTO_DEV_REOPENING,    /* reopen attempt in progress (with backoff) */
    PROTO_DEV_ENDED         /* file or stdin input reached its end */
};
const char *proto_device_state_name(int state); /* "running" ... "ended"; NULL if bad */

typedef struct proto_status {
    double t;               /* stream time (s) */
    int64_t wall_ms;
    int state;              /* enum proto_device_state */
    const char *device;     /* may be NULL (omitted) */
    uint64_t hops;          /* hops processed since start */
    uint64_t overruns;      /* capture ring overruns (audio lost) since start */
    uint64_t drops;         /* messages dropped for slow subscribers since start, all of them */
    int subscribers;        /* WebSocket connections */
    int sidecars;           /* sidecar streams */
    /* Per-hop processing time on the loop (ms); < 0 = unknown, the object is omitted. */
    double proc_p50_ms, proc_p99_ms, proc_max_ms;
    /* Capture-to-publish latency (ms); < 0 = unknown, omitted. */
    double lat_p50_ms, lat_p99_ms;
} proto_status;
int proto_encode_status(const proto_status *s, char *buf, size_t cap);

typedef struct proto_frames {
    uint64_t seq;           /* hop index of the first frame; the next message starts at seq+n */
    double t;               /* stream time (s) of the first frame */
    int n_frames;           /* 1..1000 */
    int n_bands;            /* 1..512 */
    const float *frames;    /* [n_frames][n_bands] log-mel, band 0 lowest */
    float lo, hi;           /* quantisation range, lo < hi: q = round(255*(v-lo)/(hi-lo)),
                               clamped to 0..255; non-finite values become 0 */
    const float *gate;      /* n_frames speech-gate values in [0, 1], or NULL (omitted) */
} proto_frames;
/* Bytes of output at most for n_frames x n_bands (for sizing buffers). */
size_t proto_frames_max_len(int n_frames, int n_bands);
int proto_encode_frames(const proto_frames *f, char *buf, size_t cap);

/* Reply to a command the server could not carry out. cmd: the offending command's "type"
 * (may be NULL); id: the command's id as JSON text (proto_cmd.id, may be NULL or "").
 * message is escaped (any bytes allowed). */
int proto_encode_error(int code, const char *message, const char *cmd, const char *id,
                       char *buf, size_t cap);
/* Reply to ping. dropped: messages this connection lost to its slow reading so far. */
int proto_encode_pong(const char *id, double t, uint64_t dropped, char *buf, size_t cap);
/* Acknowledges a command that took effect. streams: the connection's subscriptions after it
 * (proto_stream bits), or -1 to omit. */
int proto_encode_ack(const char *cmd, const char *id, int streams, char *buf, size_t cap);

/* ---- client commands ---------------------------------------------------------------- */

/* Largest client text message accepted by default (bytes); servers may configure another. */
#define PROTO_MAX_COMMAND 4096

enum proto_cmd_type {
    PROTO_CMD_NONE = 0,
    PROTO_CMD_RATE,         /* {"type":"rate","hz":5} publish rate, 0.1..100 */
    PROTO_CMD_SMOOTHING,    /* {"type":"smoothing","alpha":0.1} per-hop alpha, (0, 1] */
    PROTO_CMD_SUBSCRIBE,    /* {"type":"subscribe","streams":["frames"]} */
    PROTO_CMD_UNSUBSCRIBE,  /* {"type":"unsubscribe","streams":["status"]} */
    PROTO_CMD_PING,         /* {"type":"ping"} */
    PROTO_CMD_AUDIO         /* {"type":"audio","format":"s16le","rate":16000,"channels":1} */
};
const char *proto_cmd_name(int type); /* "rate" ...; NULL for NONE or bad */

enum proto_pcm_format { PROTO_PCM_S16LE = 0, PROTO_PCM_F32LE = 1 };
/* Bytes per sample: 2 or 4; 0 if bad. */
int proto_pcm_sample_bytes(int format);

#define PROTO_RATE_MIN_HZ 0.1
#define PROTO_RATE_MAX_HZ 100.0
#define PROTO_AUDIO_RATE_MIN 8000
#define PROTO_AUDIO_RATE_MAX 192000
#define PROTO_AUDIO_CHANNELS_MAX 32

typedef struct proto_cmd {
    int type;               /* enum proto_cmd_type; NONE when parsing failed */
    /* The "type" string as sent (escaped-safe: printable ASCII only, truncated), "" if none;
     * filled even when parsing fails after the type was read, for the error reply. */
    char name[24];
    /* The optional "id" (a string of <= 64 bytes without control characters, or an integer)
     * as JSON text ready to echo, "" if absent. Filled even when parsing fails later. */
    char id[136];
    union {
        struct { double hz; } rate;
        struct { double alpha; } smoothing;
        struct { unsigned streams; } sub;            /* subscribe and unsubscribe */
        struct { int format; int rate; int channels; } audio;
    } u;
} proto_cmd;

/* Parses one client text message of len bytes (need not be NUL-terminated). Messages longer
 * than max_len (0 = PROTO_MAX_COMMAND) are refused with PROTO_ETOOBIG before parsing. Unknown
 * fields are ignored (newer clients within v1). Returns 0 and fills *out, or a negative
 * PROTO_E* code with one line in err naming the field and what was expected. Uses jansson
 * (allocates transiently). */
int proto_parse_command(const char *text, size_t len, size_t max_len, proto_cmd *out,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
