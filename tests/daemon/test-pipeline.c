/* pipeline with the tiny test model (tests/fixtures/tiny.emod) on generated signals:
 * chunking invariance, publish rate, s16/f32 equivalence, gate-off parity with the model,
 * silence -> speech:false and near-uniform probs, NaN refusal, flush, and no allocation
 * per hop (malloc is wrapped and counted while pushing); with the speaker-normalising fixture
 * (tiny-speaker.emod): the gate's speech adapts the normaliser, so the same voice 20 dB quieter
 * converges to the same posteriors; with the pitch-reading fixtures (tiny-pitch.emod, and
 * tiny-pitch-dn.emod whose log-mel runs the suppressor, so its raw pitch frames come a hop
 * before their bands): every hop's posteriors are the model's on the batch front end's bands
 * and pitch of the same frame, in any chunking, without allocation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pipeline.h"

/* ---- counting allocator: glibc's malloc under the wrap. AddressSanitizer replaces malloc
 * itself, so a sanitizer build leaves the allocator alone and skips that one check. ---- */
static int counting;
static long allocs;
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
void *malloc(size_t n) { if (counting) allocs++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (counting) allocs++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (counting) allocs++; return __libc_realloc(p, n); }
#endif

static nn_model *model;

#define MAXR 2000
struct rec {
    int n;
    pipeline_result r[MAXR];
    float probs[MAXR][PIPELINE_MAX_LABELS];
    float raw[MAXR][PIPELINE_MAX_LABELS];
    int events, hops;
};

static void on_post(void *user, const pipeline_result *r)
{
    struct rec *x = user;
    if (x->n >= MAXR) return;
    x->r[x->n] = *r;
    memcpy(x->probs[x->n], r->probs, (size_t)r->n_labels * sizeof(float));
    memcpy(x->raw[x->n], r->raw, (size_t)r->n_labels * sizeof(float));
    x->n++;
}
static void on_event(void *user, const pipeline_event *e) { (void)e; ((struct rec *)user)->events++; }
static void on_hop(void *user, double s) { (void)s; ((struct rec *)user)->hops++; }
static const pipeline_callbacks cbs = { on_post, on_event, NULL, on_hop };

static float *tone_bursts(size_t n, double rate, int ch)
{
    float *x = calloc(n * (size_t)ch, sizeof *x);
    uint32_t s = 7;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate;
        double env = fmod(t, 0.5) < 0.3 ? 1.0 : 0.0;
        s = s * 1664525u + 1013904223u;
        double v = env * 0.2 * (sin(2 * M_PI * 180 * t) + 0.5 * sin(2 * M_PI * 360 * t) +
                                0.3 * sin(2 * M_PI * 1100 * t)) + 1e-4 * ((s >> 8) / 16777216.0 - 0.5);
        for (int c = 0; c < ch; c++) x[i * (size_t)ch + (size_t)c] = (float)v;
    }
    return x;
}

static pipeline *make(double rate, int ch, enum pipeline_format f, const pipeline_config *c, struct rec *x)
{
    pipeline *p = NULL;
    char err[256];
    int rc = pipeline_new(model, rate, ch, f, c, &cbs, x, 1024, &p, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    return p;
}

static void chunking_and_rate(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    size_t n = 48000 * 3;
    float *x = tone_bursts(n, 48000, 2);
    static struct rec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pipeline *pa = make(48000, 2, PIPELINE_F32LE, &c, &a);
    pipeline *pb = make(48000, 2, PIPELINE_F32LE, &c, &b);
    CHECK(pipeline_push(pa, x, n) == 0); /* larger than max_chunk: split inside */
    size_t at = 0, k = 1;
    while (at < n) {
        size_t m = k < n - at ? k : n - at;
        pipeline_push(pb, x + 2 * at, m);
        at += m;
        k = k * 3 % 997 + 1;
    }
    CHECK(a.n == b.n && a.n > 0);
    int same = 1;
    for (int i = 0; i < a.n && i < b.n; i++) {
        same &= a.r[i].seq == (uint64_t)i && a.r[i].t == b.r[i].t && a.r[i].speech == b.r[i].speech;
        same &= !memcmp(a.probs[i], b.probs[i], (size_t)a.r[i].n_labels * sizeof(float));
    }
    CHECK(same);
    /* 10 Hz of 100 hops/s: every 10th hop, t advancing 0.1 s */
    CHECK(a.hops >= 10 * a.n && a.hops < 10 * (a.n + 1));
    CHECK(a.n >= 2 && fabs(a.r[1].t - a.r[0].t - 0.1) < 1e-9);
    CHECK(pipeline_set_publish_hz(pa, 50) == 0);
    CHECK(pipeline_set_publish_hz(pa, 0) == PIPELINE_EINVAL);
    int before = a.n;
    pipeline_push(pa, x, 48000);
    CHECKF(a.n - before >= 49 && a.n - before <= 51, "%d publishes in 1 s at 50 Hz", a.n - before);
    pipeline_free(pa);
    pipeline_free(pb);
    free(x);
}

static void s16_matches_f32(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    size_t n = 16000 * 2;
    float *x = tone_bursts(n, 16000, 1);
    int16_t *s = malloc(n * 2);
    unsigned char *le = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        s[i] = (int16_t)lrintf(x[i] * 32768.0f);
        x[i] = (float)s[i] / 32768.0f;
        le[2 * i] = (unsigned char)(s[i] & 0xff);
        le[2 * i + 1] = (unsigned char)((uint16_t)s[i] >> 8);
    }
    static struct rec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pipeline *pa = make(16000, 1, PIPELINE_F32LE, &c, &a);
    pipeline *pb = make(16000, 1, PIPELINE_S16LE, &c, &b);
    pipeline_push(pa, x, n);
    pipeline_push(pb, le, n);
    CHECK(a.n == b.n && a.n > 0);
    int same = 1;
    for (int i = 0; i < a.n; i++) same &= !memcmp(a.probs[i], b.probs[i], sizeof a.probs[i]);
    CHECK(same);
    pipeline_free(pa);
    pipeline_free(pb);
    free(x);
    free(s);
    free(le);
}

static void gate_off_is_the_model(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    c.gate.mode = PIPELINE_GATE_OFF;
    c.smoothing = 1;
    static struct rec a;
    memset(&a, 0, sizeof a);
    float *x = tone_bursts(32000, 16000, 1);
    pipeline *p = make(16000, 1, PIPELINE_F32LE, &c, &a);
    pipeline_push(p, x, 32000);
    int same = 1;
    for (int i = 0; i < a.n; i++) {
        CHECK(a.r[i].speech == 1);
        for (int l = 0; l < a.r[i].n_labels; l++) same &= a.probs[i][l] == a.raw[i][l];
    }
    CHECK(same && a.n > 0);
    pipeline_free(p);
    free(x);
}

static void silence_publishes_no_confident_emotion(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    static struct rec a;
    memset(&a, 0, sizeof a);
    size_t n = 16000 * 4;
    float *x = calloc(n, sizeof *x);
    pipeline *p = make(16000, 1, PIPELINE_F32LE, &c, &a);
    pipeline_push(p, x, n);
    int nl = nn_model_n_labels(model);
    CHECK(a.n > 30);
    for (int i = 0; i < a.n; i++) {
        CHECK(a.r[i].speech == 0);
        CHECKF(fabsf(a.r[i].conf - 1.0f / (float)nl) < 1e-5, "conf %g at %d", a.r[i].conf, i);
    }
    CHECK(a.events == 0);
    pipeline_free(p);
    free(x);
}

static void bad_input_and_flush(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    static struct rec a;
    memset(&a, 0, sizeof a);
    char err[256];
    pipeline *p = NULL;
    CHECK(pipeline_new(model, 4000, 1, PIPELINE_F32LE, &c, &cbs, &a, 0, &p, err, sizeof err) == PIPELINE_EINVAL);
    CHECKF(strstr(err, "4000"), "%s", err);
    CHECK(pipeline_new(model, 16000, 0, PIPELINE_F32LE, &c, &cbs, &a, 0, &p, err, sizeof err) == PIPELINE_EINVAL);
    c.smoothing = 0;
    CHECK(pipeline_new(model, 16000, 1, PIPELINE_F32LE, &c, &cbs, &a, 0, &p, err, sizeof err) == PIPELINE_EINVAL);
    CHECKF(strstr(err, "smoothing"), "%s", err);
    pipeline_config_default(&c);
    p = make(16000, 1, PIPELINE_F32LE, &c, &a);
    float x[1000];
    for (int i = 0; i < 1000; i++) x[i] = 0.1f * (float)sin(i * 0.1);
    x[500] = NAN;
    CHECK(pipeline_push(p, x, 1000) == PIPELINE_EINPUT);
    CHECK(pipeline_in_frames(p) == 0);
    x[500] = 0;
    pipeline_push(p, x, 1000);      /* 1000 samples -> 4 hops, no publish yet at 10 Hz */
    CHECK(a.n == 0);
    CHECK(pipeline_flush(p) == 0);  /* the last hop gets published */
    CHECK(a.n == 1 && a.r[0].seq == 0);
    pipeline_reset(p);
    CHECK(pipeline_time(p) == 0);
    pipeline_free(p);
}

/* Raw posteriors of the last publish at or before second t. */
static const float *raw_at(const struct rec *a, double t)
{
    const float *best = NULL;
    for (int i = 0; i < a->n; i++)
        if (a->r[i].t <= t) best = a->raw[i];
    return best;
}

static double max_diff(const float *x, const float *y, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)x[i] - y[i]));
    return d;
}

/* max |loud - quiet| of the raw posteriors at 2 s, 10 s and 59.5 s, the same voice 20 dB apart. */
static void level_difference(const pipeline_config *c, double *early, double *mid, double *late)
{
    static struct rec loud, quiet;
    memset(&loud, 0, sizeof loud);
    memset(&quiet, 0, sizeof quiet);
    const size_t n = 16000 * 60;
    float *x = tone_bursts(n, 16000, 1);
    pipeline *pl = make(16000, 1, PIPELINE_F32LE, c, &loud);
    pipeline_push(pl, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= 0.1f;   /* -20 dB */
    pipeline *pq = make(16000, 1, PIPELINE_F32LE, c, &quiet);
    pipeline_push(pq, x, n);
    const int K = nn_model_n_labels(model);
    const float *l1 = raw_at(&loud, 2.0), *q1 = raw_at(&quiet, 2.0);
    const float *l2 = raw_at(&loud, 59.5), *q2 = raw_at(&quiet, 59.5);
    const float *lm = raw_at(&loud, 10.0), *qm = raw_at(&quiet, 10.0);
    CHECK(l1 && q1 && l2 && q2 && lm && qm);
    *early = *mid = *late = NAN;
    if (l1 && q1 && l2 && q2 && lm && qm) {
        *early = max_diff(l1, q1, K);
        *mid = max_diff(lm, qm, K);
        *late = max_diff(l2, q2, K);
    }
    pipeline_free(pl);
    pipeline_free(pq);
    free(x);
}

static void speaker_normaliser_removes_level(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    c.smoothing = 1;
    c.publish_hz = 2;
    double early, mid, late;
    level_difference(&c, &early, &mid, &late);
    fprintf(stderr, "  loud vs quiet: max |diff| %.4f after 2 s, %.4f after 10 s, %.4f after 60 s\n",
            early, mid, late);
    CHECKF(early > 2e-3, "the level made no difference even on the prior (%.4g)", early);
    CHECKF(late < 0.25 * early, "no adaptation: %.4g after 60 s vs %.4g after 2 s", late, early);

    /* Without the prior's weight the voice's own statistics rule from its first speech frames
     * (what is left is the speech gate's own warm-up, which differs with the level). */
    c.speaker.prior_s = 0;
    double early0, mid0, late0;
    level_difference(&c, &early0, &mid0, &late0);
    fprintf(stderr, "  speaker.prior_s 0: max |diff| %.4f after 2 s, %.4f after 10 s\n", early0, mid0);
    CHECKF(mid0 < 0.25 * mid, "prior_s 0 did not speed adaptation: %.4g vs %.4g after 10 s", mid0, mid);

    /* A reload with an out-of-range value is refused, naming it; a good one is taken. */
    static struct rec a;
    memset(&a, 0, sizeof a);
    pipeline *p = make(16000, 1, PIPELINE_F32LE, &c, &a);
    char err[256];
    c.speaker.memory_s = 0;
    CHECK(pipeline_set_config(p, &c, err, sizeof err) == PIPELINE_EINVAL);
    CHECKF(strstr(err, "speaker_memory_s"), "%s", err);
    c.speaker.memory_s = 60;
    c.speaker.var_floor = 2;
    CHECK(pipeline_set_config(p, &c, err, sizeof err) == 0);
    CHECK(pipeline_get_config(p)->speaker.var_floor == 2 && pipeline_get_config(p)->speaker.memory_s == 60);
    pipeline_free(p);
}

/* max |loud - quiet| of the raw posteriors 2 s into new pipelines that took (or not) the voice
 * of pipelines which heard 30 s of that voice: a reload must not forget the level. */
static double level_difference_after_reload(int take)
{
    static struct rec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pipeline_config c;
    pipeline_config_default(&c);
    const size_t n = 16000 * 30, m = 16000 * 2;
    float *x = tone_bursts(n, 16000, 1);
    pipeline *loud = make(16000, 1, PIPELINE_F32LE, &c, &a), *quiet = make(16000, 1, PIPELINE_F32LE, &c, &b);
    pipeline_push(loud, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= 0.1f;   /* -20 dB */
    pipeline_push(quiet, x, n);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pipeline *loud2 = make(16000, 1, PIPELINE_F32LE, &c, &a), *quiet2 = make(16000, 1, PIPELINE_F32LE, &c, &b);
    char err[256];
    if (take) {
        CHECKF(pipeline_take_voice(loud2, loud, err, sizeof err) == 0, "%s", err);
        CHECKF(pipeline_take_voice(quiet2, quiet, err, sizeof err) == 0, "%s", err);
    }
    pipeline_push(quiet2, x, m);
    for (size_t i = 0; i < m; i++) x[i] *= 10.0f;
    pipeline_push(loud2, x, m);
    const float *l = raw_at(&a, 2.0), *q = raw_at(&b, 2.0);
    CHECK(l && q);
    double d = l && q ? max_diff(l, q, nn_model_n_labels(model)) : NAN;
    pipeline_free(loud);
    pipeline_free(quiet);
    pipeline_free(loud2);
    pipeline_free(quiet2);
    free(x);
    return d;
}

static void reload_keeps_the_voice(void)
{
    double kept = level_difference_after_reload(1), lost = level_difference_after_reload(0);
    fprintf(stderr, "  2 s after a reload: max |loud - quiet| %.4f with the voice taken, %.4f without\n",
            kept, lost);
    CHECKF(lost > 2e-3, "the level made no difference on the prior (%.4g): the test proves nothing", lost);
    CHECKF(kept < 0.25 * lost, "the voice did not carry over: %.4g vs %.4g", kept, lost);

    /* A model of other features cannot take it: refused by name, nothing changed. */
    const char *src = getenv("EMOTIOND_SRC");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/tiny-speaker-64.emod", src ? src : ".");
    nn_model *m64 = NULL;
    CHECKF(nn_model_load_file(path, &m64, err, sizeof err) == 0, "%s", err);
    if (!m64) return;
    pipeline_config c;
    pipeline_config_default(&c);
    static struct rec a, b;
    pipeline *p = make(16000, 1, PIPELINE_F32LE, &c, &a), *p64 = NULL;
    CHECK(pipeline_new(m64, 16000, 1, PIPELINE_F32LE, &c, &cbs, &b, 1024, &p64, err, sizeof err) == 0);
    CHECK(pipeline_take_voice(p64, p, err, sizeof err) == PIPELINE_EINVAL);
    CHECKF(strstr(err, "features"), "%s", err);
    pipeline_free(p);
    pipeline_free(p64);
    nn_model_free(m64);
}

/* A voice whose pitch glides 110 -> 260 Hz in 0.4 s bursts: every frame's pitch differs. */
static float *glide(size_t n, double rate)
{
    float *x = calloc(n, sizeof *x);
    double ph = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i / rate, u = fmod(t, 0.5);
        ph += 2 * M_PI * (110 + 375 * u) / rate;
        x[i] = (float)(u < 0.4 ? 0.2 * (sin(ph) + 0.5 * sin(2 * ph) + 0.3 * sin(3 * ph)) : 0.0);
    }
    return x;
}

static void pitch_model_is_the_model(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    c.gate.mode = PIPELINE_GATE_OFF;
    c.gate.abs_floor_db = 0;   /* no hop adds to the speaker normaliser: it stays at its prior */
    c.smoothing = 1;
    c.publish_hz = 100;
    const dsp_params *fp = nn_model_features(model);
    const int M = fp->n_mels, D = nn_model_input_dim(model), K = nn_model_n_labels(model);
    unsigned flags = 0;
    CHECK(nn_model_pitch(model, &flags) == 1 && D == M + DSP_PITCH_DIM);
    const size_t n = 16000 * 3;
    float *x = glide(n, 16000);
    int64_t T = dsp_logmel_frame_count(fp, n);
    float *bands = malloc(sizeof(float) * (size_t)T * M), *f0 = malloc(sizeof(float) * (size_t)T * 2);
    float *frames = malloc(sizeof(float) * (size_t)T * D), *want = malloc(sizeof(float) * (size_t)T * K);
    int *ready = calloc((size_t)T, sizeof *ready);
    CHECK(dsp_logmel_batch(fp, x, n, bands, (size_t)T) == T && dsp_pitch_batch(fp, flags, x, n, f0, (size_t)T) == T);
    nn_stream *s = NULL;
    nn_speaker *sp = NULL;
    char err[256];
    CHECKF(nn_stream_new(model, &s, err, sizeof err) == 0 && nn_speaker_new(model, NULL, &sp, err, sizeof err) == 0,
           "%s", err);
    for (int64_t t = 0; t < T; t++) {
        memcpy(frames + t * D, bands + t * M, sizeof(float) * (size_t)M);
        memcpy(frames + t * D + M, f0 + t * 2, sizeof(float) * 2);
        nn_speaker_apply(sp, frames + t * D, frames + t * D);
        ready[t] = nn_stream_push(s, frames + t * D, want + t * K);
    }
    static struct rec a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pipeline *pa = make(16000, 1, PIPELINE_F32LE, &c, &a), *pb = make(16000, 1, PIPELINE_F32LE, &c, &b);
    pipeline_push(pa, x, n);
    for (size_t at = 0, k = 7; at < n; at += k, k = k * 5 % 1499 + 1)
        pipeline_push(pb, x + at, k < n - at ? k : n - at);
    CHECKF(a.n == T && b.n == T, "%d / %d hops published for %lld frames", a.n, b.n, (long long)T);
    double worst = 0;
    int compared = 0, same = 1;
    for (int i = 0; i < a.n && i < T; i++) {
        same &= !memcmp(a.raw[i], b.raw[i], sizeof(float) * (size_t)K);
        if (!ready[i]) continue;
        compared++;
        for (int k = 0; k < K; k++) worst = fmax(worst, fabs(a.raw[i][k] - want[i * K + k]));
    }
    fprintf(stderr, "  %s: %d hops against the batch front end, max |diff| %.2g\n",
            fp->denoise_db ? "pitch, suppressor on the log-mel" : "pitch", compared, worst);
    CHECKF(compared > 200 && worst == 0, "pipeline vs the model on batch bands + pitch: %.3g over %d hops",
           worst, compared);
    CHECKF(same, "another chunking gave other posteriors");
    /* The pitch matters: the same bands with the pitch one frame late give other posteriors. */
    nn_stream_reset(s);
    double moved = 0;
    float probs[PIPELINE_MAX_LABELS];
    for (int64_t t = 0; t < T; t++) {
        memcpy(frames + t * D, bands + t * M, sizeof(float) * (size_t)M);
        memcpy(frames + t * D + M, f0 + (t ? t - 1 : 0) * 2, sizeof(float) * 2);
        nn_speaker_apply(sp, frames + t * D, frames + t * D);
        if (nn_stream_push(s, frames + t * D, probs) == 1)
            for (int k = 0; k < K; k++) moved = fmax(moved, fabs(probs[k] - want[t * K + k]));
    }
    CHECKF(moved > 1e-6, "pitch a frame late changes nothing (%.3g): the test cannot see misalignment", moved);
    pipeline_free(pa);
    pipeline_free(pb);
    nn_stream_free(s);
    nn_speaker_free(sp);
    free(x);
    free(bands);
    free(f0);
    free(frames);
    free(want);
    free(ready);
}

static void no_allocation_per_hop(void)
{
    pipeline_config c;
    pipeline_config_default(&c);
    static struct rec a;
    memset(&a, 0, sizeof a);
    float *x = tone_bursts(44100 * 2, 44100, 2);
    pipeline *p = make(44100, 2, PIPELINE_F32LE, &c, &a);
    pipeline_push(p, x, 4410); /* warm-up */
    allocs = 0;
    counting = 1;
    for (size_t at = 4410; at + 441 <= 44100 * 2; at += 441) pipeline_push(p, x + 2 * at, 441);
    counting = 0;
    CHECKF(allocs == 0, "%ld allocations while pushing %d hops", allocs, a.hops);
    CHECK(a.hops > 150);
    pipeline_free(p);
    free(x);
}

/* model := tests/fixtures/NAME; 0, or -1 with the reason printed. */
static int load_fixture(const char *name)
{
    const char *src = getenv("EMOTIOND_SRC");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", src ? src : ".", name);
    if (nn_model_load_file(path, &model, err, sizeof err) < 0) {
        fprintf(stderr, "cannot load %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int main(void)
{
    if (load_fixture("tiny.emod") < 0) return 1;
    RUN(chunking_and_rate);
    RUN(s16_matches_f32);
    RUN(gate_off_is_the_model);
    RUN(silence_publishes_no_confident_emotion);
    RUN(bad_input_and_flush);
    if (COUNT_ALLOCS) RUN(no_allocation_per_hop);
    else fprintf(stderr, "skip no_allocation_per_hop (sanitizer build)\n");
    nn_model_free(model);

    if (load_fixture("tiny-speaker.emod") < 0) return 1;
    RUN(speaker_normaliser_removes_level);
    RUN(reload_keeps_the_voice);
    if (COUNT_ALLOCS) RUN(no_allocation_per_hop);
    nn_model_free(model);

    const char *pitch_models[] = {"tiny-pitch.emod", "tiny-pitch-dn.emod"};
    for (int i = 0; i < 2; i++) {
        if (load_fixture(pitch_models[i]) < 0) return 1;
        RUN(pitch_model_is_the_model);
        RUN(chunking_and_rate);
        if (COUNT_ALLOCS) RUN(no_allocation_per_hop);
        nn_model_free(model);
    }
    return check_failures != 0;
}
