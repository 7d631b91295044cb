/* nn/ unit tests on the committed tiny models (argv[1]; argv[2] normalises per speaker; argv[4] is
 * an ensemble; argv[5] reads the voice's pitch): loading and every rejection of a damaged file, streaming vs offline parity at
 * every lane end and along the way (lanes sharing their conv trunk and ensembles too), reset, the
 * whole front end pushed in random chunkings, speaker normaliser parameters. Torch parity lives
 * in test_parity.py. */
#include "dsp.h"
#include "nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
        }                                                                      \
    } while (0)

static const char *model_path;
static unsigned char *file_buf;
static size_t file_len;

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

/* Log-mel-like frames: a drifting spectral envelope plus noise (natural-log units). */
static float *make_frames(int n, int M)
{
    float *f = malloc(sizeof(float) * (size_t)n * M);
    double *env = calloc((size_t)M, sizeof(double));
    for (int t = 0; t < n; t++)
        for (int b = 0; b < M; b++) {
            env[b] += 0.06 * nrand();
            f[(size_t)t * M + b] = (float)(-5.0 - 5.0 * b / M + env[b] + nrand());
        }
    free(env);
    return f;
}

static void read_file(void)
{
    FILE *fp = fopen(model_path, "rb");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", model_path);
        exit(1);
    }
    fseek(fp, 0, SEEK_END);
    file_len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    file_buf = malloc(file_len + 16);
    if (fread(file_buf, 1, file_len, fp) != file_len)
        exit(1);
    fclose(fp);
}

static void test_load(void)
{
    char err[256];
    nn_model *m = NULL;
    int rc = nn_model_load_file(model_path, &m, err, sizeof err);
    CHECK(rc == 0, "load: %s", err);
    if (rc)
        return;
    const char *id = nn_model_id(m);
    const char *pfx = "emotiond-tiny-random@sha256:";
    CHECK(strncmp(id, pfx, strlen(pfx)) == 0 && strlen(id) == strlen(pfx) + 16, "id %s", id);
    CHECK(nn_model_n_labels(m) == 7, "labels %d", nn_model_n_labels(m));
    CHECK(strcmp(nn_model_label(m, 0), "neutral") == 0 && strcmp(nn_model_label(m, 6), "surprised") == 0,
          "label names");
    CHECK(nn_model_label(m, 7) == NULL && nn_model_label(m, -1) == NULL, "label out of range");
    CHECK(nn_model_window_frames(m) == 300, "window %d", nn_model_window_frames(m));
    dsp_params d;
    dsp_params_default(&d);
    CHECK(dsp_params_equal(&d, nn_model_features(m)), "features are not dsp defaults");
    nn_model *m2 = NULL;
    CHECK(nn_model_load_buffer(file_buf, file_len, &m2, err, sizeof err) == 0, "buffer: %s", err);
    if (m2)
        CHECK(strcmp(nn_model_id(m2), id) == 0, "same id from buffer");
    nn_model_free(m2);
    nn_model_free(m);
}

static void expect_reject(const unsigned char *b, size_t len, int code, const char *needle, const char *what)
{
    char err[256] = "";
    nn_model *m = (nn_model *)1;
    int rc = nn_model_load_buffer(b, len, &m, err, sizeof err);
    CHECK(rc == code, "%s: code %d (%s), expected %d", what, rc, err, code);
    CHECK(m == NULL, "%s: out not cleared", what);
    CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    CHECK(strchr(err, '\n') == NULL && strlen(err) > 10, "%s: message '%s' not one line", what, err);
}

static void test_reject(void)
{
    unsigned char *b = malloc(file_len + 16);
    size_t cuts[] = {0, 3, 20, 63, 200, file_len / 2, file_len - 33, file_len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
        expect_reject(file_buf, cuts[i], NN_EFORMAT, cuts[i] >= 4 ? "truncated" : "truncated", what);
    }
    size_t flips[] = {40, 300, file_len / 2, file_len - 40, file_len - 5};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(b, file_buf, file_len);
        b[flips[i]] ^= 0x10;
        char what[64];
        snprintf(what, sizeof what, "bit flip at %zu", flips[i]);
        expect_reject(b, file_len, NN_EFORMAT, "checksum", what);
    }
    memcpy(b, file_buf, file_len);
    b[4] = 3;   /* 2 is an ensemble (test_ensemble.py) */
    expect_reject(b, file_len, NN_EVERSION, "version 3, this build reads versions 1 and 2",
                  "wrong version");
    memcpy(b, file_buf, file_len);
    memcpy(b, "GGUF", 4);
    expect_reject(b, file_len, NN_EFORMAT, "not an emotiond model file", "wrong magic");
    memcpy(b, file_buf, file_len);
    b[file_len] = 0;
    expect_reject(b, file_len + 1, NN_EFORMAT, "after the checksum", "trailing byte");

    char err[256];
    nn_model *m = NULL;
    CHECK(nn_model_load_file("/nonexistent/x.emod", &m, err, sizeof err) == NN_EIO && !m,
          "missing file: %s", err);
    CHECK(strstr(err, "/nonexistent/x.emod") != NULL, "missing file message names the path: %s", err);
    CHECK(strcmp(nn_strerror(NN_EVERSION), nn_strerror(NN_EFORMAT)) != 0, "strerror");
    free(b);
}

static double maxdiff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Start of the segment the published (older) lane covers after frames 0..t (nn_stream.c). */
static int older_lane_start(int t, int W)
{
    int half = W / 2, s = (half & 1) ? half + 1 : half;
    int r0 = (t / W) * W;
    if (t < s)
        return r0;
    int r1 = s + ((t - s) / W) * W;
    return r0 < r1 ? r0 : r1;
}

static void test_stream_vs_offline(nn_model *m)
{
    char err[256];
    const int M = nn_model_input_dim(m), K = nn_model_n_labels(m), W = nn_model_window_frames(m);
    const int n = 3 * W + W / 2 + 7;
    float *f = make_frames(n, M);
    nn_stream *s = NULL;
    CHECK(nn_stream_new(m, &s, err, sizeof err) == 0, "stream_new: %s", err);
    float p[64], q[64];
    double worst = 0;
    int compared = 0, first_ready = -1;
    for (int t = 0; t < n; t++) {
        int r = nn_stream_push(s, f + (size_t)t * M, p);
        if (r && first_ready < 0)
            first_ready = t;
        int start = older_lane_start(t, W), len = t + 1 - start;
        /* every lane end, a few frames around each, and a sparse sample elsewhere */
        int near_end = (len >= W - 2) || (t % (W / 2) < 3) || (t % 37 == 0);
        if (!r || !near_end)
            continue;
        CHECK(nn_offline_run(m, f + (size_t)start * M, len, q, err, sizeof err) == 0, "offline: %s", err);
        double d = maxdiff(p, q, K);
        worst = fmax(worst, d);
        compared++;
        CHECK(d <= 1e-4, "frame %d (lane from %d, %d frames): stream vs offline %.3g", t, start, len, d);
        double sum = 0;
        for (int k = 0; k < K; k++)
            sum += p[k];
        CHECK(fabs(sum - 1) < 1e-5, "probs sum %.8f", sum);
    }
    CHECK(first_ready == 49, "first posteriors after frame %d, expected 49 (min_frames 50)", first_ready);
    CHECK(compared > 50, "only %d comparisons", compared);
    printf("stream vs offline: %d comparisons, max |diff| %.3g\n", compared, worst);

    /* reset gives the same as a new stream */
    nn_stream_reset(s);
    nn_stream *s2 = NULL;
    nn_stream_new(m, &s2, err, sizeof err);
    for (int t = 0; t < 400; t++) {
        int r1 = nn_stream_push(s, f + (size_t)(t + 100) * M, p);
        int r2 = nn_stream_push(s2, f + (size_t)(t + 100) * M, q);
        CHECK(r1 == r2 && (!r1 || maxdiff(p, q, K) == 0), "reset stream differs at %d", t);
    }
    nn_stream_free(s2);
    nn_stream_free(s);

    /* offline argument errors */
    CHECK(nn_offline_run(m, f, 1, q, err, sizeof err) == NN_EINVAL && strstr(err, "at least 2"),
          "1 frame: %s", err);
    f[5 * M + 3] = NAN;
    CHECK(nn_offline_run(m, f, 10, q, err, sizeof err) == NN_EINVAL && strstr(err, "frame 5 band 3"),
          "NaN: %s", err);
    free(f);
}

struct chunk_ctx { nn_stream *s; const float *ref; int K; int64_t count; double worst; };
static void cb(void *u, const float *frame, int64_t idx)
{
    struct chunk_ctx *c = u;
    float p[64];
    int r = nn_stream_push(c->s, frame, p);
    if (idx != c->count)
        c->worst = 1e9;
    if (r)
        c->worst = fmax(c->worst, maxdiff(p, c->ref + (size_t)idx * c->K, c->K));
    c->count++;
}

/* Audio through dsp_logmel in random chunk sizes, frames straight into the stream: the same
 * posteriors as the batch front end + stream, and offline parity at lane ends. */
static void test_front_end_chunking(nn_model *m)
{
    char err[256];
    const dsp_params *dp = nn_model_features(m);
    const int M = dp->n_mels, K = nn_model_n_labels(m), W = nn_model_window_frames(m);
    const size_t ns = (size_t)dp->sample_rate * 7 + 1234;
    float *x = malloc(sizeof(float) * ns);
    double ph = 0;
    for (size_t i = 0; i < ns; i++) {
        double t = (double)i / dp->sample_rate;
        double f0 = 140 + 60 * sin(2 * 3.14159 * 0.7 * t);
        ph += 2 * 3.141592653589793 * f0 / dp->sample_rate;
        double env = 0.5 + 0.5 * sin(2 * 3.14159 * 3.1 * t);
        x[i] = (float)(0.1 * env * (sin(ph) + 0.5 * sin(2 * ph) + 0.3 * sin(3 * ph)) + 0.01 * nrand());
    }
    int64_t nf = dsp_logmel_batch(dp, x, ns, NULL, 0);
    CHECK(nf > 2 * W, "frame count %lld", (long long)nf);
    if (nf <= 2 * W) {
        free(x);
        return;
    }
    float *frames = malloc(sizeof(float) * (size_t)nf * M);
    CHECK(dsp_logmel_batch(dp, x, ns, frames, (size_t)nf) == nf, "batch");
    float *ref = malloc(sizeof(float) * (size_t)nf * K);
    nn_stream *s = NULL;
    nn_stream_new(m, &s, err, sizeof err);
    for (int64_t t = 0; t < nf; t++)
        nn_stream_push(s, frames + (size_t)t * M, ref + (size_t)t * K);

    for (int trial = 0; trial < 3; trial++) {
        struct chunk_ctx c;
        dsp_logmel *lm = NULL;
        CHECK(dsp_logmel_new(dp, &lm, err, sizeof err) == 0, "logmel_new: %s", err);
        nn_stream_reset(s);
        c.s = s; c.ref = ref; c.K = K; c.count = 0; c.worst = 0;
        size_t pos = 0;
        while (pos < ns) {
            size_t chunk = trial == 0 ? 1 + (size_t)(urand() * 7) : 1 + (size_t)(urand() * 3000);
            if (chunk > ns - pos)
                chunk = ns - pos;
            CHECK(dsp_logmel_push(lm, x + pos, chunk, cb, &c) == 0, "push");
            pos += chunk;
        }
        CHECK(c.count == nf, "trial %d: %lld frames, expected %lld", trial, (long long)c.count, (long long)nf);
        CHECK(c.worst == 0, "trial %d: chunked posteriors differ by %.3g", trial, c.worst);
        dsp_logmel_free(lm);
    }
    /* offline parity at each lane end */
    float q[64];
    for (int64_t t = W - 1; t < nf; t++) {
        int start = older_lane_start((int)t, W);
        if (t + 1 - start != W)
            continue;
        nn_offline_run(m, frames + (size_t)start * M, W, q, err, sizeof err);
        double d = maxdiff(ref + (size_t)t * K, q, K);
        CHECK(d <= 1e-4, "window ending at frame %lld: %.3g", (long long)t, d);
    }
    nn_stream_free(s);
    free(ref);
    free(frames);
    free(x);
}

/* Cumulative CMVN: a gain change is an additive constant in log-mel and must not change the
 * posteriors; digital silence (every band at the log floor) must give finite posteriors. */
static void test_level_and_silence(nn_model *m)
{
    char err[256];
    const int M = nn_model_features(m)->n_mels, K = nn_model_n_labels(m), n = 700;
    float *f = make_frames(n, M), *g = malloc(sizeof(float) * (size_t)n * M);
    for (int i = 0; i < n * M; i++)
        g[i] = f[i] - 5.07f;   /* about 22 dB quieter */
    nn_stream *a = NULL, *b = NULL;
    nn_stream_new(m, &a, err, sizeof err);
    nn_stream_new(m, &b, err, sizeof err);
    float p[64], q[64];
    double worst = 0;
    for (int t = 0; t < n; t++) {
        int ra = nn_stream_push(a, f + (size_t)t * M, p), rb = nn_stream_push(b, g + (size_t)t * M, q);
        CHECK(ra == rb, "ready differs at %d", t);
        if (ra)
            worst = fmax(worst, maxdiff(p, q, K));
    }
    CHECK(worst <= 1e-4, "posteriors depend on the input level: %.3g", worst);
    for (int i = 0; i < n * M; i++)
        f[i] = logf(1e-10f);
    nn_stream_reset(a);
    int ready = 0, finite = 1;
    for (int t = 0; t < n; t++)
        if (nn_stream_push(a, f + (size_t)t * M, p)) {
            ready++;
            double sum = 0;
            for (int k = 0; k < K; k++) {
                finite &= isfinite(p[k]);
                sum += p[k];
            }
            finite &= fabs(sum - 1) < 1e-5;
        }
    CHECK(ready > 0 && finite, "silence: %d ready frames, finite %d", ready, finite);
    const int len = n - older_lane_start(n - 1, nn_model_window_frames(m));
    CHECK(nn_offline_run(m, f, len, q, err, sizeof err) == 0 && maxdiff(p, q, K) <= 1e-4,
          "silence: stream vs offline on the published lane's %d frames", len);
    nn_stream_free(a);
    nn_stream_free(b);
    free(f);
    free(g);
}

/* Speaker normaliser parameters: validated, and changeable for the same voice without losing
 * what was heard (a daemon reload). */
static void test_speaker_params(const char *path)
{
    char err[256];
    nn_model *m = NULL;
    nn_speaker *sp = NULL;
    if (nn_model_load_file(path, &m, err, sizeof err) != 0) {
        CHECK(0, "load %s: %s", path, err);
        return;
    }
    const int M = nn_model_features(m)->n_mels;
    nn_speaker_params p;
    nn_speaker_params_default(&p);
    p.var_floor = -1;
    CHECK(nn_speaker_new(m, &p, &sp, err, sizeof err) == NN_EINVAL && !sp && strstr(err, "var_floor"),
          "negative var_floor accepted (%s)", err);
    nn_speaker_params_default(&p);
    CHECK(nn_speaker_new(m, &p, &sp, err, sizeof err) == 0, "new: %s", err);
    float *f = make_frames(400, M), *a = malloc(sizeof(float) * M), *b = malloc(sizeof(float) * M);
    for (int t = 0; t < 400; t++)   /* a flat voice: every band's variance far below the prior's */
        for (int k = 0; k < M; k++)
            f[(size_t)t * M + k] = -6.0f + 0.01f * f[(size_t)t * M + k];
    for (int t = 0; t < 400; t++)
        nn_speaker_add(sp, f + (size_t)t * M);
    CHECK(fabs(nn_speaker_frames(sp) - 400) < 1e-9, "frames %g, want 400", nn_speaker_frames(sp));
    nn_speaker_apply(sp, f, a);
    nn_speaker_params q = p;
    q.max_frames = 0;
    CHECK(nn_speaker_set_params(sp, &q, err, sizeof err) == NN_EINVAL && strstr(err, "max_frames"),
          "max_frames 0 accepted (%s)", err);
    nn_speaker_apply(sp, f, b);
    CHECK(!memcmp(a, b, sizeof(float) * M), "a rejected set_params changed the estimate");
    q = p;
    q.var_floor = 4;   /* a higher floor: the flat voice is scaled down more */
    CHECK(nn_speaker_set_params(sp, &q, err, sizeof err) == 0, "set_params: %s", err);
    CHECK(fabs(nn_speaker_frames(sp) - 400) < 1e-9, "set_params forgot the voice (%g frames)",
          nn_speaker_frames(sp));
    nn_speaker_apply(sp, f, b);
    double ra = 0, rb = 0;
    for (int k = 0; k < M; k++) {
        ra += fabs(a[k]);
        rb += fabs(b[k]);
    }
    CHECK(rb < ra * 0.99, "var_floor 4 did not shrink the normalised frame (%g vs %g)", rb, ra);
    q.var_floor = 0.5;
    CHECK(nn_speaker_set_params(sp, &q, err, sizeof err) == 0, "set_params back: %s", err);
    nn_speaker_apply(sp, f, b);
    CHECK(!memcmp(a, b, sizeof(float) * M), "back to the defaults is not the same estimate");
    free(f);
    free(a);
    free(b);
    nn_speaker_free(sp);
    nn_model_free(m);
}

/* A reload carries the voice to a new model of the same features, and only to one. */
static void test_speaker_copy_voice(const char *path, const char *path_plain, const char *path_64)
{
    char err[256];
    nn_model *m = NULL, *m2 = NULL, *plain = NULL, *m64 = NULL;
    nn_speaker *heard = NULL, *fresh = NULL, *other = NULL, *none = NULL, *s64 = NULL;
    float *f = NULL, *a = NULL, *b = NULL;
    if (nn_model_load_file(path, &m, err, sizeof err) || nn_model_load_file(path, &m2, err, sizeof err) ||
        nn_model_load_file(path_plain, &plain, err, sizeof err) ||
        nn_model_load_file(path_64, &m64, err, sizeof err)) {
        CHECK(0, "load: %s", err);
        goto done;
    }
    const int M = nn_model_features(m)->n_mels;
    nn_speaker_params p;
    nn_speaker_params_default(&p);
    if (nn_speaker_new(m, &p, &heard, err, sizeof err) || nn_speaker_new(m2, &p, &fresh, err, sizeof err) ||
        nn_speaker_new(m2, &p, &other, err, sizeof err) || nn_speaker_new(plain, &p, &none, err, sizeof err) ||
        nn_speaker_new(m64, &p, &s64, err, sizeof err)) {
        CHECK(0, "new: %s", err);
        goto done;
    }
    f = make_frames(500, M);
    a = malloc(sizeof(float) * M);
    b = malloc(sizeof(float) * M);
    for (int t = 0; t < 500; t++)
        nn_speaker_add(heard, f + (size_t)t * M);
    CHECK(nn_speaker_copy_voice(fresh, heard, err, sizeof err) == 0, "copy: %s", err);
    CHECK(fabs(nn_speaker_frames(fresh) - 500) < 1e-9, "copied %g frames, want 500", nn_speaker_frames(fresh));
    nn_speaker_apply(heard, f, a);
    nn_speaker_apply(fresh, f, b);
    CHECK(maxdiff(a, b, M) == 0, "the copied voice normalises differently (%g)", maxdiff(a, b, M));
    nn_speaker_apply(other, f, b);
    CHECK(maxdiff(a, b, M) > 1e-3, "a fresh normaliser already matches the voice: the test proves nothing");
    /* Other features: refused by name, the target unchanged. */
    CHECK(nn_speaker_copy_voice(s64, heard, err, sizeof err) == NN_EINVAL && strstr(err, "features"),
          "a voice copied to a 64-band model (%s)", err);
    CHECK(nn_speaker_frames(s64) == 0, "refused copy changed the target");
    /* From a model without a speaker normaliser: nothing heard, the target back to its prior. */
    CHECK(nn_speaker_copy_voice(fresh, none, err, sizeof err) == 0, "copy from plain: %s", err);
    CHECK(nn_speaker_frames(fresh) == 0, "copy from a plain model kept %g frames", nn_speaker_frames(fresh));
    nn_speaker_apply(fresh, f, a);
    CHECK(maxdiff(a, b, M) == 0, "reset by copy is not the prior estimate");
done:
    free(f);
    free(a);
    free(b);
    nn_speaker_free(heard);
    nn_speaker_free(fresh);
    nn_speaker_free(other);
    nn_speaker_free(none);
    nn_speaker_free(s64);
    nn_model_free(m);
    nn_model_free(m2);
    nn_model_free(plain);
    nn_model_free(m64);
}

/* A pitch model's input: its width and tracker, and a voice that does not carry over between
 * models of different inputs (the statistics have other columns). */
static void test_pitch_input(const char *path_pitch, const char *path_spk)
{
    char err[256];
    nn_model *mp = NULL, *ms = NULL;
    nn_speaker *sp = NULL, *ss = NULL;
    float *f = NULL;
    unsigned flags = 99;
    if (nn_model_load_file(path_pitch, &mp, err, sizeof err) ||
        nn_model_load_file(path_spk, &ms, err, sizeof err) ||
        nn_speaker_new(mp, NULL, &sp, err, sizeof err) || nn_speaker_new(ms, NULL, &ss, err, sizeof err)) {
        CHECK(0, "pitch setup: %s", err);
        goto done;
    }
    const int M = nn_model_features(mp)->n_mels;
    CHECK(nn_model_input_dim(mp) == M + DSP_PITCH_DIM && nn_model_pitch(mp, &flags) == 1 && flags == 0,
          "pitch model: input %d, pitch %d, flags %u", nn_model_input_dim(mp), nn_model_pitch(mp, NULL),
          flags);
    CHECK(nn_model_input_dim(ms) == M && nn_model_pitch(ms, &flags) == 0 && flags == 0,
          "band model: input %d, pitch %d", nn_model_input_dim(ms), nn_model_pitch(ms, NULL));
    f = make_frames(400, M + DSP_PITCH_DIM);
    for (int t = 0; t < 400; t++)
        nn_speaker_add(sp, f + (size_t)t * (M + DSP_PITCH_DIM));
    CHECK(nn_speaker_frames(sp) == 400, "pitch model's normaliser heard %g frames", nn_speaker_frames(sp));
    for (int t = 0; t < 300; t++)
        nn_speaker_add(ss, f + (size_t)t * M);
    CHECK(nn_speaker_copy_voice(ss, sp, err, sizeof err) == 0 && nn_speaker_frames(ss) == 0,
          "a voice heard with pitch carried into a band model: %g frames", nn_speaker_frames(ss));
    CHECK(nn_speaker_copy_voice(sp, ss, err, sizeof err) == 0 && nn_speaker_frames(sp) == 0,
          "a voice heard without pitch carried into a pitch model: %g frames", nn_speaker_frames(sp));
done:
    free(f);
    nn_speaker_free(sp);
    nn_speaker_free(ss);
    nn_model_free(mp);
    nn_model_free(ms);
}

int main(int argc, char **argv)
{
    char err[256];
    nn_model *m = NULL;
    if (argc < 6) {
        fprintf(stderr, "usage: test_nn TINY.emod TINY-SPEAKER.emod TINY-SPEAKER-64.emod "
                "TINY-ENSEMBLE.emod TINY-PITCH.emod\n");
        return 2;
    }
    model_path = argv[1];
    read_file();
    test_load();
    test_reject();
    if (nn_model_load_file(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_stream_vs_offline(m);
    test_front_end_chunking(m);
    test_level_and_silence(m);
    /* A speaker model's lanes share their conv trunk (nn_stream.c), an ensemble's members each
     * run a pair of lanes, and a pitch model's borrowed features carry the pitch means: the same
     * parity at every lane end. */
    const int parity_args[] = {2, 4, 5};
    for (int k = 0; k < 3; k++) {
        const int i = parity_args[k];
        nn_model *o = NULL;
        if (nn_model_load_file(argv[i], &o, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        printf("%s: ", argv[i]);
        test_stream_vs_offline(o);
        nn_model_free(o);
    }
    test_speaker_params(argv[2]);
    test_speaker_copy_voice(argv[2], argv[1], argv[3]);
    test_pitch_input(argv[5], argv[2]);
    nn_model_free(m);
    free(file_buf);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("test_nn: all passed\n");
    return failures ? 1 : 0;
}
