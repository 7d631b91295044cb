/* Small dense kernels for the per-hop path. OpenBLAS is not used there: its GEMM for sizes
 * like ours may take a lock and, with one thread, allocate a buffer per call (the no-allocation
 * test caught it), and it reads weights once per call where we want once for both lanes.
 * Conv block 1 (a 3x3 filter over one input channel, K = 9, too thin for a GEMM); the conv
 * blocks' [2 lanes x bins, 9 cin] x [9 cin, cout] products (measured as fast as OpenBLAS
 * sgemm here); the LSTM's matrix-vector products for both lanes at once (0.8 MB of weights read
 * once per hop, not once per lane); the gate nonlinearities (libm's expf/tanhf do not
 * vectorise). Plain loops with fixed-size blocks so that the compiler vectorises them; on x86-64
 * each is compiled for AVX-512, AVX2 and baseline and picked at load time (GCC target_clones),
 * so the library stays portable. Weights come pre-transposed and padded by the loader
 * (nn_internal.h). The offline runner keeps OpenBLAS for its tall GEMMs. */
#include "nn_layers.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NN_NO_CLONES)
#define NN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_HOT
#endif

NN_HOT void nn__k_normalise(const float *restrict x, int M, int cumulative, double eps,
                            double *restrict s1, double *restrict s2, int64_t n,
                            const float *restrict mean, const float *restrict std,
                            float *restrict out)
{
    /* Float64 running sums, var = S2/n - mu^2 clamped at 0: the recipe of
     * model.cmvn_cumulative, so rounding differs from torch only in summation order. */
    const double dn = (double)n;
    if (cumulative) {
        for (int b = 0; b < M; b++) {
            double v = x[b];
            s1[b] += v;
            s2[b] += v * v;
            double mu = s1[b] / dn;
            double var = s2[b] / dn - mu * mu;
            var = var > 0 ? var : 0;
            float y = (float)((v - mu) / sqrt(var + eps));
            out[b] = (y - mean[b]) / std[b];
        }
    } else {
        for (int b = 0; b < M; b++)
            out[b] = (x[b] - mean[b]) / std[b];
    }
}

NN_HOT void nn__k_conv1(const float *restrict z0, const float *restrict z1, const float *restrict z2,
                        const float *restrict w, const float *restrict b, int f1, int stride,
                        int c1, int c1p, float *restrict out)
{
    for (int f = 0; f < f1; f++) {
        const int s = stride * f;
        const float v[9] = {z0[s], z0[s + 1], z0[s + 2], z1[s], z1[s + 1], z1[s + 2],
                            z2[s], z2[s + 1], z2[s + 2]};
        for (int c0 = 0; c0 < c1p; c0 += NN_C1BLK) {
            float acc[NN_C1BLK];
            for (int j = 0; j < NN_C1BLK; j++)
                acc[j] = b[c0 + j];
            for (int k = 0; k < 9; k++)
                for (int j = 0; j < NN_C1BLK; j++)
                    acc[j] += w[k * c1p + c0 + j] * v[k];
            int n = c1 - c0 < NN_C1BLK ? c1 - c0 : NN_C1BLK;
            for (int j = 0; j < n; j++)
                out[(size_t)f * c1 + c0 + j] = acc[j] > 0 ? acc[j] : 0;
        }
    }
}

NN_HOT void nn__k_gemm(const float *restrict P, int R, int K, const float *restrict Wt, int Np,
                       float *restrict C)
{
    /* blocks of 4 rows x NN_CBLK columns: 8 AVX-512 accumulators, each weight row loaded once
     * per 4 rows */
    for (int r0 = 0; r0 < R; r0 += 4) {
        const float *p[4];
        for (int i = 0; i < 4; i++)   /* a short last block recomputes its last row */
            p[i] = P + (size_t)(r0 + i < R ? r0 + i : R - 1) * K;
        for (int n0 = 0; n0 < Np; n0 += NN_CBLK) {
            float acc[4][NN_CBLK];
            memset(acc, 0, sizeof acc);
            for (int k = 0; k < K; k++) {
                const float *w = Wt + (size_t)k * Np + n0;
                for (int i = 0; i < 4; i++) {
                    const float a = p[i][k];
                    for (int j = 0; j < NN_CBLK; j++)
                        acc[i][j] += a * w[j];
                }
            }
            for (int i = 0; i < 4 && r0 + i < R; i++)
                memcpy(C + (size_t)(r0 + i) * Np + n0, acc[i], sizeof acc[i]);
        }
    }
}

NN_HOT void nn__k_gemv2(const float *restrict panels, int K, int Gp, int k0, int kn,
                        const float *restrict x0, const float *restrict x1, float *restrict y0,
                        float *restrict y1)
{
    /* y += W^T x over rows k0 .. k0+kn of W [K][Gp], stored as Gp/NN_GBLK contiguous panels
     * [K][NN_GBLK]: each panel is read front to back once, for one or two vectors. */
    for (int g0 = 0; g0 < Gp; g0 += NN_GBLK) {
        const float *pan = panels + (size_t)g0 * K + (size_t)k0 * NN_GBLK;
        float a0[NN_GBLK], a1[NN_GBLK];
        memcpy(a0, y0 + g0, sizeof a0);
        if (x1) {
            memcpy(a1, y1 + g0, sizeof a1);
            for (int k = 0; k < kn; k++) {
                const float *w = pan + (size_t)k * NN_GBLK;
                const float u = x0[k], v = x1[k];
                for (int j = 0; j < NN_GBLK; j++) {
                    a0[j] += u * w[j];
                    a1[j] += v * w[j];
                }
            }
            memcpy(y1 + g0, a1, sizeof a1);
        } else {
            for (int k = 0; k < kn; k++) {
                const float *w = pan + (size_t)k * NN_GBLK;
                const float u = x0[k];
                for (int j = 0; j < NN_GBLK; j++)
                    a0[j] += u * w[j];
            }
        }
        memcpy(y0 + g0, a0, sizeof a0);
    }
}

/* exp for the gate nonlinearities: Cephes' expf polynomial with a 2^n scale built from the
 * exponent bits (relative error ~1e-7, well inside the 1e-4 parity bound), written branch-free
 * so that the gate loop vectorises (libm's expf/tanhf calls do not). */
static inline float fast_expf(float x)
{
    /* clamps as compares (fminf/fmaxf's NaN rules keep GCC from vectorising) */
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    float n = rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

NN_HOT void nn__k_lstm_cell(const float *restrict g, int H, float *restrict c, float *restrict h)
{
    for (int u = 0; u < H; u++) {
        float i = 1.0f / (1.0f + fast_expf(-g[u]));
        float f = 1.0f / (1.0f + fast_expf(-g[H + u]));
        float gg = 2.0f / (1.0f + fast_expf(-2.0f * g[2 * H + u])) - 1.0f;   /* tanh */
        float o = 1.0f / (1.0f + fast_expf(-g[3 * H + u]));
        float cn = f * c[u] + i * gg;
        c[u] = cn;
        h[u] = o * (2.0f / (1.0f + fast_expf(-2.0f * cn)) - 1.0f);
    }
}
