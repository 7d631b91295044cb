/* fanout: a ring of preallocated message slots read by any number of readers, each with its own
 * position; part of the server module (see server.h).
 *
 * Promises: all memory is allocated in fanout_new (n slots of headroom + max bytes; pages are
 * touched only as far as messages reach). Writing never waits for readers: the writer
 * overwrites the oldest slot, and a reader that was still behind it skips ahead on its next
 * read and counts what it lost, only of the kinds it reads (the slots carry running per-kind
 * counts, so this is O(1) and needs no list of readers). Each slot keeps `headroom` bytes in
 * front of the message for the transport (LWS_PRE for libwebsockets, which writes the frame
 * header there). Single thread; no I/O; no allocation after fanout_new.
 */
#ifndef EMOTIOND_FANOUT_H
#define EMOTIOND_FANOUT_H

#include <stddef.h>
#include <stdint.h>

/* Message kinds are bits (PROTO_STREAM_*); kind 0 is "always delivered" (hello, replies). */
#define FANOUT_KINDS 5 /* bit 0..3 plus the "always" kind */

typedef struct fanout fanout;

typedef struct fanout_reader {
    uint64_t pos;                   /* absolute index of the next message to read */
    uint64_t seen[FANOUT_KINDS];    /* per-kind messages written before pos */
    uint64_t dropped;               /* messages of the reader's kinds it lost */
} fanout_reader;

/* n_slots >= 1, max_msg >= 1. On success *out is owned by the caller (fanout_free). Returns 0 or
 * -1 (out of memory / bad arguments). */
int fanout_new(int n_slots, size_t max_msg, size_t headroom, fanout **out);
void fanout_free(fanout *f);
size_t fanout_max_msg(const fanout *f);

/* Zero-copy write: the buffer of the next slot (headroom bytes before it are free for the
 * transport) with room for fanout_max_msg bytes, then commit how much was written. */
char *fanout_buf(fanout *f);
/* kind: a PROTO_STREAM_* bit or 0. Returns 0, or -1 if len > max (nothing written). */
int fanout_commit(fanout *f, unsigned kind, size_t len);
/* Copying write. */
int fanout_put(fanout *f, unsigned kind, const char *msg, size_t len);

/* A reader that starts at the next message written. */
void fanout_reader_init(const fanout *f, fanout_reader *r);

/* The next message for r among `kinds` (bit set; kind 0 always matches), skipping others, or
 * NULL when r is up to date. Counts and skips what was overwritten first. The message stays
 * valid until the next write; *len is its length. Does not consume: call fanout_next. */
char *fanout_peek(const fanout *f, fanout_reader *r, unsigned kinds, size_t *len);
/* Consumes the message fanout_peek returned. */
void fanout_next(const fanout *f, fanout_reader *r);
/* What fanout_peek would count as dropped for r right now (r is not changed): lets stats
 * include a reader that has stopped reading altogether. */
uint64_t fanout_pending_drops(const fanout *f, const fanout_reader *r, unsigned kinds);
/* Messages written since start. */
uint64_t fanout_written(const fanout *f);

#endif
