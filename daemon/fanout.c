/* fanout: ring of preallocated message slots, one position per reader (see fanout.h). */
#include "fanout.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    size_t len;
    int kind;                        /* index 0..FANOUT_KINDS-1 */
    uint64_t before[FANOUT_KINDS];   /* per-kind messages written before this one */
} slot;

struct fanout {
    int n;
    size_t max_msg, headroom, stride;
    uint64_t head;                   /* messages written */
    uint64_t total[FANOUT_KINDS];    /* per kind */
    slot *meta;                      /* n; is malloc'd */
    char *mem;                       /* n * stride; is malloc'd */
};

/* PROTO_STREAM_* bit -> 0..3, kind 0 ("always") -> 4; anything else -1. */
static int kind_index(unsigned kind)
{
    switch (kind) {
    case 0: return 4;
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    default: return -1;
    }
}

static int matches(int idx, unsigned kinds) { return idx == 4 || (kinds >> idx & 1u); }

int fanout_new(int n_slots, size_t max_msg, size_t headroom, fanout **out)
{
    *out = NULL;
    if (n_slots < 1 || max_msg < 1 || max_msg > ((size_t)1 << 30))
        return -1;
    fanout *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->n = n_slots;
    f->max_msg = max_msg;
    f->headroom = headroom;
    f->stride = (headroom + max_msg + 15) & ~(size_t)15;
    f->meta = calloc((size_t)n_slots, sizeof *f->meta);
    /* malloc, not calloc: the kernel maps pages on first touch, so a large max_msg costs
     * address space, and resident memory only as far as messages actually reach. */
    f->mem = malloc((size_t)n_slots * f->stride);
    if (!f->meta || !f->mem) {
        fanout_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void fanout_free(fanout *f)
{
    if (!f)
        return;
    free(f->meta);
    free(f->mem);
    free(f);
}

size_t fanout_max_msg(const fanout *f) { return f->max_msg; }
uint64_t fanout_written(const fanout *f) { return f->head; }

char *fanout_buf(fanout *f) { return f->mem + (size_t)(f->head % (uint64_t)f->n) * f->stride + f->headroom; }

int fanout_commit(fanout *f, unsigned kind, size_t len)
{
    int idx = kind_index(kind);
    if (idx < 0 || len > f->max_msg)
        return -1;
    slot *s = &f->meta[f->head % (uint64_t)f->n];
    s->len = len;
    s->kind = idx;
    memcpy(s->before, f->total, sizeof s->before);
    f->total[idx]++;
    f->head++;
    return 0;
}

int fanout_put(fanout *f, unsigned kind, const char *msg, size_t len)
{
    if (kind_index(kind) < 0 || len > f->max_msg)
        return -1;
    memcpy(fanout_buf(f), msg, len);
    return fanout_commit(f, kind, len);
}

void fanout_reader_init(const fanout *f, fanout_reader *r)
{
    r->pos = f->head;
    memcpy(r->seen, f->total, sizeof r->seen);
    r->dropped = 0;
}

char *fanout_peek(const fanout *f, fanout_reader *r, unsigned kinds, size_t *len)
{
    uint64_t n = (uint64_t)f->n;
    if (f->head > n && r->pos < f->head - n) {
        /* lapped: jump to the oldest slot still there and count what was lost on the way */
        uint64_t oldest = f->head - n;
        const slot *s = &f->meta[oldest % n];
        for (int k = 0; k < FANOUT_KINDS; k++)
            if (matches(k, kinds))
                r->dropped += s->before[k] - r->seen[k];
        memcpy(r->seen, s->before, sizeof r->seen);
        r->pos = oldest;
    }
    while (r->pos < f->head) {
        const slot *s = &f->meta[r->pos % n];
        if (matches(s->kind, kinds)) {
            *len = s->len;
            return f->mem + (size_t)(r->pos % n) * f->stride + f->headroom;
        }
        r->seen[s->kind]++;
        r->pos++;
    }
    return NULL;
}

void fanout_next(const fanout *f, fanout_reader *r)
{
    if (r->pos >= f->head)
        return;
    r->seen[f->meta[r->pos % (uint64_t)f->n].kind]++;
    r->pos++;
}

uint64_t fanout_pending_drops(const fanout *f, const fanout_reader *r, unsigned kinds)
{
    uint64_t n = (uint64_t)f->n, lost = 0;
    if (f->head > n && r->pos < f->head - n) {
        const slot *s = &f->meta[(f->head - n) % n];
        for (int k = 0; k < FANOUT_KINDS; k++)
            if (matches(k, kinds))
                lost += s->before[k] - r->seen[k];
    }
    return lost;
}
