/* capture: the microphone. A PortAudio input stream whose callback copies float32 samples into
 * a lock-free ring (ring.h) with the chunk's ADC timestamp and wakes the libuv loop with
 * uv_async_send; nothing else happens on the audio thread (no lock, no allocation, no wait).
 *
 * The stream is opened with one hop (rate/100 frames) per buffer and 40 ms suggested latency,
 * so the callback and the loop wake about once per hop (docs/daemon.md, "Capture stream").
 *
 * Device handling, all on the loop thread: the device is chosen by index, exact name or unique
 * case-insensitive substring of its name ("" = PortAudio's default input). When no device can be
 * opened at start, or the stream fails later (stream error, callbacks stop for 2 s or a new
 * stream's first one does not come within 5 s, PulseAudio restarted), the state callback reports it and a uv_timer retries with backoff 0.5 s doubling
 * to 10 s. Each retry re-initialises PortAudio (Pa_Terminate + Pa_Initialize): PortAudio only
 * scans devices at initialisation, so a device that appeared later is seen only this way. The
 * re-initialisation blocks the loop for the time ALSA takes to enumerate (tens of ms), only
 * while no device is running.
 *
 * Ownership: capture_new's object belongs to the caller; capture_close stops the stream and
 * closes the libuv handles, and calls done(user) from the loop once they are closed; only then
 * may the object's memory go (capture_close frees it itself right before calling done).
 */
#ifndef EMOTIOND_CAPTURE_H
#define EMOTIOND_CAPTURE_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "ring.h"

enum capture_state { CAPTURE_RUNNING = 0, CAPTURE_WAITING, CAPTURE_LOST, CAPTURE_REOPENING };

typedef struct capture_callbacks {
    /* Samples are in the ring (called on the loop; coalesced like uv_async). */
    void (*on_data)(void *user);
    /* State changes; msg is one line for logs (device name, PortAudio's error text). */
    void (*on_state)(void *user, int state, const char *msg);
} capture_callbacks;

typedef struct capture capture;

/* device: "" for the default input; rate 0 = the device's default rate, or 48 kHz (else another
 * whole multiple of model_rate) where that default is no whole multiple of model_rate and the
 * device takes it; channels 0 = the device's, at most 2. Initialises PortAudio (once per
 * process). Does not open the device yet: capture_start does. Returns 0 or -1 with err. */
int capture_new(uv_loop_t *loop, const char *device, double rate, int channels, double model_rate,
                const capture_callbacks *cb, void *user, capture **out, char *err, size_t errlen);
/* Opens the device now (or schedules retries); the state callback tells what happened. */
void capture_start(capture *c);
void capture_close(capture *c, void (*done)(void *user));

int capture_state(const capture *c);
/* While running: the ring to drain (valid until the next state change), the stream's rate and
 * channels, the device's name. */
ring *capture_ring(capture *c);
double capture_rate(const capture *c);
int capture_channels(const capture *c);
const char *capture_device_name(const capture *c);
/* Current time on the stream's clock (the clock of the ring's stamps); NaN if not running. */
double capture_now(const capture *c);
/* Audio lost: ring overruns plus chunks PortAudio flagged as overflowed, since capture_new. */
uint64_t capture_overrun_frames(const capture *c);
uint64_t capture_overrun_chunks(const capture *c);
/* Times the stream was (re)opened successfully. */
uint64_t capture_opens(const capture *c);

/* Prints PortAudio's input devices (index, name, host API, channels, default rate) to f.
 * Initialises and terminates PortAudio itself. Returns the number of input devices or -1. */
int capture_list_devices(FILE *f);

#endif
