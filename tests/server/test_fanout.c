/* Unit test of daemon/fanout.c: the broadcast ring. Readers see messages in order, filtered by
 * kind; a reader lapped by the writer resumes at the oldest slot and counts exactly the lost
 * messages of its own kinds; headroom in front of each message is writable; nothing changes
 * for readers that keep up. */
#include "fanout.h"

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

enum { P = 1, E = 2, S = 4, F = 8 }; /* PROTO_STREAM_* bits */

static void put(fanout *f, unsigned kind, int i)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%u:%d", kind, i);
    CHECK(fanout_put(f, kind, b, (size_t)n) == 0);
}

/* Next message's number for r, or -1. */
static int next(fanout *f, fanout_reader *r, unsigned kinds, unsigned *kind)
{
    size_t len;
    char *m = fanout_peek(f, r, kinds, &len);
    if (!m)
        return -1;
    char t[32];
    memcpy(t, m, len);
    t[len] = '\0';
    int i;
    sscanf(t, "%u:%d", kind, &i);
    fanout_next(f, r);
    return i;
}

int main(void)
{
    fanout *f;
    CHECK(fanout_new(0, 10, 0, &f) == -1 && f == NULL);
    CHECK(fanout_new(4, 0, 0, &f) == -1);
    CHECK(fanout_new(8, 64, 16, &f) == 0);
    CHECK(fanout_max_msg(f) == 64);

    /* a reader starts at the next message; order and kind filtering */
    fanout_reader a, b;
    put(f, P, 0); /* before the readers: not seen */
    fanout_reader_init(f, &a);
    fanout_reader_init(f, &b);
    put(f, P, 1);
    put(f, F, 2);
    put(f, 0, 3); /* kind 0: everyone */
    put(f, P, 4);
    unsigned k;
    CHECK(next(f, &a, P, &k) == 1 && k == P);
    CHECK(next(f, &a, P, &k) == 3 && k == 0);
    CHECK(next(f, &a, P, &k) == 4);
    CHECK(next(f, &a, P, &k) == -1);
    CHECK(next(f, &b, P | F, &k) == 1);
    CHECK(next(f, &b, P | F, &k) == 2 && k == F);
    CHECK(a.dropped == 0 && b.dropped == 0);

    /* oversize and bad kinds are refused without writing */
    char big[65] = {0};
    uint64_t w = fanout_written(f);
    CHECK(fanout_put(f, P, big, 65) == -1);
    CHECK(fanout_put(f, 3, "x", 1) == -1);
    CHECK(fanout_commit(f, 16, 1) == -1);
    CHECK(fanout_written(f) == w);

    /* zero-copy write with headroom the transport may scribble on */
    char *buf = fanout_buf(f);
    memset(buf - 16, 0xAA, 16);
    memcpy(buf, "1:5", 3);
    CHECK(fanout_commit(f, P, 3) == 0);
    CHECK(next(f, &a, P, &k) == 5);

    /* lapping: a keeps up, b stalls; 20 more messages over 8 slots, half of them frames */
    for (int i = 6; i < 26; i++) {
        put(f, i % 2 ? F : P, i);
        CHECK(next(f, &a, P, &k) == (i % 2 ? -1 : i));
    }
    CHECK(a.dropped == 0);
    /* b (P|F) was at message "0:3" (kind 0), 23 messages behind; the ring holds the last 8 */
    CHECK(fanout_pending_drops(f, &b, P | F) == 15);
    int first = next(f, &b, P | F, &k);
    CHECK(first == 18); /* oldest still in the ring */
    CHECK(b.dropped == 15); /* 3, 4, 5 and 6..17 */
    int prev = first, count = 1;
    while ((first = next(f, &b, P | F, &k)) >= 0) {
        CHECK(first == prev + 1);
        prev = first;
        count++;
    }
    CHECK(count == 8 && prev == 25);
    CHECK(fanout_pending_drops(f, &b, P | F) == 0);

    /* per-kind counting: a posteriors-only reader lapped by mostly frames loses only the
     * posteriors it missed */
    fanout_reader c;
    fanout_reader_init(f, &c);
    for (int i = 0; i < 30; i++)
        put(f, i % 5 == 0 ? P : F, 100 + i); /* 6 posteriors, 24 frames */
    /* ring holds 122..129: posteriors among them: 125; lost posteriors: 100,105,110,115,120 */
    CHECK(fanout_pending_drops(f, &c, P) == 5);
    CHECK(next(f, &c, P, &k) == 125 && c.dropped == 5);
    CHECK(next(f, &c, P, &k) == -1);
    fanout_free(f);
    fanout_free(NULL);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("fanout: all checks passed\n");
    return 0;
}
