/* A lane: the network run incrementally from a reset. Both runners are built on it: the offline
 * runner pushes blocks of frames (GEMMs over many steps), the streaming runner one frame at a
 * time with both lanes' 50 Hz steps batched (nn__lanes_step). Same arithmetic either way up to
 * summation order. */
#include "nn_layers.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }   /* floats -> 64-byte multiple */
static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

int nn__lane_init(nn__lane *l, const nn_model *m, int max_steps)
{
    memset(l, 0, sizeof *l);
    l->m = m;
    l->max_steps = max_steps;
    const size_t S = (size_t)max_steps, NF = 2 * S, M = (size_t)m->n_mels, P = (size_t)m->prosody;
    const size_t H = (size_t)(m->hidden ? m->hidden : 1), L = (size_t)(m->layers ? m->layers : 1);
    const size_t patch = S * maxz((size_t)m->p1 * 9 * m->c1, (size_t)m->p2 * 9 * m->c2);
    const size_t gemm = S * maxz((size_t)m->p1 * m->c2p, (size_t)m->p2 * m->c3p);
    size_t sizes[] = {
        up16((2 + NF) * (M + 2 + P)),                     /* z */
        up16(P),                                          /* pitch_sum */
        up16((1 + NF) * (size_t)m->f1 * m->c1),           /* y1 */
        up16((2 + S) * (size_t)(m->p1 + 2) * m->c1),      /* a1 */
        up16((2 + S) * (size_t)(m->p2 + 2) * m->c2),      /* a2 */
        up16(m->tpool == 4 ? (1 + S) * (size_t)(m->p2 + 2) * m->c2 : 0),   /* b2: time pool 4 only */
        up16(S * (size_t)m->feat_dim),                    /* feat */
        up16(patch),                                      /* patch */
        up16(gemm),                                       /* gemm */
        up16(S * (size_t)(m->gp ? m->gp : 1)),            /* gates */
        up16(S * maxz(H, (size_t)m->feat_dim)),           /* seq */
        up16(L * H),                                      /* h */
        up16(L * H),                                      /* c */
        up16((size_t)m->seq_dim),                         /* pool_num */
        up16((size_t)m->seq_dim),                         /* pooled */
        up16((size_t)m->densep),                          /* dense_tmp */
        up16((size_t)m->n_labels),                        /* probs */
    };
    size_t floats = 0, nsz = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < nsz; i++)
        floats += sizes[i];
    size_t bytes = floats * sizeof(float) + 2 * up16(2 * M) * sizeof(float); /* + s1, s2 doubles */
    if (posix_memalign(&l->block, 64, bytes) != 0) {
        l->block = NULL;
        return NN_ENOMEM;
    }
    memset(l->block, 0, bytes);
    float *p = l->block;
    float **dst[] = {&l->z, &l->pitch_sum, &l->y1, &l->a1, &l->a2, &l->b2, &l->feat, &l->patch,
                     &l->gemm, &l->gates, &l->seq, &l->h, &l->c, &l->pool_num, &l->pooled,
                     &l->dense_tmp, &l->probs};
    for (size_t i = 0; i < nsz; i++) {
        *dst[i] = p;
        p += sizes[i];
    }
    l->s1 = (double *)p;
    l->s2 = l->s1 + up16(2 * M) / 2;
    nn__lane_reset(l);
    return 0;
}

void nn__lane_free(nn__lane *l)
{
    free(l->block);
    l->block = NULL;
}

void nn__lane_reset(nn__lane *l)
{
    const nn_model *m = l->m;
    const size_t M = (size_t)m->n_mels, L = (size_t)(m->layers ? m->layers : 1);
    const size_t H = (size_t)(m->hidden ? m->hidden : 1), zw = M + 2 + (size_t)m->prosody;
    l->n = 0;
    l->steps = 0;
    l->b2_pending = 0;
    memset(l->s1, 0, sizeof(double) * M);
    memset(l->s2, 0, sizeof(double) * M);
    /* zero context = the causal zero padding at a lane's start */
    memset(l->z, 0, sizeof(float) * 2 * zw);
    memset(l->pitch_sum, 0, sizeof(float) * (size_t)m->prosody);
    memset(l->a1, 0, sizeof(float) * 2 * (size_t)(m->p1 + 2) * m->c1);
    memset(l->a2, 0, sizeof(float) * 2 * (size_t)(m->p2 + 2) * m->c2);
    memset(l->h, 0, sizeof(float) * L * H);
    memset(l->c, 0, sizeof(float) * L * H);
    l->att_max = 0;
    l->att_den = 0;
}

/* The prosody columns of one frame: z-scored into the row after the bands' padding and summed
 * into the step's total; when the frame completes an LSTM step, the step's mean goes after the
 * conv features of feat row `step` (model.py: the mean over the step's time_pool frames). */
static void prosody(nn__lane *l, const float *x, float *row, int step)
{
    const nn_model *m = l->m;
    const int M = m->n_mels;
    for (int j = 0; j < m->prosody; j++) {
        row[j] = (x[M + j] - m->norm_mean[M + j]) / m->norm_std[M + j];
        l->pitch_sum[j] += row[j];
    }
    if (l->n % m->tpool)
        return;
    float *dst = l->feat + (size_t)step * m->feat_dim + (m->feat_dim - m->prosody);
    for (int j = 0; j < m->prosody; j++) {
        dst[j] = l->pitch_sum[j] / (float)m->tpool;
        l->pitch_sum[j] = 0;
    }
}

/* Input normalisation, conv block 1 and the time pool for n frames ([n][in_dim]); returns the
 * number of completed 50 Hz steps, whose block-2 input columns are then at a1[2 ..]. */
static int front(nn__lane *l, const float *frames, int n)
{
    const nn_model *m = l->m;
    const size_t M = (size_t)m->n_mels, D = (size_t)m->in_dim, zw = M + 2 + (size_t)m->prosody;
    const size_t y1w = (size_t)m->f1 * m->c1, a1w = (size_t)(m->p1 + 2) * m->c1;
    const int pending = (int)(l->n & 1);   /* conv1 frame waiting in y1 row 0 for its pair */
    int lstm_steps = 0;

    for (int i = 0; i < n; i++) {
        float *row = l->z + (2 + (size_t)i) * zw;
        row[0] = row[M + 1] = 0;
        l->n++;
        nn__k_normalise(frames + (size_t)i * D, m->n_mels, m->cmvn == NN_CMVN_CUMULATIVE, m->cmvn_eps,
                        l->s1, l->s2, l->n, m->norm_mean, m->norm_std, row + 1);
        if (m->prosody) {
            prosody(l, frames + (size_t)i * D, row + M + 2, lstm_steps);
            lstm_steps += l->n % m->tpool == 0;
        }
        nn__k_conv1(row - 2 * zw, row - zw, row, m->conv1_w, m->conv1_bp, m->f1, m->fstride, m->c1,
                    m->c1p, l->y1 + (1 + (size_t)i) * y1w);
    }
    memmove(l->z, l->z + (size_t)n * zw, sizeof(float) * 2 * zw);

    const int first = pending ? 0 : 1, avail = pending + n, steps = avail / 2;
    for (int j = 0; j < steps; j++)
        nn__pool1(m, l->y1 + (size_t)(first + 2 * j) * y1w, l->y1 + (size_t)(first + 2 * j + 1) * y1w,
                  l->a1 + (2 + (size_t)j) * a1w);
    if (avail & 1)
        memmove(l->y1, l->y1 + (size_t)(first + 2 * steps) * y1w, sizeof(float) * y1w);
    return steps;
}

/* Slide the two causal context columns of a conv block's input after it ran `steps` steps. */
static void shift_a1(nn__lane *l, int steps)
{
    const size_t a1w = (size_t)(l->m->p1 + 2) * l->m->c1;
    memmove(l->a1, l->a1 + (size_t)steps * a1w, sizeof(float) * 2 * a1w);
}

static void shift_a2(nn__lane *l, int steps)
{
    const size_t a2w = (size_t)(l->m->p2 + 2) * l->m->c2;
    memmove(l->a2, l->a2 + (size_t)steps * a2w, sizeof(float) * 2 * a2w);
}

/* Time pool 4: the block-2 outputs of `steps` 50 Hz steps, at b2 column 1 on, pooled by pairs
 * (with the pending one in column 0) into a2's new columns; returns the completed pairs. */
static int pool2_time(nn__lane *l, int steps)
{
    const size_t a2w = (size_t)(l->m->p2 + 2) * l->m->c2;
    const int first = l->b2_pending ? 0 : 1, avail = l->b2_pending + steps, pairs = avail / 2;
    for (int j = 0; j < pairs; j++) {
        const float *x = l->b2 + (size_t)(first + 2 * j) * a2w, *y = x + a2w;
        float *out = l->a2 + (2 + (size_t)j) * a2w;
        for (size_t i = 0; i < a2w; i++)
            out[i] = x[i] > y[i] ? x[i] : y[i];
    }
    l->b2_pending = avail & 1;
    if (l->b2_pending)
        memmove(l->b2, l->b2 + (size_t)(first + 2 * pairs) * a2w, sizeof(float) * a2w);
    return pairs;
}

/* Readout over the new steps' sequence outputs seq [steps][seq_dim]; the head waits until the
 * posteriors are read (nn__lane_probs). */
static void readout(nn__lane *l, const float *seq, int steps)
{
    const nn_model *m = l->m;
    for (int j = 0; j < steps; j++) {
        nn__readout_step(m, seq + (size_t)j * m->seq_dim, l->steps == 0, &l->att_max, &l->att_den,
                         l->pool_num);
        l->steps++;
    }
    l->probs_stale = 1;
}

const float *nn__lane_probs(nn__lane *l)
{
    if (l->probs_stale) {
        nn__head(l->m, l->pool_num, l->att_den, l->pooled, l->dense_tmp, l->probs);
        l->probs_stale = 0;
    }
    return l->probs;
}

void nn__lane_push(nn__lane *l, const float *frames, int n)
{
    const nn_model *m = l->m;
    const size_t a2w = (size_t)(m->p2 + 2) * m->c2;
    const int steps = front(l, frames, n);
    if (steps == 0)
        return;
    nn__im2col(l->a1, m->p1, m->c1, steps, l->patch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, steps * m->p1, m->c2p, 9 * m->c1, 1.0f,
                l->patch, 9 * m->c1, m->conv2_w, m->c2p, 0.0f, l->gemm, m->c2p);
    int n3 = steps;   /* block-3 / LSTM steps */
    if (m->tpool == 2) {
        nn__pool_out(l->gemm, m->p1, m->c2, m->c2p, m->conv2_b, steps, l->a2 + 2 * a2w, 0);
    } else {
        nn__pool_out(l->gemm, m->p1, m->c2, m->c2p, m->conv2_b, steps, l->b2 + a2w, 0);
        n3 = pool2_time(l, steps);
    }
    shift_a1(l, steps);
    if (n3 == 0)
        return;
    nn__im2col(l->a2, m->p2, m->c2, n3, l->patch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n3 * m->p2, m->c3p, 9 * m->c2, 1.0f,
                l->patch, 9 * m->c2, m->conv3_w, m->c3p, 0.0f, l->gemm, m->c3p);
    nn__pool_out(l->gemm, m->p2, m->c3, m->c3p, m->conv3_b, n3, l->feat, m->feat_dim);
    shift_a2(l, n3);

    const float *seq = l->feat;
    for (int k = 0; k < m->layers; k++) {
        nn__lstm_run(&m->lstm[k], m->hidden, m->gp, seq, n3, l->gates,
                     l->h + (size_t)k * m->hidden, l->c + (size_t)k * m->hidden, l->seq);
        seq = l->seq;
    }
    readout(l, seq, n3);
}

int nn__lane_front(nn__lane *l, const float *frame)
{
    return front(l, frame, 1);
}

void nn__lane_take_trunk(nn__lane *dst, const nn__lane *src)
{
    const nn_model *m = src->m;
    const size_t zw = (size_t)m->n_mels + 2 + (size_t)m->prosody, y1w = (size_t)m->f1 * m->c1;
    const size_t a1w = (size_t)(m->p1 + 2) * m->c1, a2w = (size_t)(m->p2 + 2) * m->c2;
    memcpy(dst->z, src->z, sizeof(float) * 2 * zw);
    memcpy(dst->pitch_sum, src->pitch_sum, sizeof(float) * (size_t)m->prosody);
    memcpy(dst->y1, src->y1, sizeof(float) * y1w);
    memcpy(dst->a1, src->a1, sizeof(float) * 2 * a1w);
    memcpy(dst->a2, src->a2, sizeof(float) * 2 * a2w);
    if (m->tpool == 4)
        memcpy(dst->b2, src->b2, sizeof(float) * a2w);
    dst->b2_pending = src->b2_pending;
}

void nn__lanes_step(nn__lane *const *all, int n_all, nn__lane *borrower)
{
    const nn_model *m = all[0]->m;
    float *gemm = all[0]->gemm;
    const size_t a2w = (size_t)(m->p2 + 2) * m->c2;

    /* conv blocks 2 and 3, straight from each lane's input columns */
    for (int i = 0; i < n_all; i++)
        nn__k_conv3x3(all[i]->a1, m->p1, m->c1, m->conv2_w, m->c2p,
                      gemm + (size_t)i * m->p1 * m->c2p);
    nn__lane *lanes[2];   /* those whose step reaches block 3 (time pool 4: the second of a pair) */
    int L = 0;
    for (int i = 0; i < n_all; i++) {
        nn__lane *l = all[i];
        const float *g = gemm + (size_t)i * m->p1 * m->c2p;
        if (m->tpool == 2) {
            nn__pool_out(g, m->p1, m->c2, m->c2p, m->conv2_b, 1, l->a2 + 2 * a2w, 0);
            lanes[L++] = l;
        } else {
            /* the first of a pair waits in column 0, the second lands in column 1 */
            nn__pool_out(g, m->p1, m->c2, m->c2p, m->conv2_b, 1, l->b2 + (size_t)l->b2_pending * a2w, 0);
            if (!l->b2_pending) {
                l->b2_pending = 1;
            } else {
                pool2_time(l, 1);
                lanes[L++] = l;
            }
        }
        shift_a1(l, 1);
    }
    if (L == 0)
        return;
    for (int i = 0; i < L; i++)
        nn__k_conv3x3(lanes[i]->a2, m->p2, m->c2, m->conv3_w, m->c3p,
                      gemm + (size_t)i * m->p2 * m->c3p);
    for (int i = 0; i < L; i++) {
        nn__pool_out(gemm + (size_t)i * m->p2 * m->c3p, m->p2, m->c3, m->c3p, m->conv3_b, 1,
                     lanes[i]->feat, m->feat_dim);
        shift_a2(lanes[i], 1);
    }
    if (borrower)   /* n_all == 1 == L: its features are all[0]'s, read where they are */
        lanes[L++] = borrower;
    const float *feat[2] = {lanes[0]->feat, L > 1 ? lanes[borrower ? 0 : 1]->feat : NULL};

    /* LSTM layers: gates = bias + W_ih x + W_hh h, the weights streamed once for both lanes */
    const float *in[2] = {feat[0], feat[1]};
    for (int k = 0; k < m->layers; k++) {
        const nn__lstm_layer *Ly = &m->lstm[k];
        float *g[2] = {lanes[0]->gates, L > 1 ? lanes[1]->gates : NULL};
        float *h[2] = {NULL, NULL}, *c[2] = {NULL, NULL};
        for (int i = 0; i < L; i++) {
            h[i] = lanes[i]->h + (size_t)k * m->hidden;
            c[i] = lanes[i]->c + (size_t)k * m->hidden;
            memcpy(g[i], Ly->bias_p, sizeof(float) * (size_t)m->gp);
        }
        const int K = Ly->in + m->hidden;
        if (k == 0 && borrower) {   /* same input: one product, copied */
            nn__k_gemv2(Ly->wt, K, m->gp, 0, Ly->in, in[0], NULL, g[0], NULL);
            memcpy(g[1], g[0], sizeof(float) * (size_t)m->gp);
        } else {
            nn__k_gemv2(Ly->wt, K, m->gp, 0, Ly->in, in[0], in[1], g[0], g[1]);
        }
        nn__k_gemv2(Ly->wt, K, m->gp, Ly->in, m->hidden, h[0], L > 1 ? h[1] : NULL, g[0], g[1]);
        for (int i = 0; i < L; i++) {
            nn__k_lstm_cell(g[i], m->hidden, c[i], h[i]);
            in[i] = h[i];
        }
    }
    for (int i = 0; i < L; i++)
        readout(lanes[i], m->layers ? in[i] : feat[i], 1);
}
