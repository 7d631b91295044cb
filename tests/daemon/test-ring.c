/* ring: order, wrap-around, overrun policy, timestamps, and a two-thread stress test that
 * checks every sample the consumer reads is the next one the producer wrote (or the first of a
 * chunk after a counted drop). */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring.h"

static void basic(void)
{
    ring *r = ring_new(1000, 1);
    CHECK(r != NULL);
    CHECK(ring_capacity(r) == 1024);
    float in[700], out[1024];
    for (int i = 0; i < 700; i++) in[i] = (float)i;
    CHECK(ring_write(r, in, 700, 0.0) == 1);
    CHECK(ring_available(r) == 700);
    CHECK(ring_read(r, out, 500) == 500);
    for (int i = 0; i < 500; i++) CHECK(out[i] == (float)i);
    /* wraps around the end of the buffer */
    CHECK(ring_write(r, in, 700, 1.0) == 1);
    CHECK(ring_available(r) == 900);
    CHECK(ring_read(r, out, 1024) == 900);
    for (int i = 0; i < 200; i++) CHECK(out[i] == (float)(500 + i));
    for (int i = 0; i < 700; i++) CHECK(out[200 + i] == (float)i);
    CHECK(ring_read(r, out, 10) == 0);
    CHECK(ring_overrun_chunks(r) == 0);
    ring_free(r);
}

static void overrun_drops_newest_whole_chunk(void)
{
    ring *r = ring_new(64, 2);
    float in[40], out[64];
    for (int i = 0; i < 40; i++) in[i] = (float)i;
    CHECK(ring_write(r, in, 40, 0.0) == 1);
    CHECK(ring_write(r, in, 40, 0.0) == 0); /* 24 free: dropped whole */
    CHECK(ring_overrun_chunks(r) == 1);
    CHECK(ring_overrun_frames(r) == 20);
    CHECK(ring_available(r) == 40);
    /* reads whole frames only */
    CHECK(ring_read(r, out, 7) == 6);
    CHECK(ring_write(r, in, 24, 0.0) == 1); /* 64 - 34 = 30 free: fits */
    CHECK(ring_write(r, in, 8, 0.0) == 0);  /* 6 free */
    CHECK(ring_overrun_chunks(r) == 2);
    ring_free(r);
}

static void stamps(void)
{
    ring *r = ring_new(4096, 2);
    float in[200] = { 0 }, out[4096];
    /* chunks of 100 frames stamped at 10.0, 10.5 (a gap), 10.5 + 100/48000 */
    ring_write(r, in, 200, 10.0);
    ring_write(r, in, 200, 10.5);
    ring_write(r, in, 200, NAN);   /* unknown: extrapolated from the previous */
    ring_read(r, out, 4096);
    CHECK(fabs(ring_stamp_for(r, 0, 48000) - 10.0) < 1e-12);
    CHECK(fabs(ring_stamp_for(r, 50, 48000) - (10.0 + 50 / 48000.0)) < 1e-12);
    CHECK(fabs(ring_stamp_for(r, 100, 48000) - 10.5) < 1e-12);
    CHECK(fabs(ring_stamp_for(r, 250, 48000) - (10.5 + 150 / 48000.0)) < 1e-12);
    ring_reset(r);
    CHECK(isnan(ring_stamp_for(r, 0, 48000)));
    CHECK(ring_available(r) == 0);
    ring_free(r);
}

static void bad_args(void)
{
    CHECK(ring_new(0, 1) == NULL);
    CHECK(ring_new(16, 0) == NULL);
}

/* Two threads: the producer writes chunks of varying size carrying a running counter (and a
 * channel tag), the consumer reads in other sizes. Every frame read must be the counter's
 * next value, except right after a dropped chunk, where the counter jumps by exactly the
 * dropped frames (dropped chunks are whole and counted). */
#define STRESS_FRAMES 4000000
struct stress {
    ring *r;
    volatile int done;
    uint64_t dropped_frames; /* the producer's own count of what it saw dropped */
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    float chunk[2 * 257];
    uint32_t next = 0, seed = 12345;
    while (next < STRESS_FRAMES) {
        seed = seed * 1103515245u + 12345u;
        int n = 1 + (int)((seed >> 16) % 257);
        if (next + (uint32_t)n > STRESS_FRAMES) n = (int)(STRESS_FRAMES - next);
        for (int i = 0; i < n; i++) {
            chunk[2 * i] = (float)(next + (uint32_t)i); /* exact below 2^24 */
            chunk[2 * i + 1] = -1.0f;
        }
        /* Most chunks wait for room (a consumer keeping up); every 8th is pushed regardless,
         * so overruns happen too. */
        if ((seed >> 8) % 8 != 0)
            while (ring_capacity(s->r) - ring_available(s->r) < 2 * (size_t)n) sched_yield();
        if (!ring_write(s->r, chunk, 2 * (size_t)n, (double)next)) s->dropped_frames += (uint64_t)n;
        next += (uint32_t)n;
    }
    s->done = 1;
    return NULL;
}

static void stress_two_threads(void)
{
    struct stress s = { ring_new(4096, 2), 0, 0 };
    pthread_t th;
    pthread_create(&th, NULL, producer, &s);
    float buf[2 * 300];
    uint32_t expect = 0, seed = 99;
    uint64_t got = 0, jumps = 0, bad = 0;
    int64_t pos = 0;
    for (;;) {
        int finished = s.done;
        seed = seed * 1103515245u + 12345u;
        size_t want = 2 * (1 + (seed >> 16) % 300);
        size_t n = ring_read(s.r, buf, want);
        for (size_t i = 0; i < n; i += 2) {
            uint32_t v = (uint32_t)buf[i];
            if (buf[i + 1] != -1.0f) bad++;
            if (v != expect) {
                if (v < expect) bad++;
                else jumps += v - expect;
            }
            /* the stamp of this frame is its producer counter value */
            double st = ring_stamp_for(s.r, pos, 1.0);
            if (!(fabs(st - (double)v) < 0.5)) bad++;
            expect = v + 1;
            got++;
            pos++;
        }
        if (n == 0 && finished && ring_available(s.r) == 0) break;
    }
    pthread_join(th, NULL);
    CHECKF(bad == 0, "%llu frames out of order or corrupt", (unsigned long long)bad);
    CHECK(got + s.dropped_frames == STRESS_FRAMES);
    CHECK(jumps + (STRESS_FRAMES - expect) == s.dropped_frames);
    CHECK(ring_overrun_frames(s.r) == s.dropped_frames);
    fprintf(stderr, "  stress: %llu frames read, %llu dropped in %llu chunks\n",
            (unsigned long long)got, (unsigned long long)s.dropped_frames,
            (unsigned long long)ring_overrun_chunks(s.r));
    ring_free(s.r);
}

int main(void)
{
    RUN(basic);
    RUN(overrun_drops_newest_whole_chunk);
    RUN(stamps);
    RUN(bad_args);
    RUN(stress_two_threads);
    return check_failures != 0;
}
