/* The network's layers, written once and used by both runners (streaming: one step per call;
 * offline: blocks of steps, so the GEMMs get taller). What each computes is defined by
 * tools/train/model.py; the comments here only say how. */
#include "nn_layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void nn__pool1(const nn_model *m, const float *ya, const float *yb, float *col)
{
    const int c1 = m->c1;
    memset(col, 0, sizeof(float) * (size_t)c1);
    for (int f = 0; f < m->p1; f++) {
        const float *a = ya + (size_t)2 * f * c1, *b = yb + (size_t)2 * f * c1;
        float *o = col + (size_t)(1 + f) * c1;
        for (int c = 0; c < c1; c++) {
            float v = a[c] > a[c + c1] ? a[c] : a[c + c1];
            float u = b[c] > b[c + c1] ? b[c] : b[c + c1];
            o[c] = v > u ? v : u;
        }
    }
    memset(col + (size_t)(1 + m->p1) * c1, 0, sizeof(float) * (size_t)c1);
}

void nn__im2col(const float *in, int bins, int cin, int steps, float *patch)
{
    const size_t col = (size_t)(bins + 2) * cin;   /* one padded input column */
    const size_t seg = (size_t)3 * cin;            /* 3 freq rows of one column */
    const size_t k = 9 * (size_t)cin;
    for (int j = 0; j < steps; j++)
        for (int f = 0; f < bins; f++) {
            float *p = patch + ((size_t)j * bins + f) * k;
            for (int kt = 0; kt < 3; kt++)
                memcpy(p + kt * seg, in + (size_t)(j + kt) * col + (size_t)f * cin, seg * sizeof(float));
        }
}

void nn__pool_out(const float *gemm, int bins, int cout, int coutp, const float *bias, int steps,
                  float *out, int torch_stride)
{
    const int torch_order = torch_stride > 0;
    const int half = bins / 2;
    for (int j = 0; j < steps; j++) {
        const float *g = gemm + (size_t)j * bins * coutp;
        float *o = out + (torch_order ? (size_t)j * torch_stride : (size_t)j * (half + 2) * cout);
        if (!torch_order) {
            memset(o, 0, sizeof(float) * (size_t)cout);
            memset(o + (size_t)(half + 1) * cout, 0, sizeof(float) * (size_t)cout);
        }
        for (int f = 0; f < half; f++) {
            const float *a = g + (size_t)2 * f * coutp, *b = a + coutp;
            for (int c = 0; c < cout; c++) {
                float v = (a[c] > b[c] ? a[c] : b[c]) + bias[c];
                v = v > 0 ? v : 0;   /* relu(max(a,b) + bias) == max of relu(. + bias) */
                if (torch_order)
                    o[(size_t)c * half + f] = v;
                else
                    o[(size_t)(1 + f) * cout + c] = v;
            }
        }
    }
}

void nn__lstm_run(const nn__lstm_layer *L, int hidden, int gp, const float *x, int steps,
                  float *gates, float *h, float *c, float *y)
{
    const int H = hidden;
    for (int j = 0; j < steps; j++)
        memcpy(gates + (size_t)j * gp, L->bias_p, sizeof(float) * (size_t)gp);
    const int K = L->in + H;
    if (steps == 1)
        nn__k_gemv2(L->wt, K, gp, 0, L->in, x, NULL, gates, NULL);
    else   /* the file's [4H][in] layout, transposed by BLAS */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, steps, 4 * H, L->in, 1.0f, x, L->in,
                    L->w_ih, L->in, 1.0f, gates, gp);
    for (int j = 0; j < steps; j++) {
        float *g = gates + (size_t)j * gp;
        nn__k_gemv2(L->wt, K, gp, L->in, H, h, NULL, g, NULL);
        nn__k_lstm_cell(g, H, c, h);
        /* y may alias x's storage: x's rows were consumed by the product above. */
        memcpy(y + (size_t)j * H, h, sizeof(float) * (size_t)H);
    }
}

void nn__readout_step(const nn_model *m, const float *v, int first, double *mx, double *den,
                      float *num)
{
    const int d = m->seq_dim;
    if (m->readout == NN_READOUT_MEAN) {
        if (first)
            memset(num, 0, sizeof(float) * (size_t)d);
        for (int i = 0; i < d; i++)
            num[i] += v[i];
        *den = first ? 1.0 : *den + 1.0;
        return;
    }
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)m->att_w[i] * v[i];
    if (first) {
        *mx = s;
        *den = 1.0;
        memcpy(num, v, sizeof(float) * (size_t)d);
    } else if (s > *mx) {
        /* The max grew: rescale what was summed relative to the old max. */
        float scale = (float)exp(*mx - s);
        *den = *den * scale + 1.0;
        for (int i = 0; i < d; i++)
            num[i] = num[i] * scale + v[i];
        *mx = s;
    } else {
        float e = (float)exp(s - *mx);
        *den += e;
        for (int i = 0; i < d; i++)
            num[i] += e * v[i];
    }
}

void nn__head(const nn_model *m, const float *num, double den, float *pooled, float *hid, float *probs)
{
    const int d = m->seq_dim, K = m->n_labels;
    const float inv = (float)(1.0 / den);
    for (int i = 0; i < d; i++)
        pooled[i] = num[i] * inv;
    /* ~9k multiply-adds: not worth a BLAS call, nor its locks, on the per-hop path. fc1 runs on
     * the LSTM's matrix-vector kernel (its panels, nn_weights.c); fc2's dot products keep
     * NN_DOTW partial sums so that they vectorise instead of forming one serial chain. */
    memset(hid, 0, sizeof(float) * (size_t)m->densep);
    memcpy(hid, m->fc1_b, sizeof(float) * (size_t)m->dense);
    nn__k_gemv2(m->fc1_t, d, m->densep, 0, d, pooled, NULL, hid, NULL);
    for (int i = 0; i < m->dense; i++)
        hid[i] = hid[i] > 0 ? hid[i] : 0;
    for (int k = 0; k < K; k++) {
        const float *w = m->fc2_w + (size_t)k * m->dense;
        float part[NN_DOTW] = {0};
        int j = 0;
        for (; j + NN_DOTW <= m->dense; j += NN_DOTW)
            for (int i = 0; i < NN_DOTW; i++)
                part[i] += w[j + i] * hid[j + i];
        float a = 0;
        for (; j < m->dense; j++)
            a += w[j] * hid[j];
        for (int i = 0; i < NN_DOTW; i++)
            a += part[i];
        probs[k] = a + m->fc2_b[k];
    }
    float mx = probs[0];
    for (int k = 1; k < K; k++)
        mx = probs[k] > mx ? probs[k] : mx;
    double sum = 0;
    for (int k = 0; k < K; k++) {
        probs[k] = expf(probs[k] - mx);
        sum += probs[k];
    }
    for (int k = 0; k < K; k++)
        probs[k] = (float)(probs[k] / sum);
}
