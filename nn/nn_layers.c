/* The network's layers, written once and used by both runners (streaming: one step per call;
 * offline: blocks of steps, so the GEMMs get taller). What each computes is defined by
 * tools/train/model.py; the comments here only say how. */
#include "nn_layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void nn__normalise_frame(const nn_model *m, double *s1, double *s2, int64_t n, const float *x,
                         float *out)
{
    /* Float64 running sums, var = S2/n - mu^2 clamped at 0: bit-for-bit the recipe of
     * model.cmvn_cumulative, so rounding differs from torch only in summation order. */
    for (int b = 0; b < m->n_mels; b++) {
        float y = x[b];
        if (m->cmvn == NN_CMVN_CUMULATIVE) {
            double v = x[b];
            s1[b] += v;
            s2[b] += v * v;
            double mu = s1[b] / (double)n;
            double var = s2[b] / (double)n - mu * mu;
            if (var < 0)
                var = 0;
            y = (float)((v - mu) / sqrt(var + m->cmvn_eps));
        }
        out[b] = (y - m->norm_mean[b]) / m->norm_std[b];
    }
}

void nn__conv1_frame(const nn_model *m, const float *z0, const float *z1, const float *z2, float *out)
{
    const int c1 = m->c1;
    const float *zr[3] = {z0, z1, z2};
    for (int f = 0; f < m->f1; f++) {
        float *o = out + (size_t)f * c1;
        memcpy(o, m->conv1_b, sizeof(float) * (size_t)c1);
        for (int kt = 0; kt < 3; kt++)
            for (int kf = 0; kf < 3; kf++) {
                /* padded row: torch bin 2f+kf-1 is index 2f+kf */
                const float v = zr[kt][2 * f + kf];
                const float *w = m->conv1_w + (kt * 3 + kf) * c1;
                for (int c = 0; c < c1; c++)
                    o[c] += w[c] * v;
            }
        for (int c = 0; c < c1; c++)
            o[c] = o[c] > 0 ? o[c] : 0;
    }
}

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

void nn__conv_block(const float *in, int bins, int cin, int cout, const float *w, const float *bias,
                    int steps, float *patch, float *gemm, float *out, int out_torch_order)
{
    const size_t col = (size_t)(bins + 2) * cin;   /* one padded input column */
    const size_t seg = (size_t)3 * cin;            /* 3 freq rows of one column */
    const size_t k = 9 * (size_t)cin;
    const int half = bins / 2;
    for (int j = 0; j < steps; j++)
        for (int f = 0; f < bins; f++) {
            float *p = patch + ((size_t)j * bins + f) * k;
            for (int kt = 0; kt < 3; kt++)
                memcpy(p + kt * seg, in + (size_t)(j + kt) * col + (size_t)f * cin, seg * sizeof(float));
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, steps * bins, cout, (int)k, 1.0f, patch,
                (int)k, w, (int)k, 0.0f, gemm, cout);
    for (int j = 0; j < steps; j++) {
        const float *g = gemm + (size_t)j * bins * cout;
        float *o = out + (out_torch_order ? (size_t)j * cout * half : (size_t)j * (half + 2) * cout);
        if (!out_torch_order) {
            memset(o, 0, sizeof(float) * (size_t)cout);
            memset(o + (size_t)(half + 1) * cout, 0, sizeof(float) * (size_t)cout);
        }
        for (int f = 0; f < half; f++) {
            const float *a = g + (size_t)2 * f * cout, *b = a + cout;
            for (int c = 0; c < cout; c++) {
                float v = (a[c] > b[c] ? a[c] : b[c]) + bias[c];
                v = v > 0 ? v : 0;   /* relu(max(a,b) + bias) == max of relu(. + bias) */
                if (out_torch_order)
                    o[(size_t)c * half + f] = v;
                else
                    o[(size_t)(1 + f) * cout + c] = v;
            }
        }
    }
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void nn__lstm_run(const nn__lstm_layer *L, int hidden, const float *x, int steps, float *gates,
                    float *h, float *c, float *y)
{
    const int H = hidden, G = 4 * H;
    for (int j = 0; j < steps; j++)
        memcpy(gates + (size_t)j * G, L->bias, sizeof(float) * (size_t)G);
    if (steps == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, G, L->in, 1.0f, L->w_ih, L->in, x, 1, 1.0f, gates, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, steps, G, L->in, 1.0f, x, L->in,
                    L->w_ih, L->in, 1.0f, gates, G);
    for (int j = 0; j < steps; j++) {
        float *g = gates + (size_t)j * G;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, L->w_hh, H, h, 1, 1.0f, g, 1);
        for (int u = 0; u < H; u++) {
            float i = sigmoidf(g[u]), fg = sigmoidf(g[H + u]);
            float gg = tanhf(g[2 * H + u]), o = sigmoidf(g[3 * H + u]);
            c[u] = fg * c[u] + i * gg;
            h[u] = o * tanhf(c[u]);
        }
        /* y may alias x's storage: x's rows were consumed by the GEMM above. */
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
    memcpy(hid, m->fc1_b, sizeof(float) * (size_t)m->dense);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, m->dense, d, 1.0f, m->fc1_w, d, pooled, 1, 1.0f, hid, 1);
    for (int i = 0; i < m->dense; i++)
        hid[i] = hid[i] > 0 ? hid[i] : 0;
    memcpy(probs, m->fc2_b, sizeof(float) * (size_t)K);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, K, m->dense, 1.0f, m->fc2_w, m->dense, hid, 1, 1.0f,
                probs, 1);
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
