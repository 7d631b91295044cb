/* ring: lock-free single-producer / single-consumer ring of float samples.
 *
 * Promises: the producer (PortAudio's audio thread) and the consumer (the libuv loop) never
 * block, lock, allocate or call the kernel in ring_write / ring_read; the capacity is a power of
 * two fixed at ring_new. Publication uses C11 atomics: the producer stores its write index with
 * release after copying, the consumer loads it with acquire before reading (and symmetrically
 * for the read index), so the consumer always sees the samples it is told about.
 *
 * Overrun policy: a chunk that does not fit WHOLE is dropped whole and counted (frames and
 * chunks). The producer may not move the read index (that belongs to the consumer), so dropping
 * the incoming (newest) audio is the only choice that keeps the SPSC contract; the consumer is
 * the loop, and the gap it sees is reported through ring_overruns(). Dropping whole chunks
 * keeps channel interleaving intact (chunks are whole frames).
 *
 * Alongside the samples, the producer can record one timestamp per chunk (e.g. PortAudio's
 * inputBufferAdcTime of the chunk's first frame) in a small second ring; the consumer maps a
 * frame position back to its capture time with ring_stamp_for (latency measurement).
 */
#ifndef EMOTIOND_RING_H
#define EMOTIOND_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct ring ring;

/* capacity_samples is rounded up to a power of two; channels >= 1 (write/read sizes are in
 * samples but always whole frames). On success returns the ring (owner: caller, ring_free),
 * NULL on allocation failure or bad arguments. */
ring *ring_new(size_t capacity_samples, int channels);
void ring_free(ring *r);
size_t ring_capacity(const ring *r);

/* Producer: copies n samples (a multiple of channels) if they fit, else drops them and counts
 * the overrun. `stamp` is the capture time of the first frame of the chunk (any clock; NaN if
 * unknown). Returns 1 if written, 0 if dropped. */
int ring_write(ring *r, const float *x, size_t n, double stamp);

/* Consumer: copies up to max samples (rounded down to whole frames) into out; returns the
 * count. */
size_t ring_read(ring *r, float *out, size_t max);
/* Consumer: samples readable now. */
size_t ring_available(const ring *r);

/* Consumer: capture time of the frame at absolute frame position `frame` (frames read so far
 * count from 0 since ring_new or ring_reset; positions must not decrease between calls), extrapolated at `rate` Hz from the newest recorded chunk start
 * at or before it. Returns NaN when no stamp is known. */
double ring_stamp_for(ring *r, int64_t frame, double rate);

/* Overrun counters (any thread; relaxed reads). */
uint64_t ring_overrun_frames(const ring *r);
uint64_t ring_overrun_chunks(const ring *r);

/* Consumer side, when the producer is stopped (device reopened): forget everything. */
void ring_reset(ring *r);

#endif
