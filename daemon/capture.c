/* capture: see capture.h. */
#include "capture.h"
#include "log.h"

#include <alsa/asoundlib.h>
#include <dlfcn.h>
#include <link.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <math.h>
#include <portaudio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RING_SECONDS 3.0
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define WATCH_MS 500
#define STALL_TICKS 4 /* callbacks silent for 2 s = the device is gone */
#define FIRST_TICKS 10 /* a new stream silent for 5 s = it failed (see on_watch) */
#define CAPTURE_LATENCY_S 0.040 /* suggested input latency (device buffer); see try_open */

struct capture {
    uv_loop_t *loop;
    uv_async_t async;        /* audio thread -> loop */
    uv_timer_t retry;        /* reopen with backoff */
    uv_timer_t watch;        /* stream health while running */
    int open_handles;
    capture_callbacks cb;
    void *user;
    void (*done)(void *user);
    int closing;

    char want_device[256];
    double want_rate;
    double model_rate; /* rate the samples are resampled to: a hint for choose_rate */
    int want_channels;

    int pa_ready;            /* Pa_Initialize succeeded and not yet terminated */
    PaStream *stream;        /* NULL unless running */
    ring *ring;              /* is malloc'd; replaced when a reopen needs another size */
    double rate;
    int channels;
    char name[256];
    int state;
    unsigned backoff_ms;
    uint64_t opens;

    /* written by the audio thread */
    atomic_uint_fast64_t callbacks;
    atomic_uint_fast64_t pa_overflows;
    atomic_ulong last_frames;  /* size of the latest callback's buffer */
    unsigned long frames_per_buffer;
    double latency_s;          /* PortAudio's input latency of the open stream */
    int logged_frames;
    uint64_t seen_callbacks;
    int stall;
    /* overruns of rings already replaced */
    uint64_t old_over_frames, old_over_chunks;
};

static void quiet_alsa(const char *file, int line, const char *fn, int err, const char *fmt, ...)
{
    /* ALSA's library prints enumeration noise (unknown PCMs of the default config) straight to
     * stderr; PortAudio's return codes carry what we need. */
    (void)file; (void)line; (void)fn; (void)err; (void)fmt;
}

/* PortAudio's JACK host API prints "jack server is not running" and more on stderr at every
 * Pa_Initialize when no JACK server runs (the normal case), which would flood the journal on
 * each reopen attempt. Only PortAudio's return codes matter to us, so fd 2 points at
 * /dev/null for the duration of the call (loop thread, at (re)open only). */
static PaError pa_quietly(PaError (*fn)(void))
{
    fflush(stderr);
    int saved = dup(2), nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && nul >= 0) dup2(nul, 2);
    PaError e = fn();
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
    }
    if (nul >= 0) close(nul);
    return e;
}

/* Each Pa_Initialize makes ALSA dlopen its plugins (a52, jack, pulse, ...), and Pa_Terminate
 * dlcloses them; several of their dependencies leak in their constructors (about 12 KB per
 * cycle, measured with valgrind), which a daemon retrying every 10 s on a machine without a
 * sound card would pay forever. Pinning every loaded object after the first initialisation
 * (RTLD_NODELETE) runs those constructors once per process. */
static int pin_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    if (info->dlpi_name && info->dlpi_name[0]) dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}

static PaError pa_init(void)
{
    PaError e = pa_quietly(Pa_Initialize);
    if (e == paNoError) dl_iterate_phdr(pin_object, NULL);
    return e;
}

static int pa_callback(const void *input, void *output, unsigned long frames,
                       const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user)
{
    capture *c = user;
    (void)output;
    if (input) {
        double st = NAN;
        if (ti) st = ti->inputBufferAdcTime != 0 ? ti->inputBufferAdcTime
                   : ti->currentTime != 0 ? ti->currentTime : NAN;
        ring_write(c->ring, input, (size_t)frames * (size_t)c->channels, st);
    }
    atomic_store_explicit(&c->last_frames, frames, memory_order_relaxed);
    if (flags & paInputOverflow) atomic_fetch_add_explicit(&c->pa_overflows, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->callbacks, 1, memory_order_relaxed);
    /* Every callback wakes the loop (uv_async_send coalesces if it is already awake); the
     * stream is opened with one hop of frames per buffer (try_open), so that is once per hop. */
    uv_async_send(&c->async);
    return paContinue;
}

static void set_state(capture *c, int state, const char *msg)
{
    c->state = state;
    if (c->cb.on_state) c->cb.on_state(c->user, state, msg);
}

static void pa_down(capture *c)
{
    if (c->stream) {
        Pa_AbortStream(c->stream);
        Pa_CloseStream(c->stream);
        c->stream = NULL;
    }
    if (c->pa_ready) {
        pa_quietly(Pa_Terminate);
        c->pa_ready = 0;
    }
}

/* Index, exact name, or unique case-insensitive substring among input devices. */
static int find_device(const char *want, char *err, size_t errlen)
{
    int n = Pa_GetDeviceCount();
    if (n < 0) {
        snprintf(err, errlen, "PortAudio: %s", Pa_GetErrorText(n));
        return -1;
    }
    if (want[0] == '\0') {
        int d = Pa_GetDefaultInputDevice();
        if (d == paNoDevice) snprintf(err, errlen, "no default input device (%d devices seen)", n);
        return d == paNoDevice ? -1 : d;
    }
    char *end;
    long idx = strtol(want, &end, 10);
    if (*want && *end == '\0') {
        if (idx < 0 || idx >= n) {
            snprintf(err, errlen, "device index %ld does not exist (%d devices; see --list-devices)", idx, n);
            return -1;
        }
        const PaDeviceInfo *di = Pa_GetDeviceInfo((int)idx);
        if (!di || di->maxInputChannels < 1) {
            snprintf(err, errlen, "device %ld is not an input device", idx);
            return -1;
        }
        return (int)idx;
    }
    int found = -1, matches = 0;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *di = Pa_GetDeviceInfo(i);
        if (di && di->maxInputChannels > 0 && !strcmp(di->name, want)) return i;
    }
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *di = Pa_GetDeviceInfo(i);
        if (di && di->maxInputChannels > 0 && strcasestr(di->name, want)) {
            found = i;
            matches++;
        }
    }
    if (matches == 1) return found;
    if (matches == 0)
        snprintf(err, errlen, "no input device named '%s' (see --list-devices)", want);
    else
        snprintf(err, errlen, "'%s' matches %d input devices; give the exact name or index", want, matches);
    return -1;
}

/* The capture rate when none is asked: the device's default, unless that is not a whole multiple
 * of the model's rate and the device takes one that is (48 kHz first). A whole ratio is the
 * cheaper resampling for soxr (3:1 from 48 kHz), and 48 kHz is the native rate of most hardware,
 * of ALSA's dsnoop and of PipeWire, where a 44.1 kHz request is converted on the way (by
 * alsa-lib's `plug`, linearly, on a plain dsnoop). PortAudio reports 44.1 kHz for ALSA's plugin
 * devices (`default`, `pulse`). Measured on a PulseAudio null sink at 48 kHz: the daemon 2.00
 * against 2.15 % of a core, the server's share and the latency unchanged (BENCHMARKS.md
 * "Microphone capture cost"). A server running at 44.1 kHz now converts instead of us. */
static double choose_rate(const capture *c, int dev, const PaDeviceInfo *di, int ch)
{
    static const double preferred[] = { 48000, 96000, 44100, 88200 };
    double def = di->defaultSampleRate;
    if (c->want_rate > 0) return c->want_rate;
    if (!(c->model_rate > 0) || !(def > 0) || fmod(def, c->model_rate) == 0) return def;
    PaStreamParameters ip = { dev, ch, paFloat32, di->defaultLowInputLatency, NULL };
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        if (fmod(preferred[i], c->model_rate) != 0) continue;
        if (Pa_IsFormatSupported(&ip, NULL, preferred[i]) == paFormatIsSupported) return preferred[i];
    }
    return def;
}

static int try_open(capture *c, char *err, size_t errlen)
{
    PaError pe;
    if (!c->pa_ready) {
        if ((pe = pa_init()) != paNoError) {
            snprintf(err, errlen, "PortAudio initialisation: %s", Pa_GetErrorText(pe));
            return -1;
        }
        c->pa_ready = 1;
    }
    int dev = find_device(c->want_device, err, errlen);
    if (dev < 0) goto fail;
    const PaDeviceInfo *di = Pa_GetDeviceInfo(dev);
    int ch = c->want_channels ? c->want_channels : (di->maxInputChannels < 2 ? 1 : 2);
    if (ch > di->maxInputChannels) {
        snprintf(err, errlen, "device '%s' has %d input channels, %d asked", di->name, di->maxInputChannels, ch);
        goto fail;
    }
    double rate = choose_rate(c, dev, di, ch);
    if (!(rate >= 8000 && rate <= 192000)) {
        snprintf(err, errlen, "device '%s' reports rate %g Hz; give --mic-rate", di->name, rate);
        goto fail;
    }
    size_t need = (size_t)(RING_SECONDS * rate) * (size_t)ch;
    if (!c->ring || ring_capacity(c->ring) < need || c->channels != ch) {
        if (c->ring) {
            c->old_over_frames += ring_overrun_frames(c->ring);
            c->old_over_chunks += ring_overrun_chunks(c->ring);
            ring_free(c->ring);
        }
        c->ring = ring_new(need, ch);
        if (!c->ring) {
            snprintf(err, errlen, "out of memory for the capture ring");
            goto fail;
        }
    } else {
        ring_reset(c->ring);
    }
    c->channels = ch;
    c->rate = rate;
    /* One hop of device frames per buffer and a 40 ms device buffer. Left unspecified,
     * PortAudio asks ALSA's pulse plugin for its lowest latency (8.7 ms) and the callback runs
     * every ~2 ms with a few frames: 2400 context switches/s, 4.9 % of a core with the
     * PulseAudio server's 2.9 % on top. With 10 ms periods in a 40 ms buffer: 340/s, 1.9 % and
     * 1.0 %; the loop still gets every hop as soon as its audio is in, and the median
     * capture-to-publish latency fell (27.6 -> 23.2 ms; BENCHMARKS.md "Daemon"). The
     * buffer is headroom, not delay: a period is handed over as soon as it is full. */
    double lat = di->defaultLowInputLatency > CAPTURE_LATENCY_S ? di->defaultLowInputLatency
                                                                : CAPTURE_LATENCY_S;
    unsigned long fpb = (unsigned long)lround(rate / 100);
    PaStreamParameters ip = { dev, ch, paFloat32, lat, NULL };
    pe = Pa_OpenStream(&c->stream, &ip, NULL, rate, fpb, paNoFlag, pa_callback, c);
    if (pe != paNoError) {
        c->stream = NULL;
        snprintf(err, errlen, "cannot open '%s' at %g Hz x %d: %s", di->name, rate, ch, Pa_GetErrorText(pe));
        goto fail;
    }
    if ((pe = Pa_StartStream(c->stream)) != paNoError) {
        snprintf(err, errlen, "cannot start '%s': %s", di->name, Pa_GetErrorText(pe));
        goto fail;
    }
    snprintf(c->name, sizeof c->name, "%s", di->name);
    const PaStreamInfo *si = Pa_GetStreamInfo(c->stream);
    c->frames_per_buffer = fpb;
    c->latency_s = si ? si->inputLatency : lat;
    c->logged_frames = 0;
    return 0;
fail:
    pa_down(c);
    return -1;
}

static void on_retry(uv_timer_t *t);

static void schedule_retry(capture *c)
{
    if (c->closing) return;
    uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
}

static void on_watch(uv_timer_t *t);

static void attempt(capture *c)
{
    char err[512], msg[600];
    if (c->state != CAPTURE_WAITING || c->opens > 0) set_state(c, CAPTURE_REOPENING, "reopening the input device");
    if (try_open(c, err, sizeof err) == 0) {
        c->opens++;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->seen_callbacks = atomic_load(&c->callbacks);
        c->stall = 0;
        uv_timer_start(&c->watch, on_watch, WATCH_MS, WATCH_MS);
        snprintf(msg, sizeof msg, "capturing from '%s' at %g Hz, %d channel%s, %lu-frame buffers, "
                 "%.0f ms input latency", c->name, c->rate, c->channels, c->channels > 1 ? "s" : "",
                 c->frames_per_buffer, c->latency_s * 1e3);
        set_state(c, CAPTURE_RUNNING, msg);
        return;
    }
    snprintf(msg, sizeof msg, "%s; retrying in %.1f s", err, c->backoff_ms / 1000.0);
    set_state(c, c->opens ? CAPTURE_LOST : CAPTURE_WAITING, msg);
    schedule_retry(c);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void on_retry(uv_timer_t *t)
{
    attempt(t->data);
}

static void lost(capture *c, const char *why)
{
    char msg[600];
    uv_timer_stop(&c->watch);
    pa_down(c);
    c->backoff_ms = BACKOFF_MIN_MS;
    snprintf(msg, sizeof msg, "input device '%s' lost: %s; reopening in %.1f s", c->name, why,
             c->backoff_ms / 1000.0);
    set_state(c, CAPTURE_LOST, msg);
    schedule_retry(c);
}

static void on_watch(uv_timer_t *t)
{
    capture *c = t->data;
    if (!c->stream) return;
    PaError a = Pa_IsStreamActive(c->stream);
    if (a != 1) {
        lost(c, a < 0 ? Pa_GetErrorText(a) : "the stream stopped");
        return;
    }
    uint64_t n = atomic_load_explicit(&c->callbacks, memory_order_relaxed);
    if (!c->logged_frames && n > c->seen_callbacks) {
        /* PortAudio's ALSA host API may deliver other sizes than asked (a plugin that refuses
         * the period size); that would bring back the wake-up cost, so say it (once per open). */
        unsigned long got = atomic_load_explicit(&c->last_frames, memory_order_relaxed);
        c->logged_frames = 1;
        log_msg(got == c->frames_per_buffer ? LOG_INFO : LOG_WARNING,
                "PortAudio delivers %lu-frame buffers (%lu asked)", got, c->frames_per_buffer);
    }
    if (n == c->seen_callbacks) {
        /* logged_frames is still 0 when no callback came since the open: with the 40 ms buffer
         * ALSA's pulse plugin hands over its first audio 1-2.5 s after the open (then the
         * backlog at once, nothing lost), so 2 s of silence called about 1 start in 3 "lost";
         * a new stream gets 5 s (with 30 ms the first audio comes at once, but the plugin
         * wakes twice as often: 3.1 % of a core instead of 2.1 %). */
        if (++c->stall >= (c->logged_frames ? STALL_TICKS : FIRST_TICKS))
            lost(c, c->logged_frames ? "no audio for 2 s" : "no audio within 5 s of opening");
    } else {
        c->stall = 0;
        c->seen_callbacks = n;
    }
}

static void on_async(uv_async_t *a)
{
    capture *c = a->data;
    if (c->stream && c->cb.on_data) c->cb.on_data(c->user);
}

int capture_new(uv_loop_t *loop, const char *device, double rate, int channels, double model_rate,
                const capture_callbacks *cb, void *user, capture **out, char *err, size_t errlen)
{
    *out = NULL;
    capture *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snd_lib_error_set_handler(quiet_alsa);
    c->loop = loop;
    c->cb = *cb;
    c->user = user;
    snprintf(c->want_device, sizeof c->want_device, "%s", device ? device : "");
    c->want_rate = rate;
    c->model_rate = model_rate;
    c->want_channels = channels;
    c->state = CAPTURE_WAITING;
    c->backoff_ms = BACKOFF_MIN_MS;
    atomic_init(&c->callbacks, 0);
    atomic_init(&c->pa_overflows, 0);
    atomic_init(&c->last_frames, 0);
    if (uv_async_init(loop, &c->async, on_async) < 0) {
        snprintf(err, errlen, "uv_async_init failed");
        free(c);
        return -1;
    }
    uv_timer_init(loop, &c->retry);
    uv_timer_init(loop, &c->watch);
    c->async.data = c->retry.data = c->watch.data = c;
    *out = c;
    return 0;
}

void capture_start(capture *c)
{
    attempt(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    capture *c = h->data;
    if (--c->open_handles > 0) return;
    void (*done)(void *) = c->done;
    void *user = c->user;
    ring_free(c->ring);
    free(c);
    if (done) done(user);
}

void capture_close(capture *c, void (*done)(void *user))
{
    c->closing = 1;
    c->done = done;
    pa_down(c); /* joins the audio thread: no callback runs after this */
    c->open_handles = 3;
    uv_close((uv_handle_t *)&c->async, on_handle_closed);
    uv_close((uv_handle_t *)&c->retry, on_handle_closed);
    uv_close((uv_handle_t *)&c->watch, on_handle_closed);
}

int capture_state(const capture *c) { return c->state; }
ring *capture_ring(capture *c) { return c->ring; }
double capture_rate(const capture *c) { return c->rate; }
int capture_channels(const capture *c) { return c->channels; }
const char *capture_device_name(const capture *c) { return c->name[0] ? c->name : c->want_device; }
uint64_t capture_opens(const capture *c) { return c->opens; }

double capture_now(const capture *c)
{
    return c->stream ? Pa_GetStreamTime(c->stream) : NAN;
}

uint64_t capture_overrun_frames(const capture *c)
{
    return c->old_over_frames + (c->ring ? ring_overrun_frames(c->ring) : 0);
}

uint64_t capture_overrun_chunks(const capture *c)
{
    return c->old_over_chunks + (c->ring ? ring_overrun_chunks(c->ring) : 0) +
           atomic_load_explicit(&c->pa_overflows, memory_order_relaxed);
}

int capture_list_devices(FILE *f)
{
    snd_lib_error_set_handler(quiet_alsa);
    PaError pe = pa_quietly(Pa_Initialize);
    if (pe != paNoError) {
        fprintf(stderr, "<3>PortAudio initialisation: %s\n", Pa_GetErrorText(pe));
        return -1;
    }
    int n = Pa_GetDeviceCount(), inputs = 0, def = Pa_GetDefaultInputDevice();
    fprintf(f, "%-5s %-50s %-12s %8s %10s\n", "index", "name", "host API", "channels", "rate");
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *di = Pa_GetDeviceInfo(i);
        if (!di || di->maxInputChannels < 1) continue;
        const PaHostApiInfo *hi = Pa_GetHostApiInfo(di->hostApi);
        fprintf(f, "%-5d %-50s %-12s %8d %10.0f%s\n", i, di->name, hi ? hi->name : "?",
                di->maxInputChannels, di->defaultSampleRate, i == def ? "  (default)" : "");
        inputs++;
    }
    if (inputs == 0) fprintf(f, "(no input devices)\n");
    pa_quietly(Pa_Terminate);
    return inputs;
}
