/* Streaming runner: two staggered lanes over the shared model (DESIGN.md section 3).
 *
 * Lane 0 resets at frames 0, W, 2W, ...; lane 1 at s, s + W, ... with s the first multiple of the
 * time pool (2, or 4) from W/2 on (W = the model's window, itself a multiple of it). Each lane
 * therefore sees at most W frames from a reset, exactly like a training crop, and the published
 * lane (the older one) has seen between W - s + 1 and W frames. s a multiple of the time pool
 * puts both lanes' steps (every 2nd frame of each lane; LSTM steps every tpool-th) on the same
 * frames, where nn__lanes_step runs them together and streams each weight matrix once for both:
 * odd frames cost two conv-1 columns, even frames that plus one batched step. An ensemble runs
 * this pair of lanes once per member over the same frames and publishes the mean of the members'
 * older lanes.
 *
 * Shared trunk: the conv blocks see a few frames of causal context only, so once the younger
 * lane is TRUNK_SETTLE frames past its reset its conv features equal the older lane's (when the
 * input normalisation does not depend on the lane: every mode but "cumulative"). From then on
 * the younger lane borrows them (nn__lanes_step's borrower) and runs only its LSTM and readout;
 * just before the older lane resets, the borrower takes over the older lane's trunk state
 * (nn__lane_take_trunk) and runs its own conv blocks again. Outputs are those of two
 * independent lanes (parity tests); the conv work is one lane's about 90 % of the time. */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* Frames after a reset from which a lane's conv features no longer see the reset's zero padding.
 * With t counted from the reset: conv 1 at frame t is exact from t = 2; the 50 Hz step j pools
 * frames 2j, 2j+1, so exact from j = 1; conv 2 reaches 2 steps back: j >= 3. Time pool 2: conv 3
 * reaches 2 steps back again, j >= 5, i.e. frame 10. Time pool 4: step q pools 50 Hz steps 2q,
 * 2q+1 (exact from q = 2), conv 3 from q = 4, i.e. frame 16. Exact bounds: the parity tests fail
 * with one frame less for either time pool. */
#define TRUNK_SETTLE(m) ((m)->tpool == 4 ? 16 : 10)

struct nn_stream {
    const nn_model *m;
    int n_members;        /* nn_model_members(m) */
    int share;            /* the input normalisation is the same for both lanes */
    int borrow;           /* -1, or the lane (0 / 1) that borrows the other's conv features */
    int64_t start[2];     /* frame index at which each lane first runs */
    int64_t pushed;       /* frames since creation or reset */
    nn__lane lane[];      /* [n_members][2]: member j's lanes are 2j, 2j + 1 (same resets) */
};

static const nn_model *member(const nn_model *m, int j) { return j ? m->more[j - 1] : m; }

int nn_stream_new(const nn_model *m, nn_stream **out, char *err, size_t errlen)
{
    nn_stream *s;
    if (!m || !out)
        return nn__fail(err, errlen, NN_EINVAL, "nn_stream_new: model or out is NULL");
    *out = NULL;
    int nm = nn_model_members(m);
    if (!(s = calloc(1, sizeof *s + sizeof s->lane[0] * 2 * (size_t)nm)))
        return nn__fail(err, errlen, NN_ENOMEM, "out of memory for a stream");
    s->m = m;
    s->n_members = nm;
    s->share = m->cmvn != NN_CMVN_CUMULATIVE;
    s->borrow = -1;
    for (int i = 0; i < 2 * nm; i++)   /* 2 steps of scratch: the batched step uses lane 2j's */
        if (nn__lane_init(&s->lane[i], member(m, i / 2), 2) != 0) {
            nn_stream_free(s);
            return nn__fail(err, errlen, NN_ENOMEM, "out of memory for a stream's state");
        }
    int half = m->window / 2;
    s->start[0] = 0;
    s->start[1] = (half + m->tpool - 1) / m->tpool * m->tpool;
    *out = s;
    return 0;
}

void nn_stream_free(nn_stream *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2 * s->n_members; i++)
        nn__lane_free(&s->lane[i]);
    free(s);
}

void nn_stream_reset(nn_stream *s)
{
    for (int i = 0; i < 2 * s->n_members; i++)
        nn__lane_reset(&s->lane[i]);
    s->pushed = 0;
    s->borrow = -1;
}

int nn_stream_push(nn_stream *s, const float *frame, float *probs)
{
    const nn_model *m = s->m;
    int active[2];
    /* Resets and trunk sharing, decided on member 0's lanes (every member's are in step). */
    for (int i = 0; i < 2; i++) {
        active[i] = s->pushed >= s->start[i];
        if (!active[i] || s->lane[i].n != m->window)
            continue;
        if (s->borrow == 1 - i) {   /* the borrower keeps the trunk i is about to lose */
            for (int j = 0; j < s->n_members; j++)
                nn__lane_take_trunk(&s->lane[2 * j + 1 - i], &s->lane[2 * j + i]);
            s->borrow = -1;
        }
        for (int j = 0; j < s->n_members; j++)
            nn__lane_reset(&s->lane[2 * j + i]);
    }
    if (s->share && s->borrow < 0 && active[0] && active[1]) {
        int young = s->lane[0].n < s->lane[1].n ? 0 : 1;
        if (s->lane[young].n >= TRUNK_SETTLE(m))
            s->borrow = young;
    }
    for (int j = 0; j < s->n_members; j++) {
        nn__lane *step[2];
        int n_step = 0;
        for (int i = 0; i < 2; i++) {
            nn__lane *l = &s->lane[2 * j + i];
            if (!active[i])
                continue;
            if (i == s->borrow)
                l->n++;   /* its features come with the other lane's step */
            else if (nn__lane_front(l, frame))
                step[n_step++] = l;
        }
        if (n_step)
            nn__lanes_step(step, n_step, s->borrow >= 0 ? &s->lane[2 * j + s->borrow] : NULL);
    }
    s->pushed++;
    int older = !active[1] || s->lane[0].n > s->lane[1].n ? 0 : 1;
    if (s->lane[older].n < m->min_frames)
        return 0;
    const int K = m->n_labels;
    memcpy(probs, nn__lane_probs(&s->lane[older]), sizeof(float) * (size_t)K);
    if (s->n_members > 1) {
        for (int j = 1; j < s->n_members; j++) {
            const float *p = nn__lane_probs(&s->lane[2 * j + older]);
            for (int k = 0; k < K; k++)
                probs[k] += p[k];
        }
        for (int k = 0; k < K; k++)
            probs[k] /= (float)s->n_members;
    }
    return 1;
}
