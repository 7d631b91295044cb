/* ring: see ring.h. Indices grow without bound (uint64_t never wraps in practice) and are
 * masked on access, so full and empty are told apart without a spare slot. */
#include "ring.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define STAMP_CAP 1024u /* chunks of stamps held; > 3 s of 128-frame chunks at 48 kHz */

struct stamp {
    int64_t frame; /* absolute written-frame position of the chunk's first frame */
    double t;
};

struct ring {
    float *buf;          /* is malloc'd, cap floats */
    size_t cap, mask;
    int channels;
    /* Each index on its own cache line: the producer writes w, the consumer writes rd. */
    _Alignas(64) atomic_uint_fast64_t w;
    _Alignas(64) atomic_uint_fast64_t rd;
    _Alignas(64) atomic_uint_fast64_t over_frames;
    atomic_uint_fast64_t over_chunks;
    /* Timestamp side ring, same SPSC scheme (producer drops a stamp when it is full). */
    _Alignas(64) atomic_uint_fast64_t sw;
    _Alignas(64) atomic_uint_fast64_t sr;
    struct stamp stamps[STAMP_CAP];
    struct stamp cur;    /* consumer only: newest stamp at or before the last query */
    int have_cur;
};

ring *ring_new(size_t capacity_samples, int channels)
{
    if (channels < 1 || capacity_samples < (size_t)channels || capacity_samples > ((size_t)1 << 40))
        return NULL;
    size_t cap = 1;
    while (cap < capacity_samples) cap <<= 1;
    ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->buf = malloc(cap * sizeof(float));
    if (!r->buf) { free(r); return NULL; }
    r->cap = cap;
    r->mask = cap - 1;
    r->channels = channels;
    atomic_init(&r->w, 0);
    atomic_init(&r->rd, 0);
    atomic_init(&r->over_frames, 0);
    atomic_init(&r->over_chunks, 0);
    atomic_init(&r->sw, 0);
    atomic_init(&r->sr, 0);
    return r;
}

void ring_free(ring *r)
{
    if (!r) return;
    free(r->buf);
    free(r);
}

size_t ring_capacity(const ring *r) { return r->cap; }

int ring_write(ring *r, const float *x, size_t n, double stamp)
{
    n -= n % (size_t)r->channels;
    uint64_t w = atomic_load_explicit(&r->w, memory_order_relaxed);
    uint64_t rd = atomic_load_explicit(&r->rd, memory_order_acquire);
    if (n > r->cap - (size_t)(w - rd)) {
        atomic_fetch_add_explicit(&r->over_frames, n / (size_t)r->channels, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->over_chunks, 1, memory_order_relaxed);
        return 0;
    }
    if (n == 0) return 1;
    size_t at = (size_t)(w & r->mask);
    size_t first = r->cap - at < n ? r->cap - at : n;
    memcpy(r->buf + at, x, first * sizeof(float));
    if (n > first) memcpy(r->buf, x + first, (n - first) * sizeof(float));

    if (!isnan(stamp)) {
        uint64_t sw = atomic_load_explicit(&r->sw, memory_order_relaxed);
        uint64_t sr = atomic_load_explicit(&r->sr, memory_order_acquire);
        if (sw - sr < STAMP_CAP) {
            r->stamps[sw & (STAMP_CAP - 1)] =
                (struct stamp){ (int64_t)(w / (uint64_t)r->channels), stamp };
            atomic_store_explicit(&r->sw, sw + 1, memory_order_release);
        }
    }
    atomic_store_explicit(&r->w, w + n, memory_order_release);
    return 1;
}

size_t ring_available(const ring *r)
{
    uint64_t w = atomic_load_explicit(&r->w, memory_order_acquire);
    uint64_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    return (size_t)(w - rd);
}

size_t ring_read(ring *r, float *out, size_t max)
{
    uint64_t w = atomic_load_explicit(&r->w, memory_order_acquire);
    uint64_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    size_t n = (size_t)(w - rd);
    if (n > max) n = max;
    n -= n % (size_t)r->channels;
    if (n == 0) return 0;
    size_t at = (size_t)(rd & r->mask);
    size_t first = r->cap - at < n ? r->cap - at : n;
    memcpy(out, r->buf + at, first * sizeof(float));
    if (n > first) memcpy(out + first, r->buf, (n - first) * sizeof(float));
    atomic_store_explicit(&r->rd, rd + n, memory_order_release);
    return n;
}

double ring_stamp_for(ring *r, int64_t frame, double rate)
{
    uint64_t sw = atomic_load_explicit(&r->sw, memory_order_acquire);
    uint64_t sr = atomic_load_explicit(&r->sr, memory_order_relaxed);
    /* Pop every stamp at or before `frame`; the last one popped is the reference. */
    while (sr != sw && r->stamps[sr & (STAMP_CAP - 1)].frame <= frame) {
        r->cur = r->stamps[sr & (STAMP_CAP - 1)];
        r->have_cur = 1;
        sr++;
    }
    atomic_store_explicit(&r->sr, sr, memory_order_release);
    if (!r->have_cur || rate <= 0) return NAN;
    return r->cur.t + (double)(frame - r->cur.frame) / rate;
}

uint64_t ring_overrun_frames(const ring *r)
{
    return atomic_load_explicit(&r->over_frames, memory_order_relaxed);
}

uint64_t ring_overrun_chunks(const ring *r)
{
    return atomic_load_explicit(&r->over_chunks, memory_order_relaxed);
}

void ring_reset(ring *r)
{
    atomic_store_explicit(&r->w, 0, memory_order_relaxed);
    atomic_store_explicit(&r->rd, 0, memory_order_relaxed);
    atomic_store_explicit(&r->sw, 0, memory_order_relaxed);
    atomic_store_explicit(&r->sr, 0, memory_order_release);
    r->have_cur = 0;
}
