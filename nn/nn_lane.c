/* A lane: the network run incrementally from a reset. Both runners are built on it, so the
 * streaming and offline paths share every line of arithmetic except the GEMM heights. */
#include "nn_layers.h"

#include <stdlib.h>
#include <string.h>

static size_t up16(size_t n) { return (n + 15) & ~(size_t)15; }   /* floats -> 64-byte multiple */

int nn__lane_init(nn__lane *l, const nn_model *m, int max_steps)
{
    memset(l, 0, sizeof *l);
    l->m = m;
    l->max_steps = max_steps;
    const size_t S = (size_t)max_steps, NF = 2 * S, M = (size_t)m->n_mels;
    const size_t H = (size_t)m->hidden, L = (size_t)(m->layers ? m->layers : 1);
    const size_t patch_rows = S * (size_t)m->p1 * 9 * (size_t)m->c1 > S * (size_t)m->p2 * 9 * (size_t)m->c2
                                  ? S * (size_t)m->p1 * 9 * (size_t)m->c1
                                  : S * (size_t)m->p2 * 9 * (size_t)m->c2;
    const size_t gemm = S * ((size_t)m->p1 * m->c2 > (size_t)m->p2 * m->c3 ? (size_t)m->p1 * m->c2
                                                                             : (size_t)m->p2 * m->c3);
    const size_t seqw = H > (size_t)m->feat_dim ? H : (size_t)m->feat_dim;
    size_t sizes[] = {
        up16((2 + NF) * (M + 2)),                         /* z */
        up16((1 + NF) * (size_t)m->f1 * m->c1),           /* y1 */
        up16((2 + S) * (size_t)(m->p1 + 2) * m->c1),      /* a1 */
        up16((2 + S) * (size_t)(m->p2 + 2) * m->c2),      /* a2 */
        up16(S * (size_t)m->feat_dim),                    /* feat */
        up16(patch_rows),                                 /* patch */
        up16(gemm),                                       /* gemm */
        up16(S * 4 * (H ? H : 1)),                        /* gates */
        up16(S * seqw),                                   /* seq */
        up16(L * (H ? H : 1)),                            /* h */
        up16(L * (H ? H : 1)),                            /* c */
        up16((size_t)m->seq_dim),                         /* pool_num */
        up16((size_t)m->seq_dim),                         /* pooled */
        up16((size_t)m->dense),                           /* dense_tmp */
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
    float **dst[] = {&l->z, &l->y1, &l->a1, &l->a2, &l->feat, &l->patch, &l->gemm, &l->gates,
                     &l->seq, &l->h, &l->c, &l->pool_num, &l->pooled, &l->dense_tmp, &l->probs};
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
    const size_t H = (size_t)(m->hidden ? m->hidden : 1);
    l->n = 0;
    l->steps = 0;
    memset(l->s1, 0, sizeof(double) * M);
    memset(l->s2, 0, sizeof(double) * M);
    /* zero context = the causal zero padding at a lane's start */
    memset(l->z, 0, sizeof(float) * 2 * (M + 2));
    memset(l->a1, 0, sizeof(float) * 2 * (size_t)(m->p1 + 2) * m->c1);
    memset(l->a2, 0, sizeof(float) * 2 * (size_t)(m->p2 + 2) * m->c2);
    memset(l->h, 0, sizeof(float) * L * H);
    memset(l->c, 0, sizeof(float) * L * H);
    l->att_max = 0;
    l->att_den = 0;
}

void nn__lane_push(nn__lane *l, const float *frames, int n)
{
    const nn_model *m = l->m;
    const size_t M = (size_t)m->n_mels, zw = M + 2, y1w = (size_t)m->f1 * m->c1;
    const size_t a1w = (size_t)(m->p1 + 2) * m->c1, a2w = (size_t)(m->p2 + 2) * m->c2;
    const int pending = (int)(l->n & 1);   /* conv1 frame waiting in y1 row 0 for its pair */

    for (int i = 0; i < n; i++) {
        float *row = l->z + (2 + (size_t)i) * zw;
        row[0] = row[M + 1] = 0;
        l->n++;
        nn__normalise_frame(m, l->s1, l->s2, l->n, frames + (size_t)i * M, row + 1);
        nn__conv1_frame(m, row - 2 * zw, row - zw, row, l->y1 + (1 + (size_t)i) * y1w);
    }
    memmove(l->z, l->z + (size_t)n * zw, sizeof(float) * 2 * zw);

    const int first = pending ? 0 : 1, avail = pending + n, steps = avail / 2;
    for (int j = 0; j < steps; j++)
        nn__pool1(m, l->y1 + (size_t)(first + 2 * j) * y1w, l->y1 + (size_t)(first + 2 * j + 1) * y1w,
                  l->a1 + (2 + (size_t)j) * a1w);
    if (avail & 1)
        memmove(l->y1, l->y1 + (size_t)(first + 2 * steps) * y1w, sizeof(float) * y1w);
    if (steps == 0)
        return;

    nn__conv_block(l->a1, m->p1, m->c1, m->c2, m->conv2_w, m->conv2_b, steps, l->patch, l->gemm,
                   l->a2 + 2 * a2w, 0);
    nn__conv_block(l->a2, m->p2, m->c2, m->c3, m->conv3_w, m->conv3_b, steps, l->patch, l->gemm,
                   l->feat, 1);
    memmove(l->a1, l->a1 + (size_t)steps * a1w, sizeof(float) * 2 * a1w);
    memmove(l->a2, l->a2 + (size_t)steps * a2w, sizeof(float) * 2 * a2w);

    const float *seq = l->feat;
    for (int k = 0; k < m->layers; k++) {
        nn__lstm_run(&m->lstm[k], m->hidden, seq, steps, l->gates, l->h + (size_t)k * m->hidden,
                       l->c + (size_t)k * m->hidden, l->seq);
        seq = l->seq;
    }
    for (int j = 0; j < steps; j++) {
        nn__readout_step(m, seq + (size_t)j * m->seq_dim, l->steps == 0, &l->att_max, &l->att_den,
                         l->pool_num);
        l->steps++;
    }
    nn__head(m, l->pool_num, l->att_den, l->pooled, l->dense_tmp, l->probs);
}
